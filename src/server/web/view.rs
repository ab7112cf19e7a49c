//! What each page shows, built from the published read model as plain serde values for the
//! templates. Pages are paged and filtered here, on the server: the home page and the
//! lists look at a bounded number of proposals however long the community's history is
//! (open proposals have their own index; recent decisions are found walking back from the
//! newest action).

use std::collections::BTreeMap;

use ostrom_projections::audit::AuditRow;
use ostrom_projections::state::{Action, Execution, Policy};
use ostrom_projections::{GovernanceState, Status};
use ostrom_schemas::action::{PolicyKind, CONSTITUTION_ACTION_TYPES};
use ostrom_schemas::parameters::{parameters, ParamKind};
use ostrom_schemas::record::Outcome;
use ostrom_schemas::{ActionId, PublicKey, VoteValue};
use serde_json::{json, Value as Json};

use super::render;
use super::{HOME_DOCUMENT_CHARS, HOME_PROPOSALS_SHOWN};

/// Votes (and vote events) a proposal page lists; the audit trail has every one.
pub const VOTES_SHOWN: usize = 200;
/// Members a role lists on the roles page; the members page lists them all, paged.
pub const ROLE_MEMBERS_SHOWN: usize = 100;
/// Documents the home page shows.
pub const HOME_DOCUMENTS_SHOWN: usize = 8;
/// Members or documents one page lists.
pub const NAMES_PAGE_ROWS: usize = 100;

/// A parameter value longer than this is shown as a block, not inline.
const INLINE_VALUE_CHARS: usize = 80;

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Platform => "platform",
        PolicyKind::Constitution => "constitution",
        PolicyKind::Trigger => "trigger",
    }
}

fn outcome_name(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Passed) => "passed",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::Proposed) => "undecided",
        None => "none",
    }
}

fn truncated(text: &str, chars: usize) -> (String, bool) {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => (format!("{}…", &text[..cut]), true),
        None => (text.to_owned(), false),
    }
}

fn count_votes(action: &Action, wanted: &VoteValue) -> usize {
    action
        .votes
        .values()
        .filter(|vote| &vote.value == wanted)
        .count()
}

/// One line of a proposal in a list.
pub fn proposal_row(state: &GovernanceState, action: &Action, now: u64) -> Json {
    let params: Vec<String> = action
        .spec
        .params()
        .iter()
        .map(|(key, value)| format!("{key}={}", truncated(&value.to_string(), 40).0))
        .collect();
    let governing = action.governing.and_then(|(id, _)| state.policies.get(&id));
    json!({
        "id": action.id.0,
        "action_type": action.spec.action_type(),
        "kind": kind_name(action.kind),
        "params": truncated(&params.join(" "), 120).0,
        "initiator": action.initiator,
        "status": action.status.as_str(),
        "reason": action.reason,
        "yes": count_votes(action, &VoteValue::Yes),
        "no": count_votes(action, &VoteValue::No),
        "votes": action.votes.len(),
        "proposed": render::time(action.proposed_at_ms),
        "next_check": action.next_check_at_ms.map(|at| render::relative(at, now)),
        "policy": governing.map(|policy| json!({ "id": policy.id.0, "name": policy.spec.name })),
        "executed": matches!(action.execution, Execution::Executed { .. }),
        "bypass": action.bypass.is_some(),
    })
}

pub fn home(state: &GovernanceState, member: &str, now: u64) -> Json {
    let documents: Vec<Json> = state
        .documents
        .iter()
        .filter(|(_, document)| document.active)
        .take(HOME_DOCUMENTS_SHOWN)
        .map(|(name, document)| {
            let (text, more) = truncated(&document.text, HOME_DOCUMENT_CHARS);
            json!({ "name": name, "text": text, "more": more })
        })
        .collect();
    let mut by_kind: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    for policy in state.policies.values().filter(|policy| policy.active) {
        by_kind
            .entry(kind_name(policy.spec.kind))
            .or_default()
            .push(json!({
                "id": policy.id.0,
                "name": policy.spec.name,
                "description": policy.spec.description,
                "action_types": policy.spec.action_types,
                "priority": policy.spec.priority,
            }));
    }
    let policy_kinds: Vec<Json> = ["constitution", "platform", "trigger"]
        .iter()
        .filter_map(|kind| {
            by_kind
                .remove(kind)
                .map(|policies| json!({ "kind": kind, "policies": policies }))
        })
        .collect();
    let roles: Vec<Json> = state
        .roles
        .iter()
        .filter(|(_, role)| role.active)
        .map(|(name, role)| {
            json!({
                "name": name,
                "description": role.description,
                "members": state.role_members(name).len(),
            })
        })
        .collect();
    let visible = |action: &&Action| state.may_view(member, action.spec.action_type());
    let open: Vec<Json> = state
        .open
        .iter()
        .filter_map(|id| state.actions.get(id))
        .filter(visible)
        .take(HOME_PROPOSALS_SHOWN)
        .map(|action| proposal_row(state, action, now))
        .collect();
    // The newest decisions: walk back from the newest action; decisions come in roughly
    // the order of proposals, and the walk stops after a bounded number of steps.
    let mut decided: Vec<&Action> = state
        .actions
        .values()
        .rev()
        .filter(|action| action.status != Status::Proposed)
        .filter(visible)
        .take(HOME_PROPOSALS_SHOWN * 4)
        .collect();
    decided.sort_by_key(|action| std::cmp::Reverse(action.decided_seq));
    decided.truncate(HOME_PROPOSALS_SHOWN / 2);
    let decided: Vec<Json> = decided
        .into_iter()
        .map(|action| proposal_row(state, action, now))
        .collect();
    json!({
        "documents": documents,
        "documents_total": state.documents.values().filter(|document| document.active).count(),
        "policy_kinds": policy_kinds,
        "roles": roles,
        "open": open,
        "open_total": state.open.len(),
        "decided": decided,
        "members": state.members.values().filter(|m| m.active).count(),
    })
}

pub struct ProposalQuery<'a> {
    pub status: Option<Status>,
    pub action_type: Option<&'a str>,
    pub initiator: Option<&'a str>,
    pub after: Option<u64>,
    pub limit: usize,
}

/// A page of proposals, newest first, and the id to continue below.
pub fn proposal_page(
    state: &GovernanceState,
    member: &str,
    query: ProposalQuery<'_>,
    now: u64,
) -> (Vec<Json>, Option<u64>) {
    let end = ActionId(query.after.unwrap_or(u64::MAX));
    let keep = |action: &&Action| {
        query.status.is_none_or(|status| action.status == status)
            && query
                .action_type
                .is_none_or(|wanted| action.spec.action_type() == wanted)
            && query
                .initiator
                .is_none_or(|wanted| action.initiator == wanted)
            && state.may_view(member, action.spec.action_type())
    };
    let candidates: Box<dyn Iterator<Item = &Action>> = if query.status == Some(Status::Proposed) {
        Box::new(
            state
                .open
                .range(..end)
                .rev()
                .filter_map(|id| state.actions.get(id)),
        )
    } else {
        Box::new(state.actions.range(..end).rev().map(|(_, action)| action))
    };
    let mut rows = Vec::new();
    let mut last = None;
    let mut more = false;
    for action in candidates.filter(keep) {
        if rows.len() == query.limit {
            more = true;
            break;
        }
        last = Some(action.id.0);
        rows.push(proposal_row(state, action, now));
    }
    (rows, more.then_some(last).flatten())
}

fn param_rows(action: &Action) -> Vec<Json> {
    action
        .spec
        .params()
        .iter()
        .map(|(key, value)| {
            let text = match value {
                ostrom_schemas::Value::Str(text) => text.clone(),
                other => other.to_string(),
            };
            let code = key == "source";
            json!({
                "key": key,
                "value": text,
                "block": text.chars().count() > INLINE_VALUE_CHARS || text.contains('\n'),
                "code": code.then(|| render::highlight(&text)),
            })
        })
        .collect()
}

/// One data write, for people: `key = value` or `key removed`.
pub fn data_write(write: &ostrom_schemas::record::DataWrite) -> String {
    match write {
        ostrom_schemas::record::DataWrite::Set { key, value } => format!("{key} = {value}"),
        ostrom_schemas::record::DataWrite::Remove { key } => format!("{key} removed"),
    }
}

fn execution_text(execution: &Execution) -> Option<String> {
    match execution {
        Execution::None => None,
        Execution::Requested { .. } => Some("passed; waiting to be executed".to_owned()),
        Execution::Executed { seq, option } => Some(match option {
            Some(option) => format!("executed (option {option}) at seq {seq}"),
            None => format!("executed at seq {seq}"),
        }),
        Execution::Failed { seq, reason } => {
            Some(format!("execution failed at seq {seq}: {reason}"))
        }
    }
}

/// A proposal's page: the action, the governing policy version, votes and their history,
/// evaluations (effects are added by the handler from the log), outcome and execution.
pub fn proposal(
    state: &GovernanceState,
    audit: &ostrom_projections::audit::AuditTrail,
    action: &Action,
    member: &str,
    now: u64,
    _sequencer: PublicKey,
) -> Json {
    let governing = action.governing.map(|(id, version)| {
        let policy = state.policies.get(&id);
        json!({
            "id": id.0,
            "name": policy.map(|policy| policy.spec.name.clone()),
            "version": version.to_hex(),
            "version_short": version.short(),
            "current": policy.is_some_and(|policy| policy.version == version),
        })
    });
    let votes: Vec<Json> = action
        .votes
        .iter()
        .take(VOTES_SHOWN)
        .map(|(member, vote)| {
            json!({ "member": member, "value": vote.value.to_string(), "at": render::time(vote.at_ms), "seq": vote.seq })
        })
        .collect();
    // The newest events, in order.
    let skipped = action.vote_history.len().saturating_sub(VOTES_SHOWN);
    let history: Vec<Json> = action.vote_history[skipped..]
        .iter()
        .map(|event| {
            json!({
                "member": event.member,
                "value": event.value.as_ref().map(|value| value.to_string()),
                "at": render::time(event.at_ms),
                "seq": event.seq,
            })
        })
        .collect();
    let evaluations: Vec<Json> = action
        .evaluations
        .iter()
        .map(|evaluation| {
            let policy = evaluation.policy.map(|(id, version)| {
                json!({
                    "id": id.0,
                    "name": state.policies.get(&id).map(|policy| policy.spec.name.clone()),
                    "version_short": version.short(),
                })
            });
            json!({
                "seq": evaluation.seq,
                "phase": format!("{:?}", evaluation.phase).to_lowercase(),
                "policy": policy,
                "outcome": outcome_name(evaluation.outcome),
                "error": evaluation.error.as_ref().map(|fault| format!(
                    "{} (in {} at line {}, column {})", fault.message, fault.function, fault.line, fault.column
                )),
                "at": audit.row(evaluation.seq).map(|row| render::time(row.at_ms)),
                "effects": Json::Null,
            })
        })
        .collect();
    let options: Vec<Json> = match &action.spec {
        ostrom_schemas::ActionSpec::Election { options } => options
            .iter()
            .enumerate()
            .map(|(index, option)| json!({ "index": index, "label": format!("{} {}", option.action_type(), option.params().iter().map(|(k, v)| format!("{k}={}", truncated(&v.to_string(), 30).0)).collect::<Vec<_>>().join(" ")) }))
            .collect(),
        _ => Vec::new(),
    };
    json!({
        "p": proposal_row(state, action, now),
        "params": param_rows(action),
        "governing": governing,
        "votes_cast": votes,
        "my_vote": action.votes.get(member).map(|vote| vote.value.to_string()),
        "history": history,
        "history_total": action.vote_history.len(),
        "evaluations": evaluations,
        "execution": execution_text(&action.execution),
        "bypass": action.bypass.as_ref().map(|(member, role)| json!({ "member": member, "role": role })),
        "reverted_by": action.reverted_by.map(|id| id.0),
        "proposed_by_policy": action.proposed_by_policy.map(|id| id.0),
        "not_before": action.not_before_ms.map(render::time),
        "decided_seq": action.decided_seq,
        "open": action.status == Status::Proposed,
        "options": options,
        "data": action.data.iter().map(|(key, value)| json!({ "key": key, "value": value.to_string() })).collect::<Vec<_>>(),
    })
}

/// The proposal form: the action types the member may propose and, for a chosen type, one
/// field per parameter (from `ostrom_schemas::parameters`).
pub fn propose_form(
    state: &GovernanceState,
    member: &str,
    action_type: Option<&str>,
    prefill: &BTreeMap<String, String>,
    error: Option<Json>,
) -> Json {
    let types: Vec<Json> = CONSTITUTION_ACTION_TYPES
        .iter()
        .filter(|action_type| state.may_propose_type(member, action_type))
        .map(|action_type| json!({ "name": action_type }))
        .collect();
    let chosen = action_type.filter(|t| !t.is_empty());
    let fields: Option<Vec<Json>> = chosen.and_then(parameters).map(|described| {
        described
            .iter()
            .map(|param| {
                let (control, choices): (&str, Vec<&str>) = match param.kind {
                    ParamKind::LongText => ("textarea", Vec::new()),
                    ParamKind::Source => ("code", Vec::new()),
                    ParamKind::Choice(choices) => ("select", choices.to_vec()),
                    ParamKind::Integer | ParamKind::Action => ("number", Vec::new()),
                    _ => ("text", Vec::new()),
                };
                let hint = match param.kind {
                    ParamKind::Names => "names, comma-separated",
                    ParamKind::ActionTypes => "action types, comma-separated; * for all",
                    ParamKind::Key => "64 hex digits",
                    _ => "",
                };
                json!({
                    "name": param.name,
                    "control": control,
                    "choices": choices,
                    "required": param.required,
                    "help": param.help,
                    "hint": hint,
                    "value": prefill.get(&format!("p.{}", param.name)).or_else(|| prefill.get(param.name)),
                })
            })
            .collect()
    });
    let form = match chosen {
        None => "choose",
        Some(_) if fields.is_some() => "fields",
        Some("election" | "combination") => "json",
        Some(_) => "platform",
    };
    json!({
        "types": types,
        "action_type": chosen,
        "form": form,
        "fields": fields,
        "may_propose": chosen.is_some_and(|t| state.may_propose_type(member, t)),
        "prefill_params": prefill.get("params"),
        "prefill_json": prefill.get("params_json"),
        "error": error,
    })
}

fn policy_row(policy: &Policy) -> Json {
    json!({
        "id": policy.id.0,
        "name": policy.spec.name,
        "kind": kind_name(policy.spec.kind),
        "description": policy.spec.description,
        "action_types": policy.spec.action_types,
        "priority": policy.spec.priority,
        "active": policy.active,
        "version_short": policy.version.short(),
        "versions": policy.versions.len(),
    })
}

pub fn policies(state: &GovernanceState) -> Vec<Json> {
    let mut rows: Vec<&Policy> = state.policies.values().collect();
    rows.sort_by_key(|policy| (!policy.active, policy.id));
    rows.into_iter().map(policy_row).collect()
}

/// A policy's page: the code highlighted, and every version newest first with who
/// proposed it, the proposal that passed it, and the diff from the version before.
pub fn policy(state: &GovernanceState, policy: &Policy, shown: Option<&str>) -> Json {
    // An older version, when asked for one (a proposal's pinned version); else the current.
    let shown_version = shown
        .and_then(|wanted| {
            policy
                .versions
                .iter()
                .rev()
                .find(|version| version.version.to_hex() == wanted)
        })
        .filter(|version| version.version != policy.version);
    let mut versions = Vec::with_capacity(policy.versions.len());
    for (index, version) in policy.versions.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| &policy.versions[i]);
        let mut changed = Vec::new();
        if let Some(previous) = previous {
            let (a, b) = (&previous.spec, &version.spec);
            if a.name != b.name {
                changed.push(format!("name {} → {}", a.name, b.name));
            }
            if a.kind != b.kind {
                changed.push(format!(
                    "kind {} → {}",
                    kind_name(a.kind),
                    kind_name(b.kind)
                ));
            }
            if a.action_types != b.action_types {
                changed.push(format!(
                    "action types [{}] → [{}]",
                    a.action_types.join(", "),
                    b.action_types.join(", ")
                ));
            }
            if a.priority != b.priority {
                changed.push(format!("priority {} → {}", a.priority, b.priority));
            }
            if a.description != b.description {
                changed.push("description".to_owned());
            }
            if previous.active != version.active {
                changed.push(
                    if version.active {
                        "reactivated"
                    } else {
                        "deactivated"
                    }
                    .to_owned(),
                );
            }
        }
        let by = version.by.and_then(|id| state.actions.get(&id));
        versions.push(json!({
            "number": index + 1,
            "seq": version.seq,
            "by": version.by.map(|id| id.0),
            "proposer": by.map(|action| action.initiator.clone()),
            "version": version.version.to_hex(),
            "version_short": version.version.short(),
            "active": version.active,
            "changed": changed,
            "diff": previous
                .filter(|previous| previous.spec.source != version.spec.source)
                .map(|previous| render::diff(&previous.spec.source, &version.spec.source)),
        }));
    }
    versions.reverse();
    json!({
        "policy": policy_row(policy),
        "code": render::highlight(shown_version.map_or(&policy.spec.source, |v| &v.spec.source)),
        "shown_version": shown_version.map(|version| json!({
            "version": version.version.to_hex(),
            "version_short": version.version.short(),
            "seq": version.seq,
        })),
        "data": policy.data.iter().map(|(key, value)| json!({ "key": key, "value": value.to_string() })).collect::<Vec<_>>(),
        "history": versions,
    })
}

/// What the editor's form holds.
#[derive(Clone, Debug, Default)]
pub struct EditorDraft {
    /// `add_policy` or `change_policy`.
    pub mode: String,
    /// The policy a `change_policy` replaces.
    pub policy: String,
    pub name: String,
    pub kind: String,
    pub action_types: String,
    pub priority: String,
    pub description: String,
    pub source: String,
}

/// A new policy starts from a working skeleton.
const STARTER_SOURCE: &str =
    "// Governs every action of its kind: passes with two yes votes, fails with two no.
fn filter(action, policy) {
    true
}

fn check(action, policy) {
    if action.proposal.yes_votes().len() >= 2 {
        return PASSED;
    }
    if action.proposal.no_votes().len() >= 2 {
        return FAILED;
    }
    PROPOSED
}
";

impl EditorDraft {
    pub fn starter() -> EditorDraft {
        EditorDraft {
            mode: "add_policy".to_owned(),
            kind: "platform".to_owned(),
            priority: "0".to_owned(),
            source: STARTER_SOURCE.to_owned(),
            ..EditorDraft::default()
        }
    }

    pub fn of_policy(policy: &Policy) -> EditorDraft {
        EditorDraft {
            mode: "change_policy".to_owned(),
            policy: policy.spec.name.clone(),
            name: policy.spec.name.clone(),
            kind: kind_name(policy.spec.kind).to_owned(),
            action_types: policy.spec.action_types.join(", "),
            priority: policy.spec.priority.to_string(),
            description: policy.spec.description.clone(),
            source: policy.spec.source.clone(),
        }
    }

    /// From the editor's form (the same `p.NAME` fields the proposal form uses).
    pub fn from_fields(fields: &[(String, String)]) -> EditorDraft {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        EditorDraft {
            mode: match get("action_type").as_str() {
                "change_policy" => "change_policy".to_owned(),
                _ => "add_policy".to_owned(),
            },
            policy: get("p.policy"),
            name: get("p.name"),
            kind: get("p.kind"),
            action_types: get("p.action_types"),
            priority: get("p.priority"),
            description: get("p.description"),
            source: get("p.source").replace("\r\n", "\n"),
        }
    }
}

pub fn editor(
    state: &GovernanceState,
    draft: &EditorDraft,
    procedure: Option<&str>,
    results: Json,
) -> Json {
    let policies: Vec<Json> = state
        .policies
        .values()
        .map(|policy| json!({ "id": policy.id.0, "name": policy.spec.name }))
        .collect();
    let procedures: Vec<Json> = crate::procedures::PROCEDURES
        .iter()
        .map(|procedure| json!({ "name": procedure.name, "summary": procedure.summary }))
        .collect();
    let chosen = procedure.and_then(|name| {
        crate::procedures::PROCEDURES
            .iter()
            .find(|procedure| procedure.name == name)
    });
    json!({
        "draft": {
            "mode": draft.mode, "policy": draft.policy, "name": draft.name, "kind": draft.kind,
            "action_types": draft.action_types, "priority": draft.priority,
            "description": draft.description, "source": draft.source,
            "lines": draft.source.lines().count().max(1),
        },
        "kinds": ["platform", "constitution", "trigger"],
        "policies": policies,
        "procedures": procedures,
        "procedure": chosen.map(|procedure| json!({
            "name": procedure.name,
            "summary": procedure.summary,
            "params": procedure.params.iter().map(|param| json!({
                "name": param.name, "doc": param.doc, "default": param.default,
            })).collect::<Vec<_>>(),
        })),
        "results": results,
    })
}

pub fn roles(state: &GovernanceState) -> Vec<Json> {
    state
        .roles
        .iter()
        .map(|(name, role)| {
            let members = state.role_members(name);
            let member_count = members.len();
            let members: Vec<String> = members.into_iter().take(ROLE_MEMBERS_SHOWN).collect();
            json!({
                "name": name,
                "description": role.description,
                "active": role.active,
                "view": role.permissions.view,
                "propose": role.permissions.propose,
                "execute": role.permissions.execute,
                "member_count": member_count,
                "members": members,
                "history": role.versions.iter().rev().map(|version| json!({
                    "seq": version.seq,
                    "by": version.by.map(|id| id.0),
                    "name": version.name,
                    "description": version.description,
                    "view": version.permissions.view,
                    "propose": version.permissions.propose,
                    "execute": version.permissions.execute,
                    "members": version.members.iter().take(ROLE_MEMBERS_SHOWN).collect::<Vec<_>>(),
                    "member_count": version.members.len(),
                    "active": version.active,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// One page of names from a name-ordered map: the rows after `after`, and the name to
/// continue from when there are more.
fn names_page<'a, T: 'a>(
    map: &'a BTreeMap<String, T>,
    after: Option<&str>,
    keep: impl Fn(&str, &T) -> bool,
) -> (Vec<(&'a String, &'a T)>, Option<String>) {
    use std::ops::Bound;
    let start = after.map_or(Bound::Unbounded, |after| Bound::Excluded(after.to_owned()));
    let mut rows: Vec<(&String, &T)> = map
        .range::<String, _>((start, Bound::Unbounded))
        .filter(|(name, value)| keep(name, value))
        .take(NAMES_PAGE_ROWS + 1)
        .collect();
    let next = (rows.len() > NAMES_PAGE_ROWS).then(|| {
        rows.truncate(NAMES_PAGE_ROWS);
        rows.last().map(|(name, _)| (*name).clone())
    });
    (rows, next.flatten())
}

/// A page of members (of one role, if given), by name.
pub fn members(state: &GovernanceState, role: Option<&str>, after: Option<&str>) -> Json {
    let (rows, next) = names_page(&state.members, after, |name, member| {
        role.is_none_or(|role| member.active && state.has_role(name, role))
    });
    let rows: Vec<Json> = rows
        .into_iter()
        .map(|(name, member)| {
            json!({
                "name": name,
                "key": member.key.map(|key| key.short()),
                "joined_seq": member.joined_seq,
                "active": member.active,
                "roles": if member.active { state.roles_of(name) } else { Vec::new() },
            })
        })
        .collect();
    json!({ "members": rows, "next_after": next, "role": role, "total": state.members.len() })
}

/// Every document (for time travel, where a past state is shown whole).
pub fn documents(state: &GovernanceState) -> Vec<Json> {
    document_rows(state.documents.iter())
}

/// A page of documents by name, with their histories.
pub fn documents_page(state: &GovernanceState, after: Option<&str>) -> Json {
    let (rows, next) = names_page(&state.documents, after, |_, _| true);
    json!({
        "documents": document_rows(rows.into_iter()),
        "next_after": next,
        "total": state.documents.len(),
    })
}

fn document_rows<'a>(
    documents: impl Iterator<Item = (&'a String, &'a ostrom_projections::state::Document)>,
) -> Vec<Json> {
    documents
        .map(|(name, document)| {
            let mut history = Vec::new();
            for (index, version) in document.versions.iter().enumerate() {
                let previous = index.checked_sub(1).map(|i| &document.versions[i]);
                history.push(json!({
                    "seq": version.seq,
                    "by": version.by.map(|id| id.0),
                    "name": version.name,
                    "active": version.active,
                    "diff": previous
                        .filter(|previous| previous.text != version.text)
                        .map(|previous| render::diff(&previous.text, &version.text)),
                }));
            }
            history.reverse();
            json!({
                "name": name,
                "text": document.text,
                "active": document.active,
                "history": history,
            })
        })
        .collect()
}

/// Audit rows for people: who signed (the sequencer, for a member it vouched for, or the
/// member's own key), the hash, and a link to the inclusion proof.
pub fn audit_rows(rows: &[&AuditRow], sequencer: PublicKey) -> Vec<Json> {
    rows.iter()
        .map(|row| {
            let signer = if row.signer == sequencer {
                if row.on_behalf {
                    format!("server for {}", row.member.as_deref().unwrap_or("?"))
                } else {
                    "sequencer".to_owned()
                }
            } else {
                format!(
                    "{} (own key {})",
                    row.member.as_deref().unwrap_or("?"),
                    row.signer.short()
                )
            };
            json!({
                "seq": row.seq,
                "at": render::time(row.at_ms),
                "hash": row.hash.to_hex(),
                "hash_short": row.hash.short(),
                "kind": row.kind,
                "signer": signer,
                "member": row.member,
                "action": row.action.map(|id| id.0),
                "action_type": row.action_type,
                "policy": row.policy.map(|id| id.0),
                "outcome": row.outcome,
                "notable": row.notable,
                "summary": row.summary,
            })
        })
        .collect()
}
