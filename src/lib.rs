//! `ostrom`: an event-sourced governance ledger for online communities.
//!
//! What flows in: statements signed by members (proposals, votes), by the server on a
//! member's behalf, or by platform integrations. What comes out: signed, hash-chained log
//! entries in a store, a governance state folded from them by a pure reducer, and the
//! views of it that the CLI, the HTTP API and the dashboard show.
//!
//! Codemap:
//! - `ostrom_schemas` (crate `schemas/`): entry types, canonical encoding, hashing,
//!   signing, the verifier.
//! - `ostrom_projections` (crate `projections/`): `GovernanceState`, the reducer `apply`,
//!   admission rules, constitution actions.
//! - [`store`]: the `LogStore` trait and its sled and in-memory backends.
//! - [`ledger`]: a community's log + state + sequencer key; open (snapshot + verified
//!   suffix), append (seal, durable write, apply).
//! - [`keys`]: key files (0600). [`kits`]: starter kits. [`export`]: the export format.
//! - [`merkle`]: RFC 6962 Merkle tree heads and inclusion/consistency proofs over the
//!   entry hashes, kept beside the log.
//! - [`writer`]: the single writer thread of a log: concurrent submissions become group
//!   commits.
//! - [`clock`]: the only place the wall clock is read.
//! - [`server`]: `ostrom serve`: every community of a data directory behind the HTTP API
//!   (axum), with bearer tokens, live entry streams, timers, and reads that never wait on
//!   writes; and the dashboard (`server::web`), HTML pages over the same read models.
//! - [`engine`]: the policy engine (selection, lifecycle, timers), re-execution for
//!   `ostrom verify`, and backtests of draft policies against a community's history.
//! - [`cli`]: the `ostrom` command line.
//!
//! Invariants, stated as what is absent:
//! - `schemas` and `projections` never do I/O, read a clock, draw randomness, or iterate a
//!   hash map (tests/purity.rs).
//! - Nothing is appended without passing the same verifier a reader uses (`verify::seal`).
//! - An append is acknowledged only after the store made it durable.

#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod engine;
pub mod export;
#[doc(hidden)]
pub mod fixtures;
pub mod keys;
pub mod kits;
pub mod ledger;
pub mod merkle;
pub mod policy;
pub mod procedures;
pub mod scenario;
pub mod server;
pub mod store;
pub mod writer;

/// Every binary that links ostrom (the server, the CLI, benchmarks, tests) allocates with
/// mimalloc: a vote's path through the writer is thousands of small allocations (policy
/// views, script values, entries) made on one thread and freed on another, and glibc's
/// malloc spent 15-20% of the server's CPU on them (perf, `cargo bench --bench serve_load`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
