//! The trusted keys as a validator reads them: one public key parsed once
//! for each algorithm it may verify ([`VerifyingKey`]), and the immutable
//! snapshot of all of them ([`KeySet`]).
//!
//! Validation only ever looks a token's `kid` up in a [`KeySet`]: an
//! immutable snapshot, swapped atomically by its source when the keys
//! change, so reading it never takes a lock. Public keys are parsed into
//! aws-lc-rs `ParsedPublicKey`s when the set changes, never per token: a
//! verification is then the RSA (or ECDSA, or Ed25519) arithmetic alone.
//!
//! Every snapshot carries a *generation*, bumped whenever the set of keys
//! (kids or key material) changes. The verified-token cache remembers the
//! generation it verified under and re-checks its key only when the
//! generation moved, which is how a cached verification dies with its key.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::alg::Algorithm;
use crate::jwk::{Jwk, JwkSet};

/// The longest `kid` accepted, in a JWKS or in a token header.
pub const MAX_KID_LEN: usize = 256;
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (bounds the cost of a verify).
pub const MAX_RSA_BITS: usize = 8192;

/// The public key material, kept to recognise an unchanged key.
#[derive(PartialEq, Eq)]
enum Material {
    Rsa {
        n: Box<[u8]>,
        e: Box<[u8]>,
    },
    /// The uncompressed SEC1 point `04 ‖ x ‖ y`.
    P256 {
        point: Box<[u8]>,
    },
    Ed25519 {
        x: Box<[u8]>,
    },
}

/// One trusted public key, parsed once for each algorithm it may verify:
/// RS256 and PS256 for an RSA key (or only the one its JWK's `alg` names),
/// ES256 for a P-256 key, EdDSA for an Ed25519 key.
pub struct VerifyingKey {
    kid: Arc<str>,
    material: Material,
    /// At most two entries: a list beats a map here.
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyingKey {
    /// An RSA key for RS256 and PS256 from the big-endian modulus and
    /// exponent, checking the size bounds ([`MIN_RSA_BITS`]..=
    /// [`MAX_RSA_BITS`], a small odd exponent).
    pub fn from_rsa_components(kid: &str, n: &[u8], e: &[u8]) -> Result<Self, &'static str> {
        check_kid(kid)?;
        Self::rsa(kid, n, e, None)
    }

    /// The key a JWK describes, if it is a public signing key this crate
    /// verifies with (`kty` `RSA`, `EC` with `crv` `P-256`, or `OKP` with
    /// `crv` `Ed25519`; `use` `sig` or absent; `alg` supported or absent;
    /// RSA moduli of 2048 to 8192 bits; no private members). A JWK without
    /// a `kid` is named by its RFC 7638 thumbprint.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, &'static str> {
        let kid = match &jwk.kid {
            Some(kid) => kid.clone(),
            None => jwk.thumbprint().ok_or("no kid, and no thumbprint")?,
        };
        check_kid(&kid)?;
        Self::from_public_jwk(jwk, &kid)
    }

    /// [`from_jwk`](Self::from_jwk) without a `kid`: the key of a DPoP proof.
    pub(crate) fn from_public_jwk(jwk: &Jwk, kid: &str) -> Result<Self, &'static str> {
        if jwk.private {
            return Err("the JWK holds a private key");
        }
        if jwk.use_.as_deref().is_some_and(|u| u != "sig")
            || jwk
                .key_ops
                .as_ref()
                .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err("not a signing key");
        }
        let alg = match jwk.alg.as_deref() {
            None => None,
            Some(name) => Some(Algorithm::from_name(name).ok_or("unsupported algorithm")?),
        };
        let decode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .ok_or("a key member is missing or not base64url")
        };
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => Self::rsa(kid, &decode(&jwk.n)?, &decode(&jwk.e)?, alg)?,
            ("EC", Some("P-256")) => {
                let (x, y) = (decode(&jwk.x)?, decode(&jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes");
                }
                let point = [&[4u8][..], &x, &y].concat();
                Self::single(
                    kid,
                    Material::P256 {
                        point: point.into(),
                    },
                    Algorithm::ES256,
                )?
            }
            ("OKP", Some("Ed25519")) => {
                let x = decode(&jwk.x)?;
                if x.len() != 32 {
                    return Err("an Ed25519 key is 32 bytes");
                }
                Self::single(kid, Material::Ed25519 { x: x.into() }, Algorithm::EdDSA)?
            }
            _ => return Err("unsupported key type or curve"),
        };
        match alg {
            Some(alg) if !key.allows(alg) => Err("the JWK's alg does not fit its key type"),
            _ => Ok(key),
        }
    }

    fn rsa(kid: &str, n: &[u8], e: &[u8], alg: Option<Algorithm>) -> Result<Self, &'static str> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = modulus_bits(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err("RSA modulus size is outside 2048..=8192 bits");
        }
        // Odd, at least 65537 (FIPS 186-5 §5.4), at most the 33 bits aws-lc
        // accepts.
        let exponent = e.iter().fold(0_u64, |v, &b| v << 8 | u64::from(b));
        if e.len() > 5 || exponent & 1 == 0 || exponent < 65_537 {
            return Err("RSA exponent is not acceptable");
        }
        let components = RsaPublicKeyComponents { n, e };
        let mut parsed = Vec::with_capacity(2);
        for (candidate, params) in [
            (
                Algorithm::RS256,
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            ),
            (
                Algorithm::PS256,
                &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
            ),
        ] {
            if alg.is_none_or(|alg| alg == candidate) {
                let key = components
                    .to_parsed_public_key(params)
                    .map_err(|_| "RSA key is not valid")?;
                parsed.push((candidate, key));
            }
        }
        Ok(Self {
            kid: Arc::from(kid),
            material: Material::Rsa {
                n: n.into(),
                e: e.into(),
            },
            parsed,
        })
    }

    fn single(kid: &str, material: Material, alg: Algorithm) -> Result<Self, &'static str> {
        let bytes = match &material {
            Material::P256 { point } => &point[..],
            Material::Ed25519 { x } => &x[..],
            Material::Rsa { .. } => return Err("not a single-algorithm key"),
        };
        let parsed = ParsedPublicKey::new(alg.verification(), bytes)
            .map_err(|_| "public key is not valid")?;
        Ok(Self {
            kid: Arc::from(kid),
            material,
            parsed: vec![(alg, parsed)],
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key size in bits (the modulus for RSA, 256 otherwise).
    pub fn bits(&self) -> usize {
        match &self.material {
            Material::Rsa { n, .. } => modulus_bits(n),
            Material::P256 { .. } | Material::Ed25519 { .. } => 256,
        }
    }

    /// Whether this key may verify `alg` signatures.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.parsed.iter().any(|(a, _)| *a == alg)
    }

    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.parsed.iter().map(|(alg, _)| *alg)
    }

    /// Whether `signature` is a valid `alg` signature of `message` by this
    /// key; `false` too when the key does not allow `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }

    /// Same kid and same public key.
    pub(crate) fn same_key(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid
            && self.material == other.material
            && self.algorithms().eq(other.algorithms())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("bits", &self.bits())
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

fn check_kid(kid: &str) -> Result<(), &'static str> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err("kid is empty or too long");
    }
    Ok(())
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

    /// The trusted keys that allow `alg`, in no particular order: the
    /// candidates for a token without a `kid`.
    pub(crate) fn allowing(&self, alg: Algorithm) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.keys.values().filter(move |k| k.allows(alg))
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

/// The usable keys of a JWKS, and how many were skipped. Duplicate kids keep
/// the first key.
pub(crate) fn usable_keys(jwks: &JwkSet) -> (Vec<VerifyingKey>, usize) {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(jwks.keys.len());
    let mut skipped = 0;
    for jwk in &jwks.keys {
        match VerifyingKey::from_jwk(jwk) {
            Ok(key) if keys.iter().all(|k| k.kid != key.kid) => keys.push(key),
            Ok(_) => {
                skipped += 1;
                tracing::warn!("JWKS repeats a kid; keeping the first key");
            }
            Err(reason) => {
                skipped += 1;
                if jwk.private {
                    tracing::warn!("JWKS publishes a private key; it is not used");
                } else {
                    tracing::debug!(kty = %jwk.kty, reason, "skipping JWK");
                }
            }
        }
    }
    (keys, skipped)
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
            ..Jwk::default()
        }
    }

    /// An Ed25519 JWK (RFC 8037 §A.2's public key).
    fn ed25519(kid: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            kid: Some(kid.into()),
            x: Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()),
            ..Jwk::default()
        }
    }

    #[test]
    fn only_usable_signing_keys_are_taken() {
        let mut enc = jwk("enc", 2048);
        enc.use_ = Some("enc".into());
        let mut ps = jwk("ps", 2048);
        ps.alg = Some("PS256".into());
        let mut rs512 = jwk("rs512", 2048);
        rs512.alg = Some("RS512".into());
        let mut rsa_as_es = jwk("rsa-es", 2048);
        rsa_as_es.alg = Some("ES256".into());
        let mut ec = jwk("ec", 2048);
        ec.kty = "EC".into();
        let mut bare = jwk("bare", 2048);
        bare.use_ = None;
        bare.alg = None;
        let mut no_kid = jwk("x", 2048);
        no_kid.kid = None;
        let no_kid_thumbprint = no_kid.thumbprint().expect("thumbprint");
        let mut bad_b64 = jwk("b64", 2048);
        bad_b64.n = Some("***".into());
        let mut even_e = jwk("even-e", 2048);
        even_e.e = Some(URL_SAFE_NO_PAD.encode([1, 0]));
        let mut small_e = jwk("e-3", 2048);
        small_e.e = Some(URL_SAFE_NO_PAD.encode([3]));
        let mut encrypt_ops = jwk("encrypt-ops", 2048);
        encrypt_ops.use_ = None;
        encrypt_ops.key_ops = Some(vec!["encrypt".into()]);
        let mut verify_ops = jwk("verify-ops", 2048);
        verify_ops.key_ops = Some(vec!["verify".into()]);
        let mut private = ed25519("private");
        private.private = true;
        let mut ed_x448 = ed25519("x448");
        ed_x448.crv = Some("Ed448".into());
        let mut short_ed = ed25519("short");
        short_ed.x = Some("AAAA".into());
        let set = JwkSet {
            keys: vec![
                jwk("good", 2048),
                enc,
                ps,
                rs512,
                rsa_as_es,
                ec,
                bare,
                no_kid,
                bad_b64,
                even_e,
                small_e,
                encrypt_ops,
                verify_ops,
                jwk("small", 1024),
                jwk("huge", 16384),
                jwk(&"k".repeat(MAX_KID_LEN + 1), 2048),
                jwk("good", 4096),
                ed25519("ed"),
                private,
                ed_x448,
                short_ed,
            ],
        };
        let (keys, skipped) = usable_keys(&set);
        let kids: Vec<_> = keys.iter().map(|k| k.kid()).collect();
        // A key without a kid is named by its RFC 7638 thumbprint.
        let thumbprint = no_kid_thumbprint.as_str();
        assert_eq!(kids, ["good", "ps", "bare", thumbprint, "verify-ops", "ed"]);
        assert_eq!(skipped, 15);
        assert_eq!(keys[0].bits(), 2048);
        let algs = |key: &VerifyingKey| key.algorithms().collect::<Vec<_>>();
        assert_eq!(algs(&keys[0]), [Algorithm::RS256], "alg pins the algorithm");
        assert_eq!(algs(&keys[1]), [Algorithm::PS256]);
        assert_eq!(algs(&keys[2]), [Algorithm::RS256, Algorithm::PS256]);
        assert_eq!(algs(&keys[3]), [Algorithm::RS256]);
        assert_eq!(algs(&keys[4]), [Algorithm::RS256]);
        assert_eq!(algs(&keys[5]), [Algorithm::EdDSA]);
    }

    #[test]
    fn an_invalid_curve_point_is_refused() {
        let ec = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            kid: Some("ec".into()),
            x: Some(URL_SAFE_NO_PAD.encode([1u8; 32])),
            y: Some(URL_SAFE_NO_PAD.encode([2u8; 32])),
            ..Jwk::default()
        };
        assert!(VerifyingKey::from_jwk(&ec).is_err(), "not on the curve");
    }

    #[test]
    fn rfc8037_ed25519_signature_verifies() {
        // RFC 8037 §A.4: the JWS over "Example of Ed25519 signing".
        let key = VerifyingKey::from_jwk(&ed25519("ed")).expect("key");
        let message = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let signature = URL_SAFE_NO_PAD
            .decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
            .expect("b64");
        assert!(key.verify(Algorithm::EdDSA, message, &signature));
        assert!(!key.verify(Algorithm::EdDSA, b"tampered", &signature));
        assert!(!key.verify(Algorithm::ES256, message, &signature));
    }
}
