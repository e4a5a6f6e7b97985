//! The validation core: from a compact JWS string and `now` to [`Claims`] or
//! the reason it was refused. No tower, no HTTP; the layer is a thin shell
//! around [`Validator::validate`], and the IdP can call it directly (for
//! `/introspect`, say).
//!
//! The order of the checks is part of the design: everything an attacker
//! controls for free (size, shape, header) is checked before anything that
//! costs (a key lookup that may refetch, an RSA verification), and nothing
//! from the payload is read before its signature is verified.
//!
//! 1. size bound, then shape: exactly three non-empty base64url segments;
//! 2. the verified-token cache (a hit still checks time, key and revocation);
//! 3. the header, parsed here as JSON: `alg` exactly `RS256`; no `crit`;
//!    `typ` `at+jwt` (or `JWT` when allowed); a sane `kid`. `jku`, `x5u`,
//!    `x5c` and `jwk` are ignored: keys come only from the trusted set;
//! 4. the key by `kid` (an unknown one may refetch, within cooldown);
//! 5. jsonwebtoken: RS256 only, signature, required `exp`/`iss`/`sub` (and
//!    `aud` when configured), exact `iss`, `aud`;
//! 6. `exp`/`nbf` against the injected `now` with leeway, then revocation.
//!
//! jsonwebtoken's own `exp`/`nbf` checks are switched off on purpose: they
//! read the system clock, and this crate takes time as a parameter so that
//! expiry is testable without sleeping. Step 6 does both checks (and `nbf`,
//! which jsonwebtoken would skip by default), with the same leeway.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::claims::Claims;
use crate::error::AuthError;
use crate::key_source::KeySource;
use crate::keyset::MAX_KID_LEN;
use crate::revocation::RevocationList;
use crate::token_cache::{digest, TokenCache, Verified};

/// Tokens longer than this are refused before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default capacity of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Validates access tokens against a key source and the configured issuer,
/// audience and policies. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use resource_server::{LocalKeys, RevocationList, Validator};
///
/// let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
///     .audience("https://api.example.com")
///     .leeway(Duration::from_secs(30))
///     .revocations(RevocationList::new())
///     .build();
/// # let _ = validator;
/// ```
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeySource,
    issuer: String,
    audiences: Vec<String>,
    leeway: u64,
    accept_jwt_typ: bool,
    max_token_bytes: usize,
    revocations: Option<RevocationList>,
    max_staleness: Option<Duration>,
    cache: Option<TokenCache>,
    jwt: Validation,
}

impl Validator {
    /// Start configuring a validator for tokens issued by `issuer` (compared
    /// exactly) and signed by keys from `keys` (a [`JwksCache`](crate::JwksCache)
    /// or [`LocalKeys`](crate::LocalKeys)).
    pub fn builder(issuer: impl Into<String>, keys: impl Into<KeySource>) -> ValidatorBuilder {
        ValidatorBuilder {
            keys: keys.into(),
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            accept_jwt_typ: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            revocations: None,
            max_staleness: None,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// The key source.
    pub fn keys(&self) -> &KeySource {
        &self.inner.keys
    }

    /// The accepted issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
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

    /// Validates `token` at time `now` (Unix seconds). Awaits only when the
    /// token names a kid the key set lacks and a refetch is allowed.
    pub async fn validate(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(AuthError::InvalidToken("token is too large"));
        }
        let segments = split_compact(token)?;

        let digest = inner.cache.as_ref().map(|_| digest(token));
        if let (Some(cache), Some(digest)) = (&inner.cache, &digest) {
            if let Some(hit) = cache.get(digest) {
                if let Some(result) = self.check_cached(cache, digest, &hit, now) {
                    return result;
                }
            }
        }

        let header = parse_header(segments.header)?;
        check_header(&header, inner.accept_jwt_typ)?;
        let kid = header.kid.as_deref().unwrap_or_default();

        let mut snapshot = inner.keys.snapshot();
        if snapshot.get(kid).is_none() {
            snapshot = inner.keys.after_unknown_kid().await;
        }
        let Some(key) = snapshot.get(kid).cloned() else {
            if snapshot.generation() == 0 {
                return Err(AuthError::KeysUnavailable);
            }
            return Err(AuthError::InvalidToken("unknown signing key"));
        };

        let claims = jsonwebtoken::decode::<Claims>(token, key.decoding_key(), &inner.jwt)
            .map_err(|e| map_jwt_error(e.kind()))?
            .claims;
        if claims.iss.is_empty() || claims.sub.is_empty() || claims.jti.is_empty() {
            return Err(AuthError::InvalidToken("token lacks a required claim"));
        }
        check_time(claims.exp, claims.nbf, now, inner.leeway)?;
        self.check_revoked(&claims, now)?;

        if let (Some(cache), Some(digest)) = (&inner.cache, digest) {
            let verified = Verified {
                claims: Arc::new(claims.clone()),
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
        cache: &TokenCache,
        digest: &crate::token_cache::TokenDigest,
        hit: &Verified,
        now: u64,
    ) -> Option<Result<Claims, AuthError>> {
        let snapshot = self.inner.keys.snapshot();
        if snapshot.generation() != hit.generation {
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
            check_time(claims.exp, claims.nbf, now, self.inner.leeway)
                .and_then(|()| self.check_revoked(claims, now))
                .map(|()| Claims::clone(claims)),
        )
    }

    /// Refuses a token the revocation list refuses (by `jti`, session,
    /// client or subject), and every token while the list is staler than
    /// the configured maximum.
    fn check_revoked(&self, claims: &Claims, now: u64) -> Result<(), AuthError> {
        let Some(list) = &self.inner.revocations else {
            return Ok(());
        };
        if let (Some(max), Some(stale)) = (self.inner.max_staleness, list.staleness(now)) {
            if stale > max {
                return Err(AuthError::RevocationsStale);
            }
        }
        match list.refusal(claims) {
            Some(refusal) => Err(AuthError::InvalidToken(refusal.description())),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Validator")
            .field("issuer", &inner.issuer)
            .field("audiences", &inner.audiences)
            .field("leeway", &inner.leeway)
            .field("accept_jwt_typ", &inner.accept_jwt_typ)
            .field("max_token_bytes", &inner.max_token_bytes)
            .field("keys", &inner.keys)
            .field("revocations", &inner.revocations)
            .field("revocation_max_staleness", &inner.max_staleness)
            .field(
                "cache_capacity",
                &inner.cache.as_ref().map(TokenCache::capacity),
            )
            .finish()
    }
}

/// Configures a [`Validator`]; from [`Validator::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get the validator"]
pub struct ValidatorBuilder {
    keys: KeySource,
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    accept_jwt_typ: bool,
    max_token_bytes: usize,
    revocations: Option<RevocationList>,
    max_staleness: Option<Duration>,
    cache_capacity: usize,
}

impl ValidatorBuilder {
    /// Accept tokens whose `aud` contains `audience`. Call again to accept
    /// several. Once any audience is set, `aud` is required; with none set,
    /// `aud` is not checked (do set one: it is what stops a token minted for
    /// another service from being replayed here).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock-skew allowance for `exp` and `nbf` (default [`DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Also accept header `typ` `JWT` / `application/jwt` or no `typ` at
    /// all, for IdPs that do not follow RFC 9068 (default: only `at+jwt`).
    pub fn accept_jwt_typ(mut self, accept: bool) -> Self {
        self.accept_jwt_typ = accept;
        self
    }

    /// Refuse tokens longer than this (default [`DEFAULT_MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
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
    /// [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The validator.
    pub fn build(self) -> Validator {
        let mut jwt = Validation::new(Algorithm::RS256);
        jwt.algorithms = vec![Algorithm::RS256];
        // Time is checked by `check_time` against the injected `now` (see the
        // module docs); jsonwebtoken would read the system clock instead.
        jwt.validate_exp = false;
        jwt.validate_nbf = false;
        jwt.leeway = self.leeway.as_secs();
        jwt.set_issuer(&[self.issuer.as_str()]);
        let mut required = vec!["exp", "iss", "sub"];
        if self.audiences.is_empty() {
            tracing::warn!("no audience configured: token audiences will not be checked");
            jwt.validate_aud = false;
        } else {
            required.push("aud");
            jwt.set_audience(&self.audiences);
            jwt.validate_aud = true;
        }
        jwt.set_required_spec_claims(&required);

        Validator {
            inner: Arc::new(Inner {
                keys: self.keys,
                issuer: self.issuer,
                audiences: self.audiences,
                leeway: self.leeway.as_secs(),
                accept_jwt_typ: self.accept_jwt_typ,
                max_token_bytes: self.max_token_bytes,
                revocations: self.revocations,
                max_staleness: self.max_staleness,
                cache: (self.cache_capacity > 0)
                    .then(|| TokenCache::new(self.cache_capacity.max(2))),
                jwt,
            }),
        }
    }
}

/// The three segments of a compact JWS.
#[derive(Debug)]
struct Segments<'a> {
    header: &'a str,
}

/// Exactly three non-empty segments of unpadded base64url.
fn split_compact(token: &str) -> Result<Segments<'_>, AuthError> {
    const MALFORMED: AuthError = AuthError::InvalidToken("token is malformed");
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MALFORMED);
    };
    let base64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(base64url(header) && base64url(payload) && base64url(signature)) {
        return Err(MALFORMED);
    }
    Ok(Segments { header })
}

/// The header members this crate looks at. Unknown members are ignored,
/// `jku`/`x5u`/`x5c`/`jwk` included; duplicate members make it invalid.
#[derive(Debug, Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// Present at all (whatever its value) means refuse: this crate
    /// understands no extension, and RFC 7515 §4.1.11 says to reject then.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// `true` for any value, `null` included; an absent member stays `false`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

fn parse_header(segment: &str) -> Result<JoseHeader, AuthError> {
    const MALFORMED: AuthError = AuthError::InvalidToken("token header is malformed");
    let json = URL_SAFE_NO_PAD.decode(segment).map_err(|_| MALFORMED)?;
    serde_json::from_slice(&json).map_err(|_| MALFORMED)
}

fn check_header(header: &JoseHeader, accept_jwt_typ: bool) -> Result<(), AuthError> {
    // Exactly, case-sensitively (RFC 7515 §4.1.1): "none", "None", "HS256",
    // "PS256", "RS512", "rs256" are all refused here.
    if header.alg != "RS256" {
        return Err(AuthError::InvalidToken("token algorithm is not accepted"));
    }
    if header.crit {
        return Err(AuthError::InvalidToken(
            "token has critical header parameters that are not understood",
        ));
    }
    if !typ_accepted(header.typ.as_deref(), accept_jwt_typ) {
        return Err(AuthError::InvalidToken("token type is not at+jwt"));
    }
    match header.kid.as_deref() {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok(()),
        _ => Err(AuthError::InvalidToken(
            "token key id is missing or invalid",
        )),
    }
}

/// RFC 9068 §4: `at+jwt`, with or without the `application/` prefix,
/// case-insensitively (RFC 7515 §4.1.9).
fn typ_accepted(typ: Option<&str>, accept_jwt_typ: bool) -> bool {
    let is = |t: &str, name: &str| {
        t.eq_ignore_ascii_case(name)
            || matches!(
                (t.get(..12), t.get(12..)),
                (Some(prefix), Some(rest))
                    if prefix.eq_ignore_ascii_case("application/") && rest.eq_ignore_ascii_case(name)
            )
    };
    match typ {
        Some(t) if is(t, "at+jwt") => true,
        Some(t) => accept_jwt_typ && is(t, "jwt"),
        None => accept_jwt_typ,
    }
}

/// `now < exp + leeway` (RFC 7519 §4.1.4: on or after `exp` is expired) and
/// `now + leeway >= nbf`.
fn check_time(exp: u64, nbf: Option<u64>, now: u64, leeway: u64) -> Result<(), AuthError> {
    if now >= exp.saturating_add(leeway) {
        return Err(AuthError::InvalidToken("token has expired"));
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AuthError::InvalidToken("token is not valid yet"));
    }
    Ok(())
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    AuthError::InvalidToken(match kind {
        ErrorKind::InvalidSignature => "token signature is invalid",
        ErrorKind::InvalidIssuer => "token issuer is not accepted",
        ErrorKind::InvalidAudience => "token audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "token algorithm is not accepted"
        }
        ErrorKind::ExpiredSignature => "token has expired",
        ErrorKind::ImmatureSignature => "token is not valid yet",
        ErrorKind::Json(e) if e.to_string().starts_with("missing field") => {
            "token lacks a required claim"
        }
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "token claims are malformed",
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => "token is malformed",
        _ => "token is invalid",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<(), AuthError> {
        let parsed = parse_header(&URL_SAFE_NO_PAD.encode(json))?;
        check_header(&parsed, false)
    }

    #[test]
    fn only_three_base64url_segments_pass() {
        for bad in [
            "", ".", "..", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c=", "a+b.c.d",
            "a/b.c.d", "a b.c.d", "a.b.c\n", "ä.b.c",
        ] {
            assert!(split_compact(bad).is_err(), "{bad:?} accepted");
        }
        assert!(split_compact("a.b.c").is_ok());
        assert!(split_compact("aB-_0.x.Y9").is_ok());
    }

    #[test]
    fn header_checks() {
        let ok = r#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#;
        assert_eq!(header(ok), Ok(()));
        for alg in [
            "none", "None", "NONE", "nOnE", "HS256", "PS256", "RS512", "rs256", "",
        ] {
            let json = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k"}}"#);
            assert_eq!(
                header(&json),
                Err(AuthError::InvalidToken("token algorithm is not accepted")),
                "{alg}"
            );
        }
        for crit in [r#"["exp"]"#, "[]", "null", "1"] {
            let json = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"k","crit":{crit}}}"#);
            assert!(header(&json).is_err(), "crit {crit}");
        }
        let long = "k".repeat(MAX_KID_LEN + 1);
        for kid in ["", &long] {
            let json = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#);
            assert!(header(&json).is_err());
        }
        assert!(
            header(r#"{"alg":"RS256","typ":"at+jwt"}"#).is_err(),
            "no kid"
        );
        assert!(header(r#"{"alg":"RS256","typ":"at+jwt","kid":7}"#).is_err());
        assert!(header(r#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"k"}"#).is_err());
        assert!(header(r#"["RS256"]"#).is_err());
        assert!(header("not json").is_err());
        // Key-carrying members are ignored, not trusted and not refused.
        let with_jku = r#"{"alg":"RS256","typ":"at+jwt","kid":"k","jku":"http://x","x5u":"http://y","x5c":["AA"],"jwk":{"kty":"RSA"}}"#;
        assert_eq!(header(with_jku), Ok(()));
        assert!(parse_header("***").is_err());
    }

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
        assert!(!typ_accepted(Some("applicationXat+jwt"), false));
        assert!(!typ_accepted(Some("é"), true), "non-ASCII must not panic");
        assert!(!typ_accepted(Some("éééééééééééééééééé"), true));
    }

    mod with_keys {
        use std::sync::OnceLock;

        use futures_util::FutureExt as _;
        use jsonwebtoken::{EncodingKey, Header};
        use keys::SigningKey;
        use serde_json::json;

        use crate::{AuthError, JwkSet, LocalKeys, RevocationList, Validator};

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
        fn validate(
            validator: &Validator,
            token: &str,
            now: u64,
        ) -> Result<crate::Claims, AuthError> {
            validator
                .validate(token, now)
                .now_or_never()
                .expect("no await on the known-kid path")
        }

        #[test]
        fn a_cached_token_never_outlives_its_exp() {
            let (_, _, validator) = setup();
            let t = token(key(0), T0 + 100, None, "j1");
            assert!(validate(&validator, &t, T0).is_ok());
            assert_eq!(validator.cached_tokens(), 1);
            assert!(validate(&validator, &t, T0 + 129).is_ok(), "within leeway");
            assert_eq!(
                validate(&validator, &t, T0 + 130),
                Err(AuthError::InvalidToken("token has expired"))
            );
            assert_eq!(
                validate(&validator, &t, u64::MAX),
                Err(AuthError::InvalidToken("token has expired"))
            );
        }

        #[test]
        fn a_cached_token_still_respects_nbf() {
            let (_, _, validator) = setup();
            let t = token(key(0), T0 + 1000, Some(T0 + 100), "j2");
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken("token is not valid yet"))
            );
            assert!(validate(&validator, &t, T0 + 100).is_ok());
            // Now cached; an earlier clock must still be refused.
            assert_eq!(
                validate(&validator, &t, T0 + 69),
                Err(AuthError::InvalidToken("token is not valid yet"))
            );
        }

        #[test]
        fn a_cached_token_dies_with_its_key() {
            let (local, _, validator) = setup();
            let t = token(key(0), T0 + 100, None, "j3");
            assert!(validate(&validator, &t, T0).is_ok());
            local.set(&jwks(&[key(1)]));
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken("unknown signing key"))
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
            assert!(validate(&validator, &t, T0).is_ok());
            revocations.insert("j4", u64::MAX);
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken("token has been revoked"))
            );
        }

        #[test]
        fn tokens_of_a_deleted_client_or_an_ended_account_are_refused_cached_or_not() {
            let (_, revocations, validator) = setup();
            // `token()` issues at T0 for client `c` and subject `u`.
            let t = token(key(0), T0 + 100, None, "j7");
            assert!(validate(&validator, &t, T0).is_ok());
            revocations.insert_client_cutoff("c", T0 + 1, u64::MAX);
            assert_eq!(
                validate(&validator, &t, T0),
                Err(AuthError::InvalidToken(
                    "the token's client no longer exists"
                ))
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
    }

    #[test]
    fn time_checks_with_leeway() {
        assert!(check_time(100, None, 99, 0).is_ok());
        assert!(
            check_time(100, None, 100, 0).is_err(),
            "exp == now is expired"
        );
        assert!(check_time(100, None, 129, 30).is_ok());
        assert!(check_time(100, None, 130, 30).is_err());
        assert!(check_time(u64::MAX, None, u64::MAX - 1, 30).is_ok());
        assert!(check_time(1000, Some(50), 20, 30).is_ok());
        assert!(check_time(1000, Some(51), 20, 30).is_err());
        assert!(
            check_time(1000, Some(50), 50, 0).is_ok(),
            "nbf == now is valid"
        );
        assert!(check_time(u64::MAX, Some(u64::MAX), u64::MAX - 1, 30).is_ok());
    }
}
