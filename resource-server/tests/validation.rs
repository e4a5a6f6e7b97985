//! What the validator lets through and what it refuses, driven through the
//! bearer layer: a JWKS served by a test IdP on 127.0.0.1:0, a guarded
//! service called in-process, and tokens forged with a trusted key so that
//! every claim and header can be whatever an attacker wants.

mod common;

use axum::Router;
use common::*;
use jsonwebtoken::Algorithm;
use resource_server::{JwksCache, RequiredClaim, RevocationList, Validator};
use serde_json::{json, Value};

struct Setup {
    idp: TestIdp,
    api: Router,
    revocations: RevocationList,
}

async fn setup() -> Setup {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url())
        .build()
        .expect("jwks cache");
    let revocations = RevocationList::new();
    let validator = Validator::builder(&idp.issuer, jwks)
        .audience(&idp.issuer)
        .require(RequiredClaim::Jti)
        .revocations(revocations.clone())
        .build();
    Setup {
        idp,
        api: api(validator),
        revocations,
    }
}

impl Setup {
    async fn private(&self, token: &str) -> Reply {
        call(&self.api, "/api/private", Some(token)).await
    }

    /// `token` is refused with `401 invalid_token`, and the answer echoes no
    /// part of it.
    async fn assert_refused(&self, token: &str, what: &str) {
        let reply = self.private(token).await;
        reply.assert_invalid_token(what);
        for segment in token.split('.').filter(|s| s.len() > 8) {
            assert!(!reply.text.contains(segment), "{what}: token echoed");
            assert!(
                !reply
                    .challenge
                    .as_deref()
                    .unwrap_or_default()
                    .contains(segment),
                "{what}: token echoed in the challenge"
            );
        }
    }
}

/// A change made to otherwise valid claims.
type Mutation = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn claim_violations_are_invalid_tokens() {
    let s = setup().await;
    let now = now();
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "expired",
            Box::new(move |c| c["exp"] = json!(now - 120)),
            "token has expired",
        ),
        (
            "expired beyond the leeway",
            Box::new(move |c| c["exp"] = json!(now - 31)),
            "token has expired",
        ),
        (
            "not yet valid",
            Box::new(move |c| c["nbf"] = json!(now + 3600)),
            "token is not valid yet",
        ),
        (
            "issued in the future",
            Box::new(move |c| c["iat"] = json!(now + 3600)),
            "token is issued in the future",
        ),
        (
            "wrong issuer",
            Box::new(|c| c["iss"] = json!("http://evil.example")),
            "token issuer is not accepted",
        ),
        (
            "issuer with a trailing slash",
            Box::new(|c| {
                let iss = format!("{}/", c["iss"].as_str().unwrap_or_default());
                c["iss"] = json!(iss)
            }),
            "token issuer is not accepted",
        ),
        (
            "issuer array",
            Box::new(|c| c["iss"] = json!(["http://evil.example", c["iss"].clone()])),
            "token claims are malformed",
        ),
        (
            "wrong audience",
            Box::new(|c| c["aud"] = json!("http://other-api")),
            "token audience is not accepted",
        ),
        (
            "wrong audience array",
            Box::new(|c| c["aud"] = json!(["a", "b"])),
            "token audience is not accepted",
        ),
        (
            "missing audience",
            Box::new(|c| remove(c, "aud")),
            "token lacks a required claim",
        ),
        (
            "missing exp",
            Box::new(|c| remove(c, "exp")),
            "token lacks a required claim",
        ),
        (
            "missing iss",
            Box::new(|c| remove(c, "iss")),
            "token lacks a required claim",
        ),
        (
            "missing sub",
            Box::new(|c| remove(c, "sub")),
            "token lacks a required claim",
        ),
        (
            "empty sub",
            Box::new(|c| c["sub"] = json!("")),
            "token lacks a required claim",
        ),
        (
            "string exp",
            Box::new(move |c| c["exp"] = json!((now + 600).to_string())),
            "token claims are malformed",
        ),
        (
            "missing jti",
            Box::new(|c| remove(c, "jti")),
            "token lacks a required claim",
        ),
    ];
    for (what, mutate, description) in cases {
        let mut claims = s.idp.claims();
        mutate(&mut claims);
        let token = s.idp.token_with(trusted(), &claims);
        let reply = s.private(&token).await;
        reply.assert_invalid_token(what);
        assert_eq!(reply.description(), description, "{what}");
    }

    // Inside the 30 s leeway, both ways.
    let mut claims = s.idp.claims();
    claims["exp"] = json!(now - 10);
    claims["nbf"] = json!(now + 10);
    assert_eq!(
        s.private(&s.idp.token_with(trusted(), &claims))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn only_at_jwt_typ_is_accepted() {
    let s = setup().await;
    for typ in [Some("at+jwt"), Some("application/at+jwt"), Some("AT+JWT")] {
        let mut header = header_for(trusted());
        header["typ"] = json!(typ);
        let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
        assert_eq!(s.private(&token).await.status, 200, "{typ:?}");
    }
    for typ in [
        Some("JWT"),
        Some("jwt"),
        Some("application/jwt"),
        Some("id+jwt"),
        None,
    ] {
        let mut header = header_for(trusted());
        match typ {
            Some(typ) => header["typ"] = json!(typ),
            None => remove(&mut header, "typ"),
        }
        let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
        s.assert_refused(&token, &format!("typ {typ:?}")).await;
    }
}

#[tokio::test]
async fn accept_jwt_typ_lets_plain_jwts_in() {
    let idp = TestIdp::start(&[trusted()]).await;
    let jwks = JwksCache::from_url(idp.jwks_url()).build().expect("cache");
    let validator = Validator::builder(&idp.issuer, jwks)
        .audience(&idp.issuer)
        .accept_jwt_typ(true)
        .build();
    for typ in [Some("JWT"), None, Some("at+jwt")] {
        let mut header = header_for(trusted());
        match typ {
            Some(typ) => header["typ"] = json!(typ),
            None => remove(&mut header, "typ"),
        }
        let token = sign(&header, &idp.claims(), trusted(), Algorithm::RS256);
        let result = validator.validate(&token, now()).await;
        assert!(result.is_ok(), "{typ:?}: {result:?}");
    }
}

#[tokio::test]
async fn alg_none_is_refused_in_every_casing() {
    let s = setup().await;
    let valid = s.idp.token();
    let real_signature = valid.rsplit('.').next().expect("signature");
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut header = header_for(trusted());
        header["alg"] = json!(alg);
        let unsigned = format!("{}.{}", b64(&header), b64(&s.idp.claims()));
        s.assert_refused(&format!("{unsigned}."), alg).await;
        s.assert_refused(&format!("{unsigned}.{real_signature}"), alg)
            .await;
        s.assert_refused(&format!("{unsigned}.AAAA"), alg).await;
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let s = setup().await;
    let mut header = header_for(trusted());
    header["alg"] = json!("HS256");
    for (i, secret) in public_key_encodings(trusted()).iter().enumerate() {
        let token = sign_hs256(&header, &s.idp.claims(), secret);
        s.assert_refused(&token, &format!("HS256 with encoding {i}"))
            .await;
    }
}

#[tokio::test]
async fn other_rsa_algorithms_with_the_right_key_are_refused() {
    let s = setup().await;
    for alg in [
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::RS384,
        Algorithm::RS512,
    ] {
        let mut header = header_for(trusted());
        header["alg"] = json!(format!("{alg:?}"));
        let token = sign(&header, &s.idp.claims(), trusted(), alg);
        s.assert_refused(&token, &format!("{alg:?}")).await;
        // And RS256 in the header over a signature made with another alg.
        let token = sign(&header_for(trusted()), &s.idp.claims(), trusted(), alg);
        s.assert_refused(&token, &format!("RS256 header, {alg:?} signature"))
            .await;
    }
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_trusted() {
    let s = setup().await;
    // A second server stands where `jku`/`x5u` point; it must never be asked.
    let elsewhere = TestIdp::start(&[attacker()]).await;
    let embedded = serde_json::to_value(attacker().public_jwk()).expect("jwk");
    let headers = [
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker().kid(), "jwk": embedded}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": trusted().kid(), "jwk": embedded}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker().kid(), "jku": elsewhere.jwks_url()}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": trusted().kid(), "jku": elsewhere.jwks_url()}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker().kid(), "x5u": elsewhere.jwks_url()}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker().kid(), "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]}),
        json!({"alg": "RS256", "typ": "at+jwt", "jku": elsewhere.jwks_url(), "jwk": embedded}),
    ];
    for (i, header) in headers.iter().enumerate() {
        let token = sign(header, &s.idp.claims(), attacker(), Algorithm::RS256);
        s.assert_refused(&token, &format!("attacker header {i}"))
            .await;
    }
    assert_eq!(elsewhere.jwks_hits(), 0, "jku/x5u must never be fetched");
    assert_eq!(
        elsewhere
            .state
            .other_hits
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // The same members on a genuinely signed token change nothing.
    let mut header = header_for(trusted());
    header["jku"] = json!(elsewhere.jwks_url());
    header["jwk"] = embedded;
    let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
    assert_eq!(s.private(&token).await.status, 200);
    assert_eq!(elsewhere.jwks_hits(), 0);
}

#[tokio::test]
async fn critical_headers_are_refused() {
    let s = setup().await;
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!(null)] {
        let mut header = header_for(trusted());
        header["crit"] = crit.clone();
        header["exp"] = json!(1);
        header["b64"] = json!(false);
        let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
        s.assert_refused(&token, &format!("crit {crit}")).await;
    }
}

#[tokio::test]
async fn kid_injection_is_refused_without_fetching() {
    let s = setup().await;
    // Load the keys first, so that what follows is measured against a warm cache.
    assert_eq!(s.private(&s.idp.token()).await.status, 200);
    let hits = s.idp.jwks_hits();
    let long = "k".repeat(2000);
    let kids = [
        json!("../../etc/passwd"),
        json!("/dev/null"),
        json!("' OR '1'='1"),
        json!("\"; DROP TABLE keys; --"),
        json!("kid\r\nX-Injected: 1"),
        json!("\u{0000}"),
        json!("%00"),
        json!(long),
        json!(""),
        json!(42),
        json!(["a"]),
        json!({"kid": "x"}),
    ];
    for kid in kids {
        let mut header = header_for(trusted());
        header["kid"] = kid.clone();
        let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
        let what = format!(
            "kid {}",
            kid.to_string().chars().take(40).collect::<String>()
        );
        s.assert_refused(&token, &what).await;
    }
    // No kid at all (or a null one): the trusted keys that allow RS256 are
    // tried, so the genuine signature passes and nothing is fetched.
    for absent in [None, Some(json!(null))] {
        let mut header = header_for(trusted());
        remove(&mut header, "kid");
        if let Some(value) = absent {
            header["kid"] = value;
        }
        let token = sign(&header, &s.idp.claims(), trusted(), Algorithm::RS256);
        assert_eq!(s.private(&token).await.status, 200, "{header}");
    }
    let mut header = header_for(attacker());
    remove(&mut header, "kid");
    let token = sign(&header, &s.idp.claims(), attacker(), Algorithm::RS256);
    s.assert_refused(&token, "no kid, an untrusted key").await;
    assert!(
        s.idp.jwks_hits() <= hits + 1,
        "at most one refetch (cooldown) for all of those"
    );
}

#[tokio::test]
async fn a_swapped_payload_under_a_kept_signature_is_refused() {
    let s = setup().await;
    let genuine = s.idp.token();
    // Verified once, so it sits in the verified-token cache.
    assert_eq!(s.private(&genuine).await.status, 200);
    let [header, _, signature]: [&str; 3] = genuine
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three segments");
    let mut claims = s.idp.claims();
    claims["sub"] = json!("admin");
    claims["scope"] = json!("admin api:read profile");
    let forged = format!("{header}.{}.{signature}", b64(&claims));
    s.assert_refused(&forged, "swapped payload").await;
    let reply = s.private(&forged).await;
    assert_eq!(reply.description(), "token signature is invalid");
    // Flipping one signature bit is just as dead.
    let mut sig = signature.as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "{header}.{}.{}",
        genuine.split('.').nth(1).expect("payload"),
        String::from_utf8(sig).expect("ascii")
    );
    s.assert_refused(&flipped, "flipped signature").await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let s = setup().await;
    let valid = s.idp.token();
    let [h, p, sig]: [&str; 3] = valid
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three segments");
    let not_json = base64_url("not json");
    let array = base64_url("[\"RS256\"]");
    let cases = [
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        "abc".to_owned(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{sig}.{sig}"),
        format!("{h}.{p}.{sig}."),
        format!("{h}..{sig}"),
        format!(".{p}.{sig}"),
        format!("{h}.{p}.{sig}="),
        format!("{h}=.{p}.{sig}"),
        format!("{h}.{p}.!!!!"),
        format!("!!!!.{p}.{sig}"),
        format!("{not_json}.{p}.{sig}"),
        format!("{array}.{p}.{sig}"),
        format!("{h}.{not_json}.{sig}"),
        format!("{h}.{p}.{}", &sig[..sig.len() - 1]),
        format!("{h}.{p}.{}", &sig[..10]),
        format!("+{}.{p}.{sig}", &h[1..]),
        format!("{h}.{p}.{}/", &sig[..sig.len() - 1]),
        format!(" {h}.{p}.{sig}x"),
    ];
    for token in cases {
        s.assert_refused(&token, &format!("malformed {token:.40}"))
            .await;
    }
    // A bearer value that is empty, or not a token at all.
    for authorization in ["Bearer ", "Bearer", "Bearer a b c", "Bearer \"quoted\""] {
        let reply = call_with(&s.api, "/api/private", Some(authorization)).await;
        reply.assert_invalid_token(authorization);
    }
}

fn remove(value: &mut Value, member: &str) {
    if let Some(object) = value.as_object_mut() {
        object.remove(member);
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_parsing() {
    let s = setup().await;
    let mut claims = s.idp.claims();
    claims["padding"] = json!("x".repeat(9 * 1024));
    let token = s.idp.token_with(trusted(), &claims);
    s.assert_refused(&token, "9 KiB signed token").await;
    assert_eq!(s.private(&token).await.description(), "token is too large");

    let huge = "a".repeat(64 * 1024);
    s.assert_refused(&format!("{huge}.{huge}.{huge}"), "192 KiB header")
        .await;
}

#[tokio::test]
async fn a_revoked_jti_is_refused_even_when_cached() {
    let s = setup().await;
    let mut claims = s.idp.claims();
    let jti = jti();
    claims["jti"] = json!(jti);
    let token = s.idp.token_with(trusted(), &claims);
    assert_eq!(s.private(&token).await.status, 200);
    assert_eq!(
        s.private(&token).await.status,
        200,
        "cached on its second use"
    );
    assert_eq!(s.private(&token).await.status, 200, "cache hit");

    s.revocations.insert(&jti, now() + 600);
    let reply = s.private(&token).await;
    reply.assert_invalid_token("revoked");
    assert_eq!(reply.description(), "token has been revoked");
    // Another token of the same user is unaffected.
    assert_eq!(s.private(&s.idp.token()).await.status, 200);
}
