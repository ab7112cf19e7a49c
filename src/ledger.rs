//! A community's ledger: its log in a store, the state folded from it, and the sequencer
//! key that appends to it.
//!
//! Opening a ledger loads the latest snapshot and replays only the suffix, verifying every
//! entry (signatures in parallel batches, then chain and state rules in order). Appending
//! seals a statement or record against the current state, writes it at the expected seq
//! (so a concurrent writer can never fork the log), and applies it only once the store has
//! made it durable.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use ostrom_projections::{apply, GovernanceState};
use ostrom_schemas::entry::sign_statement;
use ostrom_schemas::statement::Statement;
use ostrom_schemas::verify::{
    self, check_signatures, BadEntry, CheckedStatement, Refusal, Sealable,
};
use ostrom_schemas::{
    CommunityId, Entry, Record, Signed, SigningKey, StatementBody, VerifiedEntry,
};
use rayon::prelude::*;

use crate::store::{LogStore, Snapshot, StoreError};

/// Entries whose signatures one task checks in one batch.
pub const VERIFY_BATCH_ENTRIES: usize = 128;
/// Entries read from the store and checked in parallel before they are applied in order.
pub const VERIFY_CHUNK_ENTRIES: usize = 8 * 1024;
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

/// Verify and apply entries (canonical bytes) in order: decoding and signatures in
/// parallel batches, then chain and state rules one by one. A batch that fails is redone
/// one entry at a time, so the error names the first bad entry in log order.
pub fn verify_and_apply(
    state: &mut GovernanceState,
    raw: &[Vec<u8>],
    mut on_applied: impl FnMut(&VerifiedEntry),
) -> Result<(), BadEntry> {
    let first = state.position.next_seq;
    let check =
        |offset: usize, chunk: &[Vec<u8>]| -> Result<Vec<verify::SignatureChecked>, BadEntry> {
            let decoded = chunk
                .iter()
                .enumerate()
                .map(|(index, bytes)| {
                    let entry = verify::decode(bytes, first + (offset + index) as u64)?;
                    Ok((entry, bytes.as_slice()))
                })
                .collect::<Result<Vec<(Entry, &[u8])>, BadEntry>>()?;
            check_signatures(decoded)
        };
    let verdicts: Vec<Result<Vec<verify::SignatureChecked>, BadEntry>> = raw
        .par_chunks(VERIFY_BATCH_ENTRIES)
        .enumerate()
        .map(|(index, chunk)| check(index * VERIFY_BATCH_ENTRIES, chunk))
        .collect();
    for (index, verdict) in verdicts.into_iter().enumerate() {
        let offset = index * VERIFY_BATCH_ENTRIES;
        match verdict {
            Ok(batch) => {
                for entry in batch {
                    let verified = entry.admit(&*state)?;
                    apply(state, &verified);
                    on_applied(&verified);
                }
            }
            Err(_) => {
                let end = (offset + VERIFY_BATCH_ENTRIES).min(raw.len());
                for position in offset..end {
                    let mut one = check(position, &raw[position..position + 1])?;
                    let verified = one.pop().expect("one in, one out").admit(&*state)?;
                    apply(state, &verified);
                    on_applied(&verified);
                }
                unreachable!("a batch that failed together passed one by one");
            }
        }
    }
    Ok(())
}

pub struct Ledger {
    store: Arc<dyn LogStore>,
    community: CommunityId,
    state: GovernanceState,
    sequencer: Option<SigningKey>,
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
        };
        if ledger.state.position.next_seq - from >= SNAPSHOT_INTERVAL_ENTRIES {
            ledger.save_snapshot()?;
        }
        Ok(ledger)
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
            body,
        };
        sign_statement(statement, key)
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
    ///
    /// Items are applied as they are sealed (cloning the state per batch would cost more
    /// than the batch); if the store then fails, the state is rebuilt from the store, so
    /// nothing that was not made durable survives in memory.
    pub fn append_batch(
        &mut self,
        items: Vec<Sealable>,
        at_ms: u64,
    ) -> Result<Vec<Result<VerifiedEntry, Refusal>>, LedgerError> {
        let key = self.sequencer.clone().ok_or(LedgerError::ReadOnly)?;
        let first = self.state.position.next_seq;
        let mut results = Vec::with_capacity(items.len());
        let mut bytes = Vec::with_capacity(items.len());
        for item in items {
            match verify::seal(&self.state, &key, at_ms, item) {
                Ok((verified, encoded)) => {
                    apply(&mut self.state, &verified);
                    bytes.push(encoded);
                    results.push(Ok(verified));
                }
                Err(bad) => results.push(Err(Refusal::new(bad.code, bad.reason))),
            }
        }
        if !bytes.is_empty() {
            if let Err(error) = self.store.append(self.community, first, bytes) {
                self.reload()?;
                return Err(error.into());
            }
        }
        Ok(results)
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
        Ok(())
    }

    fn append(&mut self, item: Sealable, at_ms: u64) -> Result<VerifiedEntry, LedgerError> {
        let key = self.sequencer.as_ref().ok_or(LedgerError::ReadOnly)?;
        let (verified, bytes) = verify::seal(&self.state, key, at_ms, item)
            .map_err(|bad| LedgerError::Refused(Refusal::new(bad.code, bad.reason)))?;
        self.store
            .append(self.community, self.state.position.next_seq, vec![bytes])?;
        apply(&mut self.state, &verified);
        Ok(verified)
    }

    /// Check a batch of incoming statements' signatures at once.
    pub fn check_statements(statements: Vec<Signed>) -> Vec<Result<CheckedStatement, Refusal>> {
        statements
            .par_chunks(VERIFY_BATCH_ENTRIES)
            .flat_map_iter(|chunk| verify::check_statements(chunk.to_vec()))
            .collect()
    }
}

/// Replay entries from the store onto `state`, from its position to the end.
pub fn replay_from_store(
    store: &dyn LogStore,
    community: CommunityId,
    state: &mut GovernanceState,
    bar: &ProgressBar,
) -> Result<(), LedgerError> {
    let mut pending = Vec::with_capacity(VERIFY_CHUNK_ENTRIES);
    let stream = store.read_from(community, state.position.next_seq)?;
    for item in stream {
        let (_, bytes) = item?;
        pending.push(bytes);
        if pending.len() == VERIFY_CHUNK_ENTRIES {
            let chunk = std::mem::replace(&mut pending, Vec::with_capacity(VERIFY_CHUNK_ENTRIES));
            verify_and_apply(state, &chunk, |_| {}).map_err(LedgerError::Invalid)?;
            bar.inc(VERIFY_CHUNK_ENTRIES as u64);
        }
    }
    let rest = pending.len() as u64;
    verify_and_apply(state, &pending, |_| {}).map_err(LedgerError::Invalid)?;
    bar.inc(rest);
    Ok(())
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
