//! Revoked access tokens, by `jti`; revoked login sessions, by `sid`; and
//! every token of a client or of a user issued before a point in time.
//!
//! Signed tokens stay valid until they expire; revocation is how a logout,
//! an RFC 7009 `/revoke`, a deleted client or a disabled user takes effect
//! sooner. The IdP publishes at `GET {issuer}/revocations`:
//!
//! ```json
//! {"revoked":  [{"jti": "…", "exp": 1234567890}],
//!  "sessions": [{"sid": "…", "exp": 1234567890}],
//!  "clients":  [{"client_id": "…", "before": 1234567000, "exp": 1234567990}],
//!  "subjects": [{"sub": "…", "before": 1234567000, "exp": 1234567990,
//!                "except_sid": "…"}]}
//! ```
//!
//! * `revoked`: one token, by its `jti`;
//! * `sessions`: every token carrying this `sid` (a logout, a replayed
//!   refresh token);
//! * `clients`: every token whose `client_id` is this one and whose `iat` is
//!   before `before` (the client was deleted);
//! * `subjects`: every token whose `sub` is this one and whose `iat` is
//!   before `before` (the user was disabled or deleted, changed or reset
//!   their password, or was signed out everywhere), except tokens of the
//!   session `except_sid` when it is given (the session that changed the
//!   password goes on).
//!
//! `exp` is when the last token concerned expires, after which the entry
//! leaves the feed (the token is refused as expired anyway). `clients` and
//! `subjects` are optional members: a feed without them parses, and a
//! poller that does not know them ignores them. A [`RevocationList`] holds
//! the set; the validator consults it on every request, cached or not.
//! Two ways fill it:
//!
//! * a [`RevocationPoller`] fetches the whole feed once, then every few
//!   seconds only what changed since the feed's `cursor`
//!   (`?since=<cursor>`, see [`FeedDocument`]), fetching the whole feed
//!   again when the IdP answers `410 Gone` or serves no cursor (an older
//!   IdP, polled in full with its ETag as before); it keeps the last good
//!   set when a fetch fails, and records
//!   when the list was last known to be current
//!   ([`RevocationList::staleness`]), so that a validator built with
//!   [`revocation_max_staleness`](crate::ValidatorBuilder::revocation_max_staleness)
//!   can fail closed when the feed has been unreachable too long;
//! * the IdP, in-process, calls [`RevocationList::insert`],
//!   [`RevocationList::replace`], [`RevocationList::replace_feed`] or
//!   [`RevocationList::apply_changes`].
//!
//! Reads are lock-free (an `ArcSwap` snapshot). The sets are persistent
//! maps (`imbl`): the next snapshot shares every unchanged entry with the
//! one validations are reading, so a write costs O(log n) whatever the
//! list's size, not a copy of it. Entries whose tokens expired leave the
//! list at most once a minute, on the next write (or [`RevocationList::prune`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::claims::Claims;
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

/// Every token of one client issued before a time: the client was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedClient {
    /// The `client_id` of the tokens.
    pub client_id: String,
    /// Tokens whose `iat` is before this (Unix seconds) are refused.
    pub before: u64,
    /// When the last token concerned expires, Unix seconds.
    pub exp: u64,
}

/// Every token of one subject issued before a time: the user was disabled
/// or deleted, their password changed or was reset, or they were signed out
/// everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSubject {
    /// The `sub` of the tokens.
    pub sub: String,
    /// Tokens whose `iat` is before this (Unix seconds) are refused.
    pub before: u64,
    /// When the last token concerned expires, Unix seconds.
    pub exp: u64,
    /// Tokens of this session (`sid`) are spared: the session that changed
    /// the password goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_sid: Option<String>,
}

/// The feed document served at `GET {issuer}/revocations`. The IdP can
/// serialize this very type to stay in step with the poller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Revoked tokens that have not expired yet (absent from an
    /// incremental answer that has none).
    #[serde(default)]
    pub revoked: Vec<RevokedToken>,
    /// Ended sessions whose tokens have not all expired yet (absent from
    /// feeds of IdPs that do not revoke by session).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<RevokedSession>,
    /// Deleted clients whose tokens have not all expired yet (absent from
    /// feeds of IdPs that do not revoke by client).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<RevokedClient>,
    /// Subjects whose earlier tokens are refused, while those have not all
    /// expired (absent from feeds of IdPs that do not revoke by subject).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<RevokedSubject>,
}

/// The feed as served: a [`RevocationFeed`] and the position it reflects.
///
/// `GET /revocations` answers every live entry and a `cursor`;
/// `GET /revocations?since=<cursor>` answers only what was recorded after
/// that cursor (members left out when empty) and the `cursor` for the next
/// call, or `410 Gone` when the IdP can no longer answer from there (then
/// fetch the full feed again). An IdP without cursors serves no `cursor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDocument {
    /// The entries.
    #[serde(flatten)]
    pub feed: RevocationFeed,
    /// Opaque: where the next incremental call starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Why the list refuses a token (defined beside the other refusal reasons).
pub use crate::error::Refusal;

/// How often writes, and pollers, drop entries whose tokens expired, in
/// seconds: pruning visits every entry, so it is not done on every write.
const PRUNE_EVERY: u64 = 60;

/// `id` -> `exp`, for tokens and for sessions. Keys are shared, so the
/// nodes a write copies copy pointers, not strings.
type Entries = imbl::HashMap<Arc<str>, u64>;

/// A cut-off: tokens issued before `before` are refused, except those of
/// the session `except_sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cutoff {
    before: u64,
    exp: u64,
    except_sid: Option<Arc<str>>,
}

/// `id` -> cut-off, for clients and for subjects.
type Cutoffs = imbl::HashMap<Arc<str>, Cutoff>;

#[derive(Debug, Default, Clone)]
struct Sets {
    tokens: Entries,
    sessions: Entries,
    clients: Cutoffs,
    subjects: Cutoffs,
}

#[derive(Default)]
struct Inner {
    revoked: ArcSwap<Sets>,
    /// Held by writers; the Unix time at which a write next prunes.
    writer: Mutex<u64>,
    /// Pollers watch this; it closes when the last list handle is dropped.
    alive: Mutex<Option<watch::Sender<()>>>,
    /// When a poller started feeding this list, Unix seconds; 0 while none
    /// has (the list is then filled in-process and never stale).
    watched_since: AtomicU64,
    /// When a fetch last confirmed the list current, Unix seconds; 0 never.
    confirmed_at: AtomicU64,
}

/// The set of revocations. Cheap to clone; clones share the set.
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

    /// Tokens of `client_id` issued before this time (Unix seconds) are
    /// refused, if such a cut-off is held.
    pub fn client_cutoff(&self, client_id: &str) -> Option<u64> {
        self.inner
            .revoked
            .load()
            .clients
            .get(client_id)
            .map(|c| c.before)
    }

    /// Tokens of `sub` issued before this time (Unix seconds) are refused
    /// (but those of its excepted session), if such a cut-off is held.
    pub fn subject_cutoff(&self, sub: &str) -> Option<u64> {
        self.inner
            .revoked
            .load()
            .subjects
            .get(sub)
            .map(|c| c.before)
    }

    /// Why the token with these claims is refused, if it is: its `jti`,
    /// its session, its client (when it names one) or its subject. A token
    /// without `iat` counts as issued before any cut-off.
    pub fn refusal<T>(&self, claims: &Claims<T>) -> Option<Refusal> {
        let sets = self.inner.revoked.load();
        let sid = claims.sid.as_deref();
        let iat = claims.iat.unwrap_or(0);
        if claims
            .jti
            .as_deref()
            .is_some_and(|jti| !jti.is_empty() && sets.tokens.contains_key(jti))
        {
            return Some(Refusal::Token);
        }
        if sid.is_some_and(|sid| sets.sessions.contains_key(sid)) {
            return Some(Refusal::Session);
        }
        let client = claims.client_id.as_deref().filter(|c| !c.is_empty());
        if client
            .and_then(|c| sets.clients.get(c))
            .is_some_and(|cut| cut.refuses(iat, sid))
        {
            return Some(Refusal::Client);
        }
        if sets
            .subjects
            .get(claims.sub.as_str())
            .is_some_and(|cut| cut.refuses(iat, sid))
        {
            return Some(Refusal::Subject);
        }
        None
    }

    /// How many revocations (tokens, sessions, clients, subjects) are held.
    pub fn len(&self) -> usize {
        let sets = self.inner.revoked.load();
        sets.tokens.len() + sets.sessions.len() + sets.clients.len() + sets.subjects.len()
    }

    /// How long ago a poller last confirmed this list current, at `now`
    /// (Unix seconds): since its last successful fetch, or since it started
    /// when no fetch has succeeded yet. `None` when no poller feeds the list
    /// (the IdP fills its own in-process, and it is never stale).
    pub fn staleness(&self, now: u64) -> Option<Duration> {
        let since = self.inner.watched_since.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let confirmed = self.inner.confirmed_at.load(Ordering::Acquire);
        Some(Duration::from_secs(
            now.saturating_sub(since.max(confirmed)),
        ))
    }

    /// Records that the list is current as of `now` (Unix seconds): a fetch
    /// of the feed succeeded.
    pub fn confirm_current(&self, now: u64) {
        self.inner.confirmed_at.fetch_max(now, Ordering::AcqRel);
    }

    /// Marks the list as fed by a poller from `now` on, so that its
    /// staleness counts.
    pub(crate) fn watched_from(&self, now: u64) {
        let _ = self.inner.watched_since.compare_exchange(
            0,
            now.max(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Revokes the token `jti` expiring at `exp` (Unix seconds). Entries
    /// whose tokens expired more than [`PRUNE_GRACE`] ago are dropped on the
    /// way (at most once a minute), so the list stays as small as the set
    /// of live revoked tokens.
    pub fn insert(&self, jti: impl Into<String>, exp: u64) {
        let jti: Arc<str> = jti.into().into();
        self.update(|next| {
            next.tokens.insert(jti, exp);
        });
    }

    /// Ends the session `sid`: every token carrying it is refused. `exp` is
    /// when the last of them expires.
    pub fn insert_session(&self, sid: impl Into<String>, exp: u64) {
        let sid: Arc<str> = sid.into().into();
        self.update(|next| {
            next.sessions.insert(sid, exp);
        });
    }

    /// Refuses every token of `client_id` issued before `before` (Unix
    /// seconds); `exp` is when the last of them expires.
    pub fn insert_client_cutoff(&self, client_id: impl Into<String>, before: u64, exp: u64) {
        let id: Arc<str> = client_id.into().into();
        let cutoff = Cutoff {
            before,
            exp,
            except_sid: None,
        };
        self.update(|next| {
            next.clients.insert(id, cutoff);
        });
    }

    /// Refuses every token of `sub` issued before `before` (Unix seconds),
    /// except those of the session `except_sid`; `exp` is when the last of
    /// them expires.
    pub fn insert_subject_cutoff(
        &self,
        sub: impl Into<String>,
        before: u64,
        exp: u64,
        except_sid: Option<String>,
    ) {
        let id: Arc<str> = sub.into().into();
        let cutoff = Cutoff {
            before,
            exp,
            except_sid: except_sid.map(Arc::from),
        };
        self.update(|next| {
            next.subjects.insert(id, cutoff);
        });
    }

    /// Replaces the revoked tokens, e.g. with the IdP's current revocations;
    /// everything else is kept.
    pub fn replace(&self, entries: impl IntoIterator<Item = (String, u64)>) {
        let tokens = collect(entries);
        self.update(|next| next.tokens = tokens);
    }

    /// Replaces the revoked tokens and sessions at once; the client and
    /// subject cut-offs are kept (see [`replace_feed`](Self::replace_feed)
    /// to replace everything).
    pub fn replace_all(
        &self,
        tokens: impl IntoIterator<Item = (String, u64)>,
        sessions: impl IntoIterator<Item = (String, u64)>,
    ) {
        let (tokens, sessions) = (collect(tokens), collect(sessions));
        self.update(|next| {
            next.tokens = tokens;
            next.sessions = sessions;
        });
    }

    /// Replaces everything with what `feed` says, e.g. a fetched feed or the
    /// IdP's own. Entries with an empty or overlong id are skipped.
    pub fn replace_feed(&self, feed: &RevocationFeed) {
        let replacement = sets_of(feed);
        self.update(|next| *next = replacement);
    }

    /// Adds what `changes` says to the list, in order, each entry replacing
    /// one of the same id: an incremental answer of the feed, or the IdP's
    /// own changes. Entries long expired are dropped on the way (at most
    /// once a minute), as [`insert`](Self::insert) does; entries with an empty or overlong id
    /// are skipped.
    pub fn apply_changes(&self, changes: &RevocationFeed) {
        let added = sets_of(changes);
        self.update(|next| {
            next.tokens.extend(added.tokens);
            next.sessions.extend(added.sessions);
            next.clients.extend(added.clients);
            next.subjects.extend(added.subjects);
        });
    }

    /// Everything held, as a feed document would list it: each member
    /// ordered by `exp`, then id.
    pub fn to_feed(&self) -> RevocationFeed {
        let sets = self.inner.revoked.load();
        let mut feed = RevocationFeed {
            revoked: sets
                .tokens
                .iter()
                .map(|(jti, &exp)| RevokedToken {
                    jti: jti.to_string(),
                    exp,
                })
                .collect(),
            sessions: sets
                .sessions
                .iter()
                .map(|(sid, &exp)| RevokedSession {
                    sid: sid.to_string(),
                    exp,
                })
                .collect(),
            clients: sets
                .clients
                .iter()
                .map(|(id, c)| RevokedClient {
                    client_id: id.to_string(),
                    before: c.before,
                    exp: c.exp,
                })
                .collect(),
            subjects: sets
                .subjects
                .iter()
                .map(|(id, c)| RevokedSubject {
                    sub: id.to_string(),
                    before: c.before,
                    exp: c.exp,
                    except_sid: c.except_sid.as_deref().map(str::to_owned),
                })
                .collect(),
        };
        feed.revoked
            .sort_by(|a, b| (a.exp, &a.jti).cmp(&(b.exp, &b.jti)));
        feed.sessions
            .sort_by(|a, b| (a.exp, &a.sid).cmp(&(b.exp, &b.sid)));
        feed.clients
            .sort_by(|a, b| (a.exp, &a.client_id).cmp(&(b.exp, &b.client_id)));
        feed.subjects
            .sort_by(|a, b| (a.exp, &a.sub).cmp(&(b.exp, &b.sub)));
        feed
    }

    /// Drops entries whose tokens all expired before `now` (Unix seconds).
    pub fn prune(&self, now: u64) {
        self.update(|next| prune(next, now));
    }

    /// Drops the entries whose tokens expired more than [`PRUNE_GRACE`]
    /// ago, unless that was done less than a minute ago (writes do it on
    /// the way). For a list that can go long without writes: a poller
    /// calls it after each poll, the IdP after catching up.
    pub fn prune_if_due(&self) {
        let next_prune = self.writer();
        if crate::unix_now() >= *next_prune {
            self.publish(next_prune, |_| {});
        }
    }

    /// Publishes the sets `f` makes of the current ones: a clone that
    /// shares every entry, changed in place. Once a minute the entries
    /// that expired more than [`PRUNE_GRACE`] ago are dropped on the way.
    fn update(&self, f: impl FnOnce(&mut Sets)) {
        self.publish(self.writer(), f);
    }

    /// [`update`](Self::update), for a writer holding the lock.
    fn publish(&self, mut next_prune: std::sync::MutexGuard<'_, u64>, f: impl FnOnce(&mut Sets)) {
        let mut next = Sets::clone(&self.inner.revoked.load());
        f(&mut next);
        let now = crate::unix_now();
        if now >= *next_prune {
            *next_prune = now.saturating_add(PRUNE_EVERY);
            prune(&mut next, now.saturating_sub(PRUNE_GRACE.as_secs()));
        }
        self.inner.revoked.store(Arc::new(next));
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, u64> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn alive(&self) -> watch::Receiver<()> {
        let mut alive = self.inner.alive.lock().unwrap_or_else(|p| p.into_inner());
        alive
            .get_or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }
}

/// The sets a feed describes, later entries of one id replacing earlier
/// ones. Entries with an empty or overlong id are skipped.
fn sets_of(feed: &RevocationFeed) -> Sets {
    let usable = |id: &str| !id.is_empty() && id.len() <= MAX_ID_LEN;
    let cutoff = |before, exp, except_sid: Option<&String>| Cutoff {
        before,
        exp,
        except_sid: except_sid
            .filter(|sid| usable(sid))
            .map(|sid| Arc::from(sid.as_str())),
    };
    Sets {
        tokens: collect(
            feed.revoked
                .iter()
                .filter(|t| usable(&t.jti))
                .map(|t| (t.jti.clone(), t.exp)),
        ),
        sessions: collect(
            feed.sessions
                .iter()
                .filter(|s| usable(&s.sid))
                .map(|s| (s.sid.clone(), s.exp)),
        ),
        clients: feed
            .clients
            .iter()
            .filter(|c| usable(&c.client_id))
            .map(|c| {
                (
                    Arc::from(c.client_id.as_str()),
                    cutoff(c.before, c.exp, None),
                )
            })
            .collect(),
        subjects: feed
            .subjects
            .iter()
            .filter(|s| usable(&s.sub))
            .map(|s| {
                (
                    Arc::from(s.sub.as_str()),
                    cutoff(s.before, s.exp, s.except_sid.as_ref()),
                )
            })
            .collect(),
    }
}

fn collect(entries: impl IntoIterator<Item = (String, u64)>) -> Entries {
    entries
        .into_iter()
        .map(|(id, exp)| (Arc::from(id), exp))
        .collect()
}

impl Cutoff {
    /// Whether a token issued at `iat` in session `sid` falls under it.
    fn refuses(&self, iat: u64, sid: Option<&str>) -> bool {
        iat < self.before && !(sid.is_some() && sid == self.except_sid.as_deref())
    }
}

/// Drops from `sets` the entries no longer relevant at `cutoff`.
fn prune(sets: &mut Sets, cutoff: u64) {
    sets.tokens.retain(|_, &exp| exp >= cutoff);
    sets.sessions.retain(|_, &exp| exp >= cutoff);
    sets.clients.retain(|_, c| c.exp >= cutoff);
    sets.subjects.retain(|_, c| c.exp >= cutoff);
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
    list: Weak<Inner>,
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

    /// How long ago the list was last confirmed current by a successful
    /// fetch (or, before the first one, since polling started). It grows
    /// past the poll interval only while the feed is unreachable or
    /// answers nonsense. `None` once the list itself is gone.
    pub fn staleness(&self) -> Option<Duration> {
        let inner = self.list.upgrade()?;
        RevocationList { inner }.staleness(crate::unix_now())
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
        list.watched_from(crate::unix_now());
        let weak: Weak<Inner> = Arc::downgrade(&list.inner);
        let handle = weak.clone();
        let mut alive = list.alive();
        let (interval, max_bytes) = (self.interval, self.max_bytes);
        let task = runtime.spawn(async move {
            let mut state = PollState::default();
            let mut failing = false;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let list = RevocationList { inner };
                let poll = Poll {
                    client: &client,
                    url: &url,
                    timeout,
                    max_bytes,
                };
                match poll.once(&list, &mut state).await {
                    Ok(()) => {
                        list.confirm_current(crate::unix_now());
                        if failing {
                            tracing::info!(%url, "revocation feed recovered");
                        }
                        failing = false;
                    }
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%error, "revocation feed fetch failed; keeping the last good list");
                        }
                        failing = true;
                        state.etag = None;
                    }
                }
                drop(list);
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = alive.changed() => return,
                }
            }
        });
        Ok(RevocationPoller { task, list: handle })
    }
}

/// What a poller remembers between two polls.
#[derive(Debug, Default)]
struct PollState {
    /// The full feed's `ETag`, for a 304 from IdPs without cursors.
    etag: Option<String>,
    /// Where the next incremental fetch starts; `None`: fetch everything.
    cursor: Option<String>,
}

/// One poll's means.
struct Poll<'a> {
    client: &'a reqwest::Client,
    url: &'a reqwest::Url,
    timeout: Duration,
    max_bytes: usize,
}

impl Poll<'_> {
    /// Fetches what changed since the cursor, or the whole feed when there
    /// is none or the IdP can no longer answer from it (410), and applies
    /// it to `list`.
    async fn once(&self, list: &RevocationList, state: &mut PollState) -> Result<(), Error> {
        if let Some(cursor) = state.cursor.clone() {
            let mut url = self.url.clone();
            url.query_pairs_mut().append_pair("since", &cursor);
            match fetch::get(self.client, &url, self.timeout, self.max_bytes, None).await {
                Ok(fetched) => {
                    let document = parse_document(self.url, &fetched.body)?;
                    match document.cursor {
                        Some(next) => {
                            list.apply_changes(&document.feed);
                            state.cursor = Some(next);
                        }
                        // An IdP without cursors ignores `since` and
                        // answers the whole feed.
                        None => {
                            list.replace_feed(&document.feed);
                            state.cursor = None;
                            state.etag = fetched.etag;
                        }
                    }
                    // Incremental answers only add: expired entries leave here.
                    list.prune_if_due();
                    return Ok(());
                }
                Err(Error::Status { status: 410, .. }) => {
                    tracing::info!(url = %self.url, "revocation cursor expired; fetching the whole feed");
                    state.cursor = None;
                    state.etag = None;
                }
                Err(error) => return Err(error),
            }
        }
        let fetched = fetch::get(
            self.client,
            self.url,
            self.timeout,
            self.max_bytes,
            state.etag.as_deref(),
        )
        .await?;
        if fetched.not_modified {
            list.prune_if_due();
            return Ok(());
        }
        let document = parse_document(self.url, &fetched.body)?;
        let before = list.len();
        list.replace_feed(&document.feed);
        if list.len() != before {
            tracing::debug!(revoked = list.len(), "revocation list updated");
        }
        state.cursor = document.cursor;
        if fetched.etag.is_some() {
            state.etag = fetched.etag;
        }
        Ok(())
    }
}

/// Parses a feed document.
fn parse_document(url: &reqwest::Url, body: &[u8]) -> Result<FeedDocument, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid_document("revocation feed", url.to_string(), e))
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
    fn writes_drop_long_expired_entries() {
        let list = RevocationList::new();
        list.replace([("old".to_owned(), 1), ("new".to_owned(), u64::MAX)]);
        list.insert("x", u64::MAX);
        assert!(!list.is_revoked("old"));
        assert!(list.is_revoked("new") && list.is_revoked("x"));
    }

    #[test]
    fn a_write_copies_a_few_entries_not_the_list() {
        let list = RevocationList::new();
        list.replace((0..10_000).map(|n| (format!("t{n}"), u64::MAX)));
        let before = list.inner.revoked.load_full();
        list.insert("one more", u64::MAX);
        // The keys are shared pointers: one held by both snapshots was
        // copied into a node of the new one; the others are in nodes both
        // snapshots share.
        let copied = before
            .tokens
            .keys()
            .filter(|key| Arc::strong_count(key) > 1)
            .count();
        assert!(copied <= 200, "{copied} of 10,000 entries copied");
        assert!(list.is_revoked("one more") && list.is_revoked("t9999"));
    }

    #[test]
    fn a_snapshot_being_read_is_not_changed_by_later_writes() {
        let list = RevocationList::new();
        list.replace((0..1_000).map(|n| (format!("t{n}"), u64::MAX)));
        let before = list.inner.revoked.load_full();
        list.insert("t1000", u64::MAX);
        list.insert_session("s", u64::MAX);
        assert_eq!(before.tokens.len(), 1_000);
        assert!(!before.tokens.contains_key("t1000") && before.sessions.is_empty());
        assert!(list.is_revoked("t1000") && list.is_revoked("t999"));
        assert!(list.is_session_revoked("s"));
    }

    #[test]
    fn clones_share_the_list() {
        let list = RevocationList::new();
        let clone = list.clone();
        clone.insert("a", u64::MAX);
        assert!(list.is_revoked("a"));
    }

    fn claims(sub: &str, client_id: &str, iat: u64, sid: Option<&str>) -> Claims {
        serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": sub, "aud": "a", "exp": iat + 900, "iat": iat,
            "jti": format!("j-{sub}-{iat}"), "client_id": client_id, "sid": sid,
        }))
        .expect("claims")
    }

    #[test]
    fn a_client_cutoff_refuses_that_clients_earlier_tokens_only() {
        let list = RevocationList::new();
        list.insert_client_cutoff("gone", 1_000, u64::MAX);
        assert_eq!(
            list.refusal(&claims("gone", "gone", 999, None)),
            Some(Refusal::Client)
        );
        assert_eq!(
            list.refusal(&claims("u1", "gone", 999, Some("s"))),
            Some(Refusal::Client)
        );
        assert_eq!(
            list.refusal(&claims("gone", "gone", 1_000, None)),
            None,
            "issued at the cut-off"
        );
        assert_eq!(list.refusal(&claims("other", "other", 10, None)), None);
        assert_eq!(list.client_cutoff("gone"), Some(1_000));
        assert_eq!(list.client_cutoff("other"), None);
    }

    #[test]
    fn a_subject_cutoff_spares_its_excepted_session() {
        let list = RevocationList::new();
        list.insert_subject_cutoff("u1", 1_000, u64::MAX, Some("keep".into()));
        assert_eq!(
            list.refusal(&claims("u1", "login", 999, Some("other"))),
            Some(Refusal::Subject)
        );
        assert_eq!(
            list.refusal(&claims("u1", "login", 999, None)),
            Some(Refusal::Subject)
        );
        assert_eq!(
            list.refusal(&claims("u1", "login", 999, Some("keep"))),
            None
        );
        assert_eq!(
            list.refusal(&claims("u1", "login", 1_001, Some("other"))),
            None
        );
        assert_eq!(
            list.refusal(&claims("u2", "login", 999, Some("other"))),
            None
        );
        assert_eq!(list.subject_cutoff("u1"), Some(1_000));
        // The jti and session checks come first and say so.
        list.insert_session("keep", u64::MAX);
        assert_eq!(
            list.refusal(&claims("u1", "login", 999, Some("keep"))),
            Some(Refusal::Session)
        );
    }

    #[test]
    fn cutoffs_are_pruned_with_their_tokens() {
        let now = crate::unix_now();
        let list = RevocationList::new();
        list.insert_client_cutoff("c", now, now + 200);
        list.insert_subject_cutoff("s", now, now + 300, None);
        assert_eq!(list.len(), 2);
        list.prune(now + 250);
        assert_eq!(
            (list.client_cutoff("c"), list.subject_cutoff("s")),
            (None, Some(now))
        );
    }

    #[test]
    fn a_feed_with_every_member_replaces_everything_and_round_trips() {
        let json = r#"{"revoked":[{"jti":"j","exp":9}],"sessions":[{"sid":"s","exp":9}],"clients":[{"client_id":"c","before":5,"exp":9}],"subjects":[{"sub":"u","before":5,"exp":9,"except_sid":"k"},{"sub":"v","before":6,"exp":9}]}"#;
        let feed: RevocationFeed = serde_json::from_str(json).expect("parses");
        assert_eq!(serde_json::to_string(&feed).expect("ser"), json);
        let list = RevocationList::new();
        list.insert_client_cutoff("stale", 1, u64::MAX);
        list.replace_feed(&feed);
        assert_eq!(list.len(), 5);
        assert_eq!(list.client_cutoff("stale"), None, "replaced, not merged");
        assert!(list.is_revoked("j") && list.is_session_revoked("s"));
        assert_eq!(list.refusal(&claims("u", "x", 4, Some("k"))), None);
        assert_eq!(
            list.refusal(&claims("v", "x", 4, Some("k"))),
            Some(Refusal::Subject)
        );
        // An older feed shape (no cut-offs) keeps working, and so does an
        // older poller reading a newer feed: unknown members are ignored.
        let old: RevocationFeed = serde_json::from_str(r#"{"revoked":[]}"#).expect("old feed");
        assert!(old.clients.is_empty() && old.subjects.is_empty());
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldFeed {
            revoked: Vec<RevokedToken>,
            #[serde(default)]
            sessions: Vec<RevokedSession>,
        }
        let seen_by_old: OldFeed = serde_json::from_str(json).expect("an old poller parses it");
        assert_eq!(seen_by_old.revoked.len(), 1);
    }

    #[test]
    fn empty_and_overlong_ids_are_skipped() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let feed = RevocationFeed {
            clients: vec![
                RevokedClient {
                    client_id: String::new(),
                    before: 5,
                    exp: 9,
                },
                RevokedClient {
                    client_id: long.clone(),
                    before: 5,
                    exp: 9,
                },
            ],
            subjects: vec![RevokedSubject {
                sub: long,
                before: 5,
                exp: 9,
                except_sid: None,
            }],
            ..RevocationFeed::default()
        };
        let list = RevocationList::new();
        list.replace_feed(&feed);
        assert!(list.is_empty());
    }

    #[test]
    fn staleness_counts_from_the_last_confirmation_of_a_watched_list() {
        let list = RevocationList::new();
        assert_eq!(
            list.staleness(1_000),
            None,
            "filled in-process: never stale"
        );
        list.watched_from(1_000);
        assert_eq!(
            list.staleness(1_030),
            Some(Duration::from_secs(30)),
            "no fetch yet"
        );
        list.confirm_current(1_040);
        assert_eq!(list.staleness(1_045), Some(Duration::from_secs(5)));
        list.confirm_current(1_010);
        assert_eq!(
            list.staleness(1_045),
            Some(Duration::from_secs(5)),
            "time only moves on"
        );
        list.watched_from(2_000);
        assert_eq!(
            list.staleness(1_045),
            Some(Duration::from_secs(5)),
            "the first poller counts"
        );
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
