//! Serving an axum [`Router`](axum::Router) over HTTP/1.1 with the limits
//! `axum::serve` lacks; the IdP and the demo resource server both run
//! through it.
//!
//! `axum::serve` sets no header-read timeout, so a client that trickles its
//! request headers (slowloris) holds a connection forever. [`serve`] drives
//! every connection through hyper's own builder with a timer and a
//! header-read timeout (which also closes idle keep-alive connections),
//! inserts the peer address for axum's `ConnectInfo` extractor, raises the
//! open-file limit and caps open connections below it (`connections.rs`),
//! and shuts down gracefully: stop accepting, let requests in flight
//! finish, give up after a grace period.
//!
//! Every request also goes through [`with_limits`]: a request timeout whose
//! answer, like every other error of the product, is a JSON body built by
//! [`json_error`]. What hyper answers on its own before a request reaches
//! the router (`400`, `414`, `431` for requests it cannot parse) has an
//! empty body; a client that misses the header-read timeout is disconnected
//! without an answer.
//!
//! What a server tells its operator lives here too, shared by both
//! binaries: [`init_logging`] (text or JSON lines, `logging.rs`),
//! [`observe`] (a request id, one log line and a latency observation per
//! request, `observe.rs`) and [`Metrics`] (the server's Prometheus
//! registry and its `/metrics` route, `metrics.rs`).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use serve::{serve, shutdown_signal, ServeConfig};
//!
//! # async fn example() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app, ServeConfig::default(), shutdown_signal()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod connections;
mod error;
mod limits;
mod logging;
mod metrics;
mod observe;
mod server;
mod shutdown;

pub use config::ServeConfig;
pub use connections::raise_open_file_limit;
pub use error::json_error;
pub use limits::with_limits;
pub use logging::{init_logging, log_filter, LogFormat};
pub use metrics::{Metrics, LATENCY_BUCKETS, REQUEST_DURATION};
pub use observe::{observe, REQUEST_ID, UNMATCHED};
pub use server::serve;
pub use shutdown::shutdown_signal;
