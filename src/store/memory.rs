//! `MemoryStore`: a [`LogStore`] kept in memory, for tests and deterministic simulation.
//!
//! It is the reference model the sled backend is checked against (the conformance suite runs
//! both), so it is deliberately plain: one mutex around ordered maps, every operation checked
//! and applied under that lock, nothing durable. Simulations inject storage faults through
//! [`MemoryStore::fail_next_appends`]: a failed append writes nothing, like a write the disk
//! refused before it reached the log.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use ostrom_schemas::CommunityId;

use super::{CommunityRecord, EntryStream, LogStore, Snapshot, StoreError};

/// A community's log, as the store keeps it.
#[derive(Debug, Default)]
struct Log {
    name: String,
    entries: Vec<Vec<u8>>,
    snapshot: Option<Snapshot>,
}

#[derive(Debug, Default)]
struct Inner {
    logs: BTreeMap<CommunityId, Log>,
    /// Appends still to be refused with `StoreError::Io` before anything is checked.
    appends_to_fail: u64,
}

impl Inner {
    fn log(&self, community: CommunityId) -> Result<&Log, StoreError> {
        self.logs
            .get(&community)
            .ok_or(StoreError::UnknownCommunity(community))
    }
}

/// An in-memory [`LogStore`] with injectable append failures.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Make the next `count` calls to `append` fail with `StoreError::Io` without writing
    /// anything (replacing any count still pending). A fault is consumed by the call it hits,
    /// whatever that call would otherwise have returned.
    pub fn fail_next_appends(&self, count: u64) {
        self.lock().appends_to_fail = count;
    }

    /// How many injected append failures are still to come.
    pub fn appends_to_fail(&self) -> u64 {
        self.lock().appends_to_fail
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation checks before it mutates and mutates in one step, so a panic on
        // another thread can never leave the maps half-changed: the poison flag carries no
        // information here.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LogStore for MemoryStore {
    fn create_community(&self, id: CommunityId, name: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.logs.contains_key(&id) {
            return Err(StoreError::CommunityExists(id));
        }
        inner.logs.insert(
            id,
            Log {
                name: name.to_owned(),
                ..Log::default()
            },
        );
        Ok(())
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        let inner = self.lock();
        let mut records: Vec<CommunityRecord> = inner
            .logs
            .iter()
            .map(|(id, log)| CommunityRecord {
                id: *id,
                name: log.name.clone(),
            })
            .collect();
        // By name, then id, so that two communities sharing a name still list in one order.
        records.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(records)
    }

    fn append(
        &self,
        community: CommunityId,
        expected_seq: u64,
        entries: Vec<Vec<u8>>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if inner.appends_to_fail > 0 {
            inner.appends_to_fail -= 1;
            return Err(StoreError::Io(
                "injected append failure (memory store)".to_owned(),
            ));
        }
        let log = inner
            .logs
            .get_mut(&community)
            .ok_or(StoreError::UnknownCommunity(community))?;
        let actual = log.entries.len() as u64;
        if expected_seq != actual {
            return Err(StoreError::Conflict {
                expected: expected_seq,
                actual,
            });
        }
        log.entries.extend(entries);
        Ok(log.entries.len() as u64)
    }

    fn len(&self, community: CommunityId) -> Result<u64, StoreError> {
        Ok(self.lock().log(community)?.entries.len() as u64)
    }

    fn read_range(
        &self,
        community: CommunityId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let inner = self.lock();
        let entries = &inner.log(community)?.entries;
        let end = clamp_index(to, entries.len());
        let start = clamp_index(from, end);
        Ok(entries[start..end].to_vec())
    }

    fn read_from(&self, community: CommunityId, from: u64) -> Result<EntryStream<'_>, StoreError> {
        // The end is fixed when the stream is made, as in the sled backend: a reader sees the
        // log as it was when it asked, and entries are cloned one at a time as it goes.
        let end = self.len(community)?;
        let stream = (from.min(end)..end).map(move |seq| {
            let inner = self.lock();
            let entries = &inner.log(community)?.entries;
            let entry = entries.get(clamp_index(seq, usize::MAX)).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "community {community}: seq {seq} vanished while being read"
                ))
            })?;
            Ok((seq, entry.clone()))
        });
        Ok(Box::new(stream))
    }

    fn save_snapshot(&self, community: CommunityId, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let log = inner
            .logs
            .get_mut(&community)
            .ok_or(StoreError::UnknownCommunity(community))?;
        let actual = log.entries.len() as u64;
        // A snapshot of entries the log does not hold would let state run ahead of its
        // evidence; the caller's view is stale, as in an append conflict.
        if snapshot.covers > actual {
            return Err(StoreError::Conflict {
                expected: snapshot.covers,
                actual,
            });
        }
        log.snapshot = Some(snapshot);
        Ok(())
    }

    fn load_snapshot(&self, community: CommunityId) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().log(community)?.snapshot.clone())
    }
}

/// `seq` as an index, no larger than `len`.
fn clamp_index(seq: u64, len: usize) -> usize {
    usize::try_from(seq).unwrap_or(usize::MAX).min(len)
}
