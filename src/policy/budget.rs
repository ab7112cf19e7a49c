//! A CPU-time backstop behind the deterministic limits.
//!
//! The operation limit is what normally stops a script, and it stops it at the same place
//! on every run. But Rhai re-measures a whole array, map or string after each change to
//! it, so a loop over a large collection costs far more than its operation count
//! (100,000 `len()` calls on a 100,000-item array take seconds while counting as a few
//! hundred thousand operations). This deadline bounds that case. It is measured on a
//! monotonic timer, is never visible to the policy, excludes time spent waiting for
//! external calls, and only ever turns a pathological evaluation into a fault: a fault
//! it causes is named as such (`is_time_limit`), because unlike every other fault it may
//! not recur at exactly the same point when `verify` re-runs the evaluation.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::limits::{POLICY_CPU_TIME_MAX_MS, POLICY_OPERATIONS_CHECK_INTERVAL};

thread_local! {
    /// When the evaluation running on this thread must stop, if one is running.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The start of a fault message caused by the deadline.
pub const TIME_LIMIT_MESSAGE: &str = "the policy used more than its CPU time";

/// Sets this thread's deadline for one evaluation; restores the previous one when dropped.
pub struct Deadline {
    previous: Option<Instant>,
}

impl Deadline {
    pub fn start() -> Deadline {
        let at = Instant::now() + Duration::from_millis(POLICY_CPU_TIME_MAX_MS);
        Deadline {
            previous: DEADLINE.with(|deadline| deadline.replace(Some(at))),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.with(|deadline| deadline.set(self.previous));
    }
}

/// Time spent waiting (for an external call) does not count.
pub fn extend(waited: Duration) {
    DEADLINE.with(|deadline| deadline.set(deadline.get().map(|at| at + waited)));
}

/// Rhai's progress callback: `true` when the evaluation must stop.
pub fn expired(operations: u64) -> bool {
    if operations % POLICY_OPERATIONS_CHECK_INTERVAL != 0 {
        return false;
    }
    DEADLINE.with(|deadline| deadline.get().is_some_and(|at| Instant::now() > at))
}
