//! What the benches that compare with one raw RSA-2048 verify start from:
//! a fresh key served from [`LocalKeys`], one access token signed with it,
//! the same key parsed for aws-lc-rs, and a small revocation list as a
//! deployment polling its IdP holds.

use std::hint::black_box;

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use resource_server::{LocalKeys, RevocationList};

/// The issuer, and the audience, of the token.
pub const ISSUER: &str = "https://idp.bench";

// Included in more than one bench; each reads the fields it needs.
#[allow(dead_code)]
pub struct Fixture {
    pub now: u64,
    pub key: keys::SigningKey,
    /// Serves the key's JWK.
    pub local: LocalKeys,
    /// 100 revocations of other tokens.
    pub revocations: RevocationList,
    /// An `at+jwt` naming the key's kid.
    pub token: String,
    raw: ParsedPublicKey,
    signing_input: String,
    signature: Vec<u8>,
}

impl Fixture {
    /// A new RSA-2048 key and a token of the claims `claims(now)`.
    pub fn new(claims: impl FnOnce(u64) -> serde_json::Value) -> Self {
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
        let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("pem");
        let token = jsonwebtoken::encode(&header, &claims(now), &encoding).expect("token");

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

        let revocations = RevocationList::new();
        revocations.replace((0..100).map(|i| (format!("revoked-{i}"), now + 600)));
        Self {
            now,
            local,
            revocations,
            signing_input: signing_input.to_owned(),
            signature,
            raw,
            token,
            key,
        }
    }

    /// One raw RSA-2048 PKCS#1 verify of the token's signing input with
    /// the key parsed once: the floor of a cold validation.
    pub fn raw_verify(&self) -> bool {
        self.raw
            .verify_sig(black_box(self.signing_input.as_bytes()), &self.signature)
            .is_ok()
    }
}
