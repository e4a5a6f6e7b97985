//! Tokens from issuers other than this project's IdP: shaped like
//! Keycloak's, Auth0's and Entra ID's, signed with RS256, PS256, ES256 and
//! EdDSA keys, read through the application's own claims types; several
//! issuers in one layer; audiences that keep one API's tokens out of
//! another. JWKS come from stand-in IdPs on 127.0.0.1:0 that count their
//! requests; the guarded services are called in-process.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use common::algs::{jwks_of, TestKey};
use common::*;
use resource_server::{
    require_scope, Algorithm, Algorithms, BearerAuthLayer, Claims, Issuer, JwksCache, SharedClaims,
    Validator,
};
use serde::Deserialize;
use serde_json::{json, Value};

const AUDIENCE: &str = "https://orders.example.com";

/// Keycloak: roles under `realm_access`, the client in `azp`, no
/// `client_id`, `typ: JWT`.
#[derive(Debug, Clone, Deserialize)]
struct Keycloak {
    azp: String,
    realm_access: Roles,
    preferred_username: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Roles {
    roles: Vec<String>,
}

/// Auth0: RBAC `permissions`, `aud` an array with the userinfo endpoint.
#[derive(Debug, Clone, Deserialize)]
struct Auth0 {
    permissions: Vec<String>,
    gty: Option<String>,
}

/// Entra ID: scopes in `scp`, app roles in `roles`, the tenant in `tid`.
#[derive(Debug, Clone, Deserialize)]
struct Entra {
    tid: String,
    #[serde(default)]
    roles: Vec<String>,
    oid: String,
}

fn keycloak_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300, "iat": now, "jti": jti(), "iss": issuer,
        "aud": AUDIENCE, "sub": "f1c0a9b2-5d1e-4b7a-9c3e-1a2b3c4d5e6f", "typ": "Bearer",
        "azp": "orders-web", "session_state": "b8f3", "acr": "1",
        "realm_access": {"roles": ["default-roles-acme", "order-admin"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "scope": "openid profile email", "sid": "b8f3", "email_verified": true,
        "preferred_username": "ann",
    })
}

fn auth0_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "sub": "auth0|64f1c2", "aud": [AUDIENCE, format!("{issuer}userinfo")],
        "iat": now, "exp": now + 86_400, "azp": "Xk9q2", "gty": "password",
        "scope": "openid read:orders", "permissions": ["read:orders", "refund:orders"],
    })
}

fn entra_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "aud": AUDIENCE, "iss": issuer, "iat": now, "nbf": now, "exp": now + 3600,
        "aio": "AWQAm/8T", "azp": "6e74172b", "azpacr": "0", "name": "Ann Example",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "preferred_username": "ann@contoso.com",
        "rh": "0.ARoA", "roles": ["Orders.Admin"], "scp": "Orders.Read User.Read",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
        "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
    })
}

/// A stand-in IdP whose JWKS holds one key of every algorithm.
async fn idp_with_every_algorithm() -> TestIdp {
    let idp = TestIdp::start(&[]).await;
    let keys: Vec<&TestKey> = TestKey::all().iter().chain(TestKey::more()).collect();
    idp.set_jwks_body(&jwks_of(&keys));
    idp
}

/// That issuer as a validator trusts it: all nine algorithms, plain JWTs.
fn issuer(idp: &TestIdp) -> Issuer {
    let keys = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    Issuer::new(&idp.issuer, keys)
        .audience(AUDIENCE)
        .algorithms(Algorithms::ALL)
        .accept_jwt_typ(true)
}

#[tokio::test]
async fn keycloak_auth0_and_entra_tokens_with_every_algorithm() {
    let idp = idp_with_every_algorithm().await;
    // Keycloak's issuer has no trailing slash, Auth0's has one: both are
    // compared exactly, so each test issuer uses the form it would.
    let keycloak: Router = Router::new()
        .route(
            "/orders",
            get(|claims: Claims<Keycloak>| async move {
                Json(json!({
                    "sub": claims.sub, "azp": claims.azp, "client_id": claims.client_id,
                    "admin": claims.realm_access.roles.contains(&"order-admin".to_owned()),
                    "user": claims.preferred_username, "sid": claims.sid, "acr": claims.acr,
                }))
            }),
        )
        .route_layer(BearerAuthLayer::new(
            Validator::with_issuer(issuer(&idp))
                .claims::<Keycloak>()
                .build(),
        ));
    let auth0: Router = Router::new()
        .route(
            "/orders",
            get(|claims: Claims<Auth0>| async move {
                Json(json!({
                    "sub": claims.sub, "aud": claims.aud, "gty": claims.gty,
                    "refunds": claims.permissions.contains(&"refund:orders".to_owned()),
                }))
            })
            .route_layer(require_scope("read:orders")),
        )
        .route_layer(BearerAuthLayer::new(
            Validator::with_issuer(issuer(&idp))
                .claims::<Auth0>()
                .build(),
        ));
    let entra: Router = Router::new()
        .route(
            "/orders",
            get(|claims: Claims<Entra>| async move {
                Json(json!({
                    "tid": claims.tid, "oid": claims.oid, "roles": claims.roles,
                    "scope": claims.scope,
                }))
            })
            .route_layer(require_scope("Orders.Read")),
        )
        .route_layer(BearerAuthLayer::new(
            Validator::with_issuer(issuer(&idp))
                .claims::<Entra>()
                .build(),
        ));

    for key in TestKey::all().iter().chain(TestKey::more()) {
        let alg = key.alg();
        let reply = call(
            &keycloak,
            "/orders",
            Some(&key.token("JWT", &keycloak_claims(&idp.issuer))),
        )
        .await;
        assert_eq!(reply.status, 200, "Keycloak {alg}: {reply:?}");
        assert_eq!(reply.json["azp"], "orders-web", "{alg}");
        assert_eq!(reply.json["admin"], true, "{alg}");
        assert_eq!(reply.json["client_id"], Value::Null, "{alg}");
        assert_eq!(reply.json["user"], "ann", "{alg}");
        assert_eq!(reply.json["acr"], "1", "{alg}");

        let reply = call(
            &auth0,
            "/orders",
            Some(&key.token("JWT", &auth0_claims(&idp.issuer))),
        )
        .await;
        assert_eq!(reply.status, 200, "Auth0 {alg}: {reply:?}");
        assert_eq!(reply.json["refunds"], true, "{alg}");
        assert_eq!(reply.json["gty"], "password", "{alg}");
        assert_eq!(reply.json["aud"][0], AUDIENCE, "{alg}");

        let reply = call(
            &entra,
            "/orders",
            Some(&key.token("JWT", &entra_claims(&idp.issuer))),
        )
        .await;
        assert_eq!(reply.status, 200, "Entra {alg}: {reply:?}");
        assert_eq!(reply.json["tid"], "9188040d-6c67-4c5b-b112-36a304b66dad");
        assert_eq!(reply.json["roles"], json!(["Orders.Admin"]));
        assert_eq!(reply.json["scope"], "Orders.Read User.Read", "from scp");
    }

    // Entra's scopes gate routes like any others.
    let mut claims = entra_claims(&idp.issuer);
    claims["scp"] = json!("User.Read");
    let key = &TestKey::all()[2];
    let reply = call(&entra, "/orders", Some(&key.token("JWT", &claims))).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    // A claim the application's type needs is required of the token.
    let mut claims = keycloak_claims(&idp.issuer);
    claims.as_object_mut().expect("object").remove("azp");
    let reply = call(&keycloak, "/orders", Some(&key.token("JWT", &claims))).await;
    reply.assert_invalid_token("no azp");
    assert_eq!(reply.description(), "token lacks a required claim");
    // Every key was fetched once, for all three services' first tokens.
    assert!(idp.jwks_hits() <= 3, "{} fetches", idp.jwks_hits());
}

#[tokio::test]
async fn algorithms_are_allowed_per_issuer_and_pinned_per_key() {
    let idp = idp_with_every_algorithm().await;
    let rs256_only = Validator::with_issuer(
        Issuer::new(
            &idp.issuer,
            JwksCache::from_url(idp.jwks_url()).build().expect("cache"),
        )
        .audience(AUDIENCE)
        .accept_jwt_typ(true),
    )
    .build();
    let app = api(rs256_only);
    let [rs, ps, es, ed] = TestKey::all();
    let claims = keycloak_claims(&idp.issuer);
    assert_eq!(
        call(&app, "/api/private", Some(&rs.token("JWT", &claims)))
            .await
            .status,
        200
    );
    for key in [ps, es, ed].into_iter().chain(TestKey::more()) {
        let reply = call(&app, "/api/private", Some(&key.token("JWT", &claims))).await;
        reply.assert_invalid_token(key.alg());
        assert_eq!(reply.description(), "token algorithm is not accepted");
    }

    // With every algorithm allowed, a key still verifies only what its JWK
    // says: the RS256 key's PS256 signature, under its kid, is refused.
    let all = api(Validator::with_issuer(issuer(&idp)).build());
    let header = json!({"alg": "PS256", "typ": "JWT", "kid": rs.kid()});
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let signature = TestKey::ps256(0, "x").signature(message.as_bytes());
    let reply = call(
        &all,
        "/api/private",
        Some(&format!("{message}.{signature}")),
    )
    .await;
    reply.assert_invalid_token("PS256 with an RS256 key");
    // The same for the SHA-384/512 variants: the RS384 key's RS512
    // signature, and its PS384 one, are refused under its kid.
    for alg in ["RS512", "PS384"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "rs384-key"});
        let token = TestKey::rsa(0, alg, "x").sign(&header, &claims);
        call(&all, "/api/private", Some(&token))
            .await
            .assert_invalid_token(&format!("{alg} with an RS384 key"));
    }
    // And an EdDSA header over the ES256 key's kid.
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": es.kid()});
    let token = ed.sign(&header, &claims);
    call(&all, "/api/private", Some(&token))
        .await
        .assert_invalid_token("EdDSA header, ES256 key");
    // `none` and HMAC cannot even be configured, and are refused.
    for alg in ["none", "HS256"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": rs.kid()});
        let token = format!("{}.{}.AAAA", b64(&header), b64(&claims));
        call(&all, "/api/private", Some(&token))
            .await
            .assert_invalid_token(alg);
    }
}

/// An issuer that leaves `kid` out, of its JWKS and of its tokens: its keys
/// are named by their thumbprints, and a token without `kid` is tried
/// against the keys that allow its algorithm (a few at most).
#[tokio::test]
async fn an_issuer_without_kids_is_usable() {
    let idp = TestIdp::start(&[]).await;
    let (one, two) = (TestKey::rs256(0, "unused"), TestKey::es256("unused"));
    let without_kid = |key: &TestKey| {
        let mut jwk = key.jwk();
        jwk.as_object_mut().expect("object").remove("kid");
        jwk
    };
    idp.set_jwks_body(&json!({"keys": [without_kid(&one), without_kid(&two)]}).to_string());
    let app = api(Validator::with_issuer(issuer(&idp)).build());
    let claims = keycloak_claims(&idp.issuer);
    for key in [&one, &two] {
        let token = key.sign(&json!({"alg": key.alg(), "typ": "JWT"}), &claims);
        let reply = call(&app, "/api/private", Some(&token)).await;
        assert_eq!(reply.status, 200, "{}: {reply:?}", key.alg());
    }
    // A kid-less token by a key the issuer does not publish.
    let stranger = TestKey::rs256(1, "stranger");
    let token = stranger.sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims);
    let reply = call(&app, "/api/private", Some(&token)).await;
    reply.assert_invalid_token("a stranger's key");
    assert_eq!(reply.description(), "token signature is invalid");
    // The thumbprint names the key, so a token naming it by that works too.
    let token = one.sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": one.thumbprint()}),
        &claims,
    );
    assert_eq!(call(&app, "/api/private", Some(&token)).await.status, 200);
}

/// Scopes read from another claim: Auth0's `permissions`, an array.
#[tokio::test]
async fn an_issuer_s_scopes_can_come_from_another_claim() {
    let idp = idp_with_every_algorithm().await;
    let app = api(Validator::with_issuer(issuer(&idp).scope_claim("permissions")).build());
    let [rs, ..] = TestKey::all();
    let mut claims = auth0_claims(&idp.issuer);
    claims["permissions"] = json!(["api:read", "refund:orders"]);
    let token = rs.token("JWT", &claims);
    let reply = call(&app, "/api/private-scoped", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["scope"], "api:read refund:orders");
    // `scope` itself is not read for this issuer.
    claims["scope"] = json!("api:read");
    claims["permissions"] = json!(["refund:orders"]);
    let token = rs.token("JWT", &claims);
    let reply = call(&app, "/api/private-scoped", Some(&token)).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    // A claim of another shape is malformed.
    claims["permissions"] = json!({"api:read": true});
    let token = rs.token("JWT", &claims);
    call(&app, "/api/private", Some(&token))
        .await
        .assert_invalid_token("permissions as an object");
}

#[tokio::test]
async fn two_issuers_in_one_layer_and_a_third_costs_no_fetch() {
    let ours = TestIdp::start(&[trusted()]).await;
    let partner = idp_with_every_algorithm().await;
    let stranger = TestIdp::start(&[attacker()]).await;
    let validator = Validator::builder(
        &ours.issuer,
        JwksCache::from_url(ours.jwks_url()).build().expect("cache"),
    )
    .audience(AUDIENCE)
    .issuer(
        Issuer::new(
            &partner.issuer,
            JwksCache::from_url(partner.jwks_url())
                .build()
                .expect("cache"),
        )
        .algorithms(Algorithm::ES256)
        .accept_jwt_typ(true),
    )
    .build();
    assert!(
        eventually(Duration::from_secs(5), || validator.keys_loaded()).await,
        "both key sets load"
    );
    let app = api(validator);

    let mut our_claims = claims_for(&ours.issuer);
    our_claims["aud"] = json!(AUDIENCE);
    let reply = call(
        &app,
        "/api/private",
        Some(&token_with(trusted(), &our_claims)),
    )
    .await;
    assert_eq!(reply.status, 200, "our issuer: {reply:?}");
    let es = &TestKey::all()[2];
    let partner_token = es.token("JWT", &entra_claims(&partner.issuer));
    let reply = call(&app, "/api/private", Some(&partner_token)).await;
    assert_eq!(reply.status, 200, "the partner: {reply:?}");
    assert_eq!(reply.json["iss"], partner.issuer);

    let before = (ours.jwks_hits(), partner.jwks_hits());
    // A third issuer, with its own kid and with kids nobody has.
    let mut stranger_claims = claims_for(&stranger.issuer);
    stranger_claims["aud"] = json!(AUDIENCE);
    let mut tokens = vec![token_with(attacker(), &stranger_claims)];
    for i in 0..20 {
        let mut header = header_for(attacker());
        header["kid"] = json!(format!("forged-{i}"));
        tokens.push(sign(
            &header,
            &stranger_claims,
            attacker(),
            jsonwebtoken::Algorithm::RS256,
        ));
    }
    for token in &tokens {
        let reply = call(&app, "/api/private", Some(token)).await;
        reply.assert_invalid_token("third issuer");
        assert_eq!(reply.description(), "token issuer is not accepted");
    }
    assert_eq!(
        (ours.jwks_hits(), partner.jwks_hits()),
        before,
        "no fetch at the trusted issuers"
    );
    assert_eq!(stranger.jwks_hits(), 0, "no fetch at the stranger");
    assert_eq!(stranger.state.discovery_hits.load(Ordering::SeqCst), 0);

    // Each issuer's own rules: the partner signs ES256 only, and our key
    // is no key of the partner's.
    let mut crossed = entra_claims(&partner.issuer);
    crossed["aud"] = json!(AUDIENCE);
    let reply = call(&app, "/api/private", Some(&token_with(trusted(), &crossed))).await;
    assert_eq!(reply.description(), "token algorithm is not accepted");
    assert_eq!(partner.jwks_hits(), before.1);
}

#[tokio::test]
async fn a_token_for_api_a_is_refused_by_api_b() {
    let idp = TestIdp::start(&[trusted()]).await;
    let for_api = |audience: &str| {
        api(Validator::builder(
            &idp.issuer,
            JwksCache::from_url(idp.jwks_url()).build().expect("cache"),
        )
        .audience(audience)
        .build())
    };
    let (api_a, api_b) = (
        for_api("https://a.example.com"),
        for_api("https://b.example.com"),
    );
    let token_for = |aud: Value| {
        let mut claims = idp.claims();
        claims["aud"] = aud;
        idp.token_with(trusted(), &claims)
    };

    let for_a = token_for(json!("https://a.example.com"));
    assert_eq!(call(&api_a, "/api/private", Some(&for_a)).await.status, 200);
    let reply = call(&api_b, "/api/private", Some(&for_a)).await;
    reply.assert_invalid_token("A's token at B");
    assert_eq!(reply.description(), "token audience is not accepted");

    let for_b = token_for(json!("https://b.example.com"));
    assert_eq!(call(&api_b, "/api/private", Some(&for_b)).await.status, 200);
    call(&api_a, "/api/private", Some(&for_b))
        .await
        .assert_invalid_token("B's token at A");

    // A token naming both is good at both; one naming neither at neither.
    let both = token_for(json!(["https://a.example.com", "https://b.example.com"]));
    assert_eq!(call(&api_a, "/api/private", Some(&both)).await.status, 200);
    assert_eq!(call(&api_b, "/api/private", Some(&both)).await.status, 200);
    let idp_default = token_for(json!(idp.issuer));
    for api in [&api_a, &api_b] {
        call(api, "/api/private", Some(&idp_default))
            .await
            .assert_invalid_token("the IdP's default audience");
    }
}

/// `SharedClaims<T>` hands the handler the very claims the layer verified
/// (no copy), typed like `Claims<T>`; asking for a type the layer was not
/// built for is the service's own mistake, answered 500 without detail.
#[tokio::test]
async fn shared_claims_read_the_layers_claims_without_a_copy() {
    let idp = idp_with_every_algorithm().await;
    let layer = BearerAuthLayer::new(
        Validator::with_issuer(issuer(&idp))
            .claims::<Keycloak>()
            .build(),
    );
    let app: Router = Router::new()
        .route(
            "/shared",
            get(|claims: SharedClaims<Keycloak>| async move {
                Json(json!({
                    "sub": claims.sub, "azp": claims.azp,
                    "roles": claims.realm_access.roles,
                }))
            }),
        )
        .route(
            "/wrong-type",
            get(|claims: SharedClaims<Entra>| async move { claims.tid.clone() }),
        )
        .route_layer(layer);
    let token = TestKey::all()[0].token("JWT", &keycloak_claims(&idp.issuer));

    let reply = call(&app, "/shared", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["sub"], "f1c0a9b2-5d1e-4b7a-9c3e-1a2b3c4d5e6f");
    assert_eq!(reply.json["azp"], "orders-web");
    assert_eq!(
        reply.json["roles"],
        json!(["default-roles-acme", "order-admin"])
    );

    let reply = call(&app, "/wrong-type", Some(&token)).await;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert_eq!(reply.json["error"], "server_error");

    // Without a token the layer refuses before any extractor runs.
    let reply = call(&app, "/shared", None).await;
    assert_eq!(reply.status, 401);
}
