//! `ostrom-schemas`: the vocabulary of the ledger.
//!
//! Event types (statements and engine records), the v1 entry envelope, canonical postcard
//! encoding, domain-separated blake3 hashing, ed25519 signing, and the verifier that is the
//! only way to obtain a [`VerifiedEntry`]. The committed JSON Schemas and golden vectors in
//! `schemas/v1/` describe the same types for verifiers written in other languages; a test
//! fails when they disagree.
//!
//! What is deliberately absent: I/O, clocks, randomness, hash maps. Every function here is a
//! pure function of its arguments (DESIGN.md §1).

#![forbid(unsafe_code)]

pub mod action;
pub mod bytes;
pub mod entry;
pub mod limits;
pub mod parameters;
pub mod record;
pub mod statement;
pub mod value;
pub mod verify;

pub use action::{
    ActionId, ActionSpec, ConstitutionAction, PolicyId, PolicyKind, PolicySpec, RoleSpec,
};
pub use bytes::{CommunityId, Hash, PublicKey, Signature};
pub use entry::{Body, Entry};
pub use record::Record;
pub use statement::{Asserted, Signed, Statement, StatementBody, VoteValue};
pub use value::{Params, Value};
pub use verify::{Authority, BadEntry, ChainTip, SignatureChecked, VerifiedEntry};

pub use ed25519_dalek::SigningKey;
