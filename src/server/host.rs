//! One community inside `ostrom serve`: its single writer (ledger + policy engine), the
//! published read model that requests read, the stream of new entries for live views, and
//! the ticker that runs timers and the periodic sweep.
//!
//! Reads never wait on writes: the read model is a left-right pair of copies. The writer's
//! flush stage applies each durable group commit to the copy nobody reads, swaps, then
//! applies it to the other; readers only ever enter the published copy, wait-free. Because
//! the flush stage publishes before it answers, a member who got an acknowledgement sees
//! their write in their next read.

use std::sync::{Arc, Mutex};

use left_right::{Absorb, ReadHandle, ReadHandleFactory, WriteHandle};
use ostrom_projections::audit::AuditTrail;
use ostrom_projections::{apply, GovernanceState};
use ostrom_schemas::{CommunityId, Entry, Hash, PublicKey, VerifiedEntry};
use tokio::sync::{broadcast, Notify};

use crate::clock;
use crate::engine::{Engine, HttpSource, NoPlatforms};
use crate::keys::KeyDir;
use crate::ledger::{Ledger, LedgerError};
use crate::merkle::{HeadDir, LogTree, TreeHead, CHECKPOINT_INTERVAL_ENTRIES};
use crate::policy::Runtime;
use crate::store::{LogStore, StoreError};
use crate::writer::{NextDue, OnDurable, Writer, WriterOptions, WriterThreads};

thread_local! {
    /// This thread's read handle of each community's model (see [`Host::read`]).
    static READ_HANDLES: std::cell::RefCell<std::collections::BTreeMap<CommunityId, ReadHandle<ReadModel>>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// New-entry events buffered per community for slow live viewers; one that falls further
/// behind catches up from the store.
pub const EVENTS_BUFFERED_MAX: usize = 4096;
/// After a tick that left something due at once (a capped sweep), wait this long before the
/// next, so a stuck timer cannot spin the ticker.
pub const TICK_RETRY_MS: u64 = 100;

/// What requests read: the governance state and the audit trail, as of the last durable
/// group commit.
#[derive(Clone, Default)]
pub struct ReadModel {
    pub state: GovernanceState,
    pub audit: AuditTrail,
}

/// One group commit's entries, shared by both copies of the read model.
pub struct Applied(Arc<Vec<VerifiedEntry>>);

impl ReadModel {
    fn apply_all(&mut self, entries: &[VerifiedEntry]) {
        for entry in entries {
            self.audit.observe(entry.entry(), entry.hash());
            apply(&mut self.state, entry);
        }
        debug_assert_eq!(self.audit.len(), self.state.position.next_seq);
    }
}

impl Absorb<Applied> for ReadModel {
    fn absorb_first(&mut self, operation: &mut Applied, _other: &Self) {
        self.apply_all(&operation.0);
    }

    fn absorb_second(&mut self, operation: Applied, _other: &Self) {
        self.apply_all(&operation.0);
    }

    fn sync_with(&mut self, first: &Self) {
        *self = first.clone();
    }
}

/// A new durable entry, as live views receive it.
#[derive(Clone, Debug)]
pub struct EntryEvent {
    pub seq: u64,
    /// The JSON the stream sends.
    pub json: Arc<str>,
}

/// The JSON a live view receives for an entry: its audit row and the entry itself.
pub fn entry_event_json(model: &ReadModel, entry: &Entry, hash: Hash) -> String {
    serde_json::json!({
        "seq": entry.seq,
        "hash": hash,
        "audit": model.audit.row(entry.seq),
        "entry": entry,
    })
    .to_string()
}

pub struct Host {
    pub id: CommunityId,
    pub name: String,
    pub sequencer: PublicKey,
    pub store: Arc<dyn LogStore>,
    writer: Writer,
    threads: Mutex<Option<WriterThreads>>,
    reads: ReadHandleFactory<ReadModel>,
    events: broadcast::Sender<EntryEvent>,
    pub next_due: Arc<NextDue>,
    pub due_changed: Arc<Notify>,
    /// The state hash at a position (it costs a pass over the whole state, so it is
    /// computed once per head that somebody asks about).
    state_hash: Mutex<Option<(u64, Hash)>>,
    /// A background computation of the state hash is under way (`state_hash_soon`).
    hashing: std::sync::atomic::AtomicBool,
    /// The Merkle tree over every durable entry (fed by the writer's durable hook), from
    /// which tree heads are signed every `CHECKPOINT_INTERVAL_ENTRIES` and on demand.
    tree: Arc<Mutex<LogTree>>,
    sequencer_key: Option<ostrom_schemas::SigningKey>,
    heads: HeadDir,
}

/// Push entry hashes into the tree, signing and saving a head at each interval that has
/// none yet (heads live beside the log, in `DATA/checkpoints/`).
fn grow_tree(
    tree: &mut LogTree,
    hashes: impl IntoIterator<Item = Hash>,
    community: CommunityId,
    heads: &HeadDir,
    key: Option<&ostrom_schemas::SigningKey>,
) {
    for hash in hashes {
        tree.push(hash);
        let size = tree.len();
        if size % CHECKPOINT_INTERVAL_ENTRIES == 0 && !heads.has(size) {
            if let Some(key) = key {
                let head = TreeHead::sign(community, size, tree.root(), key);
                if let Err(error) = heads.save(&head) {
                    tracing::warn!(%community, size, %error, "could not save a tree head");
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("entry {0} does not decode: {1}")]
    Decode(u64, String),
}

impl Host {
    /// Open a community's ledger (snapshot + verified suffix), rebuild its read model, and
    /// start its writer. Blocking: call before serving or from a blocking thread.
    pub fn open(
        store: Arc<dyn LogStore>,
        data: &std::path::Path,
        id: CommunityId,
        name: &str,
        runtime: Arc<Runtime>,
    ) -> Result<Host, HostError> {
        let keys = KeyDir::new(data, id);
        let sequencer = if keys.has_sequencer() {
            Some(keys.sequencer().map_err(|error| {
                LedgerError::Refused(ostrom_schemas::verify::Refusal::new(
                    "key_error",
                    error.to_string(),
                ))
            })?)
        } else {
            None
        };
        let ledger = Ledger::open(store.clone(), id, sequencer, false)?;
        let founded = ledger
            .state()
            .community
            .as_ref()
            .expect("an opened ledger has its genesis entry");
        let sequencer_public = founded.sequencer;
        let sequencer_key = ledger.sequencer().cloned();

        // The audit trail covers every entry, so it is rebuilt from genesis; the entries
        // were verified when they were written and the state by `Ledger::open`.
        let mut audit = AuditTrail::default();
        for item in store.read_from(id, 0)? {
            let (seq, bytes) = item?;
            let entry =
                Entry::decode(&bytes).map_err(|error| HostError::Decode(seq, error.to_string()))?;
            audit.observe(&entry, ostrom_schemas::entry::hash_entry_bytes(&bytes));
        }
        assert_eq!(audit.len(), ledger.state().position.next_seq);
        let heads = HeadDir::new(data, id);
        let mut tree = LogTree::default();
        grow_tree(
            &mut tree,
            (0..audit.len()).filter_map(|seq| audit.row(seq).map(|row| row.hash)),
            id,
            &heads,
            sequencer_key.as_ref(),
        );
        let tree = Arc::new(Mutex::new(tree));
        let model = ReadModel {
            state: ledger.state().clone(),
            audit,
        };
        let (write, read): (WriteHandle<ReadModel, Applied>, ReadHandle<ReadModel>) =
            left_right::new_from_empty(model);
        let reads = read.factory();
        let (events, _) = broadcast::channel(EVENTS_BUFFERED_MAX);
        let due_changed = Arc::new(Notify::new());
        let next_due = Arc::new(NextDue::new({
            let due_changed = due_changed.clone();
            Box::new(move || due_changed.notify_one())
        }));
        let mut engine = Engine::new(runtime, Arc::new(NoPlatforms), HttpSource::Community);
        engine.resume(ledger.state());
        // Timers resumed from the log are due before any write arrives to tell the ticker.
        next_due.set(engine.next_due());
        let (writer, threads) = Writer::spawn_with(
            ledger,
            Box::new(engine),
            WriterOptions {
                clock: clock::now_ms,
                on_durable: Some(publisher(
                    write,
                    events.clone(),
                    Checkpointer {
                        tree: tree.clone(),
                        heads,
                        community: id,
                        key: sequencer_key.clone(),
                    },
                )),
                next_due: Some(next_due.clone()),
            },
        );
        Ok(Host {
            id,
            name: name.to_owned(),
            sequencer: sequencer_public,
            store,
            writer,
            threads: Mutex::new(Some(threads)),
            reads,
            events,
            next_due,
            due_changed,
            state_hash: Mutex::new(None),
            hashing: std::sync::atomic::AtomicBool::new(false),
            tree,
            sequencer_key,
            heads: HeadDir::new(data, id),
        })
    }

    /// The newest signed tree head saved beside the log (one every
    /// `CHECKPOINT_INTERVAL_ENTRIES`), if any.
    pub fn latest_checkpoint(&self) -> Option<TreeHead> {
        let size = self.tree.lock().expect("tree lock").len();
        let size = size - size % CHECKPOINT_INTERVAL_ENTRIES;
        (size > 0).then(|| self.heads.load(size)).flatten()
    }

    /// A tree head signed now over every durable entry; `None` on a node without the
    /// sequencer key.
    pub fn tree_head(&self) -> Option<TreeHead> {
        let key = self.sequencer_key.as_ref()?;
        let tree = self.tree.lock().expect("tree lock");
        Some(TreeHead::sign(self.id, tree.len(), tree.root(), key))
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Read the published model; never waits for a write.
    ///
    /// Each thread keeps its own read handle per community (registering one takes a lock,
    /// entering one does not), so a request costs two atomic operations, not a registration.
    pub fn read<T>(&self, read: impl FnOnce(&ReadModel) -> T) -> T {
        READ_HANDLES.with(|handles| {
            let mut handles = handles.borrow_mut();
            let handle = handles
                .entry(self.id)
                .or_insert_with(|| self.reads.handle());
            let guard = handle
                .enter()
                .expect("the read model lives as long as its host");
            read(&guard)
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EntryEvent> {
        self.events.subscribe()
    }

    /// The state hash of the published state, with the seq count it covers.
    pub fn state_hash(&self) -> (u64, Hash) {
        let covers = self.read(|model| model.state.position.next_seq);
        let mut cached = self.state_hash.lock().expect("state hash lock");
        if let Some((at, hash)) = *cached {
            if at == covers {
                return (at, hash);
            }
        }
        let (at, hash) =
            self.read(|model| (model.state.position.next_seq, model.state.state_hash()));
        *cached = Some((at, hash));
        (at, hash)
    }

    /// The newest state hash already computed (it may be behind the head), without waiting;
    /// when it is behind, one computation of the head's starts on a blocking thread, so the
    /// next look finds it. Pages use this: the hash is a pass over the whole state (tens of
    /// milliseconds for a big community), which a page view should not wait for.
    pub fn state_hash_soon(self: &Arc<Self>) -> Option<(u64, Hash)> {
        let head = self.read(|model| model.state.position.next_seq);
        let cached = *self.state_hash.lock().expect("state hash lock");
        if cached.is_none_or(|(at, _)| at != head)
            && !self.hashing.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let host = self.clone();
            tokio::task::spawn_blocking(move || {
                host.state_hash();
                host.hashing
                    .store(false, std::sync::atomic::Ordering::Release);
            });
        }
        cached
    }

    /// Stop the writer after what is in flight is durable, and keep a snapshot so the next
    /// start replays little. Blocking.
    pub fn shut_down(&self) {
        self.writer.close();
        let threads = self.threads.lock().expect("threads lock").take();
        if let Some(threads) = threads {
            let ledger = threads.join();
            if let Err(error) = ledger.save_snapshot() {
                tracing::warn!(community = %self.id, %error, "could not save a snapshot at shutdown");
            }
        }
    }
}

/// What the durable hook needs to keep the Merkle tree and its heads.
struct Checkpointer {
    tree: Arc<Mutex<LogTree>>,
    heads: HeadDir,
    community: CommunityId,
    key: Option<ostrom_schemas::SigningKey>,
}

/// The writer's durable hook: grow the Merkle tree, apply a group commit to the read model,
/// publish it, and tell live viewers.
fn publisher(
    mut write: WriteHandle<ReadModel, Applied>,
    events: broadcast::Sender<EntryEvent>,
    checkpointer: Checkpointer,
) -> OnDurable {
    Box::new(move |entries: Vec<VerifiedEntry>| {
        grow_tree(
            &mut checkpointer.tree.lock().expect("tree lock"),
            entries.iter().map(VerifiedEntry::hash),
            checkpointer.community,
            &checkpointer.heads,
            checkpointer.key.as_ref(),
        );
        let entries = Arc::new(entries);
        write.append(Applied(entries.clone()));
        write.publish();
        if events.receiver_count() == 0 {
            return;
        }
        if let Some(model) = write.enter() {
            for entry in entries.iter() {
                let json = entry_event_json(&model, entry.entry(), entry.hash());
                let _ = events.send(EntryEvent {
                    seq: entry.entry().seq,
                    json: json.into(),
                });
            }
        }
    })
}

/// Run timers and the periodic sweep until `stop` says so.
pub async fn run_ticker(
    host: Arc<Host>,
    sweep_interval_ms: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_sweep = clock::now_ms();
    loop {
        let now = clock::now_ms();
        let due = host.next_due.get().unwrap_or(u64::MAX);
        let sweep_at = last_sweep.saturating_add(sweep_interval_ms);
        let wake = due.min(sweep_at);
        if wake <= now {
            if sweep_at <= now {
                last_sweep = now;
            }
            match host.writer.tick_async().await {
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(community = %host.id, %error, "a timer tick failed");
                }
            }
            if host
                .next_due
                .get()
                .is_some_and(|due| due <= clock::now_ms())
            {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(TICK_RETRY_MS)) => {}
                    _ = stop.changed() => return,
                }
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wake - now)) => {}
            _ = host.due_changed.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
