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

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
use futures_util::FutureExt as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use resource_server::{LocalKeys, RevocationList, Validator};
use serde::Deserialize;

#[path = "support/interleave.rs"]
mod interleave;
use interleave::{interleaved, Case};

const ISSUER: &str = "https://idp.bench";

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
    token: String,
    now: u64,
    raw: aws_lc_rs::signature::ParsedPublicKey,
    signature: Vec<u8>,
    default_claims: Validator,
    custom_claims: Validator<Keycloak>,
    cached: Validator,
    previous_key: DecodingKey,
    previous: Validation,
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
        "iss": ISSUER, "sub": "user-1", "aud": ISSUER, "exp": now + 3600, "iat": now,
        "nbf": now, "jti": "bench-jti", "client_id": "bench", "scope": "profile api:read",
        "email": "alice@example.com", "name": "Alice", "azp": "bench",
        "realm_access": {"roles": ["default-roles", "reader"]},
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
    let (_, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");

    // All with a (small) revocation list, as a real deployment would have.
    let revocations = RevocationList::new();
    revocations.replace((0..100).map(|i| (format!("revoked-{i}"), now + 600)));
    let builder = |capacity| {
        Validator::builder(ISSUER, local.clone())
            .audience(ISSUER)
            .revocations(revocations.clone())
            .cache_capacity(capacity)
    };
    let mut previous = Validation::new(Algorithm::RS256);
    previous.set_issuer(&[ISSUER]);
    previous.set_audience(&[ISSUER]);
    previous.validate_exp = false;
    Setup {
        now,
        raw,
        signature,
        default_claims: builder(0).build(),
        custom_claims: builder(0).claims::<Keycloak>().build(),
        cached: builder(10_000).build(),
        previous_key: DecodingKey::from_rsa_raw_components(&n, &e),
        previous,
        token,
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
    let signing_input = s.token.rsplit_once('.').expect("segments").0;
    vec![
        (
            "raw RSA-2048 verify (parsed key)",
            Box::new(move || {
                s.raw
                    .verify_sig(black_box(signing_input.as_bytes()), &s.signature)
                    .is_ok()
            }),
        ),
        (
            "uncached, default claims",
            Box::new(|| validate(&s.default_claims, &s.token, s.now)),
        ),
        (
            "uncached, custom claims (Keycloak-shaped)",
            Box::new(|| validate(&s.custom_claims, &s.token, s.now)),
        ),
        (
            "previous path: jsonwebtoken::decode, fixed claims",
            Box::new(|| {
                jsonwebtoken::decode::<FixedClaims>(
                    black_box(&s.token),
                    &s.previous_key,
                    &s.previous,
                )
                .is_ok()
            }),
        ),
        (
            "cached (verified-token cache hit)",
            Box::new(|| validate(&s.cached, &s.token, s.now)),
        ),
    ]
}

fn main() {
    let setup = setup();
    let cases = cases(&setup);
    for (name, run) in &cases {
        assert!(run(), "{name} must succeed before it is timed");
    }

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("validate");
        for (name, run) in &cases {
            group.bench_function(*name, |b| b.iter(run));
        }
        group.finish();
    }
    criterion.final_summary();

    let medians = interleaved(&cases, 31, 400);
    let floor = medians[0];
    println!("\nsame run, interleaved, median of 31 rounds of 400 calls:");
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
