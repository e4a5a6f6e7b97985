//! The identity provider's HTTP API, driven over a real socket.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{error_code, jwt_part, TestIdp};
use serde_json::{json, Value};

#[tokio::test]
async fn signup_returns_the_user_and_refuses_a_duplicate_email() {
    let idp = TestIdp::start().await;
    let response = idp.signup("ada@example.com", "correct horse battery").await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["name"], "Test User");
    assert!(body["user"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(body["user"].get("password").is_none() && body["user"].get("password_hash").is_none());

    let again = idp.signup("ADA@example.com", "another password").await;
    assert_eq!(error_code(again, 409).await, "email_taken");
}

#[tokio::test]
async fn login_by_json_and_by_basic_gives_an_rfc9068_token() {
    let idp = TestIdp::start().await;
    assert_eq!(
        idp.signup("bob@example.com", "correct horse battery")
            .await
            .status(),
        201
    );

    let by_json = idp.login("bob@example.com", "correct horse battery").await;
    assert_eq!(by_json.status(), 200);
    assert_eq!(by_json.headers()["cache-control"], "no-store");
    let tokens: Value = by_json.json().await.expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["scope"], "profile");
    assert!(tokens["refresh_token"].is_string());

    let by_basic = idp
        .http
        .post(idp.url("/login"))
        .basic_auth("bob@example.com", Some("correct horse battery"))
        .send()
        .await
        .expect("request");
    assert_eq!(by_basic.status(), 200);
    let basic_tokens: Value = by_basic.json().await.expect("json");
    assert_ne!(basic_tokens["access_token"], tokens["access_token"]);

    let token = tokens["access_token"].as_str().expect("token");
    let header = jwt_part(token, 0);
    let claims = jwt_part(token, 1);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(!claims[claim].is_null(), "claim {claim} missing");
    }
    assert_eq!(claims["iss"], idp.base);
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["name"], "Test User");
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        900
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_answered_alike() {
    let idp = TestIdp::start_with(|c| c.bcrypt_cost = 10).await;
    assert_eq!(
        idp.signup("carol@example.com", "correct horse battery")
            .await
            .status(),
        201
    );

    // Alternate the two cases and compare medians, so that a burst of load
    // from tests running alongside cannot decide the outcome.
    let mut timings: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut answers = Vec::new();
    for _ in 0..3 {
        for (case, email) in ["carol@example.com", "nobody@example.com"]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let response = idp.login(email, "wrong password!").await;
            timings[case].push(started.elapsed().as_secs_f64());
            let status = response.status();
            let challenge = response.headers().get("www-authenticate").cloned();
            let body = response.text().await.expect("body");
            answers.push((status, challenge, body));
        }
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "unknown email must look like a wrong password: {answers:?}"
    );
    assert_eq!(answers[0].0, 401);
    let body: Value = serde_json::from_str(&answers[0].2).expect("json");
    assert_eq!(body["error"], "invalid_credentials");
    // Both paths run one bcrypt verification at the same cost: neither may
    // be several times faster than the other.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [known, unknown] = timings;
    let (a, b) = (median(known), median(unknown));
    assert!(
        a.max(b) / a.min(b) < 3.0,
        "median timings differ: {a:.4}s vs {b:.4}s"
    );
}

#[tokio::test]
async fn bad_input_gets_json_errors_never_500() {
    let idp = TestIdp::start().await;
    let post = |path: &str| idp.http.post(idp.url(path));

    // Malformed JSON.
    let r = post("/user")
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Wrong content type.
    let r = post("/user")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 415).await, "invalid_request");
    // No content type at all.
    let r = post("/user").body("{}").send().await.expect("send");
    assert_eq!(error_code(r, 415).await, "invalid_request");
    // Missing field.
    let r = post("/user")
        .json(&json!({"email": "a@example.com", "password": "long enough"}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Mistyped field.
    let r = post("/user")
        .json(&json!({"email": "a@example.com", "name": "A", "password": 12345678}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Not an object.
    let r = post("/user")
        .json(&json!(["a@example.com"]))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Invalid email.
    for email in ["not-an-email", "a@", "@example.com", "a b@example.com", ""] {
        let r = idp.signup(email, "long enough").await;
        assert_eq!(error_code(r, 400).await, "invalid_request", "{email:?}");
    }
    // Blank name.
    let r = post("/user")
        .json(&json!({"email": "a@example.com", "name": "  ", "password": "long enough"}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Short password.
    let r = idp.signup("a@example.com", "short").await;
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Over bcrypt's 72 bytes: refused, not truncated.
    let r = idp.signup("a@example.com", &"p".repeat(73)).await;
    let body: Value = {
        assert_eq!(r.status(), 400);
        r.json().await.expect("json")
    };
    assert!(body["error_description"]
        .as_str()
        .expect("text")
        .contains("72"));
    // Oversized body.
    let huge =
        json!({"email": "a@example.com", "name": "x".repeat(100_000), "password": "long enough"});
    let r = post("/user").json(&huge).send().await.expect("send");
    assert_eq!(r.status(), 413);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("application/json"));
    // Login without credentials, and with malformed Basic.
    let r = post("/login").send().await.expect("send");
    assert_eq!(error_code(r, 415).await, "invalid_request");
    let r = post("/login")
        .header("authorization", "Basic !!!")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
    // Unknown route and wrong method are JSON too.
    let r = idp.http.get(idp.url("/nope")).send().await.expect("send");
    assert_eq!(error_code(r, 404).await, "not_found");
    let r = idp.http.get(idp.url("/login")).send().await.expect("send");
    assert_eq!(error_code(r, 405).await, "method_not_allowed");

    // After all that, the server still works.
    assert_eq!(
        idp.signup("a@example.com", "long enough").await.status(),
        201
    );
}

#[tokio::test]
async fn jwks_has_cache_headers_an_etag_and_answers_304() {
    let idp = TestIdp::start_with(|c| c.jwks_max_age = 120).await;
    let response = idp.http.get(idp.url("/jwks")).send().await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=120");
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    let jwks: Value = response.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "current and next are both published");
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
        let kid = key["kid"].as_str().expect("kid");
        assert_eq!(
            kid,
            keys::thumbprint(key["n"].as_str().expect("n"), key["e"].as_str().expect("e")),
            "kid is the RFC 7638 thumbprint"
        );
    }

    let revalidated = idp
        .http
        .get(idp.url("/jwks"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert!(revalidated.bytes().await.expect("body").is_empty());

    let stale = idp
        .http
        .get(idp.url("/jwks"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn discovery_documents_agree_with_the_configured_issuer() {
    let idp = TestIdp::start_with(|c| c.issuer = Some("http://idp.test:9999".into())).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = idp
            .http
            .get(idp.url(path))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(doc["issuer"], "http://idp.test:9999", "{path}");
        assert_eq!(doc["jwks_uri"], "http://idp.test:9999/jwks");
        assert_eq!(doc["token_endpoint"], "http://idp.test:9999/token");
        assert!(doc["grant_types_supported"]
            .as_array()
            .expect("grants")
            .contains(&json!("client_credentials")));
    }

    // With the default issuer (the bound address), jwks_uri is reachable as published.
    let plain = TestIdp::start().await;
    let doc: Value = plain.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], plain.base);
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    let jwks = plain.http.get(jwks_uri).send().await.expect("send");
    assert_eq!(jwks.status(), 200);
}

/// A validator that shares no code with the IdP's signer (josekit, on
/// OpenSSL) accepts the token using nothing but the published `/jwks`.
#[tokio::test]
async fn an_independent_validator_accepts_the_token_from_jwks_alone() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("dora@example.com").await;
    let token = tokens["access_token"].as_str().expect("token");
    let jwks_text = idp
        .http
        .get(idp.url("/jwks"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let jwks = josekit::jwk::JwkSet::from_bytes(jwks_text.as_bytes()).expect("JWKS parses");

    let header = josekit::jwt::decode_header(token).expect("header");
    let kid = header.claim("kid").and_then(Value::as_str).expect("kid");
    let jwk = jwks.get(kid).into_iter().next().expect("kid published");
    let verifier = josekit::jws::RS256
        .verifier_from_jwk(jwk)
        .expect("verifier");
    let (payload, header) =
        josekit::jwt::decode_with_verifier(token, &verifier).expect("signature verifies");
    assert_eq!(header.token_type(), Some("at+jwt"));
    assert_eq!(payload.issuer(), Some(idp.base.as_str()));
    assert_eq!(payload.subject().map(str::len), Some(36));
    let now = std::time::SystemTime::now();
    assert!(payload.expires_at().expect("exp") > now);

    // A token whose payload was changed no longer verifies.
    let mut forged: Vec<&str> = token.split('.').collect();
    let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"sub":"admin","scope":"admin"}"#);
    forged[1] = &evil;
    assert!(josekit::jwt::decode_with_verifier(forged.join("."), &verifier).is_err());
}

#[tokio::test]
async fn health_and_readiness() {
    let idp = TestIdp::start().await;
    let health = idp
        .http
        .get(idp.url("/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200);
    let ready: Value = idp.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["published_keys"], 2);

    assert_eq!(
        idp.signup("mia@example.com", "correct horse battery")
            .await
            .status(),
        201
    );
    assert_eq!(
        idp.login("mia@example.com", "wrong password")
            .await
            .status(),
        401
    );
    let metrics = idp
        .http
        .get(idp.url("/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/plain"));
    let text = metrics.text().await.expect("body");
    for line in [
        "idp_signups_total 1",
        "idp_login_failures_total 1",
        "idp_logins_total 0",
        "idp_published_keys 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
}

#[tokio::test]
async fn a_restart_keeps_users_and_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let config = || idp::Config {
        db: db.clone().into(),
        bcrypt_cost: 4,
        mail: idp::mail::MailConfig {
            outbox: db.with_file_name("outbox"),
            ..idp::mail::MailConfig::default()
        },
        ..idp::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut first = idp::start(config(), listener).await.expect("start");
    let base = format!("http://{}", first.addr);
    let http = reqwest::Client::new();
    let signup = http
        .post(format!("{base}/user"))
        .json(&json!({"email": "eve@example.com", "name": "Eve", "password": "correct horse battery"}))
        .send()
        .await
        .expect("send");
    assert_eq!(signup.status(), 201);
    let jwks_before = http
        .get(format!("{base}/jwks"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    first.shutdown();
    tokio::time::timeout(Duration::from_secs(15), first.stopped())
        .await
        .expect("stops");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let second = idp::start(config(), listener).await.expect("restart");
    let base = format!("http://{}", second.addr);
    let jwks_after = http
        .get(format!("{base}/jwks"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    assert_eq!(jwks_before, jwks_after, "same keys after restart");
    let login = http
        .post(format!("{base}/login"))
        .json(&json!({"email": "eve@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("send");
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn repeated_failures_for_one_email_are_throttled_without_revealing_the_account() {
    let idp = TestIdp::start().await;
    assert_eq!(
        idp.signup("tom@example.com", "correct horse battery")
            .await
            .status(),
        201
    );
    for email in ["tom@example.com", "ghost@example.com"] {
        for _ in 0..10 {
            assert_eq!(idp.login(email, "guess guess").await.status(), 401);
        }
        let limited = idp.login(email, "guess guess").await;
        assert!(limited.headers().contains_key("retry-after"));
        assert_eq!(
            error_code(limited, 429).await,
            "too_many_attempts",
            "{email}"
        );
    }
    // Even the right password waits: guessing right earns no fresh budget.
    let r = idp.login("TOM@example.com", "correct horse battery").await;
    assert_eq!(error_code(r, 429).await, "too_many_attempts");
    // Other accounts are unaffected.
    assert_eq!(
        idp.signup("una@example.com", "correct horse battery")
            .await
            .status(),
        201
    );
    assert_eq!(
        idp.login("una@example.com", "correct horse battery")
            .await
            .status(),
        200
    );
}
