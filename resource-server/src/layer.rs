//! The tower middleware that authenticates requests with bearer tokens.
//!
//! [`BearerAuthLayer`] wraps a service in [`BearerAuth`], which reads
//! `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is
//! case-insensitive), validates the token with a [`Validator`] at the current
//! time, and on success inserts the [`Claims`](crate::Claims) into the request extensions
//! before calling the inner service. Refusals are answered right here, in the
//! RFC 6750 shape of [`AuthError`]: `401` with a bare challenge for a missing
//! token, `401 invalid_token` for a bad one. Tokens are never logged.
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{BearerAuthLayer, Claims, LocalKeys, Validator};
//!
//! let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
//!     .audience("https://api.example.com")
//!     .build();
//! let app: Router = Router::new()
//!     .route("/whoami", get(|claims: Claims| async move { claims.sub }))
//!     .layer(BearerAuthLayer::new(validator).realm("example"));
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::BoxError;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, Response};
use tower::{Layer, Service};

use crate::error::{AuthError, Realm, DEFAULT_REALM};
use crate::validator::Validator;

/// Applies [`BearerAuth`] to a service.
#[derive(Clone)]
pub struct BearerAuthLayer {
    validator: Validator,
    realm: Arc<str>,
}

impl BearerAuthLayer {
    /// Authenticate with `validator`, in the realm [`DEFAULT_REALM`].
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            realm: Arc::from(DEFAULT_REALM),
        }
    }

    /// The `realm` of the `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        self.realm = Arc::from(realm.as_ref());
        self
    }
}

impl fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("realm", &self.realm)
            .field("validator", &self.validator)
            .finish()
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            validator: self.validator.clone(),
            realm: self.realm.clone(),
        }
    }
}

/// Middleware that admits only requests with a valid bearer token; see the
/// [module docs](self).
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    validator: Validator,
    realm: Arc<str>,
}

impl<S: fmt::Debug> fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("realm", &self.realm)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let realm = self.realm.clone();
        ResponseFuture {
            future: Box::pin(async move {
                let outcome = match bearer_token(request.headers()) {
                    Ok(token) => validator.validate(token, crate::unix_now()).await,
                    Err(error) => Err(error),
                };
                let claims = match outcome {
                    Ok(claims) => claims,
                    Err(error) => {
                        tracing::debug!(reason = %error, status = error.status_code().as_u16(), "request refused");
                        return Ok(error.into_response_with_realm(&realm));
                    }
                };
                request.extensions_mut().insert(claims);
                request.extensions_mut().insert(Realm(realm));
                let response = inner.call(request).await?;
                Ok(response.map(Body::new))
            }),
        }
    }
}

/// Response future of [`BearerAuth`].
pub struct ResponseFuture<E> {
    future: Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The bearer token of a request (RFC 6750 §2.1).
///
/// No `Authorization` header, or another scheme, is a missing token (RFC
/// 6750 §3.1: no error code then); a repeated header is a malformed request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "the request has more than one Authorization header",
        ));
    }
    let Ok(value) = value.to_str() else {
        return Err(AuthError::InvalidToken("token is malformed"));
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidToken("the bearer token is empty"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn token(values: &[&[u8]]) -> Result<String, AuthError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        bearer_token(&headers).map(str::to_owned)
    }

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(token(&[b"Bearer abc"]), Ok("abc".into()));
        assert_eq!(token(&[b"bearer abc"]), Ok("abc".into()));
        assert_eq!(token(&[b"BEARER   abc  "]), Ok("abc".into()));
    }

    #[test]
    fn refusals() {
        assert_eq!(token(&[]), Err(AuthError::MissingToken));
        assert_eq!(
            token(&[b"Basic dXNlcjpwYXNz"]),
            Err(AuthError::MissingToken)
        );
        assert_eq!(token(&[b"Bearerabc"]), Err(AuthError::MissingToken));
        assert!(matches!(
            token(&[b"Bearer"]),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            token(&[b"Bearer   "]),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            token(&[b"Bearer \xff\xfe"]),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            token(&[b"Bearer a", b"Bearer b"]),
            Err(AuthError::InvalidRequest(_))
        ));
    }
}
