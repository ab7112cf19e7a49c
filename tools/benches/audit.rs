//! Auditor's benchmark (issue 5): full verification of a randomised log with and without
//! re-executing every recorded evaluation, in entries per second, and the Merkle tree and
//! proof sizes over the same log.
//!
//! Run: `cargo bench --bench audit` (optionally `-- ENTRIES SEED`, default 1,000,000 and 1).
//! The log is written through the real engine (democracy kit, 16 members): a seeded ChaCha
//! stream draws proposals (constitution and platform actions) and yes/no votes on open
//! proposals, so it holds arrivals, decisions, executions and votes in the proportions a
//! busy community would. Writing it is not measured. Then, from genesis with no snapshot:
//! verification (chain, every signature batched on every core, members, keys, state rules)
//! without re-execution, and again with every `Evaluated` re-run (`ostrom verify`); both
//! must reproduce the live state hash.

use std::sync::Arc;
use std::time::Instant;

use ostrom::engine::reexecute::Audit;
use ostrom::engine::{Engine, HttpSource, NoPlatforms};
use ostrom::fixtures;
use ostrom::ledger::{replay_from_store, replay_inspecting, Ledger};
use ostrom::merkle::{self, LogTree};
use ostrom::policy::{NoHttp, Runtime};
use ostrom::store::memory::MemoryStore;
use ostrom::store::LogStore;
use ostrom_projections::GovernanceState;
use ostrom_schemas::verify::Sealable;
use ostrom_schemas::{ActionSpec, Body, Params, Record, StatementBody, Value, VoteValue};
use rand::{Rng, SeedableRng};

const MEMBERS: usize = 16;
/// Statements sealed per batch while writing the log.
const BATCH_STATEMENTS: usize = 1024;
/// Of every 100 statements, this many are new proposals (the rest are votes).
const PROPOSALS_PER_HUNDRED: u32 = 20;

/// CPU seconds this process has used (user + system), from /proc (Linux): unlike wall
/// time, it does not grow when other processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let clock_ticks_per_second = 100.0;
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / clock_ticks_per_second
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse::<u64>().ok());
    let target = args.next().unwrap_or(1_000_000);
    let seed = args.next().unwrap_or(1);
    let mut random = rand_chacha::ChaCha20Rng::seed_from_u64(seed);

    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(MEMBERS);
    let start_ms = 1_700_000_000_000;
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "audit", "democracy", &names, seed, start_ms)
            .expect("founded");
    let mut engine = Engine::new(
        Arc::new(Runtime::new()),
        Arc::new(NoPlatforms),
        HttpSource::Fixed(Arc::new(NoHttp)),
    );
    let mut counters = [0u64; MEMBERS];
    let mut documents = 0u64;
    let mut now_ms = start_ms;
    let writing = Instant::now();
    while ledger.state().position.next_seq < target {
        let open: Vec<_> = ledger.state().open.iter().copied().collect();
        let mut batch = Vec::with_capacity(BATCH_STATEMENTS);
        for _ in 0..BATCH_STATEMENTS {
            let member = random.gen_range(0..MEMBERS);
            let body = if open.is_empty() || random.gen_ratio(PROPOSALS_PER_HUNDRED, 100) {
                documents += 1;
                let (action_type, params) = if random.gen_bool(0.5) {
                    (
                        "add_document",
                        Params::from([
                            ("name".to_owned(), Value::from(format!("doc-{documents}"))),
                            ("text".to_owned(), Value::from("text")),
                        ]),
                    )
                } else {
                    (
                        "slack.post_message",
                        Params::from([("text".to_owned(), Value::from("hello"))]),
                    )
                };
                StatementBody::ActionProposed {
                    action: ActionSpec::parse(action_type, &params, &|_| None).expect("valid"),
                    not_before_ms: None,
                }
            } else {
                StatementBody::VoteCast {
                    action: open[random.gen_range(0..open.len())],
                    value: if random.gen_ratio(2, 3) {
                        VoteValue::Yes
                    } else {
                        VoteValue::No
                    },
                }
            };
            counters[member] += 1;
            batch.push(founded.sign(&names[member], counters[member], body));
        }
        let items = Ledger::check_statements(batch)
            .into_iter()
            .map(|checked| Sealable::Statement(checked.expect("well signed")))
            .collect();
        now_ms += 1_000;
        // Votes on proposals decided earlier in the batch are refused, which is fine.
        ledger
            .append_with(items, now_ms, &mut engine, true)
            .expect("durable");
    }
    let total = ledger.state().position.next_seq;
    let live_hash = ledger.state().state_hash();
    let entries: Vec<Vec<u8>> = store.read_range(founded.community, 0, total).expect("read");
    let evaluations = entries
        .iter()
        .filter(|bytes| {
            matches!(
                ostrom_schemas::Entry::decode(bytes).map(|entry| entry.body),
                Ok(Body::Record(Record::Evaluated(_)))
            )
        })
        .count();
    println!(
        "ostrom audit benchmark: {total} entries ({evaluations} evaluations) written in {:.1} s, seed {seed}, {} cores",
        writing.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    drop(ledger);

    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut state = GovernanceState::default();
    replay_from_store(
        &*store,
        founded.community,
        &mut state,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("the log verifies");
    let plain = started.elapsed().as_secs_f64();
    let plain_cpu = cpu_seconds() - cpu;
    assert_eq!(
        state.state_hash(),
        live_hash,
        "replay reproduces the live state"
    );
    println!(
        "verify without re-execution: {total} entries in {plain:.2} s = {:.0} entries/s; {:.1} CPU-µs per entry",
        total as f64 / plain,
        plain_cpu * 1e6 / total as f64
    );

    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut state = GovernanceState::default();
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    replay_inspecting(
        &*store,
        founded.community,
        &mut state,
        u64::MAX,
        &indicatif::ProgressBar::hidden(),
        &mut |state, entry| audit.inspect(state, entry),
    )
    .expect("the log verifies with re-execution");
    let full = started.elapsed().as_secs_f64();
    let full_cpu = cpu_seconds() - cpu;
    assert_eq!(
        state.state_hash(),
        live_hash,
        "replay reproduces the live state"
    );
    assert_eq!(
        audit.reexecuted as usize, evaluations,
        "every evaluation was re-run"
    );
    println!(
        "verify with re-execution: {total} entries in {full:.2} s = {:.0} entries/s; {:.1} CPU-µs per entry ({} evaluations re-executed, {:.1} µs each on average beyond plain verification)",
        total as f64 / full,
        full_cpu * 1e6 / total as f64,
        audit.reexecuted,
        (full - plain).max(0.0) * 1e6 / audit.reexecuted.max(1) as f64
    );

    let started = Instant::now();
    let hashes = merkle::entry_hashes(&*store, founded.community, total).expect("hashes");
    let tree = LogTree::from_hashes(hashes.iter().copied());
    let building = started.elapsed().as_secs_f64();
    println!(
        "merkle tree over {total} entry hashes: {building:.2} s = {:.0} leaves/s, root {}",
        total as f64 / building,
        tree.root().short()
    );
    let inclusion = tree.prove_inclusion(total / 3).expect("in the tree");
    let proof = merkle::prove_inclusion(&*store, founded.community, total / 3, total)
        .expect("an inclusion proof");
    let json = serde_json::to_string(&proof).expect("encodes");
    println!(
        "inclusion proof at size {total}: {} hashes = {} bytes of path; as JSON with the entry: {} bytes",
        inclusion.len(),
        inclusion.len() * 32,
        json.len()
    );
    for old in [total / 2, total - 1, 1_000.min(total - 1)] {
        let path = tree.prove_consistency(old).expect("a prefix");
        println!(
            "consistency proof {old} -> {total}: {} hashes = {} bytes",
            path.len(),
            path.len() * 32
        );
    }
}
