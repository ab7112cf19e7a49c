//! Engine records: what the engine decided or did, signed by the sequencer through the
//! entry signature.
//!
//! An `Evaluated` record carries every effect of one policy evaluation, so that replay
//! applies effects without re-running scripts, and `verify` can re-run the script and
//! compare.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::action::{ActionId, ActionSpec, PolicyId};
use crate::bytes::{Hash, PublicKey, Signature};
use crate::value::Value;

/// Domain tag of a new sequencer key's endorsement of the old one.
pub const ROTATION_DOMAIN: &str = "ostrom/rotation/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Evaluated(Evaluation),
    /// The action's effect was applied (constitution actions: by the reducer, here).
    ActionExecuted {
        action: ActionId,
        /// For an election: the option executed.
        option: Option<u64>,
        /// What the platform answered, for platform actions (null if nothing).
        response: Value,
    },
    ActionExecutionFailed {
        action: ActionId,
        reason: String,
    },
    /// A policy proposed a follow-up action (its `propose(...)` call in the evaluation at
    /// `evaluation_seq`); the new action's id is this entry's seq.
    PolicyProposed {
        evaluation_seq: u64,
        by_action: ActionId,
        policy: PolicyId,
        action: ActionSpec,
    },
    /// A passed action was undone by `revert` (an executed `revert_action`).
    ActionReverted {
        action: ActionId,
        by: ActionId,
    },
    /// A member whose role holds `execute` for the type bypassed policies.
    ExecutedByPermission {
        action: ActionId,
        member: String,
        role: String,
    },
    /// A statement the engine refused, kept for the audit trail (no permission, ...).
    Refused {
        member: String,
        what: String,
        code: String,
        reason: String,
        statement: Hash,
    },
    GovernanceRolledBack {
        by: Option<ActionId>,
        to_seq: u64,
    },
    GovernanceRestarted {
        recovery_seq: u64,
        kit: String,
    },
    /// A signed Merkle tree head over the entry hashes up to `size`.
    Checkpoint {
        size: u64,
        root: Hash,
    },
    /// The sequencer key changes from the next entry on; `endorsement` is the new key's
    /// signature over `Hash::tagged(ROTATION_DOMAIN, [old key])`, proving possession.
    SequencerRotated {
        new: PublicKey,
        endorsement: Signature,
    },
}

impl Record {
    pub fn name(&self) -> &'static str {
        match self {
            Record::Evaluated(_) => "Evaluated",
            Record::ActionExecuted { .. } => "ActionExecuted",
            Record::ActionExecutionFailed { .. } => "ActionExecutionFailed",
            Record::PolicyProposed { .. } => "PolicyProposed",
            Record::ActionReverted { .. } => "ActionReverted",
            Record::ExecutedByPermission { .. } => "ExecutedByPermission",
            Record::Refused { .. } => "Refused",
            Record::GovernanceRolledBack { .. } => "GovernanceRolledBack",
            Record::GovernanceRestarted { .. } => "GovernanceRestarted",
            Record::Checkpoint { .. } => "Checkpoint",
            Record::SequencerRotated { .. } => "SequencerRotated",
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The action arrived (filter, initialize, check, notify).
    Arrival,
    /// A vote or withdrawal on the action.
    Vote,
    /// Time passed (a timer or the sweep).
    Timer,
    /// The governing policy changed or was removed; a new one took over.
    Regovern,
    /// A trigger policy reacting to the action's arrival: its effects apply, its outcome
    /// never decides the action.
    Trigger,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Proposed,
    Passed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    pub action: ActionId,
    /// The governing policy and its pinned version; none = no policy governs.
    pub policy: Option<(PolicyId, Hash)>,
    pub phase: Phase,
    pub at_ms: u64,
    pub effects: Effects,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Effects {
    /// The policy functions that ran, in order (`filter`, `initialize`, `check`, ...).
    pub ran: Vec<String>,
    pub outcome: Option<Outcome>,
    /// `pass` called `action.execute()` (or `execute_option`).
    pub execute: bool,
    pub execute_option: Option<u64>,
    pub reason: Option<String>,
    /// Writes to the action's data store, in order.
    pub action_data: Vec<DataWrite>,
    /// Writes to the governing policy's data store, in order.
    pub policy_data: Vec<DataWrite>,
    pub notifications: Vec<Notification>,
    pub follow_ups: Vec<ActionSpec>,
    pub http: Vec<HttpExchange>,
    pub log: Vec<String>,
    pub error: Option<PolicyFault>,
    /// When the policy wants to look again (ms), if it said.
    pub next_check_at_ms: Option<u64>,
}

/// One write to a data store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataWrite {
    Set { key: String, value: Value },
    Remove { key: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    pub members: Vec<String>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HttpExchange {
    pub method: String,
    pub url: String,
    /// Null for a GET.
    pub request_body: Value,
    pub status: u16,
    pub response: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyFault {
    pub function: String,
    pub message: String,
    pub line: u32,
    pub column: u32,
}
