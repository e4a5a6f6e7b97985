//! Private keys at rest.
//!
//! With `IDP_KEY_ENCRYPTION_KEY` set (32 random bytes, base64), every private
//! key is sealed with AES-256-GCM before it reaches the database, with the
//! key's `kid` as associated data so a ciphertext cannot be moved to another
//! row. Without it, keys are stored as PEM and protected only by the
//! database file's owner-only permissions.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use zeroize::Zeroizing;

/// Format tag in front of every ciphertext, for future algorithm changes.
const VERSION: &[u8] = b"v1";
const NONCE_LEN: usize = 12;

/// Why a key could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The configured encryption key is not 32 bytes of base64.
    #[error("IDP_KEY_ENCRYPTION_KEY must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// A stored key does not decrypt: the encryption key is wrong, or the row
    /// was tampered with.
    #[error(
        "the private key {kid} cannot be decrypted with the configured IDP_KEY_ENCRYPTION_KEY"
    )]
    WrongKey {
        /// The key that failed.
        kid: String,
    },
    /// A stored key is encrypted but no encryption key is configured.
    #[error("the private key {kid} is encrypted; set IDP_KEY_ENCRYPTION_KEY to the key it was stored with")]
    Missing {
        /// The key that failed.
        kid: String,
    },
}

/// Seals and opens private keys.
#[derive(Clone)]
pub struct Vault {
    cipher: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("encrypting", &self.cipher.is_some())
            .finish()
    }
}

impl Vault {
    /// A vault that stores keys as plain PEM.
    pub fn plain() -> Self {
        Self { cipher: None }
    }

    /// A vault from the configured secret (base64 of 32 bytes), or plain
    /// when none is configured.
    pub fn from_secret(secret: Option<&str>) -> Result<Self, VaultError> {
        let Some(secret) = secret.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Self::plain());
        };
        let bytes = Zeroizing::new(
            [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(secret).ok())
                .ok_or(VaultError::BadKey)?,
        );
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Self {
            cipher: Some(cipher),
        })
    }

    /// Whether new keys are stored encrypted.
    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// Seals a PEM for storage; returns the bytes and whether they are encrypted.
    pub fn seal(&self, kid: &str, pem: &[u8]) -> (Zeroizing<Vec<u8>>, bool) {
        let Some(cipher) = &self.cipher else {
            return (Zeroizing::new(pem.to_vec()), false);
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: pem,
                    aad: kid.as_bytes(),
                },
            )
            // AES-GCM encryption fails only for messages beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(VERSION.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        (Zeroizing::new(out), true)
    }

    /// Opens a stored key.
    pub fn open(
        &self,
        kid: &str,
        stored: &[u8],
        encrypted: bool,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if !encrypted {
            return Ok(Zeroizing::new(stored.to_vec()));
        }
        let cipher = self.cipher.as_ref().ok_or_else(|| VaultError::Missing {
            kid: kid.to_owned(),
        })?;
        let wrong = || VaultError::WrongKey {
            kid: kid.to_owned(),
        };
        let body = stored.strip_prefix(VERSION).ok_or_else(wrong)?;
        if body.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn sealed_keys_open_with_the_same_secret_only() {
        let vault = Vault::from_secret(Some(SECRET)).expect("valid");
        let (sealed, encrypted) = vault.seal("kid-1", b"-----BEGIN PRIVATE KEY-----");
        assert!(encrypted);
        assert!(!sealed.windows(5).any(|w| w == b"BEGIN"));
        let opened = vault.open("kid-1", &sealed, true).expect("opens");
        assert_eq!(&opened[..], b"-----BEGIN PRIVATE KEY-----");

        let other = Vault::from_secret(Some("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="))
            .expect("valid");
        assert!(matches!(
            other.open("kid-1", &sealed, true),
            Err(VaultError::WrongKey { .. })
        ));
        assert!(matches!(
            Vault::plain().open("kid-1", &sealed, true),
            Err(VaultError::Missing { .. })
        ));
    }

    #[test]
    fn a_ciphertext_moved_to_another_kid_does_not_open() {
        let vault = Vault::from_secret(Some(SECRET)).expect("valid");
        let (sealed, _) = vault.seal("kid-1", b"pem");
        assert!(vault.open("kid-2", &sealed, true).is_err());
    }

    #[test]
    fn secrets_that_are_not_32_bytes_are_refused() {
        for bad in ["short", "MDEyMzQ1Njc4OWFiY2RlZg==", "not base64 at all!!"] {
            assert!(
                matches!(Vault::from_secret(Some(bad)), Err(VaultError::BadKey)),
                "{bad}"
            );
        }
        assert!(!Vault::from_secret(None).expect("plain").encrypts());
        assert!(!Vault::from_secret(Some("  ")).expect("plain").encrypts());
    }
}
