//! Backtesting a draft policy: run it against a community's real history and list the past
//! actions it would have decided differently. This is what a policy author looks at before
//! proposing `add_policy` or `change_policy`.
//!
//! The history is replayed from genesis (entries verified as they are read, like any
//! replay). At every recorded evaluation that decided an action (its outcome was `passed`
//! or `failed`), the draft sees the state just before that entry and the time written in
//! the record, as the governing policy did: if the draft would have been selected for the
//! action (its kind, its action types, its `filter`), it runs `initialize` and `check` as a
//! policy that starts governing, and its outcome is compared with the recorded one. Nothing
//! is written: the draft's data writes, notifications and follow-ups are discarded. The
//! draft never reaches the network (its HTTP calls fail as if the host were not allowed),
//! so a policy that calls out is backtested without its answers; the report says so.

use indicatif::ProgressBar;
use ostrom_projections::state::Policy;
use ostrom_projections::GovernanceState;
use ostrom_schemas::action::{policy_version_hash, Permissions, PolicySpec};
use ostrom_schemas::record::{Outcome, Record};
use ostrom_schemas::{CommunityId, PolicyId};
use serde::Serialize;

use crate::ledger::{replay_inspecting, LedgerError};
use crate::policy::{CompileError, Input, NoHttp, Runtime, Steps};
use crate::store::LogStore;

/// A report lists at most this many differences (the counts still cover everything).
pub const BACKTEST_DIFFERENCES_MAX: usize = 500;

/// The draft and, for a `change_policy`, the policy it would replace (whose id and data
/// store it then uses).
#[derive(Clone, Debug)]
pub struct Draft {
    pub spec: PolicySpec,
    pub replaces: Option<String>,
}

/// One past action the draft decides differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub action: u64,
    pub action_type: String,
    /// The entry that recorded the real decision.
    pub seq: u64,
    pub at_ms: u64,
    /// `passed` or `failed`.
    pub recorded: &'static str,
    /// `passed`, `failed`, `undecided` (the draft would still be waiting), or `error`.
    pub draft: &'static str,
    /// The draft's reason, or its error with the line.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BacktestReport {
    /// Entries replayed.
    pub entries: u64,
    /// Past decisions looked at.
    pub decisions: u64,
    /// Of those, the ones the draft would have governed.
    pub governed: u64,
    /// Of those, the ones it decides the same way.
    pub same: u64,
    pub differences: Vec<Difference>,
    /// More differences than the report lists.
    pub truncated: bool,
    /// The draft tried to call the network at least once (it was refused).
    pub called_http: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("the draft does not compile: {0}")]
    Compile(CompileError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn outcome_name(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Passed) => "passed",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::Proposed) | None => "undecided",
    }
}

/// Backtest `draft` against the first `end` entries of `community`'s log.
pub fn backtest(
    store: &dyn LogStore,
    community: CommunityId,
    runtime: &Runtime,
    draft: &Draft,
    end: u64,
) -> Result<BacktestReport, BacktestError> {
    let compiled = runtime
        .compile(&draft.spec.source)
        .map_err(BacktestError::Compile)?;
    let version = policy_version_hash(&draft.spec);
    let mut report = BacktestReport::default();
    let mut state = GovernanceState::default();
    // The draft as a policy of the state at each point: a new policy gets an id no real
    // policy has; a replacement takes the replaced policy's id and its data store then.
    let fresh_id = PolicyId(u64::MAX);
    let bar = ProgressBar::hidden();
    replay_inspecting(
        store,
        community,
        &mut state,
        end,
        &bar,
        &mut |state, entry| {
            report.entries += 1;
            let Some(Record::Evaluated(evaluation)) = entry.entry().record() else {
                return Ok(());
            };
            if !matches!(
                evaluation.effects.outcome,
                Some(Outcome::Passed | Outcome::Failed)
            ) {
                return Ok(());
            }
            let Some(action) = state.actions.get(&evaluation.action) else {
                return Ok(());
            };
            report.decisions += 1;
            let action_type = action.spec.action_type();
            if action.kind != draft.spec.kind
                || !(draft.spec.action_types.is_empty()
                    || Permissions::allows(&draft.spec.action_types, action_type))
            {
                return Ok(());
            }
            let replaced = draft.replaces.as_ref().and_then(|name| {
                state
                    .policies
                    .values()
                    .find(|policy| &policy.spec.name == name)
            });
            let policy = Policy {
                id: replaced.map_or(fresh_id, |policy| policy.id),
                spec: draft.spec.clone(),
                version,
                active: true,
                data: replaced
                    .map(|policy| policy.data.clone())
                    .unwrap_or_default(),
                versions: Vec::new(),
            };
            let input = Input {
                state,
                action,
                policy: &policy,
                now_ms: evaluation.at_ms,
                http: &NoHttp,
            };
            let recorded = outcome_name(evaluation.effects.outcome);
            let (draft_outcome, reason) = match runtime.filter(&compiled, &input) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    let steps = Steps {
                        initialize: true,
                        notify: false,
                    };
                    let effects = runtime.run(&compiled, &input, steps);
                    report.called_http |= !effects.http.is_empty();
                    match &effects.error {
                        Some(fault) => (
                            "error",
                            Some(format!(
                                "{} (in {} at line {}, column {})",
                                fault.message, fault.function, fault.line, fault.column
                            )),
                        ),
                        None => (outcome_name(effects.outcome), effects.reason.clone()),
                    }
                }
                Err(fault) => (
                    "error",
                    Some(format!(
                        "{} (in filter at line {}, column {})",
                        fault.message, fault.line, fault.column
                    )),
                ),
            };
            report.governed += 1;
            if draft_outcome == recorded {
                report.same += 1;
            } else if report.differences.len() < BACKTEST_DIFFERENCES_MAX {
                report.differences.push(Difference {
                    action: action.id.0,
                    action_type: action_type.to_owned(),
                    seq: entry.entry().seq,
                    at_ms: evaluation.at_ms,
                    recorded,
                    draft: draft_outcome,
                    reason,
                });
            } else {
                report.truncated = true;
            }
            Ok(())
        },
    )?;
    Ok(report)
}
