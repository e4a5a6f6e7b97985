//! How many connections a server holds at once, and what it does past that.
//!
//! Every connection costs a file descriptor and a task. Left to the
//! defaults, a server on a machine with the usual soft limit of 1,024
//! descriptors stops accepting at about a thousand slow clients, and
//! well-behaved clients then wait in the kernel's backlog for seconds. So
//! at start the soft limit is raised to the hard limit, and connections
//! are capped below it (`max_connections`, less a reserve for the database,
//! files and outbound calls). A connection past the cap is accepted and
//! closed at once, so the backlog keeps moving; the refusals are logged
//! once per interval with their count, never once per connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free of connections: database, logs, outbound calls.
const RESERVED_DESCRIPTORS: u64 = 256;

/// How often a burst of refusals (or of accept errors) is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Raises the open-file soft limit to the hard limit; returns the soft
/// limit now in force, or `None` where it cannot be read.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            None
        }
    }
}

/// The cap in force: `wanted`, or fewer where the open-file limit is lower.
pub(crate) fn effective_cap(wanted: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return wanted.max(1);
    };
    let room = open_files.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    wanted.clamp(1, usize::try_from(room).unwrap_or(usize::MAX))
}

/// The permits of open connections.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    permits: Arc<Semaphore>,
    cap: usize,
    refused: RateLimitedLog,
}

impl ConnectionLimit {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(cap)),
            cap,
            refused: RateLimitedLog::default(),
        }
    }

    /// A permit for one more connection, held for its life, or `None` at
    /// the cap (the refusal is counted and logged once per interval).
    pub(crate) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok();
        if permit.is_none() {
            let cap = self.cap;
            self.refused.record(|count| {
                tracing::warn!(
                    cap,
                    refused = count,
                    "connection limit reached: new connections are closed at once"
                );
            });
        }
        permit
    }
}

/// Counts events and logs them at most once per [`LOG_EVERY`], with how
/// many happened since the last line.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    pending: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Default for RateLimitedLog {
    fn default() -> Self {
        Self {
            pending: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }
}

impl RateLimitedLog {
    /// Counts one event; calls `log` with the count when a line is due.
    pub(crate) fn record(&self, log: impl FnOnce(u64)) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            *last = Some(Instant::now());
            log(self.pending.swap(0, Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(effective_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_cap(10_000, Some(1_024)), 768);
        assert_eq!(effective_cap(10_000, Some(100)), 1);
        assert_eq!(effective_cap(10_000, None), 10_000);
    }

    #[test]
    fn past_the_cap_connections_are_refused_and_a_burst_is_logged_once() {
        let limit = ConnectionLimit::new(2);
        let held = [limit.admit(), limit.admit()];
        assert!(held.iter().all(Option::is_some));
        assert!(limit.admit().is_none());
        drop(held);
        assert!(
            limit.admit().is_some(),
            "a closed connection frees its place"
        );

        let log = RateLimitedLog::default();
        let mut lines = Vec::new();
        for _ in 0..1000 {
            log.record(|count| lines.push(count));
        }
        assert_eq!(lines, [1], "one line for a burst, not one per event");
    }
}
