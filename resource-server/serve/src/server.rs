//! The accept loop: one hyper HTTP/1.1 connection per client, with a
//! header-read timeout, the peer address for `ConnectInfo`, a cap on open
//! connections, and a graceful drain on shutdown.

use std::future::Future;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::ServeConfig;
use crate::connections::{effective_cap, raise_open_file_limit, ConnectionLimit, RateLimitedLog};
use crate::limits::with_limits;

/// hyper's smallest allowed read buffer (`max_buf_size`), bytes.
const MIN_READ_BUFFER: usize = 8192;

/// Serves `app`, wrapped in [`with_limits`], on `listener` until `shutdown`
/// completes, then drains. First raises the process's open-file soft limit
/// to its hard limit, and holds at most
/// [`max_connections`](ServeConfig::max_connections) connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = with_limits(app, &config);
    let open_files = raise_open_file_limit();
    let cap = effective_cap(config.max_connections, open_files);
    tracing::info!(max_connections = cap, ?open_files, "accepting connections");
    let limit = ConnectionLimit::new(cap);
    // hyper's smallest read buffer is 8 KiB; below that it panics.
    let head_limit = config.max_header_bytes.max(1);
    let read_buffer = head_limit.saturating_mul(2).max(MIN_READ_BUFFER);
    let accept_errors = RateLimitedLog::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, go on.
                    accept_errors.record(|count| {
                        tracing::warn!(%error, failures = count, "accept failed");
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permit) = limit.admit() else {
            drop(stream);
            continue;
        };
        let app = app.clone();
        // Handlers that limit per client (login throttling) read the peer
        // address through axum's `ConnectInfo` extractor.
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_header_size(head_limit)
            .max_buf_size(read_buffer)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        connections = open,
        "shutting down: waiting for requests in flight (a second signal cuts them)"
    );
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!(connections_at_start = open, "shutdown grace period over; closing remaining connections");
        }
        () = crate::shutdown_signal() => {
            tracing::warn!(connections_at_start = open, "second signal: closing remaining connections now");
        }
    }
    Ok(())
}
