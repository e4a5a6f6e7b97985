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

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use axum::body::Body;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::FutureExt as _;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use resource_server::{LocalKeys, RevocationList, Validator};
use resource_server_demo::demo_app;
use serve::{observe, Metrics};
use tower::ServiceExt as _;

#[path = "../../benches/support/interleave.rs"]
mod interleave;
use interleave::{interleaved, Case};

const ISSUER: &str = "https://idp.bench";

struct Setup {
    app: Router,
    /// The same app with no verified-token cache: every call verifies.
    uncached: Router,
    token: String,
    raw: aws_lc_rs::signature::ParsedPublicKey,
    signing_input: String,
    signature: Vec<u8>,
}

fn setup() -> Setup {
    let key = keys::SigningKey::generate(2048).expect("key");
    let local = LocalKeys::new();
    let jwks = keys::Jwks {
        keys: vec![key.public_jwk().clone()],
    };
    local
        .set_json(&serde_json::to_vec(&jwks).expect("jwks"))
        .expect("keys");
    let now = resource_server::unix_now();
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().into());
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "client-bench", "aud": ISSUER, "exp": now + 3600,
        "iat": now, "jti": "Zq1n3h6kR0m8yXv2Lw9sTg", "client_id": "bench",
        "scope": "api:read profile",
    });
    let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("pem");
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("token");
    let jwk = key.public_jwk();
    let (n, e) = (
        URL_SAFE_NO_PAD.decode(&jwk.n).expect("n"),
        URL_SAFE_NO_PAD.decode(&jwk.e).expect("e"),
    );
    let raw = RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .expect("parsed key");
    let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");

    // A (small) revocation list, as a deployment polling its IdP has.
    let revocations = RevocationList::new();
    revocations.replace((0..100).map(|i| (format!("revoked-{i}"), now + 600)));
    let validator = |capacity| {
        Validator::builder(ISSUER, local.clone())
            .audience(ISSUER)
            .revocations(revocations.clone())
            .cache_capacity(capacity)
            .build()
    };
    let metrics = Metrics::new();
    Setup {
        app: observe(demo_app(validator(10_000)), &metrics),
        uncached: observe(demo_app(validator(0)), &metrics),
        signing_input: signing_input.to_owned(),
        token,
        raw,
        signature,
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
    vec![
        (
            "GET /api/public (the baseline)",
            Box::new(|| call(&s.app, "/api/public", None) == StatusCode::OK),
        ),
        (
            "GET /api/private, cache hit",
            Box::new(|| call(&s.app, "/api/private", Some(&s.token)) == StatusCode::OK),
        ),
        (
            "GET /api/private, uncached (RSA verify)",
            Box::new(|| call(&s.uncached, "/api/private", Some(&s.token)) == StatusCode::OK),
        ),
        (
            "raw RSA-2048 verify (parsed key)",
            Box::new(|| {
                s.raw
                    .verify_sig(black_box(s.signing_input.as_bytes()), &s.signature)
                    .is_ok()
            }),
        ),
    ]
}

fn main() {
    let setup = setup();
    let cases = cases(&setup);
    for (name, run) in &cases {
        assert!(run(), "{name} must succeed before it is timed");
    }
    let mut criterion = criterion::Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("route");
        for (name, run) in &cases {
            group.bench_function(*name, |b| b.iter(run));
        }
        group.finish();
    }
    criterion.final_summary();

    let m = interleaved(&cases, 31, 400);
    println!("\nsame run, interleaved, median of 31 rounds of 400 calls:");
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
