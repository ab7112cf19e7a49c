//! Ledger benchmark (issue 2): durable signed appends per second through the sled store
//! with group commit, and full replay-and-verify entries per second.
//!
//! Run: `cargo bench --bench ledger` (optionally `-- VOTES CLIENTS`). Clients are threads
//! that each own a slice of the members and submit pre-signed votes through the single
//! writer, blocking until each vote is durable, as members behind a server would. The
//! replay half reopens the store and verifies every entry from genesis (no snapshot).

use std::sync::Arc;
use std::time::Instant;

use ostrom::fixtures;
use ostrom::ledger::replay_from_store;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom::writer::Writer;
use ostrom_projections::GovernanceState;
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value, VoteValue};

const MEMBERS: usize = 1024;
const PROPOSALS: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let votes: usize = args
        .first()
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(200_000);
    let clients: usize = args.get(1).and_then(|arg| arg.parse().ok()).unwrap_or(64);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn LogStore> =
        Arc::new(SledStore::open(dir.path().join("store")).expect("sled opens"));
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) = fixtures::found(
        store.clone(),
        "bench",
        "democracy",
        &names,
        7,
        1_700_000_000_000,
    )
    .expect("founded");

    // Proposals to vote on, from the founder.
    let mut proposals = Vec::new();
    for index in 0..PROPOSALS {
        let params = Params::from([
            ("channel".to_owned(), Value::from("C1")),
            ("text".to_owned(), Value::from(format!("proposal {index}"))),
        ]);
        let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
        let signed = ledger.sign(
            &names[0],
            &founded.members[&names[0]],
            StatementBody::ActionProposed {
                action,
                not_before_ms: None,
            },
        );
        proposals.push(ActionId(
            ledger
                .submit(signed, 1_700_000_000_001)
                .expect("proposed")
                .entry()
                .seq,
        ));
    }

    // Pre-sign every vote: signing is the members' work, not the server's.
    let started = Instant::now();
    let per_client = votes / clients;
    let mut work: Vec<Vec<ostrom_schemas::Signed>> = vec![Vec::with_capacity(per_client); clients];
    let mut counters = vec![1u64; MEMBERS];
    counters[0] = PROPOSALS + 1;
    for index in 0..per_client * clients {
        let client = index % clients;
        // Each member belongs to one client, so its counters arrive in order.
        let member = client + clients * ((index / clients) % (MEMBERS / clients));
        let counter = counters[member] + 1;
        counters[member] = counter;
        let value = if index % 3 == 0 {
            VoteValue::No
        } else {
            VoteValue::Yes
        };
        let action = proposals[index % proposals.len()];
        work[client].push(founded.sign(
            &names[member],
            counter,
            StatementBody::VoteCast { action, value },
        ));
    }
    eprintln!(
        "signed {} votes in {:.1} s",
        per_client * clients,
        started.elapsed().as_secs_f64()
    );

    let base = ledger.state().position.next_seq;
    let (writer, thread) = Writer::spawn(ledger, ostrom::clock::now_ms);
    let started = Instant::now();
    let latencies: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|statements| {
                let writer = writer.clone();
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(statements.len());
                    for signed in statements {
                        let sent = Instant::now();
                        writer.submit(signed).expect("every vote is accepted");
                        latencies.push(sent.elapsed().as_micros() as u64);
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("client"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    drop(writer);
    let ledger = thread.join();
    let appended = ledger.state().position.next_seq - base;
    let mut all: Vec<u64> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let percentile =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "appends: {appended} durable signed votes from {clients} clients in {elapsed:.2} s = {:.0} appends/s (p50 {:.2} ms, p99 {:.2} ms)",
        appended as f64 / elapsed,
        percentile(0.50),
        percentile(0.99)
    );
    let expected_hash = ledger.state().state_hash();
    let total = ledger.state().position.next_seq;
    drop(ledger);

    let started = Instant::now();
    let mut state = GovernanceState::default();
    replay_from_store(
        &*store,
        founded.community,
        &mut state,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("the log verifies");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        state.state_hash(),
        expected_hash,
        "replay reproduces the live state"
    );
    println!(
        "replay-and-verify: {total} entries in {elapsed:.2} s = {:.0} entries/s (2 signatures per vote, batch verification on {} threads)",
        total as f64 / elapsed,
        rayon::current_num_threads()
    );
}
