//! The demo API's routes, called in-process: what each answers, with and
//! without a token, and that nothing answers anything but JSON.

#[path = "../../tests/common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use common::*;
use resource_server::{LocalKeys, Validator};
use resource_server_demo::demo_app;
use serde_json::json;
use tower::ServiceExt as _;

const ISSUER: &str = "https://idp.test";

/// The demo API over `keys`, which trust nothing until set.
fn app(keys: &LocalKeys) -> Router {
    demo_app(
        Validator::builder(ISSUER, keys.clone())
            .audience(ISSUER)
            .build(),
    )
}

fn trusting() -> Router {
    let keys = LocalKeys::new();
    keys.set_json(jwks_json(&[trusted()]).as_bytes())
        .expect("jwks");
    app(&keys)
}

#[tokio::test]
async fn the_protected_routes_answer_from_the_token_s_claims() {
    let app = trusting();
    let token = token_with(trusted(), &claims_for(ISSUER));

    let reply = call(&app, "/user/profile", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json,
        json!({"user": {"sub": "user-1", "email": "alice@example.com", "name": "Alice"}})
    );
    let reply = call(&app, "/api/private", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["client_id"], "demo-client");
    let reply = call(&app, "/api/private-scoped", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["scope"], "profile api:read");

    let mut claims = claims_for(ISSUER);
    claims["scope"] = json!("api:read");
    let reply = call(&app, "/user/profile", Some(&token_with(trusted(), &claims))).await;
    assert_eq!(reply.status, 403, "profile needs scope profile");
    assert_eq!(reply.error(), "insufficient_scope");

    assert_eq!(call(&app, "/api/private", None).await.status, 401);
    assert_eq!(call(&app, "/api/public", None).await.status, 200);
}

#[tokio::test]
async fn ready_once_signing_keys_are_loaded() {
    let keys = LocalKeys::new();
    let app = app(&keys);
    assert_eq!(
        call(&app, "/healthz", None).await.json,
        json!({"status": "ok"})
    );
    let reply = call(&app, "/readyz", None).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.error(), "not_ready");

    keys.set_json(jwks_json(&[trusted()]).as_bytes())
        .expect("jwks");
    let reply = call(&app, "/readyz", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json, json!({"status": "ready"}));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = trusting();
    let reply = call(&app, "/nope", None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error(), "not_found");
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));

    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/public")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let reply = Reply::read(response).await;
    assert_eq!(reply.error(), "method_not_allowed");
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn with_dpop_required_only_bound_tokens_with_proofs_pass() {
    use common::algs::TestKey;
    let keys = LocalKeys::new();
    keys.set_json(jwks_json(&[trusted()]).as_bytes())
        .expect("jwks");
    let metadata = resource_server::ProtectedResourceMetadata::new("https://api.demo")
        .authorization_server(ISSUER)
        .dpop_required(true);
    let url = metadata.url_at("http://api.demo");
    let app = resource_server_demo::demo_app_with(
        Validator::builder(ISSUER, keys).audience(ISSUER).build(),
        resource_server_demo::DemoOptions {
            require_dpop: true,
            public_url: Some("http://api.demo".into()),
            metadata: Some((metadata, url)),
        },
    );

    let reply = call(&app, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["resource"], "https://api.demo");
    assert_eq!(reply.json["dpop_bound_access_tokens_required"], true);

    let bearer = token_with(trusted(), &claims_for(ISSUER));
    let reply = call(&app, "/api/private", Some(&bearer)).await;
    assert_eq!(reply.status, 401);
    let challenge = reply.challenge.unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP realm=")
            && challenge.contains(
                "resource_metadata=\"http://api.demo/.well-known/oauth-protected-resource\""
            ),
        "{challenge}"
    );

    let key = &TestKey::all()[2];
    let mut claims = claims_for(ISSUER);
    claims["cnf"] = json!({"jkt": key.thumbprint()});
    let token = token_with(trusted(), &claims);
    let proof = key.proof("GET", "http://api.demo/api/private", Some(&token));
    let request = Request::get("/api/private")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .expect("request");
    let reply = Reply::read(app.oneshot(request).await.expect("infallible")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["sub"], "user-1");
}
