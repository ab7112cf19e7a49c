//! The wall clock, read only here, at the imperative shell.
//!
//! Entries carry the sequencer's time (`at_ms`); the reducer and policies only ever see
//! times that came from the log, never this function.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
