//! The purity boundary (DESIGN.md §1): `schemas` and `projections` never depend on crates
//! that do I/O, read clocks or draw randomness, and their sources use no hash maps, clocks,
//! ambient randomness or floats. Replaying a log must give the same state everywhere.

use std::collections::BTreeSet;
use std::path::Path;

use std::process::Command;

/// Crates whose presence anywhere in the pure crates' normal dependency graphs would let
/// I/O, clocks or randomness in.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "sled",
    "rhai",
    "reqwest",
    "axum",
    "hyper",
    "rand",
    "getrandom",
    "rayon",
    "kurrentdb",
    "eventstore",
    "std-io",
    "tempfile",
    "chrono",
];

/// The crates a pure crate pulls in when built on its own (as `cargo build -p` would:
/// features are unified per build, not across the whole workspace), on every target.
fn normal_dependency_closure(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree", "-p", package, "-e", "normal", "--target", "all", "--prefix", "none",
            "--format", "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn pure_crates_do_not_depend_on_io_clock_or_randomness_crates() {
    for crate_name in ["ostrom-schemas", "ostrom-projections"] {
        // Given every normal dependency of the crate, transitively
        let closure = normal_dependency_closure(crate_name);
        assert!(closure.contains("blake3"), "cargo tree listed {closure:?}");
        // Then none of them is a crate that does I/O, reads a clock or draws randomness
        let found: Vec<&&str> = FORBIDDEN
            .iter()
            .filter(|name| closure.contains(**name))
            .collect();
        assert!(
            found.is_empty(),
            "{crate_name} depends on {found:?}; it must stay pure (DESIGN.md §1)"
        );
    }
}

#[test]
fn pure_crates_declare_the_rule_in_their_manifests() {
    for crate_dir in ["schemas", "projections"] {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(crate_dir)
                .join("Cargo.toml"),
        )
        .expect("manifest readable");
        assert!(
            manifest.contains("PURITY RULE"),
            "{crate_dir}/Cargo.toml must state the purity rule"
        );
    }
}

#[test]
fn pure_crate_sources_use_no_hash_maps_clocks_randomness_or_floats() {
    let banned = [
        "HashMap",
        "HashSet",
        "SystemTime",
        "Instant::now",
        "thread_rng",
        "OsRng",
        "std::fs",
        "std::net",
        "f32",
        "f64",
    ];
    for crate_dir in ["schemas/src", "projections/src"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir);
        for file in std::fs::read_dir(&dir).expect("source dir") {
            let path = file.expect("entry").path();
            let source = std::fs::read_to_string(&path).expect("readable");
            for (number, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for word in banned {
                    let hit = code.match_indices(word).any(|(at, _)| {
                        // Whole identifiers only (so `buf64` or `f64x` would not count).
                        let before = code[..at].chars().last();
                        let after = code[at + word.len()..].chars().next();
                        let ident =
                            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                        !ident(before) && !ident(after)
                    });
                    assert!(
                        !hit,
                        "{}:{}: `{word}` is not allowed in a pure crate",
                        path.display(),
                        number + 1
                    );
                }
            }
        }
    }
}
