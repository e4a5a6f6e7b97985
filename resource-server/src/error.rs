//! The two error types of this crate, and their one mapping to HTTP.
//!
//! [`AuthError`] is why a request was refused: it becomes an RFC 6750
//! response (status, `WWW-Authenticate`, JSON body) in exactly one place,
//! [`AuthError::into_response_with_realm`]. Its descriptions are fixed
//! strings, so no part of a token can ever be echoed back or logged through
//! it. [`Error`] is everything that can go wrong setting up or feeding the
//! validator: bad URLs, unreachable or misbehaving IdPs.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

/// The realm used in `WWW-Authenticate` unless the layer is given another.
pub const DEFAULT_REALM: &str = "api";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token came with the request (or another scheme was used):
    /// `401` with a bare `Bearer realm=...` challenge (RFC 6750 §3.1).
    #[error("a bearer token is required")]
    MissingToken,
    /// The request is malformed, e.g. it repeats the `Authorization` header:
    /// `400 invalid_request`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The token is malformed, expired, revoked, or fails validation:
    /// `401 invalid_token` with this description.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// The token is valid but lacks `scope`: `403 insufficient_scope`.
    #[error("the token lacks the required scope")]
    InsufficientScope {
        /// The scope (or space-separated scopes) the resource requires.
        scope: String,
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

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
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
            Self::KeysUnavailable | Self::RevocationsStale => "temporarily_unavailable",
        }
    }

    /// The `WWW-Authenticate` challenge for this error, if it has one.
    pub fn challenge(&self, realm: &str) -> Option<String> {
        let realm = quoted(realm);
        let description = quoted(&self.to_string());
        match self {
            Self::MissingToken => Some(format!("Bearer realm={realm}")),
            Self::InvalidRequest(_) | Self::InvalidToken(_) => Some(format!(
                "Bearer realm={realm}, error=\"{}\", error_description={description}",
                self.code()
            )),
            Self::InsufficientScope { scope } => Some(format!(
                "Bearer realm={realm}, error=\"insufficient_scope\", error_description={description}, scope={}",
                quoted(scope)
            )),
            Self::KeysUnavailable | Self::RevocationsStale => None,
        }
    }

    /// The full RFC 6750 response: status, `WWW-Authenticate` with `realm`,
    /// `Cache-Control: no-store` and a JSON body
    /// `{"error": ..., "error_description": ...}`.
    pub fn into_response_with_realm(self, realm: &str) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = (self.status_code(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge(realm) {
            // `quoted` keeps only visible ASCII, so this cannot fail; if it
            // ever did, a bare challenge is still a correct answer.
            let value = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if matches!(self, Self::KeysUnavailable | Self::RevocationsStale) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
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

/// The realm of the [`BearerAuthLayer`](crate::BearerAuthLayer) that let a
/// request through, stored in its extensions so that scope checks and the
/// extractor answer with the same realm.
#[derive(Debug, Clone)]
pub(crate) struct Realm(pub(crate) Arc<str>);

impl Default for Realm {
    fn default() -> Self {
        Self(Arc::from(DEFAULT_REALM))
    }
}

/// Everything that can go wrong configuring the validator or fetching what
/// it needs from the IdP. Messages name URLs, never tokens or key material.
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
        /// What went wrong.
        reason: String,
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
    },
    /// A JWKS held no usable RSA signing key, so it was not taken.
    #[error("the JWKS from {url} has no usable RS256 signing key")]
    NoUsableKeys {
        /// Where the JWKS came from.
        url: String,
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
            header(AuthError::InvalidToken("token has expired")),
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
            (AuthError::InvalidToken("x"), 401, "invalid_token"),
            (AuthError::InvalidRequest("x"), 400, "invalid_request"),
            (
                AuthError::InsufficientScope { scope: "s".into() },
                403,
                "insufficient_scope",
            ),
            (AuthError::KeysUnavailable, 503, "temporarily_unavailable"),
            (AuthError::RevocationsStale, 503, "temporarily_unavailable"),
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
