//! The reducer and its admission rules, given / when / then: prior entries, one new
//! statement or record, and the state or refusal that follows. Records that the policy
//! engine will write are sealed by hand here, through the same verifier.

use std::sync::Arc;

use ostrom::fixtures::{self, Founded};
use ostrom::ledger::{Ledger, LedgerError};
use ostrom::store::memory::MemoryStore;
use ostrom_projections::state::Execution;
use ostrom_projections::Status;
use ostrom_schemas::record::{Effects, Evaluation, Outcome, Phase, Record};
use ostrom_schemas::verify::{CheckedStatement, Sealable};
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value, VoteValue};

struct Given {
    ledger: Ledger,
    founded: Founded,
    at_ms: u64,
}

fn given(kit: &str) -> Given {
    let names: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| name.to_string())
        .collect();
    let (ledger, founded) = fixtures::found(
        Arc::new(MemoryStore::new()),
        "reducer",
        kit,
        &names,
        5,
        1_000,
    )
    .expect("founded");
    Given {
        ledger,
        founded,
        at_ms: 1_000,
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), Value::from(*value)))
        .collect()
}

impl Given {
    fn tick(&mut self) -> u64 {
        self.at_ms += 10;
        self.at_ms
    }

    fn statement(&mut self, member: &str, body: StatementBody) -> Result<u64, LedgerError> {
        let key = self.founded.members[member].clone();
        let signed = self.ledger.sign(member, &key, body);
        let at = self.tick();
        self.ledger
            .submit(signed, at)
            .map(|entry| entry.entry().seq)
    }

    fn propose(&mut self, member: &str, action_type: &str, pairs: &[(&str, &str)]) -> ActionId {
        let action =
            ActionSpec::parse(action_type, &params(pairs), &|_| None).expect("valid action");
        ActionId(
            self.statement(
                member,
                StatementBody::ActionProposed {
                    action,
                    not_before_ms: None,
                },
            )
            .expect("proposal accepted"),
        )
    }

    fn record(&mut self, record: Record) -> Result<u64, LedgerError> {
        let at = self.tick();
        self.ledger
            .record(record, at)
            .map(|entry| entry.entry().seq)
    }

    /// The governing base policy decides `action` (as the engine will) and it executes.
    fn pass_and_execute(&mut self, action: ActionId) {
        let kind = self.ledger.state().actions[&action].kind;
        let policy = self.ledger.state().policies_for_selection(
            kind,
            self.ledger.state().actions[&action].spec.action_type(),
        )[0];
        let evaluation = Evaluation {
            action,
            policy: Some((policy.id, policy.version)),
            phase: Phase::Arrival,
            at_ms: self.at_ms,
            effects: Effects {
                ran: vec!["filter".into(), "check".into()],
                outcome: Some(Outcome::Passed),
                execute: true,
                ..Effects::default()
            },
        };
        self.record(Record::Evaluated(evaluation))
            .expect("evaluation admitted");
        self.record(Record::ActionExecuted {
            action,
            option: None,
            response: Value::Null,
        })
        .expect("execution admitted");
    }
}

#[test]
fn a_passed_grant_role_gives_the_role_and_keeps_its_history() {
    // Given a moderators role added by a passed action
    let mut given = given("testing");
    let add = given.propose(
        "alice",
        "add_role",
        &[("role", "mods"), ("execute", "slack.pin_message")],
    );
    given.pass_and_execute(add);
    // When a grant of the role to bob passes and executes
    let grant = given.propose(
        "alice",
        "grant_role",
        &[("role", "mods"), ("members", "bob")],
    );
    given.pass_and_execute(grant);
    // Then bob holds it, the role's history has both versions, and the action is executed
    let state = given.ledger.state();
    assert!(state.has_role("bob", "mods"));
    assert_eq!(state.roles["mods"].versions.len(), 2);
    assert_eq!(state.roles["mods"].versions[1].by, Some(grant));
    assert_eq!(state.actions[&grant].status, Status::Passed);
    assert!(matches!(
        state.actions[&grant].execution,
        Execution::Executed { .. }
    ));
    assert!(state.open.is_empty());
}

#[test]
fn a_policy_change_is_a_new_version_and_the_old_one_stays_in_history() {
    let mut given = given("testing");
    let original = given
        .ledger
        .state()
        .policy_by_name("All platform actions pass")
        .expect("kit policy")
        .clone();
    let change = given.propose(
        "bob",
        "change_policy",
        &[("policy", "All platform actions pass"), ("priority", "5")],
    );
    given.pass_and_execute(change);
    let policy = given
        .ledger
        .state()
        .policy_by_name("All platform actions pass")
        .expect("still there");
    assert_eq!(policy.spec.priority, 5);
    assert_ne!(policy.version, original.version);
    assert_eq!(policy.versions.len(), 2);
    assert_eq!(policy.versions[0].version, original.version);
}

#[test]
fn deleting_and_recovering_a_document_keeps_every_version() {
    let mut given = given("testing");
    let add = given.propose(
        "alice",
        "add_document",
        &[("name", "guidelines"), ("text", "be kind")],
    );
    given.pass_and_execute(add);
    let edit = given.propose(
        "bob",
        "edit_document",
        &[("document", "guidelines"), ("text", "be very kind")],
    );
    given.pass_and_execute(edit);
    let delete = given.propose("carol", "delete_document", &[("document", "guidelines")]);
    given.pass_and_execute(delete);
    assert!(!given.ledger.state().documents["guidelines"].active);
    let recover = given.propose("carol", "recover_document", &[("document", "guidelines")]);
    given.pass_and_execute(recover);
    let document = &given.ledger.state().documents["guidelines"];
    assert!(document.active);
    assert_eq!(document.text, "be very kind");
    assert_eq!(document.versions.len(), 4);
}

#[test]
fn an_execution_that_cannot_apply_is_refused_at_admission() {
    // Given a grant of a role that does not exist, decided as passed
    let mut given = given("testing");
    let grant = given.propose(
        "alice",
        "grant_role",
        &[("role", "ghosts"), ("members", "bob")],
    );
    let policy = given
        .ledger
        .state()
        .policy_by_name("All constitution actions pass")
        .expect("kit")
        .clone();
    given
        .record(Record::Evaluated(Evaluation {
            action: grant,
            policy: Some((policy.id, policy.version)),
            phase: Phase::Arrival,
            at_ms: given.at_ms,
            effects: Effects {
                outcome: Some(Outcome::Passed),
                execute: true,
                ..Effects::default()
            },
        }))
        .expect("the decision is admitted");
    let before = given.ledger.state().position.next_seq;
    // When the engine would claim it executed
    let error = given
        .record(Record::ActionExecuted {
            action: grant,
            option: None,
            response: Value::Null,
        })
        .expect_err("refused");
    // Then the record is refused (the engine must record ActionExecutionFailed instead)
    assert_eq!(error.code(), "invalid_record", "{error}");
    assert_eq!(given.ledger.state().position.next_seq, before);
    given
        .record(Record::ActionExecutionFailed {
            action: grant,
            reason: "no role named \"ghosts\"".into(),
        })
        .expect("a failed execution is admitted");
}

#[test]
fn statements_that_break_the_rules_are_refused_and_change_nothing() {
    let mut given = given("testing");
    let action = given.propose("alice", "add_document", &[("name", "a"), ("text", "b")]);
    given.pass_and_execute(action);
    let open = given.propose("alice", "add_document", &[("name", "c"), ("text", "d")]);
    let before = given.ledger.state().clone();

    // A vote on a decided proposal
    let closed = given.statement(
        "bob",
        StatementBody::VoteCast {
            action,
            value: VoteValue::Yes,
        },
    );
    assert_eq!(closed.expect_err("refused").code(), "proposal_closed");
    // A vote on a proposal that does not exist
    let unknown = given.statement(
        "bob",
        StatementBody::VoteCast {
            action: ActionId(999),
            value: VoteValue::Yes,
        },
    );
    assert_eq!(unknown.expect_err("refused").code(), "unknown_proposal");
    // An election option on a proposal that is not an election
    let option = given.statement(
        "bob",
        StatementBody::VoteCast {
            action: open,
            value: VoteValue::Option(0),
        },
    );
    assert_eq!(option.expect_err("refused").code(), "invalid_vote");
    // A statement signed by bob's key that claims to be carol's
    let key = given.founded.members["bob"].clone();
    let forged = given.ledger.sign(
        "carol",
        &key,
        StatementBody::VoteCast {
            action: open,
            value: VoteValue::Yes,
        },
    );
    assert_eq!(
        given
            .ledger
            .submit(forged, 5_000)
            .expect_err("refused")
            .code(),
        "wrong_key"
    );
    // A statement replayed with a counter already used
    let signed = given.ledger.sign(
        "bob",
        &key,
        StatementBody::VoteCast {
            action: open,
            value: VoteValue::Yes,
        },
    );
    given
        .ledger
        .submit(signed.clone(), 5_000)
        .expect("first time accepted");
    let after_vote = given.ledger.state().clone();
    assert_eq!(
        given
            .ledger
            .submit(signed, 5_001)
            .expect_err("refused")
            .code(),
        "replayed"
    );
    // A member who is not one
    let stranger = ostrom::fixtures::seeded_key(99, 1);
    let outsider = given.ledger.sign(
        "mallory",
        &stranger,
        StatementBody::VoteCast {
            action: open,
            value: VoteValue::Yes,
        },
    );
    assert_eq!(
        given
            .ledger
            .submit(outsider, 5_002)
            .expect_err("refused")
            .code(),
        "unknown_member"
    );
    // A bypass by a member who holds no execute permission
    let bypass = given.record(Record::ExecutedByPermission {
        action: open,
        member: "alice".into(),
        role: "everyone".into(),
    });
    assert_eq!(bypass.expect_err("refused").code(), "invalid_record");

    // Then only the one valid vote changed the state
    assert_eq!(given.ledger.state(), &after_vote);
    assert_eq!(after_vote.position.next_seq, before.position.next_seq + 1);
}

#[test]
fn members_without_propose_permission_are_refused() {
    // Given a community whose everyone role may only propose documents
    let mut given = given("testing");
    let edit = given.propose(
        "alice",
        "edit_role",
        &[("role", "everyone"), ("propose", "add_document")],
    );
    given.pass_and_execute(edit);
    // When bob proposes a role grant
    let action = ActionSpec::parse(
        "grant_role",
        &params(&[("role", "everyone"), ("members", "bob")]),
        &|_| None,
    )
    .expect("valid");
    let refused = given.statement(
        "bob",
        StatementBody::ActionProposed {
            action,
            not_before_ms: None,
        },
    );
    // Then it is refused for lack of permission; a document is still fine
    assert_eq!(refused.expect_err("refused").code(), "not_permitted");
    given.propose("bob", "add_document", &[("name", "x"), ("text", "y")]);
}

#[test]
fn statements_the_server_vouches_for_follow_the_rules_of_the_sequencer_key() {
    // Given an open proposal
    let mut given = given("testing");
    let open = given.propose("alice", "add_document", &[("name", "c"), ("text", "d")]);
    let sequencer = ostrom::keys::public(&given.founded.sequencer);
    let vote = |value| StatementBody::VoteCast {
        action: open,
        value,
    };

    // When the server vouches for bob's vote (bob signed in with a bearer token)
    let at = given.tick();
    let vouched = given
        .ledger
        .submit_vouched("bob", vote(VoteValue::Yes), at)
        .expect("accepted");

    // Then the entry carries the bare statement, asserted by the entry signature alone,
    let statement = vouched.entry().statement().expect("a statement");
    assert!(matches!(
        vouched.entry().body,
        ostrom_schemas::Body::Vouched(_)
    ));
    assert!(statement.vouched);
    assert_eq!(*statement.author, sequencer);
    // the vote counts and the counter counts among the sequencer key's,
    let state = given.ledger.state();
    assert_eq!(
        state.actions[&open].votes["bob"].value,
        VoteValue::Yes,
        "the vouched vote counts"
    );
    assert_eq!(state.counters[&sequencer], statement.statement.counter);
    let after_vote = state.clone();

    // and a vouched statement that reuses that counter, speaks for a stranger or for
    // another community is refused like a signed one, changing nothing.
    let replayed = ostrom_schemas::verify::CheckedStatement::vouched(statement.statement.clone());
    let stranger = given
        .ledger
        .vouch("mallory", vote(VoteValue::No))
        .expect("a sequencer")
        .statement()
        .clone();
    let mut elsewhere = given
        .ledger
        .vouch("carol", vote(VoteValue::No))
        .expect("a sequencer")
        .statement()
        .clone();
    elsewhere.community = ostrom_schemas::CommunityId::ZERO;
    let verdicts = given
        .ledger
        .append_batch(
            vec![
                Sealable::Statement(replayed),
                Sealable::Statement(CheckedStatement::vouched(stranger)),
                Sealable::Statement(CheckedStatement::vouched(elsewhere)),
            ],
            at + 1,
        )
        .expect("the batch is sealed");
    let codes: Vec<&str> = verdicts
        .iter()
        .map(|verdict| verdict.as_ref().expect_err("refused").code)
        .collect();
    assert_eq!(codes, ["replayed", "unknown_member", "wrong_community"]);
    assert_eq!(given.ledger.state(), &after_vote);

    // A replay of the stored log from genesis verifies the vouched entry and reaches the
    // same state.
    let raw = given
        .ledger
        .store()
        .read_range(given.founded.community, 0, u64::MAX)
        .expect("readable");
    let mut replayed_state = ostrom_projections::GovernanceState::default();
    ostrom::ledger::verify_and_apply(&mut replayed_state, &raw, |_| {}).expect("verifies");
    assert_eq!(replayed_state.state_hash(), after_vote.state_hash());
}
