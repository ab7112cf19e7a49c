//! Statements: what a party asserts, carried with that party's own signature.
//!
//! A member signs their own proposals and votes; an integration signs what a platform told
//! it. The server vouches for a member it authenticated another way (a bearer token): the
//! statement then travels unsigned in a `Body::Vouched` entry and the sequencer asserts it
//! through the entry signature, as it asserts its own records. Every statement names its
//! community (no cross-community replay) and carries a per-author counter that must
//! strictly increase (no replay within a community; a vouched statement's author is the
//! sequencer key).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::action::{ActionId, ActionSpec, PolicySpec, RoleSpec};
use crate::bytes::{CommunityId, Hash, PublicKey, Signature};

/// Domain tag of a statement signature.
pub const STATEMENT_SIGNATURE_DOMAIN: &str = "ostrom/statement/v1";
/// Domain tag of a trustee's co-signature on a recovery.
pub const RECOVERY_SIGNATURE_DOMAIN: &str = "ostrom/recovery/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Statement {
    pub community: CommunityId,
    /// Strictly greater than every earlier counter of the same author key (so the first
    /// is at least 1).
    pub counter: u64,
    /// The member this statement speaks for.
    pub member: String,
    /// What a platform integration saw, when the statement relays a platform event.
    pub evidence: Option<Evidence>,
    pub body: StatementBody,
}

/// The platform event behind a relayed statement: which platform, its delivery id, and the
/// blake3 of the raw webhook body the integration verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub platform: String,
    pub delivery: String,
    pub body_hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementBody {
    /// Genesis: only at seq 0, signed by the founding sequencer key.
    CommunityFounded(Founding),
    MemberJoined {
        member: String,
        key: Option<PublicKey>,
    },
    MemberLeft {
        member: String,
    },
    KeyBound {
        member: String,
        key: PublicKey,
    },
    ActionProposed {
        action: ActionSpec,
        /// No policy sees the action before this time (ms, sequencer clock).
        not_before_ms: Option<u64>,
    },
    VoteCast {
        action: ActionId,
        value: VoteValue,
    },
    VoteWithdrawn {
        action: ActionId,
    },
    RecoveryInvoked(Recovery),
}

impl StatementBody {
    pub fn name(&self) -> &'static str {
        match self {
            StatementBody::CommunityFounded(_) => "CommunityFounded",
            StatementBody::MemberJoined { .. } => "MemberJoined",
            StatementBody::MemberLeft { .. } => "MemberLeft",
            StatementBody::KeyBound { .. } => "KeyBound",
            StatementBody::ActionProposed { .. } => "ActionProposed",
            StatementBody::VoteCast { .. } => "VoteCast",
            StatementBody::VoteWithdrawn { .. } => "VoteWithdrawn",
            StatementBody::RecoveryInvoked(_) => "RecoveryInvoked",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Founding {
    pub name: String,
    pub sequencer: PublicKey,
    /// The starter kit the roles and policies below came from (for people; the content
    /// itself is in this entry, so replay never depends on the binary's kits).
    pub kit: String,
    pub members: Vec<MemberSpec>,
    pub roles: Vec<RoleSpec>,
    pub policies: Vec<PolicySpec>,
    pub documents: Vec<DocumentSpec>,
    pub trustees: Vec<String>,
    pub threshold: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MemberSpec {
    pub name: String,
    pub key: Option<PublicKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentSpec {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteValue {
    Yes,
    No,
    /// An index into an election's options.
    Option(u64),
    /// A named choice.
    Choice(String),
    /// A ranking of option indices, most preferred first.
    Ranking(Vec<u64>),
}

impl VoteValue {
    /// `yes`, `no`, a number (an option index), `a,b,c` of numbers (a ranking), or any
    /// other word (a named choice).
    pub fn parse(text: &str) -> Result<VoteValue, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a vote must not be empty".into());
        }
        match text {
            "yes" => return Ok(VoteValue::Yes),
            "no" => return Ok(VoteValue::No),
            _ => {}
        }
        if let Ok(index) = text.parse::<u64>() {
            return Ok(VoteValue::Option(index));
        }
        if text.contains(',') {
            let ranking: Result<Vec<u64>, _> = text
                .split(',')
                .map(|item| item.trim().parse::<u64>())
                .collect();
            return ranking.map(VoteValue::Ranking).map_err(|_| {
                format!("{text:?}: a ranking is a comma-separated list of option indices")
            });
        }
        if text.len() > crate::limits::NAME_BYTES_MAX {
            return Err(format!(
                "a choice is at most {} bytes",
                crate::limits::NAME_BYTES_MAX
            ));
        }
        Ok(VoteValue::Choice(text.to_owned()))
    }
}

impl std::fmt::Display for VoteValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VoteValue::Yes => f.write_str("yes"),
            VoteValue::No => f.write_str("no"),
            VoteValue::Option(index) => write!(f, "{index}"),
            VoteValue::Choice(choice) => f.write_str(choice),
            VoteValue::Ranking(ranking) => {
                let items: Vec<String> = ranking.iter().map(u64::to_string).collect();
                f.write_str(&items.join(","))
            }
        }
    }
}

/// A trustee-signed governance restart. It names the log head it was prepared against, so
/// it can only ever be appended right after that head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Recovery {
    pub plan: RecoveryPlan,
    pub head_seq: u64,
    pub head: Hash,
    pub cosignatures: Vec<Cosignature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryPlan {
    /// Replace policies and roles with a starter kit's (materialised here).
    Restart {
        kit: String,
        roles: Vec<RoleSpec>,
        policies: Vec<PolicySpec>,
    },
    /// Restore governance to the state just before `seq`.
    RollbackToSeq { seq: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cosignature {
    pub trustee: String,
    pub key: PublicKey,
    pub sig: Signature,
}

/// What each trustee signs: the community, the head and the plan.
#[derive(Serialize)]
pub struct RecoveryMessage<'a> {
    pub community: &'a CommunityId,
    pub head_seq: u64,
    pub head: &'a Hash,
    pub plan: &'a RecoveryPlan,
}

/// A statement with its author's signature over `STATEMENT_SIGNATURE_DOMAIN || statement`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Signed {
    pub statement: Statement,
    pub author: PublicKey,
    pub sig: Signature,
}

/// A statement as an entry carries it, with the key that asserts it: the signer of a
/// `Body::Statement`, or the entry's sequencer for a `Body::Vouched` statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asserted<'a> {
    pub statement: &'a Statement,
    pub author: &'a PublicKey,
    /// Asserted by the sequencer through the entry signature, with no signature of its own.
    pub vouched: bool,
}
