//! The writer when the store refuses a write (DESIGN.md §9): the group commit that failed
//! and every group sealed on top of it are answered with a store error and leave nothing in
//! the log; the writer rebuilds its state from the store and carries on. The flush stage
//! keeps one group in the store while it answers the one before, so this is where a group
//! could land on top of one that failed if the store did not decide appends in order.

use std::sync::Arc;

use ostrom::fixtures;
use ostrom::ledger::{Ledger, NoReactor};
use ostrom::store::memory::MemoryStore;
use ostrom::store::LogStore;
use ostrom::writer::{Pending, Receipt, SubmitError, Writer};
use ostrom_schemas::{ActionSpec, Params, StatementBody, Value, VoteValue};

const MEMBERS: usize = 48;

#[test]
fn a_failed_write_loses_only_unacknowledged_votes_and_the_writer_carries_on() {
    // Given a community with one open proposal, its writer, and a store that will refuse
    // its next append
    let store = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "failing", "democracy", &names, 11, 1_000).expect("founded");
    let params = Params::from([("text".to_owned(), Value::from("hello"))]);
    let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
    let proposal = founded
        .propose(&mut ledger, &names[0], action, 2_000)
        .expect("proposed");
    let community = ledger.community();
    let (writer, threads) = Writer::spawn(ledger, Box::new(NoReactor), ostrom::clock::now_ms);
    store.fail_next_appends(1);

    // When every other member votes at once (all enqueued before any answer is awaited)
    let vote = |member: &String| {
        founded.sign(
            member,
            1,
            StatementBody::VoteCast {
                action: proposal,
                value: VoteValue::Yes,
            },
        )
    };
    let pending: Vec<(&String, Pending)> = names
        .iter()
        .skip(1)
        .map(|member| (member, writer.enqueue(vote(member))))
        .collect();
    let answers: Vec<(&String, Result<Receipt, SubmitError>)> = pending
        .into_iter()
        .map(|(member, pending)| (member, pending.wait()))
        .collect();

    // Then the votes of the failed group are refused with a store error, none otherwise
    let refused: Vec<&String> = answers
        .iter()
        .filter_map(|(member, answer)| match answer {
            Ok(_) => None,
            Err(SubmitError::Store(_)) => Some(*member),
            Err(other) => panic!("{member}: only store errors expected, got {other}"),
        })
        .collect();
    assert!(!refused.is_empty(), "the injected failure refused no vote");
    assert_eq!(store.appends_to_fail(), 0);

    // And when the refused members vote again (their counters were never used), they are
    // accepted: the writer rebuilt its state from what the store holds
    let retried: Vec<(&String, Result<Receipt, SubmitError>)> = refused
        .iter()
        .map(|member| (*member, writer.submit(vote(member))))
        .collect();
    for (member, answer) in &retried {
        assert!(answer.is_ok(), "{member}'s second vote: {answer:?}");
    }
    writer.close();
    threads.join();

    // And the log verifies from genesis and holds every acknowledged vote at the seq and
    // with the hash its voter was given, each member's vote exactly once
    let replayed = Ledger::open(store.clone(), community, None, false).expect("the log verifies");
    let acknowledged: Vec<Receipt> = answers
        .into_iter()
        .chain(retried)
        .filter_map(|(_, answer)| answer.ok())
        .collect();
    assert_eq!(acknowledged.len(), MEMBERS - 1);
    assert_eq!(
        replayed.state().position.next_seq,
        proposal.0 + 1 + acknowledged.len() as u64,
        "nothing but the acknowledged votes follows the proposal"
    );
    for receipt in &acknowledged {
        let bytes = store
            .read_range(community, receipt.seq, receipt.seq + 1)
            .expect("readable");
        assert_eq!(
            ostrom_schemas::entry::hash_entry_bytes(&bytes[0]),
            receipt.hash,
            "seq {}",
            receipt.seq
        );
    }
    let voters = replayed.state().actions[&proposal].votes.len();
    assert_eq!(voters, MEMBERS - 1, "every member's vote counted once");
}
