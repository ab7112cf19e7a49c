//! The reducer: `apply(&mut state, &VerifiedEntry)`, and the admission rules the verifier
//! asks the state about before an entry may be applied.
//!
//! `apply` is total for verified entries: everything that could make it fail is refused by
//! admission first ([`Authority`] below), so a failure inside `apply` is a bug and panics.
//! Neither function reads a clock, draws randomness or does I/O: time is the entry's
//! `at_ms`, and everything else is in the entry or the state.

use ostrom_schemas::action::{ActionId, ActionSpec, PolicyKind};
use ostrom_schemas::record::{
    DataWrite, Effects, Evaluation, Outcome, Phase, Record, ROTATION_DOMAIN,
};
use ostrom_schemas::statement::{Founding, RecoveryPlan, StatementBody};
use ostrom_schemas::verify::{Authority, ChainTip, Ed25519Signature, Refusal, VerifyingKey};
use ostrom_schemas::{limits, PublicKey, Statement, VerifiedEntry, VoteValue};

use crate::constitution::Origin;
use crate::state::{
    Action, Community, EvaluationSummary, Execution, GovernanceState, Position, Recovery, Status,
    Vote, VoteEvent, EVERYONE,
};

/// How far ahead `not_before` may be: ten years.
pub const NOT_BEFORE_AHEAD_MS_MAX: u64 = 10 * 365 * 24 * 3_600_000;

/// Fold one verified entry into the state.
pub fn apply(state: &mut GovernanceState, verified: &VerifiedEntry) {
    let entry = verified.entry();
    assert_eq!(
        entry.seq, state.position.next_seq,
        "apply: entry out of sequence"
    );
    assert_eq!(
        entry.prev, state.position.head,
        "apply: entry does not chain"
    );
    let seq = entry.seq;
    match entry.statement() {
        Some(asserted) => {
            state
                .counters
                .insert(*asserted.author, asserted.statement.counter);
            apply_statement(state, asserted.statement, seq, entry.at_ms, verified.hash());
        }
        None => {
            let record = entry
                .record()
                .expect("an entry without a statement has a record");
            apply_record(state, record, seq, entry.at_ms);
        }
    }
    state.position = Position {
        next_seq: seq + 1,
        head: verified.hash(),
        at_ms: entry.at_ms,
    };
}

fn apply_statement(
    state: &mut GovernanceState,
    statement: &Statement,
    seq: u64,
    at_ms: u64,
    hash: ostrom_schemas::Hash,
) {
    let member = &statement.member;
    match &statement.body {
        StatementBody::CommunityFounded(founding) => {
            found(state, founding, statement.community, at_ms)
        }
        StatementBody::MemberJoined { member, key } => state.join(member, *key, seq),
        StatementBody::MemberLeft { member } => state.leave(member),
        StatementBody::KeyBound { member, key } => {
            let found = state
                .members
                .get_mut(member)
                .expect("admitted: member exists");
            if let Some(old) = found.key.replace(*key) {
                state.key_owners.remove(&old);
            }
            state.key_owners.insert(*key, member.clone());
        }
        StatementBody::ActionProposed {
            action,
            not_before_ms,
        } => {
            open_action(
                state,
                ActionId(seq),
                action.clone(),
                member,
                hash,
                at_ms,
                *not_before_ms,
                None,
            );
        }
        StatementBody::VoteCast { action, value } => {
            let found = state
                .actions
                .get_mut(action)
                .expect("admitted: action exists");
            found.votes.insert(
                member.clone(),
                Vote {
                    value: value.clone(),
                    at_ms,
                    seq,
                },
            );
            found.vote_history.push(VoteEvent {
                member: member.clone(),
                value: Some(value.clone()),
                at_ms,
                seq,
            });
        }
        StatementBody::VoteWithdrawn { action } => {
            let found = state
                .actions
                .get_mut(action)
                .expect("admitted: action exists");
            found.votes.remove(member);
            found.vote_history.push(VoteEvent {
                member: member.clone(),
                value: None,
                at_ms,
                seq,
            });
        }
        StatementBody::RecoveryInvoked(recovery) => {
            let origin = Origin { seq, by: None };
            match &recovery.plan {
                RecoveryPlan::Restart {
                    roles, policies, ..
                } => state.restart(roles, policies, origin),
                RecoveryPlan::RollbackToSeq { seq: before } => state.rollback_to(*before, origin),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn open_action(
    state: &mut GovernanceState,
    id: ActionId,
    spec: ActionSpec,
    initiator: &str,
    hash: ostrom_schemas::Hash,
    at_ms: u64,
    not_before_ms: Option<u64>,
    proposed_by_policy: Option<ostrom_schemas::PolicyId>,
) {
    let kind = spec.kind();
    state.actions.insert(
        id,
        Action {
            id,
            spec,
            kind,
            initiator: initiator.to_owned(),
            proposal_hash: hash,
            proposed_at_ms: at_ms,
            not_before_ms,
            proposed_by_policy,
            status: Status::Proposed,
            reason: None,
            governing: None,
            initialized: false,
            notified_once: false,
            votes: Default::default(),
            vote_history: Vec::new(),
            data: Default::default(),
            notified: Default::default(),
            notifications: Vec::new(),
            evaluations: Vec::new(),
            next_check_at_ms: None,
            execution: Execution::None,
            bypass: None,
            reverted_by: None,
            decided_seq: None,
        },
    );
    state.open.insert(id);
}

fn found(
    state: &mut GovernanceState,
    founding: &Founding,
    id: ostrom_schemas::CommunityId,
    at_ms: u64,
) {
    state.community = Some(Community {
        id,
        name: founding.name.clone(),
        kit: founding.kit.clone(),
        sequencer: founding.sequencer,
        founded_at_ms: at_ms,
    });
    let origin = Origin { seq: 0, by: None };
    for member in &founding.members {
        state.join(&member.name, member.key, 0);
    }
    if !founding.roles.iter().any(|role| role.name == EVERYONE) {
        state.install_role(
            &ostrom_schemas::RoleSpec {
                name: EVERYONE.into(),
                description: "Every member".into(),
                permissions: Default::default(),
                members: Vec::new(),
            },
            origin,
        );
    }
    for role in &founding.roles {
        state.install_role(role, origin);
    }
    state.next_policy_id = 1;
    for policy in &founding.policies {
        let id = ostrom_schemas::PolicyId(state.next_policy_id);
        state.next_policy_id += 1;
        state.insert_policy(id, policy.clone(), origin);
    }
    for document in &founding.documents {
        state.execute_constitution(
            &ostrom_schemas::ConstitutionAction::AddDocument {
                name: document.name.clone(),
                text: document.text.clone(),
            },
            origin,
        );
    }
    state.recovery = Recovery {
        trustees: founding.trustees.clone(),
        threshold: founding.threshold,
    };
    state.recovery_history.push((0, state.recovery.clone()));
}

fn apply_record(state: &mut GovernanceState, record: &Record, seq: u64, at_ms: u64) {
    match record {
        Record::Evaluated(evaluation) => apply_evaluation(state, evaluation, seq),
        Record::PolicyProposed {
            by_action,
            policy,
            action,
            ..
        } => {
            let initiator = state.actions[by_action].initiator.clone();
            let hash = state.position.head;
            open_action(
                state,
                ActionId(seq),
                action.clone(),
                &initiator,
                hash,
                at_ms,
                None,
                Some(*policy),
            );
        }
        Record::ActionExecuted { action, option, .. } => {
            let spec = state.actions[action].spec.clone();
            let origin = Origin {
                seq,
                by: Some(*action),
            };
            execute(state, &spec, *option, origin);
            let found = state.actions.get_mut(action).expect("admitted");
            found.execution = Execution::Executed {
                seq,
                option: *option,
            };
        }
        Record::ActionExecutionFailed { action, reason } => {
            let found = state.actions.get_mut(action).expect("admitted");
            found.execution = Execution::Failed {
                seq,
                reason: reason.clone(),
            };
        }
        Record::ActionReverted { action, by } => {
            let found = state.actions.get_mut(action).expect("admitted");
            found.reverted_by = Some(*by);
        }
        Record::ExecutedByPermission {
            action,
            member,
            role,
        } => {
            let found = state.actions.get_mut(action).expect("admitted");
            found.status = Status::Passed;
            found.bypass = Some((member.clone(), role.clone()));
            found.execution = Execution::Requested { option: None };
            found.decided_seq = Some(seq);
            state.open.remove(action);
        }
        Record::Refused { .. } => {}
        Record::GovernanceRolledBack { .. } | Record::GovernanceRestarted { .. } => {}
        Record::Checkpoint { .. } => {}
        Record::SequencerRotated { new, .. } => {
            let community = state.community.as_mut().expect("admitted: founded");
            community.sequencer = *new;
        }
    }
}

/// Execute an action's effect: constitution actions change governance here; platform
/// actions were executed by their integration and leave governance as it is.
fn execute(state: &mut GovernanceState, spec: &ActionSpec, option: Option<u64>, origin: Origin) {
    match spec {
        ActionSpec::Constitution(action) => state.execute_constitution(action, origin),
        ActionSpec::Platform(_) => {}
        ActionSpec::Election { options } => {
            let index = option.expect("admitted: an election executes one option") as usize;
            execute(state, &options[index].to_spec(), None, origin);
        }
        ActionSpec::Combination { actions } => {
            for action in actions {
                execute(state, &action.to_spec(), None, origin);
            }
        }
    }
}

fn apply_evaluation(state: &mut GovernanceState, evaluation: &Evaluation, seq: u64) {
    let Evaluation {
        action: id,
        policy,
        phase,
        effects,
        ..
    } = evaluation;
    let Effects {
        ran,
        outcome,
        execute,
        execute_option,
        reason,
        action_data,
        policy_data,
        notifications,
        error,
        next_check_at_ms,
        ..
    } = effects;
    if let Some((policy_id, _)) = policy {
        let data = &mut state
            .policies
            .get_mut(policy_id)
            .expect("admitted: policy exists")
            .data;
        write_data(data, policy_data);
    }
    let action = state.actions.get_mut(id).expect("admitted: action exists");
    if *phase == Phase::Trigger {
        write_data(&mut action.data, action_data);
        for notification in notifications {
            action.notified.extend(notification.members.iter().cloned());
            action.notifications.push(notification.clone());
        }
        action.evaluations.push(EvaluationSummary {
            seq,
            policy: *policy,
            phase: *phase,
            outcome: *outcome,
            error: error.clone(),
        });
        return;
    }
    if action.governing != *policy {
        action.governing = *policy;
        action.initialized = false;
        action.notified_once = false;
    }
    if ran.iter().any(|function| function == "initialize") {
        action.initialized = true;
    }
    if ran.iter().any(|function| function == "notify") {
        action.notified_once = true;
    }
    write_data(&mut action.data, action_data);
    for notification in notifications {
        action.notified.extend(notification.members.iter().cloned());
        action.notifications.push(notification.clone());
    }
    action.next_check_at_ms = *next_check_at_ms;
    action.evaluations.push(EvaluationSummary {
        seq,
        policy: *policy,
        phase: *phase,
        outcome: *outcome,
        error: error.clone(),
    });
    if reason.is_some() {
        action.reason = reason.clone();
    }
    match outcome {
        Some(Outcome::Passed) => {
            action.status = Status::Passed;
            action.decided_seq = Some(seq);
            if *execute {
                action.execution = Execution::Requested {
                    option: *execute_option,
                };
            }
            action.next_check_at_ms = None;
            state.open.remove(id);
        }
        Some(Outcome::Failed) => {
            action.status = Status::Failed;
            action.decided_seq = Some(seq);
            action.next_check_at_ms = None;
            state.open.remove(id);
        }
        Some(Outcome::Proposed) | None => {}
    }
}

fn write_data(
    data: &mut std::collections::BTreeMap<String, ostrom_schemas::Value>,
    writes: &[DataWrite],
) {
    for write in writes {
        match write {
            DataWrite::Set { key, value } => data.insert(key.clone(), value.clone()),
            DataWrite::Remove { key } => data.remove(key),
        };
    }
}

impl GovernanceState {
    /// Whether `spec` (with an election's chosen `option`) can be executed now.
    pub fn check_execution(&self, spec: &ActionSpec, option: Option<u64>) -> Result<(), String> {
        match spec {
            ActionSpec::Constitution(action) => self.check_constitution(action),
            ActionSpec::Platform(_) => Ok(()),
            ActionSpec::Election { options } => {
                let index = option.ok_or("an election executes one of its options")?;
                let chosen = options
                    .get(index as usize)
                    .ok_or_else(|| format!("the election has no option {index}"))?;
                self.check_execution(&chosen.to_spec(), None)
            }
            ActionSpec::Combination { actions } => {
                // All or none: each must apply after the ones before it, so check on a copy.
                if actions
                    .iter()
                    .all(|action| action.kind() != PolicyKind::Constitution)
                {
                    return Ok(());
                }
                let mut scratch = self.clone();
                for action in actions {
                    let action = action.to_spec();
                    scratch.check_execution(&action, None)?;
                    execute(
                        &mut scratch,
                        &action,
                        None,
                        Origin {
                            seq: self.position.next_seq,
                            by: None,
                        },
                    );
                }
                Ok(())
            }
        }
    }

    fn open_action(&self, id: &ActionId) -> Result<&Action, Refusal> {
        let action = self
            .actions
            .get(id)
            .ok_or_else(|| Refusal::new("unknown_proposal", format!("unknown proposal {id}")))?;
        if action.status != Status::Proposed {
            return Err(Refusal::new(
                "proposal_closed",
                format!("proposal {id} is closed ({})", action.status.as_str()),
            ));
        }
        Ok(action)
    }

    fn check_vote(&self, action: &Action, value: &VoteValue) -> Result<(), String> {
        if action.vote_history.len() >= limits::VOTES_PER_PROPOSAL_MAX {
            return Err(format!("proposal {} has reached its vote limit", action.id));
        }
        let options = match &action.spec {
            ActionSpec::Election { options } => options.len() as u64,
            _ => 0,
        };
        match value {
            VoteValue::Option(index) if *index >= options => {
                Err(format!("proposal {} has no option {index}", action.id))
            }
            VoteValue::Ranking(ranking) => {
                if ranking.len() > limits::RANKING_ITEMS_MAX {
                    return Err("ranking too long".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                for index in ranking {
                    if *index >= options || !seen.insert(*index) {
                        return Err(format!(
                            "ranking lists an unknown or repeated option {index}"
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Attach a stable code to a reason.
fn refuse(code: &'static str) -> impl Fn(String) -> Refusal {
    move |reason| Refusal::new(code, reason)
}

impl Authority for GovernanceState {
    fn tip(&self) -> ChainTip {
        ChainTip {
            next_seq: self.position.next_seq,
            prev: self.position.head,
            at_ms: self.position.at_ms,
            established: self
                .community
                .as_ref()
                .map(|community| (community.id, community.sequencer)),
        }
    }

    fn admit_statement(
        &self,
        statement: &Statement,
        author: &PublicKey,
        at_ms: u64,
    ) -> Result<(), Refusal> {
        let member = statement.member.as_str();
        let sequencer = self.community.as_ref().map(|community| community.sequencer);
        let by_sequencer = Some(*author) == sequencer;
        let last = self.counters.get(author).copied().unwrap_or(0);
        if statement.counter <= last {
            return Err(Refusal::new(
                "replayed",
                format!(
                    "replayed statement: counter {} is not above {last} for this author",
                    statement.counter
                ),
            ));
        }
        // Who may speak for whom: a member with their own bound key, or the server (which
        // authenticated the member another way and says so with its own key).
        let speaks_for_member = by_sequencer
            || self
                .key_owners
                .get(author)
                .is_some_and(|owner| owner == member);
        let needs_member = |this: &GovernanceState| -> Result<(), Refusal> {
            if !this.is_member(member) {
                return Err(Refusal::new(
                    "unknown_member",
                    format!("{member} is not a member"),
                ));
            }
            if !speaks_for_member {
                return Err(Refusal::new(
                    "wrong_key",
                    format!("the signing key does not belong to {member}"),
                ));
            }
            Ok(())
        };
        match &statement.body {
            StatementBody::CommunityFounded(_) => Err(Refusal::new(
                "bad_genesis",
                "the community is already founded",
            )),
            StatementBody::MemberJoined {
                member: joining,
                key,
            } => {
                if !by_sequencer {
                    return Err(Refusal::new(
                        "not_permitted",
                        "members join through the server or an integration",
                    ));
                }
                if self.is_member(joining) {
                    return Err(Refusal::new(
                        "already_member",
                        format!("{joining} is already a member"),
                    ));
                }
                ostrom_schemas::action::check_name("member", joining)
                    .map_err(|error| Refusal::new("bad_param", error.to_string()))?;
                if let Some(key) = key {
                    self.check_key_free(key, joining)
                        .map_err(refuse("key_in_use"))?;
                }
                if self.members.len() >= limits::MEMBERS_MAX {
                    return Err(Refusal::new(
                        "limit",
                        "the community is at its member limit",
                    ));
                }
                Ok(())
            }
            StatementBody::MemberLeft { member: leaving } => {
                needs_member(self)?;
                if leaving != member && !by_sequencer {
                    return Err(Refusal::new(
                        "not_permitted",
                        "a member can only leave for themselves",
                    ));
                }
                if !self.is_member(leaving) {
                    return Err(Refusal::new(
                        "unknown_member",
                        format!("{leaving} is not a member"),
                    ));
                }
                Ok(())
            }
            StatementBody::KeyBound { member: owner, key } => {
                needs_member(self)?;
                if owner != member {
                    return Err(Refusal::new(
                        "not_permitted",
                        "a member can only bind their own key",
                    ));
                }
                self.check_key_free(key, owner)
                    .map_err(refuse("key_in_use"))
            }
            StatementBody::ActionProposed {
                action,
                not_before_ms,
            } => {
                needs_member(self)?;
                self.may_propose(member, action)
                    .map_err(refuse("not_permitted"))?;
                if let Some(at) = not_before_ms {
                    if *at > at_ms + NOT_BEFORE_AHEAD_MS_MAX {
                        return Err(Refusal::new(
                            "bad_param",
                            "not_before is more than ten years away",
                        ));
                    }
                }
                Ok(())
            }
            StatementBody::VoteCast { action, value } => {
                needs_member(self)?;
                let found = self.open_action(action)?;
                if found.not_before_ms.is_some_and(|at| at > at_ms) {
                    return Err(Refusal::new(
                        "proposal_closed",
                        format!("proposal {action} is not open for votes yet"),
                    ));
                }
                self.check_vote(found, value)
                    .map_err(refuse("invalid_vote"))
            }
            StatementBody::VoteWithdrawn { action } => {
                needs_member(self)?;
                let found = self.open_action(action)?;
                if !found.votes.contains_key(member) {
                    return Err(Refusal::new(
                        "no_vote",
                        format!("{member} has no vote on proposal {action} to withdraw"),
                    ));
                }
                Ok(())
            }
            StatementBody::RecoveryInvoked(recovery) => {
                if !by_sequencer
                    && !self
                        .recovery
                        .trustees
                        .iter()
                        .any(|trustee| trustee == member)
                {
                    return Err(Refusal::new(
                        "not_permitted",
                        format!("{member} is not a recovery trustee"),
                    ));
                }
                if !speaks_for_member {
                    return Err(Refusal::new(
                        "wrong_key",
                        format!("the signing key does not belong to {member}"),
                    ));
                }
                match &recovery.plan {
                    RecoveryPlan::RollbackToSeq { seq }
                        if *seq == 0 || *seq >= self.position.next_seq =>
                    {
                        Err(Refusal::new(
                            "bad_param",
                            format!("cannot roll back to seq {seq}"),
                        ))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    fn admit_record(&self, record: &Record) -> Result<(), Refusal> {
        let invalid = refuse("invalid_record");
        match record {
            Record::Evaluated(evaluation) => {
                let action = self.open_action(&evaluation.action)?;
                if let Some((id, version)) = &evaluation.policy {
                    let policy = self
                        .policies
                        .get(id)
                        .ok_or_else(|| invalid(format!("unknown policy {id}")))?;
                    if policy.version != *version {
                        return Err(invalid(format!(
                            "policy {id} is not at version {}",
                            version.short()
                        )));
                    }
                    if !policy.active {
                        return Err(invalid(format!("policy {id} is not active")));
                    }
                }
                let effects = &evaluation.effects;
                if evaluation.phase == Phase::Trigger {
                    if evaluation.policy.is_none() || effects.execute {
                        return Err(invalid(
                            "a trigger evaluation names its policy and executes nothing".into(),
                        ));
                    }
                    return Ok(());
                }
                if effects.execute && effects.outcome != Some(Outcome::Passed) {
                    return Err(invalid("only a passing evaluation can execute".into()));
                }
                if let ActionSpec::Election { options } = &action.spec {
                    if effects
                        .execute_option
                        .is_some_and(|option| option as usize >= options.len())
                    {
                        return Err(invalid("the election has no such option".into()));
                    }
                    if effects.execute && effects.execute_option.is_none() {
                        return Err(invalid("an election executes one of its options".into()));
                    }
                }
                Ok(())
            }
            Record::PolicyProposed {
                evaluation_seq,
                by_action,
                policy,
                ..
            } => {
                if *evaluation_seq >= self.position.next_seq {
                    return Err(invalid("names an evaluation that is not in the log".into()));
                }
                if !self.actions.contains_key(by_action) {
                    return Err(invalid(format!("unknown action {by_action}")));
                }
                if !self.policies.contains_key(policy) {
                    return Err(invalid(format!("unknown policy {policy}")));
                }
                Ok(())
            }
            Record::ActionExecuted { action, option, .. } => {
                let found = self
                    .actions
                    .get(action)
                    .ok_or_else(|| invalid(format!("unknown action {action}")))?;
                match found.execution {
                    Execution::Requested { option: requested } if requested == *option => {}
                    Execution::Requested { .. } => {
                        return Err(invalid(
                            "executes a different option than was decided".into(),
                        ))
                    }
                    _ => {
                        return Err(invalid(format!(
                            "action {action} is not awaiting execution"
                        )))
                    }
                }
                self.check_execution(&found.spec, *option).map_err(invalid)
            }
            Record::ActionExecutionFailed { action, .. } => {
                let found = self
                    .actions
                    .get(action)
                    .ok_or_else(|| invalid(format!("unknown action {action}")))?;
                match found.execution {
                    Execution::Requested { .. } => Ok(()),
                    _ => Err(invalid(format!(
                        "action {action} is not awaiting execution"
                    ))),
                }
            }
            Record::ActionReverted { action, by } => {
                let found = self
                    .actions
                    .get(action)
                    .ok_or_else(|| invalid(format!("unknown action {action}")))?;
                if !matches!(found.execution, Execution::Executed { .. }) {
                    return Err(invalid(format!("action {action} was not executed")));
                }
                if !self.actions.contains_key(by) {
                    return Err(invalid(format!("unknown action {by}")));
                }
                Ok(())
            }
            Record::ExecutedByPermission {
                action,
                member,
                role,
            } => {
                let found = self.open_action(action)?;
                if &found.initiator != member {
                    return Err(invalid(
                        "only the initiator's own permission can bypass".into(),
                    ));
                }
                match self.execute_role(member, &found.spec) {
                    Some(_) if self.has_role(member, role) => Ok(()),
                    _ => Err(invalid(format!(
                        "{member} holds no role that may execute {}",
                        found.spec.action_type()
                    ))),
                }
            }
            Record::Refused { .. } => Ok(()),
            Record::GovernanceRolledBack { to_seq, .. } => {
                if *to_seq >= self.position.next_seq {
                    return Err(invalid("rolls back to a seq not in the log".into()));
                }
                Ok(())
            }
            Record::GovernanceRestarted { recovery_seq, .. } => {
                if *recovery_seq >= self.position.next_seq {
                    return Err(invalid("names a recovery not in the log".into()));
                }
                Ok(())
            }
            Record::Checkpoint { size, .. } => {
                if *size > self.position.next_seq {
                    return Err(invalid("checkpoint covers entries not in the log".into()));
                }
                Ok(())
            }
            Record::SequencerRotated { new, endorsement } => {
                let old = self
                    .community
                    .as_ref()
                    .map(|community| community.sequencer)
                    .ok_or_else(|| invalid("not founded".into()))?;
                let key = VerifyingKey::from_bytes(new.as_bytes())
                    .map_err(|_| invalid("not a valid public key".into()))?;
                let digest = ostrom_schemas::Hash::tagged(ROTATION_DOMAIN, &[old.as_bytes()]);
                key.verify_strict(
                    digest.as_bytes(),
                    &Ed25519Signature::from_bytes(&endorsement.0),
                )
                .map_err(|_| invalid("the new key's endorsement does not verify".into()))
            }
        }
    }

    fn trustees(&self) -> (Vec<(String, Option<PublicKey>)>, u64) {
        let trustees = self
            .recovery
            .trustees
            .iter()
            .map(|name| {
                let key = self
                    .members
                    .get(name)
                    .filter(|member| member.active)
                    .and_then(|member| member.key);
                (name.clone(), key)
            })
            .collect();
        (trustees, self.recovery.threshold)
    }
}

impl GovernanceState {
    fn check_key_free(&self, key: &PublicKey, member: &str) -> Result<(), String> {
        match self.key_owners.get(key) {
            Some(owner) if owner != member => Err("that key is bound to another member".into()),
            _ => {
                if Some(*key) == self.community.as_ref().map(|community| community.sequencer) {
                    return Err("the sequencer key cannot be a member key".into());
                }
                Ok(())
            }
        }
    }

    /// Actions of `kind` still open, for engines and read models.
    pub fn open_actions(&self) -> impl Iterator<Item = &Action> {
        self.open.iter().map(|id| &self.actions[id])
    }

    /// Is `kind` a policy kind an action can be governed by?
    pub fn governs_kind(kind: PolicyKind) -> bool {
        kind != PolicyKind::Trigger
    }
}
