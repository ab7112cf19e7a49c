//! `ostrom recover prepare|sign|submit`, end to end: a governance restart co-signed by
//! trustees. Too few co-signatures, a trustee signing twice and a replayed recovery are each
//! refused with a stable code and append nothing; enough co-signatures restart governance
//! from a starter kit, and the log records it prominently and still verifies.

mod common;

use common::{ok, refused};

use std::path::Path;

fn log_length(data: &Path) -> usize {
    ok(data, &["log", "--json"]).lines().count()
}

fn active_policies(data: &Path) -> Vec<String> {
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    state["policies"]
        .as_object()
        .expect("policies")
        .values()
        .filter(|policy| policy["active"] == true)
        .map(|policy| policy["spec"]["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn given_two_of_three_trustees_when_they_restart_governance_then_it_is_restarted_once() {
    // Given a democracy community with three trustees, two of whom must co-sign
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
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
            "--member",
            "dave",
            "--trustee",
            "alice",
            "--trustee",
            "bob",
            "--trustee",
            "carol",
            "--threshold",
            "2",
        ],
    );
    assert_eq!(
        active_policies(data),
        ["All platform actions pass", "Majority vote"]
    );
    let file = data.join("restart.json");
    let file = file.to_str().expect("utf-8");
    ok(
        data,
        &[
            "recover", "prepare", "--plan", "restart", "--kit", "testing", "--out", file,
        ],
    );
    // When only alice has signed, the restart is refused and nothing is appended
    ok(data, &["recover", "sign", file, "--as", "alice"]);
    let before = log_length(data);
    assert_eq!(
        refused(data, &["recover", "submit", file]),
        "bad_cosignature"
    );
    assert_eq!(log_length(data), before);
    // And alice cannot sign twice, and dave, who is no trustee, does not count
    assert_eq!(
        refused(data, &["recover", "sign", file, "--as", "alice"]),
        "duplicate_cosignature"
    );
    let with_dave = data.join("with-dave.json");
    std::fs::copy(file, &with_dave).expect("copied");
    let with_dave = with_dave.to_str().expect("utf-8");
    ok(data, &["recover", "sign", with_dave, "--as", "dave"]);
    assert_eq!(
        refused(data, &["recover", "submit", with_dave]),
        "bad_cosignature"
    );
    assert_eq!(log_length(data), before);
    // When bob signs too, on his own machine that holds only his key and not the log, the
    // restart is appended and governance restarts from the kit
    let bobs = dir.path().join("bobs-machine");
    let community = std::fs::read_dir(data.join("keys"))
        .expect("keys")
        .next()
        .expect("one community")
        .expect("entry")
        .file_name();
    let members = bobs.join("keys").join(&community).join("members");
    std::fs::create_dir_all(&members).expect("created");
    let bob_key = std::fs::read_dir(data.join("keys").join(&community).join("members"))
        .expect("members")
        .map(|entry| entry.expect("entry").path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("bob"))
        })
        .expect("bob's key");
    std::fs::copy(&bob_key, members.join(bob_key.file_name().expect("name"))).expect("copied");
    ok(&bobs, &["recover", "sign", file, "--as", "bob"]);
    ok(data, &["recover", "submit", file]);
    assert_eq!(
        active_policies(data),
        ["All platform actions pass", "All constitution actions pass"]
    );
    let human = ok(data, &["log"]);
    assert!(human.contains("RESTART with kit testing"), "{human}");
    // Then the same recovery submitted again is refused as stale
    let after = log_length(data);
    assert_eq!(
        refused(data, &["recover", "submit", file]),
        "stale_recovery"
    );
    assert_eq!(log_length(data), after);
    // And a constitution action now passes at once, and the whole log verifies
    let id = ok(
        data,
        &[
            "propose",
            "--as",
            "dave",
            "add_document",
            "name=charter",
            "text=hi",
        ],
    );
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    assert_eq!(state["actions"][id.trim()]["status"], "Passed");
    assert!(ok(data, &["verify"]).starts_with("ok:"));
}

#[test]
fn given_a_rollback_plan_when_prepared_then_its_seq_must_be_in_the_log() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    ok(
        data,
        &[
            "init",
            "--name",
            "town",
            "--member",
            "alice",
            "--member",
            "bob",
            "--trustee",
            "alice",
        ],
    );
    let file = data.join("rollback.json");
    let file = file.to_str().expect("utf-8");
    assert_eq!(
        refused(
            data,
            &["recover", "prepare", "--plan", "rollback", "--seq", "99", "--out", file]
        ),
        "bad_param"
    );
    assert_eq!(
        refused(
            data,
            &["recover", "prepare", "--plan", "restart", "--out", file]
        ),
        "bad_param"
    );
}
