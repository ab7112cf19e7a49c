//! Verification: the only way to turn bytes from a store or an export into a
//! `VerifiedEntry`, and the only way for the sequencer to seal a new one.
//!
//! Checking is split in two so that signatures can be checked in batches (and on several
//! threads by the caller) while the rules that depend on governance state run in order:
//! `check_signatures` proves an entry is well-formed and signed by the keys it names;
//! `SignatureChecked::admit` then checks the chain position, that the keys are the right
//! ones, and every rule the reducer relies on, against an `Authority` (the state just
//! before the entry).

use std::collections::BTreeMap;

use ed25519_dalek::Signer;
pub use ed25519_dalek::VerifyingKey;

use crate::bytes::{Hash, PublicKey, Signature};
use crate::entry::{
    community_id, entry_signing_digest, hash_entry_bytes, statement_signing_digest,
    statement_signing_digest_of_bytes, Body, DecodeError, Entry,
};
use crate::limits;
use crate::record::Record;
use crate::statement::{
    RecoveryMessage, Signed, Statement, StatementBody, RECOVERY_SIGNATURE_DOMAIN,
};

/// Where the log stands: what the next entry must chain onto.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTip {
    pub next_seq: u64,
    pub prev: Hash,
    pub at_ms: u64,
    /// The community and its current sequencer key; `None` before genesis.
    pub established: Option<(crate::bytes::CommunityId, PublicKey)>,
}

impl ChainTip {
    pub const GENESIS: ChainTip = ChainTip {
        next_seq: 0,
        prev: Hash::ZERO,
        at_ms: 0,
        established: None,
    };
}

/// Why the state refuses an entry: a stable machine-readable code and a sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

/// The governance state as the verifier sees it: where the chain stands and whether a
/// statement or record is admissible right after it. `projections::GovernanceState`
/// implements this; the rules live beside the state they read.
pub trait Authority {
    fn tip(&self) -> ChainTip;
    /// `Err(reason)` if `statement`, asserted by `author` (its signer, or the sequencer
    /// for a vouched statement), may not be appended now (unknown member, wrong key,
    /// replayed counter, vote on an unknown action, ...).
    /// `at_ms` is the time of the entry that would carry it.
    fn admit_statement(
        &self,
        statement: &Statement,
        author: &PublicKey,
        at_ms: u64,
    ) -> Result<(), Refusal>;
    fn admit_record(&self, record: &Record) -> Result<(), Refusal>;
    /// For a recovery: the trustees (name and bound key) and the threshold.
    fn trustees(&self) -> (Vec<(String, Option<PublicKey>)>, u64);
}

/// An entry that failed verification: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {reason}")]
pub struct BadEntry {
    pub seq: u64,
    /// Stable code: `malformed`, `bad_signature`, `broken_chain`, `out_of_sequence`,
    /// `wrong_community`, `wrong_sequencer`, `bad_genesis`, `time_backwards`,
    /// `bad_version`, `stale_recovery`, `bad_cosignature`, or an admission code.
    pub code: &'static str,
    pub reason: String,
}

impl BadEntry {
    fn new(seq: u64, code: &'static str, reason: impl Into<String>) -> Self {
        BadEntry {
            seq,
            code,
            reason: reason.into(),
        }
    }

    fn refused(seq: u64, refusal: Refusal) -> Self {
        BadEntry {
            seq,
            code: refusal.code,
            reason: refusal.reason,
        }
    }
}

/// An entry that passed every check against the state just before it. Only this module
/// can build one.
#[derive(Clone, Debug)]
pub struct VerifiedEntry {
    entry: Entry,
    hash: Hash,
}

impl VerifiedEntry {
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    pub fn into_entry(self) -> Entry {
        self.entry
    }
}

/// An entry whose signatures are valid for the keys it names; not yet checked against the
/// chain or the state.
#[derive(Clone, Debug)]
pub struct SignatureChecked {
    entry: Entry,
    hash: Hash,
}

impl SignatureChecked {
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Check chain position, keys and state rules; on success the entry is verified.
    pub fn admit(self, authority: &impl Authority) -> Result<VerifiedEntry, BadEntry> {
        admit_checked(&self.entry, authority)?;
        Ok(VerifiedEntry {
            entry: self.entry,
            hash: self.hash,
        })
    }
}

/// Decode canonical bytes. `position` is the seq the caller expects there, used to name
/// the entry when its bytes do not even decode.
pub fn decode(bytes: &[u8], position: u64) -> Result<Entry, BadEntry> {
    Entry::decode(bytes)
        .map_err(|error: DecodeError| BadEntry::new(position, "malformed", error.to_string()))
}

struct Claim {
    digest: Hash,
    key: PublicKey,
    sig: Signature,
    /// Index into the batch of the entry this signature belongs to.
    owner: usize,
}

/// Decompressed public keys, kept across batches: decompressing a key costs about a
/// quarter of a signature check, and the same few keys sign most entries.
#[derive(Default)]
pub struct KeyCache {
    keys: BTreeMap<PublicKey, Option<VerifyingKey>>,
}

impl KeyCache {
    /// Keys kept at most; the cache starts over beyond this.
    pub const KEYS_MAX: usize = 1 << 16;

    fn get(&mut self, key: &PublicKey) -> Option<VerifyingKey> {
        if self.keys.len() >= Self::KEYS_MAX {
            self.keys.clear();
        }
        *self.keys.entry(*key).or_insert_with(|| strict_key(key))
    }
}

/// Check every signature in a batch of decoded entries (with their canonical bytes) that
/// sit at positions `first`, `first + 1`, ... of their log. A batch that fails as a whole is
/// checked one signature at a time to name the first bad entry: a batch verdict never
/// decides alone that an entry is bad. Errors name the position, not the seq the entry
/// claims, which may itself be what was tampered with.
pub fn check_signatures(
    first: u64,
    batch: Vec<(Entry, &[u8])>,
) -> Result<Vec<SignatureChecked>, BadEntry> {
    check_signatures_cached(first, batch, &mut KeyCache::default())
}

/// `check_signatures` with a key cache that outlives the batch.
pub fn check_signatures_cached(
    first: u64,
    batch: Vec<(Entry, &[u8])>,
    cache: &mut KeyCache,
) -> Result<Vec<SignatureChecked>, BadEntry> {
    let mut claims = Vec::with_capacity(batch.len() * 2);
    let mut checked = Vec::with_capacity(batch.len());
    for (owner, (entry, bytes)) in batch.into_iter().enumerate() {
        if bytes.len() <= Signature::LEN {
            return Err(BadEntry::new(
                first + owner as u64,
                "malformed",
                "entry too short to be signed",
            ));
        }
        claims.push(Claim {
            digest: entry_signing_digest(bytes),
            key: entry.sequencer,
            sig: entry.sig,
            owner,
        });
        if let Body::Statement(signed) = &entry.body {
            // The statement's bytes are a slice of the entry's: no need to encode it again.
            let digest = match entry.statement_bytes(bytes) {
                Some(statement) => statement_signing_digest_of_bytes(statement),
                None => statement_signing_digest(&signed.statement),
            };
            debug_assert_eq!(digest, statement_signing_digest(&signed.statement));
            claims.push(Claim {
                digest,
                key: signed.author,
                sig: signed.sig,
                owner,
            });
        }
        let hash = hash_entry_bytes(bytes);
        checked.push(SignatureChecked { entry, hash });
    }

    let mut keys: BTreeMap<PublicKey, Option<VerifyingKey>> = BTreeMap::new();
    for claim in &claims {
        keys.entry(claim.key)
            .or_insert_with(|| cache.get(&claim.key));
    }
    let batch_ok = claims.iter().all(|claim| keys[&claim.key].is_some()) && {
        let messages: Vec<&[u8]> = claims
            .iter()
            .map(|claim| claim.digest.as_bytes().as_slice())
            .collect();
        let signatures: Vec<ed25519_dalek::Signature> = claims
            .iter()
            .map(|claim| ed25519_dalek::Signature::from_bytes(&claim.sig.0))
            .collect();
        let verifying: Vec<VerifyingKey> = claims
            .iter()
            .map(|claim| keys[&claim.key].expect("checked above"))
            .collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &verifying).is_ok()
    };
    if !batch_ok {
        // Claims are in entry order, the sequencer's first within an entry.
        for (index, claim) in claims.iter().enumerate() {
            let valid = keys[&claim.key].is_some_and(|key| {
                key.verify_strict(
                    claim.digest.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&claim.sig.0),
                )
                .is_ok()
            });
            if !valid {
                let first_of_entry = index == 0 || claims[index - 1].owner != claim.owner;
                let which = if first_of_entry {
                    "sequencer"
                } else {
                    "statement"
                };
                let seq = first + claim.owner as u64;
                return Err(BadEntry::new(
                    seq,
                    "bad_signature",
                    format!("invalid {which} signature"),
                ));
            }
        }
    }
    Ok(checked)
}

/// A key usable in a batch: it decompresses and is not of small order. Batch verification
/// is cofactored and would accept what `verify_strict` refuses for weak keys; with weak keys
/// excluded here, a batch that passes means what one-by-one strict checks mean, up to the
/// small-order components of `R` that only the signer could have chosen.
fn strict_key(key: &PublicKey) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(key.as_bytes())
        .ok()
        .filter(|key| !key.is_weak())
}

fn signature_valid(digest: &Hash, key: &PublicKey, sig: &Signature) -> bool {
    VerifyingKey::from_bytes(key.as_bytes()).is_ok_and(|key| {
        key.verify_strict(
            digest.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig.0),
        )
        .is_ok()
    })
}

/// Verify one entry from its canonical bytes against the state just before it.
pub fn verify(bytes: &[u8], authority: &impl Authority) -> Result<VerifiedEntry, BadEntry> {
    let position = authority.tip().next_seq;
    let entry = decode(bytes, position)?;
    let mut checked = check_signatures(position, vec![(entry, bytes)])?;
    checked.pop().expect("one in, one out").admit(authority)
}

fn admit_checked(entry: &Entry, authority: &impl Authority) -> Result<(), BadEntry> {
    let tip = authority.tip();
    // Errors name the position the entry occupies; its own `seq` field may be the lie.
    let seq = tip.next_seq;
    let fail = |code: &'static str, reason: String| Err(BadEntry::new(seq, code, reason));
    if entry.version != limits::ENTRY_VERSION {
        return fail(
            "bad_version",
            format!("unknown envelope version {}", entry.version),
        );
    }
    if entry.seq != tip.next_seq {
        return fail(
            "out_of_sequence",
            format!("out of sequence: found seq {} where seq {} belongs (an entry is missing, duplicated or moved)", entry.seq, tip.next_seq),
        );
    }
    if entry.prev != tip.prev {
        return fail(
            "broken_chain",
            format!(
                "broken chain: prev is {} but the previous entry hashes to {}",
                entry.prev.short(),
                tip.prev.short()
            ),
        );
    }
    if entry.at_ms < tip.at_ms {
        return fail(
            "time_backwards",
            format!("time went backwards: {} < {}", entry.at_ms, tip.at_ms),
        );
    }
    match tip.established {
        None => {
            let Body::Statement(Signed {
                statement, author, ..
            }) = &entry.body
            else {
                return fail(
                    "bad_genesis",
                    "the genesis entry must be a CommunityFounded statement".into(),
                );
            };
            let StatementBody::CommunityFounded(founding) = &statement.body else {
                return fail(
                    "bad_genesis",
                    "the genesis entry must be a CommunityFounded statement".into(),
                );
            };
            if founding.sequencer != entry.sequencer || *author != entry.sequencer {
                return fail(
                    "bad_genesis",
                    "the genesis entry must be signed by the founding sequencer key".into(),
                );
            }
            let expected = community_id(&founding.name, &founding.sequencer);
            if entry.community != expected || statement.community != expected {
                return fail(
                    "bad_genesis",
                    "community id does not match the founding name and key".into(),
                );
            }
        }
        Some((community, sequencer)) => {
            if entry.community != community {
                return fail(
                    "wrong_community",
                    "entry belongs to another community".into(),
                );
            }
            if entry.sequencer != sequencer {
                return fail(
                    "wrong_sequencer",
                    "signed by a key that is not the community's sequencer".into(),
                );
            }
        }
    }
    match entry.statement() {
        Some(asserted) => {
            let statement = asserted.statement;
            if statement.community != entry.community {
                return fail(
                    "wrong_community",
                    "the statement is for another community".into(),
                );
            }
            if let StatementBody::RecoveryInvoked(recovery) = &statement.body {
                if recovery.head_seq + 1 != seq || recovery.head != entry.prev {
                    return fail(
                        "stale_recovery",
                        format!(
                            "recovery names head {} but the log head is {}",
                            recovery.head_seq,
                            seq.saturating_sub(1)
                        ),
                    );
                }
                check_recovery_signatures(entry, recovery, authority)
                    .map_err(|reason| BadEntry::new(seq, "bad_cosignature", reason))?;
            }
            if tip.established.is_some()
                || !matches!(statement.body, StatementBody::CommunityFounded(_))
            {
                authority
                    .admit_statement(statement, asserted.author, entry.at_ms)
                    .map_err(|refusal| BadEntry::refused(seq, refusal))?;
            }
        }
        None => {
            let record = entry
                .record()
                .expect("an entry without a statement has a record");
            if tip.established.is_none() {
                return fail(
                    "bad_genesis",
                    "the genesis entry must be a CommunityFounded statement".into(),
                );
            }
            authority
                .admit_record(record)
                .map_err(|refusal| BadEntry::refused(seq, refusal))?;
        }
    }
    Ok(())
}

/// The digest each trustee signs for a recovery.
pub fn recovery_digest(message: &RecoveryMessage<'_>) -> Hash {
    let bytes = postcard::to_stdvec(message).expect("recoveries always encode");
    Hash::tagged(RECOVERY_SIGNATURE_DOMAIN, &[&bytes])
}

fn check_recovery_signatures(
    entry: &Entry,
    recovery: &crate::statement::Recovery,
    authority: &impl Authority,
) -> Result<(), String> {
    let (trustees, threshold) = authority.trustees();
    let digest = recovery_digest(&RecoveryMessage {
        community: &entry.community,
        head_seq: recovery.head_seq,
        head: &recovery.head,
        plan: &recovery.plan,
    });
    if recovery.cosignatures.len() > limits::TRUSTEES_MAX {
        return Err("too many co-signatures".into());
    }
    let mut counted: Vec<&str> = Vec::new();
    for cosignature in &recovery.cosignatures {
        let bound = trustees
            .iter()
            .find(|(name, _)| *name == cosignature.trustee)
            .ok_or_else(|| format!("{} is not a recovery trustee", cosignature.trustee))?;
        if bound.1 != Some(cosignature.key) {
            return Err(format!(
                "co-signature of {} is not by their key",
                cosignature.trustee
            ));
        }
        if !signature_valid(&digest, &cosignature.key, &cosignature.sig) {
            return Err(format!("invalid co-signature of {}", cosignature.trustee));
        }
        if counted.contains(&cosignature.trustee.as_str()) {
            return Err(format!("{} co-signed twice", cosignature.trustee));
        }
        counted.push(&cosignature.trustee);
    }
    if (counted.len() as u64) < threshold {
        return Err(format!(
            "recovery needs {threshold} trustee signatures, has {}",
            counted.len()
        ));
    }
    Ok(())
}

/// A statement ready to seal: one whose author signature has been checked (on its way in),
/// or one the sequencer vouches for.
#[derive(Clone, Debug)]
pub struct CheckedStatement {
    inner: Checked,
}

#[derive(Clone, Debug)]
enum Checked {
    Signed(Signed),
    Vouched(Statement),
}

impl CheckedStatement {
    /// A statement the sequencer vouches for: the server authenticated the member itself
    /// (a bearer token), and the entry that carries the statement (`Body::Vouched`) is
    /// its assertion. Its counter counts among the sequencer key's.
    pub fn vouched(statement: Statement) -> CheckedStatement {
        CheckedStatement {
            inner: Checked::Vouched(statement),
        }
    }

    pub fn statement(&self) -> &Statement {
        match &self.inner {
            Checked::Signed(signed) => &signed.statement,
            Checked::Vouched(statement) => statement,
        }
    }
}

/// Check one incoming statement's signature.
pub fn check_statement(signed: Signed) -> Result<CheckedStatement, Refusal> {
    if signature_valid(
        &statement_signing_digest(&signed.statement),
        &signed.author,
        &signed.sig,
    ) {
        Ok(CheckedStatement {
            inner: Checked::Signed(signed),
        })
    } else {
        Err(Refusal::new(
            "bad_signature",
            "the statement's signature does not verify",
        ))
    }
}

/// Check many incoming statements at once (one batch verification; a failed batch falls
/// back to one by one, so each statement gets its own verdict).
pub fn check_statements(batch: Vec<Signed>) -> Vec<Result<CheckedStatement, Refusal>> {
    check_statements_cached(batch, &mut KeyCache::default())
}

/// `check_statements` with a key cache that outlives the batch.
pub fn check_statements_cached(
    batch: Vec<Signed>,
    cache: &mut KeyCache,
) -> Vec<Result<CheckedStatement, Refusal>> {
    let digests: Vec<Hash> = batch
        .iter()
        .map(|signed| statement_signing_digest(&signed.statement))
        .collect();
    let keys: Option<Vec<VerifyingKey>> = batch
        .iter()
        .map(|signed| cache.get(&signed.author))
        .collect();
    let batch_ok = keys.is_some_and(|keys| {
        let messages: Vec<&[u8]> = digests
            .iter()
            .map(|digest| digest.as_bytes().as_slice())
            .collect();
        let signatures: Vec<ed25519_dalek::Signature> = batch
            .iter()
            .map(|signed| ed25519_dalek::Signature::from_bytes(&signed.sig.0))
            .collect();
        !batch.is_empty() && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    });
    batch
        .into_iter()
        .zip(digests)
        .map(|(signed, digest)| {
            if batch_ok || signature_valid(&digest, &signed.author, &signed.sig) {
                Ok(CheckedStatement {
                    inner: Checked::Signed(signed),
                })
            } else {
                Err(Refusal::new(
                    "bad_signature",
                    "the statement's signature does not verify",
                ))
            }
        })
        .collect()
}

/// What the sequencer can seal: a checked statement or its own record.
#[derive(Clone, Debug)]
pub enum Sealable {
    Statement(CheckedStatement),
    Record(Record),
}

/// The sequencer appends: build the next entry for `body` at `at_ms` (clamped so time never
/// goes backwards), check it exactly as a reader would, and sign it.
pub fn seal(
    authority: &impl Authority,
    key: &ed25519_dalek::SigningKey,
    at_ms: u64,
    body: Sealable,
) -> Result<(VerifiedEntry, Vec<u8>), BadEntry> {
    let tip = authority.tip();
    let sequencer = PublicKey(key.verifying_key().to_bytes());
    let body = match body {
        Sealable::Statement(checked) => match checked.inner {
            Checked::Signed(signed) => Body::Statement(signed),
            Checked::Vouched(statement) => Body::Vouched(statement),
        },
        Sealable::Record(record) => Body::Record(record),
    };
    let community = match (&tip.established, &body) {
        (Some((community, _)), _) => *community,
        (None, Body::Statement(signed)) => signed.statement.community,
        (None, Body::Record(_) | Body::Vouched(_)) => {
            return Err(BadEntry::new(
                0,
                "bad_genesis",
                "the genesis entry must be a statement",
            ))
        }
    };
    let mut entry = Entry {
        version: limits::ENTRY_VERSION,
        community,
        seq: tip.next_seq,
        prev: tip.prev,
        at_ms: at_ms.max(tip.at_ms),
        body,
        sequencer,
        sig: Signature::ZERO,
    };
    admit_checked(&entry, authority)?;
    let mut bytes = entry.encode();
    if bytes.len() > limits::ENTRY_BYTES_MAX {
        return Err(BadEntry::new(
            entry.seq,
            "too_large",
            format!("entry of {} bytes is over the limit", bytes.len()),
        ));
    }
    let sig = key.sign(entry_signing_digest(&bytes).as_bytes()).to_bytes();
    let start = bytes.len() - Signature::LEN;
    bytes[start..].copy_from_slice(&sig);
    entry.sig = Signature(sig);
    let hash = hash_entry_bytes(&bytes);
    debug_assert_eq!(entry.encode(), bytes);
    Ok((VerifiedEntry { entry, hash }, bytes))
}

/// Re-exported so that crates checking endorsements need no direct ed25519 dependency.
pub use ed25519_dalek::Signature as Ed25519Signature;
