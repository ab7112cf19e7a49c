//! Crash safety of the whole append path (DESIGN.md §9): a child process appending signed
//! votes through the writer (check, seal, group commit with fsync) is killed with SIGKILL;
//! reopening the ledger verifies the entire log, and every acknowledged entry is there
//! with the hash the child was told.
//!
//! The parent re-runs this test binary as the child (selected by an environment variable);
//! the child prints `ack SEQ HASH` for each acknowledged vote.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostrom::fixtures;
use ostrom::ledger::Ledger;
use ostrom::ledger::NoReactor;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom::writer::Writer;
use ostrom_schemas::{ActionSpec, Params, StatementBody, Value, VoteValue};

const CHILD_DIR_ENV: &str = "OSTROM_LEDGER_CRASH_CHILD_DIR";
const CHILD_TEST_NAME: &str = "crash_child_votes_until_killed";
const MEMBERS: usize = 32;
const CHILD_THREADS: usize = 4;
/// The child stops by itself after this many votes per thread or this long.
const CHILD_VOTES_MAX: usize = 50_000;
const CHILD_RUN_MAX: Duration = Duration::from_secs(60);
const ACKS_BEFORE_KILL: [usize; 2] = [300, 1_500];
const ROUND_WAIT_MAX: Duration = Duration::from_secs(60);

fn open_store(dir: &std::path::Path) -> Arc<dyn LogStore> {
    Arc::new(SledStore::open(dir.join("store")).expect("sled opens"))
}

#[test]
fn crash_child_votes_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return; // only meaningful as the child of the test below
    };
    let dir = std::path::PathBuf::from(dir);
    let store = open_store(&dir);
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) =
        fixtures::found(store, "crash", "democracy", &names, 11, 1_000).expect("founded");
    let params = Params::from([("text".to_owned(), Value::from("hello"))]);
    let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
    let proposal = founded
        .propose(&mut ledger, &names[0], action, 2_000)
        .expect("proposed");
    println!("ack {} {}", proposal.0, ledger.state().position.head);
    let (writer, _threads) = Writer::spawn(ledger, Box::new(NoReactor), ostrom::clock::now_ms);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..CHILD_THREADS {
            let writer = writer.clone();
            let founded = &founded;
            let names = &names;
            scope.spawn(move || {
                let mine: Vec<&String> = names
                    .iter()
                    .skip(1)
                    .skip(thread)
                    .step_by(CHILD_THREADS)
                    .collect();
                let mut counter = 0;
                for round in 0..CHILD_VOTES_MAX {
                    if started.elapsed() > CHILD_RUN_MAX {
                        return;
                    }
                    let member = mine[round % mine.len()];
                    if round % mine.len() == 0 {
                        counter += 1;
                    }
                    let value = if round % 2 == 0 {
                        VoteValue::Yes
                    } else {
                        VoteValue::No
                    };
                    let signed = founded.sign(
                        member,
                        counter,
                        StatementBody::VoteCast {
                            action: proposal,
                            value,
                        },
                    );
                    let receipt = writer.submit(signed).expect("vote accepted");
                    println!("ack {} {}", receipt.seq, receipt.hash);
                }
            });
        }
    });
}

#[test]
fn a_killed_writer_loses_no_acknowledged_entry_and_its_log_verifies() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    for (round, acks_wanted) in ACKS_BEFORE_KILL.into_iter().enumerate() {
        // Given a child process appending votes as fast as it can
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                CHILD_TEST_NAME,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("piped");
        let mut acks = Vec::new();
        let started = Instant::now();
        let mut lines = BufReader::new(stdout).lines();
        // When it is killed with SIGKILL after some acknowledgements
        while acks.len() < acks_wanted && started.elapsed() < ROUND_WAIT_MAX {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("ack ") {
                        let (seq, hash) = rest.split_once(' ').expect("ack SEQ HASH");
                        acks.push((seq.parse::<u64>().expect("seq"), hash.to_owned()));
                    }
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        // Whatever the child printed before it died was acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ack ") {
                let (seq, hash) = rest.split_once(' ').expect("ack SEQ HASH");
                acks.push((seq.parse::<u64>().expect("seq"), hash.to_owned()));
            }
        }
        assert!(
            acks.len() >= acks_wanted,
            "round {round}: only {} acks before the time limit",
            acks.len()
        );

        // Then reopening verifies the whole log
        let store = open_store(dir.path());
        let community = store.communities().expect("listed")[0].id;
        let ledger = Ledger::open(store.clone(), community, None, false)
            .expect("the log verifies after the crash");
        // And every acknowledged entry is there with the hash its submitter was given
        let length = ledger.state().position.next_seq;
        for (seq, hash) in &acks {
            assert!(
                *seq < length,
                "round {round}: acknowledged seq {seq} lost (log has {length})"
            );
            let bytes = store
                .read_range(community, *seq, seq + 1)
                .expect("readable");
            assert_eq!(
                &ostrom_schemas::entry::hash_entry_bytes(&bytes[0]).to_hex(),
                hash,
                "round {round}: seq {seq}"
            );
        }
    }
}
