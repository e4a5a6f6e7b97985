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
//!
//! Every revocation is appended to a log in the database (triggers on the
//! tables that record them), at a position that grows in commit order.
//! Each instance applies the log to its in-memory [`RevocationList`] from
//! its own position on, so publishing one revocation reads one row, and
//! builds the full feed body only when someone asks for it (cached until
//! the next change). Pollers hold a cursor (the database's epoch and a
//! position) and ask for what changed after it (`?since=`), so a poll
//! downloads the changes, not the whole feed. Instances sharing a database
//! notice each other's revocations by polling the log's head.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use resource_server::{
    FeedDocument, RevocationFeed, RevocationList, RevokedClient, RevokedSession, RevokedSubject,
    RevokedToken,
};

use crate::etag::strong_etag;
use crate::store::{LogEntry, LogKind, LogPage, Store, StoreError};
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

/// Log entries read per trip to the database when catching up.
const CATCH_UP_PAGE: u32 = 10_000;
/// The most entries one incremental answer carries; the poller gets the
/// rest at its next call.
pub const SINCE_PAGE: u32 = 10_000;

/// Why `?since=` could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not a cursor this feed hands out.
    #[error("since is not a cursor of this feed")]
    Malformed,
    /// Entries after it were purged, or it is from another database.
    #[error("the cursor can no longer be answered incrementally")]
    CursorExpired,
    /// The database did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The document could not be written.
    #[error("the feed could not be serialized: {0}")]
    Serialize(serde_json::Error),
}

/// The serialized full feed.
#[derive(Debug)]
pub struct FeedSnapshot {
    /// JSON body.
    pub body: Bytes,
    /// Strong ETag of the body.
    pub etag: http::HeaderValue,
    /// Earliest `exp` in the feed: when it must be rebuilt at the latest.
    next_expiry: Option<u64>,
}

/// A position in one database's revocation log, as pollers hold it:
/// `<epoch>-<position>`, the epoch naming the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The log's epoch.
    pub epoch: String,
    /// The last position reflected.
    pub position: i64,
}

impl Cursor {
    /// Reads a cursor a poller sent; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (epoch, position) = text.split_once('-')?;
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        let digits = !position.is_empty()
            && position.len() <= 19
            && position.chars().all(|c| c.is_ascii_digit());
        if epoch.len() != 16 || !epoch.chars().all(hex) || !digits {
            return None;
        }
        Some(Self {
            epoch: epoch.to_owned(),
            position: position.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.epoch, self.position)
    }
}

/// Revocations of this instance, kept in step with the database.
#[derive(Debug)]
pub struct Revocations {
    store: Store,
    /// How long an ended session stays in the feed: its last access token
    /// was issued before it ended, so it expires within this.
    access_ttl: u64,
    list: RevocationList,
    /// Where this instance's list stands in the log. Catching up and
    /// building the body take turns on it, so a body always matches its
    /// cursor.
    applied: tokio::sync::Mutex<Cursor>,
    /// The full body, built on demand; `None` after a change.
    full: ArcSwapOption<FeedSnapshot>,
    /// Log entries read from the database so far (for tests and metrics).
    entries_read: AtomicU64,
}

impl Revocations {
    /// Loads the live revocations, for access tokens living `access_ttl`
    /// seconds.
    pub async fn load(store: Store, access_ttl: u64) -> Result<Self, StoreError> {
        let page = store.run(|db| db.revocations_after(None, u32::MAX)).await?;
        let this = Self {
            store,
            access_ttl,
            list: RevocationList::new(),
            applied: tokio::sync::Mutex::new(Cursor {
                epoch: page.head.epoch.clone(),
                position: page.head.position,
            }),
            full: ArcSwapOption::empty(),
            entries_read: AtomicU64::new(0),
        };
        this.count_read(&page);
        this.list.replace_feed(&this.feed_of(&page.entries));
        Ok(this)
    }

    /// The in-process list the IdP's own validator consults.
    pub fn list(&self) -> &RevocationList {
        &self.list
    }

    /// Log entries this instance has read from the database since it
    /// started: one more per revocation it learns of, whatever the feed's
    /// size.
    pub fn entries_read(&self) -> u64 {
        self.entries_read.load(Ordering::Relaxed)
    }

    /// The full feed, built now if something changed since it was last
    /// asked for.
    pub async fn feed(&self) -> Arc<FeedSnapshot> {
        let now = unix_now();
        if let Some(feed) = self.current_body(now) {
            return feed;
        }
        let applied = self.applied.lock().await;
        if let Some(feed) = self.current_body(now) {
            return feed;
        }
        let mut feed = self.list.to_feed();
        feed.revoked.retain(|e| e.exp > now);
        feed.sessions.retain(|e| e.exp > now);
        feed.clients.retain(|e| e.exp > now);
        feed.subjects.retain(|e| e.exp > now);
        let next_expiry = feed
            .revoked
            .iter()
            .map(|r| r.exp)
            .chain(feed.sessions.iter().map(|s| s.exp))
            .chain(feed.clients.iter().map(|c| c.exp))
            .chain(feed.subjects.iter().map(|s| s.exp))
            .min();
        let document = FeedDocument {
            feed,
            cursor: Some(applied.to_string()),
        };
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let snapshot = Arc::new(FeedSnapshot {
            etag: strong_etag(&body),
            body: body.into(),
            next_expiry,
        });
        self.full.store(Some(Arc::clone(&snapshot)));
        snapshot
    }

    fn current_body(&self, now: u64) -> Option<Arc<FeedSnapshot>> {
        self.full
            .load_full()
            .filter(|feed| feed.next_expiry.is_none_or(|exp| exp > now))
    }

    /// What was recorded after `since` (a cursor a poller holds), as a
    /// feed document with the cursor for its next call: at most
    /// [`SINCE_PAGE`] entries, read from the database (so any instance
    /// answers any cursor of its database). `400 invalid_request` for a
    /// malformed cursor; `410 cursor_expired` when entries after it were
    /// purged or it is from another database.
    pub async fn since(&self, since: &str) -> Result<Bytes, FeedError> {
        let cursor = Cursor::parse(since).ok_or(FeedError::Malformed)?;
        let after = cursor.position;
        let page = self
            .store
            .run(move |db| db.revocations_after(Some(after), SINCE_PAGE))
            .await?;
        let head = &page.head;
        if cursor.epoch != head.epoch || after > head.position || after < head.purged_through {
            return Err(FeedError::CursorExpired);
        }
        let next = Cursor {
            epoch: cursor.epoch,
            position: next_position(&page, SINCE_PAGE),
        };
        let document = FeedDocument {
            feed: self.feed_of(&page.entries),
            cursor: Some(next.to_string()),
        };
        let mut value = serde_json::to_value(&document).map_err(FeedError::Serialize)?;
        // Members are left out when empty, `revoked` too: an incremental
        // answer is new, so no old poller reads it.
        if document.feed.revoked.is_empty() {
            if let Some(object) = value.as_object_mut() {
                object.remove("revoked");
            }
        }
        Ok(serde_json::to_vec(&value)
            .map_err(FeedError::Serialize)?
            .into())
    }

    /// Revokes an access token until its expiry: durable first, then visible
    /// here at once and in the feed.
    pub async fn revoke(&self, jti: String, exp: u64) -> Result<(), StoreError> {
        let now = unix_now();
        self.store
            .run(move |db| db.revoke_access_token(&jti, exp, now))
            .await?;
        self.catch_up().await
    }

    /// Ends a login session: its refresh token stops working, and every
    /// access token carrying its `sid` is refused here at once and by
    /// resource servers at their next poll.
    pub async fn end_session(&self, session: String) -> Result<(), StoreError> {
        let now = unix_now();
        self.store
            .run(move |db| db.revoke_family(&session, now))
            .await?;
        self.catch_up().await
    }

    /// Applies what this or another process recorded since the last call
    /// (the log after this instance's position), and drops expired entries
    /// once a minute.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut applied = self.applied.lock().await;
        let mut changed = false;
        loop {
            let after = applied.position;
            let page = self
                .store
                .run(move |db| db.revocations_after(Some(after), CATCH_UP_PAGE))
                .await?;
            self.count_read(&page);
            if page.head.epoch != applied.epoch {
                // Another database behind the same URL: start over.
                let all = self
                    .store
                    .run(|db| db.revocations_after(None, u32::MAX))
                    .await?;
                self.count_read(&all);
                self.list.replace_feed(&self.feed_of(&all.entries));
                *applied = Cursor {
                    epoch: all.head.epoch.clone(),
                    position: all.head.position,
                };
                changed = true;
                break;
            }
            if !page.entries.is_empty() {
                self.list.apply_changes(&self.feed_of(&page.entries));
                changed = true;
            }
            applied.position = next_position(&page, CATCH_UP_PAGE);
            if page.entries.len() < CATCH_UP_PAGE as usize {
                break;
            }
        }
        self.list.prune_if_due();
        if changed {
            self.full.store(None);
        }
        Ok(())
    }

    fn count_read(&self, page: &LogPage) {
        self.entries_read
            .fetch_add(page.entries.len() as u64, Ordering::Relaxed);
    }

    /// The feed entries log entries stand for, in log order.
    fn feed_of(&self, entries: &[LogEntry]) -> RevocationFeed {
        let ttl = self.access_ttl;
        let cutoff_exp = |before: u64| before.saturating_add(ttl).saturating_add(CUTOFF_GRACE);
        let mut feed = RevocationFeed::default();
        for entry in entries {
            let id = entry.id.clone();
            match entry.kind {
                LogKind::Token => feed.revoked.push(RevokedToken {
                    jti: id,
                    exp: entry.at,
                }),
                LogKind::Session => feed.sessions.push(RevokedSession {
                    sid: id,
                    exp: entry.at.saturating_add(ttl),
                }),
                LogKind::Client => feed.clients.push(RevokedClient {
                    client_id: id,
                    before: entry.at,
                    exp: cutoff_exp(entry.at),
                }),
                LogKind::Subject => feed.subjects.push(RevokedSubject {
                    sub: id,
                    before: entry.at,
                    exp: cutoff_exp(entry.at),
                    except_sid: entry.except_sid.clone(),
                }),
            }
        }
        feed
    }

    /// Keeps the set in step with the database, every `interval`.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "refreshing revocations failed; keeping the current set");
            }
        }
    }
}

/// The position a page brings its reader to: the head, or the last entry
/// when the page was cut at `limit`.
fn next_position(page: &LogPage, limit: u32) -> i64 {
    match page.entries.last() {
        Some(last) if page.entries.len() >= limit as usize => last.position,
        _ => page.head.position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_malformed_ones_are_refused() {
        let cursor = Cursor::parse("0123456789abcdef-42").expect("cursor");
        assert_eq!(cursor.position, 42);
        assert_eq!(cursor.to_string(), "0123456789abcdef-42");
        for bad in [
            "",
            "42",
            "0123456789abcdef-",
            "0123456789abcdef--1",
            "0123456789ABCDEF-1",
            "0123456789abcde-1",
            "0123456789abcdef-99999999999999999999",
            "0123456789abcdef-1x",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
