//! One-line, human-readable descriptions of entries, for `ostrom log`.

use ostrom_schemas::record::Record;
use ostrom_schemas::statement::{RecoveryPlan, StatementBody};
use ostrom_schemas::{Body, Entry, Statement};

pub fn time(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    humantime::format_rfc3339_millis(at).to_string()
}

pub fn entry(entry: &Entry) -> String {
    match &entry.body {
        Body::Statement(signed) => statement(entry, &signed.statement),
        Body::Vouched(vouched) => statement(entry, vouched),
        Body::Record(record) => match record {
            Record::Evaluated(evaluation) => {
                let outcome = evaluation
                    .effects
                    .outcome
                    .map(|outcome| format!("{outcome:?}").to_lowercase())
                    .unwrap_or_else(|| "no decision".into());
                let policy = evaluation
                    .policy
                    .map(|(id, version)| format!("policy {id}@{}", version.short()))
                    .unwrap_or_else(|| "no policy".into());
                format!(
                    "engine: evaluated {} under {policy} ({:?}): {outcome}",
                    evaluation.action, evaluation.phase
                )
            }
            Record::PolicyProposed {
                by_action,
                policy,
                action,
                ..
            } => {
                format!(
                    "engine: policy {policy} proposed {} (from {by_action})",
                    action.action_type()
                )
            }
            Record::ActionExecuted { action, option, .. } => match option {
                Some(option) => format!("engine: executed {action} (option {option})"),
                None => format!("engine: executed {action}"),
            },
            Record::ActionExecutionFailed { action, reason } => {
                format!("engine: execution of {action} failed: {reason}")
            }
            Record::ActionReverted { action, by } => format!("engine: {action} reverted by {by}"),
            Record::ExecutedByPermission {
                action,
                member,
                role,
            } => {
                format!("engine: BYPASS {member} executed {action} through role {role}")
            }
            Record::Refused {
                member,
                what,
                code,
                reason,
                ..
            } => {
                format!("engine: refused {what} by {member} [{code}]: {reason}")
            }
            Record::GovernanceRolledBack { to_seq, .. } => {
                format!("engine: ROLLBACK to before seq {to_seq}")
            }
            Record::GovernanceRestarted { kit, .. } => format!("engine: RESTART with kit {kit}"),
            Record::Checkpoint { size, root } => format!(
                "engine: checkpoint of {size} entries, root {}",
                root.short()
            ),
            Record::SequencerRotated { new, .. } => {
                format!("engine: sequencer key rotated to {}", new.short())
            }
        },
    }
}

fn abbreviate(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 40 || text.contains('\n') {
        let cut: String = line.chars().take(37).collect();
        format!("{cut}...")
    } else {
        line.to_owned()
    }
}

fn statement(entry: &Entry, statement: &Statement) -> String {
    let member = &statement.member;
    let what = match &statement.body {
        StatementBody::CommunityFounded(founding) => format!(
            "founded {:?} with kit {}, {} members, {} policies",
            founding.name,
            founding.kit,
            founding.members.len(),
            founding.policies.len()
        ),
        StatementBody::MemberJoined { member, .. } => format!("{member} joined"),
        StatementBody::MemberLeft { member } => format!("{member} left"),
        StatementBody::KeyBound { member, key } => {
            format!("{member} bound key {}", key.short())
        }
        StatementBody::ActionProposed {
            action,
            not_before_ms,
        } => {
            let params: Vec<String> = action
                .params()
                .iter()
                .map(|(key, value)| format!("{key}={}", abbreviate(&value.to_string())))
                .collect();
            let delay = not_before_ms
                .map(|at| format!(" (not before {})", time(at)))
                .unwrap_or_default();
            format!(
                "proposed action {} {} {}{delay}",
                entry.seq,
                action.action_type(),
                params.join(" ")
            )
        }
        StatementBody::VoteCast { action, value } => format!("voted {value} on {action}"),
        StatementBody::VoteWithdrawn { action } => format!("withdrew vote on {action}"),
        StatementBody::RecoveryInvoked(recovery) => {
            let plan = match &recovery.plan {
                RecoveryPlan::Restart { kit, .. } => format!("restart with kit {kit}"),
                RecoveryPlan::RollbackToSeq { seq } => {
                    format!("roll back to before seq {seq}")
                }
            };
            format!(
                "RECOVERY by {} trustees: {plan}",
                recovery.cosignatures.len()
            )
        }
    };
    format!("{member}: {what}")
}
