//! The variant table (`schemas/v1/variants.json`): for every enum in the v1 schema, each
//! variant's index in the canonical bytes and its name in JSON.
//!
//! JSON Schema says what the JSON looks like but not which varint tags a variant in
//! postcard, and that tag is what a verifier in another language must get right. Both
//! columns are read off real encodings of one sample per variant, never typed in by hand.
//! The `match` in each sampler has no wildcard, so a new variant does not compile until it
//! has a sample here.

use serde::Serialize;

use ostrom_schemas::action::{
    ActionId, ActionSpec, ConstitutionAction, Permissions, PlainAction, PlatformAction, PolicyKind,
    PolicySpec, RollbackTarget,
};
use ostrom_schemas::bytes::{Hash, PublicKey, Signature};
use ostrom_schemas::entry::Body;
use ostrom_schemas::record::{Evaluation, Outcome, Phase, Record};
use ostrom_schemas::statement::{
    Founding, Recovery, RecoveryPlan, Signed, Statement, StatementBody, VoteValue,
};
use ostrom_schemas::value::{Params, Value};

#[derive(Serialize)]
pub struct EnumVariants {
    #[serde(rename = "enum")]
    pub name: &'static str,
    pub variants: Vec<Variant>,
}

#[derive(Serialize)]
pub struct Variant {
    /// The varint that tags the variant in the canonical bytes.
    pub index: u64,
    /// The Rust variant name (as in `Body::name`, `Record::name`).
    pub rust: String,
    /// The externally tagged JSON name, or for `Value` the JSON type it is written as.
    pub json: String,
}

/// How a variant is named in JSON: by its external tag, or (for `Value`, which is written
/// untagged) by the JSON type it becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Json {
    Tagged,
    Untagged,
}

fn describe<T: Serialize + std::fmt::Debug>(
    name: &'static str,
    json: Json,
    samples: Vec<T>,
) -> EnumVariants {
    let variants = samples
        .iter()
        .map(|sample| {
            let bytes = postcard::to_stdvec(sample).expect("samples encode");
            let (index, _) = read_varint(&bytes);
            let debug = format!("{sample:?}");
            let rust: String = debug
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            let written = serde_json::to_value(sample).expect("samples serialize");
            let json = match (json, written) {
                (Json::Untagged, written) => json_type(&written).to_owned(),
                (Json::Tagged, serde_json::Value::String(tag)) => tag,
                (Json::Tagged, serde_json::Value::Object(map)) if map.len() == 1 => {
                    map.keys().next().expect("one key").clone()
                }
                (Json::Tagged, written) => {
                    panic!("{name}: {written} is not an externally tagged variant")
                }
            };
            Variant { index, rust, json }
        })
        .collect::<Vec<_>>();
    for (position, variant) in variants.iter().enumerate() {
        // Samples are listed in declaration order, so a gap or a swap means the sample
        // list is out of date, not that the encoding changed.
        assert_eq!(
            variant.index, position as u64,
            "{name}: sample {position} ({}) encodes with index {}; list one sample per variant in declaration order",
            variant.rust, variant.index
        );
    }
    EnumVariants { name, variants }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "integer",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A postcard varint (LEB128, unsigned): the value and how many bytes it took.
pub fn read_varint(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return (value, index + 1);
        }
    }
    panic!("unterminated varint");
}

fn action() -> ActionSpec {
    ActionSpec::Constitution(ConstitutionAction::DeleteRole {
        role: "r".to_owned(),
    })
}

fn plain() -> PlainAction {
    PlainAction::Constitution(ConstitutionAction::DeleteRole {
        role: "r".to_owned(),
    })
}

fn statement(body: StatementBody) -> Statement {
    Statement {
        community: ostrom_schemas::bytes::CommunityId::ZERO,
        counter: 0,
        member: "m".to_owned(),
        evidence: None,
        body,
    }
}

fn bodies() -> Vec<Body> {
    let samples = vec![
        Body::Statement(Signed {
            statement: statement(StatementBody::MemberLeft {
                member: "m".to_owned(),
            }),
            author: PublicKey::ZERO,
            sig: Signature::ZERO,
        }),
        Body::Record(Record::Checkpoint {
            size: 0,
            root: Hash::ZERO,
        }),
        Body::Vouched(statement(StatementBody::MemberLeft {
            member: "m".to_owned(),
        })),
    ];
    for sample in &samples {
        match sample {
            Body::Statement(_) | Body::Record(_) | Body::Vouched(_) => {}
        }
    }
    samples
}

fn statement_bodies() -> Vec<StatementBody> {
    let samples = vec![
        StatementBody::CommunityFounded(Founding {
            name: "c".to_owned(),
            sequencer: PublicKey::ZERO,
            kit: "k".to_owned(),
            members: Vec::new(),
            roles: Vec::new(),
            policies: Vec::new(),
            documents: Vec::new(),
            trustees: Vec::new(),
            threshold: 0,
        }),
        StatementBody::MemberJoined {
            member: "m".to_owned(),
            key: None,
        },
        StatementBody::MemberLeft {
            member: "m".to_owned(),
        },
        StatementBody::KeyBound {
            member: "m".to_owned(),
            key: PublicKey::ZERO,
        },
        StatementBody::ActionProposed {
            action: action(),
            not_before_ms: None,
        },
        StatementBody::VoteCast {
            action: ActionId(0),
            value: VoteValue::Yes,
        },
        StatementBody::VoteWithdrawn {
            action: ActionId(0),
        },
        StatementBody::RecoveryInvoked(Recovery {
            plan: RecoveryPlan::RollbackToSeq { seq: 0 },
            head_seq: 0,
            head: Hash::ZERO,
            cosignatures: Vec::new(),
        }),
    ];
    for sample in &samples {
        match sample {
            StatementBody::CommunityFounded(_)
            | StatementBody::MemberJoined { .. }
            | StatementBody::MemberLeft { .. }
            | StatementBody::KeyBound { .. }
            | StatementBody::ActionProposed { .. }
            | StatementBody::VoteCast { .. }
            | StatementBody::VoteWithdrawn { .. }
            | StatementBody::RecoveryInvoked(_) => {}
        }
    }
    samples
}

fn records() -> Vec<Record> {
    let action = ActionId(0);
    let samples = vec![
        Record::Evaluated(Evaluation {
            action,
            policy: None,
            phase: Phase::Arrival,
            at_ms: 0,
            effects: Default::default(),
        }),
        Record::ActionExecuted {
            action,
            option: None,
            response: Value::Null,
        },
        Record::ActionExecutionFailed {
            action,
            reason: String::new(),
        },
        Record::PolicyProposed {
            evaluation_seq: 0,
            by_action: action,
            policy: ostrom_schemas::action::PolicyId(0),
            action: self::action(),
        },
        Record::ActionReverted { action, by: action },
        Record::ExecutedByPermission {
            action,
            member: String::new(),
            role: String::new(),
        },
        Record::Refused {
            member: String::new(),
            what: String::new(),
            code: String::new(),
            reason: String::new(),
            statement: Hash::ZERO,
        },
        Record::GovernanceRolledBack {
            by: None,
            to_seq: 0,
        },
        Record::GovernanceRestarted {
            recovery_seq: 0,
            kit: String::new(),
        },
        Record::Checkpoint {
            size: 0,
            root: Hash::ZERO,
        },
        Record::SequencerRotated {
            new: PublicKey::ZERO,
            endorsement: Signature::ZERO,
        },
    ];
    for sample in &samples {
        match sample {
            Record::Evaluated(_)
            | Record::ActionExecuted { .. }
            | Record::ActionExecutionFailed { .. }
            | Record::PolicyProposed { .. }
            | Record::ActionReverted { .. }
            | Record::ExecutedByPermission { .. }
            | Record::Refused { .. }
            | Record::GovernanceRolledBack { .. }
            | Record::GovernanceRestarted { .. }
            | Record::Checkpoint { .. }
            | Record::SequencerRotated { .. } => {}
        }
    }
    samples
}

fn action_specs() -> Vec<ActionSpec> {
    let samples = vec![
        action(),
        ActionSpec::Platform(PlatformAction {
            action_type: "p.a".to_owned(),
            params: Params::new(),
        }),
        ActionSpec::Election {
            options: vec![plain()],
        },
        ActionSpec::Combination {
            actions: vec![plain()],
        },
    ];
    for sample in &samples {
        match sample {
            ActionSpec::Constitution(_)
            | ActionSpec::Platform(_)
            | ActionSpec::Election { .. }
            | ActionSpec::Combination { .. } => {}
        }
    }
    samples
}

fn constitution_actions() -> Vec<ConstitutionAction> {
    use ConstitutionAction::*;
    let text = String::new;
    let samples = vec![
        AddPolicy(PolicySpec {
            name: text(),
            kind: PolicyKind::Constitution,
            source: text(),
            action_types: Vec::new(),
            priority: 0,
            description: text(),
        }),
        ChangePolicy {
            policy: text(),
            name: None,
            kind: None,
            source: None,
            action_types: None,
            priority: None,
            description: None,
        },
        RemovePolicy { policy: text() },
        RecoverPolicy { policy: text() },
        AddRole {
            role: text(),
            description: text(),
            permissions: Permissions::default(),
        },
        EditRole {
            role: text(),
            name: None,
            description: None,
            view: None,
            propose: None,
            execute: None,
        },
        DeleteRole { role: text() },
        GrantRole {
            role: text(),
            members: Vec::new(),
        },
        RevokeRole {
            role: text(),
            members: Vec::new(),
        },
        SetRoleMembers {
            role: text(),
            members: Vec::new(),
        },
        AddDocument {
            name: text(),
            text: text(),
        },
        EditDocument {
            document: text(),
            name: None,
            text: None,
        },
        DeleteDocument { document: text() },
        RecoverDocument { document: text() },
        AddMember {
            member: text(),
            key: None,
        },
        RemoveMember { member: text() },
        SetRecovery {
            trustees: Vec::new(),
            threshold: 0,
        },
        AddIntegration {
            platform: text(),
            settings: Params::new(),
        },
        RemoveIntegration { platform: text() },
        RevertAction {
            action: ActionId(0),
        },
        RollbackGovernance {
            target: RollbackTarget::ToSeq(0),
        },
    ];
    for sample in &samples {
        match sample {
            AddPolicy(_)
            | ChangePolicy { .. }
            | RemovePolicy { .. }
            | RecoverPolicy { .. }
            | AddRole { .. }
            | EditRole { .. }
            | DeleteRole { .. }
            | GrantRole { .. }
            | RevokeRole { .. }
            | SetRoleMembers { .. }
            | AddDocument { .. }
            | EditDocument { .. }
            | DeleteDocument { .. }
            | RecoverDocument { .. }
            | AddMember { .. }
            | RemoveMember { .. }
            | SetRecovery { .. }
            | AddIntegration { .. }
            | RemoveIntegration { .. }
            | RevertAction { .. }
            | RollbackGovernance { .. } => {}
        }
    }
    samples
}

fn rollback_targets() -> Vec<RollbackTarget> {
    let samples = vec![
        RollbackTarget::Before(ActionId(0)),
        RollbackTarget::ToSeq(0),
    ];
    for sample in &samples {
        match sample {
            RollbackTarget::Before(_) | RollbackTarget::ToSeq(_) => {}
        }
    }
    samples
}

fn policy_kinds() -> Vec<PolicyKind> {
    let samples = vec![
        PolicyKind::Platform,
        PolicyKind::Constitution,
        PolicyKind::Trigger,
    ];
    for sample in &samples {
        match sample {
            PolicyKind::Platform | PolicyKind::Constitution | PolicyKind::Trigger => {}
        }
    }
    samples
}

fn vote_values() -> Vec<VoteValue> {
    let samples = vec![
        VoteValue::Yes,
        VoteValue::No,
        VoteValue::Option(0),
        VoteValue::Choice(String::new()),
        VoteValue::Ranking(Vec::new()),
    ];
    for sample in &samples {
        match sample {
            VoteValue::Yes
            | VoteValue::No
            | VoteValue::Option(_)
            | VoteValue::Choice(_)
            | VoteValue::Ranking(_) => {}
        }
    }
    samples
}

fn recovery_plans() -> Vec<RecoveryPlan> {
    let samples = vec![
        RecoveryPlan::Restart {
            kit: String::new(),
            roles: Vec::new(),
            policies: Vec::new(),
        },
        RecoveryPlan::RollbackToSeq { seq: 0 },
    ];
    for sample in &samples {
        match sample {
            RecoveryPlan::Restart { .. } | RecoveryPlan::RollbackToSeq { .. } => {}
        }
    }
    samples
}

fn phases() -> Vec<Phase> {
    let samples = vec![
        Phase::Arrival,
        Phase::Vote,
        Phase::Timer,
        Phase::Regovern,
        Phase::Trigger,
    ];
    for sample in &samples {
        match sample {
            Phase::Arrival | Phase::Vote | Phase::Timer | Phase::Regovern | Phase::Trigger => {}
        }
    }
    samples
}

fn outcomes() -> Vec<Outcome> {
    let samples = vec![Outcome::Proposed, Outcome::Passed, Outcome::Failed];
    for sample in &samples {
        match sample {
            Outcome::Proposed | Outcome::Passed | Outcome::Failed => {}
        }
    }
    samples
}

fn values() -> Vec<Value> {
    let samples = vec![
        Value::Null,
        Value::Bool(false),
        Value::Int(0),
        Value::Str(String::new()),
        Value::List(Vec::new()),
        Value::Map(Default::default()),
    ];
    for sample in &samples {
        match sample {
            Value::Null
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Str(_)
            | Value::List(_)
            | Value::Map(_) => {}
        }
    }
    samples
}

/// Every enum of the v1 schema.
pub fn table() -> Vec<EnumVariants> {
    vec![
        describe("Body", Json::Tagged, bodies()),
        describe("StatementBody", Json::Tagged, statement_bodies()),
        describe("Record", Json::Tagged, records()),
        describe("ActionSpec", Json::Tagged, action_specs()),
        describe("ConstitutionAction", Json::Tagged, constitution_actions()),
        describe("RollbackTarget", Json::Tagged, rollback_targets()),
        describe("PolicyKind", Json::Tagged, policy_kinds()),
        describe("VoteValue", Json::Tagged, vote_values()),
        describe("RecoveryPlan", Json::Tagged, recovery_plans()),
        describe("Phase", Json::Tagged, phases()),
        describe("Outcome", Json::Tagged, outcomes()),
        describe("Value", Json::Untagged, values()),
    ]
}
