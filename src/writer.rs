//! The single writer of a community's log: concurrent submissions become group commits.
//!
//! Callers submit signed statements from any thread and block until their entry is
//! durable (or refused). Three stages overlap, each a thread, joined by bounded queues:
//!
//! 1. **check**: drain up to `WRITER_BATCH_MAX` submissions and check their signatures in
//!    parallel batches (stateless, so it runs ahead of the log);
//! 2. **seal**: the only owner of the [`Ledger`]: seal each statement against the state
//!    left by the ones before it, and apply it in memory;
//! 3. **flush**: append the sealed batch to the store at its expected seq (one fsync for
//!    the batch), then answer every submitter.
//!
//! So batch k+1 is sealed while batch k is being made durable. Nobody is answered before
//! the store acknowledged their entry. If a write fails, every batch sealed on top of it
//! fails too (the store refuses them at the wrong seq), and the seal stage rebuilds its
//! state from the store before it seals again: nothing that was not durable survives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use ostrom_schemas::verify::{CheckedStatement, Refusal, Sealable};
use ostrom_schemas::{CommunityId, Hash, Signed};

use crate::ledger::{Ledger, Reactor};
use crate::store::LogStore;

/// Statements sealed into one group commit at most.
pub const WRITER_BATCH_MAX: usize = 4096;
/// Submissions waiting for the writer at most; submitters block beyond this.
pub const WRITER_QUEUE_MAX: usize = 2 * WRITER_BATCH_MAX;
/// Batches in flight between two stages.
pub const WRITER_STAGE_DEPTH: usize = 2;

const _: () = assert!(WRITER_QUEUE_MAX >= WRITER_BATCH_MAX);

/// Where an accepted statement landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: Hash,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum SubmitError {
    /// Refused before anything was appended.
    #[error("{0}")]
    Refused(Refusal),
    /// The store failed; the entry was not acknowledged and is not in the log.
    #[error("the log could not be written: {0}")]
    Store(String),
    #[error("the writer has stopped")]
    Stopped,
}

impl SubmitError {
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Refused(refusal) => refusal.code,
            SubmitError::Store(_) => "store_error",
            SubmitError::Stopped => "unavailable",
        }
    }
}

type Reply = Sender<Result<Receipt, SubmitError>>;

struct Submission {
    signed: Signed,
    reply: Reply,
}

struct Checked {
    items: Vec<(Result<CheckedStatement, Refusal>, Reply)>,
}

enum Flush {
    Batch {
        first: u64,
        bytes: Vec<Vec<u8>>,
        answers: Vec<(Reply, Result<Receipt, SubmitError>)>,
    },
    /// Answered once every batch before it has been flushed.
    Barrier(Sender<()>),
}

/// A handle to a running writer. Cloning shares the writer; when every handle is dropped
/// the stages finish what is in flight and stop.
#[derive(Clone)]
pub struct Writer {
    queue: Sender<Submission>,
}

pub struct WriterThreads {
    seal: JoinHandle<Ledger>,
    others: Vec<JoinHandle<()>>,
}

impl WriterThreads {
    /// Wait until the writer has finished (after every `Writer` handle is dropped) and get
    /// the ledger back.
    pub fn join(self) -> Ledger {
        let ledger = self.seal.join().expect("the seal stage does not panic");
        for handle in self.others {
            handle.join().expect("writer stages do not panic");
        }
        ledger
    }
}

impl Writer {
    /// Start the writer's stages; `clock` gives the sequencer time for each batch, and
    /// `reactor` (the policy engine) reacts to every entry inside the batch that caused it.
    pub fn spawn(
        ledger: Ledger,
        reactor: Box<dyn Reactor + Send>,
        clock: fn() -> u64,
    ) -> (Writer, WriterThreads) {
        let (queue, submissions) = bounded(WRITER_QUEUE_MAX);
        let (checked_out, checked_in) = bounded(WRITER_STAGE_DEPTH);
        let (flush_out, flush_in) = bounded(WRITER_STAGE_DEPTH);
        let failed = Arc::new(AtomicBool::new(false));
        let store = ledger.store().clone();
        let community = ledger.community();
        let spawn = |name: &str| std::thread::Builder::new().name(name.to_owned());
        let check = spawn("ostrom-check")
            .spawn(move || check_stage(submissions, checked_out))
            .expect("thread starts");
        let seal = {
            let failed = failed.clone();
            spawn("ostrom-seal")
                .spawn(move || seal_stage(ledger, reactor, checked_in, flush_out, failed, clock))
                .expect("thread starts")
        };
        let flush = spawn("ostrom-flush")
            .spawn(move || flush_stage(store, community, flush_in, failed))
            .expect("thread starts");
        (
            Writer { queue },
            WriterThreads {
                seal,
                others: vec![check, flush],
            },
        )
    }

    /// Submit a signed statement and wait until it is durable or refused.
    pub fn submit(&self, signed: Signed) -> Result<Receipt, SubmitError> {
        self.enqueue(signed).wait()
    }

    /// Submit without waiting: the answer arrives on the returned [`Pending`], so one
    /// caller (an async task, a connection) can have many statements in flight.
    pub fn enqueue(&self, signed: Signed) -> Pending {
        let (reply, answer) = bounded(1);
        let answer = match self.queue.send(Submission { signed, reply }) {
            Ok(()) => Some(answer),
            Err(_) => None,
        };
        Pending { answer }
    }
}

/// The answer to an enqueued statement, once it is durable or refused.
pub struct Pending {
    answer: Option<Receiver<Result<Receipt, SubmitError>>>,
}

impl Pending {
    pub fn wait(self) -> Result<Receipt, SubmitError> {
        match self.answer {
            Some(answer) => answer.recv().map_err(|_| SubmitError::Stopped)?,
            None => Err(SubmitError::Stopped),
        }
    }
}

fn check_stage(submissions: Receiver<Submission>, checked: Sender<Checked>) {
    while let Ok(first) = submissions.recv() {
        let mut batch = vec![first];
        batch.extend(submissions.try_iter().take(WRITER_BATCH_MAX - 1));
        let (statements, replies): (Vec<Signed>, Vec<Reply>) = batch
            .into_iter()
            .map(|submission| (submission.signed, submission.reply))
            .unzip();
        let verdicts = Ledger::check_statements(statements);
        if checked
            .send(Checked {
                items: verdicts.into_iter().zip(replies).collect(),
            })
            .is_err()
        {
            return;
        }
    }
}

fn seal_stage(
    mut ledger: Ledger,
    mut reactor: Box<dyn Reactor + Send>,
    checked: Receiver<Checked>,
    flush: Sender<Flush>,
    failed: Arc<AtomicBool>,
    clock: fn() -> u64,
) -> Ledger {
    while let Ok(first) = checked.recv() {
        let mut items = first.items;
        // Whatever else was checked meanwhile joins this batch (up to the batch bound).
        while items.len() < WRITER_BATCH_MAX {
            match checked.try_recv() {
                Ok(more) => items.extend(more.items),
                Err(_) => break,
            }
        }
        if failed.load(Ordering::Acquire) {
            // A write failed: wait until every batch before this one has been answered,
            // then rebuild the state from what the store actually holds.
            let (done, wait) = bounded(1);
            if flush.send(Flush::Barrier(done)).is_err() || wait.recv().is_err() {
                break;
            }
            if let Err(error) = ledger.reload() {
                let reason =
                    SubmitError::Store(format!("cannot reload after a failed write: {error}"));
                for (_, reply) in items {
                    let _ = reply.send(Err(reason.clone()));
                }
                continue;
            }
            failed.store(false, Ordering::Release);
        }
        let mut answers: Vec<(Reply, Option<Result<Receipt, SubmitError>>)> =
            Vec::with_capacity(items.len());
        let mut sealable = Vec::with_capacity(items.len());
        for (verdict, reply) in items {
            match verdict {
                Ok(statement) => {
                    sealable.push(Sealable::Statement(statement));
                    answers.push((reply, None));
                }
                Err(refusal) => answers.push((reply, Some(Err(SubmitError::Refused(refusal))))),
            }
        }
        let (first, bytes, mut results) =
            match ledger.seal_batch_with(sealable, clock(), &mut *reactor, true) {
                Ok(sealed) => (sealed.first, sealed.bytes, sealed.results.into_iter()),
                Err(error) => {
                    let reason = SubmitError::Store(error.to_string());
                    for (reply, _) in answers {
                        let _ = reply.send(Err(reason.clone()));
                    }
                    continue;
                }
            };
        let answers = answers
            .into_iter()
            .map(|(reply, answer)| {
                let answer = answer.unwrap_or_else(|| {
                    match results.next().expect("one result per sealed item") {
                        Ok(entry) => Ok(Receipt {
                            seq: entry.entry().seq,
                            hash: entry.hash(),
                        }),
                        Err(refusal) => Err(SubmitError::Refused(refusal)),
                    }
                });
                (reply, answer)
            })
            .collect();
        if flush
            .send(Flush::Batch {
                first,
                bytes,
                answers,
            })
            .is_err()
        {
            break;
        }
    }
    // Every batch handed over must be durable before the ledger is given back.
    let (done, wait) = bounded(1);
    if flush.send(Flush::Barrier(done)).is_ok() {
        let _ = wait.recv();
    }
    if failed.load(Ordering::Acquire) {
        let _ = ledger.reload();
    }
    ledger
}

fn flush_stage(
    store: Arc<dyn LogStore>,
    community: CommunityId,
    batches: Receiver<Flush>,
    failed: Arc<AtomicBool>,
) {
    while let Ok(message) = batches.recv() {
        // Every sealed batch waiting here goes to the store in one append, under one fsync;
        // a barrier is answered after the batches queued before it.
        let mut first = None;
        let mut bytes = Vec::new();
        let mut answers = Vec::new();
        let mut barriers = Vec::new();
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Flush::Barrier(done) => barriers.push(done),
                Flush::Batch {
                    first: batch_first,
                    bytes: batch_bytes,
                    answers: batch_answers,
                } => {
                    debug_assert!(
                        first.is_none()
                            || first.map(|at: u64| at + bytes.len() as u64) == Some(batch_first)
                    );
                    first.get_or_insert(batch_first);
                    bytes.extend(batch_bytes);
                    answers.extend(batch_answers);
                }
            }
            if barriers.is_empty() && answers.len() < WRITER_BATCH_MAX {
                next = batches.try_recv().ok();
            }
        }
        let written = match first {
            Some(first) if !bytes.is_empty() => store.append(community, first, bytes).map(|_| ()),
            _ => Ok(()),
        };
        match written {
            Ok(()) => {
                for (reply, answer) in answers {
                    // A submitter that gave up waiting is no reason to stop.
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                failed.store(true, Ordering::Release);
                let reason = SubmitError::Store(error.to_string());
                for (reply, answer) in answers {
                    let answer = match answer {
                        Ok(_) => Err(reason.clone()),
                        refused => refused,
                    };
                    let _ = reply.send(answer);
                }
            }
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
}
