//! `SledStore`: the embedded default [`LogStore`], on sled 0.34, with group commit and fsync.
//!
//! Layout inside one sled database: a tree per community named `entries/<community hex>`
//! (key = seq as u64 big-endian, value = the entry's canonical bytes), a `communities` tree
//! (community id bytes -> name) and a `snapshots` tree (community id bytes -> covers as u64
//! big-endian ++ snapshot bytes).
//!
//! Durability: every write goes to one committer thread. It drains whatever is pending into a
//! batch, checks each append against its in-memory length of each log (so a conflict fails
//! that request alone), writes the batch, and then makes it durable once for everyone:
//! `Db::flush` (which on Linux only issues `sync_file_range`, not a disk cache flush) followed
//! by `fsync` of sled's log file and of any new blob files. Only then are waiters answered
//! and the new lengths published to readers, so a reader never sees an entry that a crash
//! could still take away, and concurrent appenders share one fsync. A failed write or sync
//! is not retried (after a failed fsync the kernel may already have dropped the dirty pages):
//! the store refuses every later write and must be reopened, which recovers what is on disk.
//!
//! Reads never pass through the committer. They go straight to sled, up to the durable
//! length, and check as they go that seqs run without gaps; `open` checks each log's ends,
//! every record and every snapshot. Anything out of place is `StoreError::Corrupt` naming
//! the community and seq. sled itself opens a missing or garbage log file as a new, empty
//! database, so a marker file beside it (written once the format key inside sled is
//! durable) turns that case into `Corrupt` too. What this cannot see is sled recovering
//! only a prefix of a log file damaged in the middle: that would need a high-water mark
//! outside sled, and a second fsync per batch.

use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ostrom_schemas::CommunityId;

use super::{AppendTicket, CommunityRecord, EntryStream, LogStore, Snapshot, StoreError};

/// Requests the committer takes into one batch, and so under one fsync.
pub const COMMIT_REQUESTS_MAX: usize = 1024;
/// Bytes of entries and snapshots in one batch. The first request of a batch is taken
/// whatever its size; later ones wait for the next batch once this is reached.
pub const COMMIT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Requests queued for the committer; writers block beyond this rather than grow memory.
pub const QUEUE_REQUESTS_MAX: usize = 4 * COMMIT_REQUESTS_MAX;

const _: () = assert!(COMMIT_REQUESTS_MAX > 0);
const _: () = assert!(QUEUE_REQUESTS_MAX >= COMMIT_REQUESTS_MAX);

const SEQ_KEY_BYTES: usize = 8;
const COVERS_BYTES: usize = 8;
const ENTRIES_TREE_PREFIX: &str = "entries/";
const COMMUNITIES_TREE: &str = "communities";
const SNAPSHOTS_TREE: &str = "snapshots";
/// sled 0.34 keeps its whole log in this one file inside the directory.
const SLED_LOG_FILE: &str = "db";
const SLED_CONFIG_FILE: &str = "conf";
/// Values too large for a log segment go to files of their own here, which sled never syncs.
const SLED_BLOBS_DIR: &str = "blobs";
/// Written beside sled's files once the store's format key is durable inside sled. sled
/// 0.34 opens a damaged or missing log file as an empty database without complaint; the
/// marker is how `open` tells "new store" from "store whose log is gone".
const MARKER_FILE: &str = "ostrom-store";
/// Key in sled's default tree holding [`FORMAT_VERSION`] as u64 big-endian.
const FORMAT_KEY: &[u8] = b"ostrom/store-format";
/// The layout described at the top of this file.
const FORMAT_VERSION: u64 = 1;

/// The sled backend. Dropping it lets the committer finish every request already sent.
pub struct SledStore {
    shared: Arc<Shared>,
    requests: Option<Sender<Request>>,
    committer: Option<JoinHandle<()>>,
}

/// What readers and the committer share.
struct Shared {
    path: PathBuf,
    db: sled::Db,
    snapshots: sled::Tree,
    /// Communities whose creation is durable, with their durable lengths.
    logs: RwLock<BTreeMap<CommunityId, Arc<Log>>>,
    /// Batches made durable so far (one flush + fsync each).
    commit_batches: AtomicU64,
}

struct Log {
    name: String,
    tree: sled::Tree,
    /// Entries `0..durable_len` are durable; readers never look past it.
    durable_len: AtomicU64,
}

enum Write {
    CreateCommunity {
        id: CommunityId,
        name: String,
    },
    Append {
        community: CommunityId,
        expected_seq: u64,
        entries: Vec<Vec<u8>>,
    },
    SaveSnapshot {
        community: CommunityId,
        snapshot: Snapshot,
    },
}

impl Write {
    fn bytes(&self) -> usize {
        match self {
            Write::CreateCommunity { name, .. } => name.len(),
            Write::Append { entries, .. } => entries.iter().map(Vec::len).sum(),
            Write::SaveSnapshot { snapshot, .. } => snapshot.bytes.len(),
        }
    }
}

/// Where a write's answer goes: the new log length for an append, 0 otherwise.
type Reply = Sender<Result<u64, StoreError>>;

/// A write and where to send its answer.
struct Request {
    write: Write,
    reply: Reply,
}

impl SledStore {
    /// Open (or create) the store in directory `path` and start its committer.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        let path = path.as_ref();
        std::fs::create_dir_all(path)
            .map_err(|error| io_error(path, "cannot create the store directory", &error))?;
        let marked = path.join(MARKER_FILE).exists();
        let config = sled::Config::new().path(path).flush_every_ms(None);
        // sled 0.34 can panic rather than fail on some damaged directories; a store that
        // cannot be opened is an error to report, never a crash of the server.
        let db = match panic::catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => db,
            Ok(Err(error)) => {
                return Err(sled_error(
                    &format!("cannot open sled database {}", path.display()),
                    error,
                ))
            }
            Err(_) => {
                return Err(StoreError::Corrupt(format!(
                    "cannot open sled database {}: sled panicked while recovering it",
                    path.display()
                )))
            }
        };
        let log_file = sync_at_open(path)?;
        check_format(path, marked, &db, &log_file)?;

        let context = "cannot open the store's trees";
        let communities = db
            .open_tree(COMMUNITIES_TREE)
            .map_err(|error| sled_error(context, error))?;
        let snapshots = db
            .open_tree(SNAPSHOTS_TREE)
            .map_err(|error| sled_error(context, error))?;
        let logs = load_logs(&db, &communities)?;
        check_snapshots(&snapshots, &logs)?;
        check_no_orphan_trees(&db, &logs)?;

        let lengths = logs
            .iter()
            .map(|(id, log)| (*id, log.durable_len.load(Ordering::Acquire)))
            .collect();
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            db,
            snapshots,
            logs: RwLock::new(logs),
            commit_batches: AtomicU64::new(0),
        });
        let (requests, receiver) = crossbeam_channel::bounded(QUEUE_REQUESTS_MAX);
        let mut committer = Committer {
            shared: Arc::clone(&shared),
            communities,
            log_file,
            blobs_dir: path.join(SLED_BLOBS_DIR),
            synced_blobs: BTreeSet::new(),
            lengths,
            failure: None,
        };
        let committer = std::thread::Builder::new()
            .name("ostrom-sled-committer".to_owned())
            .spawn(move || committer.run(&receiver))
            .map_err(|error| io_error(path, "cannot start the committer thread", &error))?;
        Ok(SledStore {
            shared,
            requests: Some(requests),
            committer: Some(committer),
        })
    }

    /// The name of the sled tree holding `community`'s entries (for tools and tests that
    /// inspect the database itself).
    pub fn entries_tree_name(community: CommunityId) -> String {
        format!("{ENTRIES_TREE_PREFIX}{}", community.to_hex())
    }

    /// Batches made durable since open; fewer than the writes when writers shared fsyncs.
    pub fn commit_batches(&self) -> u64 {
        self.shared.commit_batches.load(Ordering::Acquire)
    }

    fn submit(&self, write: Write) -> Result<u64, StoreError> {
        self.begin(write).wait()
    }

    /// Queue `write` for the committer, which answers it once it is durable or refused.
    fn begin(&self, write: Write) -> AppendTicket {
        let Some(requests) = self.requests.as_ref() else {
            return AppendTicket::answered(Err(StoreError::Closed));
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        match requests.send(Request { write, reply }) {
            Ok(()) => AppendTicket::waiting(answer),
            Err(_) => AppendTicket::answered(Err(StoreError::Closed)),
        }
    }

    fn log(&self, community: CommunityId) -> Result<Arc<Log>, StoreError> {
        self.shared
            .logs()
            .get(&community)
            .cloned()
            .ok_or(StoreError::UnknownCommunity(community))
    }

    /// A lazy, gap-checked stream over `from..to`, clamped to the durable log.
    fn entries(&self, community: CommunityId, from: u64, to: u64) -> Result<Entries, StoreError> {
        let log = self.log(community)?;
        let end = to.min(log.durable_len.load(Ordering::Acquire));
        let next = from.min(end);
        let iter = log.tree.range(next.to_be_bytes()..end.to_be_bytes());
        Ok(Entries {
            community,
            iter,
            next,
            end,
        })
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.shared.path)
            .field("communities", &self.shared.logs().len())
            .field("commit_batches", &self.commit_batches())
            .finish()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Closing the channel is the shutdown signal: the committer drains what was sent
        // before it sees the disconnection.
        drop(self.requests.take());
        if let Some(committer) = self.committer.take() {
            // A panic in the committer was already reported on its thread; every waiter it
            // left has seen `Closed`. Nothing more to say from a destructor.
            let _ = committer.join();
        }
    }
}

impl Shared {
    fn logs(&self) -> RwLockReadGuard<'_, BTreeMap<CommunityId, Arc<Log>>> {
        // Only the committer writes the map, with one insert; a poisoned lock cannot hold a
        // half-made change.
        self.logs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LogStore for SledStore {
    fn create_community(&self, id: CommunityId, name: &str) -> Result<(), StoreError> {
        self.submit(Write::CreateCommunity {
            id,
            name: name.to_owned(),
        })
        .map(|_| ())
    }

    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError> {
        let mut records: Vec<CommunityRecord> = self
            .shared
            .logs()
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
        self.submit(Write::Append {
            community,
            expected_seq,
            entries,
        })
    }

    fn begin_append(
        &self,
        community: CommunityId,
        expected_seq: u64,
        entries: Vec<Vec<u8>>,
    ) -> AppendTicket {
        self.begin(Write::Append {
            community,
            expected_seq,
            entries,
        })
    }

    fn len(&self, community: CommunityId) -> Result<u64, StoreError> {
        Ok(self.log(community)?.durable_len.load(Ordering::Acquire))
    }

    fn read_range(
        &self,
        community: CommunityId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.entries(community, from, to)?
            .map(|item| item.map(|(_, entry)| entry))
            .collect()
    }

    fn read_from(&self, community: CommunityId, from: u64) -> Result<EntryStream<'_>, StoreError> {
        Ok(Box::new(self.entries(community, from, u64::MAX)?))
    }

    fn save_snapshot(&self, community: CommunityId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.submit(Write::SaveSnapshot {
            community,
            snapshot,
        })
        .map(|_| ())
    }

    fn load_snapshot(&self, community: CommunityId) -> Result<Option<Snapshot>, StoreError> {
        self.log(community)?;
        // Unlike entries, a snapshot is read without waiting for its batch's fsync: it is a
        // cache of state derived from durable entries, so losing it in a crash loses nothing.
        let value = self
            .shared
            .snapshots
            .get(community.as_bytes())
            .map_err(|error| {
                sled_error(
                    &format!("community {community}: cannot read the snapshot"),
                    error,
                )
            })?;
        value
            .map(|value| decode_snapshot(community, &value))
            .transpose()
    }
}

/// Entries of one log read lazily from a sled range, checking that seqs run without gaps.
struct Entries {
    community: CommunityId,
    iter: sled::Iter,
    next: u64,
    end: u64,
}

impl Iterator for Entries {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let seq = self.next;
        let community = self.community;
        let item = match self.iter.next() {
            None => Err(StoreError::Corrupt(format!(
                "community {community}: seq {seq} is missing (the log should hold {} entries)",
                self.end
            ))),
            Some(Err(error)) => Err(sled_error(&format!("community {community}: cannot read seq {seq}"), error)),
            Some(Ok((key, value))) => decode_seq(community, &key).and_then(|found| {
                if found == seq {
                    Ok((seq, value.to_vec()))
                } else {
                    Err(StoreError::Corrupt(format!(
                        "community {community}: seq {seq} is missing (found seq {found} in its place)"
                    )))
                }
            }),
        };
        // After an error the stream ends: what follows a hole cannot be trusted in order.
        self.next = if item.is_ok() { seq + 1 } else { self.end };
        Some(item)
    }
}

/// The one thread that writes. It owns the authoritative lengths of every log.
struct Committer {
    shared: Arc<Shared>,
    communities: sled::Tree,
    log_file: File,
    blobs_dir: PathBuf,
    /// Blob files already fsynced, pruned to those still present at each sync.
    synced_blobs: BTreeSet<OsString>,
    /// Length of every log including writes of the batch in progress.
    lengths: BTreeMap<CommunityId, u64>,
    /// Set when a write or sync failed: every later write is refused with it.
    failure: Option<String>,
}

/// A batch of writes decided and ready to apply. Trees with nothing to write get no sled
/// batch at all: even an empty one would add a record to sled's log.
#[derive(Default)]
struct Plan {
    communities: Option<sled::Batch>,
    created: Vec<(CommunityId, String)>,
    entries: BTreeMap<CommunityId, sled::Batch>,
    snapshots: Option<sled::Batch>,
    /// Waiters to answer after the sync; `Ok` answers turn into errors if it fails.
    answers: Vec<(Reply, Result<u64, StoreError>)>,
}

impl Committer {
    fn run(&mut self, receiver: &Receiver<Request>) {
        // One iteration per batch for the life of the store; it ends when every sender is
        // gone and the queue is drained.
        while let Ok(first) = receiver.recv() {
            let mut bytes = first.write.bytes();
            let mut batch = vec![first];
            while batch.len() < COMMIT_REQUESTS_MAX && bytes < COMMIT_BYTES_MAX {
                match receiver.try_recv() {
                    Ok(request) => {
                        bytes += request.write.bytes();
                        batch.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(failure) = &self.failure {
            for request in batch {
                let _ = request.reply.send(Err(StoreError::Io(failure.clone())));
            }
            return;
        }
        let mut plan = self.plan(batch);
        let touched: Vec<CommunityId> = plan.entries.keys().copied().collect();
        let durable = self
            .apply(&mut plan)
            .and_then(|created| self.sync().map(|()| created));
        match durable {
            Ok(created) => {
                self.publish(created, &touched);
                for (reply, answer) in plan.answers {
                    // A waiter that gave up is no reason to stop answering the others.
                    let _ = reply.send(answer);
                }
            }
            Err(failure) => {
                for (reply, answer) in plan.answers {
                    let _ = reply.send(answer.and(Err(StoreError::Io(failure.clone()))));
                }
                self.failure = Some(format!(
                    "an earlier commit failed, reopen the store: {failure}"
                ));
            }
        }
    }

    /// Decide every request in order against the lengths, updating them as if it succeeds.
    fn plan(&mut self, batch: Vec<Request>) -> Plan {
        let mut plan = Plan::default();
        for Request { write, reply } in batch {
            let answer = match write {
                Write::CreateCommunity { id, name } => match self.lengths.entry(id) {
                    btree_map::Entry::Occupied(_) => Err(StoreError::CommunityExists(id)),
                    btree_map::Entry::Vacant(length) => {
                        length.insert(0);
                        plan.communities
                            .get_or_insert_with(sled::Batch::default)
                            .insert(&id.as_bytes()[..], name.as_bytes());
                        plan.created.push((id, name));
                        Ok(0)
                    }
                },
                Write::Append {
                    community,
                    expected_seq,
                    entries,
                } => match self.lengths.get_mut(&community) {
                    None => Err(StoreError::UnknownCommunity(community)),
                    Some(length) if *length != expected_seq => Err(StoreError::Conflict {
                        expected: expected_seq,
                        actual: *length,
                    }),
                    Some(length) if entries.is_empty() => Ok(*length),
                    Some(length) => {
                        let writes = plan.entries.entry(community).or_default();
                        for entry in entries {
                            writes.insert(&length.to_be_bytes()[..], entry);
                            *length += 1;
                        }
                        Ok(*length)
                    }
                },
                Write::SaveSnapshot {
                    community,
                    snapshot,
                } => match self.lengths.get(&community) {
                    None => Err(StoreError::UnknownCommunity(community)),
                    // A snapshot of entries the log does not hold would let state run ahead
                    // of its evidence; the caller's view is stale, as in an append conflict.
                    Some(&length) if snapshot.covers > length => Err(StoreError::Conflict {
                        expected: snapshot.covers,
                        actual: length,
                    }),
                    Some(_) => {
                        let mut value = Vec::with_capacity(COVERS_BYTES + snapshot.bytes.len());
                        value.extend_from_slice(&snapshot.covers.to_be_bytes());
                        value.extend_from_slice(&snapshot.bytes);
                        plan.snapshots
                            .get_or_insert_with(sled::Batch::default)
                            .insert(&community.as_bytes()[..], value);
                        Ok(0)
                    }
                },
            };
            plan.answers.push((reply, answer));
        }
        plan
    }

    /// Write the plan to sled (not yet durable). Returns the logs of created communities.
    fn apply(&self, plan: &mut Plan) -> Result<Vec<(CommunityId, Arc<Log>)>, String> {
        // Records go first: a crash that keeps a record but not its tree reopens as an empty
        // log, whereas a tree without its record would be an orphan.
        if let Some(writes) = plan.communities.take() {
            self.communities
                .apply_batch(writes)
                .map_err(|error| format!("write communities: {error}"))?;
        }
        let mut created = Vec::with_capacity(plan.created.len());
        for (id, name) in &plan.created {
            let tree = self
                .shared
                .db
                .open_tree(SledStore::entries_tree_name(*id))
                .map_err(|error| format!("create the log of community {id}: {error}"))?;
            created.push((
                *id,
                Arc::new(Log {
                    name: name.clone(),
                    tree,
                    durable_len: AtomicU64::new(0),
                }),
            ));
        }
        for (community, writes) in std::mem::take(&mut plan.entries) {
            let tree = match created.iter().find(|(id, _)| *id == community) {
                Some((_, log)) => log.tree.clone(),
                None => {
                    let logs = self.shared.logs();
                    let log = logs
                        .get(&community)
                        .expect("the committer only plans appends to known logs");
                    log.tree.clone()
                }
            };
            tree.apply_batch(writes)
                .map_err(|error| format!("append to community {community}: {error}"))?;
        }
        if let Some(writes) = plan.snapshots.take() {
            self.shared
                .snapshots
                .apply_batch(writes)
                .map_err(|error| format!("write snapshots: {error}"))?;
        }
        Ok(created)
    }

    /// Make everything written so far durable: blob files first, since the log points at
    /// them, then sled's log and its file.
    fn sync(&mut self) -> Result<(), String> {
        self.sync_blobs()
            .map_err(|error| format!("fsync blob files: {error}"))?;
        self.shared
            .db
            .flush()
            .map_err(|error| format!("flush sled: {error}"))?;
        self.log_file
            .sync_data()
            .map_err(|error| format!("fsync sled's log file: {error}"))?;
        self.shared.commit_batches.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn sync_blobs(&mut self) -> io::Result<()> {
        let mut present = BTreeSet::new();
        let mut synced_any = false;
        for item in std::fs::read_dir(&self.blobs_dir)? {
            let item = item?;
            let name = item.file_name();
            if !self.synced_blobs.contains(&name) {
                match File::open(item.path()) {
                    Ok(file) => file.sync_all()?,
                    // sled removes blobs it no longer needs; one gone since the listing
                    // needs no sync.
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                }
                synced_any = true;
            }
            present.insert(name);
        }
        if synced_any {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        self.synced_blobs = present;
        Ok(())
    }

    /// Show readers what is now durable: new communities and the new lengths.
    fn publish(&self, created: Vec<(CommunityId, Arc<Log>)>, touched: &[CommunityId]) {
        let mut logs = self
            .shared
            .logs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        logs.extend(created);
        for community in touched {
            let log = logs.get(community).expect("a log appended to is known");
            log.durable_len
                .store(self.lengths[community], Ordering::Release);
        }
    }
}

/// Check that sled recovered a store of our format, or set one up in a new directory.
fn check_format(
    path: &Path,
    marked: bool,
    db: &sled::Db,
    log_file: &File,
) -> Result<(), StoreError> {
    let context = "cannot read the store format";
    let format = db
        .get(FORMAT_KEY)
        .map_err(|error| sled_error(context, error))?;
    match (format, marked) {
        (Some(value), _) if value.as_ref() != FORMAT_VERSION.to_be_bytes() => {
            Err(StoreError::Corrupt(format!(
                "{}: the store format is {}, this build reads format {FORMAT_VERSION}",
                path.display(),
                hex::encode(&value)
            )))
        }
        (None, true) => Err(StoreError::Corrupt(format!(
            "{}: the directory holds an ostrom store but sled recovered nothing from it: \
             its log file `{SLED_LOG_FILE}` is missing, damaged or replaced",
            path.display()
        ))),
        (Some(_), true) => Ok(()),
        // A new store, or one whose first open never finished (nothing was ever
        // acknowledged from it): make the format durable, then mark the directory.
        (_, false) => {
            let context = "cannot write the store format";
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes()[..])
                .map_err(|error| sled_error(context, error))?;
            db.flush().map_err(|error| sled_error(context, error))?;
            log_file
                .sync_data()
                .map_err(|error| io_error(path, "fsync of sled's log file failed", &error))?;
            let marker = path.join(MARKER_FILE);
            std::fs::write(&marker, "ostrom sled store; see src/store/sled_store.rs\n")
                .map_err(|error| io_error(&marker, "cannot write", &error))?;
            for target in [marker.as_path(), path] {
                File::open(target)
                    .and_then(|file| file.sync_all())
                    .map_err(|error| io_error(target, "fsync failed", &error))?;
            }
            Ok(())
        }
    }
}

/// Read every community record and check the ends of its log: the first key must be seq 0
/// and the last key gives the length. Gaps inside are caught by the readers.
fn load_logs(
    db: &sled::Db,
    communities: &sled::Tree,
) -> Result<BTreeMap<CommunityId, Arc<Log>>, StoreError> {
    let mut logs = BTreeMap::new();
    for item in communities.iter() {
        let (key, value) =
            item.map_err(|error| sled_error("cannot read the community records", error))?;
        let id = CommunityId(key.as_ref().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "a community record has a key of {} bytes: {}",
                key.len(),
                hex::encode(&key)
            ))
        })?);
        let name = String::from_utf8(value.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("community {id}: its name is not UTF-8")))?;
        let tree = db
            .open_tree(SledStore::entries_tree_name(id))
            .map_err(|error| sled_error(&format!("community {id}: cannot open its log"), error))?;
        let context = format!("community {id}: cannot read its log");
        let first = tree.first().map_err(|error| sled_error(&context, error))?;
        let last = tree.last().map_err(|error| sled_error(&context, error))?;
        let length = match (first, last) {
            (None, _) | (_, None) => 0,
            (Some((first, _)), Some((last, _))) => {
                let first = decode_seq(id, &first)?;
                if first != 0 {
                    return Err(StoreError::Corrupt(format!(
                        "community {id}: seq 0 is missing (the log starts at seq {first})"
                    )));
                }
                decode_seq(id, &last)? + 1
            }
        };
        logs.insert(
            id,
            Arc::new(Log {
                name,
                tree,
                durable_len: AtomicU64::new(length),
            }),
        );
    }
    Ok(logs)
}

fn check_snapshots(
    snapshots: &sled::Tree,
    logs: &BTreeMap<CommunityId, Arc<Log>>,
) -> Result<(), StoreError> {
    for item in snapshots.iter() {
        let (key, value) = item.map_err(|error| sled_error("cannot read the snapshots", error))?;
        let id = CommunityId(key.as_ref().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "a snapshot has a key of {} bytes: {}",
                key.len(),
                hex::encode(&key)
            ))
        })?);
        let log = logs.get(&id).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "community {id}: a snapshot exists but the community does not"
            ))
        })?;
        let snapshot = decode_snapshot(id, &value)?;
        let length = log.durable_len.load(Ordering::Acquire);
        if snapshot.covers > length {
            return Err(StoreError::Corrupt(format!(
                "community {id}: the snapshot covers {} entries but the log holds {length}",
                snapshot.covers
            )));
        }
    }
    Ok(())
}

/// An entries tree with entries but no community record is data nobody can reach.
fn check_no_orphan_trees(
    db: &sled::Db,
    logs: &BTreeMap<CommunityId, Arc<Log>>,
) -> Result<(), StoreError> {
    for name in db.tree_names() {
        let Some(id_hex) = name.strip_prefix(ENTRIES_TREE_PREFIX.as_bytes()) else {
            continue;
        };
        let id = std::str::from_utf8(id_hex)
            .ok()
            .and_then(|text| CommunityId::from_hex(text).ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a log tree has a malformed name: {}",
                    hex::encode(&name)
                ))
            })?;
        if logs.contains_key(&id) {
            continue;
        }
        let tree = db
            .open_tree(&name)
            .map_err(|error| sled_error(&format!("community {id}: cannot open its log"), error))?;
        if !tree.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "community {id}: its log holds entries but it has no record"
            )));
        }
    }
    Ok(())
}

/// fsync what sled creates once and never syncs itself: its config file, the blobs
/// directory and the directory entries. Returns sled's log file, kept open to fsync it
/// after every batch.
fn sync_at_open(path: &Path) -> Result<File, StoreError> {
    let sync = |target: &Path| -> Result<File, StoreError> {
        let file = File::open(target)
            .map_err(|error| io_error(target, "cannot open for fsync", &error))?;
        file.sync_all()
            .map_err(|error| io_error(target, "fsync failed", &error))?;
        Ok(file)
    };
    sync(&path.join(SLED_CONFIG_FILE))?;
    sync(&path.join(SLED_BLOBS_DIR))?;
    let log_file = sync(&path.join(SLED_LOG_FILE))?;
    sync(path)?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        sync(parent)?;
    }
    Ok(log_file)
}

fn decode_seq(community: CommunityId, key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; SEQ_KEY_BYTES] = key.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "community {community}: a key of {} bytes where a seq belongs: {}",
            key.len(),
            hex::encode(key)
        ))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_snapshot(community: CommunityId, value: &[u8]) -> Result<Snapshot, StoreError> {
    if value.len() < COVERS_BYTES {
        return Err(StoreError::Corrupt(format!(
            "community {community}: the snapshot is {} bytes, too short to say what it covers",
            value.len()
        )));
    }
    let (covers, bytes) = value.split_at(COVERS_BYTES);
    let covers = u64::from_be_bytes(covers.try_into().expect("split at COVERS_BYTES"));
    Ok(Snapshot {
        covers,
        bytes: bytes.to_vec(),
    })
}

fn sled_error(context: &str, error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(error) => StoreError::Io(format!("{context}: {error}")),
        other => StoreError::Corrupt(format!("{context}: {other}")),
    }
}

fn io_error(path: &Path, context: &str, error: &io::Error) -> StoreError {
    StoreError::Io(format!("{}: {context}: {error}", path.display()))
}
