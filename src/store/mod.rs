//! Log stores: where a community's entries live, as canonical bytes, one log per community.
//!
//! A store knows nothing of signatures or governance: it keeps bytes in order, refuses an
//! append that is not at the expected seq (optimistic concurrency, so two writers can never
//! fork a log), and acknowledges an append only once it is durable. Verification happens
//! above it, on every read that builds state.
//!
//! Backends: [`sled`](sled_store) (embedded default, group commit with fsync) and
//! [`memory`] (tests and simulation). `tests/store_conformance.rs` runs one suite against
//! every backend.

pub mod memory;
pub mod sled_store;

use ostrom_schemas::CommunityId;

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first; the caller reloads the suffix and retries.
    #[error("append conflict: expected seq {expected}, but the log has {actual} entries")]
    Conflict { expected: u64, actual: u64 },
    #[error("unknown community {0}")]
    UnknownCommunity(CommunityId),
    #[error("community {0} already exists")]
    CommunityExists(CommunityId),
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("store is closed")]
    Closed,
}

/// A community known to a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityRecord {
    pub id: CommunityId,
    pub name: String,
}

/// A state snapshot: postcard bytes of the state covering entries `0..covers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub covers: u64,
    pub bytes: Vec<u8>,
}

pub type EntryStream<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + Send + 'a>;

/// One log per community, entries as canonical bytes, seq = position from 0.
pub trait LogStore: Send + Sync {
    /// Register a community (its log starts empty). Fails if the id exists.
    fn create_community(&self, id: CommunityId, name: &str) -> Result<(), StoreError>;

    /// Every community in the store, ordered by name.
    fn communities(&self) -> Result<Vec<CommunityRecord>, StoreError>;

    /// Append `entries` so that the first gets seq `expected_seq`, which must equal the
    /// current length of the log. All or nothing. Returns the new length once the entries
    /// are durable (never before).
    fn append(
        &self,
        community: CommunityId,
        expected_seq: u64,
        entries: Vec<Vec<u8>>,
    ) -> Result<u64, StoreError>;

    /// [`append`](Self::append) without waiting: the answer comes from the returned
    /// [`AppendTicket`]. Appends begun one after another are decided in that order, so a
    /// writer can hand over its next batch while the previous one is still being made
    /// durable; if one fails, the next (expecting the seq after it) fails too. The default
    /// appends at once and hands back a ticket that is already answered.
    fn begin_append(
        &self,
        community: CommunityId,
        expected_seq: u64,
        entries: Vec<Vec<u8>>,
    ) -> AppendTicket {
        AppendTicket::answered(self.append(community, expected_seq, entries))
    }

    /// The number of entries (= the seq the next entry gets).
    fn len(&self, community: CommunityId) -> Result<u64, StoreError>;

    /// Entries with `from <= seq < to` (clamped to the log), in order.
    fn read_range(
        &self,
        community: CommunityId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Entries from `from` onward, in order, read lazily.
    fn read_from(&self, community: CommunityId, from: u64) -> Result<EntryStream<'_>, StoreError>;

    /// Keep a snapshot of the state (replacing an older one).
    fn save_snapshot(&self, community: CommunityId, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The latest snapshot, if any.
    fn load_snapshot(&self, community: CommunityId) -> Result<Option<Snapshot>, StoreError>;
}

/// An append begun by [`LogStore::begin_append`]; [`wait`](Self::wait) gives what
/// [`LogStore::append`] would have returned.
pub struct AppendTicket(TicketState);

enum TicketState {
    Answered(Result<u64, StoreError>),
    Waiting(crossbeam_channel::Receiver<Result<u64, StoreError>>),
}

impl AppendTicket {
    pub fn answered(answer: Result<u64, StoreError>) -> AppendTicket {
        AppendTicket(TicketState::Answered(answer))
    }

    /// A ticket answered on `answer`; a store that drops the sender unanswered has closed.
    pub fn waiting(answer: crossbeam_channel::Receiver<Result<u64, StoreError>>) -> AppendTicket {
        AppendTicket(TicketState::Waiting(answer))
    }

    /// Block until the append is durable (the new length) or has failed.
    pub fn wait(self) -> Result<u64, StoreError> {
        match self.0 {
            TicketState::Answered(answer) => answer,
            TicketState::Waiting(answer) => answer.recv().map_err(|_| StoreError::Closed)?,
        }
    }
}
