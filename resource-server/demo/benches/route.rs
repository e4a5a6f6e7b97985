//! What the bearer layer adds to a request, in process (no sockets, no
//! load generator on the same cores), in one run:
//!
//! - `GET /api/public` through the demo app and the server's `observe`
//!   wrapper (request id, span, access log, duration histogram): the
//!   baseline;
//! - `GET /api/private` with one token repeated: a verified-token cache
//!   hit (hash, lookup, time and revocation checks, claims into the
//!   request, the handler's answer);
//! - `GET /api/private` with a token the cache does not hold: an RSA
//!   verify and the claims' parse every time;
//! - one raw RSA-2048 verify of the same signing input with the same key
//!   (aws-lc-rs `ParsedPublicKey`): the floor of a cold validation.
//!
//! The cases run interleaved in rounds and the bench prints medians and
//! the added cost over the baseline, so the comparison comes from one
//! machine state. The access log goes nowhere (no subscriber), as when a
//! deployment filters it out; with logging on, both routes pay the same.
//!
//! `cargo bench -p resource-server-demo --bench route`

use std::hint::black_box;

use axum::body::Body;
use axum::Router;
use futures_util::FutureExt as _;
use http::{Request, StatusCode};
use resource_server::Validator;
use resource_server_demo::demo_app;
use serve::{observe, Metrics};
use tower::ServiceExt as _;

#[path = "../../benches/support/fixture.rs"]
mod fixture;
#[path = "../../benches/support/interleave.rs"]
mod interleave;
use fixture::{Fixture, ISSUER};
use interleave::{measure, Case};

struct Setup {
    app: Router,
    /// The same app with no verified-token cache: every call verifies.
    uncached: Router,
    fixture: Fixture,
}

fn setup() -> Setup {
    let fixture = Fixture::new(|now| {
        serde_json::json!({
            "iss": ISSUER, "sub": "client-bench", "aud": ISSUER, "exp": now + 3600,
            "iat": now, "jti": "Zq1n3h6kR0m8yXv2Lw9sTg", "client_id": "bench",
            "scope": "api:read profile",
        })
    });
    // With the (small) revocation list, as a deployment polling its IdP has.
    let validator = |capacity| {
        Validator::builder(ISSUER, fixture.local.clone())
            .audience(ISSUER)
            .revocations(fixture.revocations.clone())
            .cache_capacity(capacity)
            .build()
    };
    let metrics = Metrics::new();
    Setup {
        app: observe(demo_app(validator(10_000)), &metrics),
        uncached: observe(demo_app(validator(0)), &metrics),
        fixture,
    }
}

/// One request through `app`; its status.
fn call(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::empty()).expect("request");
    app.clone()
        .oneshot(black_box(request))
        .now_or_never()
        .expect("answers without awaiting")
        .expect("infallible")
        .status()
}

fn cases(s: &Setup) -> Vec<Case<'_>> {
    let token = s.fixture.token.as_str();
    vec![
        (
            "GET /api/public (the baseline)",
            Box::new(|| call(&s.app, "/api/public", None) == StatusCode::OK),
        ),
        (
            "GET /api/private, cache hit",
            Box::new(|| call(&s.app, "/api/private", Some(token)) == StatusCode::OK),
        ),
        (
            "GET /api/private, uncached (RSA verify)",
            Box::new(|| call(&s.uncached, "/api/private", Some(token)) == StatusCode::OK),
        ),
        (
            "raw RSA-2048 verify (parsed key)",
            Box::new(|| s.fixture.raw_verify()),
        ),
    ]
}

fn main() {
    let setup = setup();
    let cases = cases(&setup);
    let m = measure("route", &cases);
    for ((name, _), ns) in cases.iter().zip(&m) {
        println!("  {name:<44} {:>8.2} µs", ns / 1000.0);
    }
    let (public, hit, cold, raw) = (m[0], m[1], m[2], m[3]);
    println!(
        "  added over the baseline: cache hit +{:.2} µs; uncached +{:.2} µs = {:.2} × one raw verify",
        (hit - public) / 1000.0,
        (cold - public) / 1000.0,
        (cold - public) / raw
    );
}
