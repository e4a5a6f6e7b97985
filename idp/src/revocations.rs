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
//!
//! A deleted client, and a user disabled, deleted, signed out everywhere or
//! whose password changed, is published as a cut-off: every token of that
//! client (or subject) issued before a time is refused, but for the one
//! session a password change spares. The store records it in the same
//! transaction as the change ([`cutoff_for`] says when it falls); it stays
//! in the feed until every token it covers has expired, plus
//! [`CUTOFF_GRACE`].
//! Instances sharing a database notice each other's revocations through a
//! change counter, polled like the key set; the IdP's own bearer layer reads
//! the same set in-process.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use resource_server::{
    RevocationFeed, RevocationList, RevokedClient, RevokedSession, RevokedSubject, RevokedToken,
};

use crate::etag::strong_etag;
use crate::store::{CutoffKind, Store, StoreError};
use crate::unix_now;

/// How long past the expiry of the last token it covers a cut-off stays in
/// the feed: validators accept a token a little past `exp` (clock leeway).
pub const CUTOFF_GRACE: u64 = 60;

/// The cut-off for an event at `now`: tokens issued before the next second
/// are refused, so that one issued in the very second of the event is
/// caught too. (Tokens issued afterwards get an `iat` of at least this:
/// see `tokens`.)
pub fn cutoff_for(now: u64) -> u64 {
    now.saturating_add(1)
}

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
        let ttl = self.access_ttl;
        let cutoffs_since = now.saturating_sub(ttl.saturating_add(CUTOFF_GRACE));
        let (version, live, ended, cutoffs) = self
            .store
            .run(move |db| {
                let version = db.change_counter("revocations")?;
                let live = db.live_revocations(now)?;
                let ended = db.sessions_revoked_since(since)?;
                let cutoffs = db.cutoffs_since(cutoffs_since)?;
                Ok((version, live, ended, cutoffs))
            })
            .await?;
        let cutoff_exp = |before: u64| before.saturating_add(ttl).saturating_add(CUTOFF_GRACE);
        let mut clients = Vec::new();
        let mut subjects = Vec::new();
        for cutoff in cutoffs {
            let exp = cutoff_exp(cutoff.issued_before);
            match cutoff.kind {
                CutoffKind::Client => clients.push(RevokedClient {
                    client_id: cutoff.id,
                    before: cutoff.issued_before,
                    exp,
                }),
                CutoffKind::Subject => subjects.push(RevokedSubject {
                    sub: cutoff.id,
                    before: cutoff.issued_before,
                    exp,
                    except_sid: cutoff.except_sid,
                }),
            }
        }
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
        let feed = RevocationFeed {
            revoked,
            sessions,
            clients,
            subjects,
        };
        self.list.replace_feed(&feed);
        let next_expiry = feed
            .revoked
            .iter()
            .map(|r| r.exp)
            .chain(feed.sessions.iter().map(|s| s.exp))
            .chain(feed.clients.iter().map(|c| c.exp))
            .chain(feed.subjects.iter().map(|s| s.exp))
            .min();
        let body = serde_json::to_vec(&feed).unwrap_or_default();
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
