//! The policy engine: decides actions by running the community's policies, and writes
//! what it decided and did as engine records, in the same batch as the statement that
//! caused them.
//!
//! Rules (DESIGN.md §4), deterministic where PolicyKit's were not:
//! - **Selection**: among active policies of the action's kind whose action types match,
//!   ordered by (priority desc, id asc), the first whose `filter` is true governs. Trigger
//!   policies: all that match run, and never decide. No governing policy: the action fails
//!   as "ungoverned".
//! - **Pinning**: a proposal is pinned to its governing policy's version; when that policy
//!   changes or is removed while the proposal is open, it is re-governed under the current
//!   policies, keeping its votes.
//! - **Lifecycle**: on arrival filter, initialize, check, notify once; again `check` on
//!   every vote or withdrawal; and when time passes, through a timer per proposal at the
//!   instant its policy's answer can next change (the runtime tracks how a policy reads the
//!   clock). A sweep only visits due timers, so its cost grows with the proposals that can
//!   change, not with all that are open.
//! - **Execution**: `pass` must call `action.execute()`; a policy without `pass` executes.
//!   Constitution actions are executed by the reducer (`ActionExecuted`); platform actions
//!   by an integration through [`Platforms`]. A member whose role may execute the type
//!   bypasses policies (`ExecutedByPermission`).
//! - **Failures close**: a policy fault (compile, runtime, limit) is recorded with its
//!   message and line, and the action fails.
//!
//! Every evaluation that changed anything is one `Evaluated` record; replay applies
//! records and never runs scripts.

pub mod backtest;
pub mod reexecute;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use ostrom_projections::state::{Action, Execution, Policy};
use ostrom_projections::{GovernanceState, Status};
use ostrom_schemas::action::{
    ActionSpec, ConstitutionAction, PlainAction, PlatformAction, PolicyKind, RollbackTarget,
};
use ostrom_schemas::entry::statement_signing_digest;
use ostrom_schemas::record::{Effects, Evaluation, Outcome, Phase, PolicyFault, Record};
use ostrom_schemas::statement::RecoveryPlan;
use ostrom_schemas::verify::{Refusal, Sealable};
use ostrom_schemas::{
    ActionId, Body, Hash, PolicyId, Signed, Statement, StatementBody, Value, VerifiedEntry,
};

use crate::ledger::{Batch, Reactor};
use crate::policy::{
    CompileError, Compiled, Directory, Http, Input, LiveHttp, NoHttp, Runtime, Steps,
};

/// Engine steps (evaluations, executions, follow-ups) one entry may cause at most. Chains
/// of follow-ups are bounded by `FOLLOW_UP_DEPTH_MAX` and each evaluation's follow-up cap;
/// this is the backstop, large enough to re-govern every open proposal after a policy
/// change.
pub const ENGINE_STEPS_PER_ENTRY_MAX: usize = 1 << 21;
/// How deep a chain of follow-up proposals may go.
pub const FOLLOW_UP_DEPTH_MAX: u32 = 8;
/// Follow-up proposals one entry may cause in all (policies proposing follow-ups whose
/// policies propose follow-ups would otherwise grow exponentially within the depth bound).
pub const FOLLOW_UPS_PER_ENTRY_MAX: usize = 64;
/// Due proposals one tick visits at most; the rest wait for the next tick.
pub const TICK_DUE_MAX: usize = 100_000;
/// The periodic sweep's default interval (the server's; scenarios sweep at every step).
pub const SWEEP_INTERVAL_MS: u64 = 60_000;

/// Where platform actions are executed: the integrations.
pub trait Platforms: Send + Sync {
    /// Execute a passed platform action. `None`: no integration for its platform is
    /// connected, so the action stays passed and awaiting execution.
    fn execute(&self, action: &PlatformAction) -> Option<Result<Value, String>>;

    /// Undo the executed platform action `target` (a passed `revert_action` of it); the
    /// integration finds what it did under that id. `None`: no integration for its
    /// platform is connected, so the revert stays passed and awaiting execution.
    fn revert(&self, _target: ActionId, _action: &PlatformAction) -> Option<Result<Value, String>> {
        None
    }
}

/// No integration connected: platform actions wait.
pub struct NoPlatforms;

impl Platforms for NoPlatforms {
    fn execute(&self, _action: &PlatformAction) -> Option<Result<Value, String>> {
        None
    }
}

/// Where a policy's external calls go.
#[derive(Clone)]
pub enum HttpSource {
    /// Live calls to the hosts the community allowlisted (`add_integration platform=http
    /// allow=host,...`).
    Community,
    /// A fixed gateway (scenario runs serve canned responses; verification replays).
    Fixed(Arc<dyn Http>),
}

/// A policy at a version: what a proposal is pinned to and an evaluation names.
type Pin = (PolicyId, Hash);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Arrive(ActionId),
    Recheck(ActionId, Phase),
    Execute(ActionId, Option<u64>),
    RegovernStale,
}

pub struct Engine {
    runtime: Arc<Runtime>,
    compiled: BTreeMap<Hash, Result<Arc<Compiled>, CompileError>>,
    /// (due instant, action): when each open proposal must be looked at again.
    timers: BTreeSet<(u64, ActionId)>,
    scheduled: BTreeMap<ActionId, u64>,
    /// Follow-up depth of actions proposed by policies.
    depth: BTreeMap<ActionId, u32>,
    platforms: Arc<dyn Platforms>,
    http: HttpSource,
    /// The live gateway for the community's current allowlist, built once per allowlist.
    live_http: Option<(Vec<String>, Arc<dyn Http>)>,
    /// Follow-ups proposed since the entry being reacted to.
    follow_ups_this_entry: usize,
    /// Members and roles, shared by evaluations while the batch's directory epoch says
    /// nothing changed them (most entries are votes).
    directory: Option<(u64, Arc<Directory>)>,
}

impl Engine {
    pub fn new(runtime: Arc<Runtime>, platforms: Arc<dyn Platforms>, http: HttpSource) -> Engine {
        Engine {
            runtime,
            compiled: BTreeMap::new(),
            timers: BTreeSet::new(),
            scheduled: BTreeMap::new(),
            depth: BTreeMap::new(),
            platforms,
            http,
            live_http: None,
            follow_ups_this_entry: 0,
            directory: None,
        }
    }

    /// Members and roles as of the batch's current state.
    fn directory(&mut self, batch: &Batch<'_>) -> Arc<Directory> {
        let epoch = batch.directory_epoch();
        match &self.directory {
            Some((cached, directory)) if *cached == epoch => directory.clone(),
            _ => {
                let directory = Arc::new(Directory::of(batch.state()));
                self.directory = Some((epoch, directory.clone()));
                directory
            }
        }
    }

    /// Rebuild the timers from a state (after opening a ledger): proposals not yet visible
    /// wait for `not_before`, open ones for their policy's next check.
    pub fn resume(&mut self, state: &GovernanceState) {
        self.directory = None;
        self.timers.clear();
        self.scheduled.clear();
        for action in state.open_actions() {
            let due = if arrived(action) {
                action.next_check_at_ms
            } else {
                Some(action.not_before_ms.unwrap_or(0))
            };
            if let Some(due) = due {
                self.schedule(action.id, due);
            }
        }
    }

    /// The next instant a timer is due, if any (for the server's sleep).
    pub fn next_due(&self) -> Option<u64> {
        self.timers.first().map(|(due, _)| *due)
    }

    /// Proposals with a timer: what a sweep can visit.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// The compiled form of a policy version (compiled once, kept).
    pub fn compile(&mut self, policy: &Policy) -> Result<Arc<Compiled>, CompileError> {
        let runtime = &self.runtime;
        self.compiled
            .entry(policy.version)
            .or_insert_with(|| runtime.compile(&policy.spec.source).map(Arc::new))
            .clone()
    }

    fn schedule(&mut self, action: ActionId, due: u64) {
        self.unschedule(action);
        self.timers.insert((due, action));
        self.scheduled.insert(action, due);
    }

    fn unschedule(&mut self, action: ActionId) {
        if let Some(due) = self.scheduled.remove(&action) {
            self.timers.remove(&(due, action));
        }
    }

    fn http_for(&mut self, state: &GovernanceState) -> Arc<dyn Http> {
        match &self.http {
            HttpSource::Fixed(http) => http.clone(),
            HttpSource::Community => {
                let hosts: Vec<String> = state
                    .integrations
                    .get("http")
                    .and_then(|settings| settings.get("allow"))
                    .map(|allow| match allow {
                        Value::Str(text) => {
                            text.split(',').map(|host| host.trim().to_owned()).collect()
                        }
                        Value::List(items) => items
                            .iter()
                            .filter_map(|item| item.as_str().map(str::to_owned))
                            .collect(),
                        _ => Vec::new(),
                    })
                    .unwrap_or_default();
                if hosts.is_empty() {
                    return Arc::new(NoHttp);
                }
                match &self.live_http {
                    Some((allowed, http)) if *allowed == hosts => http.clone(),
                    _ => {
                        let http: Arc<dyn Http> = Arc::new(LiveHttp::new(hosts.clone()));
                        self.live_http = Some((hosts, http.clone()));
                        http
                    }
                }
            }
        }
    }

    fn run(&mut self, batch: &mut Batch<'_>, first: Work) {
        self.follow_ups_this_entry = 0;
        let mut queue = VecDeque::from([first]);
        let mut steps = 0;
        while let Some(work) = queue.pop_front() {
            steps += 1;
            if steps > ENGINE_STEPS_PER_ENTRY_MAX {
                break;
            }
            match work {
                Work::Arrive(id) => self.arrive(batch, id, &mut queue),
                Work::Recheck(id, phase) => self.decide(batch, id, phase, &mut queue),
                Work::Execute(id, option) => self.execute(batch, id, option, &mut queue),
                Work::RegovernStale => {
                    let stale: Vec<ActionId> = batch
                        .state()
                        .open_actions()
                        .filter(|action| arrived(action) && is_stale(batch.state(), action))
                        .map(|action| action.id)
                        .collect();
                    queue.extend(
                        stale
                            .into_iter()
                            .map(|id| Work::Recheck(id, Phase::Regovern)),
                    );
                }
            }
        }
    }

    fn seal(&mut self, batch: &mut Batch<'_>, record: Record) -> Option<VerifiedEntry> {
        match batch.seal(Sealable::Record(record)) {
            Ok(entry) => Some(entry),
            Err(refusal) => {
                // The engine only writes records it has checked against the same state; a
                // refusal here is a bug in the engine, and the log stays valid without it.
                debug_assert!(false, "the engine's own record was refused: {refusal}");
                None
            }
        }
    }

    fn arrive(&mut self, batch: &mut Batch<'_>, id: ActionId, queue: &mut VecDeque<Work>) {
        let now = batch.at_ms();
        let Some(action) = batch.state().actions.get(&id) else {
            return;
        };
        if action.status != Status::Proposed || arrived(action) {
            return;
        }
        if let Some(at) = action.not_before_ms.filter(|at| *at > now) {
            self.schedule(id, at);
            return;
        }
        self.unschedule(id);
        for follow_up in self.run_triggers(batch, id) {
            queue.push_back(Work::Arrive(follow_up));
        }
        let action = &batch.state().actions[&id];
        if action.status != Status::Proposed {
            return;
        }
        if action.proposed_by_policy.is_none() {
            if let Some(role) = batch.state().execute_role(&action.initiator, &action.spec) {
                let member = action.initiator.clone();
                if self
                    .seal(
                        batch,
                        Record::ExecutedByPermission {
                            action: id,
                            member,
                            role,
                        },
                    )
                    .is_some()
                {
                    queue.push_back(Work::Execute(id, None));
                }
                return;
            }
        }
        self.decide(batch, id, Phase::Arrival, queue);
    }

    /// Run every matching trigger policy on an arriving action; returns the follow-ups they
    /// proposed.
    fn run_triggers(&mut self, batch: &mut Batch<'_>, id: ActionId) -> Vec<ActionId> {
        let mut proposed = Vec::new();
        let action_type = batch.state().actions[&id].spec.action_type().to_owned();
        let triggers: Vec<Pin> = batch
            .state()
            .policies_for_selection(PolicyKind::Trigger, &action_type)
            .into_iter()
            .map(|policy| (policy.id, policy.version))
            .collect();
        for pin in triggers {
            let compiled = match self.compile(&batch.state().policies[&pin.0]) {
                Ok(compiled) => compiled,
                Err(error) => {
                    let effects = fault_effects("filter", &error.message, error.line, error.column);
                    self.record_evaluation(batch, id, pin, Phase::Trigger, effects);
                    continue;
                }
            };
            let http = self.http_for(batch.state());
            let directory = self.directory(batch);
            let state = batch.state();
            let (Some(action), Some(current)) =
                (state.actions.get(&id), state.policies.get(&pin.0))
            else {
                continue;
            };
            let input = Input {
                state,
                action,
                policy: current,
                now_ms: batch.at_ms(),
                http: &*http,
            };
            let effects = match self.runtime.filter_in(&compiled, &input, directory.clone()) {
                Ok(false) => continue,
                Ok(true) => {
                    let steps = Steps {
                        initialize: true,
                        notify: true,
                    };
                    let mut effects = self.runtime.run_in(&compiled, &input, steps, directory);
                    effects.ran.insert(0, "filter".to_owned());
                    // A trigger reacts; it never executes or decides the action.
                    effects.execute = false;
                    effects.execute_option = None;
                    effects.next_check_at_ms = None;
                    effects
                }
                Err(fault) => {
                    fault_effects(&fault.function, &fault.message, fault.line, fault.column)
                }
            };
            if let Some(entry) =
                self.record_evaluation(batch, id, pin, Phase::Trigger, effects.clone())
            {
                proposed.extend(self.follow_ups(batch, id, pin.0, &effects, entry.entry().seq));
            }
        }
        proposed
    }

    fn record_evaluation(
        &mut self,
        batch: &mut Batch<'_>,
        id: ActionId,
        policy: Pin,
        phase: Phase,
        effects: Effects,
    ) -> Option<VerifiedEntry> {
        let evaluation = Evaluation {
            action: id,
            policy: Some(policy),
            phase,
            at_ms: batch.at_ms(),
            effects,
        };
        self.seal(batch, Record::Evaluated(evaluation))
    }

    fn follow_ups(
        &mut self,
        batch: &mut Batch<'_>,
        by: ActionId,
        policy: PolicyId,
        effects: &Effects,
        evaluation_seq: u64,
    ) -> Vec<ActionId> {
        let depth = self.depth.get(&by).copied().unwrap_or(0) + 1;
        let mut proposed = Vec::new();
        if depth > FOLLOW_UP_DEPTH_MAX {
            return proposed;
        }
        for action in &effects.follow_ups {
            if self.follow_ups_this_entry >= FOLLOW_UPS_PER_ENTRY_MAX {
                break;
            }
            self.follow_ups_this_entry += 1;
            let record = Record::PolicyProposed {
                evaluation_seq,
                by_action: by,
                policy,
                action: action.clone(),
            };
            if let Some(entry) = self.seal(batch, record) {
                let id = ActionId(entry.entry().seq);
                self.depth.insert(id, depth);
                proposed.push(id);
            }
        }
        proposed
    }

    /// Select the governing policy (on arrival or when the pinned one went stale) and run
    /// the lifecycle, or re-check under the pinned policy.
    fn decide(
        &mut self,
        batch: &mut Batch<'_>,
        id: ActionId,
        phase: Phase,
        queue: &mut VecDeque<Work>,
    ) {
        let state = batch.state();
        let Some(action) = state.actions.get(&id) else {
            return;
        };
        if action.status != Status::Proposed || (phase != Phase::Arrival && !arrived(action)) {
            return;
        }
        let stale = is_stale(state, action);
        let selecting = phase == Phase::Arrival || stale;
        let phase = match (phase, selecting) {
            (Phase::Arrival, _) => Phase::Arrival,
            (_, true) => Phase::Regovern,
            (phase, false) => phase,
        };
        let now = batch.at_ms();
        let http = self.http_for(state);

        let (policy, compiled, mut effects) = if selecting {
            let candidates: Vec<Pin> = state
                .policies_for_selection(action.kind, action.spec.action_type())
                .into_iter()
                .map(|policy| (policy.id, policy.version))
                .collect();
            let mut chosen = None;
            for policy in candidates {
                let compiled = match self.compile(&batch.state().policies[&policy.0]) {
                    Ok(compiled) => compiled,
                    Err(error) => {
                        let effects =
                            fault_effects("filter", &error.message, error.line, error.column);
                        chosen = Some((policy, None, effects));
                        break;
                    }
                };
                let directory = self.directory(batch);
                let state = batch.state();
                let input = Input {
                    state,
                    action: &state.actions[&id],
                    policy: &state.policies[&policy.0],
                    now_ms: now,
                    http: &*http,
                };
                match self.runtime.filter_in(&compiled, &input, directory) {
                    Ok(true) => {
                        chosen = Some((policy, Some(compiled), Effects::default()));
                        break;
                    }
                    Ok(false) => continue,
                    Err(fault) => {
                        let effects = fault_effects(
                            &fault.function,
                            &fault.message,
                            fault.line,
                            fault.column,
                        );
                        chosen = Some((policy, None, effects));
                        break;
                    }
                }
            }
            match chosen {
                Some(found) => found,
                None => {
                    let effects = ungoverned_effects(&batch.state().actions[&id]);
                    self.unschedule(id);
                    let evaluation = Evaluation {
                        action: id,
                        policy: None,
                        phase,
                        at_ms: now,
                        effects,
                    };
                    self.seal(batch, Record::Evaluated(evaluation));
                    return;
                }
            }
        } else {
            let policy = action.governing.expect("arrived and not stale: governed");
            match self.compile(&state.policies[&policy.0]) {
                Ok(compiled) => (policy, Some(compiled), Effects::default()),
                Err(error) => {
                    let effects = fault_effects("check", &error.message, error.line, error.column);
                    (policy, None, effects)
                }
            }
        };

        if let Some(compiled) = compiled {
            let directory = self.directory(batch);
            let state = batch.state();
            let action = &state.actions[&id];
            let input = Input {
                state,
                action,
                policy: &state.policies[&policy.0],
                now_ms: now,
                http: &*http,
            };
            let steps = Steps {
                initialize: selecting,
                notify: selecting || !action.notified_once,
            };
            effects = self.runtime.run_in(&compiled, &input, steps, directory);
            if selecting {
                effects.ran.insert(0, "filter".to_owned());
            }
            let unchanged = !selecting
                && matches!(effects.outcome, None | Some(Outcome::Proposed))
                && effects.action_data.is_empty()
                && effects.policy_data.is_empty()
                && effects.notifications.is_empty()
                && effects.follow_ups.is_empty()
                && effects.http.is_empty()
                && effects.log.is_empty()
                && effects.error.is_none()
                && effects.next_check_at_ms == action.next_check_at_ms;
            if unchanged {
                return;
            }
        }

        let decided = matches!(
            effects.outcome,
            Some(Outcome::Passed) | Some(Outcome::Failed)
        );
        let execute = effects.outcome == Some(Outcome::Passed) && effects.execute;
        let option = effects.execute_option;
        let next_check = if decided {
            None
        } else {
            effects.next_check_at_ms
        };
        let Some(entry) = self.record_evaluation(batch, id, policy, phase, effects.clone()) else {
            return;
        };
        match next_check {
            Some(due) => self.schedule(id, due),
            None => self.unschedule(id),
        }
        for follow_up in self.follow_ups(batch, id, policy.0, &effects, entry.entry().seq) {
            queue.push_back(Work::Arrive(follow_up));
        }
        if execute {
            queue.push_back(Work::Execute(id, option));
        }
    }

    fn execute(
        &mut self,
        batch: &mut Batch<'_>,
        id: ActionId,
        option: Option<u64>,
        queue: &mut VecDeque<Work>,
    ) {
        let state = batch.state();
        let Some(action) = state.actions.get(&id) else {
            return;
        };
        if !matches!(action.execution, Execution::Requested { .. }) {
            return;
        }
        let spec = action.spec.clone();
        if let Err(reason) = state.check_execution(&spec, option) {
            self.seal(batch, Record::ActionExecutionFailed { action: id, reason });
            return;
        }
        let chosen: Vec<PlainAction> = match &spec {
            ActionSpec::Constitution(action) => vec![PlainAction::Constitution(action.clone())],
            ActionSpec::Platform(action) => vec![PlainAction::Platform(action.clone())],
            ActionSpec::Election { options } => options
                .get(option.unwrap_or(0) as usize)
                .cloned()
                .into_iter()
                .collect(),
            ActionSpec::Combination { actions } => actions.clone(),
        };
        // Platform parts first: if the platform refuses, nothing of a combination applies.
        // A revert of a platform action is the platform's undo, asked of its integration.
        let mut responses = Vec::new();
        for part in &chosen {
            let answer = match part {
                PlainAction::Platform(platform_action) => self.platforms.execute(platform_action),
                PlainAction::Constitution(ConstitutionAction::RevertAction { action }) => {
                    match platform_undo(batch.state(), *action) {
                        Some(platform_action) => self.platforms.revert(*action, &platform_action),
                        None => continue,
                    }
                }
                PlainAction::Constitution(_) => continue,
            };
            match answer {
                None => return, // awaiting the platform's integration
                Some(Err(reason)) => {
                    self.seal(batch, Record::ActionExecutionFailed { action: id, reason });
                    return;
                }
                Some(Ok(response)) => responses.push(response),
            }
        }
        let response = match responses.len() {
            0 => Value::Null,
            1 => responses.pop().expect("one"),
            _ => Value::List(responses),
        };
        if self
            .seal(
                batch,
                Record::ActionExecuted {
                    action: id,
                    option,
                    response,
                },
            )
            .is_none()
        {
            return;
        }
        // The audit trail links each revert and rollback to what it undid, in the log.
        for part in &chosen {
            let record = match part {
                PlainAction::Constitution(ConstitutionAction::RevertAction { action }) => {
                    Record::ActionReverted {
                        action: *action,
                        by: id,
                    }
                }
                PlainAction::Constitution(ConstitutionAction::RollbackGovernance { target }) => {
                    let to_seq = match target {
                        RollbackTarget::ToSeq(seq) => *seq,
                        RollbackTarget::Before(action) => {
                            match batch
                                .state()
                                .actions
                                .get(action)
                                .map(|found| &found.execution)
                            {
                                Some(Execution::Executed { seq, .. }) => *seq,
                                _ => continue,
                            }
                        }
                    };
                    Record::GovernanceRolledBack {
                        by: Some(id),
                        to_seq,
                    }
                }
                _ => continue,
            };
            self.seal(batch, record);
        }
        if chosen.iter().any(changes_policies) {
            queue.push_back(Work::RegovernStale);
        }
    }
}

/// The platform action a revert of `target` must ask its platform to undo (none: the
/// target is not a platform action, and the reducer reverts it). A bundle's platform parts
/// are not undone yet: that needs the integrations' outbox (DESIGN §5).
fn platform_undo(state: &GovernanceState, target: ActionId) -> Option<PlatformAction> {
    match &state.actions.get(&target)?.spec {
        ActionSpec::Platform(platform_action) => Some(platform_action.clone()),
        _ => None,
    }
}

/// Did the action's arrival already happen (an evaluation or a bypass was recorded)?
fn arrived(action: &Action) -> bool {
    !action
        .evaluations
        .iter()
        .all(|summary| summary.phase == Phase::Trigger)
        || action.bypass.is_some()
}

/// Is the proposal's pinned policy gone or changed?
fn is_stale(state: &GovernanceState, action: &Action) -> bool {
    match action.governing {
        Some((id, version)) => state
            .policies
            .get(&id)
            .is_none_or(|policy| !policy.active || policy.version != version),
        None => false,
    }
}

fn changes_policies(action: &PlainAction) -> bool {
    matches!(
        action,
        PlainAction::Constitution(
            ConstitutionAction::AddPolicy(_)
                | ConstitutionAction::ChangePolicy { .. }
                | ConstitutionAction::RemovePolicy { .. }
                | ConstitutionAction::RecoverPolicy { .. }
                | ConstitutionAction::RevertAction { .. }
                | ConstitutionAction::RollbackGovernance { .. }
        )
    )
}

/// What is recorded when no active policy governs an action: it fails, never stuck.
fn ungoverned_effects(action: &Action) -> Effects {
    Effects {
        outcome: Some(Outcome::Failed),
        reason: Some(format!(
            "ungoverned: no active {} policy governs {}",
            action.kind.as_str(),
            action.spec.action_type()
        )),
        ..Effects::default()
    }
}

fn fault_effects(function: &str, message: &str, line: u32, column: u32) -> Effects {
    Effects {
        ran: vec![function.to_owned()],
        outcome: Some(Outcome::Failed),
        reason: Some(format!(
            "policy error in {function} at line {line}, column {column}: {message}"
        )),
        error: Some(PolicyFault {
            function: function.to_owned(),
            message: message.to_owned(),
            line,
            column,
        }),
        ..Effects::default()
    }
}

/// Policy sources inside an action (add_policy, change_policy, also inside bundles).
fn policy_sources(action: &ActionSpec) -> Vec<&str> {
    fn source(constitution: &ConstitutionAction) -> Option<&str> {
        match constitution {
            ConstitutionAction::AddPolicy(spec) => Some(spec.source.as_str()),
            ConstitutionAction::ChangePolicy {
                source: Some(source),
                ..
            } => Some(source.as_str()),
            _ => None,
        }
    }
    match action {
        ActionSpec::Constitution(constitution) => source(constitution).into_iter().collect(),
        ActionSpec::Platform(_) => Vec::new(),
        ActionSpec::Election { options: parts } | ActionSpec::Combination { actions: parts } => {
            parts
                .iter()
                .filter_map(|part| match part {
                    PlainAction::Constitution(constitution) => source(constitution),
                    PlainAction::Platform(_) => None,
                })
                .collect()
        }
    }
}

/// Refusals worth keeping in the audit trail: a member tried something they may not do.
const AUDITED_REFUSALS: &[&str] = &["not_permitted", "compile_error"];

impl Reactor for Engine {
    fn precheck(&mut self, _state: &GovernanceState, statement: &Statement) -> Result<(), Refusal> {
        if let StatementBody::ActionProposed { action, .. } = &statement.body {
            for source in policy_sources(action) {
                self.runtime.compile(source).map_err(|error| {
                    Refusal::new(
                        "compile_error",
                        format!(
                            "the policy does not compile: line {}, column {}: {}",
                            error.line, error.column, error.message
                        ),
                    )
                })?;
            }
        }
        Ok(())
    }

    fn after(&mut self, batch: &mut Batch<'_>, entry: &VerifiedEntry) {
        let seq = entry.entry().seq;
        let work = match &entry.entry().body {
            Body::Statement(Signed {
                statement: Statement { body, .. },
                ..
            })
            | Body::Vouched(Statement { body, .. }) => match body {
                StatementBody::ActionProposed { .. } => Work::Arrive(ActionId(seq)),
                StatementBody::VoteCast { action, .. }
                | StatementBody::VoteWithdrawn { action } => Work::Recheck(*action, Phase::Vote),
                StatementBody::RecoveryInvoked(recovery) => {
                    // Prominent in the audit trail: what the trustees' recovery did.
                    let record = match &recovery.plan {
                        RecoveryPlan::Restart { kit, .. } => Record::GovernanceRestarted {
                            recovery_seq: seq,
                            kit: kit.clone(),
                        },
                        RecoveryPlan::RollbackToSeq { seq: to_seq } => {
                            Record::GovernanceRolledBack {
                                by: None,
                                to_seq: *to_seq,
                            }
                        }
                    };
                    self.seal(batch, record);
                    Work::RegovernStale
                }
                _ => return,
            },
            Body::Record(Record::PolicyProposed { .. }) => Work::Arrive(ActionId(seq)),
            Body::Record(_) => return,
        };
        self.run(batch, work);
    }

    fn refused(&mut self, batch: &mut Batch<'_>, statement: &Statement, refusal: &Refusal) {
        if !AUDITED_REFUSALS.contains(&refusal.code) || !batch.state().is_member(&statement.member)
        {
            return;
        }
        let what = match &statement.body {
            StatementBody::ActionProposed { action, .. } => {
                format!("proposal of {}", action.action_type())
            }
            other => other.name().to_owned(),
        };
        let record = Record::Refused {
            member: statement.member.clone(),
            what,
            code: refusal.code.to_owned(),
            reason: refusal.reason.clone(),
            statement: statement_signing_digest(statement),
        };
        self.seal(batch, record);
    }

    fn tick(&mut self, batch: &mut Batch<'_>) {
        let now = batch.at_ms();
        let mut visited = 0;
        while let Some(&(due, id)) = self.timers.first() {
            if due > now || visited >= TICK_DUE_MAX {
                break;
            }
            visited += 1;
            self.unschedule(id);
            let Some(action) = batch.state().actions.get(&id) else {
                continue;
            };
            let work = if arrived(action) {
                Work::Recheck(id, Phase::Timer)
            } else {
                Work::Arrive(id)
            };
            self.run(batch, work);
        }
    }

    fn next_due(&self) -> Option<u64> {
        Engine::next_due(self)
    }
}
