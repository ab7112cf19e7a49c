//! Crash test for the sled store: a real child process killed with SIGKILL mid-append.
//!
//! DESIGN.md §9 promises that a crash at any point loses no acknowledged entry and leaves a
//! log that verifies. The parent test re-runs this test binary as a child that appends from
//! several threads and prints `ack <community hex> <seq>` after each acknowledged entry; the
//! parent kills it after some hundreds of acks, reopens the store, and checks that every
//! acknowledged entry is there with the exact bytes the child wrote (entry bytes are a pure
//! function of community and seq, so the parent recomputes them) and that no log has a gap.
//!
//! A process kill keeps what reached the kernel, so this checks the acknowledgement order
//! and sled's recovery of a torn tail, not the fsyncs (that would need a power cut).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ostrom::store::sled_store::SledStore;
use ostrom::store::{LogStore, StoreError};
use ostrom_schemas::CommunityId;

/// Set (to a store directory) only in the child process.
const CHILD_DIR_ENV: &str = "OSTROM_CRASH_CHILD_DIR";
/// The child-role test, as the test harness names it for `--exact`.
const CHILD_TEST_NAME: &str = "crash_child_appends_until_killed";

/// Communities the child appends to.
const COMMUNITIES: u8 = 3;
/// Appending threads in the child, spread over the communities (so some share a log and
/// contend for its seqs, and all share the committer's batches).
const CHILD_THREADS: u8 = 6;
/// Appends one child thread attempts at most, and how long the child runs at most: it must
/// end by itself even if the parent never kills it.
const CHILD_ATTEMPTS_MAX: u32 = 200_000;
const CHILD_RUN_MAX: Duration = Duration::from_secs(120);
/// Entries in one append are 1..=this, varying, to exercise multi-entry atomicity.
const ENTRIES_PER_APPEND_MAX: u64 = 3;
/// Every this-th seq carries a large entry: over a quarter of sled's default 512 KiB
/// segment, so sled writes it to a blob file of its own, which the store must fsync too.
const LARGE_ENTRY_EVERY: u64 = 40;
const LARGE_ENTRY_BYTES: usize = 160 * 1024;
const SMALL_ENTRY_FILLER_BYTES_MAX: u64 = 1_500;

/// Acks the parent waits for before the kill, one round each: different moments.
const ACKS_BEFORE_KILL: [usize; 3] = [200, 450, 800];
/// The parent never waits longer than this for those acks, nor reads more lines than this.
const ROUND_WAIT_MAX: Duration = Duration::from_secs(90);
const CHILD_LINES_MAX: usize = 1_000_000;
/// How long the parent reads what is left in the pipe after the kill.
const PIPE_DRAIN_MAX: Duration = Duration::from_secs(10);

fn community(index: u8) -> CommunityId {
    CommunityId([0xC0 + index; CommunityId::LEN])
}

/// The bytes of entry `seq` of `community`: a header naming both, then a deterministic
/// filler whose length varies with seq.
fn entry_bytes(community: CommunityId, seq: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(CommunityId::LEN + 8);
    header.extend_from_slice(community.as_bytes());
    header.extend_from_slice(&seq.to_be_bytes());
    let filler_bytes = if seq % LARGE_ENTRY_EVERY == LARGE_ENTRY_EVERY - 1 {
        LARGE_ENTRY_BYTES
    } else {
        usize::try_from(seq * 37 % SMALL_ENTRY_FILLER_BYTES_MAX).expect("small")
    };
    let mut entry = header.clone();
    entry.resize(header.len() + filler_bytes, 0);
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"ostrom/test/crash-entry");
    hasher.update(&header);
    hasher.finalize_xof().fill(&mut entry[header.len()..]);
    entry
}

// ---------------------------------------------------------------------------------------
// The child role.
// ---------------------------------------------------------------------------------------

/// Child role: passes at once unless `OSTROM_CRASH_CHILD_DIR` is set; then appends until
/// killed (or until its own bounds run out).
#[test]
fn crash_child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let store = SledStore::open(&dir).expect("child opens the store");
    for index in 0..COMMUNITIES {
        store
            .create_community(community(index), &format!("crash {index}"))
            .expect("create community");
    }
    let started = Instant::now();
    thread::scope(|scope| {
        for thread_index in 0..CHILD_THREADS {
            let store = &store;
            scope.spawn(move || {
                append_until_killed(store, community(thread_index % COMMUNITIES), started)
            });
        }
    });
}

fn append_until_killed(store: &SledStore, id: CommunityId, started: Instant) {
    let stdout = std::io::stdout();
    for attempt in 0..CHILD_ATTEMPTS_MAX {
        if started.elapsed() > CHILD_RUN_MAX {
            return;
        }
        let length = store.len(id).expect("len");
        let count = 1 + u64::from(attempt) % ENTRIES_PER_APPEND_MAX;
        let entries = (length..length + count)
            .map(|seq| entry_bytes(id, seq))
            .collect();
        match store.append(id, length, entries) {
            Ok(new_length) => {
                assert_eq!(new_length, length + count);
                let mut lines = String::new();
                for seq in length..new_length {
                    lines.push_str(&format!("ack {} {seq}\n", id.to_hex()));
                }
                // One write per append, flushed before the next append starts: an ack the
                // parent reads is an ack the store gave.
                let mut out = stdout.lock();
                out.write_all(lines.as_bytes()).expect("write ack");
                out.flush().expect("flush ack");
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("child append failed: {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------------------

/// Kills the child if the parent fails before it meant to, so no child outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_entry() {
    for (round, &acks_wanted) in ACKS_BEFORE_KILL.iter().enumerate() {
        // Given a child process appending to a new store from several threads
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().expect("own test binary"))
                .args([
                    "--exact",
                    CHILD_TEST_NAME,
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn the child"),
        );
        let lines = read_lines_in_background(child.0.stdout.take().expect("child stdout"));

        // When it has acknowledged some hundreds of entries, it is killed with SIGKILL
        let mut acks = Vec::new();
        let deadline = Instant::now() + ROUND_WAIT_MAX;
        while acks.len() < acks_wanted {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(remaining) {
                Ok(line) => acks.extend(parse_ack(&line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "round {round}: only {} acks within {ROUND_WAIT_MAX:?}",
                        acks.len()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "round {round}: the child ended on its own after {} acks",
                        acks.len()
                    )
                }
            }
        }
        child.0.kill().expect("SIGKILL the child");
        let status = child.0.wait().expect("reap the child");
        assert!(
            !status.success(),
            "round {round}: the child was killed, not finished"
        );
        // Acks already in the pipe were given before the kill: they count too. The pipe
        // closes with the dead child, so this ends well before its deadline.
        let drain_deadline = Instant::now() + PIPE_DRAIN_MAX;
        while let Ok(line) =
            lines.recv_timeout(drain_deadline.saturating_duration_since(Instant::now()))
        {
            acks.extend(parse_ack(&line));
        }

        // Then the reopened store holds every acknowledged entry with the bytes written, and
        // every log runs from seq 0 without a gap
        let store = SledStore::open(dir.path()).expect("reopen after the crash");
        let mut lengths = Vec::new();
        for index in 0..COMMUNITIES {
            let id = community(index);
            let length = store.len(id).expect("community survives");
            let mut seqs_read = 0;
            for (position, item) in store.read_from(id, 0).expect("read_from").enumerate() {
                let (seq, bytes) = item.unwrap_or_else(|error| panic!("round {round}: {error}"));
                assert_eq!(
                    seq, position as u64,
                    "round {round}: community {id} has a gap"
                );
                assert!(
                    bytes == entry_bytes(id, seq),
                    "round {round}: community {id} seq {seq} has other bytes"
                );
                seqs_read += 1;
            }
            assert_eq!(
                seqs_read, length,
                "round {round}: community {id} reads its whole length"
            );
            lengths.push((id, length));
        }
        let distinct: BTreeSet<&(CommunityId, u64)> = acks.iter().collect();
        assert_eq!(
            distinct.len(),
            acks.len(),
            "round {round}: an entry was acknowledged twice"
        );
        for (id, seq) in &acks {
            let (_, length) = lengths
                .iter()
                .find(|(known, _)| known == id)
                .expect("acked community is known");
            assert!(
                seq < length,
                "round {round}: acknowledged {id} seq {seq} lost (log holds {length})"
            );
        }
        assert!(acks.len() >= acks_wanted);
        eprintln!(
            "round {round}: {} acks before SIGKILL, logs after reopen: {lengths:?}",
            acks.len()
        );
    }
}

/// Complete lines of the child's stdout, read on a thread so the parent can wait with a
/// deadline. A line cut short by the kill has no newline and is dropped.
fn read_lines_in_background(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..CHILD_LINES_MAX {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if !line.ends_with('\n') => return,
                Ok(_) => {
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    receiver
}

/// `ack <community hex> <seq>` as (community, seq); any other line (the test harness's own
/// output) is None.
fn parse_ack(line: &str) -> Option<(CommunityId, u64)> {
    let mut words = line.strip_prefix("ack ")?.split_whitespace();
    let id = CommunityId::from_hex(words.next()?).expect("ack names a community in hex");
    let seq = words.next()?.parse().expect("ack names a seq");
    Some((id, seq))
}
