//! A community's ledger: its log in a store, the state folded from it, and the sequencer
//! key that appends to it.
//!
//! Opening a ledger loads the latest snapshot and replays only the suffix, verifying every
//! entry (signatures in parallel batches, then chain and state rules in order). Appending
//! seals a statement or record against the current state, writes it at the expected seq
//! (so a concurrent writer can never fork the log), and applies it only once the store has
//! made it durable.

use std::cell::RefCell;
use std::sync::Arc;

use crossbeam_channel::bounded;

use indicatif::{ProgressBar, ProgressStyle};
use ostrom_projections::{apply, GovernanceState};
use ostrom_schemas::entry::sign_statement;
use ostrom_schemas::statement::Statement;
use ostrom_schemas::verify::{
    self, check_signatures_cached, BadEntry, CheckedStatement, KeyCache, Refusal, Sealable,
};
use ostrom_schemas::{
    CommunityId, Entry, Record, Signed, SigningKey, StatementBody, VerifiedEntry,
};
use rayon::prelude::*;

use crate::store::{LogStore, Snapshot, StoreError};

/// Entries whose signatures one task checks in one batch. Batch verification is one
/// multiscalar multiplication whose cost per point falls as it grows (Pippenger): a batch
/// of 1,024 entries (about 1,650 signatures) cost about 8% less CPU per entry to verify
/// than batches of 128 (`cargo bench --bench audit`).
pub const VERIFY_BATCH_ENTRIES: usize = 1024;
/// Entries read from the store and checked in parallel before they are applied in order.
pub const VERIFY_CHUNK_ENTRIES: usize = 8 * 1024;
/// Statement batches smaller than this are not split further across threads.
pub const CHECK_SPLIT_ENTRIES_MIN: usize = 8;
/// Chunks in flight between the pipeline's stages.
pub const PIPELINE_DEPTH: usize = 2;
/// A snapshot is written after opening when at least this many entries were replayed.
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 10_000;

const _: () = assert!(VERIFY_CHUNK_ENTRIES % VERIFY_BATCH_ENTRIES == 0);

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The statement or record was refused; nothing was appended.
    #[error("{0}")]
    Refused(Refusal),
    /// The log (or an export) fails verification at an entry.
    #[error("verification failed at {0}")]
    Invalid(BadEntry),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this data directory holds no sequencer key for the community, so it cannot append")]
    ReadOnly,
}

impl LedgerError {
    /// A stable code for callers (CLI exit messages, API errors).
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Refused(refusal) => refusal.code,
            LedgerError::Invalid(bad) => bad.code,
            LedgerError::Store(StoreError::Conflict { .. }) => "conflict",
            LedgerError::Store(StoreError::Corrupt(_)) => "store_corrupt",
            LedgerError::Store(StoreError::UnknownCommunity(_)) => "unknown_community",
            LedgerError::Store(_) => "store_error",
            LedgerError::ReadOnly => "read_only",
        }
    }
}

/// How replay reports progress: a bar on a terminal, nothing otherwise.
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} entries ({per_sec}, {eta})")
            .expect("template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

thread_local! {
    /// Each verifying thread keeps its decompressed keys across batches.
    static KEY_CACHE: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// What the parallel half of verification says about each batch of a chunk.
type Verdicts = Vec<Result<Vec<verify::SignatureChecked>, BadEntry>>;

/// Decode and check the signatures of `chunk` (whose first entry should be seq `first`),
/// in parallel batches.
fn check_chunk(first: u64, chunk: &[Vec<u8>]) -> Verdicts {
    chunk
        .par_chunks(VERIFY_BATCH_ENTRIES)
        .enumerate()
        .map(|(index, batch)| check_batch(first + (index * VERIFY_BATCH_ENTRIES) as u64, batch))
        .collect()
}

fn check_batch(first: u64, batch: &[Vec<u8>]) -> Result<Vec<verify::SignatureChecked>, BadEntry> {
    let decoded = batch
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            Ok((
                verify::decode(bytes, first + index as u64)?,
                bytes.as_slice(),
            ))
        })
        .collect::<Result<Vec<(Entry, &[u8])>, BadEntry>>()?;
    KEY_CACHE.with(|cache| check_signatures_cached(first, decoded, &mut cache.borrow_mut()))
}

/// The ordered half: admit and apply each checked entry. A batch that failed is redone one
/// entry at a time, so the error names the first bad entry in log order. `inspect` sees
/// each admitted entry with the state just before it (verification by re-execution).
fn admit_chunk(
    state: &mut GovernanceState,
    first: u64,
    chunk: &[Vec<u8>],
    verdicts: Verdicts,
    on_applied: &mut impl FnMut(&VerifiedEntry),
    inspect: &mut Inspect<'_>,
) -> Result<(), BadEntry> {
    for (index, verdict) in verdicts.into_iter().enumerate() {
        let offset = index * VERIFY_BATCH_ENTRIES;
        match verdict {
            Ok(batch) => {
                for entry in batch {
                    let verified = entry.admit(&*state)?;
                    inspect(state, &verified)?;
                    apply(state, &verified);
                    on_applied(&verified);
                }
            }
            Err(_) => {
                let end = (offset + VERIFY_BATCH_ENTRIES).min(chunk.len());
                for position in offset..end {
                    let mut one =
                        check_batch(first + position as u64, &chunk[position..position + 1])?;
                    let verified = one.pop().expect("one in, one out").admit(&*state)?;
                    inspect(state, &verified)?;
                    apply(state, &verified);
                    on_applied(&verified);
                }
                unreachable!("a batch that failed together passed one by one");
            }
        }
    }
    Ok(())
}

/// A check of each verified entry against the state just before it.
pub type Inspect<'a> = dyn FnMut(&GovernanceState, &VerifiedEntry) -> Result<(), BadEntry> + 'a;

/// Verify and apply entries (canonical bytes) in order: decoding and signatures in
/// parallel batches, then chain and state rules one by one.
pub fn verify_and_apply(
    state: &mut GovernanceState,
    raw: &[Vec<u8>],
    on_applied: impl FnMut(&VerifiedEntry),
) -> Result<(), BadEntry> {
    verify_and_apply_inspecting(state, raw, on_applied, &mut |_, _| Ok(()))
}

/// `verify_and_apply`, showing `inspect` every entry with the state just before it.
pub fn verify_and_apply_inspecting(
    state: &mut GovernanceState,
    raw: &[Vec<u8>],
    mut on_applied: impl FnMut(&VerifiedEntry),
    inspect: &mut Inspect<'_>,
) -> Result<(), BadEntry> {
    let first = state.position.next_seq;
    let verdicts = check_chunk(first, raw);
    admit_chunk(state, first, raw, verdicts, &mut on_applied, inspect)
}

/// What reacts to entries as they are sealed, within the same batch: the policy engine.
pub trait Reactor {
    /// Refuse a statement before it is sealed (e.g. a policy source that does not compile).
    fn precheck(
        &mut self,
        _state: &GovernanceState,
        _statement: &Statement,
    ) -> Result<(), Refusal> {
        Ok(())
    }
    /// Seal whatever follows from an entry just sealed and applied.
    fn after(&mut self, _batch: &mut Batch<'_>, _entry: &VerifiedEntry) {}
    /// A statement was refused; the audit trail may want to know.
    fn refused(&mut self, _batch: &mut Batch<'_>, _statement: &Statement, _refusal: &Refusal) {}
    /// Time has passed: act on what is due by `batch.at_ms()`.
    fn tick(&mut self, _batch: &mut Batch<'_>) {}
    /// The next instant (sequencer ms) at which `tick` has something to do, if any.
    fn next_due(&self) -> Option<u64> {
        None
    }
}

/// Reacts to nothing.
pub struct NoReactor;

impl Reactor for NoReactor {}

/// Entries being sealed into one batch: what a [`Reactor`] sees and appends to.
pub struct Batch<'a> {
    state: &'a mut GovernanceState,
    key: &'a SigningKey,
    at_ms: u64,
    bytes: Vec<Vec<u8>>,
    entries: Vec<VerifiedEntry>,
    epoch: &'a mut u64,
}

/// Whether applying `entry` may change who the members are or who holds which role: every
/// entry but votes, withdrawals and evaluations (an evaluation only requests an execution;
/// the execution is its own entry).
pub fn may_change_directory(entry: &Entry) -> bool {
    let vote = |statement: &Statement| {
        matches!(
            statement.body,
            StatementBody::VoteCast { .. } | StatementBody::VoteWithdrawn { .. }
        )
    };
    !match &entry.body {
        ostrom_schemas::Body::Statement(signed) => vote(&signed.statement),
        ostrom_schemas::Body::Vouched(statement) => vote(statement),
        ostrom_schemas::Body::Record(record) => matches!(record, Record::Evaluated(_)),
    }
}

impl Batch<'_> {
    /// The state with every entry sealed so far applied.
    pub fn state(&self) -> &GovernanceState {
        self.state
    }

    /// Changes whenever an entry that may change members or roles is applied (and when the
    /// ledger reloads), so anything derived from members and roles alone can be cached
    /// under it exactly.
    pub fn directory_epoch(&self) -> u64 {
        *self.epoch
    }

    /// The sequencer time of this batch.
    pub fn at_ms(&self) -> u64 {
        self.at_ms.max(self.state.position.at_ms)
    }

    /// Seal one more entry against the current state and apply it.
    pub fn seal(&mut self, item: Sealable) -> Result<VerifiedEntry, Refusal> {
        let (verified, encoded) = verify::seal(&*self.state, self.key, self.at_ms, item)
            .map_err(|bad| Refusal::new(bad.code, bad.reason))?;
        apply(self.state, &verified);
        if may_change_directory(verified.entry()) {
            *self.epoch += 1;
        }
        self.bytes.push(encoded);
        self.entries.push(verified.clone());
        Ok(verified)
    }
}

/// A batch sealed and applied in memory, not yet durable.
pub struct SealedBatch {
    /// The seq of the first sealed entry.
    pub first: u64,
    /// Canonical bytes of the sealed entries, in order.
    pub bytes: Vec<Vec<u8>>,
    /// Every sealed entry (items and what the reactor sealed after them), in order: what
    /// read models apply once the batch is durable.
    pub entries: Vec<VerifiedEntry>,
    /// One result per item: its entry, or why it was refused.
    pub results: Vec<Result<VerifiedEntry, Refusal>>,
}

pub struct Ledger {
    store: Arc<dyn LogStore>,
    community: CommunityId,
    state: GovernanceState,
    sequencer: Option<SigningKey>,
    /// See [`Batch::directory_epoch`].
    directory_epoch: u64,
}

impl Ledger {
    /// Found a community: write its genesis entry, signed by `sequencer`.
    pub fn found(
        store: Arc<dyn LogStore>,
        founding: Signed,
        sequencer: SigningKey,
        at_ms: u64,
    ) -> Result<Ledger, LedgerError> {
        let community = founding.statement.community;
        let name = match &founding.statement.body {
            StatementBody::CommunityFounded(founding) => founding.name.clone(),
            _ => {
                return Err(LedgerError::Refused(Refusal::new(
                    "bad_genesis",
                    "not a founding statement",
                )))
            }
        };
        let checked = verify::check_statement(founding).map_err(LedgerError::Refused)?;
        let mut state = GovernanceState::default();
        let (verified, bytes) =
            verify::seal(&state, &sequencer, at_ms, Sealable::Statement(checked))
                .map_err(|bad| LedgerError::Refused(Refusal::new(bad.code, bad.reason)))?;
        store.create_community(community, &name)?;
        store.append(community, 0, vec![bytes])?;
        apply(&mut state, &verified);
        Ok(Ledger {
            store,
            community,
            state,
            sequencer: Some(sequencer),
            directory_epoch: 0,
        })
    }

    /// Open a community's ledger: snapshot, then the verified suffix.
    pub fn open(
        store: Arc<dyn LogStore>,
        community: CommunityId,
        sequencer: Option<SigningKey>,
        show_progress: bool,
    ) -> Result<Ledger, LedgerError> {
        let mut state = match store.load_snapshot(community)? {
            Some(snapshot) => restore_snapshot(&*store, community, &snapshot)?,
            None => GovernanceState::default(),
        };
        let from = state.position.next_seq;
        let total = store.len(community)?;
        let bar = if show_progress && total - from > VERIFY_CHUNK_ENTRIES as u64 {
            progress_bar(total - from, "replaying")
        } else {
            ProgressBar::hidden()
        };
        replay_from_store(&*store, community, &mut state, &bar)?;
        bar.finish_and_clear();
        if let (Some(sequencer), Some(founded)) = (&sequencer, &state.community) {
            if crate::keys::public(sequencer) != founded.sequencer {
                return Err(LedgerError::Refused(Refusal::new(
                    "wrong_key",
                    "the sequencer key in this data directory is not the community's",
                )));
            }
        }
        let ledger = Ledger {
            store,
            community,
            state,
            sequencer,
            directory_epoch: 0,
        };
        if ledger.state.position.next_seq - from >= SNAPSHOT_INTERVAL_ENTRIES {
            ledger.save_snapshot()?;
        }
        Ok(ledger)
    }

    /// Whether this ledger holds the sequencer key (an imported copy does not).
    pub fn can_append(&self) -> bool {
        self.sequencer.is_some()
    }

    /// The sequencer key, when this data directory holds it.
    pub fn sequencer(&self) -> Option<&SigningKey> {
        self.sequencer.as_ref()
    }

    pub fn state(&self) -> &GovernanceState {
        &self.state
    }

    pub fn community(&self) -> CommunityId {
        self.community
    }

    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    pub fn save_snapshot(&self) -> Result<(), LedgerError> {
        self.store.save_snapshot(
            self.community,
            Snapshot {
                covers: self.state.position.next_seq,
                bytes: self.state.encode(),
            },
        )?;
        Ok(())
    }

    /// The next counter for statements signed by `key`.
    pub fn next_counter(&self, key: &ostrom_schemas::PublicKey) -> u64 {
        self.state.counters.get(key).copied().unwrap_or(0) + 1
    }

    /// Build and sign a statement for `member` with `key`.
    pub fn sign(&self, member: &str, key: &SigningKey, body: StatementBody) -> Signed {
        let statement = Statement {
            community: self.community,
            counter: self.next_counter(&crate::keys::public(key)),
            member: member.to_owned(),
            evidence: None,
            body,
        };
        sign_statement(statement, key)
    }

    /// A statement for `member` that the sequencer vouches for (whoever calls this has
    /// authenticated the member another way), with the sequencer key's next counter. It is
    /// sealed as a `Body::Vouched` entry, asserted by the entry signature alone.
    pub fn vouch(
        &self,
        member: &str,
        body: StatementBody,
    ) -> Result<CheckedStatement, LedgerError> {
        let key = self.sequencer.as_ref().ok_or(LedgerError::ReadOnly)?;
        Ok(CheckedStatement::vouched(Statement {
            community: self.community,
            counter: self.next_counter(&crate::keys::public(key)),
            member: member.to_owned(),
            evidence: None,
            body,
        }))
    }

    /// Append a statement the sequencer vouches for ([`vouch`](Self::vouch)). Nothing is
    /// appended if it is refused.
    pub fn submit_vouched(
        &mut self,
        member: &str,
        body: StatementBody,
        at_ms: u64,
    ) -> Result<VerifiedEntry, LedgerError> {
        let checked = self.vouch(member, body)?;
        self.append(Sealable::Statement(checked), at_ms)
    }

    /// Append a statement someone signed. Nothing is appended if it is refused.
    pub fn submit(&mut self, signed: Signed, at_ms: u64) -> Result<VerifiedEntry, LedgerError> {
        let checked = verify::check_statement(signed).map_err(LedgerError::Refused)?;
        self.append(Sealable::Statement(checked), at_ms)
    }

    /// Append an engine record.
    pub fn record(&mut self, record: Record, at_ms: u64) -> Result<VerifiedEntry, LedgerError> {
        self.append(Sealable::Record(record), at_ms)
    }

    /// Append pre-checked statements and records as one durable batch (one group commit).
    /// Each item is sealed against the state left by the ones before it; refused items are
    /// skipped and reported in place.
    pub fn append_batch(
        &mut self,
        items: Vec<Sealable>,
        at_ms: u64,
    ) -> Result<Vec<Result<VerifiedEntry, Refusal>>, LedgerError> {
        self.append_with(items, at_ms, &mut NoReactor, false)
    }

    /// Seal and apply a batch in memory without writing it: the caller must append
    /// `bytes` at `first` and, if that fails, [`reload`](Self::reload) before sealing more.
    /// This is how the writer overlaps sealing one batch with the fsync of the previous.
    /// `reactor` (the policy engine) may refuse statements before they are sealed and seal
    /// records after each entry, into the same batch; `tick` lets it act on time passing.
    ///
    /// Items are applied as they are sealed, because cloning the state per batch would cost
    /// more than the batch.
    pub fn seal_batch_with(
        &mut self,
        items: Vec<Sealable>,
        at_ms: u64,
        reactor: &mut dyn Reactor,
        tick: bool,
    ) -> Result<SealedBatch, LedgerError> {
        let key = self.sequencer.clone().ok_or(LedgerError::ReadOnly)?;
        let first = self.state.position.next_seq;
        let mut batch = Batch {
            state: &mut self.state,
            key: &key,
            at_ms,
            bytes: Vec::with_capacity(items.len()),
            entries: Vec::with_capacity(items.len()),
            epoch: &mut self.directory_epoch,
        };
        if tick {
            reactor.tick(&mut batch);
        }
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            if let Sealable::Statement(statement) = &item {
                if let Err(refusal) = reactor.precheck(batch.state(), statement.statement()) {
                    reactor.refused(&mut batch, statement.statement(), &refusal);
                    results.push(Err(refusal));
                    continue;
                }
            }
            let statement = match &item {
                Sealable::Statement(statement) => Some(statement.statement().clone()),
                Sealable::Record(_) => None,
            };
            match batch.seal(item) {
                Ok(verified) => {
                    reactor.after(&mut batch, &verified);
                    results.push(Ok(verified));
                }
                Err(refusal) => {
                    if let Some(statement) = &statement {
                        reactor.refused(&mut batch, statement, &refusal);
                    }
                    results.push(Err(refusal));
                }
            }
        }
        Ok(SealedBatch {
            first,
            bytes: batch.bytes,
            entries: batch.entries,
            results,
        })
    }

    /// `seal_batch_with` and no reactor.
    pub fn seal_batch(
        &mut self,
        items: Vec<Sealable>,
        at_ms: u64,
    ) -> Result<SealedBatch, LedgerError> {
        self.seal_batch_with(items, at_ms, &mut NoReactor, false)
    }

    /// Seal, react and make durable in one go (the CLI and scenario runs; the server's
    /// writer pipelines these steps instead).
    pub fn append_with(
        &mut self,
        items: Vec<Sealable>,
        at_ms: u64,
        reactor: &mut dyn Reactor,
        tick: bool,
    ) -> Result<Vec<Result<VerifiedEntry, Refusal>>, LedgerError> {
        let sealed = self.seal_batch_with(items, at_ms, reactor, tick)?;
        if !sealed.bytes.is_empty() {
            if let Err(error) = self
                .store
                .append(self.community, sealed.first, sealed.bytes)
            {
                self.reload()?;
                return Err(error.into());
            }
        }
        Ok(sealed.results)
    }

    /// Rebuild the state from the store (after a failed write).
    pub fn reload(&mut self) -> Result<(), LedgerError> {
        let fresh = Ledger::open(
            self.store.clone(),
            self.community,
            self.sequencer.clone(),
            false,
        )?;
        self.state = fresh.state;
        self.directory_epoch += 1;
        Ok(())
    }

    fn append(&mut self, item: Sealable, at_ms: u64) -> Result<VerifiedEntry, LedgerError> {
        let mut results = self.append_batch(vec![item], at_ms)?;
        results
            .pop()
            .expect("one result per item")
            .map_err(LedgerError::Refused)
    }

    /// Check a batch of incoming statements' signatures at once.
    /// Small batches are split across the pool's threads too: under light load latency is
    /// what limits throughput, and idle cores can cut it.
    pub fn check_statements(statements: Vec<Signed>) -> Vec<Result<CheckedStatement, Refusal>> {
        let per_thread = statements.len().div_ceil(rayon::current_num_threads());
        let chunk = per_thread.clamp(CHECK_SPLIT_ENTRIES_MIN, VERIFY_BATCH_ENTRIES);
        statements
            .par_chunks(chunk)
            .flat_map_iter(|chunk| {
                KEY_CACHE.with(|cache| {
                    verify::check_statements_cached(chunk.to_vec(), &mut cache.borrow_mut())
                })
            })
            .collect()
    }
}

/// Replay entries from the store onto `state`, from its position to the end, as a
/// pipeline: one thread reads chunks, the rayon pool checks signatures, and this thread
/// admits and applies them in order, so reading, checking and applying overlap.
pub fn replay_from_store(
    store: &dyn LogStore,
    community: CommunityId,
    state: &mut GovernanceState,
    bar: &ProgressBar,
) -> Result<(), LedgerError> {
    replay_until(store, community, state, u64::MAX, bar)
}

/// `replay_from_store`, stopping before seq `end`: the state as of entry `end - 1` (time
/// travel: what governance looked like at any point of the log).
pub fn replay_until(
    store: &dyn LogStore,
    community: CommunityId,
    state: &mut GovernanceState,
    end: u64,
    bar: &ProgressBar,
) -> Result<(), LedgerError> {
    replay_inspecting(store, community, state, end, bar, &mut |_, _| Ok(()))
}

/// `replay_until`, showing `inspect` every entry with the state just before it.
pub fn replay_inspecting(
    store: &dyn LogStore,
    community: CommunityId,
    state: &mut GovernanceState,
    end: u64,
    bar: &ProgressBar,
    inspect: &mut Inspect<'_>,
) -> Result<(), LedgerError> {
    let from = state.position.next_seq;
    let reader_failed = std::sync::Mutex::new(None);
    let reader_failed = &reader_failed;
    std::thread::scope(|scope| {
        let (chunks, read) = bounded::<Result<(u64, Vec<Vec<u8>>), StoreError>>(PIPELINE_DEPTH);
        let (checked, verified) = bounded::<(u64, Vec<Vec<u8>>, Verdicts)>(PIPELINE_DEPTH);
        scope.spawn(move || {
            let stream = match store.read_from(community, from) {
                Ok(stream) => stream,
                Err(error) => {
                    let _ = chunks.send(Err(error));
                    return;
                }
            };
            let mut first = from;
            let mut pending = Vec::with_capacity(VERIFY_CHUNK_ENTRIES);
            for item in stream {
                match item {
                    Ok((seq, _)) if seq >= end => break,
                    Ok((_, bytes)) => pending.push(bytes),
                    Err(error) => {
                        let _ = chunks.send(Err(error));
                        return;
                    }
                }
                if pending.len() == VERIFY_CHUNK_ENTRIES {
                    let chunk =
                        std::mem::replace(&mut pending, Vec::with_capacity(VERIFY_CHUNK_ENTRIES));
                    let count = chunk.len() as u64;
                    if chunks.send(Ok((first, chunk))).is_err() {
                        return; // the consumer stopped at a bad entry
                    }
                    first += count;
                }
            }
            let _ = chunks.send(Ok((first, pending)));
        });
        scope.spawn(move || {
            for item in read {
                match item {
                    Ok((first, chunk)) => {
                        let verdicts = check_chunk(first, &chunk);
                        if checked.send((first, chunk, verdicts)).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        *reader_failed.lock().expect("not poisoned") = Some(error);
                        return;
                    }
                }
            }
        });
        for (first, chunk, verdicts) in verified {
            let count = chunk.len() as u64;
            admit_chunk(state, first, &chunk, verdicts, &mut |_| {}, inspect)
                .map_err(LedgerError::Invalid)?;
            bar.inc(count);
        }
        match reader_failed.lock().expect("not poisoned").take() {
            Some(error) => Err(LedgerError::Store(error)),
            None => Ok(()),
        }
    })
}

/// A snapshot is trusted only if it decodes, belongs to the community, and its head is the
/// hash of the entry it claims to end at.
fn restore_snapshot(
    store: &dyn LogStore,
    community: CommunityId,
    snapshot: &Snapshot,
) -> Result<GovernanceState, LedgerError> {
    let corrupt = |why: String| LedgerError::Store(StoreError::Corrupt(format!("snapshot: {why}")));
    let state = GovernanceState::decode(&snapshot.bytes).map_err(corrupt)?;
    if state.position.next_seq != snapshot.covers || state.community_id() != Some(community) {
        return Err(corrupt("does not match its community or position".into()));
    }
    let last = store.read_range(community, snapshot.covers - 1, snapshot.covers)?;
    let head = last
        .first()
        .map(|bytes| ostrom_schemas::entry::hash_entry_bytes(bytes))
        .ok_or_else(|| corrupt("covers entries the log does not have".into()))?;
    if head != state.position.head {
        return Err(corrupt(
            "its head is not the hash of the log's entry".into(),
        ));
    }
    Ok(state)
}
