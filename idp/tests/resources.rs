//! Tokens for one API (RFC 8707 `resource=`) and tokens bound to a client's
//! key (RFC 9449 DPoP) at a real IdP on 127.0.0.1:0: what `/token` and
//! `/login` issue, what refresh demands of a bound session, what the IdP's
//! own bearer endpoints and `/introspect` make of such tokens, and that a
//! resource server for API A refuses a token for API B. `idp apis` from the
//! command line too.

mod common;

use std::process::Command;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use resource_server::{JwksCache, Validator};
use serde_json::{json, Value};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "https://billing.example.com/v1";

/// A DPoP client's key: P-256, proofs signed ES256.
struct DpopKey(EcdsaKeyPair);

impl DpopKey {
    fn new() -> Self {
        Self(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"))
    }

    fn jwk(&self) -> Value {
        let point = self.0.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    fn thumbprint(&self) -> String {
        let jwk: resource_server::Jwk = serde_json::from_value(self.jwk()).expect("jwk");
        jwk.thumbprint().expect("thumbprint")
    }

    /// A proof for `method url`, with `ath` for `token` if given.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url,
            "iat": idp::unix_now(),
        });
        if let Some(token) = token {
            claims["ath"] = json!(resource_server::dpop::access_token_hash(token));
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()});
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
        let message = format!("{}.{}", encode(&header), encode(&claims));
        let signature = self
            .0
            .sign(&SystemRandom::new(), message.as_bytes())
            .expect("signs");
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// POST a form to `path` with Basic client credentials and a DPoP proof.
async fn post_with_proof(
    idp: &TestIdp,
    path: &str,
    basic: Option<(&str, &str)>,
    params: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = idp.http.post(idp.url(path)).form(params);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.expect("request")
}

async fn register_apis(idp: &TestIdp) {
    let store = idp.server.state.store();
    idp::apis::register(store, ORDERS, "orders:read orders:write", 0)
        .await
        .expect("orders");
    idp::apis::register(store, BILLING, "", 0)
        .await
        .expect("billing");
}

#[tokio::test]
async fn resource_puts_that_api_alone_in_aud() {
    let idp = TestIdp::start().await;
    register_apis(&idp).await;
    let secret = idp.client("svc", "orders:read billing:pay", false).await;
    let token = |params: Vec<(&'static str, &'static str)>| {
        let (idp, secret) = (&idp, secret.clone());
        async move {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend(params);
            idp.form("/token", Some(("svc", &secret)), &form).await
        }
    };

    let response = token(vec![("resource", ORDERS)]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"], "orders:read",
        "narrowed to what the API offers"
    );
    let claims = jwt_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(claims["aud"], ORDERS, "that API alone");
    assert_eq!(claims["scope"], "orders:read");

    let body: Value = token(vec![("resource", BILLING)])
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(
        claims["scope"], "orders:read billing:pay",
        "an API without scopes takes any"
    );

    // Without resource: the default audience, as before.
    let body: Value = token(vec![]).await.json().await.expect("json");
    let claims = jwt_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(claims["aud"], idp.base);

    for (resource, what) in [
        ("https://unknown.example.com", "unknown"),
        ("https://orders.example.com#frag", "fragment"),
        ("/orders", "relative"),
        ("orders.example.com", "no scheme"),
        ("https://orders.example.com/", "not the registered string"),
    ] {
        let response = token(vec![("resource", resource)]).await;
        assert_eq!(error_code(response, 400).await, "invalid_target", "{what}");
    }
    let response = token(vec![("resource", ORDERS), ("scope", "billing:pay")]).await;
    assert_eq!(error_code(response, 400).await, "invalid_scope");
    let response = token(vec![("resource", ORDERS), ("resource", BILLING)]).await;
    assert_eq!(error_code(response, 400).await, "invalid_request");
    // Strangers learn nothing about registered resources.
    let response = idp
        .form(
            "/token",
            Some(("svc", "wrong")),
            &[("grant_type", "client_credentials"), ("resource", "nope")],
        )
        .await;
    assert_eq!(error_code(response, 401).await, "invalid_client");
}

#[tokio::test]
async fn a_token_for_api_a_is_refused_by_api_b_and_introspects_active() {
    let idp = TestIdp::start().await;
    register_apis(&idp).await;
    let secret = idp.client("svc", "orders:read", false).await;
    let api = |audience: &str| {
        Validator::builder(
            &idp.base,
            JwksCache::from_issuer(&idp.base).build().expect("cache"),
        )
        .audience(audience)
        .build()
    };
    let (orders, billing) = (api(ORDERS), api(BILLING));
    let response = idp
        .form(
            "/token",
            Some(("svc", &secret)),
            &[("grant_type", "client_credentials"), ("resource", ORDERS)],
        )
        .await;
    let body: Value = response.json().await.expect("json");
    let token = body["access_token"].as_str().expect("token");
    let now = idp::unix_now();
    assert_eq!(
        orders.validate(token, now).await.expect("at orders").aud,
        [ORDERS]
    );
    assert_eq!(
        billing.validate(token, now).await.map(|_| ()),
        Err(resource_server::AuthError::InvalidToken(
            resource_server::InvalidTokenReason::WrongAudience
        ))
    );
    // The IdP's own bearer endpoints are an API of their own.
    let response = idp.get_bearer("/userinfo", token).await;
    assert_eq!(response.status(), 401);
    // But the IdP still describes and revokes its token.
    let response = idp
        .form("/introspect", Some(("svc", &secret)), &[("token", token)])
        .await;
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["aud"], json!([ORDERS]));
    let response = idp
        .form("/revoke", Some(("svc", &secret)), &[("token", token)])
        .await;
    assert_eq!(response.status(), 200);
    let response = idp
        .form("/introspect", Some(("svc", &secret)), &[("token", token)])
        .await;
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer, json!({"active": false}));
}

#[tokio::test]
async fn a_dpop_proof_at_token_binds_the_access_token() {
    let idp = TestIdp::start().await;
    let secret = idp.client("svc", "api:read", false).await;
    let key = DpopKey::new();
    let token_url = idp.url("/token");
    let form = [("grant_type", "client_credentials")];
    let basic = Some(("svc", secret.as_str()));

    let proof = key.proof("POST", &token_url, None);
    let response = post_with_proof(&idp, "/token", basic, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(jwt_part(&token, 1)["cnf"]["jkt"], key.thumbprint());

    // The same proof again, or one for another URL or method: refused.
    let response = post_with_proof(&idp, "/token", basic, &form, Some(&proof)).await;
    assert_eq!(
        error_code(response, 400).await,
        "invalid_dpop_proof",
        "replay"
    );
    for proof in [
        key.proof("POST", &idp.url("/login"), None),
        key.proof("GET", &token_url, None),
        "not.a.proof".to_owned(),
    ] {
        let response = post_with_proof(&idp, "/token", basic, &form, Some(&proof)).await;
        assert_eq!(error_code(response, 400).await, "invalid_dpop_proof");
    }
    let response = idp
        .http
        .post(&token_url)
        .basic_auth("svc", Some(&secret))
        .form(&form)
        .header("DPoP", key.proof("POST", &token_url, None))
        .header("DPoP", key.proof("POST", &token_url, None))
        .send()
        .await
        .expect("request");
    assert_eq!(
        error_code(response, 400).await,
        "invalid_dpop_proof",
        "two proofs"
    );

    // Introspection says it is bound, and to which key.
    let response = idp.form("/introspect", basic, &[("token", &token)]).await;
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"]["jkt"], key.thumbprint());

    // Discovery says which algorithms proofs may use.
    let metadata = idp.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn bound_login_sessions_need_their_key_everywhere() {
    let idp = TestIdp::start().await;
    assert_eq!(
        idp.signup("ann@example.com", "correct horse battery")
            .await
            .status(),
        201
    );
    let key = DpopKey::new();
    let login = idp
        .http
        .post(idp.url("/login"))
        .header("DPoP", key.proof("POST", &idp.url("/login"), None))
        .json(&json!({"email": "ann@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().expect("token").to_owned();
    let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();

    // The IdP's own bearer endpoints: only with the DPoP scheme and a proof.
    let response = idp.get_bearer("/userinfo", &access).await;
    assert_eq!(response.status(), 401);
    let userinfo = |proof: String| {
        idp.http
            .get(idp.url("/userinfo"))
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    let response = userinfo(key.proof("GET", &idp.url("/userinfo"), Some(&access)))
        .await
        .expect("userinfo");
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.expect("json");
    assert_eq!(profile["email"], "ann@example.com");
    let response = userinfo(DpopKey::new().proof("GET", &idp.url("/userinfo"), Some(&access)))
        .await
        .expect("userinfo");
    assert_eq!(response.status(), 401, "another key's proof");

    // Refresh: without a proof, or with another key's, refused, and the
    // refresh token is not used up by the attempt.
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let token_url = idp.url("/token");
    let response = post_with_proof(&idp, "/token", None, &params, None).await;
    assert_eq!(error_code(response, 400).await, "invalid_dpop_proof");
    let other = DpopKey::new().proof("POST", &token_url, None);
    let response = post_with_proof(&idp, "/token", None, &params, Some(&other)).await;
    assert_eq!(error_code(response, 400).await, "invalid_dpop_proof");
    let proof = key.proof("POST", &token_url, None);
    let response = post_with_proof(&idp, "/token", None, &params, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().expect("token");
    assert_eq!(jwt_part(access, 1)["cnf"]["jkt"], key.thumbprint());

    // Logout with the bound token and a proof ends the session.
    let response = idp
        .http
        .post(idp.url("/logout"))
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", key.proof("POST", &idp.url("/logout"), Some(access)))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_unbound_login_session_is_bound_by_its_first_dpop_refresh() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("bob@example.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let key = DpopKey::new();
    let token_url = idp.url("/token");
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let proof = key.proof("POST", &token_url, None);
    let response = post_with_proof(&idp, "/token", None, &params, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP");
    let next = body["refresh_token"].as_str().expect("refresh").to_owned();
    // From now on the session is the key's.
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", next.as_str()),
    ];
    let response = post_with_proof(&idp, "/token", None, &params, None).await;
    assert_eq!(error_code(response, 400).await, "invalid_dpop_proof");
    let proof = key.proof("POST", &token_url, None);
    let response = post_with_proof(&idp, "/token", None, &params, Some(&proof)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn apis_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let idp = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(args)
            .arg("--db")
            .arg(&db)
            .env("IDP_LOG", "warn")
            .output()
            .expect("idp runs")
    };
    let created = idp(&[
        "apis",
        "create",
        "--resource",
        ORDERS,
        "--scope",
        "orders:read",
    ]);
    assert!(created.status.success(), "{created:?}");
    let out = String::from_utf8_lossy(&created.stdout);
    assert!(
        out.contains(&format!("resource: {ORDERS}")) && out.contains("scope: orders:read"),
        "{out}"
    );
    let again = idp(&["apis", "create", "--resource", ORDERS]);
    assert!(!again.status.success(), "a resource is registered once");
    let bad = idp(&["apis", "create", "--resource", "https://x.example.com/#f"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("absolute URI"));
    let listed = idp(&["apis", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        format!("{ORDERS}\tscope=orders:read")
    );
    assert!(idp(&["apis", "delete", "--resource", ORDERS])
        .status
        .success());
    assert!(!idp(&["apis", "delete", "--resource", ORDERS])
        .status
        .success());
    assert!(String::from_utf8_lossy(&idp(&["apis", "list"]).stdout)
        .trim()
        .is_empty());
}

/// A public client exchanging its code with a DPoP proof (RFC 9449 §5):
/// the access token is bound to the key, and so are the refresh tokens,
/// which are then refused without a proof by that key (and not spent).
#[tokio::test]
async fn a_dpop_proof_at_the_code_exchange_binds_a_public_client_s_tokens() {
    const CB: &str = "http://127.0.0.1/cb";
    let idp = TestIdp::start().await;
    idp::clients::register_client(
        idp.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "app".into(),
            redirect_uris: vec![CB.into()],
            public: true,
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client");
    assert_eq!(
        idp.signup("ann@example.com", "correct horse battery")
            .await
            .status(),
        201
    );
    let b = flow::browser();
    let (verifier, challenge) = flow::pkce();
    let url = flow::authorize_url(
        &idp,
        "app",
        CB,
        &challenge,
        &[("scope", "openid offline_access")],
    );
    let back =
        flow::sign_in_for_code(&b, &idp, &url, "ann@example.com", "correct horse battery").await;
    let code = flow::param(&back, "code").expect("code");
    let key = DpopKey::new();
    let token_url = idp.url("/token");
    let response = post_with_proof(
        &idp,
        "/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
        Some(&key.proof("POST", &token_url, None)),
    )
    .await;
    let issued = flow::tokens(response).await;
    assert_eq!(issued["token_type"], "DPoP");
    let access = issued["access_token"].as_str().expect("token");
    assert_eq!(jwt_part(access, 1)["cnf"]["jkt"], key.thumbprint());

    let refresh_token = issued["refresh_token"].as_str().expect("offline_access");
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", refresh_token),
    ];
    let without = post_with_proof(&idp, "/token", None, &form, None).await;
    assert_eq!(error_code(without, 400).await, "invalid_dpop_proof");
    let other_key = DpopKey::new().proof("POST", &token_url, None);
    let other = post_with_proof(&idp, "/token", None, &form, Some(&other_key)).await;
    assert_eq!(error_code(other, 400).await, "invalid_dpop_proof");
    let proof = key.proof("POST", &token_url, None);
    let refreshed =
        flow::tokens(post_with_proof(&idp, "/token", None, &form, Some(&proof)).await).await;
    assert_eq!(refreshed["token_type"], "DPoP");
    let access = refreshed["access_token"].as_str().expect("token");
    assert_eq!(jwt_part(access, 1)["cnf"]["jkt"], key.thumbprint());
}
