//! Revoked access tokens and ended sessions, and the feed that carries them
//! to resource servers.
//!
//! Access tokens are validated locally everywhere, so revoking one means
//! telling every validator. The IdP records the token's `jti` with its `exp`
//! in the database and publishes the live entries at `GET /revocations`
//! (with an ETag, so pollers pay a 304 when nothing changed). Entries leave
//! the feed once their token would have expired anyway, which keeps it small.
//! A session ended by logout, by a replayed refresh token or by revoking a
//! refresh token is published too, by its id (the `sid` claim), for one
//! access-token lifetime after it ended: every token of that session is
//! then refused, not only the one that was presented.
//! Instances sharing a database notice each other's revocations through a
//! change counter, polled like the key set; the IdP's own bearer layer reads
//! the same set in-process.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use resource_server::{RevocationFeed, RevocationList, RevokedSession, RevokedToken};

use crate::etag::strong_etag;
use crate::store::{Store, StoreError};
use crate::unix_now;

/// The serialized feed.
#[derive(Debug)]
pub struct FeedSnapshot {
    /// JSON body.
    pub body: Bytes,
    /// Strong ETag of the body.
    pub etag: String,
    /// Earliest `exp` in the feed: when it must be rebuilt at the latest.
    next_expiry: Option<u64>,
    /// The change counter it reflects.
    version: i64,
}

/// Revocations of this instance, kept in step with the database.
#[derive(Debug)]
pub struct Revocations {
    store: Store,
    /// How long an ended session stays in the feed: its last access token
    /// was issued before it ended, so it expires within this.
    access_ttl: u64,
    list: RevocationList,
    feed: ArcSwap<FeedSnapshot>,
}

impl Revocations {
    /// Loads the live revocations, for access tokens living `access_ttl`
    /// seconds.
    pub async fn load(store: Store, access_ttl: u64) -> Result<Self, StoreError> {
        let this = Self {
            store,
            access_ttl,
            list: RevocationList::new(),
            feed: ArcSwap::from_pointee(FeedSnapshot {
                body: Bytes::new(),
                etag: String::new(),
                next_expiry: None,
                version: -1,
            }),
        };
        this.rebuild().await?;
        Ok(this)
    }

    /// The in-process list the IdP's own validator consults.
    pub fn list(&self) -> &RevocationList {
        &self.list
    }

    /// The current feed.
    pub fn feed(&self) -> Arc<FeedSnapshot> {
        self.feed.load_full()
    }

    /// Revokes an access token until its expiry: durable first, then visible
    /// here at once and in the feed.
    pub async fn revoke(&self, jti: String, exp: u64) -> Result<(), StoreError> {
        let now = unix_now();
        self.store
            .run(move |db| db.revoke_access_token(&jti, exp, now))
            .await?;
        // The rebuild reloads the list from the database, this token included.
        self.rebuild().await
    }

    /// Ends a login session: its refresh tokens stop working, and every
    /// access token carrying its `sid` is refused here at once and by
    /// resource servers at their next poll.
    pub async fn end_session(&self, session: String) -> Result<(), StoreError> {
        let now = unix_now();
        self.store
            .run(move |db| db.revoke_family(&session, now))
            .await?;
        self.rebuild().await
    }

    /// Rebuilds if another process revoked something or an entry expired.
    pub async fn refresh_if_stale(&self) -> Result<(), StoreError> {
        let version = self
            .store
            .run(|db| db.change_counter("revocations"))
            .await?;
        let feed = self.feed.load();
        let expired = feed.next_expiry.is_some_and(|exp| exp <= unix_now());
        if version != feed.version || expired {
            self.rebuild().await?;
        }
        Ok(())
    }

    async fn rebuild(&self) -> Result<(), StoreError> {
        let now = unix_now();
        let since = now.saturating_sub(self.access_ttl);
        // One trip to the database: the counter first, so a revocation
        // racing with this read is seen again at the next poll, not lost.
        let (version, live, ended) = self
            .store
            .run(move |db| {
                let version = db.change_counter("revocations")?;
                let live = db.live_revocations(now)?;
                let ended = db.sessions_revoked_since(since)?;
                Ok((version, live, ended))
            })
            .await?;
        let revoked: Vec<RevokedToken> = live
            .into_iter()
            .map(|r| RevokedToken {
                jti: r.jti,
                exp: r.exp,
            })
            .collect();
        let sessions: Vec<RevokedSession> = ended
            .into_iter()
            .map(|s| RevokedSession {
                sid: s.family_id,
                exp: s.revoked_at.saturating_add(self.access_ttl),
            })
            .collect();
        self.list.replace_all(
            revoked.iter().map(|r| (r.jti.clone(), r.exp)),
            sessions.iter().map(|s| (s.sid.clone(), s.exp)),
        );
        let next_expiry = revoked
            .iter()
            .map(|r| r.exp)
            .chain(sessions.iter().map(|s| s.exp))
            .min();
        let body = serde_json::to_vec(&RevocationFeed {
            revoked,
            sessions,
            ..RevocationFeed::default()
        })
        .unwrap_or_default();
        let etag = strong_etag(&body);
        self.feed.store(Arc::new(FeedSnapshot {
            body: body.into(),
            etag,
            next_expiry,
            version,
        }));
        Ok(())
    }

    /// Keeps the set in step with the database, every `interval`.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh_if_stale().await {
                tracing::warn!(error = %e, "refreshing revocations failed; keeping the current set");
            }
        }
    }
}
