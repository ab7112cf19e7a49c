//! Server load benchmark (issue 4): a real `ostrom serve` (release build) in its own
//! process, driven over loopback HTTP from this process.
//!
//! Run: `cargo bench --bench serve_load` (optionally `-- SECONDS_PER_PHASE MEMBERS`).
//!
//! 1. **Durable votes**: 64 clients, each a member with a bearer token and one request in
//!    flight, vote on open proposals of a democracy-kit community (members cast alternating
//!    yes and no on many proposals, so none closes and every vote runs the policy's
//!    `check`). A vote counts once its 201 arrives, which the server sends only after the
//!    entry is durable (sled flush + fsync) and published. Reported: votes/s, p50/p99/max
//!    latency.
//!    Then a **burst**: 2,000 connections voting at once (the 64 members share them);
//!    reported the same way, with any request that did not get its 201 counted as failed.
//! 2. **Reads of the proposals list**: 64 clients read `GET .../proposals` (the first page
//!    of open proposals, 20 and 100 per page) while nothing writes. Reported: reads/s, p50/p99.
//!
//! Each client is one keep-alive HTTP/1.1 connection (hyper) with one request in flight.
//! Both processes share this machine's cores, so the figures include the load generator's
//! own cost.
//!
//! This machine is a shared VM whose speed drifts by up to a third from minute to minute, and
//! the vote rate follows it; so the run starts and ends by timing ed25519 signing on one core
//! (the entry signature is a sixth of a vote's CPU) and prints both rates as the host's speed.
//! It catches a slow core, not every slowdown: on 2026-12-01 it read about 60k signatures/s
//! both around an 8.0k and a 12.4k votes/s run of one binary, and about 86k on the faster
//! host of the next session (tools/BENCHMARKS.md).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use serde_json::json;

const CLIENTS: usize = 64;
/// Connections in the burst phase.
const BURST_CLIENTS: usize = 2_000;
const PROPOSALS: usize = 256;
const WARM_UP: Duration = Duration::from_secs(1);
const HOST_SPEED_SAMPLE: Duration = Duration::from_secs(1);

/// The clients' bearer tokens, one member each.
static TOKENS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

struct Server {
    child: Child,
    address: String,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn ostrom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ostrom"))
}

fn start(data: &std::path::Path, operator: &str) -> Server {
    let mut child = ostrom()
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .env("OSTROM_OPERATOR_TOKEN", operator)
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
        .unwrap()
        .to_owned();
    Server {
        child,
        base: format!("http://{address}/api/v1/communities/bench"),
        address,
    }
}

/// One client's connection.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    async fn open(address: &str) -> Connection {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        Connection {
            sender,
            host: address.to_owned(),
        }
    }

    /// Send a request and read the whole answer; the status, or 0 if the connection failed.
    async fn send(&mut self, method: &str, path: &str, token: &str, body: Option<String>) -> u16 {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        if self.sender.ready().await.is_err() {
            return 0;
        }
        match self.sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.into_body().collect().await {
                    Ok(_) => status,
                    Err(_) => 0,
                }
            }
            Err(_) => 0,
        }
    }
}

struct Phase {
    done: u64,
    failed: u64,
    seconds: f64,
    latency_us: Histogram<u64>,
    /// CPU time (user + system) the server and this load generator spent in the phase.
    server_cpu_ms: u64,
    client_cpu_ms: u64,
}

/// CPU time (user + system, ms) a process has used so far, from /proc.
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields
        .get(11..13)
        .map(|both| both.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // Linux reports clock ticks of 1/100 s on every platform this runs on.
    ticks * 10
}

impl Phase {
    fn report(&self, what: &str) -> String {
        let per = |ms: u64| ms as f64 * 1000.0 / self.done.max(1) as f64;
        format!(
            "{what}: {:.0}/s ({} in {:.1} s, {} failed), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; CPU per request: server {:.0} µs, load generator {:.0} µs",
            self.done as f64 / self.seconds,
            self.done,
            self.seconds,
            self.failed,
            self.latency_us.value_at_quantile(0.50) as f64 / 1000.0,
            self.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            self.latency_us.max() as f64 / 1000.0,
            per(self.server_cpu_ms),
            per(self.client_cpu_ms),
        )
    }
}

/// Run `CLIENTS` loops of `request` for `seconds` after a warm-up; each loop has its own
/// connection and one request in flight; `request(client, turn)` says what to send and
/// which status means success.
async fn phase<F>(clients: usize, server_pid: u32, address: &str, seconds: u64, request: F) -> Phase
where
    F: Fn(usize, u64) -> (&'static str, String, Option<String>, u16) + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (request, measuring, stop) = (request.clone(), measuring.clone(), stop.clone());
            let address = address.to_owned();
            tokio::spawn(async move {
                let mut connection = Connection::open(&address).await;
                let mut histogram = Histogram::<u64>::new(3).unwrap();
                let (mut done, mut failed) = (0u64, 0u64);
                let mut turn = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    turn += 1;
                    let (method, path, body, expected) = request(client, turn);
                    let started = Instant::now();
                    let tokens = TOKENS.get().unwrap();
                    let token = &tokens[client % tokens.len()];
                    let ok = connection.send(method, &path, token, body).await == expected;
                    if measuring.load(Ordering::Relaxed) {
                        if ok {
                            done += 1;
                            histogram
                                .record(started.elapsed().as_micros() as u64)
                                .unwrap();
                        } else {
                            failed += 1;
                        }
                    }
                }
                (histogram, done, failed)
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let cpu_before = (cpu_ms(server_pid), cpu_ms(std::process::id()));
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = (cpu_ms(server_pid), cpu_ms(std::process::id()));
    stop.store(true, Ordering::Relaxed);
    let mut total = Phase {
        done: 0,
        failed: 0,
        seconds,
        latency_us: Histogram::new(3).unwrap(),
        server_cpu_ms: cpu_after.0 - cpu_before.0,
        client_cpu_ms: cpu_after.1 - cpu_before.1,
    };
    for task in tasks {
        let (histogram, done, failed) = task.await.unwrap();
        total.latency_us.add(histogram).unwrap();
        total.done += done;
        total.failed += failed;
    }
    total
}

/// ed25519 signatures per second on one core, timed over `HOST_SPEED_SAMPLE`.
fn host_signatures_per_second() -> f64 {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let started = Instant::now();
    let mut signed = 0u64;
    while started.elapsed() < HOST_SPEED_SAMPLE {
        for _ in 0..100 {
            std::hint::black_box(key.sign(std::hint::black_box(b"ostrom host speed")));
        }
        signed += 100;
    }
    signed as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let speed_before = host_signatures_per_second();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let members: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    assert!(members > 2 * CLIENTS, "64 voters must never be a majority");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let names: Vec<String> = (0..members).map(|index| format!("m{index:04}")).collect();
    let mut init = ostrom();
    init.arg("--data")
        .arg(data)
        .args(["init", "--name", "bench", "--kit", "democracy"]);
    for name in &names {
        init.args(["--member", name]);
    }
    assert!(init.output().unwrap().status.success());
    let operator = "bench-operator-token-0123456789abcdef";
    let server = start(data, operator);
    println!(
        "serve_load: {members} members (democracy kit), {CLIENTS} clients, {PROPOSALS} open proposals, {seconds} s per phase"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .unwrap();
        let mut tokens = Vec::new();
        for name in names.iter().take(CLIENTS) {
            let issued: serde_json::Value = http
                .post(format!("{}/tokens", server.base))
                .bearer_auth(operator)
                .json(&json!({ "member": name }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokens.push(issued["token"].as_str().unwrap().to_owned());
        }
        let mut proposals = Vec::new();
        for index in 0..PROPOSALS {
            let proposed: serde_json::Value = http
                .post(format!("{}/proposals", server.base))
                .bearer_auth(&tokens[index % CLIENTS])
                .json(&json!({"action_type": "add_document", "params": {"name": format!("doc{index}"), "text": "x"}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            proposals.push(proposed["action"].as_u64().unwrap());
        }
        let tokens = Arc::new(tokens);
        let proposals = Arc::new(proposals);

        TOKENS.set(tokens.as_ref().clone()).unwrap();
        let path = "/api/v1/communities/bench".to_owned();
        for (clients, what) in [
            (CLIENTS, "durable votes, 64 clients".to_owned()),
            // A burst: thousands of connections voting at once (members share them).
            (
                BURST_CLIENTS,
                format!("durable votes, burst of {BURST_CLIENTS} connections"),
            ),
        ] {
            let (path, proposals) = (path.clone(), proposals.clone());
            let votes = phase(clients, server.child.id(), &server.address, seconds, move |client, turn| {
                let proposal = proposals[(client * 7 + turn as usize) % proposals.len()];
                let value = if (turn + client as u64) % 2 == 0 { "yes" } else { "no" };
                (
                    "POST",
                    format!("{path}/proposals/{proposal}/votes"),
                    Some(format!("{{\"value\":\"{value}\"}}")),
                    201,
                )
            })
            .await;
            println!("{}", votes.report(&what));
        }

        for page in [20, 100] {
            let reads = {
                let path = path.clone();
                phase(CLIENTS, server.child.id(), &server.address, seconds, move |_, _| {
                    (
                        "GET",
                        format!("{path}/proposals?status=proposed&limit={page}"),
                        None,
                        200,
                    )
                })
                .await
            };
            println!(
                "{}",
                reads.report(&format!("proposals list ({page} per page), 64 clients"))
            );
        }
        drop(server);
    });
    println!(
        "host speed: {:.0} ed25519 signatures/s on one core before the run, {:.0} after",
        speed_before,
        host_signatures_per_second()
    );
}
