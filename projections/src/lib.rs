//! `ostrom-projections`: the pure reducer, the governance state and its read models.
//!
//! [`apply()`] folds a [`VerifiedEntry`](ostrom_schemas::VerifiedEntry) into a
//! [`GovernanceState`]; the state also implements the verifier's
//! [`Authority`](ostrom_schemas::Authority), so the rules that keep `apply` total live
//! next to the state they read. Replaying a log is folding `apply` over
//! its verified entries (the `ostrom` crate's `ledger::replay_from_store` does it in a
//! pipeline).
//!
//! Read models: the state itself (members, roles, policies and documents with their
//! histories, proposals with tallies and evaluations), [`audit::AuditTrail`] (one row per
//! entry, filterable) and [`diff`] (what changed in governance between two points).
//!
//! What is deliberately absent: I/O, clocks, randomness, hash maps, floats. Replaying the
//! same log anywhere gives the same [`GovernanceState::state_hash`] (DESIGN.md §3).

#![forbid(unsafe_code)]

pub mod apply;
pub mod audit;
pub mod constitution;
pub mod diff;
pub mod state;

pub use apply::apply;
pub use state::{GovernanceState, Status};
