//! Per-route scope requirements.
//!
//! [`require_scope`] returns a layer that admits a request only when the
//! [`Claims`] put there by [`BearerAuthLayer`](crate::BearerAuthLayer) carry
//! the scope; otherwise it answers `403 insufficient_scope` naming the scope
//! (RFC 6750 §3.1). Scopes are compared as whole tokens, so `api` does not
//! satisfy `api:read`. Put it *inside* the bearer layer, e.g. with
//! `route_layer` on one route:
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{require_scope, BearerAuthLayer, LocalKeys, Validator};
//!
//! let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
//!     .audience("https://api.example.com")
//!     .build();
//! let app: Router = Router::new()
//!     .route("/reports", get(|| async { "reports" }).route_layer(require_scope("reports:read")))
//!     .route_layer(BearerAuthLayer::new(validator));
//! ```
//!
//! Without the bearer layer in front there are no claims and the answer is
//! `401`: a misassembled router fails closed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::{Body, HttpBody};
use axum::response::IntoResponse;
use axum::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::claims::Claims;
use crate::error::{AuthError, Realm};

/// A layer requiring `scope` (several scopes, space-separated, are all
/// required) from the request's [`Claims`].
pub fn require_scope(scope: impl Into<String>) -> RequireScopeLayer {
    RequireScopeLayer::new(scope)
}

/// Applies [`RequireScope`]; see [`require_scope`].
#[derive(Debug, Clone)]
pub struct RequireScopeLayer {
    scope: Arc<str>,
}

impl RequireScopeLayer {
    /// Require `scope` (space-separated scopes are all required).
    pub fn new(scope: impl Into<String>) -> Self {
        Self {
            scope: Arc::from(scope.into()),
        }
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            scope: self.scope.clone(),
        }
    }
}

/// Middleware that admits only requests whose claims carry a scope.
#[derive(Debug, Clone)]
pub struct RequireScope<S> {
    inner: S,
    scope: Arc<str>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S>
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
        let verdict = match request.extensions().get::<Claims>() {
            None => Err(AuthError::MissingToken),
            Some(claims) => claims.require_scope(&self.scope),
        };
        match verdict {
            Ok(()) => ResponseFuture {
                inner: Some(self.inner.call(request)),
                refused: None,
            },
            Err(error) => {
                let realm = request
                    .extensions()
                    .get::<Realm>()
                    .cloned()
                    .unwrap_or_default();
                tracing::debug!(scope = %self.scope, "request refused: insufficient scope");
                ResponseFuture {
                    inner: None,
                    refused: Some(error.into_response_with_realm(&realm.0)),
                }
            }
        }
    }
}

pin_project! {
    /// Response future of [`RequireScope`]: the inner service's answer, or
    /// the refusal when the scope was missing.
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
            .unwrap_or_else(|| AuthError::MissingToken.into_response())))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.inner.is_none())
            .finish()
    }
}
