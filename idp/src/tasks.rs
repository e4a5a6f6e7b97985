//! The IdP's background work, started with the server and stopped with it:
//! noticing key and revocation changes other processes made, feeding the
//! in-process validator, and the `--rotate-every` schedule.

use std::sync::Arc;
use std::time::Duration;

use keys::rotation::{RotationError, RotationTrigger};
use tokio::task::JoinHandle;

use crate::signing_keys::{KeyManager, KeyManagerError};
use crate::state::AppState;
use crate::unix_now;

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
                poll,
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

/// Rotates once the current key has been signing for `every`, and prunes.
///
/// The schedule is read from the database (when the current key was
/// activated), not from this process's start, so restarting an instance
/// neither skips nor repeats a rotation. Every instance sharing the
/// database runs this; the store decides under its lock, so of instances
/// finding a rotation due at once one rotates and the others find it done.
/// Never forced: a rotation refused because the next key is too young for
/// validators' caches waits and is tried again a minute later.
async fn scheduled_rotation(keys: Arc<KeyManager>, every: Duration, poll: Duration) {
    let period = every.as_secs();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet_until = tokio::time::Instant::now();
    let mut next_prune = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        if now >= next_prune {
            next_prune = now + PRUNE_EVERY;
            if let Err(e) = keys.prune().await {
                tracing::warn!(error = %e, "scheduled prune failed");
            }
        }
        if now < quiet_until || !rotation_due(&keys, period) {
            continue;
        }
        // Another instance may have rotated since the last poll: look at
        // the database before paying for a new key.
        if let Err(e) = keys.reload_if_changed().await {
            tracing::warn!(error = %e, "checking the key set failed");
            continue;
        }
        if !rotation_due(&keys, period) {
            continue;
        }
        match keys
            .rotate(RotationTrigger::Scheduled { every: period })
            .await
        {
            Ok(plan) => tracing::info!(promoted = %plan.promote, "scheduled rotation done"),
            Err(KeyManagerError::Rotation(RotationError::NotDue { .. })) => {
                tracing::debug!("another instance did the scheduled rotation");
            }
            Err(e) => {
                tracing::warn!(error = %e, "scheduled rotation refused; retrying in a minute");
                quiet_until = tokio::time::Instant::now() + RETRY_REFUSED;
            }
        }
    }
}

/// How often the schedule prunes retired keys past their grace period.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a refused scheduled rotation waits before it is tried again.
const RETRY_REFUSED: Duration = Duration::from_secs(60);

/// Whether the key set this process holds says a rotation is due.
fn rotation_due(keys: &KeyManager, period: u64) -> bool {
    keys.ring()
        .rotation_due_at(period)
        .is_none_or(|due| due <= unix_now())
}
