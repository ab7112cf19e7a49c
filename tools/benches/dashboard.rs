//! Dashboard benchmark (issue 6): how long the pages of a big community take to render.
//!
//! Run: `cargo bench --bench dashboard` (optionally `-- ENTRIES PROPOSALS SEED`, default
//! 100,000 entries, 10,000 proposals, seed 1). A community of 24 members under the
//! `democracy` kit is written through the real engine into a sled data directory: proposals
//! (half `add_document`, half `slack.post_message`) and yes/no votes on recent open ones,
//! so the log holds arrivals, votes, decisions and executions, and some proposals stay
//! open. Writing it is not measured. Then a release `ostrom serve` opens the directory
//! (start-up is reported) and one client on loopback, signed in with a member's cookie,
//! fetches each page many times in turn; the first fetch of each page is reported apart
//! (it includes the state hash of the head, computed once per head). Target: the home page
//! under 100 ms.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostrom::engine::{Engine, HttpSource, NoPlatforms};
use ostrom::fixtures;
use ostrom::keys::KeyDir;
use ostrom::ledger::Ledger;
use ostrom::policy::{NoHttp, Runtime};
use ostrom::server::tokens::TokenStore;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom_schemas::verify::Sealable;
use ostrom_schemas::{ActionSpec, Params, StatementBody, Value, VoteValue};
use rand::{Rng, SeedableRng};

const MEMBERS: usize = 24;
const BATCH_STATEMENTS: usize = 512;
/// Votes go to one of this many newest open proposals, as members vote on what is new.
const VOTED_WINDOW: usize = 48;
/// Fetches of each page after the first.
const FETCHES: usize = 200;
/// Fetches of each page that replays the log.
const REPLAYING_FETCHES: usize = 3;

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ostrom serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .expect("serve prints its address")
        .to_owned();
    Server { child, address }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse::<u64>().ok());
    let target_entries = args.next().unwrap_or(100_000);
    let target_proposals = args.next().unwrap_or(10_000);
    let seed = args.next().unwrap_or(1);
    let mut random = rand_chacha::ChaCha20Rng::seed_from_u64(seed);

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let names = fixtures::member_names(MEMBERS);
    let writing = Instant::now();
    let (community, proposals, entries, open) = {
        let store: Arc<dyn LogStore> =
            Arc::new(SledStore::open(data.join("store")).expect("sled opens"));
        // A day ago, one second per batch: the newest proposals are still open when the
        // server starts (the kit's majority vote gives each three days).
        let start_ms = ostrom::clock::now_ms() - 86_400_000;
        let (mut ledger, founded) =
            fixtures::found(store, "bench", "democracy", &names, seed, start_ms).expect("founded");
        KeyDir::new(data, founded.community)
            .save_sequencer(&founded.sequencer)
            .expect("sequencer key saved");
        let mut engine = Engine::new(
            Arc::new(Runtime::new()),
            Arc::new(NoPlatforms),
            HttpSource::Fixed(Arc::new(NoHttp)),
        );
        let mut counters = [0u64; MEMBERS];
        let mut proposals = 0u64;
        let mut now_ms = start_ms;
        // Proposals are spread so both targets are reached together: each proposal brings
        // an arrival evaluation, each vote an evaluation, each decision an execution.
        let proposal_share = (target_proposals as f64 * 2.0 / target_entries as f64).min(1.0);
        while ledger.state().position.next_seq < target_entries || proposals < target_proposals {
            let open: Vec<_> = ledger
                .state()
                .open
                .iter()
                .rev()
                .take(VOTED_WINDOW)
                .copied()
                .collect();
            let mut batch = Vec::with_capacity(BATCH_STATEMENTS);
            for _ in 0..BATCH_STATEMENTS {
                let member = random.gen_range(0..MEMBERS);
                let propose = proposals < target_proposals
                    && (open.is_empty() || random.gen_bool(proposal_share));
                let body = if propose {
                    proposals += 1;
                    let (action_type, params) = if random.gen_bool(0.5) {
                        (
                            "add_document",
                            Params::from([
                                ("name".to_owned(), Value::from(format!("doc-{proposals}"))),
                                ("text".to_owned(), Value::from("A rule members proposed.")),
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
                } else if !open.is_empty() {
                    StatementBody::VoteCast {
                        action: open[random.gen_range(0..open.len())],
                        value: if random.gen_ratio(2, 3) {
                            VoteValue::Yes
                        } else {
                            VoteValue::No
                        },
                    }
                } else {
                    continue;
                };
                counters[member] += 1;
                batch.push(founded.sign(&names[member], counters[member], body));
            }
            let items = Ledger::check_statements(batch)
                .into_iter()
                .map(|checked| Sealable::Statement(checked.expect("well signed")))
                .collect();
            now_ms += 1_000;
            ledger
                .append_with(items, now_ms, &mut engine, true)
                .expect("durable");
        }
        let state = ledger.state();
        (
            founded.community,
            proposals,
            state.position.next_seq,
            state.open.len(),
        )
    };
    let token = TokenStore::open(data)
        .expect("token store")
        .issue(community, &names[0], "bench", ostrom::clock::now_ms())
        .expect("token")
        .0;
    println!(
        "ostrom dashboard benchmark: {entries} entries, {proposals} proposals ({open} open), {MEMBERS} members, written in {:.1} s, seed {seed}",
        writing.elapsed().as_secs_f64()
    );

    let starting = Instant::now();
    let server = start(data);
    println!(
        "server start-up (open, replay, rebuild the audit trail): {:.0} ms",
        starting.elapsed().as_secs_f64() * 1e3
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let newest = proposals_newest(&client, &server, &token);
    let pages = [
        ("home", "/c/bench".to_owned()),
        ("proposals (newest 50)", "/c/bench/proposals".to_owned()),
        (
            "open proposals",
            "/c/bench/proposals?status=proposed".to_owned(),
        ),
        (
            "proposals by type",
            "/c/bench/proposals?action_type=add_document".to_owned(),
        ),
        ("a proposal", format!("/c/bench/proposals/{newest}")),
        ("policies", "/c/bench/policies".to_owned()),
        ("audit trail (first 50)", "/c/bench/audit".to_owned()),
        (
            "audit, one member",
            format!("/c/bench/audit?member={}", names[3]),
        ),
        ("audit, notable only", "/c/bench/audit?notable=1".to_owned()),
        ("roles", "/c/bench/roles".to_owned()),
        ("members (first 100)", "/c/bench/members".to_owned()),
        ("documents (first 100)", "/c/bench/documents".to_owned()),
    ];
    println!();
    println!("| page | first fetch | p50 | p99 | max | bytes |");
    println!("|---|---|---|---|---|---|");
    for (name, path) in pages {
        let url = format!("http://{}{path}", server.address);
        let fetch = || {
            let started = Instant::now();
            let response = client
                .get(&url)
                .header("cookie", format!("ostrom_session={token}"))
                .send()
                .expect("GET");
            assert_eq!(response.status(), 200, "{path}");
            let bytes = response.bytes().expect("body").len();
            (started.elapsed(), bytes)
        };
        let (first, bytes) = fetch();
        let mut times: Vec<Duration> = (0..FETCHES).map(|_| fetch().0).collect();
        times.sort();
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {bytes} |",
            first.as_secs_f64() * 1e3,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    replaying_pages(&client, &server, &token, entries);
}

/// Pages that replay the log (time travel, diffs), fetched a few times each.
fn replaying_pages(client: &reqwest::blocking::Client, server: &Server, token: &str, entries: u64) {
    println!();
    println!("| replaying page | fetches | mean |");
    println!("|---|---|---|");
    let half = entries / 2;
    for (name, path) in [
        (
            "time travel to the middle of the log",
            format!("/c/bench/history?at={half}"),
        ),
        (
            "diff from the middle to the head",
            format!("/c/bench/history?from={half}&to={}", entries - 1),
        ),
    ] {
        let url = format!("http://{}{path}", server.address);
        let started = Instant::now();
        for _ in 0..REPLAYING_FETCHES {
            let response = client
                .get(&url)
                .header("cookie", format!("ostrom_session={token}"))
                .send()
                .expect("GET");
            assert_eq!(response.status(), 200, "{path}");
        }
        println!(
            "| {name} | {REPLAYING_FETCHES} | {:.0} ms |",
            started.elapsed().as_secs_f64() * 1e3 / REPLAYING_FETCHES as f64
        );
    }
}

/// The newest proposal's id (through the API).
fn proposals_newest(client: &reqwest::blocking::Client, server: &Server, token: &str) -> u64 {
    let answer: serde_json::Value = client
        .get(format!(
            "http://{}/api/v1/communities/bench/proposals?status=proposed&limit=1",
            server.address
        ))
        .bearer_auth(token)
        .send()
        .expect("GET")
        .json()
        .expect("JSON");
    answer["proposals"][0]["id"].as_u64().unwrap_or(1)
}
