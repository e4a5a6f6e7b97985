//! The JSON Web Key model as this crate reads it ([`Jwk`], [`JwkSet`]),
//! and the RFC 7638 thumbprint that DPoP binds tokens to.
//!
//! A JWKS is read leniently and filtered strictly: every member is optional
//! here, so that one odd entry never spoils the set, and [`keyset`]
//! (crate::keyset) decides which entries are usable verification keys.
//!
//! [`keyset`]: crate::KeySet

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A JSON Web Key (RFC 7517 §4) as found in a JWKS or a DPoP proof. Every
/// member is optional so that one odd key never spoils the set: unusable
/// keys are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` (P-256, P-384) and `OKP` (Ed25519) are used.
    #[serde(default)]
    pub kty: String,
    /// Public key use; `sig` or absent is used.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations (RFC 7517 §4.3); when present, a key is used
    /// only if they include `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Algorithm; one of those [`Algorithm`](crate::Algorithm) names, or
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id; required in a JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// RSA modulus, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve of an `EC` or `OKP` key: `P-256`, `P-384` or `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, or the Ed25519 public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Whether the JWK carries private key material (a `d` member). Such a
    /// key is never used: a published set or a DPoP proof must hold public
    /// keys only. Never serialized.
    #[serde(rename = "d", default, deserialize_with = "present", skip_serializing)]
    pub private: bool,
}

/// A JWK Set (RFC 7517 §5). Serializes like the IdP's `keys::Jwks`, so the
/// IdP can convert with `serde_json` or hand over the JSON it publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// `true` for any value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

impl Jwk {
    /// The RFC 7638 JWK SHA-256 thumbprint, base64url: the `jkt` a
    /// DPoP-bound token carries in `cnf` (RFC 9449 §6). `None` for a key
    /// type this crate does not use or a key missing a required member.
    ///
    /// ```
    /// let jwk: resource_server::Jwk = serde_json::from_str(
    ///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// ).unwrap();
    /// assert_eq!(jwk.thumbprint().unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// ```
    pub fn thumbprint(&self) -> Option<String> {
        // The required members only, in lexicographic order, no
        // whitespace (RFC 7638 §3.2); values are JSON-escaped by serde.
        let string = |value: &Option<String>| value.as_deref().map(json_string);
        let canonical = match self.kty.as_str() {
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                string(&self.e)?,
                string(&self.n)?
            ),
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                string(&self.crv)?,
                string(&self.x)?,
                string(&self.y)?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                string(&self.crv)?,
                string(&self.x)?
            ),
            _ => return None,
        };
        Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
    }
}

fn json_string(value: &str) -> String {
    // Serializing a &str cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Parses a JWKS document leniently: `keys` must be an array, but an entry
/// that is not a JWK object is skipped like any other unusable key.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<JwkSet, serde_json::Error> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(json)?;
    Ok(JwkSet {
        keys: raw
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint() {
        let vector: serde_json::Value = serde_json::from_str(include_str!(
            "../../keys/tests/vectors/rfc7638_s3.1_thumbprint.json"
        ))
        .expect("vector");
        let jwk: Jwk = serde_json::from_value(vector["jwk"].clone()).expect("jwk");
        assert_eq!(
            jwk.thumbprint().as_deref(),
            vector["sha256_thumbprint_b64url"].as_str()
        );
        // Optional members do not change it.
        let mut bare = jwk.clone();
        bare.kid = None;
        bare.alg = None;
        assert_eq!(bare.thumbprint(), jwk.thumbprint());
    }

    #[test]
    fn thumbprints_need_the_required_members() {
        let ec: Jwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .expect("ec");
        assert!(ec.thumbprint().is_some());
        let mut no_y = ec.clone();
        no_y.y = None;
        assert_eq!(no_y.thumbprint(), None);
        let oct: Jwk = serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0"}"#).expect("oct");
        assert_eq!(oct.thumbprint(), None);
    }

    #[test]
    fn private_members_are_noticed_and_never_serialized() {
        let jwk: Jwk =
            serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","x":"AA","d":"secret"}"#)
                .expect("jwk");
        assert!(jwk.private);
        assert!(!serde_json::to_string(&jwk)
            .expect("json")
            .contains("secret"));
        let public: Jwk = serde_json::from_str(r#"{"kty":"OKP"}"#).expect("jwk");
        assert!(!public.private);
    }

    #[test]
    fn jwks_parsing_skips_entries_that_are_not_keys() {
        let json = br#"{"keys":[1,"x",{"kty":"RSA","kid":"a","n":"AA","e":"AQAB"},{"kty":7}]}"#;
        let set = parse_jwks(json).expect("parses");
        assert_eq!(set.keys.len(), 1);
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"{\"keys\":{}}").is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
