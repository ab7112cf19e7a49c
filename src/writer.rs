//! The single writer of a community's log: concurrent submissions become group commits.
//!
//! Callers submit signed statements from any thread and block until their entry is
//! durable (or refused). Three stages overlap, each a thread, joined by bounded queues:
//!
//! 1. **check**: drain up to `WRITER_BATCH_MAX` submissions and check their signatures in
//!    one batch (stateless, so it runs ahead of the log);
//! 2. **seal**: the only owner of the [`Ledger`]: seal each statement against the state
//!    left by the ones before it, and apply it in memory, handing the sealed entries on in
//!    chunks of `SEAL_CHUNK_ENTRIES`;
//! 3. **flush**: append every sealed chunk waiting for it to the store at its expected seq
//!    (one fsync for all of them), then answer every submitter. It keeps one such group in
//!    the store while it publishes and answers the one before, so the store's fsync and the
//!    read models' update of the previous group overlap instead of adding up.
//!
//! So chunk k+1 is sealed while chunk k is being made durable: with a few dozen clients
//! the votes no longer move through the stages in waves (the whole wave sealed, then the
//! whole wave flushed), and under heavy load the chunks queue up and share one fsync. Nobody is answered before
//! the store acknowledged their entry, and read models (the server's published views) see a
//! batch before anybody who submitted to it is answered, so an acknowledged write is always
//! visible to the writer's next read.
//!
//! Besides statements signed elsewhere, the writer takes statements it vouches for on a
//! member's behalf (the server authenticated the member by a bearer token): they are sealed
//! as `Body::Vouched` entries, asserted by the entry signature alone, so a token vote costs
//! one signature, not two. Their counters are assigned in queue order by the check stage,
//! the only place that could keep them strictly increasing in the order they are sealed. A tick asks for a batch even when
//! nothing was submitted, so timers and sweeps run on an idle community. If a write fails, every batch sealed on top of it
//! fails too (the store refuses them at the wrong seq), and the seal stage rebuilds its
//! state from the store before it seals again: nothing that was not durable survives.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use ostrom_schemas::statement::{Evidence, Statement};
use ostrom_schemas::verify::{CheckedStatement, Refusal, Sealable};
use ostrom_schemas::{CommunityId, Hash, Signed, StatementBody, VerifiedEntry};

use crate::ledger::{Ledger, Reactor};
use crate::store::LogStore;

/// Statements sealed into one group commit at most.
pub const WRITER_BATCH_MAX: usize = 4096;
/// Submissions waiting for the writer at most; submitters block beyond this.
pub const WRITER_QUEUE_MAX: usize = 2 * WRITER_BATCH_MAX;
/// Batches in flight between two stages.
pub const WRITER_STAGE_DEPTH: usize = 2;
/// The seal stage hands its work to the flush stage in chunks of this many statements.
pub const SEAL_CHUNK_ENTRIES: usize = 16;
/// Sealed chunks waiting for the flush stage at most (a full batch's worth).
pub const FLUSH_QUEUE_CHUNKS: usize = WRITER_BATCH_MAX / SEAL_CHUNK_ENTRIES;

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
    /// The writer's queue is full: the caller should retry shortly.
    #[error("too many writes are waiting; retry shortly")]
    Overloaded,
}

impl SubmitError {
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Refused(refusal) => refusal.code,
            SubmitError::Store(_) => "store_error",
            SubmitError::Stopped => "unavailable",
            SubmitError::Overloaded => "overloaded",
        }
    }
}

/// Where an answer goes: a thread blocked in [`Pending::wait`], or an async task.
enum Reply {
    Blocking(Sender<Result<Receipt, SubmitError>>),
    Async(tokio::sync::oneshot::Sender<Result<Receipt, SubmitError>>),
}

impl Reply {
    /// A submitter that gave up waiting is no reason to stop, so failures are ignored.
    fn send(self, answer: Result<Receipt, SubmitError>) {
        match self {
            Reply::Blocking(sender) => {
                let _ = sender.send(answer);
            }
            Reply::Async(sender) => {
                let _ = sender.send(answer);
            }
        }
    }
}

enum Submission {
    /// A statement its author signed.
    Signed { signed: Signed, reply: Reply },
    /// A statement the sequencer signs for `member`, whom the caller authenticated.
    OnBehalf {
        member: String,
        evidence: Option<Evidence>,
        body: StatementBody,
        reply: Reply,
    },
    /// Run what is due, even if nothing else arrives; answered with the head after it.
    Tick { reply: Reply },
    /// Finish what was submitted before, then stop every stage.
    Close,
}

struct Checked {
    items: Vec<(Result<CheckedStatement, Refusal>, Reply)>,
    ticks: Vec<Reply>,
}

/// Called on the flush thread with every entry of a group commit once it is durable, before
/// anybody who submitted to it is answered.
/// It receives the entries themselves: nothing after it needs them.
pub type OnDurable = Box<dyn FnMut(Vec<VerifiedEntry>) + Send>;

/// What a writer is started with besides its ledger and reactor.
pub struct WriterOptions {
    /// The sequencer clock for each batch.
    pub clock: fn() -> u64,
    /// Read models to feed with durable entries.
    pub on_durable: Option<OnDurable>,
    /// Where the seal stage publishes the reactor's next due instant after every batch
    /// (`u64::MAX`: nothing due), and whom it wakes when that instant moves earlier.
    pub next_due: Option<Arc<NextDue>>,
}

/// The reactor's next due instant, shared with whoever schedules ticks.
pub struct NextDue {
    at_ms: AtomicU64,
    changed: Box<dyn Fn() + Send + Sync>,
}

impl NextDue {
    /// `changed` is called (from the seal thread) when the due instant moves earlier.
    pub fn new(changed: Box<dyn Fn() + Send + Sync>) -> NextDue {
        NextDue {
            at_ms: AtomicU64::new(u64::MAX),
            changed,
        }
    }

    /// The next due instant, if any.
    pub fn get(&self) -> Option<u64> {
        match self.at_ms.load(Ordering::Acquire) {
            u64::MAX => None,
            at => Some(at),
        }
    }

    /// Publish a new due instant (the seal stage does after every batch; a host does once
    /// at start, for the timers the engine resumed from the log).
    pub fn set(&self, at_ms: Option<u64>) {
        let at_ms = at_ms.unwrap_or(u64::MAX);
        let before = self.at_ms.swap(at_ms, Ordering::AcqRel);
        if at_ms < before {
            (self.changed)();
        }
    }
}

enum Flush {
    Batch {
        first: u64,
        bytes: Vec<Vec<u8>>,
        entries: Vec<VerifiedEntry>,
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
        Writer::spawn_with(
            ledger,
            reactor,
            WriterOptions {
                clock,
                on_durable: None,
                next_due: None,
            },
        )
    }

    /// [`spawn`](Self::spawn) with read models to feed and a due instant to publish.
    pub fn spawn_with(
        ledger: Ledger,
        reactor: Box<dyn Reactor + Send>,
        options: WriterOptions,
    ) -> (Writer, WriterThreads) {
        let (queue, submissions) = bounded(WRITER_QUEUE_MAX);
        let (checked_out, checked_in) = bounded(WRITER_STAGE_DEPTH);
        let (flush_out, flush_in) = bounded(FLUSH_QUEUE_CHUNKS);
        let failed = Arc::new(AtomicBool::new(false));
        let store = ledger.store().clone();
        let community = ledger.community();
        let voucher = ledger.sequencer().map(|key| Voucher {
            community,
            counter: ledger.next_counter(&crate::keys::public(key)),
        });
        let WriterOptions {
            clock,
            on_durable,
            next_due,
        } = options;
        let spawn = |name: &str| std::thread::Builder::new().name(name.to_owned());
        let check = spawn("ostrom-check")
            .spawn(move || check_stage(submissions, checked_out, voucher))
            .expect("thread starts");
        let seal = {
            let failed = failed.clone();
            spawn("ostrom-seal")
                .spawn(move || {
                    seal_stage(
                        ledger, reactor, checked_in, flush_out, failed, clock, next_due,
                    )
                })
                .expect("thread starts")
        };
        let flush = spawn("ostrom-flush")
            .spawn(move || flush_stage(store, community, flush_in, failed, on_durable))
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
        self.send(|reply| Submission::Signed { signed, reply })
    }

    /// Submit a statement for `member`, signed by the sequencer key: the caller has
    /// authenticated the member (a bearer token) and the log says the server vouched.
    pub fn enqueue_on_behalf(
        &self,
        member: &str,
        evidence: Option<Evidence>,
        body: StatementBody,
    ) -> Pending {
        self.send(|reply| Submission::OnBehalf {
            member: member.to_owned(),
            evidence,
            body,
            reply,
        })
    }

    /// Ask for a batch that runs whatever is due (timers, the sweep); answered once it is
    /// durable, with the head after it.
    pub fn enqueue_tick(&self) -> Pending {
        self.send(|reply| Submission::Tick { reply })
    }

    fn send(&self, submission: impl FnOnce(Reply) -> Submission) -> Pending {
        let (reply, answer) = bounded(1);
        let answer = match self.queue.send(submission(Reply::Blocking(reply))) {
            Ok(()) => Some(answer),
            Err(_) => None,
        };
        Pending { answer }
    }

    /// Stop the writer: what was submitted before is sealed and made durable, later
    /// submissions are answered [`SubmitError::Stopped`]. Then [`WriterThreads::join`]
    /// returns even while other handles exist.
    pub fn close(&self) {
        let _ = self.queue.send(Submission::Close);
    }

    /// [`enqueue`](Self::enqueue) for async callers: never blocks; a full queue is
    /// [`SubmitError::Overloaded`] at once (load is shed, not queued without bound).
    pub async fn submit_async(&self, signed: Signed) -> Result<Receipt, SubmitError> {
        self.send_async(|reply| Submission::Signed { signed, reply })
            .await
    }

    /// [`enqueue_on_behalf`](Self::enqueue_on_behalf) for async callers.
    pub async fn submit_on_behalf_async(
        &self,
        member: &str,
        evidence: Option<Evidence>,
        body: StatementBody,
    ) -> Result<Receipt, SubmitError> {
        let member = member.to_owned();
        self.send_async(|reply| Submission::OnBehalf {
            member,
            evidence,
            body,
            reply,
        })
        .await
    }

    /// [`enqueue_tick`](Self::enqueue_tick) for async callers.
    pub async fn tick_async(&self) -> Result<Receipt, SubmitError> {
        self.send_async(|reply| Submission::Tick { reply }).await
    }

    async fn send_async(
        &self,
        submission: impl FnOnce(Reply) -> Submission,
    ) -> Result<Receipt, SubmitError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.queue.try_send(submission(Reply::Async(reply))) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(_)) => return Err(SubmitError::Overloaded),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                return Err(SubmitError::Stopped)
            }
        }
        answer.await.map_err(|_| SubmitError::Stopped)?
    }
}

/// How the check stage vouches for members the server authenticated itself: the sealed
/// entry (`Body::Vouched`) asserts their statement, whose counter counts among the
/// sequencer key's.
struct Voucher {
    community: CommunityId,
    /// The counter the next vouched statement gets.
    counter: u64,
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

    /// The answer, once there is one: for async callers, who must not block a runtime
    /// thread (they wait on a blocking-friendly thread, or poll).
    pub fn into_receiver(self) -> Option<Receiver<Result<Receipt, SubmitError>>> {
        self.answer
    }
}

/// A statement on its way through the check stage, in queue order.
enum Incoming {
    /// Signed elsewhere: its signature is checked in the stage's batch.
    Signed(Signed),
    /// Vouched for, or refused, already.
    Decided(Result<CheckedStatement, Refusal>),
}

fn check_stage(
    submissions: Receiver<Submission>,
    checked: Sender<Checked>,
    mut voucher: Option<Voucher>,
) {
    while let Ok(first) = submissions.recv() {
        let mut batch = vec![first];
        batch.extend(submissions.try_iter().take(WRITER_BATCH_MAX - 1));
        let mut incoming = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut ticks = Vec::new();
        let mut closing = false;
        for submission in batch {
            match submission {
                Submission::Close => {
                    closing = true;
                    break;
                }
                Submission::Signed { signed, reply } => {
                    incoming.push(Incoming::Signed(signed));
                    replies.push(reply);
                }
                Submission::OnBehalf {
                    member,
                    evidence,
                    body,
                    reply,
                } => {
                    // Counters are handed out here, in queue order, which is seal order.
                    incoming.push(Incoming::Decided(match voucher.as_mut() {
                        Some(voucher) => {
                            voucher.counter += 1;
                            Ok(CheckedStatement::vouched(Statement {
                                community: voucher.community,
                                counter: voucher.counter - 1,
                                member,
                                evidence,
                                body,
                            }))
                        }
                        None => Err(Refusal::new(
                            "read_only",
                            "this node holds no sequencer key for the community",
                        )),
                    }));
                    replies.push(reply);
                }
                Submission::Tick { reply } => ticks.push(reply),
            }
        }
        let verdicts = check_incoming(incoming);
        if checked
            .send(Checked {
                items: verdicts.into_iter().zip(replies).collect(),
                ticks,
            })
            .is_err()
            || closing
        {
            // Whatever is still queued is dropped with its reply channel: its submitter is
            // answered `Stopped` rather than left waiting.
            drop(submissions.try_iter().collect::<Vec<_>>());
            return;
        }
    }
}

/// Verify outside signatures (in one batch), keeping queue order.
fn check_incoming(incoming: Vec<Incoming>) -> Vec<Result<CheckedStatement, Refusal>> {
    let mut outside = Vec::new();
    let decided: Vec<Option<Result<CheckedStatement, Refusal>>> = incoming
        .into_iter()
        .map(|item| match item {
            Incoming::Signed(signed) => {
                outside.push(signed);
                None
            }
            Incoming::Decided(verdict) => Some(verdict),
        })
        .collect();
    let mut outside = if outside.is_empty() {
        Vec::new()
    } else {
        Ledger::check_statements(outside)
    }
    .into_iter();
    decided
        .into_iter()
        .map(|verdict| {
            verdict.unwrap_or_else(|| outside.next().expect("one verdict per outside statement"))
        })
        .collect()
}

fn seal_stage(
    mut ledger: Ledger,
    mut reactor: Box<dyn Reactor + Send>,
    checked: Receiver<Checked>,
    flush: Sender<Flush>,
    failed: Arc<AtomicBool>,
    clock: fn() -> u64,
    next_due: Option<Arc<NextDue>>,
) -> Ledger {
    while let Ok(first) = checked.recv() {
        let mut items = first.items;
        let mut ticks = first.ticks;
        // Whatever else was checked meanwhile joins this batch (up to the batch bound).
        while items.len() < WRITER_BATCH_MAX {
            match checked.try_recv() {
                Ok(more) => {
                    items.extend(more.items);
                    ticks.extend(more.ticks);
                }
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
                for reply in items.into_iter().map(|(_, reply)| reply).chain(ticks) {
                    reply.send(Err(reason.clone()));
                }
                continue;
            }
            failed.store(false, Ordering::Release);
        }
        // Sealed in chunks, each handed to the flush stage as soon as it is sealed: the
        // first votes of a wave are being made durable while the rest are still sealed.
        // When the flush stage is busy the chunks queue up and share its next fsync.
        let mut items = items.into_iter().peekable();
        let mut ticks = Some(ticks);
        let mut stopped = false;
        while items.peek().is_some() || ticks.is_some() {
            let part: Vec<_> = items.by_ref().take(SEAL_CHUNK_ENTRIES).collect();
            let part_ticks = if items.peek().is_none() {
                ticks.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            let flushing = seal_part(
                &mut ledger,
                &mut *reactor,
                part,
                part_ticks,
                clock,
                next_due.as_deref(),
            );
            if let Some(flushing) = flushing {
                if flush.send(flushing).is_err() {
                    stopped = true;
                    break;
                }
            }
        }
        if stopped {
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

/// Seal one chunk of checked statements and say what the flush stage must write and whom
/// it must answer (`None`: the chunk could not be sealed; its submitters were answered).
fn seal_part(
    ledger: &mut Ledger,
    reactor: &mut dyn Reactor,
    items: Vec<(Result<CheckedStatement, Refusal>, Reply)>,
    ticks: Vec<Reply>,
    clock: fn() -> u64,
    next_due: Option<&NextDue>,
) -> Option<Flush> {
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
    let (first, bytes, entries, mut results) =
        match ledger.seal_batch_with(sealable, clock(), reactor, true) {
            Ok(sealed) => (
                sealed.first,
                sealed.bytes,
                sealed.entries,
                sealed.results.into_iter(),
            ),
            Err(error) => {
                let reason = SubmitError::Store(error.to_string());
                for reply in answers.into_iter().map(|(reply, _)| reply).chain(ticks) {
                    reply.send(Err(reason.clone()));
                }
                return None;
            }
        };
    if let Some(next_due) = next_due {
        next_due.set(reactor.next_due());
    }
    let head = Receipt {
        seq: ledger.state().position.next_seq,
        hash: ledger.state().position.head,
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
        .chain(ticks.into_iter().map(|reply| (reply, Ok(head))))
        .collect();
    Some(Flush::Batch {
        first,
        bytes,
        entries,
        answers,
    })
}

fn flush_stage(
    store: Arc<dyn LogStore>,
    community: CommunityId,
    batches: Receiver<Flush>,
    failed: Arc<AtomicBool>,
    mut on_durable: Option<OnDurable>,
) {
    // Group k+1 goes to the store before group k is published and answered, so the store
    // makes k+1 durable while this thread feeds the read models with k.
    let mut in_flight: Option<Group> = None;
    loop {
        let message = if in_flight.is_some() {
            batches.try_recv().ok()
        } else {
            match batches.recv() {
                Ok(message) => Some(message),
                Err(_) => break,
            }
        };
        let next = message.map(|message| Group::gather(message, &batches, &*store, community));
        if let Some(group) = in_flight.take() {
            group.finish(&failed, on_durable.as_mut());
        }
        in_flight = next;
    }
}

/// Sealed batches that go to the store in one append, under one fsync, and the barriers
/// queued after them.
struct Group {
    ticket: Option<crate::store::AppendTicket>,
    entries: Vec<VerifiedEntry>,
    answers: Vec<(Reply, Result<Receipt, SubmitError>)>,
    barriers: Vec<Sender<()>>,
}

impl Group {
    /// `message` and every batch waiting behind it (up to a barrier), handed to the store.
    fn gather(
        message: Flush,
        batches: &Receiver<Flush>,
        store: &dyn LogStore,
        community: CommunityId,
    ) -> Group {
        let mut first = None;
        let mut bytes = Vec::new();
        let mut entries = Vec::new();
        let mut answers = Vec::new();
        let mut barriers = Vec::new();
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Flush::Barrier(done) => barriers.push(done),
                Flush::Batch {
                    first: batch_first,
                    bytes: batch_bytes,
                    entries: batch_entries,
                    answers: batch_answers,
                } => {
                    debug_assert!(
                        first.is_none()
                            || first.map(|at: u64| at + bytes.len() as u64) == Some(batch_first)
                    );
                    first.get_or_insert(batch_first);
                    bytes.extend(batch_bytes);
                    entries.extend(batch_entries);
                    answers.extend(batch_answers);
                }
            }
            if barriers.is_empty() && answers.len() < WRITER_BATCH_MAX {
                next = batches.try_recv().ok();
            }
        }
        let ticket = match first {
            Some(first) if !bytes.is_empty() => Some(store.begin_append(community, first, bytes)),
            _ => None,
        };
        Group {
            ticket,
            entries,
            answers,
            barriers,
        }
    }

    /// Wait until the group is durable, feed the read models, then answer everyone in it.
    fn finish(self, failed: &AtomicBool, on_durable: Option<&mut OnDurable>) {
        let written = match self.ticket {
            Some(ticket) => ticket.wait().map(|_| ()),
            None => Ok(()),
        };
        match written {
            Ok(()) => {
                if let Some(on_durable) = on_durable {
                    if !self.entries.is_empty() {
                        on_durable(self.entries);
                    }
                }
                for (reply, answer) in self.answers {
                    reply.send(answer);
                }
            }
            Err(error) => {
                failed.store(true, Ordering::Release);
                let reason = SubmitError::Store(error.to_string());
                for (reply, answer) in self.answers {
                    let answer = match answer {
                        Ok(_) => Err(reason.clone()),
                        refused => refused,
                    };
                    reply.send(answer);
                }
            }
        }
        for done in self.barriers {
            let _ = done.send(());
        }
    }
}
