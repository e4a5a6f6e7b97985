//! RSA private keys: generation with josekit, PEM import/export, and the
//! public JWK derived from them.

use std::fmt;

use josekit::jws::RS256;
use zeroize::Zeroizing;

use crate::{KeyError, PublicJwk, MAX_RSA_BITS, MIN_RSA_BITS};

/// An RSA private key used to sign RS256 tokens.
///
/// The PKCS#8 PEM lives in a buffer that is wiped on drop; `Debug` prints the
/// `kid` and the size, never key bytes.
#[derive(Clone)]
pub struct SigningKey {
    pem: Zeroizing<Vec<u8>>,
    public: PublicJwk,
    bits: u32,
}

impl SigningKey {
    /// Generates a fresh key pair. Sizes below 2048 bits are refused.
    ///
    /// This is slow (tens to hundreds of milliseconds): call it on a blocking
    /// thread, never on an async executor.
    pub fn generate(bits: u32) -> Result<Self, KeyError> {
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || bits % 8 != 0 {
            return Err(KeyError::KeySize(bits));
        }
        let pair = RS256
            .generate_key_pair(bits)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_pem(&pair.to_pem_private_key())
    }

    /// Reads a PKCS#8 or PKCS#1 PEM private key. Keys below 2048 bits are
    /// refused.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let pair = RS256.key_pair_from_pem(pem).map_err(|_| KeyError::Parse)?;
        let public = pair.to_jwk_public_key();
        let member = |name: &str| -> Result<String, KeyError> {
            public
                .parameter(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(KeyError::Parse)
        };
        let (n, e) = (member("n")?, member("e")?);
        let bits = modulus_bits(&n).ok_or(KeyError::Parse)?;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::KeySize(bits));
        }
        Ok(Self {
            pem: Zeroizing::new(pair.to_pem_private_key()),
            public: PublicJwk::rsa(n, e),
            bits,
        })
    }

    /// Reads a private key given as a JWK (RFC 7517 / RFC 7518 §6.3.2).
    pub fn from_private_jwk(json: &str) -> Result<Self, KeyError> {
        let jwk = josekit::jwk::Jwk::from_bytes(json.as_bytes()).map_err(|_| KeyError::Parse)?;
        let pair =
            josekit::jwk::alg::rsa::RsaKeyPair::from_jwk(&jwk).map_err(|_| KeyError::Parse)?;
        Self::from_pem(&pair.to_pem_private_key())
    }

    /// The PKCS#8 PEM of the private key. Handle with care: never log it.
    pub fn private_pem(&self) -> &[u8] {
        &self.pem
    }

    /// The public JWK, as published.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

/// Bit length of a base64url big-endian modulus.
fn modulus_bits(n: &str) -> Option<u32> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    let significant = u32::try_from(bytes.len() - first).ok()?;
    Some(significant * 8 - bytes[first].leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pem_with_the_same_kid() {
        let key = SigningKey::generate(2048).expect("generates");
        assert_eq!(key.bits(), 2048);
        let again = SigningKey::from_pem(key.private_pem()).expect("parses");
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.public_jwk(), key.public_jwk());
    }

    #[test]
    fn refuses_small_and_odd_sizes() {
        for bits in [512, 1024, 2047, 2050, 16384] {
            assert!(
                matches!(SigningKey::generate(bits), Err(KeyError::KeySize(b)) if b == bits),
                "{bits} bits must be refused"
            );
        }
    }

    #[test]
    fn debug_output_names_the_kid_and_nothing_secret() {
        let key = SigningKey::generate(2048).expect("generates");
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()));
        assert!(!debug.contains("PRIVATE"));
        assert!(debug.len() < 200);
    }

    #[test]
    fn private_jwk_from_rfc7520_gives_its_public_members() {
        let key = SigningKey::from_private_jwk(include_str!(
            "../tests/vectors/rfc7520_s3.4_rsa_private_jwk.json"
        ))
        .expect("parses");
        let public: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/vectors/rfc7520_s3.4_rsa_public_jwk.json"
        ))
        .expect("vector");
        assert_eq!(key.public_jwk().n, public["n"].as_str().expect("n"));
        assert_eq!(key.public_jwk().e, "AQAB");
        assert_eq!(key.bits(), 2048);
    }

    #[test]
    fn garbage_pem_is_a_parse_error_without_the_input() {
        let err = SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n")
            .expect_err("must be refused");
        assert!(matches!(err, KeyError::Parse));
        assert!(!err.to_string().contains("nope"));
    }
}
