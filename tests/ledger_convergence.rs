//! Convergence: a log replayed twice, and a snapshot plus the suffix after it, give one
//! state hash, equal to the state the live ledger built while appending (DESIGN.md §3).

use std::sync::Arc;

use ostrom::fixtures;
use ostrom::ledger::{replay_from_store, Ledger};
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom_projections::GovernanceState;
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value, VoteValue};

const MEMBERS: usize = 50;
const PROPOSALS: usize = 1_000;
const VOTES: usize = 9_000;

fn replay(store: &dyn LogStore, community: ostrom_schemas::CommunityId) -> GovernanceState {
    let mut state = GovernanceState::default();
    replay_from_store(
        store,
        community,
        &mut state,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("the log verifies");
    state
}

#[test]
fn full_replays_and_snapshot_plus_suffix_give_one_state_hash() {
    // Given a community with 50 members on a sled store
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn LogStore> =
        Arc::new(SledStore::open(dir.path().join("store")).expect("sled opens"));
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "convergence", "democracy", &names, 1, 1_000)
            .expect("founded");
    let key = |name: &str| founded.members[name].clone();

    // When members append 1,000 proposals and 9,000 votes and withdrawals, with a snapshot
    // taken half way
    let mut proposals = Vec::new();
    let mut at_ms = 2_000;
    for index in 0..PROPOSALS {
        let member = &names[index % MEMBERS];
        let params = Params::from([
            ("channel".to_owned(), Value::from(format!("C{}", index % 7))),
            ("text".to_owned(), Value::from(format!("message {index}"))),
        ]);
        let action = if index % 10 == 0 {
            let params = Params::from([
                ("name".to_owned(), Value::from(format!("doc-{index}"))),
                ("text".to_owned(), Value::from("text")),
            ]);
            ActionSpec::parse("add_document", &params, &|_| None).expect("valid")
        } else {
            ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid")
        };
        let signed = ledger.sign(
            member,
            &key(member),
            StatementBody::ActionProposed {
                action,
                not_before_ms: None,
            },
        );
        at_ms += 7;
        proposals.push(ActionId(
            ledger
                .submit(signed, at_ms)
                .expect("proposal accepted")
                .entry()
                .seq,
        ));
    }
    for index in 0..VOTES {
        let member = &names[(index * 7) % MEMBERS];
        let action = proposals[(index * 13) % PROPOSALS];
        let has_vote = ledger.state().actions[&action]
            .votes
            .contains_key(member.as_str());
        let body = if has_vote && index % 5 == 0 {
            StatementBody::VoteWithdrawn { action }
        } else {
            let value = match index % 3 {
                0 => VoteValue::Yes,
                1 => VoteValue::No,
                _ => VoteValue::Choice("abstain".into()),
            };
            StatementBody::VoteCast { action, value }
        };
        let signed = ledger.sign(member, &key(member), body);
        at_ms += 3;
        ledger.submit(signed, at_ms).expect("vote accepted");
        if index == VOTES / 2 {
            ledger.save_snapshot().expect("snapshot saved");
        }
    }
    let live = ledger.state().state_hash();
    let entries = ledger.state().position.next_seq;
    assert_eq!(entries, 1 + (PROPOSALS + VOTES) as u64);
    drop(ledger);

    // Then two full replays from genesis give the live state's hash
    let first = replay(&*store, founded.community);
    let second = replay(&*store, founded.community);
    assert_eq!(first.state_hash(), live, "first replay diverged");
    assert_eq!(second.state_hash(), live, "second replay diverged");
    assert_eq!(first, second);

    // And opening from the snapshot replays only the suffix to the same hash
    let snapshot = store
        .load_snapshot(founded.community)
        .expect("readable")
        .expect("a snapshot exists");
    assert!(
        snapshot.covers > 1 + PROPOSALS as u64 && snapshot.covers < entries,
        "snapshot covers {}",
        snapshot.covers
    );
    let reopened = Ledger::open(store.clone(), founded.community, None, false)
        .expect("opens from the snapshot");
    assert_eq!(
        reopened.state().state_hash(),
        live,
        "snapshot + suffix diverged"
    );
}

#[test]
fn a_snapshot_that_does_not_match_the_log_is_refused() {
    // Given a community whose stored snapshot claims a head the log does not have
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn LogStore> =
        Arc::new(SledStore::open(dir.path().join("store")).expect("sled opens"));
    let names = fixtures::member_names(3);
    let (ledger, founded) =
        fixtures::found(store.clone(), "snap", "testing", &names, 2, 1_000).expect("founded");
    let mut state = ledger.state().clone();
    state.position.head = ostrom_schemas::Hash([7; 32]);
    store
        .save_snapshot(
            founded.community,
            ostrom::store::Snapshot {
                covers: state.position.next_seq,
                bytes: state.encode(),
            },
        )
        .expect("saved");
    // When the ledger is opened
    let error = Ledger::open(store, founded.community, None, false)
        .err()
        .expect("refused");
    // Then the snapshot is reported as corrupt instead of being trusted
    assert_eq!(error.code(), "store_corrupt", "{error}");
}
