//! Merkle checkpoints, end to end: an auditor saves signed tree heads, then checks an
//! inclusion proof for a decision and a consistency proof between the two heads offline;
//! the same proofs drawn from a log with one entry changed or removed (re-sealed with the
//! real sequencer key, so chain and signatures hold) do not check, and `verify` names the
//! saved head that the log no longer matches.

mod common;

use common::{ok, refused_with_message as refused};
use std::process::Command;

use std::path::Path;
use std::sync::Arc;

use ostrom::keys::KeyDir;
use ostrom::merkle::{self, HeadDir, CHECKPOINT_INTERVAL_ENTRIES};
use ostrom::store::memory::MemoryStore;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom::{fixtures, ledger::Ledger};
use ostrom_schemas::record::Outcome;
use ostrom_schemas::{
    ActionId, ActionSpec, Entry, Params, Record, StatementBody, Value, VoteValue,
};

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8").to_owned()
}

/// A democracy community where alice's `add_role` passed with bob's and carol's votes, then more
/// proposals; returns the decision's seq and the sizes of the two saved tree heads.
fn audited_community(data: &Path, audit: &Path) -> (u64, u64, u64) {
    ok(
        data,
        &[
            "init",
            "--name",
            "town",
            "--kit",
            "democracy",
            "--member",
            "alice",
            "--member",
            "bob",
            "--member",
            "carol",
        ],
    );
    let id = ok(
        data,
        &["propose", "--as", "alice", "add_role", "role=moderators"],
    );
    ok(data, &["vote", "--as", "bob", id.trim(), "yes"]);
    ok(data, &["vote", "--as", "carol", id.trim(), "yes"]);
    ok(
        data,
        &["proof", "head", "--out", &path(audit, "head1.json")],
    );
    let id = ok(
        data,
        &["propose", "--as", "carol", "add_role", "role=jurors"],
    );
    ok(data, &["vote", "--as", "alice", id.trim(), "no"]);
    ok(
        data,
        &["propose", "--as", "bob", "slack.post_message", "text=hi"],
    );
    ok(
        data,
        &["proof", "head", "--out", &path(audit, "head2.json")],
    );
    let decision = ok(data, &["log", "--json"])
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
        .find(|line| line["entry"]["body"]["record"]["evaluated"]["effects"]["outcome"] == "passed")
        .expect("the add_role decision")["seq"]
        .as_u64()
        .expect("seq");
    let size = |name: &str| {
        merkle::read_head(&audit.join(name))
            .expect("a saved head")
            .size
    };
    (decision, size("head1.json"), size("head2.json"))
}

/// A copy of `data` (keys, tree heads) whose log is `tamper`ed and re-sealed with the real
/// sequencer key.
fn tampered_copy(data: &Path, copy: &Path, tamper: impl FnOnce(&mut Vec<Entry>) -> usize) {
    let (community, name, mut entries) = {
        let store = SledStore::open(data.join("store")).expect("opens");
        let record = store.communities().expect("listed").remove(0);
        let entries: Vec<Entry> = store
            .read_range(record.id, 0, u64::MAX)
            .expect("read")
            .iter()
            .map(|bytes| Entry::decode(bytes).expect("decodes"))
            .collect();
        (record.id, record.name, entries)
    };
    let key = KeyDir::new(data, community)
        .sequencer()
        .expect("sequencer key");
    let from = tamper(&mut entries);
    let bytes = fixtures::reseal(entries, from, &key);
    let store = SledStore::open(copy.join("store")).expect("opens");
    store.create_community(community, &name).expect("created");
    store.append(community, 0, bytes).expect("appended");
    drop(store);
    for folder in ["keys", "checkpoints"] {
        let status = Command::new("cp")
            .arg("-r")
            .arg(data.join(folder))
            .arg(copy)
            .status()
            .expect("cp runs");
        assert!(status.success());
    }
}

#[test]
fn given_two_saved_tree_heads_when_proofs_are_checked_offline_then_they_verify() {
    // Given a log with a decision and two tree heads an auditor saved along the way
    let dir = tempfile::tempdir().expect("temporary directory");
    let (data, audit) = (dir.path().join("data"), dir.path().to_owned());
    let (decision, old_size, new_size) = audited_community(&data, &audit);
    assert!(decision < old_size && old_size < new_size);
    // When the node proves the decision is in the first head's tree, and that the second
    // head's tree extends the first
    let size = old_size.to_string();
    ok(
        &data,
        &[
            "proof",
            "inclusion",
            &decision.to_string(),
            "--size",
            &size,
            "--out",
            &path(&audit, "inclusion.json"),
        ],
    );
    ok(
        &data,
        &[
            "proof",
            "consistency",
            &size,
            &new_size.to_string(),
            "--out",
            &path(&audit, "consistency.json"),
        ],
    );
    // Then both check offline against the saved heads, with no data directory at all
    let nowhere = dir.path().join("nowhere");
    let inclusion = ok(
        &nowhere,
        &[
            "proof",
            "check",
            &path(&audit, "inclusion.json"),
            "--head",
            &path(&audit, "head1.json"),
        ],
    );
    assert!(
        inclusion.starts_with(&format!("ok: entry {decision} (Evaluated)")),
        "{inclusion}"
    );
    let consistency = ok(
        &nowhere,
        &[
            "proof",
            "check",
            &path(&audit, "consistency.json"),
            "--old-head",
            &path(&audit, "head1.json"),
            "--head",
            &path(&audit, "head2.json"),
        ],
    );
    assert!(consistency.starts_with("ok: the log of"), "{consistency}");
    // And the inclusion proof does not check against the other head (another tree size),
    // nor consistency with the heads swapped
    let (code, _) = refused(
        &nowhere,
        &[
            "proof",
            "check",
            &path(&audit, "inclusion.json"),
            "--head",
            &path(&audit, "head2.json"),
        ],
    );
    assert_eq!(code, "proof_mismatch");
    let (code, _) = refused(
        &nowhere,
        &[
            "proof",
            "check",
            &path(&audit, "consistency.json"),
            "--old-head",
            &path(&audit, "head2.json"),
            "--head",
            &path(&audit, "head1.json"),
        ],
    );
    assert_eq!(code, "proof_mismatch");
    // And `verify` checks both saved heads against the log, as does an auditor's `verify`
    // of an export against the heads they kept
    let verified = ok(&data, &["verify"]);
    assert!(
        verified.contains("2 saved tree heads match the log"),
        "{verified}"
    );
    let verified = ok(&data, &["verify", "--head", &path(&audit, "head1.json")]);
    assert!(
        verified.contains("entries of 1 saved tree head(s)"),
        "{verified}"
    );
    let export = path(&audit, "town.export");
    ok(&data, &["export", "--out", &export]);
    let verified = ok(
        &nowhere,
        &[
            "verify",
            "--file",
            &export,
            "--head",
            &path(&audit, "head1.json"),
            "--head",
            &path(&audit, "head2.json"),
        ],
    );
    assert!(
        verified.contains("entries of 2 saved tree head(s)"),
        "{verified}"
    );
}

#[test]
fn given_a_forged_head_or_proof_when_checked_then_it_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (data, audit) = (dir.path().join("data"), dir.path().to_owned());
    let (decision, old_size, _) = audited_community(&data, &audit);
    ok(
        &data,
        &[
            "proof",
            "inclusion",
            &decision.to_string(),
            "--size",
            &old_size.to_string(),
            "--out",
            &path(&audit, "inclusion.json"),
        ],
    );
    // When a proof is asked for outside the log, it is refused with a code
    for args in [
        vec!["proof", "inclusion", "999"],
        vec!["proof", "inclusion", "1", "--size", "999"],
        vec!["proof", "consistency", "0"],
        vec!["proof", "consistency", "5", "3"],
    ] {
        let (code, message) = refused(&data, &args);
        assert_eq!(code, "bad_param", "{args:?}: {message}");
    }
    // When the saved head's root is edited, its signature no longer holds
    let mut head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(audit.join("head1.json")).unwrap()).unwrap();
    head["root"] = serde_json::Value::String("00".repeat(32));
    std::fs::write(audit.join("forged.json"), head.to_string()).unwrap();
    let (code, _) = refused(
        &data,
        &[
            "proof",
            "check",
            &path(&audit, "inclusion.json"),
            "--head",
            &path(&audit, "forged.json"),
        ],
    );
    assert_eq!(code, "bad_tree_head");
    // When one hash of the proof's path is changed, the proof no longer leads to the root
    let mut proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(audit.join("inclusion.json")).unwrap())
            .unwrap();
    proof["path"][0] = serde_json::Value::String("11".repeat(32));
    std::fs::write(audit.join("bent.json"), proof.to_string()).unwrap();
    let (code, _) = refused(
        &data,
        &[
            "proof",
            "check",
            &path(&audit, "bent.json"),
            "--head",
            &path(&audit, "head1.json"),
        ],
    );
    assert_eq!(code, "proof_mismatch");
}

/// Changes a log in place; returns the first position that must be re-sealed.
type Tamper = dyn FnOnce(&mut Vec<Entry>) -> usize;

#[test]
fn given_a_log_with_one_entry_changed_or_removed_then_the_same_proofs_fail() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (data, audit) = (dir.path().join("data"), dir.path().to_owned());
    let (decision, old_size, new_size) = audited_community(&data, &audit);
    let changed = move |entries: &mut Vec<Entry>| {
        // The decision now says the role grant failed.
        let ostrom_schemas::Body::Record(Record::Evaluated(evaluation)) =
            &mut entries[decision as usize].body
        else {
            panic!("the decision is an evaluation")
        };
        evaluation.effects.outcome = Some(Outcome::Failed);
        decision as usize
    };
    let removed = move |entries: &mut Vec<Entry>| {
        // carol's vote, just before the decision, never happened.
        entries.remove(decision as usize - 1);
        decision as usize - 1
    };
    let tampers: [(&str, Box<Tamper>); 2] = [
        ("changed", Box::new(changed)),
        ("removed", Box::new(removed)),
    ];
    for (what, tamper) in tampers {
        // Given the same community whose log had one entry changed or removed, re-sealed
        let copy = dir.path().join(what);
        tampered_copy(&data, &copy, tamper);
        // When the tampered node proves the decision's position, signs a fresh tree head
        // with the real key, and proves its log extends the auditor's first head
        let seq = if what == "removed" {
            decision - 1
        } else {
            decision
        };
        let inclusion = path(&audit, &format!("{what}-inclusion.json"));
        let consistency = path(&audit, &format!("{what}-consistency.json"));
        let fresh_head = path(&audit, &format!("{what}-head.json"));
        ok(
            &copy,
            &[
                "proof",
                "inclusion",
                &seq.to_string(),
                "--size",
                &old_size.to_string(),
                "--out",
                &inclusion,
            ],
        );
        ok(&copy, &["proof", "head", "--out", &fresh_head]);
        ok(
            &copy,
            &[
                "proof",
                "consistency",
                &old_size.to_string(),
                "--out",
                &consistency,
            ],
        );
        // Then neither proof checks against the head the auditor saved from the real log
        let (code, message) = refused(
            &audit,
            &[
                "proof",
                "check",
                &inclusion,
                "--head",
                &path(&audit, "head1.json"),
            ],
        );
        assert_eq!(code, "proof_mismatch", "{what}: {message}");
        let (code, message) = refused(
            &audit,
            &[
                "proof",
                "check",
                &consistency,
                "--old-head",
                &path(&audit, "head1.json"),
                "--head",
                &fresh_head,
            ],
        );
        assert_eq!(code, "proof_mismatch", "{what}: {message}");
        assert!(message.contains("is not a prefix"), "{what}: {message}");
        if what == "changed" {
            // And a proof between the two sizes the auditor holds heads for fails too
            let between = path(&audit, "changed-between.json");
            ok(
                &copy,
                &[
                    "proof",
                    "consistency",
                    &old_size.to_string(),
                    &new_size.to_string(),
                    "--out",
                    &between,
                ],
            );
            let (code, _) = refused(
                &audit,
                &[
                    "proof",
                    "check",
                    &between,
                    "--old-head",
                    &path(&audit, "head1.json"),
                    "--head",
                    &path(&audit, "head2.json"),
                ],
            );
            assert_eq!(code, "proof_mismatch", "{what}");
        }
        // And the head the tampered node signed does not describe the real log: an export of
        // the real log, verified against it, is refused
        let export = path(&audit, "real.export");
        ok(&data, &["export", "--out", &export]);
        let (code, message) = refused(
            &audit,
            &["verify", "--file", &export, "--head", &fresh_head],
        );
        assert_eq!(code, "proof_mismatch", "{what}: {message}");
        // And verify refuses the tampered log
        let (code, message) = refused(&copy, &["verify"]);
        assert_ne!(code, "", "{what}: {message}");
    }
}

#[test]
fn given_more_than_an_interval_of_entries_when_heads_are_due_then_one_is_saved_per_interval() {
    // Given a log just past one checkpoint interval
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(3);
    let (mut ledger, founded): (Ledger, _) =
        fixtures::found(store.clone(), "busy", "testing", &names, 5, 1_000).expect("founded");
    let params = Params::from([("text".to_owned(), Value::from("hello"))]);
    let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
    let signed = founded.sign(
        &names[0],
        1,
        StatementBody::ActionProposed {
            action,
            not_before_ms: None,
        },
    );
    let proposal = ActionId(ledger.submit(signed, 1_000).expect("accepted").entry().seq);
    let mut counter = 1;
    while store.len(founded.community).unwrap() < CHECKPOINT_INTERVAL_ENTRIES + 10 {
        counter += 1;
        let (body, member) = if counter % 2 == 0 {
            (
                StatementBody::VoteCast {
                    action: proposal,
                    value: VoteValue::Yes,
                },
                &names[1],
            )
        } else {
            (StatementBody::VoteWithdrawn { action: proposal }, &names[1])
        };
        ledger
            .submit(founded.sign(member, counter, body), 1_000)
            .expect("accepted");
    }
    let heads = HeadDir::new(dir.path(), founded.community);
    // When the due heads are saved, twice
    let saved = merkle::save_due_heads(&*store, founded.community, &heads, &founded.sequencer)
        .expect("saved");
    let again = merkle::save_due_heads(&*store, founded.community, &heads, &founded.sequencer)
        .expect("saved");
    // Then one head covers exactly the first interval, the second call adds none, and the
    // head matches the log
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].size, CHECKPOINT_INTERVAL_ENTRIES);
    assert!(again.is_empty());
    assert_eq!(
        merkle::check_saved_heads(&*store, founded.community, &heads),
        Ok(1)
    );
}
