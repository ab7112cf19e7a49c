//! The golden chain: one small community's log, built from fixed keys and a fixed clock,
//! from which every vector in `schemas/v1/vectors/` is generated.
//!
//! The entries are sealed with `verify::seal` against `TestLedger`, a minimal `Authority`
//! that keeps the chain tip, the sequencer key (including an endorsed rotation), per-author
//! counters and the trustees, and admits every statement and record otherwise. So the chain is
//! structurally valid (seq, prev, time, keys, every signature) while the governance story
//! is illustrative: the engine's own rules (who may propose or vote) live in `projections`.

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey};
use ostrom_schemas::action::{
    ActionId, ActionSpec, ConstitutionAction, Permissions, PlainAction, PlatformAction, PolicyId,
    PolicyKind, PolicySpec, RoleSpec, RollbackTarget,
};
use ostrom_schemas::bytes::{CommunityId, Hash, PublicKey, Signature};
use ostrom_schemas::entry::{community_id, sign_statement, statement_signing_digest, Body, Entry};
use ostrom_schemas::record::{
    DataWrite, Effects, Evaluation, HttpExchange, Notification, Outcome, Phase, PolicyFault, Record,
};
use ostrom_schemas::statement::{
    Cosignature, DocumentSpec, Founding, MemberSpec, Recovery, RecoveryMessage, RecoveryPlan,
    Statement, StatementBody, VoteValue,
};
use ostrom_schemas::value::{Params, Value};
use ostrom_schemas::verify::{
    check_statement, recovery_digest, seal, Authority, ChainTip, CheckedStatement, Refusal,
    Sealable,
};

/// A test key: `SigningKey::from_bytes(&[seed; 32])`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestKey {
    pub name: &'static str,
    pub seed: u8,
}

impl TestKey {
    pub fn signing(self) -> SigningKey {
        SigningKey::from_bytes(&[self.seed; 32])
    }

    pub fn public(self) -> PublicKey {
        PublicKey(self.signing().verifying_key().to_bytes())
    }
}

pub const SEQUENCER: TestKey = TestKey {
    name: "sequencer",
    seed: 0x01,
};
pub const ALICE: TestKey = TestKey {
    name: "alice",
    seed: 0x02,
};
pub const BOB: TestKey = TestKey {
    name: "bob",
    seed: 0x03,
};
pub const CAROL: TestKey = TestKey {
    name: "carol",
    seed: 0x04,
};
/// The sequencer key after `SequencerRotated`.
pub const NEXT_SEQUENCER: TestKey = TestKey {
    name: "next_sequencer",
    seed: 0x05,
};

pub const KEYS: [TestKey; 5] = [SEQUENCER, ALICE, BOB, CAROL, NEXT_SEQUENCER];

pub const COMMUNITY_NAME: &str = "town-square";
/// 2026-01-01T00:00:00Z: the clock of the genesis entry; later entries add whole seconds.
const GENESIS_AT_MS: u64 = 1_767_225_600_000;

/// One generated vector: a sealed entry and what was signed inside it.
pub struct Vector {
    /// File stem, `NN-name`, where NN is the entry's seq.
    pub name: String,
    pub description: String,
    pub entry: Entry,
    pub bytes: Vec<u8>,
    /// The key that sealed the entry.
    pub sequencer: TestKey,
    /// For a statement: the key that signed it.
    pub author: Option<TestKey>,
    /// For a recovery: the trustee keys that co-signed it, in order.
    pub cosigners: Vec<TestKey>,
    /// For a sequencer rotation: the new key that signed the endorsement.
    pub endorser: Option<TestKey>,
}

/// A minimal `Authority`: the chain tip, the current sequencer and its rotation
/// endorsements, strictly increasing counters per author key, and the trustees. Everything
/// else is admitted.
pub struct TestLedger {
    tip: ChainTip,
    counters: BTreeMap<PublicKey, u64>,
    trustees: Vec<(String, Option<PublicKey>)>,
    threshold: u64,
}

impl TestLedger {
    pub fn new() -> Self {
        TestLedger {
            tip: ChainTip::GENESIS,
            counters: BTreeMap::new(),
            trustees: Vec::new(),
            threshold: 0,
        }
    }

    /// Move past a verified entry, as the reducer would for the parts the verifier reads.
    pub fn advance(&mut self, entry: &Entry, hash: Hash) {
        let mut sequencer = entry.sequencer;
        if let Some(asserted) = entry.statement() {
            self.counters
                .insert(*asserted.author, asserted.statement.counter);
        }
        match &entry.body {
            Body::Statement(signed) => {
                if let StatementBody::CommunityFounded(founding) = &signed.statement.body {
                    self.trustees = founding
                        .trustees
                        .iter()
                        .map(|trustee| {
                            let key = founding
                                .members
                                .iter()
                                .find(|member| member.name == *trustee)
                                .and_then(|member| member.key);
                            (trustee.clone(), key)
                        })
                        .collect();
                    self.threshold = founding.threshold;
                }
            }
            Body::Record(Record::SequencerRotated { new, .. }) => sequencer = *new,
            Body::Record(_) | Body::Vouched(_) => {}
        }
        self.tip = ChainTip {
            next_seq: entry.seq + 1,
            prev: hash,
            at_ms: entry.at_ms,
            established: Some((entry.community, sequencer)),
        };
    }
}

impl Authority for TestLedger {
    fn tip(&self) -> ChainTip {
        self.tip.clone()
    }

    fn admit_statement(
        &self,
        statement: &Statement,
        author: &PublicKey,
        _at_ms: u64,
    ) -> Result<(), Refusal> {
        // As in projections: an author with no statement yet has last counter 0, so every
        // author's counters start at 1.
        let last = self.counters.get(author).copied().unwrap_or(0);
        if statement.counter <= last {
            return Err(Refusal::new(
                "replayed_counter",
                format!("replayed counter {} (last was {last})", statement.counter),
            ));
        }
        Ok(())
    }

    fn admit_record(&self, record: &Record) -> Result<(), Refusal> {
        let Record::SequencerRotated { new, endorsement } = record else {
            return Ok(());
        };
        let (_, old) = self.tip.established.expect("records follow genesis");
        let endorsed = ed25519_dalek::VerifyingKey::from_bytes(new.as_bytes()).is_ok_and(|key| {
            let sig = ed25519_dalek::Signature::from_bytes(&endorsement.0);
            key.verify_strict(rotation_digest(&old).as_bytes(), &sig)
                .is_ok()
        });
        if endorsed {
            Ok(())
        } else {
            Err(Refusal::new(
                "bad_endorsement",
                "the new key's endorsement does not verify",
            ))
        }
    }

    fn trustees(&self) -> (Vec<(String, Option<PublicKey>)>, u64) {
        (self.trustees.clone(), self.threshold)
    }
}

struct Builder {
    ledger: TestLedger,
    sequencer: TestKey,
    community: CommunityId,
    vectors: Vec<Vector>,
}

impl Builder {
    fn next_seq(&self) -> u64 {
        self.ledger.tip.next_seq
    }

    fn statement(
        &mut self,
        name: &str,
        description: &str,
        author: TestKey,
        member: &str,
        body: StatementBody,
    ) {
        self.statement_with(name, description, author, member, body, Vec::new());
    }

    fn statement_with(
        &mut self,
        name: &str,
        description: &str,
        author: TestKey,
        member: &str,
        body: StatementBody,
        cosigners: Vec<TestKey>,
    ) {
        let statement = self.next_statement(author, member, body);
        let signed = sign_statement(statement, &author.signing());
        let checked = check_statement(signed).expect("statements signed here check");
        let mut vector = self.seal(name, description, Sealable::Statement(checked));
        vector.author = Some(author);
        vector.cosigners = cosigners;
        self.vectors.push(vector);
    }

    /// `member`'s statement with `author`'s next counter.
    fn next_statement(&self, author: TestKey, member: &str, body: StatementBody) -> Statement {
        let counter = self
            .ledger
            .counters
            .get(&author.public())
            .map_or(1, |last| last + 1);
        Statement {
            community: self.community,
            counter,
            member: member.to_owned(),
            evidence: None,
            body,
        }
    }

    /// A statement the sequencer vouches for (`Body::Vouched`): no signature of its own.
    fn vouched(&mut self, name: &str, description: &str, member: &str, body: StatementBody) {
        let statement = self.next_statement(self.sequencer, member, body);
        let vector = self.seal(
            name,
            description,
            Sealable::Statement(CheckedStatement::vouched(statement)),
        );
        self.vectors.push(vector);
    }

    fn record(&mut self, name: &str, description: &str, record: Record) {
        let vector = self.seal(name, description, Sealable::Record(record));
        self.vectors.push(vector);
    }

    fn seal(&mut self, name: &str, description: &str, body: Sealable) -> Vector {
        let seq = self.next_seq();
        let at_ms = self.now_ms();
        let (verified, bytes) = seal(&self.ledger, &self.sequencer.signing(), at_ms, body)
            .unwrap_or_else(|error| panic!("the golden chain must seal: {error}"));
        let sequencer = self.sequencer;
        self.ledger.advance(verified.entry(), verified.hash());
        if let Some(Record::SequencerRotated { new, .. }) = verified.entry().record() {
            self.sequencer = KEYS
                .into_iter()
                .find(|key| key.public() == *new)
                .expect("rotations go to a test key");
        }
        Vector {
            name: format!("{seq:02}-{name}"),
            description: description.to_owned(),
            entry: verified.into_entry(),
            bytes,
            sequencer,
            author: None,
            cosigners: Vec::new(),
            endorser: None,
        }
    }

    /// The clock of the next entry.
    fn now_ms(&self) -> u64 {
        GENESIS_AT_MS + self.next_seq() * 1_000
    }

    fn head(&self) -> (u64, Hash) {
        (self.next_seq() - 1, self.ledger.tip.prev)
    }
}

fn params(pairs: &[(&str, Value)]) -> Params {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

const MAJORITY_SOURCE: &str = "fn filter(action, policy) {\n    action.kind == \"constitution\"\n}\n\n\
fn check(action, policy) {\n    if action.proposal.yes_votes().len() * 2 > members().len() { return PASSED; }\n    PROPOSED\n}\n";

fn majority_policy() -> PolicySpec {
    PolicySpec {
        name: "majority".to_owned(),
        kind: PolicyKind::Constitution,
        source: MAJORITY_SOURCE.to_owned(),
        action_types: Vec::new(),
        priority: 0,
        description: "Constitution changes pass when more than half of the members vote yes."
            .to_owned(),
    }
}

fn everyone_role() -> RoleSpec {
    RoleSpec {
        name: "everyone".to_owned(),
        description: "Every member: may see and propose anything.".to_owned(),
        permissions: Permissions {
            view: names(&["*"]),
            propose: names(&["*"]),
            execute: Vec::new(),
        },
        members: Vec::new(),
    }
}

fn moderators_role() -> RoleSpec {
    RoleSpec {
        name: "moderators".to_owned(),
        description: "May rename channels without a vote.".to_owned(),
        permissions: Permissions {
            view: names(&["*"]),
            propose: names(&["*"]),
            execute: names(&["slack.rename_conversation"]),
        },
        members: names(&["alice"]),
    }
}

/// RFC 6962 Merkle tree hash with blake3 in place of SHA-256: leaves are `0x00 || entry
/// hash`, nodes `0x01 || left || right`, split at the largest power of two below the size.
/// Illustrative only: the checkpoint construction is not defined in this crate yet, and the
/// v1 verifier treats `root` as opaque.
fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash(*blake3::hash(&[]).as_bytes()),
        1 => {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&[0]).update(leaves[0].as_bytes());
            Hash(*hasher.finalize().as_bytes())
        }
        size => {
            let split = size.next_power_of_two() / 2;
            let left = merkle_root(&leaves[..split]);
            let right = merkle_root(&leaves[split..]);
            let mut hasher = blake3::Hasher::new();
            hasher
                .update(&[1])
                .update(left.as_bytes())
                .update(right.as_bytes());
            Hash(*hasher.finalize().as_bytes())
        }
    }
}

/// Domain tag of a new sequencer key's endorsement of the old one. It is defined by the
/// state that checks it (`projections::apply::ROTATION_DOMAIN`), which this crate cannot
/// depend on; the vector pins the value.
pub const ROTATION_DOMAIN: &str = "ostrom/rotation/v1";

/// What the new sequencer key signs to endorse the rotation away from `old`.
pub fn rotation_digest(old: &PublicKey) -> Hash {
    Hash::tagged(ROTATION_DOMAIN, &[old.as_bytes()])
}

/// A policy's pinned version: the content hash the state keeps for it
/// (`projections::state::policy_version_hash`, copied here as this crate cannot depend on
/// projections).
pub fn policy_version(spec: &PolicySpec) -> Hash {
    let bytes = postcard::to_stdvec(spec).expect("policy specs encode");
    Hash::tagged("ostrom/policy/v1", &[&bytes])
}

/// The whole golden chain, in seq order.
pub fn build() -> Vec<Vector> {
    let community = community_id(COMMUNITY_NAME, &SEQUENCER.public());
    let mut chain = Builder {
        ledger: TestLedger::new(),
        sequencer: SEQUENCER,
        community,
        vectors: Vec::new(),
    };

    chain.statement(
        "community-founded",
        "Genesis: CommunityFounded with two keyed members, two roles, a policy, a document and two \
         recovery trustees (threshold 1). Signed as a statement by the founding sequencer key, which \
         also seals the entry; `community` is derived from the name and that key (see `community_id`).",
        SEQUENCER,
        "alice",
        StatementBody::CommunityFounded(Founding {
            name: COMMUNITY_NAME.to_owned(),
            sequencer: SEQUENCER.public(),
            kit: "simple-majority".to_owned(),
            members: vec![
                MemberSpec {
                    name: "alice".to_owned(),
                    key: Some(ALICE.public()),
                },
                MemberSpec {
                    name: "carol".to_owned(),
                    key: Some(CAROL.public()),
                },
            ],
            roles: vec![everyone_role(), moderators_role()],
            policies: vec![majority_policy()],
            documents: vec![DocumentSpec {
                name: "code-of-conduct".to_owned(),
                text: "Be kind. Assume good faith.".to_owned(),
            }],
            trustees: names(&["alice", "carol"]),
            threshold: 1,
        }),
    );
    chain.statement(
        "member-joined",
        "MemberJoined without a key: the server vouches for bob (authenticated another way) and \
         signs the statement with the sequencer key.",
        SEQUENCER,
        "bob",
        StatementBody::MemberJoined {
            member: "bob".to_owned(),
            key: None,
        },
    );
    chain.statement(
        "key-bound",
        "KeyBound: the server binds bob's key; from now on bob signs his own statements.",
        SEQUENCER,
        "bob",
        StatementBody::KeyBound {
            member: "bob".to_owned(),
            key: BOB.public(),
        },
    );
    let grant = ActionId(chain.next_seq());
    chain.statement(
        "action-proposed-grant-role",
        "ActionProposed: a constitution action (grant_role), signed by alice. Its action id is this \
         entry's seq.",
        ALICE,
        "alice",
        StatementBody::ActionProposed {
            action: ActionSpec::Constitution(ConstitutionAction::GrantRole {
                role: "moderators".to_owned(),
                members: names(&["bob"]),
            }),
            not_before_ms: None,
        },
    );
    let rename = ActionId(chain.next_seq());
    chain.statement(
        "action-proposed-platform",
        "ActionProposed: a platform action with parameters (a Value map) and a not_before_ms.",
        BOB,
        "bob",
        StatementBody::ActionProposed {
            action: ActionSpec::Platform(PlatformAction {
                action_type: "slack.rename_conversation".to_owned(),
                params: params(&[
                    ("channel", "C024BE91L".into()),
                    ("name", "town-square-2".into()),
                    ("notify", true.into()),
                ]),
            }),
            not_before_ms: Some(GENESIS_AT_MS + 60_000),
        },
    );
    let election = ActionId(chain.next_seq());
    chain.statement(
        "action-proposed-election",
        "ActionProposed: an election bundle whose options are a constitution action and a platform \
         action; votes name an option by its index.",
        ALICE,
        "alice",
        StatementBody::ActionProposed {
            action: ActionSpec::Election {
                options: vec![
                    PlainAction::Constitution(ConstitutionAction::AddDocument {
                        name: "meeting-times".to_owned(),
                        text: "Thursdays 18:00 UTC.".to_owned(),
                    }),
                    PlainAction::Platform(PlatformAction {
                        action_type: "slack.set_topic".to_owned(),
                        params: params(&[
                            ("channel", "C024BE91L".into()),
                            ("topic", "Meetings: Fridays 17:00 UTC".into()),
                        ]),
                    }),
                ],
            },
            not_before_ms: None,
        },
    );
    chain.statement(
        "vote-cast-yes",
        "VoteCast yes on the grant_role action.",
        BOB,
        "bob",
        StatementBody::VoteCast {
            action: grant,
            value: VoteValue::Yes,
        },
    );
    chain.statement(
        "vote-cast-option",
        "VoteCast for option 1 of the election.",
        ALICE,
        "alice",
        StatementBody::VoteCast {
            action: election,
            value: VoteValue::Option(1),
        },
    );
    chain.statement(
        "vote-cast-ranking",
        "VoteCast with a ranking of the election's options, most preferred first.",
        CAROL,
        "carol",
        StatementBody::VoteCast {
            action: election,
            value: VoteValue::Ranking(vec![1, 0]),
        },
    );
    chain.statement(
        "vote-withdrawn",
        "VoteWithdrawn: carol withdraws her ranking.",
        CAROL,
        "carol",
        StatementBody::VoteWithdrawn { action: election },
    );
    // Policy ids start at 1 and the first founding policy gets it (projections).
    let majority = (PolicyId(1), policy_version(&majority_policy()));
    let welcome = ActionSpec::Platform(PlatformAction {
        action_type: "slack.post_message".to_owned(),
        params: params(&[
            ("channel", "C024BE91L".into()),
            ("text", "Welcome, bob!".into()),
        ]),
    });
    let evaluation_seq = chain.next_seq();
    let welcome_id = ActionId(evaluation_seq + 1);
    chain.record(
        "evaluated",
        "Evaluated with every kind of effect: outcome, execute, data writes (one removal), a \
         notification, a follow-up action, a recorded HTTP exchange, log lines and a next check. \
         The policy is pinned by its version hash, tagged(\"ostrom/policy/v1\", postcard(PolicySpec)).",
        Record::Evaluated(Evaluation {
            action: grant,
            policy: Some(majority),
            phase: Phase::Vote,
            at_ms: chain.now_ms(),
            effects: Effects {
                ran: names(&["check", "pass"]),
                outcome: Some(Outcome::Passed),
                execute: true,
                execute_option: None,
                reason: Some("2 of 3 members in favour (the proposer and one yes vote)".to_owned()),
                action_data: vec![
                    DataWrite::Set {
                        key: "yes".to_owned(),
                        value: Value::Int(2),
                    },
                    DataWrite::Set {
                        key: "voters".to_owned(),
                        value: Value::List(vec!["alice".into(), "bob".into()]),
                    },
                    DataWrite::Remove {
                        key: "draft".to_owned(),
                    },
                ],
                policy_data: vec![DataWrite::Set {
                    key: "last".to_owned(),
                    value: Value::Map(
                        [
                            ("action".to_owned(), Value::Int(grant.0 as i64)),
                            ("margin".to_owned(), Value::Int(-1)),
                            ("note".to_owned(), Value::Null),
                        ]
                        .into(),
                    ),
                }],
                notifications: vec![Notification {
                    members: names(&["alice", "bob"]),
                    text: "bob is now a moderator".to_owned(),
                }],
                follow_ups: vec![welcome.clone()],
                http: vec![HttpExchange {
                    method: "POST".to_owned(),
                    url: "https://example.org/tally".to_owned(),
                    request_body: Value::Map([("yes".to_owned(), Value::Int(2))].into()),
                    status: 200,
                    response: Value::Map([("ok".to_owned(), Value::Bool(true))].into()),
                }],
                log: names(&["tally: 2 in favour, 0 against"]),
                error: None,
                next_check_at_ms: Some(GENESIS_AT_MS + 3_600_000),
            },
        }),
    );
    chain.record(
        "policy-proposed",
        "PolicyProposed: the follow-up action of that evaluation, proposed by the policy; its \
         action id is this entry's seq.",
        Record::PolicyProposed {
            evaluation_seq,
            by_action: grant,
            policy: majority.0,
            action: welcome,
        },
    );
    chain.record(
        "action-executed",
        "ActionExecuted for the constitution action (the reducer applies it; no response).",
        Record::ActionExecuted {
            action: grant,
            option: None,
            response: Value::Null,
        },
    );
    chain.record(
        "executed-by-permission",
        "ExecutedByPermission: bob, now a moderator, executed his platform action without a vote.",
        Record::ExecutedByPermission {
            action: rename,
            member: "bob".to_owned(),
            role: "moderators".to_owned(),
        },
    );
    chain.record(
        "action-executed-platform",
        "ActionExecuted for the platform action, with the platform's response.",
        Record::ActionExecuted {
            action: rename,
            option: None,
            response: Value::Map(
                [
                    ("ok".to_owned(), Value::Bool(true)),
                    (
                        "channel".to_owned(),
                        Value::Map([("name".to_owned(), "town-square-2".into())].into()),
                    ),
                ]
                .into(),
            ),
        },
    );
    chain.record(
        "evaluated-fault",
        "Evaluated on a timer where the policy script failed (on the action the policy proposed): \
         an error and no outcome.",
        Record::Evaluated(Evaluation {
            action: welcome_id,
            policy: Some(majority),
            phase: Phase::Timer,
            at_ms: chain.now_ms(),
            effects: Effects {
                ran: names(&["check"]),
                error: Some(PolicyFault {
                    function: "check".to_owned(),
                    message: "Function not found: yes_votes (string)".to_owned(),
                    line: 6,
                    column: 25,
                }),
                ..Effects::default()
            },
        }),
    );
    chain.record(
        "evaluated-election",
        "Evaluated: the election passed and executes option 1.",
        Record::Evaluated(Evaluation {
            action: election,
            policy: Some(majority),
            phase: Phase::Vote,
            at_ms: chain.now_ms(),
            effects: Effects {
                ran: names(&["check", "pass"]),
                outcome: Some(Outcome::Passed),
                execute: true,
                execute_option: Some(1),
                ..Effects::default()
            },
        }),
    );
    chain.record(
        "action-execution-failed",
        "ActionExecutionFailed with the reason.",
        Record::ActionExecutionFailed {
            action: election,
            reason: "slack answered 403: not_in_channel".to_owned(),
        },
    );
    let revert = ActionId(chain.next_seq());
    chain.statement(
        "action-proposed-revert",
        "ActionProposed: revert_action naming an earlier action by id.",
        ALICE,
        "alice",
        StatementBody::ActionProposed {
            action: ActionSpec::Constitution(ConstitutionAction::RevertAction { action: rename }),
            not_before_ms: None,
        },
    );
    chain.record(
        "action-reverted",
        "ActionReverted: the platform action was undone by the revert_action.",
        Record::ActionReverted {
            action: rename,
            by: revert,
        },
    );
    let refused = Statement {
        community,
        counter: 1,
        member: "dave".to_owned(),
        evidence: None,
        body: StatementBody::VoteCast {
            action: grant,
            value: VoteValue::No,
        },
    };
    chain.record(
        "refused",
        "Refused: a statement the engine would not admit, kept for the audit trail. `statement` is \
         the refused statement's signing digest here (what it identifies is not yet specified).",
        Record::Refused {
            member: "dave".to_owned(),
            what: "VoteCast".to_owned(),
            code: "unknown_member".to_owned(),
            reason: "dave is not a member".to_owned(),
            statement: statement_signing_digest(&refused),
        },
    );
    let rollback = ActionId(chain.next_seq());
    chain.statement(
        "action-proposed-rollback",
        "ActionProposed: rollback_governance to the state before an action.",
        ALICE,
        "alice",
        StatementBody::ActionProposed {
            action: ActionSpec::Constitution(ConstitutionAction::RollbackGovernance {
                target: RollbackTarget::Before(grant),
            }),
            not_before_ms: None,
        },
    );
    chain.record(
        "governance-rolled-back",
        "GovernanceRolledBack by an executed rollback_governance action.",
        Record::GovernanceRolledBack {
            by: Some(rollback),
            to_seq: grant.0,
        },
    );
    chain.statement(
        "member-left",
        "MemberLeft, signed by the member.",
        BOB,
        "bob",
        StatementBody::MemberLeft {
            member: "bob".to_owned(),
        },
    );
    let (head_seq, head) = chain.head();
    let plan = RecoveryPlan::Restart {
        kit: "benevolent-dictator".to_owned(),
        roles: vec![moderators_role()],
        policies: vec![majority_policy()],
    };
    let digest = recovery_digest(&RecoveryMessage {
        community: &community,
        head_seq,
        head: &head,
        plan: &plan,
    });
    let cosignature = Cosignature {
        trustee: "carol".to_owned(),
        key: CAROL.public(),
        sig: Signature(CAROL.signing().sign(digest.as_bytes()).to_bytes()),
    };
    let recovery_seq = chain.next_seq();
    chain.statement_with(
        "recovery-invoked",
        "RecoveryInvoked: alice states a restart from a starter kit, co-signed by trustee carol \
         (threshold 1). It names the log head it was prepared against (head_seq, head = this \
         entry's seq - 1 and prev).",
        ALICE,
        "alice",
        StatementBody::RecoveryInvoked(Recovery {
            plan,
            head_seq,
            head,
            cosignatures: vec![cosignature],
        }),
        vec![CAROL],
    );
    chain.record(
        "governance-restarted",
        "GovernanceRestarted after the recovery.",
        Record::GovernanceRestarted {
            recovery_seq,
            kit: "benevolent-dictator".to_owned(),
        },
    );
    let leaves: Vec<Hash> = chain
        .vectors
        .iter()
        .map(|vector| vector.entry.hash())
        .collect();
    chain.record(
        "checkpoint",
        "Checkpoint over the entry hashes of seq 0 up to, not including, this entry. The root is an \
         RFC 6962 tree hash with blake3 (leaf 0x00 || entry hash, node 0x01 || left || right), for \
         illustration only: the v1 verifier treats it as opaque.",
        Record::Checkpoint {
            size: leaves.len() as u64,
            root: merkle_root(&leaves),
        },
    );
    let endorsement = Signature(
        NEXT_SEQUENCER
            .signing()
            .sign(rotation_digest(&SEQUENCER.public()).as_bytes())
            .to_bytes(),
    );
    chain.record(
        "sequencer-rotated",
        "SequencerRotated, sealed by the old key; the next entry is sealed by the new one. The \
         endorsement is the new key's signature over the rotation digest of the old key, which \
         the state (projections) checks when admitting the record; the envelope verifier does not.",
        Record::SequencerRotated {
            new: NEXT_SEQUENCER.public(),
            endorsement,
        },
    );
    if let Some(last) = chain.vectors.last_mut() {
        last.endorser = Some(NEXT_SEQUENCER);
    }
    let leaves: Vec<Hash> = chain
        .vectors
        .iter()
        .map(|vector| vector.entry.hash())
        .collect();
    chain.record(
        "checkpoint-after-rotation",
        "Checkpoint sealed by the rotated sequencer key.",
        Record::Checkpoint {
            size: leaves.len() as u64,
            root: merkle_root(&leaves),
        },
    );
    chain.vouched(
        "member-joined-vouched",
        "MemberJoined, vouched for by the sequencer (`Body::Vouched`): bob, who left, rejoins \
         through the server, which authenticated him itself (as it does a member with a bearer \
         token), so the statement carries no signature of its own and the entry signature \
         asserts it. Its counter counts among the sequencer key's (the rotated key's first \
         statement: counter 1).",
        "bob",
        StatementBody::MemberJoined {
            member: "bob".to_owned(),
            key: None,
        },
    );
    chain.vectors
}
