//! The tower middleware that authenticates requests with access tokens,
//! presented as `Bearer` (RFC 6750) or DPoP-bound (RFC 9449).
//!
//! [`BearerAuthLayer`] wraps a service in [`BearerAuth`], which reads the
//! `Authorization` header (`Bearer <token>` or `DPoP <token>`; the scheme is
//! case-insensitive), validates the token with a [`Validator`] at the
//! current time and, for DPoP, verifies the request's `DPoP` proof against
//! the token's `cnf.jkt`, the method and the URL. On success it inserts an
//! [`Authenticated`] (the shared claims, the scheme, the route's challenge)
//! into the request extensions before calling the inner service. With
//! [`optional`](BearerAuthLayer::optional), a request that presents no
//! credentials at all goes through anonymous instead of being refused.
//!
//! The rules for the two schemes:
//!
//! * a DPoP-bound token is accepted only with the `DPoP` scheme and a
//!   valid proof, never as a bearer token;
//! * a token that is not bound is refused with the `DPoP` scheme;
//! * with [`require_dpop`](BearerAuthLayer::require_dpop), plain bearer
//!   tokens are refused too, and every challenge says `DPoP`.
//!
//! Refusals are answered right here, in the RFC 6750 / RFC 9449 shape of
//! [`AuthError`], with `resource_metadata` (RFC 9728) when configured.
//! Tokens are never logged.
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{BearerAuthLayer, Claims, LocalKeys, Validator};
//!
//! let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
//!     .audience("https://api.example.com")
//!     .build();
//! let app: Router = Router::new()
//!     .route("/whoami", get(|claims: Claims| async move { claims.sub.to_string() }))
//!     .layer(
//!         BearerAuthLayer::new(validator)
//!             .realm("example")
//!             .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource"),
//!     );
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::BoxError;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, Method, Request, Response, Uri};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use crate::claims::Profile;
use crate::dpop::{DpopVerifier, ProofRequest};
use crate::error::{AuthError, Challenge, InvalidTokenReason, Scheme};
use crate::extract::{Anonymous, Authenticated};
use crate::validator::Validator;

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// Applies [`BearerAuth`] to a service.
pub struct BearerAuthLayer<T = Profile> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    validator: Validator<T>,
    challenge: Arc<Challenge>,
    dpop: DpopVerifier,
    /// The scheme and authority clients use, for DPoP's `htu`.
    public_url: Option<String>,
    /// Let requests without credentials through, anonymous.
    optional: bool,
}

impl<T> Clone for BearerAuthLayer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> BearerAuthLayer<T> {
    /// Authenticate with `validator`, in the realm
    /// [`DEFAULT_REALM`](crate::DEFAULT_REALM), accepting bearer tokens and
    /// DPoP-bound ones with valid proofs.
    pub fn new(validator: Validator<T>) -> Self {
        let dpop = DpopVerifier::default();
        Self {
            shared: Arc::new(Shared {
                validator,
                challenge: Arc::new(Challenge::default().dpop_algorithms(dpop.algorithms())),
                dpop,
                public_url: None,
                optional: false,
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Shared<T>)) -> Self {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            Err(arc) => Shared {
                validator: arc.validator.clone(),
                challenge: Arc::clone(&arc.challenge),
                dpop: arc.dpop.clone(),
                public_url: arc.public_url.clone(),
                optional: arc.optional,
            },
        };
        change(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }

    fn with_challenge(self, change: impl FnOnce(Challenge) -> Challenge) -> Self {
        self.with(|shared| {
            let challenge = change(shared.challenge.as_ref().clone());
            shared.challenge = Arc::new(challenge);
        })
    }

    /// The `realm` of the `WWW-Authenticate` challenges.
    pub fn realm(self, realm: impl AsRef<str>) -> Self {
        let realm = realm.as_ref().to_owned();
        self.with_challenge(|challenge| challenge.with_realm(realm))
    }

    /// Name the RFC 9728 metadata document (see
    /// [`ProtectedResourceMetadata`](crate::ProtectedResourceMetadata)) in
    /// every challenge, as `resource_metadata`.
    pub fn resource_metadata(self, url: impl AsRef<str>) -> Self {
        let url = url.as_ref().to_owned();
        self.with_challenge(|challenge| challenge.resource_metadata(url))
    }

    /// Demand DPoP-bound tokens with valid proofs on every route behind
    /// this layer (for single routes, see
    /// [`require_dpop`](crate::require_dpop)).
    pub fn require_dpop(self, required: bool) -> Self {
        self.with_challenge(|challenge| challenge.dpop_required(required))
    }

    /// Make authentication optional on the routes behind this layer: a
    /// request that presents no credentials at all (no `Authorization`
    /// header, or one in another scheme than `Bearer` or `DPoP`, and no
    /// `DPoP` header) reaches the service anonymous, without
    /// [`Authenticated`] or claims. A request that does present a token is
    /// validated exactly as without this: an invalid, expired, revoked or
    /// foreign token is refused, never treated as anonymous.
    ///
    /// Handlers take `Option<Claims<T>>`, `Option<SharedClaims<T>>` or
    /// `Option<Authenticated>`; the plain extractors and the requirement
    /// layers ([`require_scope`](crate::require_scope) and friends) still
    /// refuse an anonymous request with this layer's `401` challenge.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use resource_server::{require_scope, BearerAuthLayer, Claims, LocalKeys, Validator};
    ///
    /// async fn catalogue(claims: Option<Claims>) -> String {
    ///     match claims {
    ///         Some(claims) => format!("prices for {}", claims.sub),
    ///         None => "public prices".to_owned(),
    ///     }
    /// }
    ///
    /// let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
    ///     .audience("https://api.example.com")
    ///     .build();
    /// let app: Router = Router::new()
    ///     .route("/catalogue", get(catalogue))
    ///     // Still `401` without a token:
    ///     .route("/basket", get(|| async { "basket" }).route_layer(require_scope("basket")))
    ///     .route_layer(BearerAuthLayer::new(validator).optional(true));
    /// ```
    ///
    /// [`Authenticated`]: crate::Authenticated
    pub fn optional(self, optional: bool) -> Self {
        self.with(|shared| shared.optional = optional)
    }

    /// Verify DPoP proofs with `verifier` (its algorithms, proof age,
    /// replay cache and nonces) instead of the default one.
    pub fn dpop(self, verifier: DpopVerifier) -> Self {
        let algorithms = verifier.algorithms();
        self.with(|shared| shared.dpop = verifier)
            .with_challenge(|challenge| challenge.dpop_algorithms(algorithms))
    }

    /// The URL clients reach this service at (`https://api.example.com`,
    /// with a path prefix if a proxy strips one), which DPoP proofs' `htu`
    /// must name followed by the request path. Without it, `htu` must name
    /// the request's `Host` and path, over `http` or `https`: both chosen
    /// by the client, so a proof made for another server whose tokens this
    /// one also accepts (a shared audience) passes here too. Set it
    /// wherever DPoP matters.
    pub fn public_url(self, url: impl AsRef<str>) -> Self {
        let url = url.as_ref().trim_end_matches('/').to_owned();
        self.with(|shared| shared.public_url = Some(url))
    }
}

impl<T> fmt::Debug for BearerAuthLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("challenge", &self.shared.challenge)
            .field("public_url", &self.shared.public_url)
            .field("optional", &self.shared.optional)
            .field("validator", &self.shared.validator)
            .finish()
    }
}

impl<S, T> Layer<S> for BearerAuthLayer<T> {
    type Service = BearerAuth<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Middleware that admits only requests with a valid access token (and,
/// when [optional](BearerAuthLayer::optional), requests with no token at
/// all); see the [module docs](self).
pub struct BearerAuth<S, T = Profile> {
    inner: S,
    shared: Arc<Shared<T>>,
}

impl<S: Clone, T> Clone for BearerAuth<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for BearerAuth<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("challenge", &self.shared.challenge)
            .finish()
    }
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: DeserializeOwned + Send + Sync + 'static,
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
        let shared = Arc::clone(&self.shared);
        ResponseFuture {
            future: Box::pin(async move {
                let outcome = shared
                    .authenticate(
                        request.method(),
                        request.uri(),
                        request.headers(),
                        crate::unix_now(),
                    )
                    .await;
                match outcome {
                    Ok(Some(authenticated)) => {
                        request.extensions_mut().insert(authenticated);
                        let response = inner.call(request).await?;
                        Ok(response.map(Body::new))
                    }
                    Ok(None) => {
                        request
                            .extensions_mut()
                            .insert(Anonymous::new(Arc::clone(&shared.challenge)));
                        let response = inner.call(request).await?;
                        Ok(response.map(Body::new))
                    }
                    Err((error, scheme)) => {
                        tracing::debug!(reason = %error, status = error.status_code().as_u16(), "request refused");
                        Ok(error.into_response_for(&shared.challenge, scheme))
                    }
                }
            }),
        }
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Shared<T> {
    /// The request's credentials, validated; `None` for a request without
    /// any on an optional layer; or the refusal and the scheme to answer
    /// it in.
    async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now: u64,
    ) -> Result<Option<Authenticated>, (AuthError, Scheme)> {
        let (scheme, token) = match credentials(headers) {
            Ok(credentials) => credentials,
            // A lone DPoP proof is a client attempting DPoP, not an
            // anonymous one: it is refused as a missing token.
            Err(AuthError::MissingToken) if self.optional && !headers.contains_key(DPOP) => {
                return Ok(None)
            }
            Err(error) => return Err((error, Scheme::Bearer)),
        };
        let claims = self
            .validator
            .validate(token, now)
            .await
            .map_err(|e| (e, scheme))?;
        match (scheme, claims.dpop_jkt()) {
            (Scheme::Bearer, Some(_)) => {
                return Err((
                    AuthError::InvalidToken(InvalidTokenReason::DpopBoundAsBearer),
                    Scheme::Bearer,
                ))
            }
            (Scheme::Bearer, None) if self.challenge.is_dpop_required() => {
                return Err((
                    AuthError::InvalidToken(InvalidTokenReason::DpopRequired),
                    Scheme::DPoP,
                ))
            }
            (Scheme::Bearer, None) => {}
            (Scheme::DPoP, None) => {
                return Err((
                    AuthError::InvalidToken(InvalidTokenReason::NotDpopBound),
                    Scheme::DPoP,
                ))
            }
            (Scheme::DPoP, Some(jkt)) => {
                let proof = single_proof(headers).map_err(|e| (e, Scheme::DPoP))?;
                let (url, any_scheme) = self
                    .request_url(uri, headers)
                    .map_err(|e| (e, Scheme::DPoP))?;
                let request = ProofRequest {
                    method: method.as_str(),
                    url: &url,
                    any_scheme,
                    access_token: Some(token),
                    jkt: Some(jkt),
                };
                self.dpop
                    .verify(proof, &request, now)
                    .map_err(|e| (e, Scheme::DPoP))?;
            }
        }
        Ok(Some(Authenticated::new(
            claims,
            scheme,
            Arc::clone(&self.challenge),
        )))
    }

    /// The URL a DPoP proof must name, and whether its scheme is unknown.
    fn request_url(&self, uri: &Uri, headers: &HeaderMap) -> Result<(String, bool), AuthError> {
        let path = uri.path();
        if let Some(base) = &self.public_url {
            return Ok((format!("{base}{path}"), false));
        }
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            return Ok((format!("{scheme}://{authority}{path}"), false));
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty())
            .ok_or(AuthError::InvalidRequest("the request has no Host header"))?;
        Ok((format!("http://{host}{path}"), true))
    }
}

/// The one `DPoP` header of a request.
fn single_proof(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(DPOP).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .map_err(|_| AuthError::InvalidDpopProof("the DPoP proof is malformed")),
        (None, _) => Err(AuthError::InvalidDpopProof(
            "a DPoP proof header is required with the DPoP scheme",
        )),
        (Some(_), Some(_)) => Err(AuthError::InvalidDpopProof(
            "the request has more than one DPoP header",
        )),
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

/// The access token of a request and how it is presented: `Authorization:
/// Bearer <token>` (RFC 6750 §2.1) or `Authorization: DPoP <token>` (RFC
/// 9449 §7.1), the scheme case-insensitive.
///
/// No `Authorization` header, or another scheme, is a missing token (RFC
/// 6750 §3.1: no error code then); a repeated header is a malformed request.
pub fn credentials(headers: &HeaderMap) -> Result<(Scheme, &str), AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "the request has more than one Authorization header",
        ));
    }
    // Bytes, not `to_str`: a token is checked character by character by the
    // validator anyway (or is the very bytes of one verified before), so
    // one UTF-8 check of the token is all that is needed here.
    let value = value.as_bytes();
    let split = value.iter().position(|b| *b == b' ').unwrap_or(value.len());
    let (scheme, token) = value.split_at(split);
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::DPoP
    } else {
        return Err(AuthError::MissingToken);
    };
    let token = token.trim_ascii_start().trim_ascii_end();
    if token.is_empty() {
        return Err(AuthError::InvalidToken(InvalidTokenReason::Empty));
    }
    let Ok(token) = std::str::from_utf8(token) else {
        return Err(AuthError::InvalidToken(InvalidTokenReason::Malformed));
    };
    Ok((scheme, token))
}

/// The bearer token of a request (RFC 6750 §2.1); a DPoP-scheme header
/// counts as none here. See [`credentials`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    match credentials(headers)? {
        (Scheme::Bearer, token) => Ok(token),
        (Scheme::DPoP, _) => Err(AuthError::MissingToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn token(values: &[&[u8]]) -> Result<(Scheme, String), AuthError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        credentials(&headers).map(|(scheme, token)| (scheme, token.to_owned()))
    }

    #[test]
    fn reads_bearer_and_dpop_tokens() {
        assert_eq!(token(&[b"Bearer abc"]), Ok((Scheme::Bearer, "abc".into())));
        assert_eq!(token(&[b"bearer abc"]), Ok((Scheme::Bearer, "abc".into())));
        assert_eq!(
            token(&[b"BEARER   abc  "]),
            Ok((Scheme::Bearer, "abc".into()))
        );
        assert_eq!(token(&[b"DPoP abc"]), Ok((Scheme::DPoP, "abc".into())));
        assert_eq!(token(&[b"dpop abc"]), Ok((Scheme::DPoP, "abc".into())));
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
            token(&[b"DPoP   "]),
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
