//! Communities with generated keys, for tests, benchmarks and scenario runs.
//!
//! Founding a community by hand takes a sequencer key, a key per member and a signed
//! genesis statement; this builds all three from a member list and a starter kit, and
//! signs statements for any member. It uses exactly the path `ostrom init` uses.

use std::collections::BTreeMap;
use std::sync::Arc;

use ostrom_schemas::entry::sign_statement;
use ostrom_schemas::statement::{MemberSpec, Statement};
use ostrom_schemas::{ActionId, ActionSpec, CommunityId, Signed, SigningKey, StatementBody};

use crate::keys;
use crate::kits;
use crate::ledger::{Ledger, LedgerError};
use crate::store::LogStore;

/// The keys of a founded community.
pub struct Founded {
    pub community: CommunityId,
    pub sequencer: SigningKey,
    pub members: BTreeMap<String, SigningKey>,
}

impl Founded {
    /// Sign `body` as `member` with an explicit counter (for submitting from many threads,
    /// where each member's counter is tracked by whoever signs for them).
    pub fn sign(&self, member: &str, counter: u64, body: StatementBody) -> Signed {
        let key = &self.members[member];
        sign_statement(
            Statement {
                community: self.community,
                counter,
                member: member.to_owned(),
                evidence: None,
                body,
            },
            key,
        )
    }

    /// Propose `action` as `member` on `ledger` (this community's), sealed at `at_ms` with
    /// the member's next counter; the new action's id.
    pub fn propose(
        &self,
        ledger: &mut Ledger,
        member: &str,
        action: ActionSpec,
        at_ms: u64,
    ) -> Result<ActionId, LedgerError> {
        let signed = ledger.sign(
            member,
            &self.members[member],
            StatementBody::ActionProposed {
                action,
                not_before_ms: None,
            },
        );
        Ok(ActionId(ledger.submit(signed, at_ms)?.entry().seq))
    }
}

/// Deterministic keys from a seed (tests and benchmarks want reproducible logs).
pub fn seeded_key(seed: u64, index: u64) -> SigningKey {
    let digest = ostrom_schemas::Hash::tagged(
        "ostrom/test-key/v1",
        &[&seed.to_le_bytes(), &index.to_le_bytes()],
    );
    SigningKey::from_bytes(&digest.0)
}

/// Found a community named `name` with `members` (the first is the founder) under `kit`.
pub fn found(
    store: Arc<dyn LogStore>,
    name: &str,
    kit: &str,
    members: &[String],
    seed: u64,
    at_ms: u64,
) -> Result<(Ledger, Founded), LedgerError> {
    let sequencer = seeded_key(seed, u64::MAX);
    let member_keys: BTreeMap<String, SigningKey> = members
        .iter()
        .enumerate()
        .map(|(index, name)| (name.clone(), seeded_key(seed, index as u64)))
        .collect();
    let specs = members
        .iter()
        .map(|member| MemberSpec {
            name: member.clone(),
            key: Some(keys::public(&member_keys[member])),
        })
        .collect();
    let signed =
        kits::founding_statement(name, kit, specs, Vec::new(), 0, &sequencer).expect("a known kit");
    let community = signed.statement.community;
    let ledger = Ledger::found(store, signed, sequencer.clone(), at_ms)?;
    Ok((
        ledger,
        Founded {
            community,
            sequencer,
            members: member_keys,
        },
    ))
}

/// `member-0`, `member-1`, ...
pub fn member_names(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("member-{index}")).collect()
}

/// Re-seal a log after tampering with it, as an attacker holding the real sequencer key
/// would: from `from` on, every entry gets its position as seq, the previous entry's hash
/// as `prev`, and a fresh sequencer signature, so the chain and every signature verify.
/// Returns the canonical bytes.
pub fn reseal(
    mut entries: Vec<ostrom_schemas::Entry>,
    from: usize,
    key: &SigningKey,
) -> Vec<Vec<u8>> {
    use ed25519_dalek::Signer;
    let mut bytes: Vec<Vec<u8>> = entries[..from].iter().map(|entry| entry.encode()).collect();
    for index in from..entries.len() {
        let entry = &mut entries[index];
        entry.seq = index as u64;
        entry.prev = match index {
            0 => ostrom_schemas::Hash([0; 32]),
            _ => ostrom_schemas::entry::hash_entry_bytes(&bytes[index - 1]),
        };
        let digest = ostrom_schemas::entry::entry_signing_digest(&entry.encode());
        entry.sig = ostrom_schemas::Signature(key.sign(digest.as_bytes()).to_bytes());
        bytes.push(entry.encode());
    }
    bytes
}
