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
    /// The uncompressed SEC1 point `04 ‖ x ‖ y`.
    P384 {
        point: Box<[u8]>,
    },
    Ed25519 {
        x: Box<[u8]>,
    },
}

/// One trusted public key, parsed once for each algorithm it may verify:
/// the six RSA algorithms (`RS256`, `RS384`, `RS512`, `PS256`, `PS384`,
/// `PS512`) for an RSA key, or only the one its JWK's `alg` names; ES256
/// for a P-256 key, ES384 for a P-384 key, EdDSA for an Ed25519 key.
pub struct VerifyingKey {
    kid: Arc<str>,
    material: Material,
    /// At most six entries: a list beats a map here.
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyingKey {
    /// An RSA key for all six RSA algorithms from the big-endian modulus
    /// and exponent, checking the size bounds ([`MIN_RSA_BITS`]..=
    /// [`MAX_RSA_BITS`], a small odd exponent).
    pub fn from_rsa_components(kid: &str, n: &[u8], e: &[u8]) -> Result<Self, &'static str> {
        check_kid(kid)?;
        Self::rsa(kid, n, e, None)
    }

    /// The key a JWK describes, if it is a public signing key this crate
    /// verifies with (`kty` `RSA`, `EC` with `crv` `P-256` or `P-384`, or
    /// `OKP` with `crv` `Ed25519`; `use` `sig` or absent; `alg` supported or absent;
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
            ("EC", Some("P-384")) => {
                let (x, y) = (decode(&jwk.x)?, decode(&jwk.y)?);
                if x.len() != 48 || y.len() != 48 {
                    return Err("P-384 coordinates must be 48 bytes");
                }
                let point = [&[4u8][..], &x, &y].concat();
                Self::single(
                    kid,
                    Material::P384 {
                        point: point.into(),
                    },
                    Algorithm::ES384,
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
        let mut parsed = Vec::new();
        for candidate in Algorithm::ALL {
            let Some(params) = candidate.rsa_parameters() else {
                continue;
            };
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
            Material::P256 { point } | Material::P384 { point } => &point[..],
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

    /// The key size in bits (the modulus for RSA, the curve's size
    /// otherwise).
    pub fn bits(&self) -> usize {
        match &self.material {
            Material::Rsa { n, .. } => modulus_bits(n),
            Material::P256 { .. } | Material::Ed25519 { .. } => 256,
            Material::P384 { .. } => 384,
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
///
/// Each key skipped is logged at WARN with its `kid` and the reason, once
/// for each JWKS read (a fetch, or a [`LocalKeys`](crate::LocalKeys)
/// update), never per request: a token signed by such a key is refused as
/// an unknown key, and this log is where the real cause shows. Only public
/// metadata is logged (`kid`, `kty`, `crv`, `alg`), never key material.
pub(crate) fn usable_keys(jwks: &JwkSet) -> (Vec<VerifyingKey>, usize) {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(jwks.keys.len());
    let mut skipped = 0;
    for jwk in &jwks.keys {
        let kid = jwk.kid.as_deref().map(printable).unwrap_or_default();
        match VerifyingKey::from_jwk(jwk) {
            Ok(key) if keys.iter().all(|k| k.kid != key.kid) => keys.push(key),
            Ok(_) => {
                skipped += 1;
                tracing::warn!(%kid, "JWKS repeats a kid; keeping the first key");
            }
            Err(reason) => {
                skipped += 1;
                let field = |v: &Option<String>| v.as_deref().map(printable).unwrap_or_default();
                tracing::warn!(
                    %kid,
                    kty = %printable(&jwk.kty),
                    crv = %field(&jwk.crv),
                    alg = %field(&jwk.alg),
                    reason,
                    "skipping a JWK this crate cannot use"
                );
            }
        }
    }
    (keys, skipped)
}

/// A JWK member as logged: at most 64 visible ASCII characters, so a
/// hostile JWKS cannot flood or forge log lines.
fn printable(value: &str) -> String {
    value
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
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
        let mut hs256 = jwk("hs256", 2048);
        hs256.alg = Some("HS256".into());
        let mut p384_alg_on_rsa = jwk("rsa-es384", 2048);
        p384_alg_on_rsa.alg = Some("ES384".into());
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
                hs256,
                p384_alg_on_rsa,
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
        assert_eq!(
            kids,
            [
                "good",
                "ps",
                "rs512",
                "bare",
                thumbprint,
                "verify-ops",
                "ed"
            ]
        );
        assert_eq!(skipped, 16);
        assert_eq!(keys[0].bits(), 2048);
        let algs = |key: &VerifyingKey| key.algorithms().collect::<Vec<_>>();
        assert_eq!(algs(&keys[0]), [Algorithm::RS256], "alg pins the algorithm");
        assert_eq!(algs(&keys[1]), [Algorithm::PS256]);
        assert_eq!(algs(&keys[2]), [Algorithm::RS512]);
        assert_eq!(
            algs(&keys[3]),
            [
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512
            ],
            "an RSA key without alg verifies every RSA algorithm"
        );
        assert_eq!(algs(&keys[4]), [Algorithm::RS256]);
        assert_eq!(algs(&keys[5]), [Algorithm::RS256]);
        assert_eq!(algs(&keys[6]), [Algorithm::EdDSA]);
    }

    /// An RSA key from the `keys` crate, as the JWK it publishes with
    /// `alg`, and its private PEM.
    fn rsa_key(alg: Option<&str>) -> (Jwk, Vec<u8>) {
        let key = keys::SigningKey::generate(2048).expect("RSA key");
        let mut jwk: Jwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).expect("ser"))
                .expect("de");
        jwk.alg = alg.map(str::to_owned);
        (jwk, key.private_pem().to_vec())
    }

    #[test]
    fn rs_and_ps_384_and_512_signatures_verify_with_their_algorithm_only() {
        use jsonwebtoken::{crypto::sign, Algorithm as Jwt, EncodingKey};
        let (jwk, pem) = rsa_key(None);
        let any = VerifyingKey::from_jwk(&jwk).expect("key");
        let encoding = EncodingKey::from_rsa_pem(&pem).expect("pem");
        let message = b"header.payload";
        for (alg, jwt) in [
            (Algorithm::RS256, Jwt::RS256),
            (Algorithm::RS384, Jwt::RS384),
            (Algorithm::RS512, Jwt::RS512),
            (Algorithm::PS256, Jwt::PS256),
            (Algorithm::PS384, Jwt::PS384),
            (Algorithm::PS512, Jwt::PS512),
        ] {
            let signature = URL_SAFE_NO_PAD
                .decode(sign(message, &encoding, jwt).expect("signs"))
                .expect("b64");
            assert!(any.verify(alg, message, &signature), "{alg}");
            assert!(!any.verify(alg, b"header.tampered", &signature), "{alg}");
            for other in Algorithm::ALL.into_iter().filter(|a| *a != alg) {
                assert!(!any.verify(other, message, &signature), "{alg} as {other}");
            }
            // A JWK's alg pins its key to that algorithm.
            let mut pinned = jwk.clone();
            pinned.alg = Some(alg.name().into());
            let pinned = VerifyingKey::from_jwk(&pinned).expect("pinned key");
            assert_eq!(pinned.algorithms().collect::<Vec<_>>(), [alg]);
            assert!(pinned.verify(alg, message, &signature));
        }
    }

    #[test]
    fn es384_signatures_verify() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_FIXED_SIGNING};
        let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key");
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 97);
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-384".into()),
            kid: Some("es384".into()),
            alg: Some("ES384".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&point[1..49])),
            y: Some(URL_SAFE_NO_PAD.encode(&point[49..97])),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk).expect("key");
        assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::ES384]);
        assert_eq!(key.bits(), 384);
        let message = b"header.payload";
        let signature = pair.sign(&SystemRandom::new(), message).expect("signs");
        assert_eq!(signature.as_ref().len(), 96, "fixed-length r||s");
        assert!(key.verify(Algorithm::ES384, message, signature.as_ref()));
        assert!(!key.verify(Algorithm::ES384, b"header.tampered", signature.as_ref()));
        assert!(!key.verify(Algorithm::ES256, message, signature.as_ref()));
        // P-384 coordinates are 48 bytes; a P-256-sized key is refused.
        let mut short = jwk.clone();
        short.x = Some(URL_SAFE_NO_PAD.encode(&point[1..33]));
        assert!(VerifyingKey::from_jwk(&short).is_err());
        // ES384 does not fit a P-256 key, nor ES256 a P-384 one.
        let mut es256 = jwk;
        es256.alg = Some("ES256".into());
        assert!(VerifyingKey::from_jwk(&es256).is_err());
    }

    /// What `f` logs at WARN and above, as text.
    fn warnings(f: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("buffer").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(text).expect("UTF-8")
    }

    #[test]
    fn a_skipped_jwk_is_logged_with_its_kid_and_reason() {
        let mut es512 = jwk("es512-key", 2048);
        es512.kty = "EC".into();
        es512.crv = Some("P-521".into());
        es512.alg = Some("ES512".into());
        let mut hs = jwk("hmac-key", 2048);
        hs.alg = Some("HS256".into());
        let mut bad = jwk("bad-b64", 2048);
        bad.n = Some("***".into());
        let mut private = ed25519("private-key");
        private.private = true;
        let set = JwkSet {
            keys: vec![jwk("good", 2048), es512, hs, bad, private],
        };
        let mut skipped = 0;
        let log = warnings(|| skipped = usable_keys(&set).1);
        assert_eq!(skipped, 4);
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 4, "one line per skipped key: {log}");
        for (line, kid, reason) in [
            (lines[0], "es512-key", "unsupported algorithm"),
            (lines[1], "hmac-key", "unsupported algorithm"),
            (lines[2], "bad-b64", "not base64url"),
            (lines[3], "private-key", "private key"),
        ] {
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains(&format!("kid={kid}")), "{line}");
            assert!(line.contains(reason), "{line}");
        }
        assert!(lines[0].contains("alg=ES512") && lines[0].contains("crv=P-521"));
        assert!(!log.contains("AQAB"), "no key material: {log}");
        assert!(
            warnings(|| {
                usable_keys(&JwkSet {
                    keys: vec![jwk("good", 2048)],
                });
            })
            .is_empty(),
            "usable keys are not logged"
        );
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
