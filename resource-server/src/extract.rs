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

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
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

/// The refusal for a request that reached a guarded handler or layer
/// without the bearer layer's approval (it was never in front).
pub(crate) fn unauthenticated() -> Response {
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
            return Err(unauthenticated());
        };
        authenticated
            .shared_claims::<T>()
            .ok_or_else(type_mismatch::<T>)
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
            return Err(unauthenticated());
        };
        match authenticated.claims::<T>() {
            Some(claims) => Ok(claims.clone()),
            None => Err(type_mismatch::<T>()),
        }
    }
}

/// `Option<Claims<T>>`: `None` when the request did not pass through
/// [`BearerAuthLayer`](crate::BearerAuthLayer) (which refuses requests
/// without a valid token), so on a route outside the layer it is always
/// `None`, even with a valid token: for handlers shared by routes inside
/// and outside the layer, not an optional authentication.
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
            .ok_or_else(unauthenticated)
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
