//! Public JWKs as published at `/jwks`, and the RFC 7638 thumbprint that
//! names them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The public half of an RSA signing key (RFC 7517 §4, RFC 7518 §6.3.1).
///
/// Only public members exist on this type: serializing it can never emit `d`,
/// `p`, `q` or any other private parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Always `RSA`.
    pub kty: String,
    /// Always `sig`: these keys never encrypt.
    #[serde(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    /// RFC 7638 thumbprint of (`e`, `kty`, `n`).
    pub kid: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

impl PublicJwk {
    /// A signing JWK for the given modulus and exponent; the `kid` is derived.
    pub fn rsa(n: String, e: String) -> Self {
        let kid = thumbprint(&n, &e);
        Self {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid,
            n,
            e,
        }
    }
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The published keys.
    pub keys: Vec<PublicJwk>,
}

/// The RFC 7638 SHA-256 thumbprint of an RSA public key, base64url.
///
/// The members are hashed in lexicographic order with no white space; `n`
/// and `e` are base64url strings, which never need JSON escaping, but they
/// go through `serde_json` anyway so that a malformed input cannot change
/// the structure of the hashed document.
pub fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(
        "{{\"e\":{},\"kty\":\"RSA\",\"n\":{}}}",
        serde_json::Value::from(e),
        serde_json::Value::from(n)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the worked example, byte for byte.
    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let vector: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/vectors/rfc7638_s3.1_thumbprint.json"
        ))
        .expect("vector parses");
        let n = vector["jwk"]["n"].as_str().expect("n");
        let e = vector["jwk"]["e"].as_str().expect("e");
        assert_eq!(
            thumbprint(n, e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(
            thumbprint(n, e),
            vector["sha256_thumbprint_b64url"].as_str().expect("value")
        );
    }

    #[test]
    fn jwks_serializes_only_public_members() {
        let jwk = PublicJwk::rsa("AQAB".into(), "AQAB".into());
        let value = serde_json::to_value(Jwks { keys: vec![jwk] }).expect("serializes");
        let mut members: Vec<&String> = value["keys"][0]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        members.sort();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    }
}
