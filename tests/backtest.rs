//! Backtesting a draft policy against a community's real history (the dashboard editor's
//! **Backtest** button): which past decisions the draft would have decided differently,
//! which it would not have governed at all, and what a broken draft reports.

mod common;

use common::{found, ok};
use ostrom::engine::backtest::{backtest, BacktestError, BacktestReport, Draft};
use ostrom::policy::Runtime;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom_schemas::action::PolicySpec;
use ostrom_schemas::PolicyKind;

/// A democracy of three in which one add_document passed (two yes), one failed (two no),
/// and a platform action passed at once.
fn history() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let passed = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=a",
            "text=yes",
        ],
    );
    ok(data, &["vote", "--as", "alice", passed.trim(), "yes"]);
    ok(data, &["vote", "--as", "bob", passed.trim(), "yes"]);
    let failed = ok(
        data,
        &[
            "propose",
            "--as",
            "bob",
            "add_document",
            "name=b",
            "text=no",
        ],
    );
    ok(data, &["vote", "--as", "alice", failed.trim(), "no"]);
    ok(data, &["vote", "--as", "carol", failed.trim(), "no"]);
    ok(
        data,
        &["propose", "--as", "carol", "slack.post_message", "text=hi"],
    );
    dir
}

fn run(
    dir: &tempfile::TempDir,
    kind: PolicyKind,
    types: &[&str],
    source: &str,
) -> Result<BacktestReport, BacktestError> {
    let store = SledStore::open(dir.path().join("store")).unwrap();
    let community = store.communities().unwrap()[0].id;
    let end = store.len(community).unwrap();
    let draft = Draft {
        spec: PolicySpec {
            name: "draft".into(),
            kind,
            source: source.into(),
            action_types: types.iter().map(|t| t.to_string()).collect(),
            priority: 0,
            description: String::new(),
        },
        replaces: None,
    };
    backtest(&store, community, &Runtime::new(), &draft, end)
}

#[test]
fn a_draft_that_passes_everything_differs_only_where_history_failed() {
    // Given the history, when a constitution draft that passes everything is backtested,
    let dir = history();
    let report = run(
        &dir,
        PolicyKind::Constitution,
        &[],
        "fn filter(action, policy) { true }\nfn check(action, policy) { PASSED }",
    )
    .unwrap();
    // then it governs the two add_documents (not the platform action), agrees on the one
    // that passed and differs on the one that failed.
    assert_eq!(report.decisions, 3, "{report:?}");
    assert_eq!(report.governed, 2, "{report:?}");
    assert_eq!(report.same, 1, "{report:?}");
    assert_eq!(report.differences.len(), 1, "{report:?}");
    let difference = &report.differences[0];
    assert_eq!(difference.action_type, "add_document");
    assert_eq!(
        (difference.recorded, difference.draft),
        ("failed", "passed")
    );
}

#[test]
fn a_draft_that_waits_for_three_votes_would_have_left_both_undecided() {
    let dir = history();
    let report = run(
        &dir,
        PolicyKind::Constitution,
        &["add_document"],
        "fn filter(action, policy) { true }\n\
         fn check(action, policy) {\n\
             if action.proposal.yes_votes().len() >= 3 { return PASSED; }\n\
             if action.proposal.no_votes().len() >= 3 { return FAILED; }\n\
             PROPOSED\n\
         }",
    )
    .unwrap();
    assert_eq!(report.governed, 2);
    assert_eq!(report.same, 0);
    assert!(
        report.differences.iter().all(|d| d.draft == "undecided"),
        "{report:?}"
    );
}

#[test]
fn a_draft_whose_filter_declines_governs_nothing_and_a_failing_draft_reports_its_error() {
    let dir = history();
    let declines = run(
        &dir,
        PolicyKind::Constitution,
        &[],
        "fn filter(action, policy) { false }\nfn check(action, policy) { PASSED }",
    )
    .unwrap();
    assert_eq!((declines.decisions, declines.governed), (3, 0));
    assert!(declines.differences.is_empty());

    let broken = run(
        &dir,
        PolicyKind::Constitution,
        &[],
        "fn filter(action, policy) { true }\nfn check(action, policy) {\n  let x = 1 / 0;\n  PASSED\n}",
    )
    .unwrap();
    assert_eq!(broken.differences.len(), 2, "{broken:?}");
    let reason = broken.differences[0].reason.as_deref().unwrap_or_default();
    assert_eq!(broken.differences[0].draft, "error");
    assert!(reason.contains("line 3"), "{reason}");

    // A draft that does not compile is refused before anything is replayed.
    match run(
        &dir,
        PolicyKind::Constitution,
        &[],
        "fn filter(action, policy) {",
    ) {
        Err(BacktestError::Compile(error)) => assert_eq!(error.line, 1),
        other => panic!("expected a compile error, got {other:?}"),
    }
}
