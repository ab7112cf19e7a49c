//! Every scenario under `tests/scenarios/` passes, run through the real engine and reducer
//! (`ostrom test` runs exactly this code); and `ostrom test` itself reports per file and
//! closes with `N passed, M failed`, exiting non-zero when a scenario fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ostrom::policy::Runtime;
use ostrom::scenario::{run_file, Verdict};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_scenario_passes() {
    let files = scenario_files();
    assert!(
        files.len() >= 8,
        "expected the example scenarios, found {files:?}"
    );
    let runtime = Arc::new(Runtime::new());
    let failures: Vec<String> = files
        .iter()
        .map(|file| run_file(file, &runtime))
        .filter(|verdict| !verdict.passed())
        .map(|verdict| verdict.line())
        .collect();
    assert!(
        failures.is_empty(),
        "scenarios failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ostrom_test_prints_one_line_per_file_and_a_summary() {
    // Given two passing scenarios and one whose expectation is wrong
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
name = "documents pass under the testing kit"
members = ["alice", "bob"]

[[steps]]
at = "0s"
propose = { id = "d1", by = "alice", type = "add_document", params = { name = "rules", text = "be kind" } }

[[steps]]
expect = { proposal = "d1", status = "passed", executed = true }

[[steps]]
expect = { document = "rules", text = "be kind" }
"#,
    )
    .expect("written");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
name = "a wrong expectation"
members = ["alice"]

[[steps]]
propose = { id = "d1", by = "alice", type = "add_document", params = { name = "rules", text = "be kind" } }

[[steps]]
expect = { proposal = "d1", status = "failed" }
"#,
    )
    .expect("written");
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(&malformed, "name = \"x\"\nmembers = [\"a\"\n").expect("written");

    // When `ostrom test` runs them
    let output = Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .arg("test")
        .args([&good, &bad, &malformed])
        .output()
        .expect("ostrom runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();

    // Then each file has its line, the failure says where and why, and the summary closes
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], "ok documents pass under the testing kit");
    assert!(
        lines[1].starts_with("FAILED a wrong expectation: step 2: expected d1 failed, got passed"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("FAILED ") && lines[2].contains("line 3"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "1 passed, 2 failed");
    assert!(!output.status.success());
}

#[test]
fn a_refusal_nobody_expected_fails_the_scenario() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("refused.toml");
    std::fs::write(
        &file,
        r#"
name = "an outsider votes"
members = ["alice"]

[[steps]]
propose = { id = "d1", by = "alice", type = "slack.post_message", params = { text = "hi" }, not_before = "1d" }

[[steps]]
vote = { id = "v1", on = "d1", by = "mallory", value = "yes" }
"#,
    )
    .expect("written");
    let verdict = run_file(&file, &Arc::new(Runtime::new()));
    match verdict {
        Verdict::Failed { message, .. } => assert!(
            message.contains("v1 was refused [unknown_member]"),
            "{message}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
}
