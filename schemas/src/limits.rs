//! Every bound ostrom enforces, named in one place (DESIGN.md §9).
//!
//! Inputs beyond these are refused with a clear error before anything is appended; the
//! relationships between them are checked at compile time below.

/// The envelope version this build writes and the only one it accepts.
pub const ENTRY_VERSION: u16 = 1;

/// Names of members, roles, policies, documents and action types.
pub const NAME_BYTES_MAX: usize = 128;
/// Free text: descriptions, document text, parameter strings.
pub const TEXT_BYTES_MAX: usize = 64 * 1024;
/// Rhai source of one policy.
pub const POLICY_SOURCE_BYTES_MAX: usize = 64 * 1024;
/// Items in one list parameter (members of a role, action types of a permission).
pub const LIST_ITEMS_MAX: usize = 10_000;
/// Actions inside one election or combination.
pub const BUNDLE_ACTIONS_MAX: usize = 64;
/// Nesting of lists and maps inside a value, enforced while decoding (so crafted bytes
/// cannot exhaust the stack) and while parsing JSON.
pub const VALUE_DEPTH_MAX: usize = 16;
/// Canonical bytes of one entry: reading refuses anything larger as corrupt.
pub const ENTRY_BYTES_MAX: usize = 1024 * 1024;
/// Members of one community.
pub const MEMBERS_MAX: usize = 1_000_000;
/// Votes and withdrawals recorded on one proposal.
pub const VOTES_PER_PROPOSAL_MAX: usize = 100_000;
/// Options in a ranking vote.
pub const RANKING_ITEMS_MAX: usize = BUNDLE_ACTIONS_MAX;
/// Trustee co-signatures on one recovery statement.
pub const TRUSTEES_MAX: usize = 64;

const _: () = assert!(POLICY_SOURCE_BYTES_MAX < ENTRY_BYTES_MAX / 2);
const _: () = assert!(TEXT_BYTES_MAX < ENTRY_BYTES_MAX / 2);
const _: () = assert!(NAME_BYTES_MAX < TEXT_BYTES_MAX);
const _: () = assert!(RANKING_ITEMS_MAX <= BUNDLE_ACTIONS_MAX);
