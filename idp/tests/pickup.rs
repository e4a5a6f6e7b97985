//! Issue 13: an emergency rotation right after a resource server started is
//! picked up at once. The start-up fetch must not start the unknown-kid
//! cooldown: two forced rotations moments after the resource server's
//! first fetch, and every token the IdP signs with the new key from then
//! on is accepted; a flood of forged kids afterwards costs no fetch within
//! the cooldown. The resource server's JWKS requests go through a counting
//! proxy on 127.0.0.1:0.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use keys::rotation::RotationTrigger;
use resource_server::{AuthError, InvalidTokenReason, JwksCache, Validator};
use serde_json::json;

/// Forwards `GET /jwks` to the IdP, counting requests.
struct CountingProxy {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: String) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = (upstream, Arc::clone(&hits), reqwest::Client::new());
        let app = axum::Router::new()
            .route("/jwks", axum::routing::get(forward))
            .with_state(Arc::new(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Polls `condition` every 20 ms for at most `limit`.
async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

type ProxyState = Arc<(String, Arc<AtomicUsize>, reqwest::Client)>;

async fn forward(State(state): State<ProxyState>, request: HeaderMap) -> Response {
    let (upstream, hits, client) = &*state;
    hits.fetch_add(1, Ordering::SeqCst);
    let mut outgoing = client.get(upstream);
    if let Some(etag) = request.get(header::IF_NONE_MATCH) {
        outgoing = outgoing.header(header::IF_NONE_MATCH, etag);
    }
    let Ok(answer) = outgoing.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL, header::ETAG] {
        if let Some(value) = answer.headers().get(name.as_str()) {
            if let Ok(value) = value.to_str() {
                headers.insert(name, value.parse().expect("header value"));
            }
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    (status, headers, body).into_response()
}

#[tokio::test]
async fn two_forced_rotations_right_after_start_cost_no_refusal() {
    let idp = TestIdp::start().await;
    let secret = idp.client("svc", "", false).await;
    let proxy = CountingProxy::start(idp.url("/jwks")).await;

    // The resource server starts: its first fetch runs in the background.
    // A long cooldown makes the point: were the start-up fetch to count
    // against it, the new key would be refused for a minute.
    let jwks = JwksCache::from_url(&proxy.url)
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .expect("cache");
    let validator = Validator::builder(&idp.base, jwks.clone())
        .audience(&idp.base)
        .build();
    assert!(
        eventually(Duration::from_secs(5), || jwks.generation() == 1).await,
        "the start-up fetch"
    );
    let after_start = proxy.hits();

    // An emergency: two forced rotations at once. The second promotes a
    // key generated moments ago, after the resource server's fetch.
    let keys = idp.server.state.keys();
    for _ in 0..2 {
        keys.rotate(RotationTrigger::Manual { force: true })
            .await
            .expect("forced rotation");
    }
    let new_kid = keys.ring().current_kid.clone();
    assert!(
        jwks.snapshot().get(&new_kid).is_none(),
        "the resource server has not seen the new key yet"
    );

    // The IdP publishes and signs with it: no token is refused.
    let mut refusals = 0;
    for _ in 0..20 {
        let token = idp.client_token("svc", &secret).await;
        assert_eq!(jwt_part(&token, 0)["kid"], new_kid);
        if validator.validate(&token, idp::unix_now()).await.is_err() {
            refusals += 1;
        }
    }
    assert_eq!(refusals, 0, "tokens of the new key refused");
    assert_eq!(proxy.hits(), after_start + 1, "one refetch for the new kid");

    // A flood of forged kids now: that refetch started the cooldown, so
    // none of them costs a fetch.
    let claims = json!({"iss": idp.base, "sub": "x", "aud": idp.base, "exp": idp::unix_now() + 60});
    let encode = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let forged: Vec<_> = (0..100)
        .map(|i| {
            let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("forged-{i}")});
            let token = format!("{}.{}.AAAA", encode(&header), encode(&claims));
            let validator = validator.clone();
            tokio::spawn(async move {
                validator
                    .validate(&token, idp::unix_now())
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for task in forged {
        assert_eq!(
            task.await.expect("task"),
            Err(AuthError::InvalidToken(InvalidTokenReason::UnknownKey))
        );
    }
    assert_eq!(
        proxy.hits(),
        after_start + 1,
        "forged kids within the cooldown cost nothing"
    );
}
