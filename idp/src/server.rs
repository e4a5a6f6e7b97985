//! The server's lifecycle: [`start`] opens the state, starts the
//! background tasks and serves the router on a listener until
//! [`Server::shutdown`] or a termination signal, then drains and stops.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::http::app;
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
    let router = app(state.clone());
    let limits = serve::ServeConfig {
        max_connections: config.max_connections,
        ..serve::ServeConfig::default()
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
        tasks.stop();
    });
    Ok(Server {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}
