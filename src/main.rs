//! The `ostrom` binary: tune the allocator, parse the command line, run it, print errors
//! with stable codes.

use clap::Parser;

fn main() {
    allocator::delay_purging();
    let cli = ostrom::cli::Cli::parse();
    if let Err(error) = ostrom::cli::run(cli) {
        eprintln!("error[{}]: {}", error.code, error.message);
        std::process::exit(1);
    }
}

/// mimalloc (the global allocator, src/lib.rs) hands memory it has not used for a second
/// back to the kernel. Under a steady stream of votes the server frees and reuses the same
/// pages in cycles longer than that, so each cycle the kernel faults them in again and zeroes
/// them: 826 page faults a second under `cargo bench --bench serve_load`, and about 3% of
/// the server's CPU in `clear_page_erms` (perf). With a ten-second delay, 20-29 faults a
/// second: the memory stays while it is in use and still goes back once a burst is over.
mod allocator {
    /// How long freed memory stays with the process before mimalloc purges it.
    const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

    /// `mi_option_purge_delay`, whose position in mimalloc v3's `mi_option_t` (its
    /// `include/mimalloc.h`) libmimalloc-sys does not name; `purge_delay_is_option_15`
    /// checks it against the documented default.
    pub(crate) const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

    /// Set the purge delay unless the operator chose one through mimalloc's own
    /// environment variables, which it read when the process started.
    pub(crate) fn delay_purging() {
        let chosen = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        if !chosen {
            // SAFETY: `mi_option_set` only stores a number in mimalloc's option table; the
            // option exists in the linked mimalloc (see the test), and this runs first thing
            // in `main`, before any other thread exists to read options concurrently.
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn purge_delay_is_option_15() {
            // Given the mimalloc this binary links, whose purge delay defaults to 1000 ms,
            // when option 15 is read, then it is that delay (or what the environment set).
            // SAFETY: reading an option is a plain load from mimalloc's option table.
            let value = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            let expected = std::env::var("MIMALLOC_PURGE_DELAY")
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(1000);
            assert_eq!(value, expected);
        }
    }
}
