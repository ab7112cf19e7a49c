//! The `ostrom` command line, end to end: found a community, propose, vote, read the log,
//! export and import; and bad input refused with a stable code, appending nothing.

mod common;

use common::{ok, refused};

use std::path::Path;

fn log_length(data: &Path) -> usize {
    ok(data, &["log", "--json"]).lines().count()
}

fn founded(data: &Path) {
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
            "--trustee",
            "alice",
            "--trustee",
            "bob",
        ],
    );
}

#[test]
fn a_member_proposes_and_votes_and_the_log_shows_it() {
    // Given a founded community
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    founded(data);
    // When alice proposes a role grant and bob votes on it
    let id = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_role",
            "role=moderators",
            "execute=slack.pin_message,slack.post_message",
        ],
    );
    let id = id.trim();
    ok(data, &["vote", "--as", "bob", id, "yes"]);
    ok(data, &["vote", "--as", "carol", id, "no"]);
    ok(data, &["withdraw", "--as", "carol", id]);
    // Then the log holds genesis, the proposal, the engine's evaluation of it (democracy:
    // a majority is needed, so it stays open), two votes and the withdrawal, in order
    let lines: Vec<serde_json::Value> = ok(data, &["log", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[1]["seq"], 1);
    assert_eq!(id, "1");
    assert_eq!(
        lines[2]["entry"]["body"]["record"]["evaluated"]["effects"]["outcome"],
        "proposed"
    );
    assert_eq!(
        lines[3]["entry"]["body"]["statement"]["statement"]["member"],
        "bob"
    );
    let human = ok(data, &["log"]);
    assert!(human.contains("proposed action 1 add_role"), "{human}");
    assert!(human.contains("withdrew vote on 1"), "{human}");
    // And the state shows the open proposal with bob's vote only
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    let votes = state["actions"]["1"]["votes"].as_object().expect("votes");
    assert_eq!(votes.keys().collect::<Vec<_>>(), vec!["bob"]);
    assert_eq!(state["actions"]["1"]["status"], "Proposed");
    // And the whole log verifies, and replays to the state hash `state` reports
    assert!(ok(data, &["verify"]).starts_with("ok: 6 entries verified"));
    let replay = ok(data, &["replay"]);
    assert!(replay.contains("6 entries"), "{replay}");
}

#[test]
fn init_writes_member_keys_readable_only_by_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    founded(dir.path());
    let keys: Vec<_> = walk(&dir.path().join("keys"));
    assert_eq!(
        keys.len(),
        4,
        "a sequencer key and three member keys: {keys:?}"
    );
    for key in keys {
        let mode = std::fs::metadata(&key)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn bad_input_is_refused_with_a_code_and_appends_nothing() {
    // Given a community with one open proposal
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    founded(data);
    ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "grant_role",
            "role=everyone",
            "members=bob",
        ],
    );
    let before = log_length(data);
    // When members and non-members send bad input, each is refused with its own code
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "propose",
                "--as",
                "mallory",
                "add_document",
                "name=x",
                "text=y",
            ],
            "unknown_member",
        ),
        (&["vote", "--as", "bob", "99", "yes"], "unknown_proposal"),
        (&["vote", "--as", "bob", "0", "yes"], "unknown_proposal"),
        (
            &["propose", "--as", "alice", "grant_role", "role"],
            "bad_param",
        ),
        (
            &["propose", "--as", "alice", "grant_role", "=bob"],
            "bad_param",
        ),
        (
            &["propose", "--as", "alice", "grant_role", "role=mods"],
            "bad_param",
        ),
        (
            &[
                "propose",
                "--as",
                "alice",
                "grant_rol",
                "role=mods",
                "members=bob",
            ],
            "bad_param",
        ),
        (
            &[
                "propose",
                "--as",
                "alice",
                "add_policy",
                "name=p",
                "kind=federal",
                "source=x",
            ],
            "bad_param",
        ),
        (
            &[
                "propose",
                "--as",
                "alice",
                "add_document",
                "name=a,b",
                "text=y",
            ],
            "bad_param",
        ),
        (
            &[
                "propose",
                "--as",
                "alice",
                "slack.post_message",
                "text={not json",
            ],
            "bad_param",
        ),
        (
            &[
                "propose",
                "--as",
                "alice",
                "add_document",
                "name=x",
                "text=@/no/such/file",
            ],
            "bad_param",
        ),
        (&["withdraw", "--as", "carol", "1"], "no_vote"),
        (&["vote", "--as", "bob", "1", "7"], "invalid_vote"),
        (&["--community", "elsewhere", "state"], "unknown_community"),
    ];
    for (args, code) in cases {
        assert_eq!(refused(data, args), *code, "ostrom {args:?}");
    }
    // Then nothing was appended and the log still verifies
    assert_eq!(log_length(data), before);
    ok(data, &["verify"]);
}

#[test]
fn a_vote_on_a_decided_or_unknown_proposal_and_commands_without_data_are_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    assert_eq!(refused(dir.path(), &["state"]), "no_data");
    assert_eq!(
        refused(
            dir.path(),
            &["init", "--name", "x", "--member", "a", "--kit", "anarchy"]
        ),
        "bad_param"
    );
    assert_eq!(
        refused(
            dir.path(),
            &["init", "--name", "x", "--member", "a", "--trustee", "b"]
        ),
        "bad_param"
    );
    assert_eq!(
        refused(
            dir.path(),
            &["init", "--name", "x", "--member", "a", "--member", "a"]
        ),
        "bad_param"
    );
    founded(dir.path());
    assert_eq!(
        refused(dir.path(), &["init", "--name", "town", "--member", "zed"]),
        "community_exists"
    );
}

#[test]
fn a_corrupted_store_is_reported_without_a_panic() {
    // Given a community whose sled database file is overwritten with garbage
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    founded(data);
    ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=rules",
            "text=be kind",
        ],
    );
    let db = data.join("store").join("db");
    let length = std::fs::metadata(&db).expect("the sled file exists").len() as usize;
    std::fs::write(&db, vec![0xa5; length]).expect("overwritten");
    // When any command opens the store
    for args in [
        &["state"][..],
        &["verify"],
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=x",
            "text=y",
        ],
    ] {
        let code = refused(data, args);
        // Then it fails with a clear storage error code
        assert!(
            ["store_corrupt", "store_error"].contains(&code.as_str()),
            "{args:?}: {code}"
        );
    }
}

#[test]
fn an_export_imports_into_another_data_directory_with_the_same_state() {
    // Given a community with some history
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, target) = (dir.path().join("a"), dir.path().join("b"));
    founded(&source);
    let id = ok(
        &source,
        &[
            "propose",
            "--as",
            "bob",
            "add_document",
            "name=rules",
            "text=be kind",
        ],
    );
    ok(&source, &["vote", "--as", "alice", id.trim(), "yes"]);
    let export = dir.path().join("town.export");
    // When it is exported and imported elsewhere
    ok(
        &source,
        &["export", "--out", export.to_str().expect("utf-8")],
    );
    assert!(ok(
        &source,
        &["verify", "--file", export.to_str().expect("utf-8")]
    )
    .starts_with("ok: 4 entries"));
    ok(&target, &["import", export.to_str().expect("utf-8")]);
    // Then both replay to the same state hash, and importing twice is refused
    let hash = |data: &Path| {
        ok(data, &["replay"])
            .lines()
            .find(|line| line.starts_with("state hash"))
            .map(str::to_owned)
    };
    assert!(hash(&source).is_some());
    assert_eq!(hash(&source), hash(&target));
    assert_eq!(
        refused(&target, &["import", export.to_str().expect("utf-8")]),
        "community_exists"
    );
    // And the copy without the sequencer key cannot append
    assert_eq!(
        refused(
            &target,
            &["propose", "--as", "bob", "add_document", "name=x", "text=y"]
        ),
        "read_only"
    );
}

#[test]
fn a_constitution_change_passes_by_majority_under_the_democracy_kit() {
    // Given a democracy of three
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    founded(data);
    // When a document is proposed and two of three members vote yes
    let id = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=rules",
            "text=be kind",
        ],
    );
    let id = id.trim();
    ok(data, &["vote", "--as", "bob", id, "yes"]);
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    assert_eq!(
        state["actions"][id]["status"], "Proposed",
        "one yes of three is not a majority"
    );
    ok(data, &["vote", "--as", "carol", id, "yes"]);
    // Then it passed and executed, and the log shows the engine's decision
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    assert_eq!(state["actions"][id]["status"], "Passed");
    assert_eq!(state["documents"]["rules"]["text"], "be kind");
    let log = ok(data, &["log"]);
    assert!(log.contains(&format!("engine: executed {id}")), "{log}");
    // And voting on it now is refused
    assert_eq!(
        refused(data, &["vote", "--as", "alice", id, "no"]),
        "proposal_closed"
    );
    ok(data, &["verify"]);
}

#[test]
fn procedures_generate_policies_that_check_and_can_be_proposed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    founded(data);
    // A procedure's policy, printed
    let source = ok(
        data,
        &[
            "policy",
            "new",
            "--as",
            "alice",
            "--procedure",
            "majority",
            "--param",
            "quorum=2",
            "--name",
            "Quorum",
            "--dry-run",
        ],
    );
    assert!(source.contains("fn check(action, policy)"), "{source}");
    let file = dir.path().join("quorum.rhai");
    std::fs::write(&file, &source).expect("written");
    assert!(ok(data, &["policy", "check", file.to_str().expect("utf-8")]).starts_with("ok:"));
    // A broken policy is reported at its line
    let broken = dir.path().join("broken.rhai");
    std::fs::write(
        &broken,
        "fn filter(action, policy) { true }\nfn check(action, policy) { PASSED\n",
    )
    .expect("written");
    assert_eq!(
        refused(data, &["policy", "check", broken.to_str().expect("utf-8")]),
        "compile_error"
    );
    // Proposing it through governance, and proposing the broken one is refused
    let id = ok(
        data,
        &[
            "policy",
            "new",
            "--as",
            "alice",
            "--procedure",
            "majority",
            "--param",
            "quorum=2",
            "--name",
            "Quorum",
        ],
    );
    let state: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json"])).expect("json");
    assert_eq!(state["actions"][id.trim()]["status"], "Proposed");
    let source_arg = format!("source=@{}", broken.display());
    assert_eq!(
        refused(
            data,
            &[
                "propose",
                "--as",
                "alice",
                "add_policy",
                "name=broken",
                "kind=platform",
                &source_arg
            ]
        ),
        "compile_error"
    );
    assert_eq!(
        refused(
            data,
            &[
                "policy",
                "new",
                "--as",
                "alice",
                "--procedure",
                "majority",
                "--param",
                "quorum=lots",
                "--name",
                "Q2"
            ]
        ),
        "bad_param"
    );
}

#[test]
fn time_travel_shows_governance_as_of_a_seq_and_what_changed_since() {
    // Given a testing-kit community whose governance changed after founding
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path();
    ok(
        data,
        &[
            "init", "--name", "lab", "--kit", "testing", "--member", "alice", "--member", "bob",
        ],
    );
    ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_role",
            "role=moderators",
            "execute=slack.pin_message",
        ],
    );
    ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "grant_role",
            "role=moderators",
            "members=bob",
        ],
    );
    ok(
        data,
        &[
            "propose",
            "--as",
            "bob",
            "add_document",
            "name=rules",
            "text=be kind",
        ],
    );
    let head = log_length(data) as u64 - 1;
    // When the state is read as of genesis
    let then: serde_json::Value =
        serde_json::from_str(&ok(data, &["state", "--json", "--at", "0"])).expect("json");
    // Then none of the later changes are in it
    assert!(then["roles"].get("moderators").is_none());
    assert!(then["documents"].get("rules").is_none());
    assert_eq!(then["position"]["next_seq"], 1);
    // And the diff from genesis to now lists exactly what changed
    let diff = ok(data, &["diff", "0", &head.to_string()]);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        vec!["+ role \"moderators\"", "+ document \"rules\""],
        "{diff}"
    );
    let grant = ok(data, &["diff", "3", &head.to_string()]);
    assert!(grant.contains("~ role \"moderators\": + bob"), "{grant}");
    assert_eq!(
        ok(data, &["diff", "0", "0"]).trim(),
        "no governance changes between seq 0 and seq 0"
    );
    assert_eq!(refused(data, &["state", "--at", "999"]), "bad_param");
}
