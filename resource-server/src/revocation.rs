//! Revoked access tokens, by `jti`, and revoked login sessions, by `sid`.
//!
//! Signed tokens stay valid until they expire; revocation is how a logout or
//! an RFC 7009 `/revoke` takes effect sooner. The IdP publishes the `jti`s of
//! revoked, not yet expired access tokens at `GET {issuer}/revocations`,
//! and the `sid`s of ended sessions (a logout, or a refresh token replayed),
//! whose every access token is then refused:
//!
//! ```json
//! {"revoked": [{"jti": "…", "exp": 1234567890}],
//!  "sessions": [{"sid": "…", "exp": 1234567890}]}
//! ```
//!
//! where `exp` is when the last token concerned expires, after which the
//! entry leaves the feed (the token is refused as expired anyway). A [`RevocationList`] holds
//! the set; the validator consults it on every request, cached or not.
//! Two ways fill it:
//!
//! * a [`RevocationPoller`] fetches the feed every few seconds and swaps in
//!   the new set, keeping the last good one when a fetch fails;
//! * the IdP, in-process, calls [`RevocationList::insert`] or
//!   [`RevocationList::replace`].
//!
//! Reads are lock-free (an `ArcSwap` snapshot); writes copy the set, which
//! stays small because entries leave it when their tokens expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::Error;
use crate::fetch;

/// Default interval between two polls of the feed.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The largest feed read.
pub const DEFAULT_MAX_FEED_BYTES: usize = 8 * 1024 * 1024;
/// Entries are dropped by [`RevocationList::insert`] this long after their
/// token expired, leaving room for clock skew.
pub const PRUNE_GRACE: Duration = Duration::from_secs(300);
/// The longest `jti` or `sid` kept from the feed.
const MAX_ID_LEN: usize = 512;

/// One revoked token in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`, Unix seconds.
    pub exp: u64,
}

/// One ended login session in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSession {
    /// The session id, the `sid` claim of its tokens.
    pub sid: String,
    /// When the last access token of the session expires, Unix seconds.
    pub exp: u64,
}

/// The feed document served at `GET {issuer}/revocations`. The IdP can
/// serialize this very type to stay in step with the poller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Revoked tokens that have not expired yet.
    pub revoked: Vec<RevokedToken>,
    /// Ended sessions whose tokens have not all expired yet (absent from
    /// feeds of IdPs that do not revoke by session).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<RevokedSession>,
}

/// `id` -> `exp`, for tokens and for sessions.
type Entries = HashMap<Box<str>, u64>;

#[derive(Debug, Default, Clone)]
struct Sets {
    tokens: Entries,
    sessions: Entries,
}

#[derive(Default)]
struct Inner {
    revoked: ArcSwap<Sets>,
    writer: Mutex<()>,
    /// Pollers watch this; it closes when the last list handle is dropped.
    alive: Mutex<Option<watch::Sender<()>>>,
}

/// The set of revoked `jti`s. Cheap to clone; clones share the set.
///
/// ```
/// use resource_server::RevocationList;
///
/// let revocations = RevocationList::new();
/// revocations.insert("token-id-1", 1_900_000_000);
/// assert!(revocations.is_revoked("token-id-1"));
/// assert!(!revocations.is_revoked("token-id-2"));
/// ```
#[derive(Clone, Default)]
pub struct RevocationList {
    inner: Arc<Inner>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the token with this `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.inner.revoked.load().tokens.contains_key(jti)
    }

    /// Whether the session with this `sid` was ended.
    pub fn is_session_revoked(&self, sid: &str) -> bool {
        self.inner.revoked.load().sessions.contains_key(sid)
    }

    /// How many revocations (tokens and sessions) are held.
    pub fn len(&self) -> usize {
        let sets = self.inner.revoked.load();
        sets.tokens.len() + sets.sessions.len()
    }

    /// Whether no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Revokes the token `jti` expiring at `exp` (Unix seconds). Entries
    /// whose tokens expired more than [`PRUNE_GRACE`] ago are dropped on the
    /// way, so the list stays as small as the set of live revoked tokens.
    pub fn insert(&self, jti: impl Into<String>, exp: u64) {
        let jti: Box<str> = jti.into().into_boxed_str();
        let cutoff = crate::unix_now().saturating_sub(PRUNE_GRACE.as_secs());
        self.update(|current| {
            let mut next = pruned(current, cutoff);
            next.tokens.insert(jti, exp);
            next
        });
    }

    /// Ends the session `sid`: every token carrying it is refused. `exp` is
    /// when the last of them expires.
    pub fn insert_session(&self, sid: impl Into<String>, exp: u64) {
        let sid: Box<str> = sid.into().into_boxed_str();
        let cutoff = crate::unix_now().saturating_sub(PRUNE_GRACE.as_secs());
        self.update(|current| {
            let mut next = pruned(current, cutoff);
            next.sessions.insert(sid, exp);
            next
        });
    }

    /// Replaces the revoked tokens, e.g. with the IdP's current revocations;
    /// revoked sessions are kept.
    pub fn replace(&self, entries: impl IntoIterator<Item = (String, u64)>) {
        let tokens = collect(entries);
        self.update(|current| Sets {
            tokens,
            sessions: current.sessions.clone(),
        });
    }

    /// Replaces both sets at once, e.g. with a fetched feed.
    pub fn replace_all(
        &self,
        tokens: impl IntoIterator<Item = (String, u64)>,
        sessions: impl IntoIterator<Item = (String, u64)>,
    ) {
        let next = Sets {
            tokens: collect(tokens),
            sessions: collect(sessions),
        };
        self.update(|_| next);
    }

    /// Drops entries whose tokens all expired before `now` (Unix seconds).
    pub fn prune(&self, now: u64) {
        self.update(|current| pruned(current, now));
    }

    fn update(&self, f: impl FnOnce(&Sets) -> Sets) {
        let _writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = f(&self.inner.revoked.load());
        self.inner.revoked.store(Arc::new(next));
    }

    fn alive(&self) -> watch::Receiver<()> {
        let mut alive = self.inner.alive.lock().unwrap_or_else(|p| p.into_inner());
        alive
            .get_or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }
}

fn collect(entries: impl IntoIterator<Item = (String, u64)>) -> Entries {
    entries
        .into_iter()
        .map(|(id, exp)| (id.into_boxed_str(), exp))
        .collect()
}

/// The entries of `sets` still relevant at `cutoff`.
fn pruned(sets: &Sets, cutoff: u64) -> Sets {
    let keep = |entries: &Entries| -> Entries {
        entries
            .iter()
            .filter(|(_, &exp)| exp >= cutoff)
            .map(|(id, exp)| (id.clone(), *exp))
            .collect()
    };
    Sets {
        tokens: keep(&sets.tokens),
        sessions: keep(&sets.sessions),
    }
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("len", &self.len())
            .finish()
    }
}

/// Polls the IdP's revocation feed into a [`RevocationList`].
///
/// ```no_run
/// use std::time::Duration;
/// use resource_server::{RevocationList, RevocationPoller};
///
/// # fn example() -> Result<(), resource_server::Error> {
/// let revocations = RevocationList::new();
/// let _poller = RevocationPoller::builder("https://idp.example.com/revocations")
///     .interval(Duration::from_secs(5))
///     .spawn(&revocations)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RevocationPoller {
    task: tokio::task::JoinHandle<()>,
}

impl RevocationPoller {
    /// Configure a poller of the feed at `url`.
    pub fn builder(url: impl Into<String>) -> RevocationPollerBuilder {
        RevocationPollerBuilder {
            url: url.into(),
            interval: DEFAULT_POLL_INTERVAL,
            timeout: None,
            max_bytes: DEFAULT_MAX_FEED_BYTES,
            client: None,
        }
    }

    /// Stops polling. Dropping the poller does not stop it: polling ends by
    /// itself when the last handle of its list is dropped.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Configures a [`RevocationPoller`].
#[derive(Debug)]
#[must_use = "call .spawn(&list) to start polling"]
pub struct RevocationPollerBuilder {
    url: String,
    interval: Duration,
    timeout: Option<Duration>,
    max_bytes: usize,
    client: Option<reqwest::Client>,
}

impl RevocationPollerBuilder {
    /// Time between two polls (default [`DEFAULT_POLL_INTERVAL`]).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Duration::from_millis(10), Duration::from_secs(86_400));
        self
    }

    /// Timeout of one fetch (default: the interval, at most 5 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout.min(Duration::from_secs(3600)));
        self
    }

    /// The largest feed read (default [`DEFAULT_MAX_FEED_BYTES`]).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_bytes = limit;
        self
    }

    /// Use this HTTP client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Starts polling into `list` on the current Tokio runtime; the first
    /// poll happens at once. Fails only on a bad URL or a missing runtime.
    pub fn spawn(self, list: &RevocationList) -> Result<RevocationPoller, Error> {
        let url = fetch::parse_url(&self.url)?;
        let timeout = self
            .timeout
            .unwrap_or_else(|| self.interval.min(Duration::from_secs(5)));
        let client = match self.client {
            Some(client) => client,
            None => fetch::default_client(timeout)?,
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let weak: Weak<Inner> = Arc::downgrade(&list.inner);
        let mut alive = list.alive();
        let (interval, max_bytes) = (self.interval, self.max_bytes);
        let task = runtime.spawn(async move {
            let mut etag: Option<String> = None;
            let mut failing = false;
            loop {
                let result = fetch::get(&client, &url, timeout, max_bytes, etag.as_deref()).await;
                let Some(inner) = weak.upgrade() else { return };
                let list = RevocationList { inner };
                match result.and_then(|fetched| apply_feed(&list, &url, fetched)) {
                    Ok(new_etag) => {
                        if failing {
                            tracing::info!(%url, "revocation feed recovered");
                        }
                        failing = false;
                        if new_etag.is_some() {
                            etag = new_etag;
                        }
                    }
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%error, "revocation feed fetch failed; keeping the last good list");
                        }
                        failing = true;
                        etag = None;
                    }
                }
                drop(list);
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = alive.changed() => return,
                }
            }
        });
        Ok(RevocationPoller { task })
    }
}

/// Applies one fetched feed; returns its `ETag`.
fn apply_feed(
    list: &RevocationList,
    url: &reqwest::Url,
    fetched: fetch::Fetched,
) -> Result<Option<String>, Error> {
    if fetched.not_modified {
        return Ok(fetched.etag);
    }
    let feed: RevocationFeed =
        serde_json::from_slice(&fetched.body).map_err(|e| Error::InvalidDocument {
            what: "revocation feed",
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let before = list.len();
    let usable = |id: &str| !id.is_empty() && id.len() <= MAX_ID_LEN;
    list.replace_all(
        feed.revoked
            .into_iter()
            .filter(|t| usable(&t.jti))
            .map(|t| (t.jti, t.exp)),
        feed.sessions
            .into_iter()
            .filter(|s| usable(&s.sid))
            .map(|s| (s.sid, s.exp)),
    );
    if list.len() != before {
        tracing::debug!(revoked = list.len(), "revocation list updated");
    }
    Ok(fetched.etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replace_prune() {
        let list = RevocationList::new();
        assert!(list.is_empty());
        let now = crate::unix_now();
        list.insert("a", now + 100);
        list.insert("b", now + 200);
        assert!(list.is_revoked("a") && list.is_revoked("b"));
        assert!(!list.is_revoked("c"));

        list.prune(now + 150);
        assert!(!list.is_revoked("a"));
        assert!(list.is_revoked("b"));

        list.replace([("c".to_owned(), now + 10)]);
        assert!(!list.is_revoked("b"));
        assert!(list.is_revoked("c"));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn sessions_are_revoked_apart_from_tokens() {
        let list = RevocationList::new();
        let now = crate::unix_now();
        list.insert_session("s-1", now + 100);
        assert!(list.is_session_revoked("s-1"));
        assert!(!list.is_revoked("s-1"), "a sid is not a jti");
        list.replace([("t-1".to_owned(), now + 100)]);
        assert!(
            list.is_session_revoked("s-1"),
            "replacing tokens keeps sessions"
        );
        list.replace_all([], [("s-2".to_owned(), now + 100)]);
        assert!(!list.is_session_revoked("s-1") && list.is_session_revoked("s-2"));
        assert!(!list.is_revoked("t-1"));
        list.prune(now + 101);
        assert!(list.is_empty());
    }

    #[test]
    fn a_feed_without_sessions_still_parses() {
        let feed: RevocationFeed =
            serde_json::from_str(r#"{"revoked":[{"jti":"a","exp":1}]}"#).expect("parses");
        assert!(feed.sessions.is_empty());
        assert_eq!(
            serde_json::to_string(&RevocationFeed::default()).expect("json"),
            r#"{"revoked":[]}"#
        );
    }

    #[test]
    fn insert_drops_long_expired_entries() {
        let list = RevocationList::new();
        list.replace([("old".to_owned(), 1), ("new".to_owned(), u64::MAX)]);
        list.insert("x", u64::MAX);
        assert!(!list.is_revoked("old"));
        assert!(list.is_revoked("new") && list.is_revoked("x"));
    }

    #[test]
    fn clones_share_the_list() {
        let list = RevocationList::new();
        let clone = list.clone();
        clone.insert("a", u64::MAX);
        assert!(list.is_revoked("a"));
    }

    #[test]
    fn feed_format_round_trips() {
        let feed: RevocationFeed =
            serde_json::from_str(r#"{"revoked":[{"jti":"j1","exp":1234567890}]}"#).expect("feed");
        assert_eq!(
            feed.revoked,
            [RevokedToken {
                jti: "j1".into(),
                exp: 1_234_567_890
            }]
        );
        assert_eq!(
            serde_json::to_string(&feed).expect("ser"),
            r#"{"revoked":[{"jti":"j1","exp":1234567890}]}"#
        );
    }
}
