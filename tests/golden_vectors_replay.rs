//! The committed golden vectors (`schemas/v1/vectors/`) are one valid chain: a third-party
//! verifier that accepts them must agree with ours, so ours must accept them too, through
//! the same verify-then-apply path a replay uses.

use std::path::Path;

use ostrom_projections::{apply, GovernanceState};
use ostrom_schemas::verify;

#[test]
fn the_golden_vectors_verify_and_apply_as_one_chain() {
    // Given the vector files in order
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/v1/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("vectors directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.as_bytes()[0].is_ascii_digit())
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the committed chain, found {} files",
        files.len()
    );
    let mut state = GovernanceState::default();
    for file in &files {
        let vector: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("readable")).expect("json");
        let bytes =
            hex::decode(vector["canonical_hex"].as_str().expect("canonical_hex")).expect("hex");
        // When each entry is verified against the state before it and applied
        let verified = verify::verify(&bytes, &state)
            .unwrap_or_else(|bad| panic!("{}: {bad}", file.display()));
        apply(&mut state, &verified);
        // Then its hash is the one the vector states
        assert_eq!(
            verified.hash().to_hex(),
            vector["hash"].as_str().expect("hash"),
            "{}",
            file.display()
        );
    }
    assert_eq!(state.position.next_seq, files.len() as u64);
}
