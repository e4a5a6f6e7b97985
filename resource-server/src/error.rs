//! The two error types of this crate, and their one mapping to HTTP.
//!
//! [`AuthError`] is why a request was refused: it becomes an RFC 6750 (or
//! RFC 9449 DPoP, or RFC 9470 step-up) response — status,
//! `WWW-Authenticate`, JSON body — in exactly one place,
//! [`AuthError::into_response_for`]. Its descriptions are fixed strings or
//! configured values, so no part of a token can ever be echoed back or
//! logged through it. [`Error`] is everything that can go wrong setting up
//! or feeding the validator: bad URLs, unreachable or misbehaving IdPs.
//!
//! The challenge a refusal carries depends on the route, not only on the
//! error: [`Challenge`] is what the layer knows (its realm, where its RFC
//! 9728 metadata lives, which DPoP algorithms it takes, whether it demands
//! DPoP), and the layer passes it, with the scheme the client used, to
//! every refusal, its own and those of the requirement layers behind it.

use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::alg::Algorithms;

/// The realm used in `WWW-Authenticate` unless the layer is given another.
pub const DEFAULT_REALM: &str = "api";

/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No access token came with the request (or another scheme was used):
    /// `401` with a bare challenge (RFC 6750 §3.1).
    #[error("a bearer token is required")]
    MissingToken,
    /// The request is malformed, e.g. it repeats the `Authorization` header:
    /// `400 invalid_request`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The token is malformed, expired, revoked, or fails validation:
    /// `401 invalid_token`, described by the reason's fixed text. Match on
    /// the [`InvalidTokenReason`] (or use [`is_expired`](Self::is_expired)
    /// and friends) rather than on the text.
    #[error("{0}")]
    InvalidToken(InvalidTokenReason),
    /// The token is valid but lacks `scope`: `403 insufficient_scope`.
    #[error("the token lacks the required scope")]
    InsufficientScope {
        /// The scope (or space-separated scopes) the resource requires.
        scope: String,
    },
    /// The token is valid but the user did not authenticate strongly
    /// enough for this resource (RFC 9470 §3): `401
    /// insufficient_user_authentication`, with `acr_values` when an
    /// authentication context class is what is missing.
    #[error("{description}")]
    InsufficientUserAuthentication {
        /// What is required, for the caller.
        description: String,
        /// The `acr` values that would do, space-separated.
        acr_values: Option<String>,
    },
    /// The DPoP proof is missing, malformed, replayed, stale, or does not
    /// match the request or the token (RFC 9449 §7.1): `401
    /// invalid_dpop_proof` with a `DPoP` challenge.
    #[error("{0}")]
    InvalidDpopProof(&'static str),
    /// The DPoP proof lacks the server's current nonce (RFC 9449 §9):
    /// `401 use_dpop_nonce`, with the nonce to use in `DPoP-Nonce`.
    #[error("the DPoP proof must carry the nonce the server provides")]
    UseDpopNonce {
        /// The nonce to put in the next proof.
        nonce: String,
    },
    /// No signing key has ever been obtained (the IdP has not been reachable
    /// since start-up): `503` with `Retry-After`, since the client is not at
    /// fault and retrying will help.
    #[error("signing keys are not available yet")]
    KeysUnavailable,
    /// The revocation list has not been confirmed current for longer than
    /// the configured maximum staleness (the IdP's feed is unreachable), and
    /// the validator was told to fail closed then: `503` with
    /// `Retry-After`.
    #[error("the revocation list is out of date; retry shortly")]
    RevocationsStale,
}

/// Why a token was refused with `401 invalid_token`: one variant per
/// check, for metrics, logs or a retry decision.
///
/// Its `Display` (the same as [`description`](Self::description)) is the
/// fixed `error_description` sent back; it never contains any part of the
/// token.
///
/// ```
/// use resource_server::{AuthError, InvalidTokenReason};
///
/// fn label(error: &AuthError) -> &'static str {
///     match error.invalid_token_reason() {
///         Some(InvalidTokenReason::Expired) => "expired",
///         Some(InvalidTokenReason::BadSignature | InvalidTokenReason::UnknownKey) => "signature",
///         Some(InvalidTokenReason::Revoked(_)) => "revoked",
///         Some(_) => "invalid",
///         None => "other",
///     }
/// }
/// assert_eq!(label(&AuthError::InvalidToken(InvalidTokenReason::Expired)), "expired");
/// assert_eq!(
///     AuthError::InvalidToken(InvalidTokenReason::Expired).to_string(),
///     "token has expired"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidTokenReason {
    /// The `Authorization` header names a scheme but no token.
    Empty,
    /// The token is longer than the validator's maximum.
    TooLarge,
    /// Not a compact JWS: not three base64url segments, or not UTF-8.
    Malformed,
    /// The JOSE header is not a JSON object with an `alg`.
    MalformedHeader,
    /// The claims are not a JSON object, or a claim has the wrong type.
    MalformedClaims,
    /// A required claim is missing or empty (`iss`, `sub`, `exp`, `aud`
    /// where an audience is configured, or one the application requires).
    MissingClaim,
    /// The `alg` is not one the issuer (or the key) accepts.
    AlgorithmNotAccepted,
    /// The header has `crit` parameters.
    CriticalHeader,
    /// The `iss` is not a trusted issuer.
    WrongIssuer,
    /// The header `typ` is not `at+jwt` (or `JWT` where allowed).
    WrongType,
    /// The `kid` is empty or too long.
    InvalidKeyId,
    /// No key of the issuer has the token's `kid`.
    UnknownKey,
    /// The token has no `kid` and the issuer has too many keys to try.
    MissingKeyId,
    /// The signature does not verify.
    BadSignature,
    /// The token is bound to a key (`cnf`) other than by a DPoP thumbprint.
    UnsupportedKeyBinding,
    /// The `aud` names none of the accepted audiences.
    WrongAudience,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is ahead (beyond the leeway).
    NotYetValid,
    /// `iat` is ahead (beyond the leeway).
    IssuedInFuture,
    /// The revocation list refuses it: its `jti`, session, client or
    /// subject.
    Revoked(Refusal),
    /// A DPoP-bound token came with the `Bearer` scheme.
    DpopBoundAsBearer,
    /// The resource requires a DPoP-bound token and got a bearer token.
    DpopRequired,
    /// A token that is not DPoP-bound came with the `DPoP` scheme.
    NotDpopBound,
}

impl InvalidTokenReason {
    /// The fixed description, safe to send back and to log: the
    /// `error_description` of the response.
    pub fn description(self) -> &'static str {
        match self {
            Self::Empty => "the access token is empty",
            Self::TooLarge => "token is too large",
            Self::Malformed => "token is malformed",
            Self::MalformedHeader => "token header is malformed",
            Self::MalformedClaims => "token claims are malformed",
            Self::MissingClaim => "token lacks a required claim",
            Self::AlgorithmNotAccepted => "token algorithm is not accepted",
            Self::CriticalHeader => "token has critical header parameters that are not understood",
            Self::WrongIssuer => "token issuer is not accepted",
            Self::WrongType => "token type is not at+jwt",
            Self::InvalidKeyId => "token key id is invalid",
            Self::UnknownKey => "unknown signing key",
            Self::MissingKeyId => "token has no key id, and the issuer has several keys",
            Self::BadSignature => "token signature is invalid",
            Self::UnsupportedKeyBinding => {
                "token is bound to a key in a way this server cannot check"
            }
            Self::WrongAudience => "token audience is not accepted",
            Self::Expired => "token has expired",
            Self::NotYetValid => "token is not valid yet",
            Self::IssuedInFuture => "token is issued in the future",
            Self::Revoked(refusal) => refusal.description(),
            Self::DpopBoundAsBearer => {
                "a DPoP-bound token must be sent with the DPoP scheme and a proof"
            }
            Self::DpopRequired => "this resource requires a DPoP-bound token",
            Self::NotDpopBound => "the token is not DPoP-bound",
        }
    }
}

impl fmt::Display for InvalidTokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a revocation list refuses a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its `jti` was revoked.
    Token,
    /// Its session (`sid`) ended.
    Session,
    /// Its client was deleted after the token was issued.
    Client,
    /// Its subject's earlier tokens were revoked (account disabled or
    /// deleted, password changed, signed out everywhere).
    Subject,
}

impl Refusal {
    /// A fixed description, safe to send back and to log.
    pub fn description(self) -> &'static str {
        match self {
            Self::Token => "token has been revoked",
            Self::Session => "the token's session has ended",
            Self::Client => "the token's client no longer exists",
            Self::Subject => "the token was issued before its account's sessions were ended",
        }
    }
}

impl From<Refusal> for InvalidTokenReason {
    fn from(refusal: Refusal) -> Self {
        Self::Revoked(refusal)
    }
}

impl From<InvalidTokenReason> for AuthError {
    fn from(reason: InvalidTokenReason) -> Self {
        Self::InvalidToken(reason)
    }
}

/// How the client presented its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof header (RFC 9449).
    DPoP,
}

/// What the challenges of one protected resource say besides the error:
/// its realm, its RFC 9728 metadata URL, the DPoP algorithms it accepts,
/// and whether it demands DPoP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: Arc<str>,
    resource_metadata: Option<Arc<str>>,
    dpop_algs: Algorithms,
    dpop_required: bool,
}

impl Default for Challenge {
    fn default() -> Self {
        Self::new(DEFAULT_REALM)
    }
}

impl Challenge {
    /// Challenges in `realm`, Bearer first, DPoP accepted with the default
    /// DPoP algorithms ([`Algorithms::DPOP`]).
    pub fn new(realm: impl AsRef<str>) -> Self {
        Self {
            realm: Arc::from(realm.as_ref()),
            resource_metadata: None,
            dpop_algs: Algorithms::DPOP,
            dpop_required: false,
        }
    }

    /// The same challenges in another realm.
    pub fn with_realm(mut self, realm: impl AsRef<str>) -> Self {
        self.realm = Arc::from(realm.as_ref());
        self
    }

    /// Adds `resource_metadata="url"` (RFC 9728 §5.1) to every challenge.
    pub fn resource_metadata(mut self, url: impl AsRef<str>) -> Self {
        self.resource_metadata = Some(Arc::from(url.as_ref()));
        self
    }

    /// The algorithms named in DPoP challenges' `algs`.
    pub fn dpop_algorithms(mut self, algs: Algorithms) -> Self {
        self.dpop_algs = algs;
        self
    }

    /// Challenge with `DPoP` only: the resource takes no bearer tokens.
    pub fn dpop_required(mut self, required: bool) -> Self {
        self.dpop_required = required;
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether the resource demands DPoP.
    pub fn is_dpop_required(&self) -> bool {
        self.dpop_required
    }

    /// The scheme a refusal is answered in, for a request made in `used`.
    fn scheme_for(&self, error: &AuthError, used: Scheme) -> Scheme {
        match error {
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce { .. } => Scheme::DPoP,
            _ if self.dpop_required => Scheme::DPoP,
            _ => used,
        }
    }
}

impl AuthError {
    /// Why the token was refused, for an
    /// [`InvalidToken`](Self::InvalidToken) error.
    pub fn invalid_token_reason(&self) -> Option<InvalidTokenReason> {
        match self {
            Self::InvalidToken(reason) => Some(*reason),
            _ => None,
        }
    }

    /// Whether the token was refused because it expired (`exp` past): the
    /// client should get a new one.
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::InvalidToken(InvalidTokenReason::Expired))
    }

    /// Whether the token was refused because it was revoked (by `jti`,
    /// session, client or subject).
    pub fn is_revoked(&self) -> bool {
        matches!(self, Self::InvalidToken(InvalidTokenReason::Revoked(_)))
    }

    /// Whether the signature or the signing key was the problem: a `kid`
    /// the issuer does not publish, or a signature that does not verify.
    pub fn is_signature_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidToken(InvalidTokenReason::UnknownKey | InvalidTokenReason::BadSignature)
        )
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::InvalidDpopProof(_)
            | Self::UseDpopNonce { .. }
            | Self::InsufficientUserAuthentication { .. } => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable | Self::RevocationsStale => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error code of the JSON body (and, except for
    /// [`MissingToken`](Self::MissingToken), of the `WWW-Authenticate`
    /// challenge).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::KeysUnavailable | Self::RevocationsStale => "temporarily_unavailable",
        }
    }

    /// The `Bearer` challenge for this error in `realm`, if it has one.
    pub fn challenge(&self, realm: &str) -> Option<String> {
        self.challenge_for(&Challenge::new(realm), Scheme::Bearer)
    }

    /// The challenge for this error on a resource described by `context`,
    /// for a request that used `used`, if it has one.
    pub fn challenge_for(&self, context: &Challenge, used: Scheme) -> Option<String> {
        if matches!(self, Self::KeysUnavailable | Self::RevocationsStale) {
            return None;
        }
        let scheme = context.scheme_for(self, used);
        let mut params = vec![format!("realm={}", quoted(&context.realm))];
        if !matches!(self, Self::MissingToken) {
            params.push(format!("error=\"{}\"", self.code()));
            params.push(format!("error_description={}", quoted(&self.to_string())));
        }
        match self {
            Self::InsufficientScope { scope } => params.push(format!("scope={}", quoted(scope))),
            Self::InsufficientUserAuthentication {
                acr_values: Some(acr),
                ..
            } => params.push(format!("acr_values={}", quoted(acr))),
            _ => {}
        }
        if let Some(url) = &context.resource_metadata {
            params.push(format!("resource_metadata={}", quoted(url)));
        }
        let name = match scheme {
            Scheme::Bearer => "Bearer",
            Scheme::DPoP => {
                params.push(format!("algs={}", quoted(&context.dpop_algs.names())));
                "DPoP"
            }
        };
        Some(format!("{name} {}", params.join(", ")))
    }

    /// The full RFC 6750 response in `realm`: see
    /// [`into_response_for`](Self::into_response_for).
    pub fn into_response_with_realm(self, realm: &str) -> Response {
        self.into_response_for(&Challenge::new(realm), Scheme::Bearer)
    }

    /// The full response on a resource described by `context`, for a
    /// request that used `used`: status, `WWW-Authenticate`,
    /// `Cache-Control: no-store`, a JSON body `{"error": ...,
    /// "error_description": ...}`, and `DPoP-Nonce` or `Retry-After` where
    /// they apply.
    pub fn into_response_for(self, context: &Challenge, used: Scheme) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = (self.status_code(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge_for(context, used) {
            // `quoted` keeps only visible ASCII, so this cannot fail; if it
            // ever did, a bare challenge is still a correct answer.
            let value = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(WWW_AUTHENTICATE, value);
        }
        match &self {
            Self::KeysUnavailable | Self::RevocationsStale => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::UseDpopNonce { nonce } => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    headers.insert(DPOP_NONCE, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Answers with the [`DEFAULT_REALM`]; the layers use their configured realm.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.into_response_with_realm(DEFAULT_REALM)
    }
}

/// An RFC 7230 quoted-string: visible ASCII and spaces only, with `"` and `\`
/// escaped, so a configured realm or scope can never break the header.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

/// Everything that can go wrong configuring the validator or fetching what
/// it needs from the IdP. Messages name URLs, never tokens or key material;
/// fetch and document errors keep their cause as their
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configured URL does not parse or is not `http`/`https`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    /// The request failed: connection refused, timeout, TLS, ...
    #[error("request to {url} failed: {reason}")]
    Fetch {
        /// The URL requested.
        url: String,
        /// What went wrong, with its causes.
        reason: String,
        /// The underlying error (a `reqwest::Error`, whose own sources
        /// lead to the I/O or TLS error), when there is one; also what
        /// [`std::error::Error::source`] returns.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The server answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status received.
        status: u16,
    },
    /// The response body exceeded the configured limit.
    #[error("response from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The response is not the expected JSON document.
    #[error("{what} from {url} is not valid: {reason}")]
    InvalidDocument {
        /// Which document (`JWKS`, `discovery document`, ...).
        what: &'static str,
        /// The URL requested.
        url: String,
        /// Why it was refused.
        reason: String,
        /// The underlying error (a `serde_json::Error`, or the URL error
        /// of a bad `jwks_uri`), when there is one; also what
        /// [`std::error::Error::source`] returns.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A JWKS held no usable signing key, so it was not taken.
    #[error("the JWKS from {url} has no usable signing key")]
    NoUsableKeys {
        /// Where the JWKS came from.
        url: String,
    },
    /// Discovery failed at both places it looks: OpenID Connect
    /// Discovery's `/.well-known/openid-configuration` first, then RFC
    /// 8414's `/.well-known/oauth-authorization-server`. Both failures are
    /// kept; the first is [`std::error::Error::source`].
    #[error("discovery for {issuer} failed: {openid_configuration}; then {oauth_metadata}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// Why `/.well-known/openid-configuration` failed.
        #[source]
        openid_configuration: Box<Error>,
        /// Why the RFC 8414 `/.well-known/oauth-authorization-server`
        /// document failed.
        oauth_metadata: Box<Error>,
    },
    /// The discovery document names another issuer (OIDC Discovery §4.3).
    #[error("discovery document names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// The operation needs a Tokio runtime and none is running.
    #[error("no Tokio runtime is running")]
    NoRuntime,
    /// An I/O error (binding the listener, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// An [`InvalidDocument`](Self::InvalidDocument) caused by `error`.
    pub(crate) fn invalid_document<E>(what: &'static str, url: impl Into<String>, error: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::InvalidDocument {
            what,
            url: url.into(),
            reason: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(error: AuthError) -> String {
        error
            .into_response_with_realm("demo")
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(header(AuthError::MissingToken), r#"Bearer realm="demo""#);
        assert_eq!(
            header(AuthError::InvalidToken(InvalidTokenReason::Expired)),
            r#"Bearer realm="demo", error="invalid_token", error_description="token has expired""#
        );
        assert_eq!(
            header(AuthError::InsufficientScope {
                scope: "api:read".into()
            }),
            r#"Bearer realm="demo", error="insufficient_scope", error_description="the token lacks the required scope", scope="api:read""#
        );
    }

    #[test]
    fn dpop_step_up_and_metadata_challenges() {
        let context = Challenge::new("demo")
            .resource_metadata("https://api/.well-known/oauth-protected-resource");
        let challenge = |error: AuthError, used| {
            error
                .into_response_for(&context, used)
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            challenge(AuthError::MissingToken, Scheme::Bearer),
            r#"Bearer realm="demo", resource_metadata="https://api/.well-known/oauth-protected-resource""#
        );
        assert_eq!(
            challenge(
                AuthError::InvalidDpopProof("the proof is stale"),
                Scheme::Bearer
            ),
            r#"DPoP realm="demo", error="invalid_dpop_proof", error_description="the proof is stale", resource_metadata="https://api/.well-known/oauth-protected-resource", algs="RS256 PS256 ES256 EdDSA""#
        );
        assert!(challenge(
            AuthError::InvalidToken(InvalidTokenReason::Malformed),
            Scheme::DPoP
        )
        .starts_with("DPoP realm="));
        let step_up = AuthError::InsufficientUserAuthentication {
            description: "a second factor is required".into(),
            acr_values: Some("mfa".into()),
        };
        assert_eq!(
            step_up.challenge("r").as_deref(),
            Some(
                r#"Bearer realm="r", error="insufficient_user_authentication", error_description="a second factor is required", acr_values="mfa""#
            )
        );
        let required = Challenge::new("r")
            .dpop_required(true)
            .dpop_algorithms(crate::Algorithm::ES256.into());
        assert_eq!(
            AuthError::MissingToken
                .challenge_for(&required, Scheme::Bearer)
                .as_deref(),
            Some(r#"DPoP realm="r", algs="ES256""#)
        );
        let nonce = AuthError::UseDpopNonce {
            nonce: "n-1".into(),
        }
        .into_response_for(&required, Scheme::DPoP);
        assert_eq!(
            nonce
                .headers()
                .get(DPOP_NONCE)
                .and_then(|v| v.to_str().ok()),
            Some("n-1")
        );
    }

    /// The descriptions are what clients, the IdP's tests and the interop
    /// scripts read: they must not change with the reasons' names.
    #[test]
    fn every_reason_keeps_its_description() {
        use InvalidTokenReason as R;
        for (reason, text) in [
            (R::Empty, "the access token is empty"),
            (R::TooLarge, "token is too large"),
            (R::Malformed, "token is malformed"),
            (R::MalformedHeader, "token header is malformed"),
            (R::MalformedClaims, "token claims are malformed"),
            (R::MissingClaim, "token lacks a required claim"),
            (R::AlgorithmNotAccepted, "token algorithm is not accepted"),
            (
                R::CriticalHeader,
                "token has critical header parameters that are not understood",
            ),
            (R::WrongIssuer, "token issuer is not accepted"),
            (R::WrongType, "token type is not at+jwt"),
            (R::InvalidKeyId, "token key id is invalid"),
            (R::UnknownKey, "unknown signing key"),
            (
                R::MissingKeyId,
                "token has no key id, and the issuer has several keys",
            ),
            (R::BadSignature, "token signature is invalid"),
            (
                R::UnsupportedKeyBinding,
                "token is bound to a key in a way this server cannot check",
            ),
            (R::WrongAudience, "token audience is not accepted"),
            (R::Expired, "token has expired"),
            (R::NotYetValid, "token is not valid yet"),
            (R::IssuedInFuture, "token is issued in the future"),
            (R::Revoked(Refusal::Token), "token has been revoked"),
            (
                R::Revoked(Refusal::Session),
                "the token's session has ended",
            ),
            (
                R::Revoked(Refusal::Client),
                "the token's client no longer exists",
            ),
            (
                R::Revoked(Refusal::Subject),
                "the token was issued before its account's sessions were ended",
            ),
            (
                R::DpopBoundAsBearer,
                "a DPoP-bound token must be sent with the DPoP scheme and a proof",
            ),
            (R::DpopRequired, "this resource requires a DPoP-bound token"),
            (R::NotDpopBound, "the token is not DPoP-bound"),
        ] {
            let error = AuthError::InvalidToken(reason);
            assert_eq!(error.to_string(), text, "{reason:?}");
            assert_eq!(error.invalid_token_reason(), Some(reason));
            let body = error.into_response_with_realm("r");
            let challenge = body
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(
                challenge.ends_with(&format!("error_description=\"{text}\"")),
                "{challenge}"
            );
        }
    }

    #[test]
    fn refusals_can_be_told_apart() {
        let expired = AuthError::InvalidToken(InvalidTokenReason::Expired);
        assert!(expired.is_expired() && !expired.is_revoked() && !expired.is_signature_error());
        let revoked = AuthError::from(InvalidTokenReason::from(Refusal::Session));
        assert!(revoked.is_revoked() && !revoked.is_expired());
        for reason in [
            InvalidTokenReason::UnknownKey,
            InvalidTokenReason::BadSignature,
        ] {
            assert!(AuthError::InvalidToken(reason).is_signature_error());
        }
        assert!(!AuthError::KeysUnavailable.is_expired());
        assert_eq!(AuthError::MissingToken.invalid_token_reason(), None);
    }

    #[test]
    fn quoting_cannot_break_the_header() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("a\r\nb\u{e9}"), "\"a??b?\"");
        let response = AuthError::InsufficientScope {
            scope: "x\"\r\nSet-Cookie: y".into(),
        }
        .into_response_with_realm("r\n");
        assert!(response.headers().get("set-cookie").is_none());
        assert!(response.headers().get(WWW_AUTHENTICATE).is_some());
    }

    #[test]
    fn statuses_and_codes() {
        for (error, status, code) in [
            (AuthError::MissingToken, 401, "missing_token"),
            (
                AuthError::InvalidToken(InvalidTokenReason::Malformed),
                401,
                "invalid_token",
            ),
            (AuthError::InvalidRequest("x"), 400, "invalid_request"),
            (
                AuthError::InsufficientScope { scope: "s".into() },
                403,
                "insufficient_scope",
            ),
            (AuthError::KeysUnavailable, 503, "temporarily_unavailable"),
            (AuthError::RevocationsStale, 503, "temporarily_unavailable"),
            (AuthError::InvalidDpopProof("x"), 401, "invalid_dpop_proof"),
            (
                AuthError::UseDpopNonce { nonce: "n".into() },
                401,
                "use_dpop_nonce",
            ),
            (
                AuthError::InsufficientUserAuthentication {
                    description: "x".into(),
                    acr_values: None,
                },
                401,
                "insufficient_user_authentication",
            ),
        ] {
            assert_eq!(error.status_code().as_u16(), status);
            assert_eq!(error.code(), code);
            let response = error.into_response();
            assert_eq!(
                response.headers().get(CONTENT_TYPE),
                Some(&HeaderValue::from_static("application/json"))
            );
        }
    }
}
