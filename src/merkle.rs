//! Merkle checkpoints in the shape of RFC 6962/9162: a Merkle tree over a community's entry
//! hashes, signed tree heads, inclusion proofs for any entry and consistency proofs between
//! two tree heads, so that an auditor who saved a tree head can later prove that the log was
//! only ever appended to.
//!
//! Leaf `i` is the entry hash of seq `i`; a leaf hashes as `blake3(0x00 || entry hash)`, a
//! node as `blake3(0x01 || left || right)`, and a tree of `n` leaves splits at the largest
//! power of two below `n` (RFC 6962 §2.1). Proofs are checked by ct-merkle, generic over
//! `digest::Digest` and instantiated with blake3 (why blake3: schemas/README.md); they are
//! generated in O(n) by the RFC's own recursive definitions, which the unit tests hold to
//! ct-merkle's tree for every size up to 64.
//!
//! Tree heads live beside the log, not in it: a head signs the tree of entries `0..size`, so
//! it cannot be one of those entries, and keeping heads out of the log leaves the writer and
//! the store untouched. The tree is computed on demand from the store's entry bytes (it is
//! never trusted from a cache): a head is written every [`CHECKPOINT_INTERVAL_ENTRIES`]
//! entries by the commands that append, and on demand by `ostrom proof head`; `ostrom verify`
//! checks every saved head against the log.

use std::path::{Path, PathBuf};

use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use ed25519_dalek::Signer;
use ostrom_schemas::entry::hash_entry_bytes;
use ostrom_schemas::{CommunityId, Entry, Hash, PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};

use crate::store::{LogStore, StoreError};

/// A signed tree head is saved for every multiple of this many entries.
pub const CHECKPOINT_INTERVAL_ENTRIES: u64 = 1024;
/// Domain tag of the digest a sequencer signs for a tree head.
pub const TREE_HEAD_DOMAIN: &str = "ostrom/tree-head/v1";
/// `format` of a tree head file.
pub const TREE_HEAD_FORMAT: &str = "ostrom-tree-head/v1";
/// `format` of a proof file.
pub const PROOF_FORMAT: &str = "ostrom-proof/v1";
/// A proof path longer than this cannot belong to a tree of at most 2^64 leaves (inclusion
/// needs at most 64 hashes, consistency at most 2 per level); anything longer is refused
/// before hashing.
pub const PROOF_HASHES_MAX: usize = 130;

type Digest = ct_merkle::digest::Output<blake3::Hasher>;
/// RFC 6962 §2.1 domain separation of leaves and interior nodes.
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why a proof or a tree head does not check out. Codes are stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ProofError {
    /// `bad_tree_head`, `bad_proof`, `proof_mismatch`, `bad_param`.
    pub code: &'static str,
    pub reason: String,
}

impl ProofError {
    fn new(code: &'static str, reason: impl Into<String>) -> ProofError {
        ProofError {
            code,
            reason: reason.into(),
        }
    }
}

/// A sequencer's signature over (community, size, root): "the first `size` entries of this
/// community's log have Merkle root `root`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    pub format: String,
    pub community: CommunityId,
    pub size: u64,
    pub root: Hash,
    pub sequencer: PublicKey,
    pub sig: Signature,
}

/// The digest a tree head's signature covers.
pub fn tree_head_digest(community: &CommunityId, size: u64, root: &Hash) -> Hash {
    Hash::tagged(
        TREE_HEAD_DOMAIN,
        &[community.as_bytes(), &size.to_le_bytes(), root.as_bytes()],
    )
}

impl TreeHead {
    pub fn sign(community: CommunityId, size: u64, root: Hash, key: &SigningKey) -> TreeHead {
        let digest = tree_head_digest(&community, size, &root);
        TreeHead {
            format: TREE_HEAD_FORMAT.to_owned(),
            community,
            size,
            root,
            sequencer: PublicKey(key.verifying_key().to_bytes()),
            sig: Signature(key.sign(digest.as_bytes()).to_bytes()),
        }
    }

    /// The format is ours and the signature is the named sequencer's. Whether that key is
    /// the community's is for the caller to judge (`verify` compares it with the log).
    pub fn check_signature(&self) -> Result<(), ProofError> {
        if self.format != TREE_HEAD_FORMAT {
            return Err(ProofError::new(
                "bad_tree_head",
                format!(
                    "tree head format is {:?}, not {TREE_HEAD_FORMAT}",
                    self.format
                ),
            ));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(self.sequencer.as_bytes())
            .map_err(|_| ProofError::new("bad_tree_head", "the sequencer key is not a key"))?;
        let digest = tree_head_digest(&self.community, self.size, &self.root);
        key.verify_strict(
            digest.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&self.sig.0),
        )
        .map_err(|_| {
            ProofError::new(
                "bad_tree_head",
                format!(
                    "the signature of the tree head of size {} is invalid",
                    self.size
                ),
            )
        })
    }
}

/// A proof, as `ostrom proof inclusion|consistency` print it and `ostrom proof check` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "proof", rename_all = "snake_case", deny_unknown_fields)]
pub enum Proof {
    /// Entry `seq`, whose hash is `entry_hash`, is leaf `seq` of the tree of `size` entries.
    Inclusion {
        format: String,
        community: CommunityId,
        seq: u64,
        size: u64,
        entry_hash: Hash,
        /// The entry's canonical bytes (hex), so a checker sees what it proves.
        entry: String,
        path: Vec<Hash>,
    },
    /// The tree of `old_size` entries is a prefix of the tree of `new_size` entries.
    Consistency {
        format: String,
        community: CommunityId,
        old_size: u64,
        new_size: u64,
        path: Vec<Hash>,
    },
}

/// A Merkle tree over the first `len()` entry hashes of a log.
///
/// Proofs are generated by the RFC's own recursive definitions (RFC 9162 §2.1.3.1 `PATH`,
/// §2.1.4.1 `PROOF`) over the leaf hashes, and checked by ct-merkle; the unit tests hold
/// both to ct-merkle's own tree for every size up to 64. ct-merkle's in-memory tree rehashes
/// a leaf's whole path on every push (n log n hashes to build); this costs 2n, and the root
/// after each push costs log n, from the perfect subtrees the leaves so far form.
#[derive(Default)]
pub struct LogTree {
    /// `blake3(0x00 || entry hash)` of every leaf, in order.
    leaves: Vec<[u8; 32]>,
    /// The roots of the perfect subtrees the leaves form, largest (leftmost) first, with
    /// their sizes: the binary decomposition of `len()`.
    peaks: Vec<(u64, [u8; 32])>,
}

fn to_digest(hash: &Hash) -> Digest {
    Digest::from(hash.0)
}

/// RFC 6962 leaf hash.
fn leaf_hash(entry_hash: &Hash) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[LEAF_PREFIX]);
    hasher.update(&entry_hash.0);
    *hasher.finalize().as_bytes()
}

/// RFC 6962 interior node hash.
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    *hasher.finalize().as_bytes()
}

/// The largest power of two smaller than `n` (n >= 2): where a tree of `n` leaves splits.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// RFC 9162 §2.1.1 `MTH` over leaf hashes (non-empty).
fn subtree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => unreachable!("subtrees are never empty"),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&subtree_hash(&leaves[..k]), &subtree_hash(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, leaf's sibling first.
fn inclusion_path(m: usize, leaves: &[[u8; 32]], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        inclusion_path(m, &leaves[..k], out);
        out.push(Hash(subtree_hash(&leaves[k..])));
    } else {
        inclusion_path(m - k, &leaves[k..], out);
        out.push(Hash(subtree_hash(&leaves[..k])));
    }
}

/// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`.
fn consistency_path(m: usize, leaves: &[[u8; 32]], whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(Hash(subtree_hash(leaves)));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        consistency_path(m, &leaves[..k], whole, out);
        out.push(Hash(subtree_hash(&leaves[k..])));
    } else {
        consistency_path(m - k, &leaves[k..], false, out);
        out.push(Hash(subtree_hash(&leaves[..k])));
    }
}

impl LogTree {
    pub fn from_hashes(hashes: impl IntoIterator<Item = Hash>) -> LogTree {
        let mut tree = LogTree::default();
        for hash in hashes {
            tree.push(hash);
        }
        tree
    }

    pub fn push(&mut self, entry_hash: Hash) {
        let leaf = leaf_hash(&entry_hash);
        self.leaves.push(leaf);
        self.peaks.push((1, leaf));
        // Two perfect subtrees of one size merge into one of twice the size, as a binary
        // counter carries.
        while let [.., (left_size, left), (right_size, right)] = self.peaks[..] {
            if left_size != right_size {
                break;
            }
            self.peaks.truncate(self.peaks.len() - 2);
            self.peaks.push((left_size * 2, node_hash(&left, &right)));
        }
        debug_assert_eq!(
            self.peaks.iter().map(|(size, _)| size).sum::<u64>(),
            self.len()
        );
    }

    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The RFC 6962 Merkle tree hash of all leaves so far (of an empty tree: `blake3("")`).
    /// A left-balanced tree's root folds its perfect subtrees from the right.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some((_, last)) = peaks.next() else {
            return Hash(*blake3::hash(&[]).as_bytes());
        };
        Hash(peaks.fold(*last, |right, (_, left)| node_hash(left, &right)))
    }

    /// The path proving leaf `seq` is in this tree.
    pub fn prove_inclusion(&self, seq: u64) -> Result<Vec<Hash>, ProofError> {
        if seq >= self.len() {
            return Err(ProofError::new(
                "bad_param",
                format!("seq {seq} is not in a tree of {} entries", self.len()),
            ));
        }
        let mut path = Vec::new();
        inclusion_path(seq as usize, &self.leaves, &mut path);
        Ok(path)
    }

    /// The path proving the tree of `old_size` entries is a prefix of this one.
    pub fn prove_consistency(&self, old_size: u64) -> Result<Vec<Hash>, ProofError> {
        if old_size == 0 || old_size > self.len() {
            return Err(ProofError::new(
                "bad_param",
                format!(
                    "a consistency proof needs 1 <= old size <= {} (got {old_size})",
                    self.len()
                ),
            ));
        }
        let mut path = Vec::new();
        // RFC 9162 §2.1.4.1: equal trees need no proof (SUBPROOF with b = true is empty).
        consistency_path(old_size as usize, &self.leaves, true, &mut path);
        Ok(path)
    }
}

fn check_path_len(path: &[Hash]) -> Result<(), ProofError> {
    if path.len() > PROOF_HASHES_MAX {
        return Err(ProofError::new(
            "bad_proof",
            format!("a proof path has at most {PROOF_HASHES_MAX} hashes"),
        ));
    }
    Ok(())
}

/// The hashes of the first `size` entries of a community's log, as stored (`verify` is what
/// vouches for the entries themselves).
pub fn entry_hashes(
    store: &dyn LogStore,
    community: CommunityId,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    let mut hashes = Vec::with_capacity(size as usize);
    for item in store.read_from(community, 0)?.take(size as usize) {
        let (_, bytes) = item?;
        hashes.push(hash_entry_bytes(&bytes));
    }
    if (hashes.len() as u64) < size {
        return Err(StoreError::Corrupt(format!(
            "the log has {} entries, fewer than {size}",
            hashes.len()
        )));
    }
    Ok(hashes)
}

/// Prove that entry `seq` is in the tree of the first `size` entries.
pub fn prove_inclusion(
    store: &dyn LogStore,
    community: CommunityId,
    seq: u64,
    size: u64,
) -> Result<Proof, ProofError> {
    let stored = |error: StoreError| ProofError::new("store_error", error.to_string());
    let tree = LogTree::from_hashes(entry_hashes(store, community, size).map_err(stored)?);
    let path = tree.prove_inclusion(seq)?;
    let bytes = store
        .read_range(community, seq, seq + 1)
        .map_err(stored)?
        .pop()
        .ok_or_else(|| ProofError::new("bad_param", format!("seq {seq} is not in the log")))?;
    Ok(Proof::Inclusion {
        format: PROOF_FORMAT.to_owned(),
        community,
        seq,
        size,
        entry_hash: hash_entry_bytes(&bytes),
        entry: hex::encode(&bytes),
        path,
    })
}

/// Prove that the tree of `old_size` entries is a prefix of the tree of `new_size` entries.
pub fn prove_consistency(
    store: &dyn LogStore,
    community: CommunityId,
    old_size: u64,
    new_size: u64,
) -> Result<Proof, ProofError> {
    let stored = |error: StoreError| ProofError::new("store_error", error.to_string());
    let tree = LogTree::from_hashes(entry_hashes(store, community, new_size).map_err(stored)?);
    let path = tree.prove_consistency(old_size)?;
    Ok(Proof::Consistency {
        format: PROOF_FORMAT.to_owned(),
        community,
        old_size,
        new_size,
        path,
    })
}

/// Check an inclusion proof against a saved tree head, offline. Returns the proven entry.
pub fn check_inclusion(head: &TreeHead, proof: &Proof) -> Result<Entry, ProofError> {
    let Proof::Inclusion {
        format,
        community,
        seq,
        size,
        entry_hash,
        entry,
        path,
    } = proof
    else {
        return Err(ProofError::new("bad_proof", "not an inclusion proof"));
    };
    check_proof_format(format)?;
    head.check_signature()?;
    check_path_len(path)?;
    if *community != head.community {
        return Err(ProofError::new(
            "proof_mismatch",
            "the proof and the tree head are for different communities",
        ));
    }
    if *size != head.size {
        return Err(ProofError::new(
            "proof_mismatch",
            format!(
                "the proof is for a tree of {size} entries, the tree head for {}",
                head.size
            ),
        ));
    }
    let bytes =
        hex::decode(entry).map_err(|_| ProofError::new("bad_proof", "the entry is not hex"))?;
    if hash_entry_bytes(&bytes) != *entry_hash {
        return Err(ProofError::new(
            "proof_mismatch",
            "the entry's bytes do not hash to entry_hash",
        ));
    }
    let decoded = Entry::decode(&bytes)
        .map_err(|error| ProofError::new("bad_proof", format!("the entry: {error}")))?;
    if decoded.seq != *seq || decoded.community != *community {
        return Err(ProofError::new(
            "proof_mismatch",
            format!(
                "the entry is seq {} of community {}, the proof says seq {seq}",
                decoded.seq, decoded.community
            ),
        ));
    }
    let root = RootHash::<blake3::Hasher>::new(to_digest(&head.root), head.size);
    let digests: Vec<Digest> = path.iter().map(to_digest).collect();
    root.verify_inclusion(&entry_hash.0, *seq, &InclusionProof::from_digests(&digests))
        .map_err(|error| {
            ProofError::new(
                "proof_mismatch",
                format!(
                    "entry {seq} is not in the tree of size {} with root {}: {error}",
                    head.size, head.root
                ),
            )
        })?;
    Ok(decoded)
}

/// Check a consistency proof between two saved tree heads, offline.
pub fn check_consistency(old: &TreeHead, new: &TreeHead, proof: &Proof) -> Result<(), ProofError> {
    let Proof::Consistency {
        format,
        community,
        old_size,
        new_size,
        path,
    } = proof
    else {
        return Err(ProofError::new("bad_proof", "not a consistency proof"));
    };
    check_proof_format(format)?;
    old.check_signature()?;
    new.check_signature()?;
    check_path_len(path)?;
    if old.community != *community || new.community != *community {
        return Err(ProofError::new(
            "proof_mismatch",
            "the proof and the tree heads are for different communities",
        ));
    }
    if (*old_size, *new_size) != (old.size, new.size) {
        return Err(ProofError::new(
            "proof_mismatch",
            format!(
                "the proof is from size {old_size} to {new_size}, the tree heads are of sizes {} and {}",
                old.size, new.size
            ),
        ));
    }
    if old.size == 0 || old.size > new.size {
        return Err(ProofError::new(
            "bad_proof",
            "a consistency proof needs 1 <= old size <= new size",
        ));
    }
    if old.size == new.size {
        if !path.is_empty() || old.root != new.root {
            return Err(ProofError::new(
                "proof_mismatch",
                format!("two tree heads of size {} with different roots", old.size),
            ));
        }
        return Ok(());
    }
    let new_root = RootHash::<blake3::Hasher>::new(to_digest(&new.root), new.size);
    let old_root = RootHash::<blake3::Hasher>::new(to_digest(&old.root), old.size);
    let digests: Vec<Digest> = path.iter().map(to_digest).collect();
    new_root
        .verify_consistency(&old_root, &ConsistencyProof::from_digests(&digests))
        .map_err(|error| {
            ProofError::new(
                "proof_mismatch",
                format!(
                    "the tree of size {} (root {}) is not a prefix of the tree of size {} (root {}): {error}",
                    old.size, old.root, new.size, new.root
                ),
            )
        })
}

fn check_proof_format(format: &str) -> Result<(), ProofError> {
    if format != PROOF_FORMAT {
        return Err(ProofError::new(
            "bad_proof",
            format!("proof format is {format:?}, not {PROOF_FORMAT}"),
        ));
    }
    Ok(())
}

/// Where a community's tree heads are kept: `DATA/checkpoints/COMMUNITY/SIZE.json`.
pub struct HeadDir {
    dir: PathBuf,
}

impl HeadDir {
    pub fn new(data: &Path, community: CommunityId) -> HeadDir {
        HeadDir {
            dir: data.join("checkpoints").join(community.to_hex()),
        }
    }

    fn path(&self, size: u64) -> PathBuf {
        // Zero-padded so that a directory listing is in size order.
        self.dir.join(format!("{size:020}.json"))
    }

    pub fn has(&self, size: u64) -> bool {
        self.path(size).exists()
    }

    /// The head saved for a tree of `size` entries, if there is one and it reads.
    pub fn load(&self, size: u64) -> Option<TreeHead> {
        read_head(&self.path(size)).ok()
    }

    pub fn save(&self, head: &TreeHead) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(head.size);
        let text = serde_json::to_string_pretty(head).expect("tree heads encode");
        // Written whole then renamed, so a crash never leaves half a head behind.
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text + "\n")?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }

    /// Every saved head, in size order; a file that does not parse is an error naming it.
    pub fn load_all(&self) -> Result<Vec<(PathBuf, TreeHead)>, String> {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut paths: Vec<PathBuf> = listing
            .filter_map(|item| item.ok().map(|item| item.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let head = read_head(&path)?;
                Ok((path, head))
            })
            .collect()
    }
}

/// Read a tree head file.
pub fn read_head(path: &Path) -> Result<TreeHead, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Sign and save a head at every multiple of [`CHECKPOINT_INTERVAL_ENTRIES`] up to the log's
/// length that has none yet; one pass over the log, only when one is missing.
pub fn save_due_heads(
    store: &dyn LogStore,
    community: CommunityId,
    heads: &HeadDir,
    key: &SigningKey,
) -> Result<Vec<TreeHead>, ProofError> {
    let stored = |error: StoreError| ProofError::new("store_error", error.to_string());
    let length = store.len(community).map_err(stored)?;
    let last = length / CHECKPOINT_INTERVAL_ENTRIES * CHECKPOINT_INTERVAL_ENTRIES;
    if last == 0 || heads.has(last) {
        return Ok(Vec::new());
    }
    let mut tree = LogTree::default();
    let mut saved = Vec::new();
    for hash in entry_hashes(store, community, last).map_err(stored)? {
        tree.push(hash);
        let size = tree.len();
        if size % CHECKPOINT_INTERVAL_ENTRIES == 0 && !heads.has(size) {
            let head = TreeHead::sign(community, size, tree.root(), key);
            heads
                .save(&head)
                .map_err(|error| ProofError::new("io_error", error.to_string()))?;
            saved.push(head);
        }
    }
    Ok(saved)
}

/// Check every saved tree head against the log: a head must be signed by the sequencer key
/// of the entry that closed its tree, and its root must be the root
/// recomputed from the log. Returns how many heads were checked.
pub fn check_saved_heads(
    store: &dyn LogStore,
    community: CommunityId,
    heads: &HeadDir,
) -> Result<u64, ProofError> {
    let saved = heads
        .load_all()
        .map_err(|error| ProofError::new("bad_tree_head", error))?;
    if saved.is_empty() {
        return Ok(0);
    }
    let stored = |error: StoreError| ProofError::new("store_error", error.to_string());
    let length = store.len(community).map_err(stored)?;
    let mut tree = LogTree::default();
    let mut pending = saved.iter().peekable();
    for item in store.read_from(community, 0).map_err(stored)? {
        let (_, bytes) = item.map_err(stored)?;
        tree.push(hash_entry_bytes(&bytes));
        while let Some((path, head)) = pending.peek() {
            if head.size != tree.len() {
                break;
            }
            let sequencer = Entry::decode(&bytes).ok().map(|entry| entry.sequencer);
            check_head_against(path, head, community, tree.root(), sequencer)?;
            pending.next();
        }
    }
    if let Some((path, head)) = pending.next() {
        return Err(ProofError::new(
            "proof_mismatch",
            format!(
                "{}: a tree head of size {} but the log has only {length} entries (the log was truncated)",
                path.display(),
                head.size
            ),
        ));
    }
    Ok(saved.len() as u64)
}

/// A tree head an auditor holds, against the root of the log's first `head.size` entries:
/// its signature, its community, and the root.
pub fn check_head_root(
    head: &TreeHead,
    community: CommunityId,
    root: Hash,
) -> Result<(), ProofError> {
    head.check_signature()?;
    if head.community != community {
        return Err(ProofError::new(
            "bad_tree_head",
            "the tree head is for another community",
        ));
    }
    if head.root != root {
        return Err(ProofError::new(
            "proof_mismatch",
            format!(
                "the tree head of size {} has root {}, but the log's first {} entries have root {root}: the log was changed after this head was signed",
                head.size, head.root, head.size
            ),
        ));
    }
    Ok(())
}

fn check_head_against(
    path: &Path,
    head: &TreeHead,
    community: CommunityId,
    root: Hash,
    sequencer: Option<PublicKey>,
) -> Result<(), ProofError> {
    let named = |error: ProofError| ProofError {
        code: error.code,
        reason: format!("{}: {}", path.display(), error.reason),
    };
    check_head_root(head, community, root).map_err(named)?;
    if Some(head.sequencer) != sequencer {
        return Err(named(ProofError::new(
            "bad_tree_head",
            format!(
                "the tree head of size {} is not signed by the community's sequencer",
                head.size
            ),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 §2.1 definition, written out recursively, to check ct-merkle's tree shape
    /// and our leaf encoding against.
    fn rfc_root(leaves: &[Hash]) -> Hash {
        fn node(left: [u8; 32], right: [u8; 32]) -> [u8; 32] {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&[1]);
            hasher.update(&left);
            hasher.update(&right);
            *hasher.finalize().as_bytes()
        }
        fn mth(leaves: &[Hash]) -> [u8; 32] {
            match leaves.len() {
                0 => *blake3::hash(&[]).as_bytes(),
                1 => {
                    let mut hasher = blake3::Hasher::new();
                    hasher.update(&[0]);
                    hasher.update(&leaves[0].0);
                    *hasher.finalize().as_bytes()
                }
                n => {
                    let split = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                    node(mth(&leaves[..split]), mth(&leaves[split..]))
                }
            }
        }
        Hash(mth(leaves))
    }

    fn leaves(count: u64) -> Vec<Hash> {
        (0..count)
            .map(|index| Hash::tagged("test", &[&index.to_le_bytes()]))
            .collect()
    }

    #[test]
    fn given_any_size_when_rooted_then_it_is_the_rfc_6962_tree_hash() {
        for size in 1..=40 {
            let leaves = leaves(size);
            assert_eq!(
                LogTree::from_hashes(leaves.clone()).root(),
                rfc_root(&leaves)
            );
        }
    }

    #[test]
    fn given_any_size_when_proving_then_the_proofs_are_ct_merkles() {
        use ct_merkle::mem_backed_tree::MemoryBackedTree;
        let split_path = |bytes: &[u8]| -> Vec<Hash> {
            bytes
                .chunks(32)
                .map(|chunk| Hash(chunk.try_into().expect("32 bytes")))
                .collect()
        };
        let all = leaves(64);
        let mut reference = MemoryBackedTree::<blake3::Hasher, [u8; 32]>::new();
        let mut ours = LogTree::default();
        for size in 1..=64u64 {
            reference.push(all[size as usize - 1].0);
            ours.push(all[size as usize - 1]);
            let root = reference.root();
            assert_eq!(
                ours.root().0.as_slice(),
                root.as_bytes().as_slice(),
                "size {size}"
            );
            for seq in 0..size {
                assert_eq!(
                    ours.prove_inclusion(seq).unwrap(),
                    split_path(reference.prove_inclusion(seq as usize).as_bytes()),
                    "inclusion of {seq} in {size}"
                );
            }
            for old in 1..size {
                assert_eq!(
                    ours.prove_consistency(old).unwrap(),
                    split_path(
                        reference
                            .prove_consistency((size - old) as usize)
                            .as_bytes()
                    ),
                    "consistency {old} -> {size}"
                );
            }
            assert!(ours.prove_consistency(size).unwrap().is_empty());
        }
    }

    #[test]
    fn given_trees_of_many_sizes_when_proving_then_every_proof_checks() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let community = CommunityId([3; 16]);
        let all = leaves(37);
        for new_size in 1..=37u64 {
            let tree = LogTree::from_hashes(all[..new_size as usize].iter().copied());
            let new = TreeHead::sign(community, new_size, tree.root(), &key);
            for old_size in 1..=new_size {
                let old_tree = LogTree::from_hashes(all[..old_size as usize].iter().copied());
                let old = TreeHead::sign(community, old_size, old_tree.root(), &key);
                let proof = Proof::Consistency {
                    format: PROOF_FORMAT.into(),
                    community,
                    old_size,
                    new_size,
                    path: tree.prove_consistency(old_size).unwrap(),
                };
                check_consistency(&old, &new, &proof).unwrap();
            }
        }
    }
}
