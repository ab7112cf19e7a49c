//! Ledger benchmark (issue 2): durable signed appends per second through the sled store
//! with group commit, and full replay-and-verify entries per second, in one run.
//!
//! Run: `cargo bench --bench ledger` (optionally `-- VOTES_PER_PHASE`). Members' votes are
//! signed before the clock starts (signing is the members' work, not the server's). Each
//! phase has N clients with one vote in flight each, multiplexed over a few submitting
//! threads as connections over an async server's workers; every vote is acknowledged only
//! once it is durable (flush + fsync). The replay half reopens the store and verifies
//! every entry from genesis (no snapshot): chain, both signatures of every vote (batched,
//! on every core), membership, keys and counters.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ostrom::fixtures::{self, Founded};
use ostrom::ledger::NoReactor;
use ostrom::ledger::{replay_from_store, Ledger};
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom::writer::{Pending, Writer};
use ostrom_projections::GovernanceState;
use ostrom_schemas::{ActionId, ActionSpec, Params, Signed, StatementBody, Value, VoteValue};

const MEMBERS: usize = 4096;
const PROPOSALS: u64 = 64;
const SUBMITTER_THREADS: usize = 4;
const CONCURRENCY: &[usize] = &[64, 256, 1024];

struct Votes {
    names: Vec<String>,
    counters: Vec<u64>,
    proposals: Vec<ActionId>,
}

impl Votes {
    /// `count` votes for `clients` clients; each member belongs to one client, so its
    /// counters arrive in order.
    fn sign(&mut self, founded: &Founded, count: usize, clients: usize) -> Vec<Vec<Signed>> {
        let per_client = count / clients;
        let members_per_client = self.names.len() / clients;
        let mut work: Vec<Vec<Signed>> = vec![Vec::with_capacity(per_client); clients];
        for index in 0..per_client * clients {
            let client = index % clients;
            let member = client + clients * ((index / clients) % members_per_client);
            self.counters[member] += 1;
            let value = if index % 3 == 0 {
                VoteValue::No
            } else {
                VoteValue::Yes
            };
            let action = self.proposals[index % self.proposals.len()];
            work[client].push(founded.sign(
                &self.names[member],
                self.counters[member],
                StatementBody::VoteCast { action, value },
            ));
        }
        work
    }
}

fn append_phase(ledger: Ledger, work: Vec<Vec<Signed>>) -> (Ledger, String) {
    let clients = work.len();
    let base = ledger.state().position.next_seq;
    let (writer, threads) = Writer::spawn(ledger, Box::new(NoReactor), ostrom::clock::now_ms);
    let submitters = SUBMITTER_THREADS.min(clients);
    let mut lanes: Vec<Vec<Vec<Signed>>> = (0..submitters).map(|_| Vec::new()).collect();
    for (client, statements) in work.into_iter().enumerate() {
        lanes[client % submitters].push(statements);
    }
    let started = Instant::now();
    let latencies: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|clients| {
                let writer = writer.clone();
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut queues: Vec<std::vec::IntoIter<Signed>> =
                        clients.into_iter().map(Vec::into_iter).collect();
                    let mut in_flight: VecDeque<(usize, Instant, Pending)> = VecDeque::new();
                    for (client, queue) in queues.iter_mut().enumerate() {
                        if let Some(signed) = queue.next() {
                            in_flight.push_back((client, Instant::now(), writer.enqueue(signed)));
                        }
                    }
                    while let Some((client, sent, pending)) = in_flight.pop_front() {
                        pending.wait().expect("every vote is accepted");
                        latencies.push(sent.elapsed().as_micros() as u64);
                        if let Some(signed) = queues[client].next() {
                            in_flight.push_back((client, Instant::now(), writer.enqueue(signed)));
                        }
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
    let ledger = threads.join();
    let appended = ledger.state().position.next_seq - base;
    let mut all: Vec<u64> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let percentile =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    let line = format!(
        "appends, {clients:>4} concurrent clients: {appended} durable signed votes in {elapsed:.2} s = {:.0} appends/s (latency p50 {:.2} ms, p99 {:.2} ms)",
        appended as f64 / elapsed,
        percentile(0.50),
        percentile(0.99)
    );
    (ledger, line)
}

fn main() {
    let votes: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(200_000);

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

    let mut proposals = Vec::new();
    for index in 0..PROPOSALS {
        let params = Params::from([
            ("channel".to_owned(), Value::from("C1")),
            ("text".to_owned(), Value::from(format!("proposal {index}"))),
        ]);
        let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
        proposals.push(
            founded
                .propose(&mut ledger, &names[0], action, 1_700_000_000_001)
                .expect("proposed"),
        );
    }
    let mut counters = vec![0u64; MEMBERS];
    counters[0] = PROPOSALS;
    let mut plan = Votes {
        names,
        counters,
        proposals,
    };

    println!(
        "ostrom ledger benchmark: sled store, group commit with fsync, {} cores",
        rayon::current_num_threads()
    );
    for &clients in CONCURRENCY {
        let work = plan.sign(&founded, votes, clients);
        let (next, line) = append_phase(ledger, work);
        ledger = next;
        println!("{line}");
    }
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
        "replay-and-verify: {total} entries in {elapsed:.2} s = {:.0} entries/s (2 signatures per vote, batch-verified)",
        total as f64 / elapsed
    );
}
