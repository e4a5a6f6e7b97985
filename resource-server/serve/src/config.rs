//! [`ServeConfig`]: the timeouts a served router runs under.

use std::time::Duration;

/// Timeouts of [`serve`](crate::serve).
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// A client must send its request headers within this time, or is
    /// disconnected.
    pub header_read_timeout: Duration,
    /// A request must be answered within this time (a JSON `408`
    /// otherwise).
    pub request_timeout: Duration,
    /// After the shutdown signal, requests in flight get this long.
    pub shutdown_grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}
