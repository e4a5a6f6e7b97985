//! The HTTP contract of the middleware, driven in-process with
//! `ServiceExt::oneshot`: a validator over [`LocalKeys`] that trust a test
//! key, the bearer layer and per-route scope checks in front of handlers,
//! and what a client gets back for a missing, bad, under-scoped or valid
//! token. No socket is opened.

mod common;

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use common::*;
use resource_server::{
    require_dpop, require_scope, Authenticated, BearerAuthLayer, Claims, LocalKeys, Profile,
    Validator,
};
use serde_json::json;
use tower::{service_fn, Layer as _, ServiceExt as _};

const ISSUER: &str = "https://idp.test";

/// A validator that trusts [`trusted`], as the IdP would publish it.
fn validator() -> Validator {
    let keys = LocalKeys::new();
    keys.set_json(jwks_json(&[trusted()]).as_bytes())
        .expect("jwks");
    Validator::builder(ISSUER, keys).audience(ISSUER).build()
}

/// A valid token granting `scope`.
fn token_with_scope(scope: &str) -> String {
    let mut claims = claims_for(ISSUER);
    claims["scope"] = json!(scope);
    token_with(trusted(), &claims)
}

fn token() -> String {
    token_with(trusted(), &claims_for(ISSUER))
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let app = api(validator());
    let claims = claims_for(ISSUER);
    let reply = call(&app, "/api/private", Some(&token_with(trusted(), &claims))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen: Claims = serde_json::from_value(reply.json).expect("the handler's claims");
    assert_eq!(seen.sub, "user-1");
    assert_eq!(seen.jti.as_deref(), claims["jti"].as_str());
    assert_eq!(seen.scope, "profile api:read");
    assert_eq!(seen.aud, [ISSUER]);
    assert_eq!(seen.email.as_deref(), Some("alice@example.com"));
    assert_eq!(seen.client_id.as_deref(), Some("demo-client"));
}

#[tokio::test]
async fn a_missing_token_gets_a_bare_challenge() {
    let app = api(validator());
    for authorization in [None, Some("Basic dXNlcjpwYXNz"), Some("Token abc")] {
        let reply = call_with(&app, "/api/private", authorization).await;
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(
            reply.challenge.as_deref(),
            Some("Bearer realm=\"api\""),
            "{authorization:?}"
        );
        assert_eq!(reply.error(), "missing_token");
        assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(call(&app, "/api/public", None).await.status, 200);
}

#[tokio::test]
async fn a_bad_token_is_an_invalid_token() {
    let app = api(validator());
    let mut expired = claims_for(ISSUER);
    expired["exp"] = json!(now() - 3600);
    let cases = [
        ("not a JWT", "garbage".to_owned()),
        (
            "signed by an untrusted key",
            token_with(attacker(), &claims_for(ISSUER)),
        ),
        ("expired", token_with(trusted(), &expired)),
        (
            "for another issuer",
            token_with(trusted(), &claims_for("https://elsewhere.test")),
        ),
    ];
    for (what, token) in cases {
        let reply = call(&app, "/api/private", Some(&token)).await;
        reply.assert_invalid_token(what);
        assert!(!reply.description().is_empty(), "{what}: {reply:?}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = api(validator());
    let token = token();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {token}");
        let reply = call_with(&app, "/api/private", Some(&authorization)).await;
        assert_eq!(reply.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_the_scope() {
    let app = api(validator());
    let reply = call(
        &app,
        "/api/private-scoped",
        Some(&token_with_scope("api profile")),
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.error(), "insufficient_scope");
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(challenge.starts_with("Bearer realm=\"api\""), "{challenge}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"api:read\""), "{challenge}");
}

#[tokio::test]
async fn scopes_are_matched_as_whole_tokens() {
    let app = api(validator());
    let status = |path: &'static str, scope: &'static str| {
        let app = app.clone();
        async move {
            call(&app, path, Some(&token_with_scope(scope)))
                .await
                .status
        }
    };
    assert_eq!(status("/api/needs-api", "api:read").await, 403);
    assert_eq!(status("/api/needs-api", "api profile").await, 200);
    assert_eq!(status("/api/private-scoped", "api:read").await, 200);
    for near_miss in ["api:rea", "api:reads", "API:READ", "api:read,profile", ""] {
        assert_eq!(
            status("/api/private-scoped", near_miss).await,
            403,
            "{near_miss:?}"
        );
    }
}

#[tokio::test]
async fn the_realm_is_the_layer_s() {
    let app: Router = Router::new()
        .route(
            "/reports",
            get(|| async { "reports" }).route_layer(require_scope("reports:read")),
        )
        .route_layer(BearerAuthLayer::new(validator()).realm("reports"));
    let reply = call(&app, "/reports", None).await;
    assert_eq!(reply.challenge.as_deref(), Some("Bearer realm=\"reports\""));
    let reply = call(&app, "/reports", Some(&token())).await;
    assert_eq!(reply.status, 403);
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"reports\""),
        "the scope check answers in the layer's realm: {challenge}"
    );
}

#[tokio::test]
async fn no_keys_yet_is_503_with_retry_after() {
    let unloaded = Validator::builder(ISSUER, LocalKeys::new())
        .audience(ISSUER)
        .build();
    let request = Request::get("/api/private")
        .header(header::AUTHORIZATION, format!("Bearer {}", token()))
        .body(Body::empty())
        .expect("request");
    let response = api(unloaded).oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let reply = Reply::read(response).await;
    assert_eq!(reply.error(), "temporarily_unavailable");
}

#[tokio::test]
async fn a_scope_check_without_the_bearer_layer_fails_closed() {
    let app: Router = Router::new().route(
        "/reports",
        get(|| async { "reports" }).route_layer(require_scope("reports:read")),
    );
    let reply = call(&app, "/reports", Some(&token_with_scope("reports:read"))).await;
    assert_eq!(reply.status, 401, "{reply:?}");
}

#[tokio::test]
async fn the_layer_guards_any_tower_service() {
    let service =
        BearerAuthLayer::new(validator()).layer(service_fn(|request: Request<Body>| async move {
            // What the layer leaves for any service: `Authenticated`, with
            // the claims of the type it validates.
            let sub = request
                .extensions()
                .get::<Authenticated>()
                .and_then(|auth| auth.claims::<Profile>())
                .map(|claims| claims.sub.to_string())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Body::from(sub)))
        }));
    let request = |authorization: Option<String>| {
        let mut request = Request::get("/");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(Body::empty()).expect("request")
    };

    let response = service
        .clone()
        .oneshot(request(Some(format!("Bearer {}", token()))))
        .await
        .expect("infallible");
    let reply = Reply::read(response).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "user-1"));

    let response = service.oneshot(request(None)).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Routes behind an optional layer: `/maybe` takes `Option<Claims>`,
/// `/maybe-auth` `Option<Authenticated>`, `/scoped` requires `api:read`,
/// `/must` takes plain `Claims`.
fn optional_api(layer: BearerAuthLayer) -> Router {
    let who = |claims: Option<Claims>| async move {
        claims.map_or_else(|| "anonymous".to_owned(), |c| c.sub.to_string())
    };
    Router::new()
        .route("/maybe", get(who))
        .route(
            "/maybe-auth",
            get(|auth: Option<Authenticated>| async move {
                auth.map_or_else(|| "anonymous".to_owned(), |a| a.sub().to_owned())
            }),
        )
        .route("/scoped", get(who).route_layer(require_scope("api:read")))
        .route(
            "/must",
            get(|claims: Claims| async move { claims.sub.to_string() }),
        )
        .route("/dpop", get(who).route_layer(require_dpop()))
        .route_layer(layer.optional(true))
}

#[tokio::test]
async fn an_optional_layer_lets_anonymous_requests_through_without_claims() {
    let app = optional_api(BearerAuthLayer::new(validator()));
    for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
        for path in ["/maybe", "/maybe-auth"] {
            let reply = call_with(&app, path, authorization).await;
            assert_eq!(
                (reply.status, reply.text.as_str()),
                (200, "anonymous"),
                "{path} {authorization:?}"
            );
        }
    }
    for path in ["/maybe", "/maybe-auth", "/must", "/scoped"] {
        let reply = call(&app, path, Some(&token_with_scope("api:read"))).await;
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (200, "user-1"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_optional_layer_still_refuses_a_bad_token() {
    let app = optional_api(BearerAuthLayer::new(validator()));
    let mut expired = claims_for(ISSUER);
    expired["exp"] = json!(now() - 3600);
    let mut foreign_audience = claims_for(ISSUER);
    foreign_audience["aud"] = json!("https://other.test");
    for (what, token) in [
        ("not a JWT", "garbage".to_owned()),
        (
            "signed by an untrusted key",
            token_with(attacker(), &claims_for(ISSUER)),
        ),
        ("expired", token_with(trusted(), &expired)),
        ("another audience", token_with(trusted(), &foreign_audience)),
    ] {
        for path in ["/maybe", "/maybe-auth"] {
            call(&app, path, Some(&token))
                .await
                .assert_invalid_token(&format!("{what} on {path}"));
        }
    }
    let empty = call_with(&app, "/maybe", Some("Bearer ")).await;
    empty.assert_invalid_token("an empty token");
    let twice = {
        let request = Request::get("/maybe")
            .header(header::AUTHORIZATION, format!("Bearer {}", token()))
            .header(header::AUTHORIZATION, format!("Bearer {}", token()))
            .body(Body::empty())
            .expect("request");
        Reply::read(app.clone().oneshot(request).await.expect("infallible")).await
    };
    assert_eq!(twice.status, 400, "{twice:?}");
    // A DPoP proof without a token is no anonymous request.
    let request = Request::get("/maybe")
        .header("dpop", "a.b.c")
        .body(Body::empty())
        .expect("request");
    let reply = Reply::read(app.clone().oneshot(request).await.expect("infallible")).await;
    assert_eq!((reply.status, reply.error()), (401, "missing_token"));
}

#[tokio::test]
async fn requirements_behind_an_optional_layer_refuse_anonymous_requests() {
    let app = optional_api(BearerAuthLayer::new(validator()).realm("shop"));
    for path in ["/scoped", "/must"] {
        let reply = call(&app, path, None).await;
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
        assert_eq!(reply.error(), "missing_token", "{path}");
        assert_eq!(
            reply.challenge.as_deref(),
            Some("Bearer realm=\"shop\""),
            "{path}: the layer's challenge"
        );
    }
    let reply = call(&app, "/dpop", None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(challenge.starts_with("DPoP realm=\"shop\""), "{challenge}");
    let reply = call(&app, "/scoped", Some(&token_with_scope("profile"))).await;
    assert_eq!(reply.status, 403, "{reply:?}");
}

#[tokio::test]
async fn a_layer_is_not_optional_unless_asked() {
    let app = optional_api(BearerAuthLayer::new(validator())).merge(
        Router::new()
            .route("/strict", get(|| async { "strict" }))
            .route_layer(
                BearerAuthLayer::new(validator())
                    .optional(true)
                    .optional(false),
            ),
    );
    assert_eq!(call(&app, "/strict", None).await.status, 401);
}
