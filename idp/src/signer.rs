//! RS256 signing with a key parsed once.
//!
//! jsonwebtoken's aws-lc backend parses the DER private key on every
//! `encode()`, which costs more than half of each signature. This module
//! installs a jsonwebtoken `CryptoProvider` that keeps the parsed
//! `RsaKeyPair` of the few keys in use, keyed by their exact DER bytes (not
//! by address, which could be reused by another key), and hands everything
//! else, verification included, to jsonwebtoken's own aws-lc provider.

use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use jsonwebtoken::crypto::{aws_lc, CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// How many parsed keys are kept: current, plus a recently replaced one.
const CACHED_KEYS: usize = 4;

type Cache = Mutex<Vec<(Vec<u8>, Arc<RsaKeyPair>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::with_capacity(CACHED_KEYS)))
}

/// The parsed key for `der`, parsing and remembering it on first use.
fn parsed(der: &[u8]) -> Option<Arc<RsaKeyPair>> {
    let mut keys = cache().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(position) = keys.iter().position(|(d, _)| d == der) {
        let entry = keys.remove(position);
        let key = Arc::clone(&entry.1);
        keys.insert(0, entry);
        return Some(key);
    }
    let key = Arc::new(RsaKeyPair::from_der(der).ok()?);
    keys.insert(0, (der.to_vec(), Arc::clone(&key)));
    keys.truncate(CACHED_KEYS);
    Some(key)
}

struct CachedRs256(Arc<RsaKeyPair>);

impl signature::Signer<Vec<u8>> for CachedRs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut out)
            .map_err(signature::Error::from_source)?;
        Ok(out)
    }
}

impl JwtSigner for CachedRs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *alg == Algorithm::RS256 && key.family() == jsonwebtoken::AlgorithmFamily::Rsa {
        if let Some(parsed) = parsed(key.inner()) {
            return Ok(Box::new(CachedRs256(parsed)));
        }
    }
    (aws_lc::DEFAULT_PROVIDER.signer_factory)(alg, key)
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    (aws_lc::DEFAULT_PROVIDER.verifier_factory)(alg, key)
}

/// Installs the provider for this process. Harmless if called again, or if
/// jsonwebtoken already chose its default (signing then stays correct, only
/// slower).
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        jwk_utils: aws_lc::DEFAULT_PROVIDER.jwk_utils.clone(),
    });
    if provider.install_default().is_err() {
        tracing::debug!("jsonwebtoken crypto provider was already installed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RS256 is deterministic: the cached signer and jsonwebtoken's own
    /// must produce the same bytes, for each of two different keys.
    #[test]
    fn cached_signatures_equal_the_reference_signer() {
        for _ in 0..2 {
            let key = keys::SigningKey::generate(2048).expect("key");
            let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("pem");
            let reference = (aws_lc::DEFAULT_PROVIDER.signer_factory)(&Algorithm::RS256, &encoding)
                .expect("signer")
                .try_sign(b"header.payload")
                .expect("signs");
            for _ in 0..2 {
                let cached = signer(&Algorithm::RS256, &encoding)
                    .expect("signer")
                    .try_sign(b"header.payload")
                    .expect("signs");
                assert_eq!(cached, reference);
            }
        }
    }
}
