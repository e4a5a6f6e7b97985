//! [`ServeConfig`]: the timeouts and the connection cap a served router
//! runs under.

use std::time::Duration;

/// Limits of [`serve`](crate::serve).
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// A client must send its request headers within this time, or is
    /// disconnected. On a keep-alive connection this also bounds the wait
    /// for the next request, so idle connections are closed after it.
    pub header_read_timeout: Duration,
    /// The most a request's start line and headers may take, bytes; a
    /// larger head is answered `431` (a `414` for a request line alone too
    /// long) and the connection closed. It also bounds the connection's
    /// read buffer (twice this, at least hyper's 8 KiB minimum), so that
    /// many connections sending large heads cannot take memory beyond
    /// `max_connections` times that.
    pub max_header_bytes: usize,
    /// A request must be answered within this time (a JSON `408`
    /// otherwise).
    pub request_timeout: Duration,
    /// After the shutdown signal, requests in flight get this long.
    pub shutdown_grace: Duration,
    /// Connections held at once; past it, a new connection is closed at
    /// once. Lowered to fit under the open-file limit, which the server
    /// raises to its hard limit at start.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}
