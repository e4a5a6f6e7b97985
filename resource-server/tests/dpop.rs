//! DPoP-bound tokens at the middleware (RFC 9449 §7): what passes, what is
//! refused and how, with and without a DPoP requirement, with server
//! nonces; RFC 9728 metadata and its URL in challenges; step-up
//! requirements on `amr` and `acr` (RFC 9470). The client's proofs are made
//! with keys of every algorithm; services are called in-process.

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use axum::routing::get;
use axum::Router;
use common::algs::TestKey;
use common::*;
use resource_server::dpop::DpopVerifier;
use resource_server::{
    require_acr, require_amr, require_dpop, BearerAuthLayer, LocalKeys, ProtectedResourceMetadata,
    Validator, DPOP_NONCE,
};
use serde_json::{json, Value};
use tower::ServiceExt as _;

const ISSUER: &str = "https://idp.test";
const HOST: &str = "api.test";
const URL: &str = "http://api.test/api/private";

fn validator() -> Validator {
    let keys = LocalKeys::new();
    keys.set_json(jwks_json(&[trusted()]).as_bytes())
        .expect("jwks");
    Validator::builder(ISSUER, keys).audience(ISSUER).build()
}

/// The client's key: ES256 unless a test says otherwise.
fn client() -> &'static TestKey {
    &TestKey::all()[2]
}

/// A token bound to `key` (`cnf.jkt`).
fn bound_to(key: &TestKey) -> String {
    let mut claims = claims_for(ISSUER);
    claims["cnf"] = json!({"jkt": key.thumbprint()});
    token_with(trusted(), &claims)
}

fn unbound() -> String {
    token_with(trusted(), &claims_for(ISSUER))
}

/// `method path` with these headers (and `Host: api.test`).
async fn send(app: &Router, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    Reply::read(response).await
}

/// GET `/api/private` with `Authorization: DPoP token` and `proof`.
async fn with_proof(app: &Router, token: &str, proof: &str) -> Reply {
    let authorization = format!("DPoP {token}");
    send(
        app,
        "GET",
        "/api/private",
        &[("authorization", &authorization), ("dpop", proof)],
    )
    .await
}

/// A 401 with a `DPoP` challenge naming `error`.
fn assert_dpop_refusal(reply: &Reply, error: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {reply:?}");
    assert_eq!(reply.error(), error, "{what}: {reply:?}");
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP realm=")
            && challenge.contains(&format!("error=\"{error}\""))
            && challenge.contains("algs=\""),
        "{what}: {challenge}"
    );
}

#[tokio::test]
async fn a_valid_proof_passes_with_every_algorithm() {
    let app = api(validator());
    for key in TestKey::all() {
        let token = bound_to(key);
        for round in 0..2 {
            let proof = key.proof("GET", URL, Some(&token));
            let reply = with_proof(&app, &token, &proof).await;
            assert_eq!(reply.status, 200, "{} round {round}: {reply:?}", key.alg());
            assert_eq!(reply.json["cnf"]["jkt"], key.thumbprint());
        }
    }
    // The query is not part of htu.
    let token = bound_to(client());
    let proof = client().proof("GET", URL, Some(&token));
    let authorization = format!("DPoP {token}");
    let reply = send(
        &app,
        "GET",
        "/api/private?page=2",
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn proofs_that_do_not_fit_the_request_are_refused() {
    let app = api(validator());
    let key = client();
    let token = bound_to(key);
    let now = now();
    let other_key = &TestKey::all()[3];
    let other_token = bound_to(other_key);
    let signed = |claims: &Value| key.sign(&key.proof_header(), claims);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = key.proof_claims("GET", URL, Some(&token));
        change(&mut claims);
        signed(&claims)
    };
    let cases: Vec<(&str, String)> = vec![
        ("wrong method", key.proof("POST", URL, Some(&token))),
        (
            "wrong URL (path)",
            key.proof("GET", "http://api.test/api/other", Some(&token)),
        ),
        (
            "wrong URL (host)",
            key.proof("GET", "http://evil.test/api/private", Some(&token)),
        ),
        ("stale iat", with(&|c| c["iat"] = json!(now - 301))),
        ("iat in the future", with(&|c| c["iat"] = json!(now + 120))),
        (
            "missing ath",
            with(&|c| {
                c.as_object_mut().expect("object").remove("ath");
            }),
        ),
        (
            "ath of another token",
            key.proof("GET", URL, Some(&other_token)),
        ),
        (
            "missing jti",
            with(&|c| {
                c.as_object_mut().expect("object").remove("jti");
            }),
        ),
        (
            "wrong key thumbprint",
            other_key.proof("GET", URL, Some(&token)),
        ),
        ("typ JWT", {
            let mut header = key.proof_header();
            header["typ"] = json!("JWT");
            key.sign(&header, &key.proof_claims("GET", URL, Some(&token)))
        }),
        ("a private jwk", {
            let mut header = key.proof_header();
            header["jwk"]["d"] = json!("AAAA");
            key.sign(&header, &key.proof_claims("GET", URL, Some(&token)))
        }),
        ("signed by another key than its jwk", {
            other_key.sign(
                &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public_jwk()}),
                &key.proof_claims("GET", URL, Some(&token)),
            )
        }),
        ("alg HS256", {
            let mut header = key.proof_header();
            header["alg"] = json!("HS256");
            sign_hs256(&header, &key.proof_claims("GET", URL, Some(&token)), b"k")
        }),
        ("alg none", {
            let mut header = key.proof_header();
            header["alg"] = json!("none");
            format!(
                "{}.{}.",
                b64(&header),
                b64(&key.proof_claims("GET", URL, Some(&token)))
            )
        }),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (what, proof) in cases {
        let reply = with_proof(&app, &token, &proof).await;
        assert_dpop_refusal(&reply, "invalid_dpop_proof", what);
    }

    // A NumericDate may have a fraction (RFC 7519 §2).
    let fractional = with(&|c| c["iat"] = json!(now as f64 + 0.5));
    assert_eq!(with_proof(&app, &token, &fractional).await.status, 200);

    // Replayed: the same proof twice.
    let proof = key.proof("GET", URL, Some(&token));
    assert_eq!(with_proof(&app, &token, &proof).await.status, 200);
    let reply = with_proof(&app, &token, &proof).await;
    assert_dpop_refusal(&reply, "invalid_dpop_proof", "replayed jti");
    assert_eq!(reply.description(), "the DPoP proof was used before");

    // No proof, or two.
    let authorization = format!("DPoP {token}");
    let reply = send(
        &app,
        "GET",
        "/api/private",
        &[("authorization", &authorization)],
    )
    .await;
    assert_dpop_refusal(&reply, "invalid_dpop_proof", "no proof");
    let (a, b) = (
        key.proof("GET", URL, Some(&token)),
        key.proof("GET", URL, Some(&token)),
    );
    let reply = send(
        &app,
        "GET",
        "/api/private",
        &[
            ("authorization", &authorization),
            ("dpop", &a),
            ("dpop", &b),
        ],
    )
    .await;
    assert_dpop_refusal(&reply, "invalid_dpop_proof", "two proofs");
}

#[tokio::test]
async fn a_bound_token_is_never_a_bearer_token_and_bearer_is_never_dpop() {
    let app = api(validator());
    let token = bound_to(client());
    let reply = call(&app, "/api/private", Some(&token)).await;
    reply.assert_invalid_token("DPoP-bound token as Bearer");
    assert!(reply.description().contains("DPoP"), "{reply:?}");
    // Even with a valid proof beside it.
    let proof = client().proof("GET", URL, Some(&token));
    let bearer = format!("Bearer {token}");
    let reply = send(
        &app,
        "GET",
        "/api/private",
        &[("authorization", &bearer), ("dpop", &proof)],
    )
    .await;
    reply.assert_invalid_token("Bearer with a proof");

    // An unbound token with the DPoP scheme.
    let plain = unbound();
    let proof = client().proof("GET", URL, Some(&plain));
    let reply = with_proof(&app, &plain, &proof).await;
    assert_dpop_refusal(&reply, "invalid_token", "unbound token as DPoP");

    // Without a requirement, plain bearer tokens keep working.
    assert_eq!(call(&app, "/api/private", Some(&plain)).await.status, 200);
}

#[tokio::test]
async fn required_dpop_refuses_bearer_tokens_and_says_dpop() {
    let app = api_with(BearerAuthLayer::new(validator()).require_dpop(true));
    let reply = call(&app, "/api/private", Some(&unbound())).await;
    assert_dpop_refusal(
        &reply,
        "invalid_token",
        "bearer token where DPoP is required",
    );
    let reply = call(&app, "/api/private", None).await;
    assert_eq!(reply.status, 401);
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP realm=\"api\"")
            && challenge.contains("algs=\"RS256 PS256 ES256 EdDSA\""),
        "{challenge}"
    );

    let token = bound_to(client());
    let proof = client().proof("GET", URL, Some(&token));
    assert_eq!(with_proof(&app, &token, &proof).await.status, 200);

    // Per route, with require_dpop().
    let per_route: Router = Router::new()
        .route(
            "/bound",
            get(|| async { "bound" }).route_layer(require_dpop()),
        )
        .route("/any", get(|| async { "any" }))
        .route_layer(BearerAuthLayer::new(validator()));
    let bearer = format!("Bearer {}", unbound());
    assert_eq!(
        send(&per_route, "GET", "/any", &[("authorization", &bearer)])
            .await
            .status,
        200
    );
    let reply = send(&per_route, "GET", "/bound", &[("authorization", &bearer)]).await;
    assert_dpop_refusal(&reply, "invalid_token", "bearer on a DPoP route");
    let proof = client().proof("GET", "http://api.test/bound", Some(&token));
    let authorization = format!("DPoP {token}");
    let reply = send(
        &per_route,
        "GET",
        "/bound",
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn server_nonces_are_required_when_configured() {
    let verifier = DpopVerifier::builder()
        .require_nonce(std::time::Duration::from_secs(60))
        .build();
    let app = api_with(BearerAuthLayer::new(validator()).dpop(verifier));
    let token = bound_to(client());
    let reply = with_proof(&app, &token, &client().proof("GET", URL, Some(&token))).await;
    assert_dpop_refusal(&reply, "use_dpop_nonce", "no nonce");
    let response = {
        let proof = client().proof("GET", URL, Some(&token));
        let request = Request::get("/api/private")
            .header(header::HOST, HOST)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(Body::empty())
            .expect("request");
        app.clone().oneshot(request).await.expect("infallible")
    };
    let nonce = response
        .headers()
        .get(DPOP_NONCE)
        .and_then(|v| v.to_str().ok())
        .expect("DPoP-Nonce")
        .to_owned();

    let mut claims = client().proof_claims("GET", URL, Some(&token));
    claims["nonce"] = json!(nonce);
    let proof = client().sign(&client().proof_header(), &claims);
    assert_eq!(with_proof(&app, &token, &proof).await.status, 200);
    claims["nonce"] = json!("made-up");
    claims["jti"] = json!(jti());
    let proof = client().sign(&client().proof_header(), &claims);
    assert_dpop_refusal(
        &with_proof(&app, &token, &proof).await,
        "use_dpop_nonce",
        "forged nonce",
    );
}

#[tokio::test]
async fn a_public_url_is_what_htu_names() {
    let app = api_with(BearerAuthLayer::new(validator()).public_url("https://api.example.com/"));
    let token = bound_to(client());
    let proof = client().proof("GET", "https://api.example.com/api/private", Some(&token));
    assert_eq!(with_proof(&app, &token, &proof).await.status, 200);
    // The internal Host is no longer good enough.
    let proof = client().proof("GET", URL, Some(&token));
    assert_dpop_refusal(
        &with_proof(&app, &token, &proof).await,
        "invalid_dpop_proof",
        "internal URL",
    );
}

#[tokio::test]
async fn resource_metadata_is_served_and_named_in_challenges() {
    let metadata = ProtectedResourceMetadata::new("https://api.example.com")
        .authorization_server(ISSUER)
        .scopes(["api:read"])
        .dpop_required(true);
    let url = metadata.url_at("https://api.example.com");
    let app = api_with(BearerAuthLayer::new(validator()).resource_metadata(&url))
        .merge(metadata.router());
    for token in [None, Some("garbage".to_owned())] {
        let reply = call(&app, "/api/private", token.as_deref()).await;
        assert_eq!(reply.status, 401);
        let challenge = reply.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.contains(
                "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""
            ),
            "{challenge}"
        );
    }
    let reply = call(&app, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["resource"], "https://api.example.com");
    assert_eq!(reply.json["authorization_servers"], json!([ISSUER]));
    assert_eq!(reply.json["dpop_bound_access_tokens_required"], true);
}

#[tokio::test]
async fn step_up_requirements_on_amr_and_acr() {
    let app: Router = Router::new()
        .route(
            "/payouts",
            get(|| async { "payouts" }).route_layer(require_amr("otp")),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(require_acr(["urn:acme:mfa", "phr"])),
        )
        .route_layer(BearerAuthLayer::new(validator()));
    let token = |amr: Value, acr: Value| {
        let mut claims = claims_for(ISSUER);
        claims["amr"] = amr;
        claims["acr"] = acr;
        token_with(trusted(), &claims)
    };
    let password_only = token(json!(["pwd"]), json!("urn:acme:pwd"));
    let reply = call(&app, "/payouts", Some(&password_only)).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error(), "insufficient_user_authentication");
    let challenge = reply.challenge.as_deref().unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"api\", error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    let reply = call(&app, "/admin", Some(&password_only)).await;
    assert_eq!(reply.error(), "insufficient_user_authentication");
    assert!(
        reply
            .challenge
            .as_deref()
            .unwrap_or_default()
            .contains("acr_values=\"urn:acme:mfa phr\""),
        "{reply:?}"
    );

    let second_factor = token(json!(["pwd", "otp"]), json!("urn:acme:mfa"));
    assert_eq!(
        call(&app, "/payouts", Some(&second_factor)).await.status,
        200
    );
    assert_eq!(call(&app, "/admin", Some(&second_factor)).await.status, 200);
    // `amr` as a single string counts too; no `amr` at all does not.
    let single = token(json!("otp"), Value::Null);
    assert_eq!(call(&app, "/payouts", Some(&single)).await.status, 200);
    assert_eq!(call(&app, "/admin", Some(&single)).await.status, 401);
    let none = token_with(trusted(), &claims_for(ISSUER));
    assert_eq!(call(&app, "/payouts", Some(&none)).await.status, 401);
}
