//! `ostrom recover`: a governance restart co-signed by recovery trustees, for when the
//! community's policies make every way out through governance impossible.
//!
//! Three steps, so that trustees can sign on their own machines: `prepare` writes the
//! recovery (the plan, materialised, and the log head it is prepared against) to a file;
//! `sign` adds one trustee's co-signature to it; `submit` appends it as a
//! `RecoveryInvoked` statement. The verifier refuses it with too few or invalid
//! co-signatures, and once anything else was appended after the named head (so it can
//! never be replayed).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use ed25519_dalek::Signer;
use ostrom_projections::GovernanceState;
use ostrom_schemas::statement::{Cosignature, Recovery, RecoveryMessage, RecoveryPlan};
use ostrom_schemas::verify::recovery_digest;
use ostrom_schemas::{CommunityId, Signature};
use serde::{Deserialize, Serialize};

use super::commands::{CliError, Result};
use crate::keys::{self, KeyDir};
use crate::kits;

/// `format` of a recovery file.
pub const RECOVERY_FORMAT: &str = "ostrom-recovery/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanKind {
    /// Replace policies and roles with a starter kit's.
    Restart,
    /// Restore governance to the state just before a seq.
    Rollback,
}

#[derive(Debug, Subcommand)]
pub enum RecoverCommand {
    /// Write the recovery to sign, naming the current log head.
    Prepare {
        #[arg(long, value_enum)]
        plan: PlanKind,
        /// The starter kit to restart from (`--plan restart`).
        #[arg(long)]
        kit: Option<String>,
        /// The member who receives the kit's privileged role, if it has one (default: the
        /// first member by name).
        #[arg(long)]
        founder: Option<String>,
        /// Restore governance to just before this seq (`--plan rollback`).
        #[arg(long)]
        seq: Option<u64>,
        /// Where to write the recovery file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a trustee's co-signature to a recovery file (their key in this data directory).
    Sign {
        file: PathBuf,
        #[arg(long = "as")]
        trustee: String,
    },
    /// Append a co-signed recovery; the statement is signed by `--as` (default: the first
    /// co-signer).
    Submit {
        file: PathBuf,
        #[arg(long = "as")]
        member: Option<String>,
    },
}

/// A recovery on its way between trustees.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryFile {
    pub format: String,
    pub community: CommunityId,
    pub recovery: Recovery,
}

impl RecoveryFile {
    pub fn read(path: &Path) -> Result<RecoveryFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CliError::new("io_error", format!("{}: {error}", path.display())))?;
        let file: RecoveryFile = serde_json::from_str(&text).map_err(|error| {
            CliError::new("bad_recovery", format!("{}: {error}", path.display()))
        })?;
        if file.format != RECOVERY_FORMAT {
            return Err(CliError::new(
                "bad_recovery",
                format!("{}: not a {RECOVERY_FORMAT} file", path.display()),
            ));
        }
        Ok(file)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("recoveries encode");
        std::fs::write(path, text + "\n")
            .map_err(|error| CliError::new("io_error", format!("{}: {error}", path.display())))
    }

    fn digest(&self) -> ostrom_schemas::Hash {
        recovery_digest(&RecoveryMessage {
            community: &self.community,
            head_seq: self.recovery.head_seq,
            head: &self.recovery.head,
            plan: &self.recovery.plan,
        })
    }
}

/// `prepare`: the plan against the current head.
pub fn prepare(
    state: &GovernanceState,
    plan: PlanKind,
    kit: Option<&str>,
    founder: Option<&str>,
    seq: Option<u64>,
    out: &Path,
) -> Result<()> {
    let community = state
        .community_id()
        .expect("an opened community is founded");
    let plan = match (plan, kit, seq) {
        (PlanKind::Restart, Some(kit), None) => {
            let founder = founder
                .map(str::to_owned)
                .or_else(|| state.member_names().into_iter().next())
                .unwrap_or_default();
            if !state.is_member(&founder) {
                return Err(CliError::new(
                    "unknown_member",
                    format!("{founder} is not a member"),
                ));
            }
            let kit =
                kits::kit(kit, &founder).map_err(|error| CliError::new("bad_param", error))?;
            RecoveryPlan::Restart {
                kit: kit.name,
                roles: kit.roles,
                policies: kit.policies,
            }
        }
        (PlanKind::Rollback, None, Some(seq)) => {
            if seq == 0 || seq >= state.position.next_seq {
                return Err(CliError::new(
                    "bad_param",
                    format!(
                        "--seq must name an entry after genesis, 1..{}",
                        state.position.next_seq
                    ),
                ));
            }
            RecoveryPlan::RollbackToSeq { seq }
        }
        (PlanKind::Restart, _, _) => {
            return Err(CliError::new(
                "bad_param",
                "--plan restart needs --kit (and no --seq)",
            ))
        }
        (PlanKind::Rollback, _, _) => {
            return Err(CliError::new(
                "bad_param",
                "--plan rollback needs --seq (and no --kit)",
            ))
        }
    };
    let file = RecoveryFile {
        format: RECOVERY_FORMAT.to_owned(),
        community,
        recovery: Recovery {
            plan,
            head_seq: state.position.next_seq - 1,
            head: state.position.head,
            cosignatures: Vec::new(),
        },
    };
    file.write(out)?;
    println!(
        "prepared against head {} (seq {}); trustees sign it with `ostrom recover sign {} --as NAME` ({} of [{}] needed)",
        file.recovery.head.short(),
        file.recovery.head_seq,
        out.display(),
        state.recovery.threshold,
        state.recovery.trustees.join(", ")
    );
    Ok(())
}

/// `sign`: one more co-signature, by a trustee's key in this data directory.
pub fn sign(data: &Path, path: &Path, trustee: &str) -> Result<()> {
    let mut file = RecoveryFile::read(path)?;
    if file
        .recovery
        .cosignatures
        .iter()
        .any(|cosignature| cosignature.trustee == trustee)
    {
        return Err(CliError::new(
            "duplicate_cosignature",
            format!("{trustee} already signed this recovery"),
        ));
    }
    let key = KeyDir::new(data, file.community).member(trustee)?;
    let digest = file.digest();
    file.recovery.cosignatures.push(Cosignature {
        trustee: trustee.to_owned(),
        key: keys::public(&key),
        sig: Signature(key.sign(digest.as_bytes()).to_bytes()),
    });
    file.write(path)?;
    println!(
        "{} co-signature(s): {}",
        file.recovery.cosignatures.len(),
        file.recovery
            .cosignatures
            .iter()
            .map(|cosignature| cosignature.trustee.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
