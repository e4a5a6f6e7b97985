//! The trusted keys as a validator reads them: one RSA public key
//! ([`VerifyingKey`]), the immutable snapshot of all of them ([`KeySet`]),
//! and the JWKS model they are read from ([`Jwk`], [`JwkSet`]).
//!
//! Validation only ever looks a token's `kid` up in a [`KeySet`]: an
//! immutable snapshot, swapped atomically by its source when the keys
//! change, so reading it never takes a lock.
//!
//! Every snapshot carries a *generation*, bumped whenever the set of keys
//! (kids or key material) changes. The verified-token cache remembers the
//! generation it verified under and re-checks its key only when the
//! generation moved, which is how a cached verification dies with its key.
//!
//! A JWKS is read leniently and filtered strictly: an entry that is not a
//! usable RS256 signing key is skipped, never fatal to the rest of the set.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

/// The longest `kid` accepted, in a JWKS or in a token header.
pub const MAX_KID_LEN: usize = 256;
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (bounds the cost of a verify).
pub const MAX_RSA_BITS: usize = 8192;

/// One trusted RSA public key, ready to verify RS256 signatures.
pub struct VerifyingKey {
    kid: Arc<str>,
    n: Vec<u8>,
    e: Vec<u8>,
    decoding: DecodingKey,
}

impl VerifyingKey {
    /// Builds a key from the big-endian modulus and exponent, checking the
    /// size bounds ([`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`], a small odd exponent).
    pub fn from_rsa_components(kid: &str, n: &[u8], e: &[u8]) -> Result<Self, &'static str> {
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err("kid is empty or too long");
        }
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = modulus_bits(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err("RSA modulus size is outside 2048..=8192 bits");
        }
        // aws-lc accepts exponents up to 33 bits; anything even or 1 is bogus.
        if e.is_empty() || e.len() > 5 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
            return Err("RSA exponent is not acceptable");
        }
        Ok(Self {
            kid: Arc::from(kid),
            n: n.to_vec(),
            e: e.to_vec(),
            decoding: DecodingKey::from_rsa_raw_components(n, e),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        modulus_bits(&self.n)
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Same kid and same public key.
    pub(crate) fn same_key(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid && self.n == other.n && self.e == other.e
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("bits", &self.bits())
            .finish()
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn modulus_bits(n: &[u8]) -> usize {
    match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// An immutable snapshot of the trusted keys, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<Arc<str>, Arc<VerifyingKey>>,
    generation: u64,
}

impl KeySet {
    /// The key with this `kid`, if trusted.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.get(kid)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted kids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(|k| &**k)
    }

    /// Bumped on every change of the set; `0` means no set was ever loaded.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The set that follows this one when the source now holds `keys`, or
    /// `None` when nothing changed (a loaded set with the same kids and key
    /// material). Unchanged keys keep their `Arc`, so pointer comparison is
    /// enough to recognise them.
    pub(crate) fn successor(&self, keys: Vec<VerifyingKey>) -> Option<KeySet> {
        let unchanged = self.generation > 0
            && keys.len() == self.keys.len()
            && keys
                .iter()
                .all(|k| self.keys.get(&k.kid).is_some_and(|old| old.same_key(k)));
        if unchanged {
            return None;
        }
        let keys = keys
            .into_iter()
            .map(|key| match self.keys.get(&key.kid) {
                Some(old) if old.same_key(&key) => (key.kid.clone(), old.clone()),
                _ => (key.kid.clone(), Arc::new(key)),
            })
            .collect();
        Some(KeySet {
            keys,
            generation: self.generation + 1,
        })
    }
}

/// A JSON Web Key as found in a JWKS. Every member is optional here so that
/// one odd key never spoils the set: unusable keys are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; only `RSA` is used.
    #[serde(default)]
    pub kty: String,
    /// Public key use; `sig` or absent is used.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Algorithm; `RS256` or absent is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// RSA modulus, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set (RFC 7517 §5). Serializes like the IdP's `keys::Jwks`, so the
/// IdP can convert with `serde_json` or hand over the JSON it publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The verifying key, if this JWK is an RS256 signing key we accept.
    fn to_verifying_key(&self) -> Result<VerifyingKey, &'static str> {
        if self.kty != "RSA" {
            return Err("not an RSA key");
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("not a signing key");
        }
        if self.alg.as_deref().is_some_and(|a| a != "RS256") {
            return Err("not an RS256 key");
        }
        let kid = self.kid.as_deref().ok_or("no kid")?;
        let decode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .ok_or("n or e is missing or not base64url")
        };
        VerifyingKey::from_rsa_components(kid, &decode(&self.n)?, &decode(&self.e)?)
    }
}

/// The usable keys of a JWKS, and how many were skipped. Duplicate kids keep
/// the first key.
pub(crate) fn usable_keys(jwks: &JwkSet) -> (Vec<VerifyingKey>, usize) {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(jwks.keys.len());
    let mut skipped = 0;
    for jwk in &jwks.keys {
        match jwk.to_verifying_key() {
            Ok(key) if keys.iter().all(|k| k.kid != key.kid) => keys.push(key),
            Ok(_) => {
                skipped += 1;
                tracing::warn!("JWKS repeats a kid; keeping the first key");
            }
            Err(reason) => {
                skipped += 1;
                tracing::debug!(kty = %jwk.kty, reason, "skipping JWK");
            }
        }
    }
    (keys, skipped)
}

/// Parses a JWKS document leniently: `keys` must be an array, but an entry
/// that is not a JWK object is skipped like any other unusable key.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<JwkSet, String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    Ok(JwkSet {
        keys: raw
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn n_bytes(bits: usize) -> Vec<u8> {
        let mut n = vec![0xff; bits / 8];
        n[bits / 8 - 1] = 0xf1;
        n
    }

    /// An RS256 signing JWK with a modulus of `bits` bits.
    pub(crate) fn jwk(kid: &str, bits: usize) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            use_: Some("sig".into()),
            alg: Some("RS256".into()),
            kid: Some(kid.into()),
            n: Some(URL_SAFE_NO_PAD.encode(n_bytes(bits))),
            e: Some("AQAB".into()),
        }
    }

    #[test]
    fn only_rs256_signing_keys_are_taken() {
        let mut enc = jwk("enc", 2048);
        enc.use_ = Some("enc".into());
        let mut ps = jwk("ps", 2048);
        ps.alg = Some("PS256".into());
        let mut ec = jwk("ec", 2048);
        ec.kty = "EC".into();
        let mut bare = jwk("bare", 2048);
        bare.use_ = None;
        bare.alg = None;
        let mut no_kid = jwk("x", 2048);
        no_kid.kid = None;
        let mut bad_b64 = jwk("b64", 2048);
        bad_b64.n = Some("***".into());
        let mut even_e = jwk("even-e", 2048);
        even_e.e = Some(URL_SAFE_NO_PAD.encode([1, 0]));
        let set = JwkSet {
            keys: vec![
                jwk("good", 2048),
                enc,
                ps,
                ec,
                bare,
                no_kid,
                bad_b64,
                even_e,
                jwk("small", 1024),
                jwk("huge", 16384),
                jwk(&"k".repeat(MAX_KID_LEN + 1), 2048),
                jwk("good", 4096),
            ],
        };
        let (keys, skipped) = usable_keys(&set);
        let kids: Vec<_> = keys.iter().map(|k| k.kid()).collect();
        assert_eq!(kids, ["good", "bare"]);
        assert_eq!(skipped, 10);
        assert_eq!(keys[0].bits(), 2048);
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
