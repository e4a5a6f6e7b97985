//! The IdP's background work, started with the server and stopped with it:
//! noticing key and revocation changes other processes made, feeding the
//! in-process validator, the `--rotate-every` schedule, and purging expired
//! rows in bounded batches.

use std::sync::Arc;
use std::time::Duration;

use keys::rotation::{RotationError, RotationTrigger};
use tokio::task::JoinHandle;

use crate::revocations::CUTOFF_GRACE;
use crate::signing_keys::{KeyManager, KeyManagerError};
use crate::state::AppState;
use crate::store::{Expiring, PurgeHorizon};
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
            tokio::spawn(purge_expired(state.clone(), PURGE_EVERY)),
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

/// How often expired rows are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per statement: each delete holds its locks briefly, so a
/// backlog never stalls the database.
pub const PURGE_BATCH: u32 = 1000;

/// Deletes expired rows of every kind on a schedule, a batch at a time.
/// Every instance may run it; deletes of one row by two instances are
/// harmless.
async fn purge_expired(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge_once(&state, unix_now()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed; retrying later"),
        }
    }
}

/// One purge pass at `now`: every kind of expired row, each in batches of
/// [`PURGE_BATCH`] until a batch comes back short; how many rows went.
pub async fn purge_once(state: &AppState, now: u64) -> Result<u64, crate::store::StoreError> {
    let horizon = purge_horizon(state.settings().access_ttl, now);
    let mut total = 0;
    for kind in Expiring::ALL {
        loop {
            let purged = state
                .store()
                .run(move |db| db.purge_expired(kind, &horizon, PURGE_BATCH))
                .await?;
            total += purged;
            if purged < u64::from(PURGE_BATCH) {
                break;
            }
            // Let other work in between batches.
            tokio::task::yield_now().await;
        }
    }
    Ok(total)
}

/// When each kind of row expires, for access tokens living `access_ttl`:
/// ended sessions and cut-offs are kept until every access token they
/// cover has expired, plus the grace validators allow.
pub fn purge_horizon(access_ttl: u64, now: u64) -> PurgeHorizon {
    PurgeHorizon {
        now,
        ended_before: now.saturating_sub(access_ttl.saturating_add(CUTOFF_GRACE)),
        trusted_since: now.saturating_sub(crate::throttle::TRUST_PERIOD),
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
