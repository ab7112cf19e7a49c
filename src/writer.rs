//! The single writer of a community's log: a thread that owns the [`Ledger`] and turns
//! concurrent submissions into group commits.
//!
//! Callers submit signed statements from any thread and block until their entry is
//! durable (or refused). The writer drains what is queued (up to `WRITER_BATCH_MAX`),
//! checks the statements' signatures in parallel batches, seals them one after the other
//! against the state, and writes them to the store in one append: one fsync acknowledges
//! the whole batch. The queue is bounded, so a burst slows callers instead of growing
//! memory without limit.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use ostrom_schemas::verify::{Refusal, Sealable};
use ostrom_schemas::{Hash, Signed};

use crate::ledger::{Ledger, LedgerError};

/// Statements sealed into one group commit at most.
pub const WRITER_BATCH_MAX: usize = 4096;
/// Submissions waiting for the writer at most; submitters block beyond this.
pub const WRITER_QUEUE_MAX: usize = 2 * WRITER_BATCH_MAX;

const _: () = assert!(WRITER_QUEUE_MAX >= WRITER_BATCH_MAX);

/// Where an accepted statement landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Refused before anything was appended.
    #[error("{0}")]
    Refused(Refusal),
    /// The store failed; the batch was not acknowledged and nothing of it is applied.
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

struct Submission {
    signed: Signed,
    reply: Sender<Result<Receipt, SubmitError>>,
}

/// A handle to a running writer. Cloning shares the writer; dropping every handle stops it
/// after it has finished the batch in flight.
#[derive(Clone)]
pub struct Writer {
    queue: Sender<Submission>,
}

pub struct WriterThread {
    handle: JoinHandle<Ledger>,
}

impl WriterThread {
    /// Wait for the writer to finish (after every `Writer` handle is dropped) and get the
    /// ledger back.
    pub fn join(self) -> Ledger {
        self.handle
            .join()
            .expect("the writer thread does not panic")
    }
}

impl Writer {
    /// Start the writer thread; `clock` gives the sequencer time for each batch.
    pub fn spawn(ledger: Ledger, clock: fn() -> u64) -> (Writer, WriterThread) {
        let (queue, receiver) = bounded(WRITER_QUEUE_MAX);
        let handle = std::thread::Builder::new()
            .name("ostrom-writer".into())
            .spawn(move || run(ledger, receiver, clock))
            .expect("the writer thread starts");
        (Writer { queue }, WriterThread { handle })
    }

    /// Submit a signed statement and wait until it is durable or refused.
    pub fn submit(&self, signed: Signed) -> Result<Receipt, SubmitError> {
        let (reply, answer) = bounded(1);
        self.queue
            .send(Submission { signed, reply })
            .map_err(|_| SubmitError::Stopped)?;
        answer.recv().map_err(|_| SubmitError::Stopped)?
    }
}

fn run(mut ledger: Ledger, receiver: Receiver<Submission>, clock: fn() -> u64) -> Ledger {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < WRITER_BATCH_MAX {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (statements, replies): (Vec<Signed>, Vec<_>) = batch
            .into_iter()
            .map(|submission| (submission.signed, submission.reply))
            .unzip();
        let checked = Ledger::check_statements(statements);
        let mut verdicts: Vec<Option<Result<Receipt, SubmitError>>> =
            Vec::with_capacity(replies.len());
        let mut sealable = Vec::new();
        for verdict in checked {
            match verdict {
                Ok(statement) => {
                    sealable.push(Sealable::Statement(statement));
                    verdicts.push(None);
                }
                Err(refusal) => verdicts.push(Some(Err(SubmitError::Refused(refusal)))),
            }
        }
        match ledger.append_batch(sealable, clock()) {
            Ok(results) => {
                let mut results = results.into_iter();
                for verdict in verdicts.iter_mut().filter(|verdict| verdict.is_none()) {
                    let result = results.next().expect("one result per sealed statement");
                    *verdict = Some(match result {
                        Ok(entry) => Ok(Receipt {
                            seq: entry.entry().seq,
                            hash: entry.hash(),
                        }),
                        Err(refusal) => Err(SubmitError::Refused(refusal)),
                    });
                }
            }
            Err(error) => {
                let message = error.to_string();
                for verdict in verdicts.iter_mut().filter(|verdict| verdict.is_none()) {
                    *verdict = Some(Err(match &error {
                        LedgerError::Refused(refusal) => SubmitError::Refused(refusal.clone()),
                        _ => SubmitError::Store(message.clone()),
                    }));
                }
            }
        }
        for (reply, verdict) in replies.into_iter().zip(verdicts) {
            // A submitter that gave up waiting is no reason to stop.
            let _ = reply.send(verdict.expect("every submission has a verdict"));
        }
    }
    ledger
}
