//! What the layer leaves in a request it let through, and the axum
//! extractors that hand it to handlers.
//!
//! [`BearerAuthLayer`](crate::BearerAuthLayer) inserts one [`Authenticated`]
//! into the request extensions: the validated claims (shared with the
//! verified-token cache, not copied), the scheme the token came in, and the
//! challenge context refusals further in must use. Requirement layers
//! ([`require_scope`](crate::require_scope) and friends) read the registered
//! claims through it without knowing the application's claims type; the
//! [`Claims<T>`] extractor downcasts to the type the layer was built for and
//! copies the claims out, [`SharedClaims<T>`] hands over the shared ones
//! without copying anything.
//!
//! Without the layer in front there is nothing to extract, and the request
//! is answered `401` as if it carried no token: a route that forgot its
//! layer fails closed.
//!
//! Behind an [optional](crate::BearerAuthLayer::optional) layer, a request
//! without a token arrives anonymous: `Option<Claims<T>>`,
//! `Option<SharedClaims<T>>` and `Option<Authenticated>` are `None`, and
//! the plain extractors and the requirement layers answer `401` with the
//! layer's challenge, as the layer itself would have.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Extensions, StatusCode};
use serde::Serialize;

use crate::claims::Claims;
use crate::error::{AuthError, Challenge, Scheme};
use compact_str::CompactString;

/// The registered claims, whatever the application's type.
pub(crate) trait Registered: Any + Send + Sync {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn scope(&self) -> &str;
    fn amr(&self) -> &[CompactString];
    fn acr(&self) -> Option<&str>;
    fn sub(&self) -> &str;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Send + Sync + 'static> Registered for Claims<T> {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn scope(&self) -> &str {
        &self.scope
    }
    fn amr(&self) -> &[CompactString] {
        &self.amr
    }
    fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }
    fn sub(&self) -> &str {
        &self.sub
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A request the bearer layer let through: its claims, how the token was
/// presented, and how refusals on this route are worded.
#[derive(Clone)]
pub struct Authenticated {
    claims: Arc<dyn Registered>,
    scheme: Scheme,
    challenge: Arc<Challenge>,
}

impl Authenticated {
    pub(crate) fn new<T: Send + Sync + 'static>(
        claims: Arc<Claims<T>>,
        scheme: Scheme,
        challenge: Arc<Challenge>,
    ) -> Self {
        Self {
            claims,
            scheme,
            challenge,
        }
    }

    /// The claims, if the layer was built for claims of type `T`.
    pub fn claims<T: 'static>(&self) -> Option<&Claims<T>> {
        self.claims.as_any().downcast_ref()
    }

    /// The shared claims, if the layer was built for claims of type `T`.
    pub fn shared_claims<T: Send + Sync + 'static>(&self) -> Option<SharedClaims<T>> {
        Arc::clone(&self.claims)
            .into_any()
            .downcast()
            .ok()
            .map(SharedClaims)
    }

    /// The subject.
    pub fn sub(&self) -> &str {
        self.claims.sub()
    }

    /// The granted scopes, space-separated.
    pub fn scope(&self) -> &str {
        self.claims.scope()
    }

    /// The authentication methods (`amr`).
    pub fn amr(&self) -> &[CompactString] {
        self.claims.amr()
    }

    /// The authentication context class (`acr`).
    pub fn acr(&self) -> Option<&str> {
        self.claims.acr()
    }

    /// How the token was presented: `Bearer`, or `DPoP` with a valid proof.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Answers `error` as this route's refusals are answered.
    pub fn refuse(&self, error: AuthError) -> Response {
        error.into_response_for(&self.challenge, self.scheme)
    }

    /// Answers `error` with a challenge in `scheme`, whatever the request
    /// used.
    pub(crate) fn refuse_as(&self, error: AuthError, scheme: Scheme) -> Response {
        let challenge = match scheme {
            Scheme::DPoP => &self.challenge.as_ref().clone().dpop_required(true),
            Scheme::Bearer => self.challenge.as_ref(),
        };
        error.into_response_for(challenge, scheme)
    }
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("sub", &self.sub())
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// What an [optional](crate::BearerAuthLayer::optional) bearer layer
/// leaves in a request that came without credentials: how a refusal
/// further in must be worded.
#[derive(Clone)]
pub(crate) struct Anonymous {
    challenge: Arc<Challenge>,
}

impl Anonymous {
    pub(crate) fn new(challenge: Arc<Challenge>) -> Self {
        Self { challenge }
    }

    /// The `401` for a missing token in `scheme`, as the layer words it.
    pub(crate) fn refuse_as(&self, scheme: Scheme) -> Response {
        match scheme {
            Scheme::DPoP => AuthError::MissingToken
                .into_response_for(&self.challenge.as_ref().clone().dpop_required(true), scheme),
            Scheme::Bearer => AuthError::MissingToken.into_response_for(&self.challenge, scheme),
        }
    }
}

/// The refusal for a request that reached a guarded handler or layer
/// without a token: in the challenge of the optional layer that let it
/// through anonymous, or in the default one when no bearer layer was in
/// front at all.
pub(crate) fn unauthenticated(extensions: &Extensions) -> Response {
    match extensions.get::<Anonymous>() {
        Some(anonymous) => anonymous.refuse_as(Scheme::Bearer),
        None => unauthenticated_by_default(),
    }
}

/// The refusal for a request that never met a bearer layer.
pub(crate) fn unauthenticated_by_default() -> Response {
    AuthError::MissingToken.into_response_for(&Challenge::default(), Scheme::Bearer)
}

/// The validated claims as the layer holds them, shared with the
/// verified-token cache: extracting them copies nothing, and they read like
/// [`Claims<T>`] (which they dereference to).
///
/// ```
/// use resource_server::SharedClaims;
///
/// async fn me(claims: SharedClaims) -> String {
///     format!("{} ({})", claims.sub, claims.email.as_deref().unwrap_or("no email"))
/// }
/// ```
pub struct SharedClaims<T = crate::Profile>(Arc<Claims<T>>);

impl<T> SharedClaims<T> {
    /// The shared claims themselves.
    pub fn into_inner(self) -> Arc<Claims<T>> {
        self.0
    }
}

impl<T> Clone for SharedClaims<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for SharedClaims<T> {
    type Target = Claims<T>;

    fn deref(&self) -> &Claims<T> {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedClaims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S, T> FromRequestParts<S> for SharedClaims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(authenticated) = parts.extensions.get::<Authenticated>() else {
            return Err(unauthenticated(&parts.extensions));
        };
        authenticated
            .shared_claims::<T>()
            .ok_or_else(type_mismatch::<T>)
    }
}

/// `Option<SharedClaims<T>>`: `None` for a request without a token behind
/// an [optional](crate::BearerAuthLayer::optional) layer (or with no bearer
/// layer in front at all); see the `Option<Claims<T>>` extractor.
impl<S, T> OptionalFromRequestParts<S> for SharedClaims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(authenticated) = parts.extensions.get::<Authenticated>() else {
            return Ok(None);
        };
        match authenticated.shared_claims::<T>() {
            Some(claims) => Ok(Some(claims)),
            None => Err(type_mismatch::<T>()),
        }
    }
}

/// The claims the [`BearerAuthLayer`](crate::BearerAuthLayer) validated,
/// copied out for the handler.
impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(authenticated) = parts.extensions.get::<Authenticated>() else {
            return Err(unauthenticated(&parts.extensions));
        };
        match authenticated.claims::<T>() {
            Some(claims) => Ok(claims.clone()),
            None => Err(type_mismatch::<T>()),
        }
    }
}

/// `Option<Claims<T>>`, for routes where authentication is optional:
/// `None` for a request without a token behind a
/// [`BearerAuthLayer`](crate::BearerAuthLayer) made
/// [`optional`](crate::BearerAuthLayer::optional), `Some` for one with a
/// valid token. A request with a token that is not valid never gets here:
/// the layer refuses it.
///
/// Only the layer validates tokens: on a route with no bearer layer in
/// front this is always `None`, even when the request carries a valid
/// token.
///
/// ```
/// use axum::{routing::get, Router};
/// use resource_server::{BearerAuthLayer, Claims, LocalKeys, Validator};
///
/// async fn greet(claims: Option<Claims>) -> String {
///     match claims {
///         Some(claims) => format!("hello {}", claims.sub),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
///     .audience("https://api.example.com")
///     .build();
/// let app: Router = Router::new()
///     .route("/greet", get(greet))
///     .route_layer(BearerAuthLayer::new(validator).optional(true));
/// ```
impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(authenticated) = parts.extensions.get::<Authenticated>() else {
            return Ok(None);
        };
        match authenticated.claims::<T>() {
            Some(claims) => Ok(Some(claims.clone())),
            None => Err(type_mismatch::<T>()),
        }
    }
}

/// `Authenticated` itself, for handlers that only need the subject, the
/// scopes or the scheme, whatever the claims type.
impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(|| unauthenticated(&parts.extensions))
    }
}

/// `Option<Authenticated>`: `None` for a request without a token behind an
/// [optional](crate::BearerAuthLayer::optional) layer (or with no bearer
/// layer in front at all).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Authenticated>().cloned())
    }
}

/// A handler asked for claims of another type than the layer validates:
/// a bug in the service, said loudly, and still closed.
fn type_mismatch<T>() -> Response {
    tracing::error!(
        wanted = std::any::type_name::<T>(),
        "the handler extracts Claims of a type the bearer layer was not built for"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"error":"server_error","error_description":"the server is misconfigured"}"#,
    )
        .into_response()
}

impl<T: Serialize> IntoResponse for Claims<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}
