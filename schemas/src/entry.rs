//! The log entry envelope (v1), its canonical bytes, hash and signatures.
//!
//! Canonical bytes are the postcard encoding of `Entry` and nothing else is ever hashed or
//! signed. The signature is the last field and has a fixed length, so the bytes it covers
//! are exactly the canonical bytes without their last 64 bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bytes::{CommunityId, Hash, PublicKey, Signature};
use crate::limits;
use crate::record::Record;
use crate::statement::{Asserted, Signed, Statement, STATEMENT_SIGNATURE_DOMAIN};

/// Domain tag of an entry hash.
pub const ENTRY_HASH_DOMAIN: &str = "ostrom/entry/v1";
/// Domain tag of the digest the sequencer signs.
pub const ENTRY_SIGNATURE_DOMAIN: &str = "ostrom/entry-signature/v1";
/// Domain tag of a community id.
pub const COMMUNITY_ID_DOMAIN: &str = "ostrom/community/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Entry {
    pub version: u16,
    pub community: CommunityId,
    /// 0 = genesis, +1 each entry, no gaps.
    pub seq: u64,
    /// Hash of the previous entry; zero at genesis.
    pub prev: Hash,
    /// Sequencer clock (ms since the Unix epoch), never decreasing within a log.
    pub at_ms: u64,
    pub body: Body,
    pub sequencer: PublicKey,
    pub sig: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A statement signed by its author.
    Statement(Signed),
    /// Something the engine decided or did.
    Record(Record),
    /// A statement the sequencer vouches for: it authenticated the member itself (a bearer
    /// token) and asserts the statement through the entry signature alone, as if it had
    /// signed it with the sequencer key.
    Vouched(Statement),
}

impl Body {
    pub fn name(&self) -> &'static str {
        match self {
            Body::Statement(signed) => signed.statement.body.name(),
            Body::Record(record) => record.name(),
            Body::Vouched(statement) => statement.body.name(),
        }
    }
}

/// Errors reading canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("entry is {0} bytes, over the limit of {max}", max = limits::ENTRY_BYTES_MAX)]
    TooLarge(usize),
    #[error("bytes do not decode as an entry: {0}")]
    Malformed(String),
    #[error("bytes decode but are not the canonical encoding of the entry")]
    NotCanonical,
}

impl Entry {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding plain data into a Vec cannot fail; a failure would be a bug in a type.
        postcard::to_stdvec(self).expect("entries always encode")
    }

    /// Read canonical bytes, refusing any other encoding of the same entry so that the hash
    /// of stored bytes is the hash of the entry.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        if bytes.len() > limits::ENTRY_BYTES_MAX {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let entry: Entry = postcard::from_bytes(bytes)
            .map_err(|error| DecodeError::Malformed(error.to_string()))?;
        // Re-encode and compare on the fly, without building a second copy of the bytes.
        let comparing = Comparing { expected: bytes };
        if postcard::serialize_with_flavor(&entry, comparing) != Ok(true) {
            return Err(DecodeError::NotCanonical);
        }
        Ok(entry)
    }

    /// The canonical bytes of the statement inside `canonical` (the canonical bytes of
    /// this entry, which must carry a statement): a sub-slice, since postcard encodes a
    /// struct as its fields one after another and every field after the statement has a
    /// fixed length. This is what the statement's author signed, found without encoding
    /// the statement again.
    pub fn statement_bytes<'a>(&self, canonical: &'a [u8]) -> Option<&'a [u8]> {
        if !matches!(self.body, Body::Statement(_)) {
            return None;
        }
        // version, community, seq, prev, at_ms, then the body's variant index (one byte).
        let start = varint_len(u64::from(self.version))
            + CommunityId::LEN
            + varint_len(self.seq)
            + Hash::LEN
            + varint_len(self.at_ms)
            + 1;
        // After the statement: its author and signature, then the sequencer and its
        // signature.
        let end = canonical
            .len()
            .checked_sub(2 * (PublicKey::LEN + Signature::LEN))?;
        canonical.get(start..end)
    }

    pub fn hash(&self) -> Hash {
        hash_entry_bytes(&self.encode())
    }

    /// The statement this entry carries, signed or vouched for, with the key asserting it.
    pub fn statement(&self) -> Option<Asserted<'_>> {
        match &self.body {
            Body::Statement(signed) => Some(Asserted {
                statement: &signed.statement,
                author: &signed.author,
                vouched: false,
            }),
            Body::Vouched(statement) => Some(Asserted {
                statement,
                author: &self.sequencer,
                vouched: true,
            }),
            Body::Record(_) => None,
        }
    }

    /// The signed statement this entry carries (not a vouched one).
    pub fn body_signed(&self) -> Option<&Signed> {
        match &self.body {
            Body::Statement(signed) => Some(signed),
            Body::Record(_) | Body::Vouched(_) => None,
        }
    }

    pub fn record(&self) -> Option<&Record> {
        match &self.body {
            Body::Record(record) => Some(record),
            Body::Statement(_) | Body::Vouched(_) => None,
        }
    }
}

/// Bytes of `value` as a postcard varint.
fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A postcard output that compares what is written with the bytes expected there, so that
/// checking an encoding is canonical needs no second buffer.
struct Comparing<'a> {
    expected: &'a [u8],
}

impl postcard::ser_flavors::Flavor for Comparing<'_> {
    /// Whether every expected byte was written.
    type Output = bool;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        match self.expected.split_first() {
            Some((first, rest)) if *first == data => {
                self.expected = rest;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.expected.split_at_checked(data.len()) {
            Some((head, rest)) if head == data => {
                self.expected = rest;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<bool> {
        Ok(self.expected.is_empty())
    }
}

pub fn hash_entry_bytes(canonical: &[u8]) -> Hash {
    Hash::tagged(ENTRY_HASH_DOMAIN, &[canonical])
}

/// The digest the sequencer signs: everything but the signature.
pub fn entry_signing_digest(canonical: &[u8]) -> Hash {
    let unsigned = &canonical[..canonical.len() - Signature::LEN];
    Hash::tagged(ENTRY_SIGNATURE_DOMAIN, &[unsigned])
}

/// The digest a statement's author signs.
pub fn statement_signing_digest(statement: &Statement) -> Hash {
    let bytes = postcard::to_stdvec(statement).expect("statements always encode");
    statement_signing_digest_of_bytes(&bytes)
}

/// The digest a statement's author signs, from the statement's canonical bytes (see
/// [`Entry::statement_bytes`]).
pub fn statement_signing_digest_of_bytes(canonical: &[u8]) -> Hash {
    Hash::tagged(STATEMENT_SIGNATURE_DOMAIN, &[canonical])
}

pub fn community_id(name: &str, sequencer: &PublicKey) -> CommunityId {
    let digest = Hash::tagged(
        COMMUNITY_ID_DOMAIN,
        &[sequencer.as_bytes(), name.as_bytes()],
    );
    let mut id = [0u8; CommunityId::LEN];
    id.copy_from_slice(&digest.0[..CommunityId::LEN]);
    CommunityId(id)
}

/// Sign a statement with the author's key.
pub fn sign_statement(statement: Statement, key: &ed25519_dalek::SigningKey) -> Signed {
    use ed25519_dalek::Signer;
    let digest = statement_signing_digest(&statement);
    let sig = key.sign(digest.as_bytes());
    Signed {
        statement,
        author: PublicKey(key.verifying_key().to_bytes()),
        sig: Signature(sig.to_bytes()),
    }
}
