//! The validation path, both ways a request can take it: a token seen for
//! the first time (parse, RSA-2048 verify, claim checks) and a token already
//! in the verified-token cache (hash, lookup, time and revocation checks).
//!
//! `cargo bench -p resource-server --bench validate`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use resource_server::{LocalKeys, RevocationList, Validator};

const ISSUER: &str = "https://idp.bench";

fn validation(c: &mut Criterion) {
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
        "iss": ISSUER, "sub": "user-1", "aud": ISSUER, "exp": now + 3600, "iat": now,
        "nbf": now, "jti": "bench-jti", "client_id": "bench", "scope": "profile api:read",
        "email": "alice@example.com", "name": "Alice",
    });
    let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("pem");
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("token");

    // Both with a (small) revocation list, as a real deployment would have.
    let revocations = RevocationList::new();
    revocations.replace((0..100).map(|i| (format!("revoked-{i}"), now + 600)));
    let build = |capacity| {
        Validator::builder(ISSUER, local.clone())
            .audience(ISSUER)
            .revocations(revocations.clone())
            .cache_capacity(capacity)
            .build()
    };
    let uncached = build(0);
    let cached = build(10_000);
    // The known-kid path never awaits, so no runtime is needed to drive it.
    let validate = |validator: &Validator| {
        validator
            .validate(black_box(&token), now)
            .now_or_never()
            .expect("completes without awaiting")
            .expect("valid token")
    };
    validate(&cached);

    let mut group = c.benchmark_group("validate");
    group.bench_function("uncached (RSA-2048 verify)", |b| {
        b.iter(|| validate(&uncached))
    });
    group.bench_function("cached (verified-token cache hit)", |b| {
        b.iter(|| validate(&cached))
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
