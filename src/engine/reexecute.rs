//! Verification by re-execution: run a recorded evaluation's policy again against the state
//! just before its entry, and require the effects that were recorded.
//!
//! Replay never runs scripts, so a sequencer (or anyone holding its key) could write any
//! outcome into an `Evaluated` record and the chain and signatures would still verify. This
//! is the check that catches it: the same selection, the same lifecycle steps and the same
//! inputs as the engine used (the state, the time written in the record, the recorded HTTP
//! responses served back in order instead of the network), and a field-by-field comparison
//! of the effects. The one departure: an evaluation recorded as stopped by the CPU-time
//! backstop (`policy::is_time_limit`) is accepted as recorded when the re-run also hits the
//! backstop or comes within a factor of ten of it ([`TIME_LIMIT_PLAUSIBLE_MS_MIN`]), because
//! whether that limit is hit depends on the speed of the machine that ran it, not on the
//! log; a policy that re-runs to completion at once was not stopped by it.

use std::sync::Arc;

use ostrom_projections::GovernanceState;
use ostrom_schemas::action::PolicyKind;
use ostrom_schemas::record::{Effects, Evaluation, Phase};
use ostrom_schemas::{ActionId, PolicyId};

use super::{fault_effects, ungoverned_effects, Engine, HttpSource, NoPlatforms};
use crate::policy::limits::POLICY_CPU_TIME_MAX_MS;
use crate::policy::{is_time_limit, Input, NoHttp, RecordedHttp, Runtime, Steps};

/// A recorded difference is shown at most this many bytes long per side.
pub const DIFFERENCE_SHOWN_BYTES_MAX: usize = 300;
/// A recorded CPU-time-backstop fault is accepted when re-running the evaluation takes at
/// least this long (a tenth of the backstop: allowing for a sequencer machine ten times
/// slower than the verifier's) or hits the backstop itself.
pub const TIME_LIMIT_PLAUSIBLE_MS_MIN: u64 = POLICY_CPU_TIME_MAX_MS / 10;

/// What re-running one evaluation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reexecuted {
    /// Re-run, and the effects are the recorded ones.
    Identical,
    /// Recorded as stopped by the CPU-time backstop; accepted as recorded, not re-run.
    TimeLimitAccepted,
}

/// A recorded evaluation that re-execution does not reproduce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub action: ActionId,
    /// The recorded policy (id and name, when the state knows it).
    pub policy: String,
    pub difference: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "re-executing the evaluation of action {} under {} gives different effects: {}",
            self.action, self.policy, self.difference
        )
    }
}

/// Re-runs recorded evaluations, keeping each policy version compiled once.
pub struct Reexecutor {
    engine: Engine,
}

impl Reexecutor {
    pub fn new(runtime: Arc<Runtime>) -> Reexecutor {
        Reexecutor {
            engine: Engine::new(
                runtime,
                Arc::new(NoPlatforms),
                HttpSource::Fixed(Arc::new(NoHttp)),
            ),
        }
    }

    /// Re-run `recorded` against `state`, the state just before its entry.
    pub fn check(
        &mut self,
        state: &GovernanceState,
        recorded: &Evaluation,
    ) -> Result<Reexecuted, Mismatch> {
        let mismatch = |difference: String| Mismatch {
            action: recorded.action,
            policy: match recorded.policy {
                Some((id, _)) => match state.policies.get(&id) {
                    Some(policy) => format!("policy #{} {:?}", id.0, policy.spec.name),
                    None => format!("policy #{}", id.0),
                },
                None => "no policy (ungoverned)".to_owned(),
            },
            difference,
        };
        let claims_time_limit = recorded.effects.error.as_ref().is_some_and(is_time_limit);
        // The one clock reading in verification (a departure like the backstop's own, in
        // `policy::budget`): it only ever decides whether a recorded time-limit fault is
        // plausible, never what an evaluation's effects are.
        let started = std::time::Instant::now();
        let (policy, effects) = self.rerun(state, recorded).map_err(mismatch)?;
        let rerun_ms = started.elapsed().as_millis() as u64;
        let reproduced = policy == recorded.policy && effects == recorded.effects;
        if claims_time_limit && !reproduced {
            // The backstop depends on the speed of the machine that ran the policy: accept
            // the recorded fault when the re-run hit it too or came near it (a slow filter
            // that completes here may even select another policy), but not when the policy
            // plainly finishes at once, or a sequencer could fail any action by claiming the
            // backstop fired.
            if effects.error.as_ref().is_some_and(is_time_limit)
                || rerun_ms >= TIME_LIMIT_PLAUSIBLE_MS_MIN
            {
                return Ok(Reexecuted::TimeLimitAccepted);
            }
            return Err(mismatch(format!(
                "recorded as stopped by the CPU-time backstop ({POLICY_CPU_TIME_MAX_MS} ms), but it re-executes to completion in {rerun_ms} ms (outcome {})",
                shown(&effects.outcome)
            )));
        }
        if policy != recorded.policy {
            let show = |pin: Option<(PolicyId, ostrom_schemas::Hash)>| match pin {
                Some((id, version)) => format!("policy #{} version {}", id.0, version.short()),
                None => "no policy".to_owned(),
            };
            return Err(mismatch(format!(
                "{} governs, but {} was recorded",
                show(policy),
                show(recorded.policy)
            )));
        }
        match difference(&recorded.effects, &effects) {
            Some(difference) => Err(mismatch(difference)),
            None => Ok(Reexecuted::Identical),
        }
    }

    /// What the engine would have recorded: the governing policy and the effects. Mirrors
    /// `Engine::decide` and `Engine::run_triggers` step for step.
    #[allow(clippy::type_complexity)]
    fn rerun(
        &mut self,
        state: &GovernanceState,
        recorded: &Evaluation,
    ) -> Result<(Option<(PolicyId, ostrom_schemas::Hash)>, Effects), String> {
        let id = recorded.action;
        let action = state
            .actions
            .get(&id)
            .ok_or_else(|| format!("action {id} is not in the state"))?;
        let http = RecordedHttp::new(recorded.effects.http.clone());
        let now_ms = recorded.at_ms;
        match recorded.phase {
            Phase::Trigger => {
                let (policy_id, version) = recorded
                    .policy
                    .ok_or("a trigger evaluation names no policy")?;
                let policy = state
                    .policies
                    .get(&policy_id)
                    .filter(|policy| policy.active && policy.version == version)
                    .ok_or_else(|| {
                        format!(
                            "policy #{} at version {} is not an active policy at this point",
                            policy_id.0,
                            version.short()
                        )
                    })?;
                if policy.spec.kind != PolicyKind::Trigger {
                    return Err(format!("policy #{} is not a trigger policy", policy_id.0));
                }
                let compiled = match self.engine.compile(policy) {
                    Ok(compiled) => compiled,
                    Err(error) => {
                        return Ok((
                            recorded.policy,
                            fault_effects("filter", &error.message, error.line, error.column),
                        ))
                    }
                };
                let input = Input {
                    state,
                    action,
                    policy,
                    now_ms,
                    http: &http,
                };
                let effects = match self.engine.runtime.filter(&compiled, &input) {
                    Ok(false) => {
                        return Err(format!(
                            "the trigger's filter is false for action {id}, but an evaluation was recorded"
                        ))
                    }
                    Ok(true) => {
                        let steps = Steps {
                            initialize: true,
                            notify: true,
                        };
                        let mut effects = self.engine.runtime.run(&compiled, &input, steps);
                        effects.ran.insert(0, "filter".to_owned());
                        effects.execute = false;
                        effects.execute_option = None;
                        effects.next_check_at_ms = None;
                        effects
                    }
                    Err(fault) => {
                        fault_effects(&fault.function, &fault.message, fault.line, fault.column)
                    }
                };
                Ok((recorded.policy, effects))
            }
            Phase::Arrival | Phase::Regovern => {
                let candidates: Vec<(PolicyId, ostrom_schemas::Hash)> = state
                    .policies_for_selection(action.kind, action.spec.action_type())
                    .into_iter()
                    .map(|policy| (policy.id, policy.version))
                    .collect();
                for pin in candidates {
                    let policy = &state.policies[&pin.0];
                    let compiled = match self.engine.compile(policy) {
                        Ok(compiled) => compiled,
                        Err(error) => {
                            let effects =
                                fault_effects("filter", &error.message, error.line, error.column);
                            return Ok((Some(pin), effects));
                        }
                    };
                    let input = Input {
                        state,
                        action,
                        policy,
                        now_ms,
                        http: &http,
                    };
                    match self.engine.runtime.filter(&compiled, &input) {
                        Ok(false) => continue,
                        Ok(true) => {
                            let steps = Steps {
                                initialize: true,
                                notify: true,
                            };
                            let mut effects = self.engine.runtime.run(&compiled, &input, steps);
                            effects.ran.insert(0, "filter".to_owned());
                            return Ok((Some(pin), effects));
                        }
                        Err(fault) => {
                            let effects = fault_effects(
                                &fault.function,
                                &fault.message,
                                fault.line,
                                fault.column,
                            );
                            return Ok((Some(pin), effects));
                        }
                    }
                }
                Ok((None, ungoverned_effects(action)))
            }
            Phase::Vote | Phase::Timer => {
                let pin = action
                    .governing
                    .ok_or_else(|| format!("action {id} has no governing policy to re-check"))?;
                let policy = state
                    .policies
                    .get(&pin.0)
                    .ok_or_else(|| format!("policy #{} is not in the state", pin.0 .0))?;
                let compiled = match self.engine.compile(policy) {
                    Ok(compiled) => compiled,
                    Err(error) => {
                        return Ok((
                            Some(pin),
                            fault_effects("check", &error.message, error.line, error.column),
                        ))
                    }
                };
                let input = Input {
                    state,
                    action,
                    policy,
                    now_ms,
                    http: &http,
                };
                let steps = Steps {
                    initialize: false,
                    notify: !action.notified_once,
                };
                Ok((Some(pin), self.engine.runtime.run(&compiled, &input, steps)))
            }
        }
    }
}

fn shown(value: &impl std::fmt::Debug) -> String {
    let mut text = format!("{value:?}");
    if text.len() > DIFFERENCE_SHOWN_BYTES_MAX {
        let mut cut = DIFFERENCE_SHOWN_BYTES_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The first field in which two effects differ, named, with both values.
pub fn difference(recorded: &Effects, rerun: &Effects) -> Option<String> {
    macro_rules! compare {
        ($($field:ident),*) => {
            $(
                if recorded.$field != rerun.$field {
                    return Some(format!(
                        "{}: recorded {}, re-executed {}",
                        stringify!($field),
                        shown(&recorded.$field),
                        shown(&rerun.$field)
                    ));
                }
            )*
        };
    }
    // Decision first: it is what an auditor cares about most.
    compare!(
        outcome,
        execute,
        execute_option,
        reason,
        action_data,
        policy_data,
        notifications,
        follow_ups,
        http,
        error,
        next_check_at_ms,
        ran,
        log
    );
    debug_assert_eq!(recorded, rerun, "every field of Effects is compared above");
    None
}

/// Code of a verification failure found by re-execution.
pub const REEXECUTION_MISMATCH: &str = "reexecution_mismatch";

/// The verifier's re-execution pass: shown every verified entry with the state just before
/// it (`ledger::replay_inspecting`), it re-runs each `Evaluated` record.
pub struct Audit {
    reexecutor: Reexecutor,
    /// Evaluations re-run and found identical.
    pub reexecuted: u64,
    /// Evaluations recorded as stopped by the CPU-time backstop, accepted as recorded.
    pub time_limits_accepted: u64,
}

impl Audit {
    pub fn new(runtime: Arc<Runtime>) -> Audit {
        Audit {
            reexecutor: Reexecutor::new(runtime),
            reexecuted: 0,
            time_limits_accepted: 0,
        }
    }

    pub fn inspect(
        &mut self,
        state: &GovernanceState,
        entry: &ostrom_schemas::VerifiedEntry,
    ) -> Result<(), ostrom_schemas::BadEntry> {
        let Some(ostrom_schemas::Record::Evaluated(evaluation)) = entry.entry().record() else {
            return Ok(());
        };
        match self.reexecutor.check(state, evaluation) {
            Ok(Reexecuted::Identical) => self.reexecuted += 1,
            Ok(Reexecuted::TimeLimitAccepted) => self.time_limits_accepted += 1,
            Err(mismatch) => {
                return Err(ostrom_schemas::BadEntry {
                    seq: entry.entry().seq,
                    code: REEXECUTION_MISMATCH,
                    reason: mismatch.to_string(),
                })
            }
        }
        Ok(())
    }
}
