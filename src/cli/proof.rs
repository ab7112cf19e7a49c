//! `ostrom proof`: signed tree heads, inclusion and consistency proofs over a community's
//! log (RFC 6962 shape, src/merkle.rs), and their offline check by an auditor who saved a
//! tree head earlier.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use ostrom_schemas::CommunityId;

use super::commands::{CliError, Result};
use crate::keys::KeyDir;
use crate::merkle::{self, HeadDir, LogTree, Proof, ProofError, TreeHead};
use crate::store::LogStore;

#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Sign a tree head over the whole log, save it beside the log and print it (JSON).
    Head {
        /// Also write the tree head to this file (what an auditor keeps).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Prove that entry SEQ is in the log (JSON).
    Inclusion {
        seq: u64,
        /// The tree size to prove against (a saved tree head's); default the whole log.
        #[arg(long)]
        size: Option<u64>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Prove that the log of OLD_SIZE entries is a prefix of the log of NEW_SIZE entries
    /// (default the whole log) (JSON).
    Consistency {
        old_size: u64,
        new_size: Option<u64>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof offline against saved tree heads: an inclusion proof against `--head`,
    /// a consistency proof from `--old-head` to `--head`.
    Check {
        proof: PathBuf,
        #[arg(long)]
        head: PathBuf,
        #[arg(long)]
        old_head: Option<PathBuf>,
    },
}

impl From<ProofError> for CliError {
    fn from(error: ProofError) -> Self {
        CliError::new(error.code, error.reason)
    }
}

fn emit(json: &str, out: Option<&Path>) -> Result<()> {
    if let Some(out) = out {
        std::fs::write(out, format!("{json}\n"))
            .map_err(|error| CliError::new("io_error", format!("{}: {error}", out.display())))?;
    }
    println!("{json}");
    Ok(())
}

/// `ostrom proof check`: needs no data directory.
pub fn check(proof: &Path, head: &Path, old_head: Option<&Path>) -> Result<()> {
    let text = std::fs::read_to_string(proof)
        .map_err(|error| CliError::new("io_error", format!("{}: {error}", proof.display())))?;
    let proof: Proof = serde_json::from_str(&text)
        .map_err(|error| CliError::new("bad_proof", format!("{}: {error}", proof.display())))?;
    let head = merkle::read_head(head).map_err(|error| CliError::new("bad_tree_head", error))?;
    match (&proof, old_head) {
        (Proof::Inclusion { .. }, None) => {
            let entry = merkle::check_inclusion(&head, &proof)?;
            println!(
                "ok: entry {} ({}) is in the log of {} entries with root {}, signed by sequencer {}",
                entry.seq,
                entry.body.name(),
                head.size,
                head.root,
                head.sequencer
            );
            Ok(())
        }
        (Proof::Consistency { .. }, Some(old_head)) => {
            let old = merkle::read_head(old_head)
                .map_err(|error| CliError::new("bad_tree_head", error))?;
            merkle::check_consistency(&old, &head, &proof)?;
            println!(
                "ok: the log of {} entries (root {}) is a prefix of the log of {} entries (root {})",
                old.size, old.root, head.size, head.root
            );
            Ok(())
        }
        (Proof::Inclusion { .. }, Some(_)) => Err(CliError::new(
            "bad_param",
            "an inclusion proof is checked against one tree head (--head only)",
        )),
        (Proof::Consistency { .. }, None) => Err(CliError::new(
            "bad_param",
            "a consistency proof needs --old-head and --head",
        )),
    }
}

/// The commands that read the data directory's log.
pub fn run(
    store: &dyn LogStore,
    community: CommunityId,
    data: &Path,
    keys: &KeyDir,
    command: ProofCommand,
) -> Result<()> {
    let length = store.len(community)?;
    match command {
        ProofCommand::Head { out } => {
            let key = keys.sequencer().map_err(|_| {
                CliError::new(
                    "read_only",
                    "this data directory holds no sequencer key, so it cannot sign a tree head",
                )
            })?;
            let tree = LogTree::from_hashes(merkle::entry_hashes(store, community, length)?);
            let head = TreeHead::sign(community, length, tree.root(), &key);
            let saved = HeadDir::new(data, community)
                .save(&head)
                .map_err(|error| CliError::new("io_error", error.to_string()))?;
            eprintln!("saved {}", saved.display());
            emit(
                &serde_json::to_string_pretty(&head).expect("heads encode"),
                out.as_deref(),
            )
        }
        ProofCommand::Inclusion { seq, size, out } => {
            let size = size.unwrap_or(length);
            check_size(size, length)?;
            let proof = merkle::prove_inclusion(store, community, seq, size)?;
            emit(
                &serde_json::to_string_pretty(&proof).expect("proofs encode"),
                out.as_deref(),
            )
        }
        ProofCommand::Consistency {
            old_size,
            new_size,
            out,
        } => {
            let new_size = new_size.unwrap_or(length);
            check_size(new_size, length)?;
            let proof = merkle::prove_consistency(store, community, old_size, new_size)?;
            emit(
                &serde_json::to_string_pretty(&proof).expect("proofs encode"),
                out.as_deref(),
            )
        }
        ProofCommand::Check { .. } => unreachable!("checked offline before opening a store"),
    }
}

fn check_size(size: u64, length: u64) -> Result<()> {
    if size == 0 || size > length {
        return Err(CliError::new(
            "bad_param",
            format!("a tree size is between 1 and the log's {length} entries (got {size})"),
        ));
    }
    Ok(())
}
