//! Keys of every algorithm the crate verifies (RS256, PS256, ES256, EdDSA
//! in `all()`; RS384, RS512, PS384, PS512, ES384 in `more()`), held the way a test issuer or a DPoP client holds them: each signs
//! compact JWSs and publishes its public JWK. The RSA keys are the shared
//! ones of `key()`; the EC and Ed25519 keys are made with aws-lc-rs.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::{b64, key, now};

/// A signing key and the algorithm it signs with.
pub enum TestKey {
    /// An RSA key (shared, see `key()`), signing RS* or PS*.
    Rsa {
        index: usize,
        alg: &'static str,
        kid: String,
    },
    /// A P-256 key signing ES256, or a P-384 key signing ES384.
    Ec { pair: EcdsaKeyPair, kid: String },
    /// An Ed25519 key, signing EdDSA.
    Ed { pair: Ed25519KeyPair, kid: String },
}

impl TestKey {
    /// An RS256 key; `index` picks one of the shared RSA keys.
    pub fn rs256(index: usize, kid: &str) -> Self {
        Self::Rsa {
            index,
            alg: "RS256",
            kid: kid.into(),
        }
    }

    /// A PS256 key; `index` picks one of the shared RSA keys.
    pub fn ps256(index: usize, kid: &str) -> Self {
        Self::Rsa {
            index,
            alg: "PS256",
            kid: kid.into(),
        }
    }

    /// An RSA key for `alg` (RS384, RS512, PS384 or PS512).
    pub fn rsa(index: usize, alg: &'static str, kid: &str) -> Self {
        Self::Rsa {
            index,
            alg,
            kid: kid.into(),
        }
    }

    /// A fresh ES384 (P-384) key.
    pub fn es384(kid: &str) -> Self {
        Self::Ec {
            pair: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key"),
            kid: kid.into(),
        }
    }

    /// One key of each algorithm `all()` lacks, made once per test binary.
    pub fn more() -> &'static [TestKey; 5] {
        static KEYS: OnceLock<[TestKey; 5]> = OnceLock::new();
        KEYS.get_or_init(|| {
            [
                TestKey::rsa(0, "RS384", "rs384-key"),
                TestKey::rsa(1, "RS512", "rs512-key"),
                TestKey::rsa(0, "PS384", "ps384-key"),
                TestKey::rsa(1, "PS512", "ps512-key"),
                TestKey::es384("es384-key"),
            ]
        })
    }

    /// A fresh ES256 (P-256) key.
    pub fn es256(kid: &str) -> Self {
        Self::Ec {
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"),
            kid: kid.into(),
        }
    }

    /// A fresh EdDSA (Ed25519) key.
    pub fn eddsa(kid: &str) -> Self {
        Self::Ed {
            pair: Ed25519KeyPair::generate().expect("Ed25519 key"),
            kid: kid.into(),
        }
    }

    /// One key of each algorithm, made once per test binary.
    pub fn all() -> &'static [TestKey; 4] {
        static KEYS: OnceLock<[TestKey; 4]> = OnceLock::new();
        KEYS.get_or_init(|| {
            [
                TestKey::rs256(0, "rs-key"),
                TestKey::ps256(1, "ps-key"),
                TestKey::es256("es-key"),
                TestKey::eddsa("ed-key"),
            ]
        })
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rsa { alg, .. } => alg,
            Self::Ec { pair, .. } if pair.public_key().as_ref().len() == 97 => "ES384",
            Self::Ec { .. } => "ES256",
            Self::Ed { .. } => "EdDSA",
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            Self::Rsa { kid, .. } | Self::Ec { kid, .. } | Self::Ed { kid, .. } => kid,
        }
    }

    /// The public key members alone (what a DPoP proof's `jwk` carries).
    pub fn public_jwk(&self) -> Value {
        match self {
            Self::Rsa { index, .. } => {
                let jwk = key(*index).public_jwk();
                json!({"kty": "RSA", "n": jwk.n, "e": jwk.e})
            }
            Self::Ec { pair, .. } => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                json!({
                    "kty": "EC", "crv": if size == 48 { "P-384" } else { "P-256" },
                    "x": URL_SAFE_NO_PAD.encode(&point[1..1 + size]),
                    "y": URL_SAFE_NO_PAD.encode(&point[1 + size..]),
                })
            }
            Self::Ed { pair, .. } => json!({
                "kty": "OKP", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    /// The JWK as a JWKS publishes it: with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.public_jwk();
        jwk["kid"] = json!(self.kid());
        jwk["alg"] = json!(self.alg());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key.
    pub fn thumbprint(&self) -> String {
        let jwk: resource_server::Jwk =
            serde_json::from_value(self.public_jwk()).expect("jwk parses");
        jwk.thumbprint().expect("thumbprint")
    }

    /// The signature of `message`, base64url.
    pub fn signature(&self, message: &[u8]) -> String {
        match self {
            Self::Rsa { index, alg, .. } => {
                let encoding = EncodingKey::from_rsa_pem(key(*index).private_pem()).expect("pem");
                let alg = match *alg {
                    "RS256" => Algorithm::RS256,
                    "RS384" => Algorithm::RS384,
                    "RS512" => Algorithm::RS512,
                    "PS256" => Algorithm::PS256,
                    "PS384" => Algorithm::PS384,
                    "PS512" => Algorithm::PS512,
                    other => panic!("not an RSA algorithm: {other}"),
                };
                jsonwebtoken::crypto::sign(message, &encoding, alg).expect("RSA signs")
            }
            Self::Ec { pair, .. } => URL_SAFE_NO_PAD.encode(
                pair.sign(&SystemRandom::new(), message)
                    .expect("ECDSA signs")
                    .as_ref(),
            ),
            Self::Ed { pair, .. } => URL_SAFE_NO_PAD.encode(pair.sign(message).as_ref()),
        }
    }

    /// A compact JWS of `header` and `claims`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header), b64(claims));
        let signature = self.signature(message.as_bytes());
        format!("{message}.{signature}")
    }

    /// An access token: header `alg`, `typ`, `kid`.
    pub fn token(&self, typ: &str, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": typ, "kid": self.kid()});
        self.sign(&header, claims)
    }

    /// A DPoP proof for `method` `url`, bound to `access_token` (its `ath`)
    /// when given, made now with a fresh `jti`.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.sign(
            &self.proof_header(),
            &self.proof_claims(method, url, access_token),
        )
    }

    /// The header of a DPoP proof by this key.
    pub fn proof_header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.public_jwk()})
    }

    /// The claims of a DPoP proof, for tests to change before signing.
    pub fn proof_claims(&self, method: &str, url: &str, access_token: Option<&str>) -> Value {
        let mut claims = json!({
            "jti": super::jti(), "htm": method, "htu": url, "iat": now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(resource_server::dpop::access_token_hash(token));
        }
        claims
    }
}

/// A JWKS of these keys.
pub fn jwks_of(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}
