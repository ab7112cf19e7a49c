//! `GovernanceState`: everything the reducer knows after folding a log.
//!
//! Members and their keys, roles with permissions, policies with every version, documents
//! with every version, actions with their proposals and complete vote history, action and
//! policy data, recovery trustees and the log position. Every collection is ordered
//! (BTreeMap/Vec), so the canonical encoding of the state, and its hash, is a pure function
//! of the log.
//!
//! Histories record the seq at which each version took effect; that is what lets a
//! rollback restore governance "as of just before seq N" without reading the log.

use std::collections::{BTreeMap, BTreeSet};

use ostrom_schemas::action::{ActionId, ActionSpec, Permissions, PolicyId, PolicyKind, PolicySpec};
use ostrom_schemas::record::{Notification, Outcome, Phase, PolicyFault};
use ostrom_schemas::{CommunityId, Hash, PublicKey, Value, VoteValue};
use serde::{Deserialize, Serialize};

/// Domain tag of the state hash.
pub const STATE_HASH_DOMAIN: &str = "ostrom/state/v1";
/// The base role every member holds.
pub const EVERYONE: &str = "everyone";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceState {
    /// Set by the genesis entry.
    pub community: Option<Community>,
    pub position: Position,
    pub members: BTreeMap<String, Member>,
    /// Which member each bound key speaks for.
    pub key_owners: BTreeMap<PublicKey, String>,
    /// The highest statement counter seen per author key (replay protection).
    pub counters: BTreeMap<PublicKey, u64>,
    pub roles: BTreeMap<String, Role>,
    pub policies: BTreeMap<PolicyId, Policy>,
    pub next_policy_id: u64,
    pub documents: BTreeMap<String, Document>,
    pub actions: BTreeMap<ActionId, Action>,
    /// Proposals still open (status `proposed`): what the engine re-checks.
    pub open: BTreeSet<ActionId>,
    pub recovery: Recovery,
    pub recovery_history: Vec<(u64, Recovery)>,
    pub integrations: BTreeMap<String, BTreeMap<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub kit: String,
    pub sequencer: PublicKey,
    pub founded_at_ms: u64,
}

/// Where the log stands: the next seq, the hash of the last entry, the last entry's time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub next_seq: u64,
    pub head: Hash,
    pub at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub key: Option<PublicKey>,
    pub joined_seq: u64,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub description: String,
    pub permissions: Permissions,
    /// Explicit members; the base role `everyone` holds every member implicitly.
    pub members: BTreeSet<String>,
    pub active: bool,
    pub versions: Vec<RoleVersion>,
}

/// A role as it was from `seq` on (including its name, for renames).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleVersion {
    pub seq: u64,
    pub by: Option<ActionId>,
    pub name: String,
    pub description: String,
    pub permissions: Permissions,
    pub members: BTreeSet<String>,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: PolicyId,
    pub spec: PolicySpec,
    /// blake3 of the policy's content (the pinned "version" of proposals).
    pub version: Hash,
    pub active: bool,
    pub data: BTreeMap<String, Value>,
    pub versions: Vec<PolicyVersion>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub seq: u64,
    pub by: Option<ActionId>,
    pub spec: PolicySpec,
    pub version: Hash,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub text: String,
    pub active: bool,
    pub versions: Vec<DocumentVersion>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentVersion {
    pub seq: u64,
    pub by: Option<ActionId>,
    pub name: String,
    pub text: String,
    pub active: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    pub trustees: Vec<String>,
    pub threshold: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    Proposed,
    Passed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Passed => "passed",
            Status::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: ActionId,
    pub spec: ActionSpec,
    pub kind: PolicyKind,
    pub initiator: String,
    /// Hash of the proposing entry: seeds the action's deterministic randomness.
    pub proposal_hash: Hash,
    pub proposed_at_ms: u64,
    pub not_before_ms: Option<u64>,
    /// Set when a policy proposed it as a follow-up.
    pub proposed_by_policy: Option<PolicyId>,
    pub status: Status,
    pub reason: Option<String>,
    /// The governing policy and the version the proposal is pinned to.
    pub governing: Option<(PolicyId, Hash)>,
    /// Set once the governing policy's `initialize` has run (through an `Evaluated`).
    pub initialized: bool,
    pub notified_once: bool,
    pub votes: BTreeMap<String, Vote>,
    pub vote_history: Vec<VoteEvent>,
    pub data: BTreeMap<String, Value>,
    /// Members notified for this action (every notification, merged).
    pub notified: BTreeSet<String>,
    pub notifications: Vec<Notification>,
    pub evaluations: Vec<EvaluationSummary>,
    pub next_check_at_ms: Option<u64>,
    pub execution: Execution,
    pub bypass: Option<(String, String)>,
    pub reverted_by: Option<ActionId>,
    pub decided_seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub value: VoteValue,
    pub at_ms: u64,
    pub seq: u64,
}

/// A vote (`Some`) or a withdrawal (`None`), in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteEvent {
    pub member: String,
    pub value: Option<VoteValue>,
    pub at_ms: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    pub seq: u64,
    pub policy: Option<(PolicyId, Hash)>,
    pub phase: Phase,
    pub outcome: Option<Outcome>,
    pub error: Option<PolicyFault>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Execution {
    /// Not executed (still open, failed, or passed as a dry run).
    #[default]
    None,
    /// Passed and `pass` asked to execute; waiting for the `ActionExecuted` record.
    Requested {
        option: Option<u64>,
    },
    Executed {
        seq: u64,
        option: Option<u64>,
    },
    Failed {
        seq: u64,
        reason: String,
    },
}

impl GovernanceState {
    /// The canonical hash of the whole state: equal states, equal hashes.
    pub fn state_hash(&self) -> Hash {
        Hash::tagged(STATE_HASH_DOMAIN, &[&self.encode()])
    }

    /// Canonical bytes of the state (snapshots).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("state always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<GovernanceState, String> {
        postcard::from_bytes(bytes).map_err(|error| format!("snapshot does not decode: {error}"))
    }

    pub fn is_member(&self, name: &str) -> bool {
        self.members.get(name).is_some_and(|member| member.active)
    }

    /// Active member names, ordered.
    pub fn member_names(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, member)| member.active)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Roles a member holds, `everyone` included.
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .roles
            .iter()
            .filter(|(name, role)| {
                role.active && (name.as_str() == EVERYONE || role.members.contains(member))
            })
            .map(|(name, _)| name.clone())
            .collect();
        roles.sort();
        roles
    }

    pub fn role_members(&self, role: &str) -> Vec<String> {
        match self.roles.get(role) {
            Some(found) if found.active && role == EVERYONE => self.member_names(),
            Some(found) if found.active => found
                .members
                .iter()
                .filter(|name| self.is_member(name))
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn has_role(&self, member: &str, role: &str) -> bool {
        self.is_member(member)
            && self.roles.get(role).is_some_and(|found| {
                found.active && (role == EVERYONE || found.members.contains(member))
            })
    }

    fn permitted(
        &self,
        member: &str,
        action_type: &str,
        pick: fn(&Permissions) -> &Vec<String>,
    ) -> Option<String> {
        if !self.is_member(member) {
            return None;
        }
        self.roles
            .iter()
            .filter(|(name, role)| {
                role.active && (name.as_str() == EVERYONE || role.members.contains(member))
            })
            .find(|(_, role)| Permissions::allows(pick(&role.permissions), action_type))
            .map(|(name, _)| name.clone())
    }

    /// May `member` propose an action of this type? Bundles need the bundle's type and
    /// every inner type.
    pub fn may_propose(&self, member: &str, action: &ActionSpec) -> Result<(), String> {
        for action_type in action_types_within(action) {
            if self
                .permitted(member, &action_type, |p| &p.propose)
                .is_none()
            {
                return Err(format!("{member} may not propose {action_type}"));
            }
        }
        Ok(())
    }

    /// May `member` propose actions of this one type (the dashboard's list of forms)?
    pub fn may_propose_type(&self, member: &str, action_type: &str) -> bool {
        self.permitted(member, action_type, |p| &p.propose)
            .is_some()
    }

    pub fn may_view(&self, member: &str, action_type: &str) -> bool {
        self.permitted(member, action_type, |p| &p.view).is_some()
    }

    /// The role through which `member` may execute this action directly, if any (every type
    /// in a bundle must be covered).
    pub fn execute_role(&self, member: &str, action: &ActionSpec) -> Option<String> {
        let mut role = None;
        for action_type in action_types_within(action) {
            role = Some(self.permitted(member, &action_type, |p| &p.execute)?);
        }
        role
    }

    pub fn policy_by_name(&self, name: &str) -> Option<&Policy> {
        self.policies
            .values()
            .find(|policy| policy.spec.name == name)
    }

    /// Active policies ordered for selection: priority descending, then id ascending.
    pub fn policies_for_selection(&self, kind: PolicyKind, action_type: &str) -> Vec<&Policy> {
        let mut candidates: Vec<&Policy> = self
            .policies
            .values()
            .filter(|policy| {
                policy.active
                    && policy.spec.kind == kind
                    && (policy.spec.action_types.is_empty()
                        || Permissions::allows(&policy.spec.action_types, action_type))
            })
            .collect();
        candidates.sort_by(|a, b| b.spec.priority.cmp(&a.spec.priority).then(a.id.cmp(&b.id)));
        candidates
    }

    pub fn community_id(&self) -> Option<CommunityId> {
        self.community.as_ref().map(|community| community.id)
    }
}

/// The bundle's own type and every type inside it, depth first.
pub fn action_types_within(action: &ActionSpec) -> Vec<String> {
    let mut types = vec![action.action_type().to_owned()];
    match action {
        ActionSpec::Election { options: inner } | ActionSpec::Combination { actions: inner } => {
            types.extend(inner.iter().map(|member| member.action_type().to_owned()));
        }
        _ => {}
    }
    types
}

pub use ostrom_schemas::action::policy_version_hash;
