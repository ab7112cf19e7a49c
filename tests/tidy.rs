//! House rules that code review would otherwise have to remember (STYLE.md): every Rust
//! file starts with a `//!` paragraph saying what it is and why, no crate allows unsafe
//! code, and `.ci/run` is (or runs exactly) the test command the README gives.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc_paragraph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "schemas", "projections", "tests", "tools"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let source = std::fs::read_to_string(path).expect("readable");
            !source.trim_start().starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! paragraph: {missing:?}"
    );
}

#[test]
fn every_crate_forbids_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for lib in ["src/lib.rs", "schemas/src/lib.rs", "projections/src/lib.rs"] {
        let source = std::fs::read_to_string(root.join(lib)).expect("readable");
        assert!(
            source.contains("#![forbid(unsafe_code)]"),
            "{lib} must forbid unsafe code"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    // The README's set-up block holds exactly two commands: run, then test.
    let (_, after) = readme
        .split_once("## Set-up")
        .expect("README has a Set-up section");
    let (_, block) = after
        .split_once("```sh\n")
        .expect("a sh code block follows");
    let (block, _) = block.split_once("```").expect("the block ends");
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(
        commands.len(),
        2,
        "the README's set-up block must hold two commands: {commands:?}"
    );
    let test_command = commands[1];
    // Either the README runs CI's own script (which installs the browser the dashboard
    // tests need, then runs the workspace's tests), or CI runs the README's command.
    let runs = |command: &str| ci.lines().any(|line| line.trim() == command);
    if test_command == ".ci/run" {
        assert!(
            runs("cargo test --workspace"),
            ".ci/run must run every test (cargo test --workspace)"
        );
    } else {
        assert!(
            runs(test_command),
            ".ci/run must run the README's test command {test_command:?}"
        );
    }
}
