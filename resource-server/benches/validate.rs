//! The validation path against the physical limit, in one run:
//!
//! - one raw RSA-2048 PKCS#1 verify of the token's signing input with the
//!   same key, parsed once (aws-lc-rs `ParsedPublicKey`): the floor;
//! - one uncached validation (parse, verify, claims), with the default
//!   claims type and with an application's own (Keycloak-shaped) type;
//! - the path this crate took before the generic claims and parsed keys:
//!   `jsonwebtoken::decode` into a fixed claims struct, which rebuilds the
//!   public key on every call;
//! - a verified-token cache hit (hash, lookup, time and revocation checks).
//!
//! Criterion reports each; the bench then times the same closures again,
//! interleaved in rounds, and prints the ratios to the raw verify (medians
//! of the rounds), so that the comparison comes from one run on one
//! machine state.
//!
//! `cargo bench -p resource-server --bench validate`

use std::hint::black_box;

use futures_util::FutureExt as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use resource_server::Validator;
use serde::Deserialize;

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/interleave.rs"]
mod interleave;
use fixture::{Fixture, ISSUER};
use interleave::{measure, Case};

/// An application's own claims, shaped like Keycloak's.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Keycloak {
    azp: String,
    realm_access: RealmAccess,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct RealmAccess {
    roles: Vec<String>,
}

/// The claims type of the previous, jsonwebtoken-based path.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct FixedClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    jti: String,
    client_id: String,
    scope: String,
    email: Option<String>,
    name: Option<String>,
}

struct Setup {
    fixture: Fixture,
    default_claims: Validator,
    custom_claims: Validator<Keycloak>,
    cached: Validator,
    previous_key: DecodingKey,
    previous: Validation,
}

fn setup() -> Setup {
    let fixture = Fixture::new(|now| {
        serde_json::json!({
            "iss": ISSUER, "sub": "user-1", "aud": ISSUER, "exp": now + 3600, "iat": now,
            "nbf": now, "jti": "bench-jti", "client_id": "bench", "scope": "profile api:read",
            "email": "alice@example.com", "name": "Alice", "azp": "bench",
            "realm_access": {"roles": ["default-roles", "reader"]},
        })
    });
    // All with the (small) revocation list, as a real deployment would have.
    let builder = |capacity| {
        Validator::builder(ISSUER, fixture.local.clone())
            .audience(ISSUER)
            .revocations(fixture.revocations.clone())
            .cache_capacity(capacity)
    };
    let mut previous = Validation::new(Algorithm::RS256);
    previous.set_issuer(&[ISSUER]);
    previous.set_audience(&[ISSUER]);
    previous.validate_exp = false;
    let jwk = fixture.key.public_jwk();
    let previous_key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).expect("public key");
    Setup {
        default_claims: builder(0).build(),
        custom_claims: builder(0).claims::<Keycloak>().build(),
        cached: builder(10_000).build(),
        previous_key,
        previous,
        fixture,
    }
}

/// The known-kid path never awaits, so no runtime is needed to drive it.
fn validate<T>(validator: &Validator<T>, token: &str, now: u64) -> bool
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    validator
        .validate(black_box(token), now)
        .now_or_never()
        .expect("completes without awaiting")
        .is_ok()
}

fn cases(s: &Setup) -> Vec<Case<'_>> {
    let (token, now) = (&s.fixture.token, s.fixture.now);
    vec![
        (
            "raw RSA-2048 verify (parsed key)",
            Box::new(|| s.fixture.raw_verify()),
        ),
        (
            "uncached, default claims",
            Box::new(move || validate(&s.default_claims, token, now)),
        ),
        (
            "uncached, custom claims (Keycloak-shaped)",
            Box::new(move || validate(&s.custom_claims, token, now)),
        ),
        (
            "previous path: jsonwebtoken::decode, fixed claims",
            Box::new(move || {
                jsonwebtoken::decode::<FixedClaims>(black_box(token), &s.previous_key, &s.previous)
                    .is_ok()
            }),
        ),
        (
            "cached (verified-token cache hit)",
            Box::new(move || validate(&s.cached, token, now)),
        ),
    ]
}

fn main() {
    let setup = setup();
    let cases = cases(&setup);
    let medians = measure("validate", &cases);
    let floor = medians[0];
    for ((name, _), ns) in cases.iter().zip(&medians) {
        println!(
            "  {name:<52} {:>9.2} µs   {:>5.2} × raw verify",
            ns / 1000.0,
            ns / floor
        );
    }
    println!(
        "  generic claims vs the previous path: {:.2} × (default), {:.2} × (custom)",
        medians[1] / medians[3],
        medians[2] / medians[3]
    );
}
