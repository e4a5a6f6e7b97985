//! How the JWKS cache and the revocation poller treat the IdP: how often they
//! ask it, what they do when it changes its keys, and what they keep when it
//! misbehaves or disappears. The IdP is a test server on 127.0.0.1:0 that
//! counts its requests.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use jsonwebtoken::Algorithm;
use resource_server::{
    AuthError, InvalidTokenReason, JwksCache, Refusal, RevocationList, RevocationPoller, Validator,
};
use serde_json::json;

fn validator(idp: &TestIdp, jwks: JwksCache) -> Validator {
    Validator::builder(&idp.issuer, jwks)
        .audience(&idp.issuer)
        .build()
}

#[tokio::test]
async fn discovery_finds_the_jwks_uri() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_issuer(&idp.issuer).build().expect("cache");
    let validator = validator(&idp, jwks.clone());
    let claims = validator
        .validate(&idp.token(), now())
        .await
        .expect("valid token");
    assert_eq!(claims.sub, "user-1");
    assert_eq!(idp.state.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(
        jwks.snapshot().kids().collect::<Vec<_>>(),
        [trusted().kid()]
    );
}

#[tokio::test]
async fn discovery_refuses_a_document_for_another_issuer() {
    let idp = TestIdp::start(&[trusted()]).await;
    // Same server, but we claim a different issuer: the document disagrees.
    let other_issuer = format!("{}/tenant", idp.issuer);
    let jwks = JwksCache::from_issuer(&other_issuer)
        .build()
        .expect("cache");
    let result = jwks.refresh().await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(idp.jwks_hits(), 0);
}

#[tokio::test]
async fn discovery_compares_the_issuer_exactly_trailing_slash_included() {
    let idp = TestIdp::start(&[trusted()]).await;
    // The document names the issuer without a slash; one with a slash is
    // another issuer (RFC 8414 §3.3), whose tokens would carry it too.
    let jwks = JwksCache::from_issuer(format!("{}/", idp.issuer))
        .build()
        .expect("cache");
    let error = refused(&jwks).await;
    assert!(error.contains("issuer"), "{error}");
    assert_eq!(idp.jwks_hits(), 0);
}

#[tokio::test]
async fn a_failed_fetch_keeps_its_cause() {
    // A port nothing listens on: bound, then released.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let jwks = JwksCache::from_url(format!("http://{addr}/jwks"))
        .build()
        .expect("cache");
    let error = jwks.refresh().await.expect_err("nothing listens");
    assert!(
        matches!(error, resource_server::Error::Fetch { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.starts_with("request to http://"), "{message}");
    let source = std::error::Error::source(&error).expect("a source");
    assert!(source.is::<reqwest::Error>(), "{source:?}");
    // The chain goes on down to the refused connection.
    let mut deepest: &dyn std::error::Error = source;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    assert!(
        deepest
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{deepest:?}"
    );

    // A document that is not JSON keeps the parser's error.
    let idp = TestIdp::start(&[trusted()]).await;
    idp.set_jwks_body("<html>");
    let jwks = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    let error = jwks.refresh().await.expect_err("not JSON");
    let source = std::error::Error::source(&error).expect("a source");
    assert!(source.is::<serde_json::Error>(), "{source:?}");
}

#[tokio::test]
async fn a_failed_discovery_reports_both_documents() {
    // The stand-in serves no RFC 8414 document; make the OpenID one fail
    // too, differently: an issuer with a path it serves nothing under.
    let idp = TestIdp::start(&[trusted()]).await;
    let issuer = format!("{}/tenant", idp.issuer);
    let jwks = JwksCache::from_issuer(&issuer).build().expect("cache");
    let error = jwks.refresh().await.expect_err("no discovery document");
    let resource_server::Error::Discovery {
        issuer: named,
        openid_configuration,
        oauth_metadata,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(named, &issuer);
    assert!(
        matches!(**openid_configuration, resource_server::Error::Status { ref url, status: 404 }
            if url.ends_with("/tenant/.well-known/openid-configuration")),
        "{openid_configuration:?}"
    );
    assert!(
        matches!(**oauth_metadata, resource_server::Error::Status { ref url, status: 404 }
            if url.ends_with("/.well-known/oauth-authorization-server/tenant")),
        "{oauth_metadata:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("/tenant/.well-known/openid-configuration answered HTTP 404")
            && message.contains("/.well-known/oauth-authorization-server/tenant answered HTTP 404"),
        "{message}"
    );
    let source = std::error::Error::source(&error).expect("a source");
    assert_eq!(source.to_string(), openid_configuration.to_string());
    assert_eq!(idp.jwks_hits(), 0);
}

/// Why a fetch that must fail failed.
async fn refused(jwks: &JwksCache) -> String {
    match jwks.refresh().await {
        Ok(()) => panic!("the fetch was expected to fail"),
        Err(error) => error.to_string(),
    }
}

/// A server at another origin whose `/moved` redirects to `target`, and
/// whose `/here` redirects to its own `/jwks`, which serves `body`.
async fn redirector(target: String, body: String) -> String {
    use axum::response::Redirect;
    let app = axum::Router::new()
        .route(
            "/moved",
            axum::routing::get(move || async move { Redirect::temporary(&target) }),
        )
        .route(
            "/here",
            axum::routing::get(|| async { Redirect::temporary("/jwks") }),
        )
        .route("/jwks", axum::routing::get(move || async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let idp = TestIdp::start(&[trusted()]).await;
    let other = redirector(idp.jwks_url(), jwks_json(&[attacker()])).await;
    let jwks = JwksCache::from_url(format!("{other}/moved"))
        .build()
        .expect("cache");
    let error = refused(&jwks).await;
    assert!(error.contains("another origin"), "{error}");
    assert_eq!(idp.jwks_hits(), 0, "the other origin was never asked");
    // Within one origin, a redirect is followed.
    let jwks = JwksCache::from_url(format!("{other}/here"))
        .build()
        .expect("cache");
    jwks.refresh().await.expect("same-origin redirect followed");
    assert_eq!(
        jwks.snapshot().kids().collect::<Vec<_>>(),
        [attacker().kid()]
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    let app = api(validator(&idp, jwks));

    let requests: Vec<_> = (0..200)
        .map(|i| {
            let mut header = header_for(trusted());
            header["kid"] = json!(format!("forged-kid-{i}"));
            let token = sign(&header, &idp.claims(), attacker(), Algorithm::RS256);
            let app = app.clone();
            tokio::spawn(async move { call(&app, "/api/private", Some(&token)).await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("request task"), 401);
    }
    let hits = idp.jwks_hits();
    assert!(
        (1..=2).contains(&hits),
        "200 forged kids made {hits} JWKS fetches"
    );

    // A genuine token still works and costs nothing more.
    let reply = call(&app, "/api/private", Some(&idp.token())).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(idp.jwks_hits(), hits);
}

/// Issue 13: the start-up fetch (like a scheduled refresh) does not count
/// against the unknown-kid cooldown, so a key published right after it (an
/// emergency rotation) works on its first token; unknown-kid refetches do
/// count, so the flood protection is unchanged.
#[tokio::test]
async fn a_new_key_is_picked_up_at_once_even_right_after_a_fetch() {
    let idp = TestIdp::start(&[trusted()]).await;
    let cooldown = Duration::from_millis(400);
    let jwks = JwksCache::from_url(idp.jwks_url())
        .unknown_kid_cooldown(cooldown)
        .build()
        .expect("cache");
    assert!(
        eventually(Duration::from_secs(5), || jwks.generation() == 1).await,
        "the start-up fetch"
    );
    let validator = validator(&idp, jwks.clone());
    validator
        .validate(&idp.token(), now())
        .await
        .expect("first key");
    let hits = idp.jwks_hits();

    idp.set_keys(&[trusted(), rotated()]);
    let fresh = idp.token_with(rotated(), &idp.claims());
    let claims = validator
        .validate(&fresh, now())
        .await
        .expect("the new key works on first sight");
    assert_eq!(claims.sub, "user-1");
    assert_eq!(idp.jwks_hits(), hits + 1, "exactly one refetch");

    // That refetch counts: another new kid within the cooldown costs nothing.
    idp.set_keys(&[trusted(), rotated(), attacker()]);
    let third = idp.token_with(attacker(), &idp.claims());
    assert_eq!(
        validator.validate(&third, now()).await,
        Err(AuthError::InvalidToken(InvalidTokenReason::UnknownKey))
    );
    assert_eq!(idp.jwks_hits(), hits + 1);

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    validator
        .validate(&third, now())
        .await
        .expect("picked up once the cooldown is over");
    assert_eq!(idp.jwks_hits(), hits + 2);
    assert_eq!(jwks.generation(), 3);
    validator
        .validate(&idp.token(), now())
        .await
        .expect("old key still verifies");
}

/// Issue 11: revalidation sends the ETag, and an unchanged set costs a 304.
#[tokio::test]
async fn an_unchanged_key_set_costs_a_304() {
    let idp = TestIdp::start(&[trusted()]).await;
    idp.set_cache_control(Some("max-age=0"));
    let jwks = JwksCache::from_url(idp.jwks_url())
        .ttl_bounds(Duration::from_millis(50), Duration::from_millis(50))
        .build()
        .expect("cache");
    assert!(eventually(Duration::from_secs(5), || jwks.generation() == 1).await);
    assert!(
        eventually(Duration::from_secs(5), || idp.jwks_not_modified() >= 3).await,
        "background revalidations are answered 304 ({} of {} requests)",
        idp.jwks_not_modified(),
        idp.jwks_hits()
    );
    assert_eq!(jwks.generation(), 1, "a 304 keeps the set as it is");
    let validator = validator(&idp, jwks.clone());
    validator
        .validate(&idp.token(), now())
        .await
        .expect("keys still there");

    // A forced refresh revalidates too: against an IdP of its own, so no
    // background refresh of the cache above muddles the count.
    let quiet_idp = TestIdp::start(&[trusted()]).await;
    let quiet = JwksCache::from_url(quiet_idp.jwks_url())
        .ttl_bounds(Duration::from_secs(3600), Duration::from_secs(3600))
        .build()
        .expect("cache");
    assert!(eventually(Duration::from_secs(5), || quiet.generation() == 1).await);
    let hits = quiet_idp.jwks_hits();
    let before = quiet_idp.jwks_not_modified();
    quiet.refresh().await.expect("refresh");
    assert_eq!(quiet_idp.jwks_hits(), hits + 1, "one request");
    assert_eq!(quiet_idp.jwks_not_modified(), before + 1, "answered 304");
    assert_eq!(quiet.generation(), 1, "a 304 keeps the set as it is");

    // And a change is still noticed.
    idp.set_keys(&[trusted(), rotated()]);
    assert!(eventually(Duration::from_secs(5), || jwks.generation() == 2).await);
}

#[tokio::test]
async fn cached_keys_keep_working_with_the_idp_gone() {
    let mut idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url())
        .ttl_bounds(Duration::from_millis(100), Duration::from_millis(100))
        .fetch_timeout(Duration::from_millis(500))
        .build()
        .expect("cache");
    let validator = validator(&idp, jwks.clone());
    validator
        .validate(&idp.token(), now())
        .await
        .expect("keys loaded");
    idp.stop().await;

    assert!(jwks.refresh().await.is_err(), "the IdP is gone");
    // Past max-age, with background refreshes failing, fresh tokens
    // (not in the verified-token cache) still verify against the last set.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let claims = validator.validate(&idp.token(), now()).await;
        assert!(claims.is_ok(), "{claims:?}");
    }
    assert_eq!(jwks.snapshot().len(), 1);
}

#[tokio::test]
async fn garbage_from_the_idp_keeps_the_last_good_set() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url())
        .max_response_bytes(64 * 1024)
        .build()
        .expect("cache");
    jwks.refresh().await.expect("first fetch");
    assert_eq!(jwks.refresh_failures(), 0);
    let generation = jwks.generation();
    let validator = validator(&idp, jwks.clone());

    let ec_only =
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"}]});
    let bodies = [
        (200, "<html>oops</html>".to_owned()),
        (200, "{\"keys\": []}".to_owned()),
        (200, ec_only.to_string()),
        (200, "{\"keys\": {}}".to_owned()),
        (200, "x".repeat(100 * 1024)),
        (500, jwks_json(&[rotated()])),
        (404, String::new()),
    ];
    for (status, body) in bodies {
        idp.set_jwks_status(status);
        idp.set_jwks_body(&body);
        let result = jwks.refresh().await;
        assert!(result.is_err(), "status {status}, body {body:.30}");
        assert_eq!(jwks.generation(), generation, "set kept");
        let claims = validator.validate(&idp.token(), now()).await;
        assert!(claims.is_ok(), "{claims:?}");
    }
    // What /metrics shows: every failure counted, the set's age since the
    // last good fetch still known.
    assert!(jwks.refresh_failures() >= 7, "{}", jwks.refresh_failures());
    assert!(jwks.age().is_some());
}

#[tokio::test]
async fn max_age_drives_the_background_refresh() {
    let idp = TestIdp::start(&[trusted()]).await;
    idp.set_cache_control(Some("public, max-age=1"));
    let jwks = JwksCache::from_url(idp.jwks_url())
        .ttl_bounds(Duration::from_millis(500), Duration::from_secs(3600))
        .build()
        .expect("cache");
    assert!(
        eventually(Duration::from_secs(5), || jwks.generation() == 1).await,
        "first fetch happens in the background"
    );
    idp.set_keys(&[trusted(), rotated()]);
    assert!(
        eventually(Duration::from_secs(5), || jwks.generation() == 2).await,
        "refreshed before expiry without any token asking"
    );
    assert!(jwks.snapshot().get(rotated().kid()).is_some());

    // A long max-age is honoured too: no refetch within it.
    idp.set_cache_control(Some("max-age=3600"));
    jwks.refresh().await.expect("refresh");
    let hits = idp.jwks_hits();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(idp.jwks_hits(), hits);
}

#[tokio::test]
async fn a_removed_key_takes_its_cached_verifications_with_it() {
    let idp = TestIdp::start(&[trusted(), rotated()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url())
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .expect("cache");
    let validator = validator(&idp, jwks.clone());
    let old = idp.token_with(trusted(), &idp.claims());
    let new = idp.token_with(rotated(), &idp.claims());
    // Each used twice: cached on its second verification.
    for _ in 0..2 {
        validator.validate(&old, now()).await.expect("old key");
        validator.validate(&new, now()).await.expect("new key");
    }
    assert_eq!(validator.cached_tokens(), 2);

    idp.set_keys(&[rotated()]);
    jwks.refresh().await.expect("refresh");
    assert_eq!(
        validator.validate(&old, now()).await,
        Err(AuthError::InvalidToken(InvalidTokenReason::UnknownKey))
    );
    validator
        .validate(&new, now())
        .await
        .expect("the remaining key's tokens stay valid");
}

#[tokio::test]
async fn no_keys_yet_is_503_then_recovers() {
    let idp = TestIdp::start(&[trusted()]).await;
    idp.set_jwks_status(503);
    let jwks = JwksCache::from_url(idp.jwks_url())
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .expect("cache");
    let validator = validator(&idp, jwks.clone());
    let app = api(validator.clone());
    let token = idp.token();

    let reply = call(&app, "/api/private", Some(&token)).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.error(), "temporarily_unavailable");
    assert!(!validator.keys().is_loaded());

    idp.set_jwks_status(200);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let reply = call(&app, "/api/private", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(validator.keys().is_loaded());
}

#[tokio::test]
async fn concurrent_first_requests_share_the_first_fetch() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    let validator = Arc::new(validator(&idp, jwks));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (validator, token) = (validator.clone(), idp.token());
            tokio::spawn(async move { validator.validate(&token, now()).await.is_ok() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("task"), "every first request is served");
    }
    assert!(idp.jwks_hits() <= 2, "{} fetches", idp.jwks_hits());
}

#[tokio::test]
async fn the_revocation_feed_is_polled_and_kept_through_outages() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    let revocations = RevocationList::new();
    let _poller = RevocationPoller::builder(format!("{}/revocations", idp.issuer))
        .interval(Duration::from_millis(50))
        .spawn(&revocations)
        .expect("poller");
    let validator = Validator::builder(&idp.issuer, jwks)
        .audience(&idp.issuer)
        .revocations(revocations.clone())
        .build();

    let mut claims = idp.claims();
    let jti = jti();
    claims["jti"] = json!(jti);
    let token = idp.token_with(trusted(), &claims);
    validator
        .validate(&token, now())
        .await
        .expect("not revoked yet");

    idp.revoke(&jti, now() + 600);
    assert!(eventually(Duration::from_secs(5), || revocations.is_revoked(&jti)).await);
    assert_eq!(
        validator.validate(&token, now()).await,
        Err(AuthError::InvalidToken(InvalidTokenReason::Revoked(
            Refusal::Token
        )))
    );

    // The feed breaks: the last good list stays.
    *idp.state.revocations_status.lock().expect("lock") = 500;
    let hits = idp.state.revocation_hits.load(Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(5), || idp
            .state
            .revocation_hits
            .load(Ordering::SeqCst)
            >= hits + 3)
        .await
    );
    assert!(revocations.is_revoked(&jti));
    assert!(validator.validate(&token, now()).await.is_err());
}

/// The default client speaks TLS (rustls on aws-lc-rs, the library that
/// verifies the tokens) and checks the issuer's certificate against the
/// public roots: a self-signed one is refused, the error says why, and the
/// keys stay unloaded.
#[tokio::test]
async fn an_https_issuer_no_public_root_vouches_for_is_refused() {
    let (addr, _, mut outcomes) = tls_issuer(jwks_json(&[trusted()])).await;
    let jwks = JwksCache::from_url(format!("https://{addr}/jwks"))
        .fetch_timeout(Duration::from_secs(5))
        .build()
        .expect("cache");
    let error = jwks.refresh().await.expect_err("a self-signed issuer");
    let message = error.to_string();
    assert!(
        message.contains("certificate") && message.contains("UnknownIssuer"),
        "{message}"
    );
    assert_eq!(jwks.generation(), 0, "no key set was loaded");
    // The client got as far as the server's certificate: a TLS handshake
    // took place, and the client broke it off.
    let outcome = outcomes.recv().await.expect("a connection");
    assert!(outcome.is_err(), "the handshake completed");
}

/// A private CA's certificate, trusted with `https_client_trusting`: the
/// same issuer's keys load and verify its tokens.
#[tokio::test]
async fn an_https_issuer_is_trusted_with_its_certificate_added() {
    let (addr, pem, _outcomes) = tls_issuer(jwks_json(&[trusted()])).await;
    let client = resource_server::https_client_trusting(pem.as_bytes()).expect("client");
    let jwks = JwksCache::from_url(format!("https://{addr}/jwks"))
        .http_client(client)
        .build()
        .expect("cache");
    jwks.refresh().await.expect("keys fetched over TLS");
    assert!(jwks.generation() > 0);
    assert_eq!(jwks.snapshot().len(), 1, "the issuer's one key");
}

#[test]
fn a_bundle_without_certificates_is_refused() {
    for bundle in [
        &b""[..],
        b"not PEM",
        b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    ] {
        let error = resource_server::https_client_trusting(bundle).expect_err("no certificate");
        assert!(
            error
                .to_string()
                .starts_with("could not build the HTTP client: trusted certificates"),
            "{error}"
        );
    }
}
