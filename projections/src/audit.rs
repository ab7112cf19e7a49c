//! The audit trail read model (version 1): one row per log entry, in log order, with the
//! facts an auditor filters by: who acted, on which action and action type, under which
//! policy, with what outcome, and who signed it.
//!
//! Inputs: every entry of the log, in order, from genesis (`observe`). It keeps its own
//! small index of actions (id → type and initiator), so it can be rebuilt from the stored
//! entries alone, without the governance state. Bypasses, reverts, rollbacks, restarts and
//! refusals are flagged, because they are what an auditor looks for first.
//!
//! Queries scan forward from a cursor (`after`) and stop at `limit` matches or
//! `AUDIT_SCAN_ROWS_MAX` rows, so one request's cost is bounded however rare the filter.
//!
//! Rows are kept in chunks of `AUDIT_CHUNK_ROWS`: a trail of millions of rows grows without
//! ever moving the rows it holds, where one vector would copy itself whole (and have the
//! kernel clear twice its size) each time it doubled, on the thread that answers writers.

use std::collections::BTreeMap;

use ostrom_schemas::action::{ActionId, ActionSpec, PolicyId};
use ostrom_schemas::record::{Outcome, Record};
use ostrom_schemas::{Entry, Hash, PublicKey, StatementBody};
use serde::Serialize;

/// Rows one query examines at most before it returns what it found, with a cursor.
pub const AUDIT_SCAN_ROWS_MAX: usize = 200_000;
/// Rows one page returns at most.
pub const AUDIT_PAGE_ROWS_MAX: usize = 1_000;
/// Rows per chunk of the trail; the first chunk grows like a vector up to this size, so a
/// small community's trail stays small.
pub const AUDIT_CHUNK_ROWS: usize = 4_096;

/// One entry, as the audit trail shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub seq: u64,
    pub at_ms: u64,
    pub hash: Hash,
    /// The entry's body type: `VoteCast`, `Evaluated`, `ExecutedByPermission`, ...
    pub kind: &'static str,
    /// Who signed the body: the statement's author, or the sequencer for engine records.
    pub signer: PublicKey,
    /// A statement the server signed for a member it authenticated (a bearer token).
    pub on_behalf: bool,
    /// The member who acted (a statement's member; the bypassing or refused member; for
    /// other engine records, the initiator of the action concerned).
    pub member: Option<String>,
    pub action: Option<ActionId>,
    pub action_type: Option<String>,
    pub policy: Option<PolicyId>,
    /// passed, failed, proposed, executed, execution_failed, bypass, refused, reverted,
    /// rolled_back, restarted, or none.
    pub outcome: Option<&'static str>,
    /// A bypass, revert, rollback, restart or refusal.
    pub notable: bool,
    /// One line for people.
    pub summary: String,
}

impl AuditRow {
    /// A row with only what every entry has; `observe` fills in the rest from the body.
    fn bare(seq: u64, at_ms: u64, hash: Hash, kind: &'static str, signer: PublicKey) -> AuditRow {
        AuditRow {
            seq,
            at_ms,
            hash,
            kind,
            signer,
            on_behalf: false,
            member: None,
            action: None,
            action_type: None,
            policy: None,
            outcome: None,
            notable: false,
            summary: String::new(),
        }
    }
}

/// What a query keeps; `None` keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub member: Option<String>,
    pub action_type: Option<String>,
    pub policy: Option<PolicyId>,
    pub outcome: Option<String>,
    pub kind: Option<String>,
    pub action: Option<ActionId>,
    /// Entries at or after this time (ms).
    pub from_ms: Option<u64>,
    /// Entries before this time (ms).
    pub to_ms: Option<u64>,
    pub notable_only: bool,
}

impl AuditFilter {
    fn keeps(&self, row: &AuditRow) -> bool {
        self.member
            .as_ref()
            .is_none_or(|member| row.member.as_ref() == Some(member))
            && self
                .action_type
                .as_ref()
                .is_none_or(|action_type| row.action_type.as_ref() == Some(action_type))
            && self.policy.is_none_or(|policy| row.policy == Some(policy))
            && self
                .outcome
                .as_ref()
                .is_none_or(|outcome| row.outcome == Some(outcome.as_str()))
            && self.kind.as_ref().is_none_or(|kind| row.kind == kind)
            && self.action.is_none_or(|action| row.action == Some(action))
            && self.from_ms.is_none_or(|from| row.at_ms >= from)
            && self.to_ms.is_none_or(|to| row.at_ms < to)
            && (!self.notable_only || row.notable)
    }
}

/// A page of rows and where the next page starts (`None`: the end of the log was reached).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage<'a> {
    pub rows: Vec<&'a AuditRow>,
    /// Pass as `after` for the next page.
    pub next_after: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ActionFacts {
    action_type: String,
    initiator: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditTrail {
    rows: Rows,
    actions: BTreeMap<ActionId, ActionFacts>,
}

/// The rows in log order, in chunks of at most `AUDIT_CHUNK_ROWS`; every chunk but the
/// last is full.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rows {
    chunks: Vec<Vec<AuditRow>>,
}

impl Rows {
    fn len(&self) -> usize {
        self.chunks.last().map_or(0, |last| {
            (self.chunks.len() - 1) * AUDIT_CHUNK_ROWS + last.len()
        })
    }

    fn get(&self, index: usize) -> Option<&AuditRow> {
        self.chunks
            .get(index / AUDIT_CHUNK_ROWS)?
            .get(index % AUDIT_CHUNK_ROWS)
    }

    fn push(&mut self, row: AuditRow) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < AUDIT_CHUNK_ROWS => last.push(row),
            _ => {
                // Past the first chunk the trail is long, and a chunk is allocated once.
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() {
                    0
                } else {
                    AUDIT_CHUNK_ROWS
                });
                chunk.push(row);
                self.chunks.push(chunk);
            }
        }
    }

    /// The rows from index `start` on.
    fn from(&self, start: usize) -> impl Iterator<Item = &AuditRow> {
        let (chunk, offset) = (start / AUDIT_CHUNK_ROWS, start % AUDIT_CHUNK_ROWS);
        self.chunks
            .iter()
            .skip(chunk)
            .enumerate()
            .flat_map(move |(index, rows)| {
                let skip = if index == 0 {
                    offset.min(rows.len())
                } else {
                    0
                };
                rows[skip..].iter()
            })
    }
}

impl AuditTrail {
    pub fn len(&self) -> u64 {
        self.rows.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len() == 0
    }

    pub fn row(&self, seq: u64) -> Option<&AuditRow> {
        self.rows.get(usize::try_from(seq).ok()?)
    }

    /// Add the next entry of the log.
    pub fn observe(&mut self, entry: &Entry, hash: Hash) {
        assert_eq!(
            entry.seq,
            self.len(),
            "the audit trail observes every entry in order"
        );
        let mut row = AuditRow::bare(
            entry.seq,
            entry.at_ms,
            hash,
            entry.body.name(),
            entry.sequencer,
        );
        match entry.statement() {
            Some(asserted) => {
                row.signer = *asserted.author;
                // Vouched for, or (in logs from before `Body::Vouched`) signed by the
                // sequencer key on the member's behalf.
                row.on_behalf = asserted.vouched || *asserted.author == entry.sequencer;
                row.member = Some(asserted.statement.member.clone());
                self.statement(&mut row, &asserted.statement.body, entry.seq);
            }
            None => {
                let record = entry
                    .record()
                    .expect("an entry without a statement has a record");
                self.record(&mut row, record, entry.seq);
            }
        }
        self.rows.push(row);
    }

    fn about(&self, row: &mut AuditRow, action: ActionId) {
        row.action = Some(action);
        if let Some(facts) = self.actions.get(&action) {
            row.action_type = Some(facts.action_type.clone());
            if row.member.is_none() {
                row.member = Some(facts.initiator.clone());
            }
        }
    }

    fn learn(&mut self, id: ActionId, spec: &ActionSpec, initiator: &str) {
        self.actions.insert(
            id,
            ActionFacts {
                action_type: spec.action_type().to_owned(),
                initiator: initiator.to_owned(),
            },
        );
    }

    fn statement(&mut self, row: &mut AuditRow, body: &StatementBody, seq: u64) {
        let member = row.member.clone().unwrap_or_default();
        row.summary = match body {
            StatementBody::CommunityFounded(founding) => {
                format!("founded {:?} with the {} kit", founding.name, founding.kit)
            }
            StatementBody::MemberJoined { member, .. } => format!("{member} joined"),
            StatementBody::MemberLeft { member } => format!("{member} left"),
            StatementBody::KeyBound { member, .. } => format!("{member} bound a key"),
            StatementBody::ActionProposed { action, .. } => {
                self.learn(ActionId(seq), action, &member);
                self.about(row, ActionId(seq));
                row.outcome = Some("proposed");
                format!("{member} proposed {}", action.action_type())
            }
            StatementBody::VoteCast { action, value } => {
                self.about(row, *action);
                format!("{member} voted {value} on {action}")
            }
            StatementBody::VoteWithdrawn { action } => {
                self.about(row, *action);
                format!("{member} withdrew their vote on {action}")
            }
            StatementBody::RecoveryInvoked(recovery) => {
                row.notable = true;
                row.outcome = Some("restarted");
                format!(
                    "governance recovery invoked with {} trustee signatures",
                    recovery.cosignatures.len()
                )
            }
        };
    }

    fn record(&mut self, row: &mut AuditRow, record: &Record, seq: u64) {
        row.summary = match record {
            Record::Evaluated(evaluation) => {
                self.about(row, evaluation.action);
                row.policy = evaluation.policy.map(|(policy, _)| policy);
                row.outcome = evaluation.effects.outcome.map(|outcome| match outcome {
                    Outcome::Proposed => "proposed",
                    Outcome::Passed => "passed",
                    Outcome::Failed => "failed",
                });
                let policy = evaluation
                    .policy
                    .map(|(policy, _)| format!("policy {policy}"))
                    .unwrap_or_else(|| "no policy".to_owned());
                match (&evaluation.effects.outcome, &evaluation.effects.error) {
                    (_, Some(fault)) => format!(
                        "{policy} faulted on {} in {}: {}",
                        evaluation.action, fault.function, fault.message
                    ),
                    (Some(outcome), None) => format!(
                        "{policy} evaluated {}: {}",
                        evaluation.action,
                        format!("{outcome:?}").to_lowercase()
                    ),
                    (None, None) => format!("{policy} evaluated {}", evaluation.action),
                }
            }
            Record::ActionExecuted { action, .. } => {
                self.about(row, *action);
                row.outcome = Some("executed");
                format!("{action} executed")
            }
            Record::ActionExecutionFailed { action, reason } => {
                self.about(row, *action);
                row.outcome = Some("execution_failed");
                format!("{action} failed to execute: {reason}")
            }
            Record::PolicyProposed {
                by_action,
                policy,
                action,
                ..
            } => {
                let initiator = self
                    .actions
                    .get(by_action)
                    .map(|facts| facts.initiator.clone())
                    .unwrap_or_default();
                self.learn(ActionId(seq), action, &initiator);
                self.about(row, ActionId(seq));
                row.policy = Some(*policy);
                row.outcome = Some("proposed");
                format!(
                    "policy {policy} proposed {} (while deciding {by_action})",
                    action.action_type()
                )
            }
            Record::ActionReverted { action, by } => {
                self.about(row, *action);
                row.notable = true;
                row.outcome = Some("reverted");
                format!("{action} reverted by {by}")
            }
            Record::ExecutedByPermission {
                action,
                member,
                role,
            } => {
                row.member = Some(member.clone());
                self.about(row, *action);
                row.notable = true;
                row.outcome = Some("bypass");
                format!("{member} executed {action} directly through role {role}")
            }
            Record::Refused {
                member,
                what,
                code,
                reason,
                ..
            } => {
                row.member = Some(member.clone());
                row.notable = true;
                row.outcome = Some("refused");
                format!("refused {member}'s {what} [{code}]: {reason}")
            }
            Record::GovernanceRolledBack { by, to_seq } => {
                if let Some(by) = by {
                    self.about(row, *by);
                }
                row.notable = true;
                row.outcome = Some("rolled_back");
                format!("governance rolled back to just before seq {to_seq}")
            }
            Record::GovernanceRestarted { recovery_seq, kit } => {
                row.notable = true;
                row.outcome = Some("restarted");
                format!("governance restarted with the {kit} kit (recovery at seq {recovery_seq})")
            }
            Record::Checkpoint { size, .. } => format!("checkpoint of the first {size} entries"),
            Record::SequencerRotated { .. } => {
                row.notable = true;
                "the sequencer key was rotated".to_owned()
            }
        };
    }

    /// Rows after seq `after` (all rows when `None`) that `filter` keeps, at most `limit`.
    pub fn query(&self, filter: &AuditFilter, after: Option<u64>, limit: usize) -> AuditPage<'_> {
        let limit = limit.clamp(1, AUDIT_PAGE_ROWS_MAX);
        let start = after.map_or(0, |after| after.saturating_add(1));
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.rows.len());
        let mut rows = Vec::new();
        let mut last = None;
        for row in self.rows.from(start).take(AUDIT_SCAN_ROWS_MAX) {
            last = Some(row.seq);
            if filter.keeps(row) {
                rows.push(row);
                if rows.len() == limit {
                    break;
                }
            }
        }
        let at_end = last.is_none_or(|last| last + 1 >= self.len());
        AuditPage {
            rows,
            next_after: if at_end { None } else { last },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64) -> AuditRow {
        AuditRow::bare(seq, seq, Hash::ZERO, "VoteCast", PublicKey::ZERO)
    }

    #[test]
    fn rows_across_chunk_boundaries_keep_their_order() {
        // Given rows filling two chunks and five rows of a third
        let total = 2 * AUDIT_CHUNK_ROWS + 5;
        let mut rows = Rows::default();
        for seq in 0..total as u64 {
            rows.push(row(seq));
        }

        // Then every row is where its seq says, and nothing is past the end
        assert_eq!(rows.len(), total);
        assert_eq!(rows.chunks.len(), 3);
        for index in [0, AUDIT_CHUNK_ROWS - 1, AUDIT_CHUNK_ROWS, total - 1] {
            assert_eq!(rows.get(index).map(|row| row.seq), Some(index as u64));
        }
        assert!(rows.get(total).is_none());

        // And reading from any start gives the rows from there to the end, in order
        for start in [
            0,
            1,
            AUDIT_CHUNK_ROWS - 1,
            AUDIT_CHUNK_ROWS,
            total - 1,
            total,
            total + 9,
        ] {
            let seqs: Vec<u64> = rows.from(start).map(|row| row.seq).collect();
            let expected: Vec<u64> = (start.min(total) as u64..total as u64).collect();
            assert_eq!(seqs, expected, "from {start}");
        }
    }
}
