//! The `ostrom` command line: found a community, propose, vote, and read, replay, export,
//! import and verify its log, on a data directory (default `./ostrom-data`, sled).
//!
//! Commands are thin: they parse arguments into statements and hand them to the
//! [`Ledger`](crate::ledger::Ledger), which refuses anything invalid before it is appended.
//! Errors print as `error[CODE]: message` with a stable code and exit non-zero.

mod commands;
mod describe;
mod proof;
mod recover;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use commands::run;
pub use proof::ProofCommand;
pub use recover::RecoverCommand;

/// ostrom: a signed, hash-chained governance ledger for online communities.
#[derive(Debug, Parser)]
#[command(name = "ostrom", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The data directory: the sled store and this node's keys.
    #[arg(
        long,
        global = true,
        env = "OSTROM_DATA",
        default_value = "ostrom-data"
    )]
    pub data: PathBuf,

    /// The community (name or id) to act on; defaults to the only one in the data directory.
    #[arg(long, global = true, env = "OSTROM_COMMUNITY")]
    pub community: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Found a community: generate its sequencer and member keys and write the genesis entry.
    Init {
        /// The community's name (unique in this data directory).
        #[arg(long)]
        name: String,
        /// The starter kit: testing, dictator, moderators, democracy, jury or consensus.
        #[arg(long, default_value = crate::kits::DEFAULT_KIT)]
        kit: String,
        /// A founding member (repeatable); the first is the founder. Each gets a key.
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// A recovery trustee (repeatable; must be a founding member).
        #[arg(long = "trustee")]
        trustees: Vec<String>,
        /// How many trustees must co-sign a governance restart (default: a majority).
        #[arg(long)]
        threshold: Option<u64>,
    },
    /// Propose an action: `ostrom propose --as alice grant_role role=mods members=bob,carol`.
    ///
    /// Parameters are key=value; lists are comma-separated; a value starting with `[` or `{`
    /// is JSON; `key=@FILE` reads the value from a file (e.g. `source=@policy.rhai`).
    Propose {
        /// The member proposing (their key in the data directory signs).
        #[arg(long = "as")]
        member: String,
        /// The action type (add_policy, grant_role, slack.post_message, election, ...).
        action_type: String,
        /// Parameters as key=value.
        params: Vec<String>,
        /// Delay: no policy sees the action before this much time has passed (e.g. 2d, 90m).
        #[arg(long)]
        not_before: Option<String>,
    },
    /// Vote on a proposal: yes, no, an option number, a ranking (2,0,1) or a choice.
    Vote {
        #[arg(long = "as")]
        member: String,
        /// The action id `propose` printed.
        action: u64,
        value: String,
    },
    /// Withdraw your vote on a proposal.
    Withdraw {
        #[arg(long = "as")]
        member: String,
        action: u64,
    },
    /// Print the log's entries.
    Log {
        /// The first seq to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the state from the whole log, verifying every entry; print the count and state hash.
    Replay,
    /// Print members, roles, policies, documents and proposals.
    State {
        #[arg(long)]
        json: bool,
        /// The state as of this seq (after applying it), replayed and verified from genesis.
        #[arg(long)]
        at: Option<u64>,
    },
    /// What changed in policies, roles, permissions, documents and trustees from the state
    /// as of seq A to the state as of seq B (what to look at before voting on a rollback).
    Diff { from: u64, to: u64 },
    /// Write the community's log to a self-describing export file.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export file and add its community to this data directory.
    Import { file: PathBuf },
    /// Verify a log: chain, every signature, every author's membership and key, every
    /// recorded evaluation re-executed, every saved tree head; names the first bad entry and
    /// exits non-zero on failure.
    Verify {
        /// Verify an export file instead of the data directory's log.
        #[arg(long)]
        file: Option<PathBuf>,
        /// A tree head saved earlier (repeatable): the log must still begin with exactly the
        /// entries that head signed, i.e. it was only ever appended to.
        #[arg(long = "head")]
        heads: Vec<PathBuf>,
    },
    /// List the starter kits.
    Kits,
    /// Run scenario files (policy tests) through the real engine on fresh in-memory
    /// communities; prints `ok NAME` or `FAILED NAME: ...` per file and `N passed, M failed`.
    Test {
        /// Scenario files (.toml), as ../shared/spec/scenario.md describes.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the checks that are due now (time-based policy rules), as the server's sweep does.
    Tick,
    /// Merkle proofs over the log (RFC 6962 shape): signed tree heads, inclusion and
    /// consistency proofs, and their offline check.
    Proof {
        #[command(subcommand)]
        command: ProofCommand,
    },
    /// A governance restart co-signed by recovery trustees: prepare, sign, submit.
    Recover {
        #[command(subcommand)]
        command: RecoverCommand,
    },
    /// Write, check and propose policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Serve every community of the data directory: the dashboard at / (sign in with a
    /// member token), the HTTP API under /api/v1 (OpenAPI at /api/v1/openapi.json), timers
    /// and sweeps. Stops cleanly on SIGINT/SIGTERM.
    Serve {
        /// The address to listen on (IP:PORT; port 0 picks a free one) [default: 127.0.0.1:8080].
        #[arg(long, env = "OSTROM_LISTEN")]
        listen: Option<String>,
        /// A TOML configuration file: listen, request_body_bytes_max, sweep_interval_ms,
        /// operator_token, log, log_format. Flags and environment variables win over it.
        #[arg(long, env = "OSTROM_CONFIG")]
        config: Option<PathBuf>,
        /// The operator token (founds communities and issues tokens over the API). Prefer
        /// the environment or the config file to the command line. Without one, the server
        /// uses DATA/operator.token, which it creates (mode 0600) on first start.
        #[arg(long, env = "OSTROM_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        /// Log filter, e.g. info or ostrom=debug [default: info].
        #[arg(long, env = "OSTROM_LOG")]
        log: Option<String>,
    },
    /// Bearer tokens for the HTTP API (while the server is stopped; a running server issues
    /// them through POST /api/v1/communities/{id}/tokens).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token that speaks for a member; printed once, stored hashed.
    Issue {
        #[arg(long = "as")]
        member: String,
        /// A note for whoever lists tokens later.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke { id: String },
    /// List the community's tokens (ids, members, labels; never secrets).
    List,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Compile a policy file and report errors with their line and column.
    Check { file: PathBuf },
    /// List the procedures (no-code policy templates) and their parameters.
    Procedures,
    /// Propose a policy generated from a procedure:
    /// `ostrom policy new --as alice --procedure majority --param quorum=3 --name "Majority"`.
    New {
        #[arg(long = "as")]
        member: String,
        /// The procedure (see `ostrom policy procedures`).
        #[arg(long)]
        procedure: String,
        /// A procedure parameter as key=value (repeatable).
        #[arg(long = "param")]
        params: Vec<String>,
        /// The new policy's name.
        #[arg(long)]
        name: String,
        /// platform, constitution or trigger.
        #[arg(long, default_value = "constitution")]
        kind: String,
        /// Action types it governs (comma-separated); none = a base policy for its kind.
        #[arg(long)]
        action_types: Option<String>,
        #[arg(long, default_value_t = 0)]
        priority: i64,
        #[arg(long, default_value = "")]
        description: String,
        /// Print the generated source instead of proposing it.
        #[arg(long)]
        dry_run: bool,
    },
}
