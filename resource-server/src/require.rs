//! Per-route requirements on an authenticated request: scopes, how the
//! user authenticated, and DPoP.
//!
//! Each function returns a layer that admits a request only when the
//! [`Authenticated`] the [`BearerAuthLayer`](crate::BearerAuthLayer) left in
//! it satisfies the requirement, whatever the application's claims type:
//!
//! | layer | refusal |
//! |---|---|
//! | [`require_scope`]`("a b")` | `403 insufficient_scope`, naming the scope (RFC 6750 §3.1) |
//! | [`require_amr`]`("otp")` | `401 insufficient_user_authentication` (RFC 9470 §3) |
//! | [`require_acr`]`(["mfa"])` | `401 insufficient_user_authentication` with `acr_values` |
//! | [`require_dpop`]`()` | `401 invalid_token` with a `DPoP` challenge (RFC 9449 §7.1) |
//!
//! Scopes are compared as whole tokens, so `api` does not satisfy
//! `api:read`. Put these *inside* the bearer layer, e.g. with `route_layer`
//! on one route:
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{require_amr, require_scope, BearerAuthLayer, LocalKeys, Validator};
//!
//! let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
//!     .audience("https://api.example.com")
//!     .build();
//! let app: Router = Router::new()
//!     .route("/reports", get(|| async { "reports" }).route_layer(require_scope("reports:read")))
//!     .route("/payouts", get(|| async { "payouts" }).route_layer(require_amr("otp")))
//!     .route_layer(BearerAuthLayer::new(validator));
//! ```
//!
//! Without the bearer layer in front there are no claims and the answer is
//! `401`: a misassembled router fails closed. Behind an
//! [optional](crate::BearerAuthLayer::optional) bearer layer, a request
//! without a token is refused here with that layer's `401` challenge: a
//! requirement always needs a token.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::{Body, HttpBody};
use axum::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::claims::require_scope as check_scope;
use crate::error::{AuthError, InvalidTokenReason, Scheme};
use crate::extract::{unauthenticated_by_default, Anonymous, Authenticated};

/// A layer requiring `scope` (several scopes, space-separated, are all
/// required) of the token.
pub fn require_scope(scope: impl Into<String>) -> RequireLayer {
    RequireLayer::new(Requirement::Scope(Arc::from(scope.into())))
}

/// A layer requiring that the user authenticated with `method`, an RFC 8176
/// `amr` value such as `otp`, `hwk` or `mfa`: a second factor for a
/// sensitive route.
pub fn require_amr(method: impl Into<String>) -> RequireLayer {
    RequireLayer::new(Requirement::Amr(Arc::from(method.into())))
}

/// A layer requiring that the token's `acr` be one of `values`.
pub fn require_acr<I, V>(values: I) -> RequireLayer
where
    I: IntoIterator<Item = V>,
    V: Into<String>,
{
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    RequireLayer::new(Requirement::Acr(Arc::from(values)))
}

/// A layer requiring a DPoP-bound token presented with a valid proof
/// (the bearer layer checked the proof); plain bearer tokens are refused.
pub fn require_dpop() -> RequireLayer {
    RequireLayer::new(Requirement::Dpop)
}

/// One requirement.
#[derive(Debug, Clone)]
enum Requirement {
    Scope(Arc<str>),
    Amr(Arc<str>),
    Acr(Arc<[String]>),
    Dpop,
}

impl Requirement {
    /// The refusal, if `request` does not meet the requirement.
    fn refusal(&self, request: &Authenticated) -> Option<Response<Body>> {
        let error = match self {
            Self::Scope(scope) => check_scope(request.scope(), scope).err()?,
            Self::Amr(method) if request.amr().iter().any(|m| **m == **method) => return None,
            Self::Amr(method) => AuthError::InsufficientUserAuthentication {
                description: format!("this resource requires authentication with {method}"),
                acr_values: None,
            },
            Self::Acr(values)
                if request
                    .acr()
                    .is_some_and(|acr| values.iter().any(|v| v == acr)) =>
            {
                return None
            }
            Self::Acr(values) => AuthError::InsufficientUserAuthentication {
                description: "this resource requires a stronger authentication".into(),
                acr_values: Some(values.join(" ")),
            },
            Self::Dpop if request.scheme() == Scheme::DPoP => return None,
            Self::Dpop => {
                return Some(request.refuse_as(
                    AuthError::InvalidToken(InvalidTokenReason::DpopRequired),
                    Scheme::DPoP,
                ))
            }
        };
        Some(request.refuse(error))
    }
}

/// Applies [`Require`]; see [`require_scope`], [`require_amr`],
/// [`require_acr`], [`require_dpop`].
#[derive(Debug, Clone)]
pub struct RequireLayer {
    requirement: Requirement,
}

/// The layer of [`require_scope`] (its former name).
pub type RequireScopeLayer = RequireLayer;
/// The service of [`require_scope`] (its former name).
pub type RequireScope<S> = Require<S>;

impl RequireLayer {
    fn new(requirement: Requirement) -> Self {
        Self { requirement }
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = Require<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            requirement: self.requirement.clone(),
        }
    }
}

/// Middleware that admits only requests meeting one requirement.
#[derive(Debug, Clone)]
pub struct Require<S> {
    inner: S,
    requirement: Requirement,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let extensions = request.extensions();
        let refused = match (
            extensions.get::<Authenticated>(),
            extensions.get::<Anonymous>(),
        ) {
            (Some(authenticated), _) => self.requirement.refusal(authenticated),
            // Let through anonymous by an optional layer: refused as that
            // layer refuses a missing token.
            (None, Some(anonymous)) => Some(anonymous.refuse_as(match self.requirement {
                Requirement::Dpop => Scheme::DPoP,
                _ => Scheme::Bearer,
            })),
            (None, None) => Some(unauthenticated_by_default()),
        };
        match refused {
            None => ResponseFuture {
                inner: Some(self.inner.call(request)),
                refused: None,
            },
            Some(response) => {
                tracing::debug!(requirement = ?self.requirement, "request refused: requirement not met");
                ResponseFuture {
                    inner: None,
                    refused: Some(response),
                }
            }
        }
    }
}

pin_project! {
    /// Response future of [`Require`]: the inner service's answer, or the
    /// refusal when the requirement was not met.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        refused: Option<Response<Body>>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(future) = this.inner.as_pin_mut() {
            let response = ready!(future.poll(cx))?;
            return Poll::Ready(Ok(response.map(Body::new)));
        }
        Poll::Ready(Ok(this
            .refused
            .take()
            .unwrap_or_else(unauthenticated_by_default)))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.inner.is_none())
            .finish()
    }
}
