//! The HTTP API: one module per resource, each with a `router()`.
//!
//! - `discovery.rs`: `/jwks`, the metadata documents, `/revocations`;
//! - `users.rs`: signup, `/login` and `/login/mfa`;
//! - `oauth.rs`: `/token`, `/revoke`, `/introspect`;
//! - `account.rs`: `/userinfo`, `/logout` (bearer token);
//! - `authorize.rs`: `/authorize`, the sign-in, second-factor, sign-up and
//!   consent forms;
//! - `end_session.rs`: `/end_session` (RP-initiated logout);
//! - `account_pages.rs`: the account page `/account` and its forms under
//!   `/account/manage/` (the browser session cookie);
//! - `account.rs`: `/userinfo`, `/logout`, `/account/password`,
//!   `/account/totp...` (bearer token);
//! - `recovery.rs`: password reset and email verification by mailed link,
//!   whose pages (the GETs and form posts) are in `recovery_pages.rs`;
//! - `registry.rs`: `/clients` and `/admin/keys` (bearer token, scope `admin`);
//! - `admin_users.rs`: `/admin/users` (bearer token, scope `admin`);
//! - `health.rs`: `/healthz`, `/readyz`, `/metrics` (beside the API, or
//!   alone on its own listener with `--metrics-bind`: [`api`] and
//!   [`metrics_app`]);
//! - `openapi.rs`: `/openapi.json`, the OpenAPI 3.1 document of all of the
//!   above ([`openapi_document`]).
//!
//! Each `router()` is a `utoipa_axum` `OpenApiRouter` whose routes come
//! from the handlers' `#[utoipa::path]` attributes (`routes!`), so what is
//! served and what is documented are one list; `tests/openapi.rs` checks
//! both directions against the running router.
//!
//! Cross-cutting pieces live beside them: `extract.rs` reads bodies and
//! credentials, `token_request.rs` what a token request asks besides its
//! grant (an API, a DPoP key), `error.rs` turns the IdP's [`Error`](crate::Error) into JSON
//! (and gives routing and extractor failures the same shape), `pages.rs`
//! renders the sign-in pages with their security headers and serves their
//! stylesheet, `cookies.rs` reads and writes the session and CSRF cookies,
//! `client_address.rs` reads the client address behind trusted proxies
//! (`--trusted-proxies`). Timeouts and connection handling are the
//! server's (the `serve` crate), and so are the request id, the log line
//! and the latency histogram every request gets (`serve::observe`, applied
//! here).

mod account;
mod account_pages;
mod admin_users;
mod authorize;
mod client_address;
mod cookies;
mod discovery;
mod end_session;
mod error;
mod extract;
mod health;
mod oauth;
mod openapi;
mod pages;
mod recovery;
mod recovery_pages;
mod registry;
mod token_request;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use resource_server::BearerAuthLayer;
use tower::util::{MapRequestLayer, MapResponseLayer};
use tower::ServiceBuilder;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub use error::json_errors;
pub use openapi::{document as openapi_document, json as openapi_json};

/// Largest request body accepted anywhere.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole API with `/metrics` beside it.
pub fn app(state: AppState) -> Router {
    api(state.clone()).merge(metrics_app(state))
}

/// `/metrics` alone, for its own listener.
pub fn metrics_app(state: AppState) -> Router {
    let registry = state.metrics().registry().clone();
    let (router, _) = health::metrics_router().split_for_parts();
    serve::observe(router.with_state(state), &registry)
}

/// Routes anyone may call.
fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(discovery::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(users::router())
        .merge(recovery::router())
        .merge(oauth::router())
        .merge(authorize::router())
        .merge(end_session::router())
        .merge(account_pages::router())
        .merge(pages::router())
}

/// Routes behind a bearer token (the layer is added in [`api`], where the
/// state it needs exists).
fn protected_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(account::router())
        .merge(registry::router())
        .merge(admin_users::router())
}

/// Every route [`app`] serves, with its documentation.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(public_routes())
        .merge(protected_routes())
        .merge(health::metrics_router())
}

/// The whole API without `/metrics`.
pub fn api(state: AppState) -> Router {
    let registry = state.metrics().registry().clone();
    // Tokens bound to a DPoP key are accepted with proofs naming the
    // endpoint under the issuer URL, the same verifier as `/token`'s.
    let bearer = BearerAuthLayer::new(state.validator().clone())
        .realm(&state.settings().issuer)
        .dpop(state.dpop().clone())
        .public_url(&state.settings().issuer);
    let (protected, _) = protected_routes().split_for_parts();
    let (public, _) = public_routes().split_for_parts();
    let router = public
        .merge(
            protected.route_layer(
                ServiceBuilder::new()
                    .layer(MapResponseLayer::new(
                        not_stored as fn(Response) -> Response,
                    ))
                    .layer(bearer),
            ),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state.clone());
    // Plain request and response mappers, in one `layer` call: axum boxes
    // each call's layers around every route and clones the boxes per
    // request. The builder's first layer is the outer one.
    let proxies = state.trusted_proxies().clone();
    let router = router.layer(
        ServiceBuilder::new()
            .layer(MapRequestLayer::new(move |request| {
                client_address::rewrite(&proxies, request)
            }))
            .layer(MapResponseLayer::new(
                json_errors as fn(Response) -> Response,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    );
    serve::observe(router, &registry)
}

/// Answers to a bearer token (a user's claims, the registry, the user list)
/// are that caller's alone: no cache keeps them, unless the handler said
/// otherwise.
fn not_stored(mut response: Response) -> Response {
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Token responses must never be cached (RFC 6749 §5.1).
fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
