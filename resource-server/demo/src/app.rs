//! The routes of the demo API, built from the library the way any service
//! would use it.
//!
//! | path | needs |
//! |---|---|
//! | GET `/api/public` | nothing |
//! | GET `/api/private` | any valid token |
//! | GET `/api/private-scoped` | scope `api:read` |
//! | GET `/user/profile` | scope `profile`; `{"user":{"sub","email","name"}}` |
//! | GET `/healthz` | nothing; liveness |
//! | GET `/readyz` | nothing; `200` once signing keys are loaded, else `503` |
//! | GET `/.well-known/oauth-protected-resource` | nothing; RFC 9728 metadata, when configured |
//!
//! Everything answers JSON, unknown routes and methods included.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use resource_server::{
    require_scope, BearerAuthLayer, ProtectedResourceMetadata, SharedClaims, Validator,
};
use serde::Serialize;
use serde_json::json;
use serve::json_error;

/// How the demo API is set up beyond its validator.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Refuse bearer tokens: only DPoP-bound ones with proofs.
    pub require_dpop: bool,
    /// The URL clients reach the API at, which DPoP proofs must name.
    pub public_url: Option<String>,
    /// The RFC 9728 document to serve, and its URL for challenges.
    pub metadata: Option<(ProtectedResourceMetadata, String)>,
}

/// The demo API protected by `validator`, accepting bearer tokens and
/// DPoP-bound ones with valid proofs.
pub fn demo_app(validator: Validator) -> Router {
    demo_app_with(validator, DemoOptions::default())
}

/// The demo API protected by `validator`, set up as `options` say.
pub fn demo_app_with(validator: Validator, options: DemoOptions) -> Router {
    let ready_validator = validator.clone();
    let mut layer = BearerAuthLayer::new(validator).require_dpop(options.require_dpop);
    if let Some(url) = &options.public_url {
        layer = layer.public_url(url);
    }
    if let Some((_, url)) = &options.metadata {
        layer = layer.resource_metadata(url);
    }
    let protected = Router::new()
        .route("/api/private", get(private))
        .route(
            "/api/private-scoped",
            get(private_scoped).route_layer(require_scope("api:read")),
        )
        .route(
            "/user/profile",
            get(profile).route_layer(require_scope("profile")),
        )
        .route_layer(layer);
    let metadata = match &options.metadata {
        Some((document, _)) => document.router(),
        None => Router::new(),
    };
    Router::new()
        .route("/api/public", get(public))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/readyz",
            get(move || {
                let loaded = ready_validator.keys_loaded();
                async move {
                    if loaded {
                        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
                    } else {
                        json_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not_ready",
                            "signing keys are not loaded yet",
                        )
                    }
                }
            }),
        )
        .merge(protected)
        .merge(metadata)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such resource") })
        .method_not_allowed_fallback(|| async {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this resource",
            )
        })
}

// The handlers read the claims the layer shares (`SharedClaims`, no copy)
// and answer typed structs, serialized straight to JSON: what a service
// that cares about its per-request cost would write.

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn public() -> Json<Message> {
    Json(Message {
        message: "public endpoint: no token needed",
    })
}

#[derive(Serialize)]
struct Private<'a> {
    message: &'static str,
    sub: &'a str,
    client_id: Option<&'a str>,
}

async fn private(claims: SharedClaims) -> Response {
    Json(Private {
        message: "private endpoint: any valid token",
        sub: &claims.sub,
        client_id: claims.client_id.as_deref(),
    })
    .into_response()
}

#[derive(Serialize)]
struct Scoped<'a> {
    message: &'static str,
    sub: &'a str,
    scope: &'a str,
}

async fn private_scoped(claims: SharedClaims) -> Response {
    Json(Scoped {
        message: "scoped endpoint: token has api:read",
        sub: &claims.sub,
        scope: &claims.scope,
    })
    .into_response()
}

#[derive(Serialize)]
struct User<'a> {
    sub: &'a str,
    email: Option<&'a str>,
    name: Option<&'a str>,
}

async fn profile(claims: SharedClaims) -> Response {
    Json(json!({
        "user": User {
            sub: &claims.sub,
            email: claims.email.as_deref(),
            name: claims.name.as_deref(),
        }
    }))
    .into_response()
}
