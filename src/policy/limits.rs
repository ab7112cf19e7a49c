//! Every bound on one policy evaluation, named in one place (DESIGN.md §4 and §9).
//!
//! A policy is code written by community members and run by the engine on every arrival,
//! vote and timer, so a hostile or careless script must stop quickly and deterministically:
//! the same script on the same input hits the same limit at the same place, which is what
//! lets `verify` re-run an evaluation and get the identical fault. The relationships
//! between these bounds and the ledger's own limits are checked at compile time below.

use ostrom_schemas::limits::{
    ENTRY_BYTES_MAX, POLICY_SOURCE_BYTES_MAX, TEXT_BYTES_MAX, VOTES_PER_PROPOSAL_MAX,
};

/// Rhai operations one policy function call may perform (an evaluation calls at most four
/// functions after `filter`). Rhai does a few million simple operations per second here,
/// so a runaway loop stops within a fraction of a second of CPU.
pub const POLICY_OPERATIONS_MAX: u64 = 1_000_000;
/// A backstop, not the limit that normally stops a script: time of one evaluation (all
/// its function calls together, waiting for external calls excluded), for scripts whose
/// operations are cheap to count but expensive to run (see `budget`). It also bounds the
/// memory a script can fill through the few paths Rhai does not size-check (assigning
/// new keys of a map, items of an array): about a gigabyte per second of running.
///
/// This is a deliberate departure from "no clock in policy evaluation" (DESIGN.md §4): the
/// only place wall time reaches a policy, and only to stop it. The fault it causes is
/// recorded in the log like any other, so replay stays deterministic; verification by
/// re-execution must treat such a fault (`policy::is_time_limit`) as one it may not be able
/// to reproduce on another machine.
pub const POLICY_CPU_TIME_MAX_MS: u64 = 500;
/// How many operations run between two looks at the CPU-time backstop.
pub const POLICY_OPERATIONS_CHECK_INTERVAL: u64 = 256;
/// Nested function calls (recursion depth). Each level costs native stack, so this also
/// keeps deep recursion far from a stack overflow on a 2 MiB thread.
pub const POLICY_CALL_LEVELS_MAX: usize = 24;
/// Nesting of expressions, at the top level and inside functions (checked while parsing).
pub const POLICY_EXPR_DEPTH_MAX: usize = 32;
/// Bytes of one string, and of all strings inside one array or map together. Large enough
/// for any parameter of an entry (so `action.params` always fits), far below what would
/// hurt: a doubling loop stops at this size.
pub const POLICY_STRING_BYTES_MAX: usize = ENTRY_BYTES_MAX;
/// Items in one array, nested arrays included (`action.proposal.votes()` always fits).
pub const POLICY_ARRAY_ITEMS_MAX: usize = VOTES_PER_PROPOSAL_MAX;
/// Entries in one object map, nested maps included.
pub const POLICY_MAP_ITEMS_MAX: usize = 10_000;
/// Variables alive at once in one function call.
pub const POLICY_VARIABLES_MAX: usize = 512;
/// Functions one policy may define (lifecycle functions and helpers).
pub const POLICY_FUNCTIONS_MAX: usize = 128;
/// `notify(...)` calls recorded per evaluation.
pub const POLICY_NOTIFICATIONS_MAX: usize = 16;
/// `http_get` / `http_post` calls per evaluation.
pub const POLICY_HTTP_CALLS_MAX: usize = 4;
/// Timeout of one external call, connection included.
pub const POLICY_HTTP_TIMEOUT_MS: u64 = 3_000;
/// Bytes of one external call's response body.
pub const POLICY_HTTP_RESPONSE_BYTES_MAX: usize = 64 * 1024;
/// `log(...)` lines per evaluation.
pub const POLICY_LOG_LINES_MAX: usize = 64;
/// `propose(...)` follow-up actions per evaluation.
pub const POLICY_FOLLOW_UPS_MAX: usize = 8;
/// Writes to the action's and the policy's data stores together, per evaluation.
pub const POLICY_DATA_WRITES_MAX: usize = 1_000;
/// Keys of data stores.
pub const POLICY_DATA_KEY_BYTES_MAX: usize = ostrom_schemas::limits::NAME_BYTES_MAX;
/// Canonical bytes of everything one evaluation records (data writes, notifications,
/// follow-ups, external calls, log lines), so the `Evaluated` record always fits an entry.
pub const POLICY_EFFECTS_BYTES_MAX: usize = 384 * 1024;
/// When a policy read the clock in a way the time tracker cannot follow (multiplied it,
/// turned it into text, stored it), the engine looks again this much later.
pub const POLICY_OPAQUE_RECHECK_MS: u64 = 60_000;

const _: () = assert!(POLICY_EFFECTS_BYTES_MAX < ENTRY_BYTES_MAX / 2);
const _: () =
    assert!(POLICY_HTTP_CALLS_MAX * POLICY_HTTP_RESPONSE_BYTES_MAX < POLICY_EFFECTS_BYTES_MAX);
const _: () = assert!(POLICY_STRING_BYTES_MAX >= POLICY_SOURCE_BYTES_MAX);
const _: () = assert!(POLICY_STRING_BYTES_MAX >= TEXT_BYTES_MAX);
const _: () = assert!(POLICY_ARRAY_ITEMS_MAX >= VOTES_PER_PROPOSAL_MAX);
const _: () = assert!(POLICY_EXPR_DEPTH_MAX >= 16 && POLICY_CALL_LEVELS_MAX >= 8);
const _: () = assert!(POLICY_OPAQUE_RECHECK_MS >= 1_000);
const _: () = assert!(POLICY_OPERATIONS_CHECK_INTERVAL < POLICY_OPERATIONS_MAX / 100);
const _: () = assert!(POLICY_CPU_TIME_MAX_MS <= 1_000);
const _: () = assert!(POLICY_HTTP_TIMEOUT_MS * (POLICY_HTTP_CALLS_MAX as u64) <= 15_000);
