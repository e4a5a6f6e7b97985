//! A resource server's cache of the IdP's public keys (JWKS).
//!
//! The cache is the only thing that talks to the IdP on the validation path,
//! and it is built so that the IdP's health never becomes the resource
//! server's problem, nor the other way round:
//!
//! * Readers never wait: validation loads an `Arc<KeySet>` snapshot from an
//!   [`ArcSwap`], and a fetch swaps in a new one when it is done.
//! * The set is kept for the `Cache-Control: max-age` the IdP sends, clamped
//!   to `[min_ttl, max_ttl]` (default 5 minutes when absent), and refreshed by
//!   a background task at 80 % of that time, before it goes stale.
//! * A revalidation sends the last `ETag` in `If-None-Match`, so an
//!   unchanged key set costs the IdP a `304` and no parsing here.
//! * A token with a kid never seen before triggers a refetch at once, unless
//!   another unknown-kid refetch started within the cooldown; concurrent
//!   misses share that one fetch (single flight). Only unknown-kid refetches
//!   count against the cooldown: the start-up fetch and scheduled refreshes
//!   do not, so a key published right after either (an emergency rotation)
//!   is picked up on its first token, while a flood of forged kids still
//!   costs the IdP at most one request per cooldown.
//! * A failed fetch (unreachable, timeout, non-2xx, garbage, a set without
//!   any usable key) keeps the last good set; the background task retries
//!   with backoff.
//! * Only usable signing keys are taken (RSA of 2048..=8192 bits, P-256,
//!   P-384, Ed25519; `use` sig or absent; `alg` one this crate verifies or
//!   absent); anything else is skipped, with a WARN naming its `kid` and
//!   why, once per fetch.
//!
//! The single-flight gate is an async mutex that only fetchers and
//! unknown-kid requests ever wait on, and a fetch runs in its own task, so a
//! client that disconnects mid-fetch cannot cancel it for everyone else.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::Error;
use crate::fetch;
use crate::jwk::parse_jwks;
use crate::keyset::{usable_keys, KeySet, VerifyingKey};

/// Keep the set this long when the IdP sends no usable `max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Never refetch more often than this on schedule, whatever `max-age` says.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(30);
/// Never keep a set longer than this without trying to refresh it.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(86_400);
/// At most one unknown-kid refetch per this interval.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);
/// Whole-request timeout of one fetch (discovery plus JWKS).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS or discovery document read.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Configured durations are capped here, so that no clock arithmetic can
/// overflow.
const LONGEST_TTL: Duration = Duration::from_secs(365 * 86_400);

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
enum Location {
    /// A JWKS URL, given.
    Url(Url),
    /// An issuer whose discovery document names the JWKS URL.
    Issuer { issuer: String, documents: Vec<Url> },
}

/// The time bounds of a [`JwksCache`]; see the builder methods.
#[derive(Debug, Clone, Copy)]
struct Timing {
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    cooldown: Duration,
    fetch_timeout: Duration,
}

/// How long to keep a JWKS, from its `Cache-Control` header.
///
/// `max-age` is clamped to `[min, max]`; `no-store` / `no-cache` mean the
/// minimum; an absent header, no `max-age`, or an unparsable one mean
/// `default` (itself clamped). `s-maxage` is for shared caches and ignored.
pub fn ttl_from_cache_control(
    header: Option<&str>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Duration {
    let max = max.max(min);
    let clamp = |d: Duration| d.clamp(min, max);
    let Some(header) = header else {
        return clamp(default);
    };
    let mut ttl = None;
    for directive in header.split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return min;
        }
        if name.eq_ignore_ascii_case("max-age") && ttl.is_none() {
            ttl = value.and_then(parse_delta_seconds);
        }
    }
    clamp(ttl.unwrap_or(default))
}

/// RFC 9111 delta-seconds: digits only; too many of them means "very long".
fn parse_delta_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)))
}

/// Fetch bookkeeping; touched briefly, never across an `.await`.
#[derive(Debug, Default)]
struct FetchState {
    /// When the last fetch (of any kind) started.
    last_attempt: Option<Instant>,
    /// When the last fetch caused by an unknown kid started: the cooldown
    /// runs from here, and from nothing else.
    last_unknown_kid: Option<Instant>,
    /// The `ETag` of the key set held, and the URL it came from.
    etag: Option<(Url, String)>,
    /// When the background task should refresh a good set.
    refresh_at: Option<Instant>,
    /// Consecutive failed fetches.
    failures: u32,
    /// Failed fetches since the cache was built.
    total_failures: u64,
    /// When the last successful fetch ended.
    last_success: Option<Instant>,
    /// The JWKS URL found by discovery, forgotten after a failed fetch.
    discovered: Option<Url>,
}

struct Inner {
    location: Location,
    client: reqwest::Client,
    timing: Timing,
    max_response_bytes: usize,
    keys: ArcSwap<KeySet>,
    /// Single flight: held by whoever is fetching.
    gate: Arc<tokio::sync::Mutex<()>>,
    in_flight: AtomicBool,
    /// Fetches finished so far, successful or not.
    completed: AtomicU64,
    state: Mutex<FetchState>,
    /// Dropped with the cache, which stops the background task.
    _alive: watch::Sender<()>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an unknown-kid refetch started within the cooldown.
    fn in_cooldown(&self) -> bool {
        self.state()
            .last_unknown_kid
            .is_some_and(|at| at.elapsed() < self.timing.cooldown)
    }

    fn source_name(&self) -> String {
        match &self.location {
            Location::Url(url) => url.to_string(),
            Location::Issuer { issuer, .. } => format!("discovery of {issuer}"),
        }
    }

    /// When the background task should fetch next.
    fn next_refresh_due(&self) -> Instant {
        let state = self.state();
        match (state.failures, state.last_attempt, state.refresh_at) {
            (0, _, Some(at)) => at,
            (0, None, None) => Instant::now(),
            (failures, last, _) => {
                let backoff =
                    Duration::from_secs(1 << failures.min(6)).min(Duration::from_secs(60));
                last.map_or_else(Instant::now, |at| at + backoff)
            }
        }
    }

    /// Refetches for a token naming `kid`, which the current set lacks:
    /// at once, unless an unknown-kid refetch started within the cooldown;
    /// a fetch already running is waited for and shared instead.
    async fn refresh_for_kid(self: &Arc<Self>, kid: &str) {
        if !self.in_flight.load(Ordering::Acquire) && self.in_cooldown() {
            return;
        }
        let gate = Arc::clone(&self.gate).lock_owned().await;
        // Whatever finished while we queued may have brought the key, or
        // been an unknown-kid refetch itself, which we then share.
        if self.keys.load().get(kid).is_some() || self.in_cooldown() {
            return;
        }
        self.state().last_unknown_kid = Some(Instant::now());
        // The outcome is in the snapshot; a failure was logged.
        let _ = self.run_fetch(gate).await;
    }

    /// Runs one forced or scheduled fetch under the gate; see
    /// [`JwksCache`] for the rules.
    async fn refresh(self: &Arc<Self>, trigger: Trigger) -> Result<(), Error> {
        let seen = self.completed.load(Ordering::Acquire);
        let gate = Arc::clone(&self.gate).lock_owned().await;
        if self.completed.load(Ordering::Acquire) != seen {
            // A fetch finished while we queued: its result is ours too.
            return match self.state().failures {
                0 => Ok(()),
                _ => Err(Error::Fetch {
                    url: self.source_name(),
                    reason: "the concurrent fetch failed".into(),
                    source: None,
                }),
            };
        }
        if trigger == Trigger::Scheduled && self.next_refresh_due() > Instant::now() {
            return Ok(());
        }
        self.run_fetch(gate).await
    }

    /// Fetches and stores, holding `gate`, in a task of its own so that a
    /// caller that goes away cannot cancel the fetch for everyone else.
    async fn run_fetch(
        self: &Arc<Self>,
        gate: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<(), Error> {
        // In flight from now on, before the task even starts: a request
        // that finds the cooldown running then waits for this fetch
        // instead of leaving with the set as it was.
        let flight = InFlight::start(Arc::clone(self));
        let this = Arc::clone(self);
        let fetch = async move {
            let _gate = gate;
            let _flight = flight;
            this.fetch_and_store().await
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => match runtime.spawn(fetch).await {
                Ok(result) => result,
                Err(_) => Err(Error::NoRuntime),
            },
            Err(_) => fetch.await,
        }
    }

    async fn fetch_and_store(&self) -> Result<(), Error> {
        self.state().last_attempt = Some(Instant::now());
        let result = self.fetch().await;
        let mut state = self.state();
        match result {
            Ok((keys, ttl)) => {
                let current = self.keys.load();
                if let Some(next) = keys.and_then(|keys| current.successor(keys)) {
                    tracing::info!(
                        source = %self.source_name(),
                        kids = ?next.kids().collect::<Vec<_>>(),
                        generation = next.generation(),
                        "JWKS key set updated"
                    );
                    self.keys.store(Arc::new(next));
                }
                if state.failures > 0 {
                    tracing::info!(source = %self.source_name(), "JWKS fetch recovered");
                }
                state.failures = 0;
                state.last_success = Some(Instant::now());
                state.refresh_at = Some(Instant::now() + ttl.mul_f32(0.8));
                Ok(())
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                state.total_failures = state.total_failures.saturating_add(1);
                state.discovered = None;
                if state.failures == 1 {
                    tracing::warn!(%error, "JWKS fetch failed; keeping the last good key set");
                } else {
                    tracing::debug!(%error, failures = state.failures, "JWKS fetch failed again");
                }
                Err(error)
            }
        }
    }

    /// One fetch: discovery if needed, then the JWKS, revalidated with the
    /// `ETag` of the set held. `None` keys: not modified.
    async fn fetch(&self) -> Result<(Option<Vec<VerifyingKey>>, Duration), Error> {
        let deadline = Instant::now() + self.timing.fetch_timeout;
        let url = match &self.location {
            Location::Url(url) => url.clone(),
            Location::Issuer { issuer, documents } => {
                let known = self.state().discovered.clone();
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover(issuer, documents, deadline).await?;
                        self.state().discovered = Some(url.clone());
                        url
                    }
                }
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let etag = match &self.state().etag {
            Some((from, etag)) if *from == url => Some(etag.clone()),
            _ => None,
        };
        let fetched = fetch::get(
            &self.client,
            &url,
            remaining,
            self.max_response_bytes,
            etag.as_deref(),
        )
        .await?;
        let t = &self.timing;
        let ttl = ttl_from_cache_control(
            fetched.cache_control.as_deref(),
            t.default_ttl,
            t.min_ttl,
            t.max_ttl,
        );
        if fetched.not_modified {
            tracing::debug!(%url, "JWKS not modified");
            return Ok((None, ttl));
        }
        let jwks = parse_jwks(&fetched.body)
            .map_err(|e| Error::invalid_document("JWKS", url.to_string(), e))?;
        let (keys, skipped) = usable_keys(&jwks);
        if keys.is_empty() {
            return Err(Error::NoUsableKeys {
                url: url.to_string(),
            });
        }
        if skipped > 0 {
            tracing::debug!(skipped, "JWKS has keys that are not usable signing keys");
        }
        self.state().etag = fetched.etag.map(|etag| (url, etag));
        Ok((Some(keys), ttl))
    }

    /// The `jwks_uri` of the issuer's discovery document (OIDC Discovery,
    /// then RFC 8414), checking that the document names the same issuer.
    async fn discover(
        &self,
        issuer: &str,
        documents: &[Url],
        deadline: Instant,
    ) -> Result<Url, Error> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let mut failures = Vec::with_capacity(documents.len());
        for document in documents {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let fetched = match fetch::get(
                &self.client,
                document,
                remaining,
                self.max_response_bytes,
                None,
            )
            .await
            {
                Ok(fetched) => fetched,
                Err(error) => {
                    failures.push(error);
                    continue;
                }
            };
            let found: Discovery = serde_json::from_slice(&fetched.body).map_err(|e| {
                Error::invalid_document("discovery document", document.to_string(), e)
            })?;
            // Identical, trailing slash included (RFC 8414 §3.3, OpenID
            // Connect Discovery §4.3), as the tokens' `iss` is compared.
            if found.issuer != *issuer {
                return Err(Error::IssuerMismatch {
                    expected: issuer.to_owned(),
                    found: found.issuer,
                });
            }
            return fetch::parse_url(&found.jwks_uri).map_err(|e| {
                Error::invalid_document("discovery document", document.to_string(), e)
            });
        }
        // Each document's failure is reported: the OpenID one is usually
        // the one that says what is wrong, the RFC 8414 one comes last.
        let mut failures = failures.into_iter();
        match (failures.next(), failures.next()) {
            (Some(openid_configuration), Some(oauth_metadata)) => Err(Error::Discovery {
                issuer: issuer.to_owned(),
                openid_configuration: Box::new(openid_configuration),
                oauth_metadata: Box::new(oauth_metadata),
            }),
            (Some(only), None) => Err(only),
            (None, _) => Err(Error::Fetch {
                url: issuer.to_owned(),
                reason: "no discovery document".into(),
                source: None,
            }),
        }
    }
}

/// Marks a fetch in flight; on drop (even a cancelled one) clears the flag
/// and counts the fetch as completed, after the new set was stored.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn start(inner: Arc<Inner>) -> Self {
        inner.in_flight.store(true, Ordering::Release);
        Self(inner)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::Release);
        self.0.completed.fetch_add(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// Requested by [`JwksCache::refresh`].
    Forced,
    /// The background task: the first fetch, then whenever the set is due
    /// for a refresh.
    Scheduled,
}

/// A cached, self-refreshing view of an IdP's JWKS.
///
/// Cheap to clone: clones share the cache. Build it inside a Tokio runtime;
/// the background refresher is spawned on that runtime and stops when the
/// last clone is dropped. Nothing is fetched synchronously, so building never
/// fails because the IdP is down: the first fetch starts at once in the
/// background, and requests that arrive before it ends wait for it.
///
/// ```no_run
/// use std::time::Duration;
/// use resource_server::JwksCache;
///
/// # async fn example() -> Result<(), resource_server::Error> {
/// let jwks = JwksCache::from_issuer("https://idp.example.com")
///     .unknown_kid_cooldown(Duration::from_secs(10))
///     .build()?;
/// jwks.refresh().await?; // optional: fetch now instead of on first use
/// assert!(!jwks.snapshot().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl JwksCache {
    /// A cache of the JWKS at `url`.
    pub fn from_url(url: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Source::Url(url.into()))
    }

    /// A cache of the JWKS named by `issuer`'s discovery document
    /// (`{issuer}/.well-known/openid-configuration`, falling back to the RFC
    /// 8414 `oauth-authorization-server` document). The document's `issuer`
    /// must match. When neither document can be fetched, the error
    /// ([`Error::Discovery`]) reports both failures.
    pub fn from_issuer(issuer: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Source::Issuer(issuer.into()))
    }

    /// The current key set; lock-free.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// The generation of the current key set: bumped whenever its kids or
    /// key material change, `0` until the first successful fetch.
    pub fn generation(&self) -> u64 {
        self.inner.keys.load().generation()
    }

    /// Time since the key set was last fetched successfully (confirmed
    /// current, changed or not); `None` before the first success. Grows
    /// past the max-age while the IdP is unreachable: what a monitor
    /// alerts on.
    pub fn age(&self) -> Option<Duration> {
        self.inner.state().last_success.map(|at| at.elapsed())
    }

    /// Failed fetches since the cache was built (any trigger).
    pub fn refresh_failures(&self) -> u64 {
        self.inner.state().total_failures
    }

    /// Fetches now (ignoring cooldown and max-age, but still single flight:
    /// if a fetch is running, waits for it instead). On failure the last
    /// good set stays in place and the error is returned.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.inner.refresh(Trigger::Forced).await
    }

    /// The key set to use after a token named `kid`, which the current set
    /// lacks. Refetches at once unless an unknown-kid refetch started within
    /// the cooldown, and shares a running fetch.
    pub(crate) async fn refresh_for_unknown_kid(&self, kid: &str) -> Arc<KeySet> {
        self.inner.refresh_for_kid(kid).await;
        self.snapshot()
    }

    fn spawn_refresher(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "JWKS cache built outside a Tokio runtime: no scheduled refresh, so keys the \
                 issuer removes stay trusted until a token names an unknown kid; build it \
                 inside the runtime"
            );
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let mut alive = self.inner._alive.subscribe();
        runtime.spawn(async move {
            loop {
                let due = match weak.upgrade() {
                    Some(inner) => inner.next_refresh_due(),
                    None => return,
                };
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    _ = alive.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                let _ = inner.refresh(Trigger::Scheduled).await;
            }
        });
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.keys.load();
        f.debug_struct("JwksCache")
            .field("source", &self.inner.source_name())
            .field("kids", &keys.kids().collect::<Vec<_>>())
            .field("generation", &keys.generation())
            .finish()
    }
}

#[derive(Debug)]
enum Source {
    Url(String),
    Issuer(String),
}

/// Configures a [`JwksCache`]; from [`JwksCache::from_url`] or
/// [`JwksCache::from_issuer`].
#[derive(Debug)]
#[must_use = "call .build() to get the cache"]
pub struct JwksCacheBuilder {
    source: Source,
    timing: Timing,
    max_response_bytes: usize,
    client: Option<reqwest::Client>,
}

impl JwksCacheBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            timing: Timing {
                default_ttl: DEFAULT_TTL,
                min_ttl: DEFAULT_MIN_TTL,
                max_ttl: DEFAULT_MAX_TTL,
                cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
                fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            },
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            client: None,
        }
    }

    /// How long to keep a set whose response has no `max-age`
    /// (default [`DEFAULT_TTL`]).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.timing.default_ttl = ttl.min(LONGEST_TTL);
        self
    }

    /// The bounds `max-age` is clamped to (default
    /// [`DEFAULT_MIN_TTL`]..=[`DEFAULT_MAX_TTL`]).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.timing.min_ttl = min.min(LONGEST_TTL);
        self.timing.max_ttl = max.clamp(self.timing.min_ttl, LONGEST_TTL);
        self
    }

    /// At most one unknown-kid refetch per `cooldown`
    /// (default [`DEFAULT_UNKNOWN_KID_COOLDOWN`]); other fetches do not
    /// count against it.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.timing.cooldown = cooldown;
        self
    }

    /// Timeout of one whole fetch, discovery included
    /// (default [`DEFAULT_FETCH_TIMEOUT`]).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timing.fetch_timeout = timeout.min(fetch::LONGEST_TIMEOUT);
        self
    }

    /// The largest document read (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Use this HTTP client (proxies, custom roots, ...). The fetch timeout
    /// still applies on top of the client's own.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the cache and, inside a Tokio runtime, starts its background
    /// refresher, whose first fetch begins immediately. Fails only on a bad
    /// URL or an HTTP client that cannot be built; never on the network.
    pub fn build(self) -> Result<JwksCache, Error> {
        let location = match self.source {
            Source::Url(url) => Location::Url(fetch::parse_url(&url)?),
            Source::Issuer(issuer) => {
                fetch::parse_url(&issuer)?;
                let base = issuer.trim_end_matches('/');
                let mut documents = vec![fetch::parse_url(&format!(
                    "{base}/.well-known/openid-configuration"
                ))?];
                // RFC 8414 §3.1 inserts the well-known segment before the path.
                if let Ok(url) = fetch::parse_url(&issuer) {
                    let path = url.path().trim_end_matches('/').to_owned();
                    let mut rfc8414 = url;
                    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
                    rfc8414.set_query(None);
                    documents.push(rfc8414);
                }
                Location::Issuer { issuer, documents }
            }
        };
        let client = match self.client {
            Some(client) => client,
            None => fetch::default_client(self.timing.fetch_timeout)?,
        };
        let (alive, _) = watch::channel(());
        let cache = JwksCache {
            inner: Arc::new(Inner {
                location,
                client,
                timing: self.timing,
                max_response_bytes: self.max_response_bytes,
                keys: ArcSwap::from_pointee(KeySet::default()),
                gate: Arc::new(tokio::sync::Mutex::new(())),
                in_flight: AtomicBool::new(false),
                completed: AtomicU64::new(0),
                state: Mutex::new(FetchState::default()),
                _alive: alive,
            }),
        };
        cache.spawn_refresher();
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(30);
    const MAX: Duration = Duration::from_secs(86_400);
    const DEFAULT: Duration = Duration::from_secs(300);

    fn ttl(header: Option<&str>) -> u64 {
        ttl_from_cache_control(header, DEFAULT, MIN, MAX).as_secs()
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(ttl(Some("max-age=600")), 600);
        assert_eq!(ttl(Some("public, max-age=120, must-revalidate")), 120);
        assert_eq!(ttl(Some("Max-Age = \"90\"")), 90);
        assert_eq!(ttl(Some("max-age=5")), 30, "clamped up");
        assert_eq!(ttl(Some("max-age=0")), 30);
        assert_eq!(ttl(Some("max-age=9999999")), 86_400, "clamped down");
        assert_eq!(ttl(Some("max-age=99999999999999999999999")), 86_400);
    }

    #[test]
    fn missing_or_bad_max_age_means_default() {
        assert_eq!(ttl(None), 300);
        assert_eq!(ttl(Some("")), 300);
        assert_eq!(ttl(Some("public")), 300);
        assert_eq!(ttl(Some("max-age=-5")), 300);
        assert_eq!(ttl(Some("max-age=1e3")), 300);
        assert_eq!(ttl(Some("max-age=")), 300);
        assert_eq!(ttl(Some("s-maxage=600")), 300);
    }

    #[test]
    fn no_store_means_minimum() {
        assert_eq!(ttl(Some("no-store")), 30);
        assert_eq!(ttl(Some("max-age=600, no-cache")), 30);
    }

    #[test]
    fn bounds_and_default_are_consistent() {
        let odd = ttl_from_cache_control(None, Duration::from_secs(1), MIN, MAX);
        assert_eq!(odd, MIN, "default is clamped too");
        let inverted = ttl_from_cache_control(Some("max-age=10"), DEFAULT, MAX, MIN);
        assert_eq!(inverted, MAX, "max below min is raised to min");
    }

    #[test]
    fn builder_rejects_bad_urls_without_network() {
        assert!(JwksCache::from_url("ftp://idp/jwks").build().is_err());
        assert!(JwksCache::from_url("not a url").build().is_err());
        assert!(JwksCache::from_issuer("file:///etc").build().is_err());
        let cache = JwksCache::from_issuer("http://127.0.0.1:9/tenant/")
            .build()
            .expect("builds");
        let Location::Issuer { documents, .. } = &cache.inner.location else {
            panic!("issuer location expected");
        };
        assert_eq!(
            documents[0].as_str(),
            "http://127.0.0.1:9/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            documents[1].as_str(),
            "http://127.0.0.1:9/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(cache.generation(), 0);
    }
}
