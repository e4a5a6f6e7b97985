//! The server's lifecycle: [`start`] opens the state, starts the
//! background tasks and serves the router on a listener until
//! [`Server::shutdown`] or a termination signal, then drains and stops.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::http::{api, app, metrics_app};
use crate::state::AppState;
use crate::tasks::Tasks;

/// A running IdP.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Its state.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Begins a graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has stopped.
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Opens state, starts the background tasks (key watcher, scheduled
/// rotation) and serves on `listener` until [`Server::shutdown`] or a
/// termination signal.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let state = AppState::open(&config, issuer).await?;
    let tasks = Tasks::start(&state, config.key_poll, config.rotate_every);
    let (tx, rx) = oneshot::channel::<()>();
    let mut metrics_stop = None;
    let limits = serve::ServeConfig {
        max_connections: config.max_connections,
        ..serve::ServeConfig::default()
    };
    // With --metrics-bind, /metrics leaves the API for a listener of its
    // own, which stops with the server.
    let router = match config.metrics_bind {
        None => app(state.clone()),
        Some(bind) => {
            let metrics_listener = TcpListener::bind(bind).await?;
            tracing::info!(addr = %metrics_listener.local_addr()?, "serving /metrics");
            let scrape = metrics_app(state.clone());
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            metrics_stop = Some(stop_tx);
            tokio::spawn(async move {
                let stop = async {
                    let _ = stop_rx.await;
                };
                if let Err(e) = serve::serve(metrics_listener, scrape, limits, stop).await {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            });
            api(state.clone())
        }
    };
    let task = tokio::spawn(async move {
        let stop = async {
            tokio::select! {
                _ = rx => {}
                () = serve::shutdown_signal() => {}
            }
        };
        let served = serve::serve(listener, router, limits, stop).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
        drop(metrics_stop);
        tasks.stop();
    });
    Ok(Server {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}
