//! `verify` catches tampering with an exported log and names the first bad entry: every
//! single flipped byte (in signed and in vouched statements), a dropped entry, two entries
//! swapped, and swapped signatures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ostrom::export::{self, Header};
use ostrom::fixtures;
use ostrom::store::memory::MemoryStore;
use ostrom::store::LogStore;
use ostrom_schemas::{ActionSpec, Entry, Params, Signature, StatementBody, Value, VoteValue};

/// A small community's log: genesis, proposals, votes, a withdrawal.
fn community_log() -> (Header, Vec<Vec<u8>>) {
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(4);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "tamper", "democracy", &names, 3, 1_000).expect("founded");
    let mut proposals = Vec::new();
    for index in 0..4 {
        let member = &names[index % 4];
        let params = Params::from([
            ("role".to_owned(), Value::from("everyone")),
            ("members".to_owned(), Value::from("member-1")),
        ]);
        let action = if index % 2 == 0 {
            ActionSpec::parse("grant_role", &params, &|_| None).expect("valid")
        } else {
            let params = Params::from([("text".to_owned(), Value::from("hi"))]);
            ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid")
        };
        proposals.push(
            founded
                .propose(&mut ledger, member, action, 2_000 + index as u64)
                .expect("accepted"),
        );
    }
    for index in 0..12 {
        let member = &names[index % 4];
        let body = StatementBody::VoteCast {
            action: proposals[index % 4],
            value: if index % 2 == 0 {
                VoteValue::Yes
            } else {
                VoteValue::No
            },
        };
        // Half the votes signed by their members, half vouched for by the server (as for
        // members who vote with a bearer token).
        if index % 3 == 0 {
            ledger
                .submit_vouched(member, body, 3_000 + index as u64)
                .expect("accepted");
        } else {
            let signed = ledger.sign(member, &founded.members[member], body);
            ledger
                .submit(signed, 3_000 + index as u64)
                .expect("accepted");
        }
    }
    let signed = ledger.sign(
        &names[0],
        &founded.members[&names[0]],
        StatementBody::VoteWithdrawn {
            action: proposals[0],
        },
    );
    ledger.submit(signed, 4_000).expect("accepted");
    let state = ledger.state();
    let header = Header {
        format: export::FORMAT.into(),
        version: export::FORMAT_VERSION,
        community: founded.community,
        name: "tamper".into(),
        entries: state.position.next_seq,
        head: state.position.head,
        encoding: export::ENCODING.into(),
    };
    let entries = store
        .read_range(founded.community, 0, u64::MAX)
        .expect("readable");
    let vouched = entries
        .iter()
        .filter(|bytes| {
            matches!(
                Entry::decode(bytes).expect("decodes").body,
                ostrom_schemas::Body::Vouched(_)
            )
        })
        .count();
    assert_eq!(vouched, 4, "the log carries vouched statements too");
    (header, entries)
}

fn write(dir: &Path, name: &str, header: &Header, entries: &[Vec<u8>]) -> PathBuf {
    let path = dir.join(name);
    export::write(&path, header, entries.iter().cloned()).expect("written");
    path
}

/// Where each entry's bytes (with its length prefix) start in the file.
fn entry_offsets(file: &[u8], count: usize) -> Vec<usize> {
    let header_length = u32::from_le_bytes(file[14..18].try_into().expect("4 bytes")) as usize;
    let mut offsets = Vec::new();
    let mut at = 18 + header_length;
    for _ in 0..count {
        offsets.push(at);
        let length = u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 4 + length;
    }
    assert_eq!(at, file.len());
    offsets
}

#[test]
fn the_untampered_export_verifies() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, entries) = community_log();
    let path = write(dir.path(), "clean.export", &header, &entries);
    let (read, state) = export::verify_file(&path, false).expect("verifies");
    assert_eq!(read, header);
    assert_eq!(state.position.next_seq, entries.len() as u64);
}

#[test]
fn flipping_any_single_byte_fails_and_names_the_entry_it_belongs_to() {
    // Given an export that verifies
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, entries) = community_log();
    let clean =
        std::fs::read(write(dir.path(), "clean.export", &header, &entries)).expect("readable");
    let offsets = entry_offsets(&clean, entries.len());
    let path = dir.path().join("flipped.export");
    for position in 0..clean.len() {
        // When any one byte is flipped
        let mut bytes = clean.clone();
        bytes[position] ^= 0x5a;
        std::fs::write(&path, &bytes).expect("written");
        let invalid = export::verify_file(&path, false)
            .err()
            .unwrap_or_else(|| panic!("a flip at byte {position} verified"));
        // Then verification fails, naming the entry whose bytes (or length) were changed
        let owner = offsets.iter().rposition(|start| *start <= position);
        match owner {
            Some(seq) => assert_eq!(
                invalid.seq,
                Some(seq as u64),
                "flip at byte {position}: {invalid}"
            ),
            None => assert!(
                invalid.seq.is_none(),
                "flip in the header at byte {position} named an entry: {invalid}"
            ),
        }
    }
}

#[test]
fn dropping_an_entry_names_the_missing_seq() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, entries) = community_log();
    for dropped in [1, 7, entries.len() - 1] {
        let mut tampered = entries.clone();
        tampered.remove(dropped);
        let path = write(dir.path(), "dropped.export", &header, &tampered);
        let invalid = export::verify_file(&path, false).expect_err("a dropped entry is caught");
        assert_eq!(invalid.seq, Some(dropped as u64), "{invalid}");
    }
}

#[test]
fn reordering_two_entries_names_the_first_of_them() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, entries) = community_log();
    for first in [1, 5, entries.len() - 2] {
        let mut tampered = entries.clone();
        tampered.swap(first, first + 1);
        let path = write(dir.path(), "reordered.export", &header, &tampered);
        let invalid = export::verify_file(&path, false).expect_err("a reordering is caught");
        assert_eq!(invalid.seq, Some(first as u64), "{invalid}");
        assert_eq!(invalid.code, "out_of_sequence");
    }
}

fn with_signature(bytes: &[u8], signature: Signature) -> Vec<u8> {
    let mut entry = Entry::decode(bytes).expect("decodes");
    entry.sig = signature;
    entry.encode()
}

#[test]
fn swapping_signatures_names_the_first_entry_that_carries_a_wrong_one() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, entries) = community_log();
    // Sequencer signatures of two entries swapped
    let (a, b) = (3, 9);
    let sig_a = Entry::decode(&entries[a]).expect("decodes").sig;
    let sig_b = Entry::decode(&entries[b]).expect("decodes").sig;
    let mut tampered = entries.clone();
    tampered[a] = with_signature(&entries[a], sig_b);
    tampered[b] = with_signature(&entries[b], sig_a);
    let path = write(dir.path(), "swapped.export", &header, &tampered);
    let invalid = export::verify_file(&path, false).expect_err("swapped signatures are caught");
    assert_eq!(
        (invalid.seq, invalid.code),
        (Some(a as u64), "bad_signature"),
        "{invalid}"
    );

    // A statement signed by one member presented as another's vote
    let mut entry = Entry::decode(&entries[9]).expect("decodes");
    let other = Entry::decode(&entries[10]).expect("decodes");
    if let (ostrom_schemas::Body::Statement(signed), Some(theirs)) =
        (&mut entry.body, other.body_signed())
    {
        signed.sig = theirs.sig;
    }
    let mut tampered = entries.clone();
    tampered[9] = entry.encode();
    let path = write(dir.path(), "statement.export", &header, &tampered);
    let invalid =
        export::verify_file(&path, false).expect_err("a swapped statement signature is caught");
    assert_eq!(invalid.seq, Some(9), "{invalid}");
}

#[test]
fn the_cli_names_the_bad_entry_and_exits_non_zero() {
    // Given an export with entry 6 dropped
    let dir = tempfile::tempdir().expect("temporary directory");
    let (header, mut entries) = community_log();
    entries.remove(6);
    let path = write(dir.path(), "dropped.export", &header, &entries);
    // When `ostrom verify --file` reads it
    let output = Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .args(["verify", "--file"])
        .arg(&path)
        .output()
        .expect("ostrom runs");
    // Then it fails, naming seq 6
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error[out_of_sequence]") && stderr.contains("entry 6"),
        "{stderr}"
    );
}
