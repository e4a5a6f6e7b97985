//! The IdP's background work, started with the server and stopped with it:
//! noticing key and revocation changes other processes made, feeding the
//! in-process validator, and the `--rotate-every` schedule.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::signing_keys::KeyManager;
use crate::state::AppState;

/// The running background tasks; dropping this does not stop them, [`stop`](Self::stop) does.
#[derive(Debug)]
pub struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    /// Starts every background task for `state`: key and revocation
    /// watchers polling every `poll`, the in-process validator's key feed,
    /// and scheduled rotation when `rotate_every` is set.
    pub fn start(state: &AppState, poll: Duration, rotate_every: Option<Duration>) -> Self {
        let mut tasks = vec![
            tokio::spawn(Arc::clone(state.keys()).watch(poll)),
            tokio::spawn(Arc::clone(state.revocations()).watch(poll)),
            tokio::spawn(sync_local_keys(state.clone())),
        ];
        if let Some(every) = rotate_every {
            tasks.push(tokio::spawn(scheduled_rotation(
                Arc::clone(state.keys()),
                every,
            )));
        }
        Self(tasks)
    }

    /// Stops them all.
    pub fn stop(self) {
        for task in self.0 {
            task.abort();
        }
    }
}

/// Keeps the in-process validator's keys in step with the key set.
async fn sync_local_keys(state: AppState) {
    let mut changes = state.keys().subscribe();
    while changes.changed().await.is_ok() {
        let ring = Arc::clone(&changes.borrow_and_update());
        if let Err(e) = state.local_keys().set_json(&ring.jwks_body) {
            tracing::error!(error = %e, "in-process validator rejected the key set");
        }
    }
}

/// Rotates every `every`, and prunes. Not forced: a schedule shorter than
/// the JWKS max-age would outrun validators' caches, so such a rotation is
/// skipped with a warning.
async fn scheduled_rotation(keys: Arc<KeyManager>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        match keys.rotate(false).await {
            Ok(plan) => tracing::info!(promoted = %plan.promote, "scheduled rotation done"),
            Err(e) => tracing::warn!(error = %e, "scheduled rotation skipped"),
        }
        if let Err(e) = keys.prune().await {
            tracing::warn!(error = %e, "scheduled prune failed");
        }
    }
}
