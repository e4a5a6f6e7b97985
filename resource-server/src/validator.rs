//! The validation core: from a compact JWS string and `now` to
//! [`Claims<T>`] or the reason it was refused. No tower, no HTTP; the layer
//! is a thin shell around [`Validator::validate`], and the IdP calls it
//! directly (for `/introspect`, say).
//!
//! The order of the checks is part of the design: everything an attacker
//! controls for free (size, shape, header, issuer) is checked before
//! anything that costs (a key lookup that may refetch, a signature
//! verification), and nothing but the registered claims is read before the
//! signature is verified:
//!
//! 1. size bound; the verified-token cache (a hit, the very bytes verified
//!    before, still checks time, key and revocation);
//! 2. shape: exactly three non-empty base64url segments;
//! 3. the header, a JSON object: `alg` one this crate verifies (never `none`
//!    nor HMAC); no `crit`. `jku`, `x5u`, `x5c` and `jwk` are ignored: keys
//!    come only from the trusted sets;
//! 4. the registered claims, typed (a wrong JSON type is malformed), and
//!    `iss`, which picks one of the configured [`Issuer`]s by exact
//!    comparison: an unknown issuer is refused here, before any key is
//!    looked up, so it can never cause a fetch;
//! 5. that issuer's rules: `alg` among its algorithms, `typ` `at+jwt` (or
//!    `JWT` when it allows), a sane `kid`;
//! 6. the key by `kid` in that issuer's set (an unknown one may refetch,
//!    within cooldown), which must allow `alg`; the signature, with the
//!    public key parsed once per key-set change;
//! 7. required claims, `aud`; then the application's claims `T`;
//! 8. `exp`/`nbf` against the injected `now` with leeway, key binding
//!    methods this crate can check, then revocation.
//!
//! Time is a parameter: the layer passes the clock, tests pass whatever
//! they like, so expiry is testable without sleeping.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::alg::Algorithms;
use crate::claims::{Claims, Profile, Registered};
use crate::error::{AuthError, InvalidTokenReason};
use crate::issuer::{Issuer, Trusted};
use crate::jose;
use crate::key_source::KeySource;
use crate::keyset::MAX_KID_LEN;
use crate::revocation::RevocationList;
use crate::token_cache::{digest, TokenCache, TokenDigest, Verified};

/// Tokens longer than this are refused before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default capacity of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The most keys a token without a `kid` is tried against.
const MAX_KIDLESS_CANDIDATES: usize = 4;
const MALFORMED: AuthError = AuthError::InvalidToken(InvalidTokenReason::Malformed);
const HEADER_MALFORMED: AuthError = AuthError::InvalidToken(InvalidTokenReason::MalformedHeader);
const CLAIMS_MALFORMED: AuthError = AuthError::InvalidToken(InvalidTokenReason::MalformedClaims);
const LACKS_CLAIM: AuthError = AuthError::InvalidToken(InvalidTokenReason::MissingClaim);
const ALGORITHM: AuthError = AuthError::InvalidToken(InvalidTokenReason::AlgorithmNotAccepted);

/// A claim that is optional unless the application requires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequiredClaim {
    /// `jti`: without it a token cannot be revoked individually.
    Jti,
    /// `client_id` (RFC 9068).
    ClientId,
    /// `iat`.
    Iat,
    /// `sid`: the login session.
    Sid,
}

/// Validates access tokens from one or more issuers, each with its keys,
/// audiences and algorithms, into [`Claims<T>`]. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use resource_server::{LocalKeys, RevocationList, RequiredClaim, Validator};
///
/// let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
///     .audience("https://api.example.com")
///     .leeway(Duration::from_secs(30))
///     .require(RequiredClaim::Jti)
///     .revocations(RevocationList::new())
///     .build();
/// # let _ = validator;
/// ```
pub struct Validator<T = Profile> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Validator<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<T> {
    issuers: Box<[Trusted]>,
    leeway: u64,
    max_token_bytes: usize,
    required: Box<[RequiredClaim]>,
    revocations: Option<RevocationList>,
    max_staleness: Option<Duration>,
    cache: Option<TokenCache<T>>,
}

impl Validator<Profile> {
    /// Start configuring a validator for tokens issued by `issuer` (compared
    /// exactly) and signed by keys from `keys` (a [`JwksCache`](crate::JwksCache)
    /// or [`LocalKeys`](crate::LocalKeys)). Add more issuers with
    /// [`ValidatorBuilder::issuer`], your own claims type with
    /// [`ValidatorBuilder::claims`].
    pub fn builder(issuer: impl Into<String>, keys: impl Into<KeySource>) -> ValidatorBuilder {
        Self::with_issuer(Issuer::new(issuer, keys))
    }

    /// Start configuring a validator that trusts `issuer`.
    pub fn with_issuer(issuer: Issuer) -> ValidatorBuilder {
        ValidatorBuilder {
            issuers: vec![issuer],
            audiences: Vec::new(),
            any_audience: false,
            algorithms: Algorithms::RS256,
            accept_jwt_typ: false,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            required: Vec::new(),
            revocations: None,
            max_staleness: None,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            claims: PhantomData,
        }
    }
}

impl<T> Validator<T> {
    /// The key source of the first issuer.
    pub fn keys(&self) -> &KeySource {
        &self.inner.issuers[0].keys
    }

    /// The first issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuers[0].issuer
    }

    /// Every trusted issuer with its key source.
    pub fn issuers(&self) -> impl Iterator<Item = (&str, &KeySource)> {
        self.inner
            .issuers
            .iter()
            .map(|trusted| (trusted.issuer.as_str(), &trusted.keys))
    }

    /// Whether every issuer's keys were loaded at least once: a readiness
    /// check.
    pub fn keys_loaded(&self) -> bool {
        self.inner.issuers.iter().all(|t| t.keys.is_loaded())
    }

    /// The revocation list consulted, if any.
    pub fn revocations(&self) -> Option<&RevocationList> {
        self.inner.revocations.as_ref()
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// How many verified tokens are cached right now.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Validator<T> {
    /// Validates `token` at time `now` (Unix seconds). Awaits only when the
    /// token names a kid its issuer's key set lacks and a refetch is
    /// allowed. The claims are shared with the verified-token cache.
    pub async fn validate(&self, token: &str, now: u64) -> Result<Arc<Claims<T>>, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(AuthError::InvalidToken(InvalidTokenReason::TooLarge));
        }
        // The very bytes of a token verified before need no other check of
        // their shape: the cache comes first.
        let digest = inner.cache.as_ref().map(|_| digest(token));
        if let (Some(cache), Some(digest)) = (&inner.cache, &digest) {
            if let Some(hit) = cache.get(digest) {
                if let Some(result) = self.check_cached(cache, digest, &hit, now) {
                    return result;
                }
            }
        }
        let parts = jose::split(token).ok_or(MALFORMED)?;

        let header_json = jose::decode(parts.header).ok_or(HEADER_MALFORMED)?;
        let header = jose::header(&header_json).ok_or(HEADER_MALFORMED)?;
        let alg = header.algorithm().ok_or(ALGORITHM)?;
        if header.crit {
            return Err(AuthError::InvalidToken(InvalidTokenReason::CriticalHeader));
        }

        let payload = jose::decode(parts.payload).ok_or(MALFORMED)?;
        let mut registered: Registered = jose::object(&payload).ok_or(CLAIMS_MALFORMED)?;
        let iss = registered.iss.as_deref().ok_or(LACKS_CLAIM)?;
        let (index, trusted) = inner
            .issuers
            .iter()
            .enumerate()
            .find(|(_, trusted)| trusted.issuer == iss)
            .ok_or(AuthError::InvalidToken(InvalidTokenReason::WrongIssuer))?;

        if !trusted.algorithms.contains(alg) {
            return Err(ALGORITHM);
        }
        if !typ_accepted(header.typ.as_deref(), trusted.accept_jwt_typ) {
            return Err(AuthError::InvalidToken(InvalidTokenReason::WrongType));
        }
        let signature = jose::decode(parts.signature).ok_or(MALFORMED)?;
        let signed = parts.signing_input.as_bytes();
        let (key, snapshot) = match header.kid.as_deref() {
            Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => {
                let mut snapshot = trusted.keys.snapshot();
                if snapshot.get(kid).is_none() {
                    snapshot = trusted.keys.after_unknown_kid(kid).await;
                }
                let Some(key) = snapshot.get(kid).cloned() else {
                    if snapshot.generation() == 0 {
                        return Err(AuthError::KeysUnavailable);
                    }
                    return Err(AuthError::InvalidToken(InvalidTokenReason::UnknownKey));
                };
                if !key.allows(alg) {
                    return Err(ALGORITHM);
                }
                if !key.verify(alg, signed, &signature) {
                    return Err(AuthError::InvalidToken(InvalidTokenReason::BadSignature));
                }
                (key, snapshot)
            }
            Some(_) => {
                return Err(AuthError::InvalidToken(InvalidTokenReason::InvalidKeyId));
            }
            // No `kid` (an issuer with one key may leave it out): each key
            // that allows the algorithm is tried, when there are few enough
            // that a forged token costs a bounded number of verifications.
            None => {
                let mut snapshot = trusted.keys.snapshot();
                if snapshot.generation() == 0 {
                    // Nothing loaded yet: the first fetch, as a kid never
                    // seen would start it.
                    snapshot = trusted.keys.after_unknown_kid("").await;
                }
                if snapshot.generation() == 0 {
                    return Err(AuthError::KeysUnavailable);
                }
                let candidates = snapshot.allowing(alg).count();
                if candidates == 0 {
                    return Err(ALGORITHM);
                }
                if candidates > MAX_KIDLESS_CANDIDATES {
                    return Err(AuthError::InvalidToken(InvalidTokenReason::MissingKeyId));
                }
                let Some(key) = snapshot
                    .allowing(alg)
                    .find(|key| key.verify(alg, signed, &signature))
                    .cloned()
                else {
                    return Err(AuthError::InvalidToken(InvalidTokenReason::BadSignature));
                };
                (key, snapshot)
            }
        };

        self.check_required(&registered, trusted)?;
        let extra: T = serde_json::from_slice(&payload).map_err(|e| {
            if e.to_string().starts_with("missing field") {
                LACKS_CLAIM
            } else {
                CLAIMS_MALFORMED
            }
        })?;
        if let Some(name) = &trusted.scope_claim {
            registered.scope =
                Some(crate::claims::scope_from(&payload, name).ok_or(CLAIMS_MALFORMED)?);
            registered.scp = None;
        }
        let claims = registered
            .into_claims(extra)
            .map_err(AuthError::InvalidToken)?;
        if claims.cnf.as_ref().is_some_and(|cnf| cnf.jkt.is_none()) {
            return Err(AuthError::InvalidToken(
                InvalidTokenReason::UnsupportedKeyBinding,
            ));
        }
        check_time(claims.exp, claims.nbf, claims.iat, now, inner.leeway)?;
        self.check_revoked(&claims, now)?;

        let claims = Arc::new(claims);
        if let (Some(cache), Some(digest)) = (&inner.cache, digest) {
            let verified = Verified {
                claims: Arc::clone(&claims),
                issuer: index,
                key,
                generation: snapshot.generation(),
            };
            cache.insert(digest, verified);
        }
        Ok(claims)
    }

    /// The outcome for a cache hit, or `None` when the entry is stale (its
    /// key left the set) and the token must be validated afresh.
    fn check_cached(
        &self,
        cache: &TokenCache<T>,
        digest: &TokenDigest,
        hit: &Verified<T>,
        now: u64,
    ) -> Option<Result<Arc<Claims<T>>, AuthError>> {
        let keys = &self.inner.issuers[hit.issuer].keys;
        if keys.generation() != hit.generation {
            let snapshot = keys.snapshot();
            match snapshot.get(hit.key.kid()) {
                Some(current) if Arc::ptr_eq(current, &hit.key) || current.same_key(&hit.key) => {
                    cache.confirm(digest, snapshot.generation());
                }
                _ => {
                    cache.remove(digest);
                    return None;
                }
            }
        }
        let claims = &hit.claims;
        Some(
            check_time(claims.exp, claims.nbf, claims.iat, now, self.inner.leeway)
                .and_then(|()| self.check_revoked(claims, now))
                .map(|()| Arc::clone(claims)),
        )
    }
}

impl<T> Validator<T> {
    /// `sub` and `exp`, the audience when the issuer names one, and the
    /// claims the application requires.
    fn check_required(&self, claims: &Registered, trusted: &Trusted) -> Result<(), AuthError> {
        if claims.sub.as_deref().is_none_or(str::is_empty) || claims.exp.is_none() {
            return Err(LACKS_CLAIM);
        }
        if !trusted.audiences.is_empty() {
            let aud = claims.aud.as_deref().ok_or(LACKS_CLAIM)?;
            if !aud.iter().any(|a| trusted.audiences.iter().any(|t| t == a)) {
                return Err(AuthError::InvalidToken(InvalidTokenReason::WrongAudience));
            }
        }
        for required in self.inner.required.iter() {
            let present = match required {
                RequiredClaim::Jti => claims.jti.as_deref().is_some_and(|j| !j.is_empty()),
                RequiredClaim::ClientId => claims.client_id.is_some(),
                RequiredClaim::Iat => claims.iat.is_some(),
                RequiredClaim::Sid => claims.sid.is_some(),
            };
            if !present {
                return Err(LACKS_CLAIM);
            }
        }
        Ok(())
    }

    /// Refuses a token the revocation list refuses (by `jti`, session,
    /// client or subject), and every token while the list is staler than
    /// the configured maximum.
    fn check_revoked(&self, claims: &Claims<T>, now: u64) -> Result<(), AuthError> {
        let Some(list) = &self.inner.revocations else {
            return Ok(());
        };
        if let (Some(max), Some(stale)) = (self.inner.max_staleness, list.staleness(now)) {
            if stale > max {
                return Err(AuthError::RevocationsStale);
            }
        }
        match list.refusal(claims) {
            Some(refusal) => Err(AuthError::InvalidToken(refusal.into())),
            None => Ok(()),
        }
    }
}

impl<T> fmt::Debug for Validator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Validator")
            .field("issuers", &inner.issuers)
            .field("leeway", &inner.leeway)
            .field("max_token_bytes", &inner.max_token_bytes)
            .field("required", &inner.required)
            .field("revocations", &inner.revocations)
            .field("revocation_max_staleness", &inner.max_staleness)
            .field(
                "cache_capacity",
                &inner.cache.as_ref().map(TokenCache::capacity),
            )
            .finish()
    }
}

/// Configures a [`Validator`]; from [`Validator::builder`] or
/// [`Validator::with_issuer`]. Audience, algorithms and `typ` policy set
/// here apply to every issuer that does not set its own.
#[must_use = "call .build() to get the validator"]
pub struct ValidatorBuilder<T = Profile> {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    any_audience: bool,
    algorithms: Algorithms,
    accept_jwt_typ: bool,
    leeway: Duration,
    max_token_bytes: usize,
    required: Vec<RequiredClaim>,
    revocations: Option<RevocationList>,
    max_staleness: Option<Duration>,
    cache_capacity: usize,
    claims: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ValidatorBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl<T> ValidatorBuilder<T> {
    /// Also trust `issuer`. A token's `iss` picks its issuer; a second
    /// issuer with the same identifier is ignored.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        if self.issuers.iter().any(|i| i.issuer == issuer.issuer) {
            tracing::warn!(issuer = %issuer.issuer, "issuer configured twice; keeping the first");
        } else {
            self.issuers.push(issuer);
        }
        self
    }

    /// Accept tokens whose `aud` contains `audience`, from every issuer
    /// that names no audience of its own. Call again to accept several.
    /// Once an issuer has an audience, `aud` is required of its tokens.
    /// With none, `aud` is not checked (do set one: it is what stops a
    /// token minted for another service from being replayed here).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Deliberately accept any audience from issuers that name none (an
    /// authorization server introspecting its own tokens, say): the same
    /// as setting no audience, without the warning.
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// The signature algorithms of issuers that set none (default:
    /// `RS256` alone).
    pub fn algorithms(mut self, algorithms: impl Into<Algorithms>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default
    /// [`DEFAULT_LEEWAY`]), for every issuer.
    ///
    /// Token times are whole seconds, and so is the leeway: a fractional
    /// one is rounded *up* (`1.5 s` acts as `2 s`, `1 ms` as `1 s`), so the
    /// tolerance is never less than the one asked for. [`Duration::ZERO`]
    /// stays zero.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Also accept header `typ` `JWT` / `application/jwt` or no `typ` at
    /// all, from issuers that do not say (default: only RFC 9068 `at+jwt`).
    pub fn accept_jwt_typ(mut self, accept: bool) -> Self {
        self.accept_jwt_typ = accept;
        self
    }

    /// Refuse tokens longer than this (default [`DEFAULT_MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Refuse tokens without `claim` (by default only `iss`, `sub` and `exp`
    /// are required, and `aud` where an audience is set).
    pub fn require(mut self, claim: RequiredClaim) -> Self {
        if !self.required.contains(&claim) {
            self.required.push(claim);
        }
        self
    }

    /// Refuse the tokens `revocations` refuses: by `jti`, by session, by
    /// client and by subject.
    pub fn revocations(mut self, revocations: RevocationList) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Fail closed: while the revocation list has not been confirmed
    /// current by its poller for longer than `max` (the feed unreachable),
    /// refuse every token with `503` ([`AuthError::RevocationsStale`])
    /// rather than accept one that may have been revoked meanwhile. Off by
    /// default (the last good list keeps serving). Choose `max` above the
    /// poll interval; it applies only to a list a
    /// [`RevocationPoller`](crate::RevocationPoller) feeds.
    pub fn revocation_max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = Some(max);
        self
    }

    /// Capacity of the verified-token cache; `0` disables it (default
    /// [`DEFAULT_CACHE_CAPACITY`]). The cache holds at most this many: from
    /// 64 up it is split into 16 shards of two equal halves, so the
    /// capacity is rounded down to a multiple of 32 (10,000 holds 9,984).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Read the application's claims as `U` (see [`Claims`]).
    pub fn claims<U>(self) -> ValidatorBuilder<U> {
        ValidatorBuilder {
            issuers: self.issuers,
            audiences: self.audiences,
            any_audience: self.any_audience,
            algorithms: self.algorithms,
            accept_jwt_typ: self.accept_jwt_typ,
            leeway: self.leeway,
            max_token_bytes: self.max_token_bytes,
            required: self.required,
            revocations: self.revocations,
            max_staleness: self.max_staleness,
            cache_capacity: self.cache_capacity,
            claims: PhantomData,
        }
    }

    /// The validator.
    pub fn build(self) -> Validator<T> {
        let issuers: Box<[Trusted]> = self
            .issuers
            .into_iter()
            .map(|issuer| {
                let audiences = if issuer.audiences.is_empty() {
                    self.audiences.clone()
                } else {
                    issuer.audiences
                };
                if audiences.is_empty() && !self.any_audience {
                    tracing::warn!(
                        issuer = %issuer.issuer,
                        "no audience configured: token audiences will not be checked"
                    );
                }
                Trusted {
                    issuer: issuer.issuer,
                    keys: issuer.keys,
                    audiences,
                    algorithms: issuer.algorithms.unwrap_or(self.algorithms),
                    accept_jwt_typ: issuer.accept_jwt_typ.unwrap_or(self.accept_jwt_typ),
                    scope_claim: issuer.scope_claim,
                }
            })
            .collect();
        Validator {
            inner: Arc::new(Inner {
                issuers,
                leeway: whole_seconds_up(self.leeway),
                max_token_bytes: self.max_token_bytes,
                required: self.required.into_boxed_slice(),
                revocations: self.revocations,
                max_staleness: self.max_staleness,
                cache: (self.cache_capacity > 0)
                    .then(|| TokenCache::new(self.cache_capacity.max(2))),
            }),
        }
    }
}

/// `duration` in whole seconds, a fraction counting as one more.
fn whole_seconds_up(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// RFC 9068 §4: `at+jwt`, with or without the `application/` prefix,
/// case-insensitively (RFC 7515 §4.1.9); `JWT` or none where allowed.
fn typ_accepted(typ: Option<&str>, accept_jwt_typ: bool) -> bool {
    match typ {
        Some(t) if jose::media_type_is(t, "at+jwt") => true,
        Some(t) => accept_jwt_typ && jose::media_type_is(t, "jwt"),
        None => accept_jwt_typ,
    }
}

/// `now < exp + leeway` (RFC 7519 §4.1.4: on or after `exp` is expired) and
/// `now + leeway >= nbf`.
fn check_time(
    exp: u64,
    nbf: Option<u64>,
    iat: Option<u64>,
    now: u64,
    leeway: u64,
) -> Result<(), AuthError> {
    if now >= exp.saturating_add(leeway) {
        return Err(AuthError::InvalidToken(InvalidTokenReason::Expired));
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AuthError::InvalidToken(InvalidTokenReason::NotYetValid));
    }
    // A token issued in the future comes from a clock gone wrong, and would
    // escape every revocation cut-off ("issued before …") until then.
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(AuthError::InvalidToken(InvalidTokenReason::IssuedInFuture));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_policy() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert!(typ_accepted(Some(typ), false), "{typ}");
        }
        for typ in [
            "JWT",
            "jwt",
            "application/jwt",
            "at+jwt ",
            "at+jwt;x",
            "",
            "JOSE",
        ] {
            assert!(!typ_accepted(Some(typ), false), "{typ}");
        }
        assert!(!typ_accepted(None, false));
        for typ in ["JWT", "jwt", "application/jwt", "at+jwt"] {
            assert!(typ_accepted(Some(typ), true), "{typ}");
        }
        assert!(typ_accepted(None, true));
        assert!(!typ_accepted(Some("JOSE"), true));
        assert!(!typ_accepted(Some("dpop+jwt"), true));
    }

    #[test]
    fn a_fractional_leeway_rounds_up() {
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
        assert_eq!(whole_seconds_up(Duration::from_nanos(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds_up(Duration::MAX), u64::MAX);
    }

    #[test]
    fn time_checks_with_leeway() {
        assert!(check_time(100, None, None, 99, 0).is_ok());
        assert!(
            check_time(100, None, None, 100, 0).is_err(),
            "exp == now is expired"
        );
        assert!(check_time(100, None, None, 129, 30).is_ok());
        assert!(check_time(100, None, None, 130, 30).is_err());
        assert!(check_time(u64::MAX, None, None, u64::MAX - 1, 30).is_ok());
        assert!(check_time(1000, Some(50), None, 20, 30).is_ok());
        assert!(check_time(1000, Some(51), None, 20, 30).is_err());
        assert!(
            check_time(1000, Some(50), None, 50, 0).is_ok(),
            "nbf == now is valid"
        );
        assert!(check_time(u64::MAX, Some(u64::MAX), None, u64::MAX - 1, 30).is_ok());
        // iat: up to the leeway ahead, no further.
        assert!(check_time(1000, None, Some(50), 20, 30).is_ok());
        assert!(check_time(1000, None, Some(51), 20, 30).is_err());
        assert!(check_time(1000, None, Some(u64::MAX), 20, 30).is_err());
    }

    mod with_keys {
        use std::sync::OnceLock;

        use futures_util::FutureExt as _;
        use jsonwebtoken::{EncodingKey, Header};
        use keys::SigningKey;
        use serde_json::json;

        use crate::{
            AuthError, InvalidTokenReason, JwkSet, LocalKeys, Refusal, RequiredClaim,
            RevocationList, Validator,
        };

        const ISSUER: &str = "https://idp.test";
        /// An injected "now", far from the real clock on purpose.
        const T0: u64 = 1_000_000_000;

        fn key(index: usize) -> &'static SigningKey {
            static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
            &KEYS.get_or_init(|| {
                (0..2)
                    .map(|_| SigningKey::generate(2048).expect("key"))
                    .collect()
            })[index]
        }

        fn jwks(keys: &[&SigningKey]) -> JwkSet {
            let published = keys::Jwks {
                keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
            };
            serde_json::from_value(serde_json::to_value(published).expect("ser")).expect("de")
        }

        fn token(key: &SigningKey, exp: u64, nbf: Option<u64>, jti: &str) -> String {
            let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
            header.typ = Some("at+jwt".into());
            header.kid = Some(key.kid().into());
            let mut claims = json!({
                "iss": ISSUER, "sub": "u", "aud": "api", "exp": exp, "iat": T0,
                "jti": jti, "client_id": "c", "scope": "a"
            });
            if let Some(nbf) = nbf {
                claims["nbf"] = json!(nbf);
            }
            let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("pem");
            jsonwebtoken::encode(&header, &claims, &encoding).expect("sign")
        }

        fn setup() -> (LocalKeys, RevocationList, Validator) {
            let local = LocalKeys::new();
            local.set(&jwks(&[key(0)]));
            let revocations = RevocationList::new();
            let validator = Validator::builder(ISSUER, local.clone())
                .audience("api")
                .revocations(revocations.clone())
                .build();
            (local, revocations, validator)
        }

        /// Known kids never await: this runs without any async runtime.
        fn validate(validator: &Validator, token: &str, now: u64) -> Result<String, AuthError> {
            validator
                .validate(token, now)
                .now_or_never()
                .expect("no await on the known-kid path")
                .map(|claims| claims.sub.to_string())
        }

        /// Validates `token` twice at `now`, which caches it, and checks it
        /// is cached: what the `a_cached_token_*` tests start from.
        fn validate_into_cache(validator: &Validator, token: &str, now: u64) {
            let before = validator.cached_tokens();
            for _ in 0..2 {
                assert!(validate(validator, token, now).is_ok());
            }
            assert_eq!(validator.cached_tokens(), before + 1, "cached");
        }

        #[test]
        fn a_cached_token_never_outlives_its_exp() {
            let (_, _, validator) = setup();
            let t = token(key(0), T0 + 100, None, "j1");
            assert!(validate(&validator, &t, T0).is_ok());
            assert_eq!(validator.cached_tokens(), 0, "a first sight is not cached");
            assert!(validate(&validator, &t, T0).is_ok());
            assert_eq!(validator.cached_tokens(), 1, "the second is");
            assert!(validate(&validator, &t, T0 + 129).is_ok(), "within leeway");
            assert_eq!(
                validate(&validator, &t, T0 + 130),
                Err(AuthError::InvalidToken(InvalidTokenReason::Expired))
            );
            assert_eq!(
                validate(&validator, &t, u64::MAX),
                Err(AuthError::InvalidToken(InvalidTokenReason::Expired))
            );
        }

        #[test]
        fn a_cached_token_still_respects_nbf() {
            let (_, _, validator) = setup();
            let t = token(key(0), T0 + 1000, Some(T0 + 100), "j2");
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(InvalidTokenReason::NotYetValid))
            );
            validate_into_cache(&validator, &t, T0 + 100);
            // Now cached; an earlier clock must still be refused.
            assert_eq!(
                validate(&validator, &t, T0 + 69),
                Err(AuthError::InvalidToken(InvalidTokenReason::NotYetValid))
            );
        }

        #[test]
        fn a_cached_token_dies_with_its_key() {
            let (local, _, validator) = setup();
            let t = token(key(0), T0 + 100, None, "j3");
            validate_into_cache(&validator, &t, T0);
            local.set(&jwks(&[key(1)]));
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(InvalidTokenReason::UnknownKey))
            );
            // Adding a key keeps cached verifications of the others.
            local.set(&jwks(&[key(0), key(1)]));
            assert!(validate(&validator, &t, T0).is_ok());
            local.set(&jwks(&[key(0)]));
            assert!(validate(&validator, &t, T0).is_ok());
        }

        #[test]
        fn a_cached_token_is_revocable() {
            let (_, revocations, validator) = setup();
            let t = token(key(0), T0 + 100, None, "j4");
            validate_into_cache(&validator, &t, T0);
            revocations.insert("j4", u64::MAX);
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(InvalidTokenReason::Revoked(
                    Refusal::Token
                )))
            );
        }

        #[test]
        fn tokens_of_a_deleted_client_or_an_ended_account_are_refused_cached_or_not() {
            let (_, revocations, validator) = setup();
            // `token()` issues at T0 for client `c` and subject `u`.
            let t = token(key(0), T0 + 100, None, "j7");
            validate_into_cache(&validator, &t, T0);
            revocations.insert_client_cutoff("c", T0 + 1, u64::MAX);
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(InvalidTokenReason::Revoked(
                    Refusal::Client
                )))
            );
            revocations.replace_feed(&crate::RevocationFeed::default());
            assert!(validate(&validator, &t, T0).is_ok());
            revocations.insert_subject_cutoff("u", T0 + 1, u64::MAX, None);
            assert!(matches!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(_))
            ));
            revocations.insert_subject_cutoff("u", T0, u64::MAX, None);
            assert!(
                validate(&validator, &t, T0).is_ok(),
                "issued at the cut-off"
            );
        }

        #[test]
        fn a_stale_list_fails_closed_only_when_asked_to() {
            let local = LocalKeys::new();
            local.set(&jwks(&[key(0)]));
            let revocations = RevocationList::new();
            let strict = Validator::builder(ISSUER, local.clone())
                .audience("api")
                .revocations(revocations.clone())
                .revocation_max_staleness(std::time::Duration::from_secs(60))
                .build();
            let lenient = Validator::builder(ISSUER, local)
                .audience("api")
                .revocations(revocations.clone())
                .build();
            let t = token(key(0), T0 + 1000, None, "j8");
            assert!(validate(&strict, &t, T0).is_ok(), "not polled: never stale");
            revocations.watched_from(T0);
            revocations.confirm_current(T0 + 10);
            assert!(validate(&strict, &t, T0 + 70).is_ok());
            assert_eq!(
                validate(&strict, &t, T0 + 71),
                Err(AuthError::RevocationsStale)
            );
            assert!(validate(&lenient, &t, T0 + 71).is_ok());
            revocations.confirm_current(T0 + 71);
            assert!(validate(&strict, &t, T0 + 71).is_ok(), "fresh again");
        }

        #[test]
        fn a_sub_second_leeway_is_honoured_in_full() {
            let local = LocalKeys::new();
            local.set(&jwks(&[key(0)]));
            let validator = Validator::builder(ISSUER, local)
                .audience("api")
                .leeway(std::time::Duration::from_millis(1500))
                .build();
            let t = token(key(0), T0 + 100, None, "j9");
            // 1.5 s after `exp` (second 101 and a half) is within: second
            // 101 is accepted, 102 is not.
            assert!(validate(&validator, &t, T0 + 101).is_ok());
            assert_eq!(
                validate(&validator, &t, T0 + 102),
                Err(AuthError::InvalidToken(InvalidTokenReason::Expired))
            );
        }

        #[test]
        fn local_keys_not_loaded_means_unavailable() {
            let validator = Validator::builder(ISSUER, LocalKeys::new())
                .audience("api")
                .build();
            let t = token(key(0), T0 + 100, None, "j5");
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::KeysUnavailable)
            );
        }

        #[test]
        fn without_a_cache_every_call_verifies() {
            let local = LocalKeys::new();
            local.set(&jwks(&[key(0)]));
            let validator = Validator::builder(ISSUER, local)
                .audience("api")
                .cache_capacity(0)
                .build();
            let t = token(key(0), T0 + 100, None, "j6");
            assert!(validate(&validator, &t, T0).is_ok());
            assert!(validate(&validator, &t, T0).is_ok());
            assert_eq!(validator.cached_tokens(), 0);
        }

        #[test]
        fn jti_and_client_id_are_required_only_when_asked_for() {
            let local = LocalKeys::new();
            local.set(&jwks(&[key(0)]));
            let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
            header.typ = Some("at+jwt".into());
            header.kid = Some(key(0).kid().into());
            let claims = json!({"iss": ISSUER, "sub": "u", "aud": "api", "exp": T0 + 100});
            let encoding = EncodingKey::from_rsa_pem(key(0).private_pem()).expect("pem");
            let bare = jsonwebtoken::encode(&header, &claims, &encoding).expect("sign");
            let lenient = Validator::builder(ISSUER, local.clone())
                .audience("api")
                .build();
            assert_eq!(validate(&lenient, &bare, T0), Ok("u".into()));
            for claim in [RequiredClaim::Jti, RequiredClaim::ClientId] {
                let strict = Validator::builder(ISSUER, local.clone())
                    .audience("api")
                    .require(claim)
                    .build();
                assert_eq!(
                    validate(&strict, &bare, T0),
                    Err(AuthError::InvalidToken(InvalidTokenReason::MissingClaim)),
                    "{claim:?}"
                );
                assert!(validate(&strict, &token(key(0), T0 + 100, None, "j7"), T0).is_ok());
            }
        }
    }
}
