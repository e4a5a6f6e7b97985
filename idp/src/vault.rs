//! Private keys at rest.
//!
//! With `IDP_KEY_ENCRYPTION_KEY` set (32 random bytes, base64), every private
//! key is sealed with AES-256-GCM before it reaches the database, with the
//! key's `kid` as associated data so a ciphertext cannot be moved to another
//! row. Without it, keys are stored as PEM and protected only by the
//! database file's owner-only permissions.
//!
//! `IDP_PREVIOUS_KEY_ENCRYPTION_KEY` rotates the encryption key: what does
//! not open with the current key is tried with the previous one, and the
//! callers reseal such blobs under the current key ([`Opened::Previous`]),
//! so that once every instance runs with the new key the previous one can
//! go.

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
    /// A configured encryption key is not 32 bytes of base64.
    #[error("{variable} must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)")]
    BadKey {
        /// The environment variable that holds it.
        variable: &'static str,
    },
    /// A previous key without a current one: nothing to reseal under.
    #[error("IDP_PREVIOUS_KEY_ENCRYPTION_KEY is set without IDP_KEY_ENCRYPTION_KEY: set the new key there, the old one in IDP_PREVIOUS_KEY_ENCRYPTION_KEY")]
    PreviousWithoutCurrent,
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
    /// The key being rotated away from: opens, never seals.
    previous: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("encrypting", &self.cipher.is_some())
            .field("previous_key", &self.previous.is_some())
            .finish()
    }
}

/// With what a stored blob opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// It was stored unencrypted.
    Plain,
    /// With the current key.
    Current,
    /// With the previous key only: reseal it under the current one.
    Previous,
}

/// The cipher of a configured secret (base64 of 32 bytes); `None` when
/// unset or blank.
fn cipher_of(
    secret: Option<&str>,
    variable: &'static str,
) -> Result<Option<Aes256Gcm>, VaultError> {
    let Some(secret) = secret.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || VaultError::BadKey { variable };
    let bytes = Zeroizing::new(
        [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(secret).ok())
            .ok_or_else(bad)?,
    );
    Aes256Gcm::new_from_slice(&bytes)
        .map(Some)
        .map_err(|_| bad())
}

impl Vault {
    /// A vault that stores keys as plain PEM.
    pub fn plain() -> Self {
        Self {
            cipher: None,
            previous: None,
        }
    }

    /// A vault from the configured secret (base64 of 32 bytes), or plain
    /// when none is configured.
    pub fn from_secret(secret: Option<&str>) -> Result<Self, VaultError> {
        Self::from_secrets(secret, None)
    }

    /// A vault from the current secret and, while rotating it, the
    /// previous one (which only opens).
    pub fn from_secrets(current: Option<&str>, previous: Option<&str>) -> Result<Self, VaultError> {
        let cipher = cipher_of(current, "IDP_KEY_ENCRYPTION_KEY")?;
        let previous = cipher_of(previous, "IDP_PREVIOUS_KEY_ENCRYPTION_KEY")?;
        if cipher.is_none() && previous.is_some() {
            return Err(VaultError::PreviousWithoutCurrent);
        }
        Ok(Self { cipher, previous })
    }

    /// Whether a previous key is configured (blobs it opens get resealed).
    pub fn rotating(&self) -> bool {
        self.previous.is_some()
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
        self.open_detailed(kid, stored, encrypted)
            .map(|(opened, _)| opened)
    }

    /// Opens a stored key, and says with which key it opened.
    pub fn open_detailed(
        &self,
        kid: &str,
        stored: &[u8],
        encrypted: bool,
    ) -> Result<(Zeroizing<Vec<u8>>, Opened), VaultError> {
        if !encrypted {
            return Ok((Zeroizing::new(stored.to_vec()), Opened::Plain));
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
        let decrypt = |cipher: &Aes256Gcm| {
            cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: kid.as_bytes(),
                    },
                )
                .ok()
                .map(Zeroizing::new)
        };
        if let Some(opened) = decrypt(cipher) {
            return Ok((opened, Opened::Current));
        }
        self.previous
            .as_ref()
            .and_then(decrypt)
            .map(|opened| (opened, Opened::Previous))
            .ok_or_else(wrong)
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
    fn a_previous_key_opens_what_it_sealed_and_seals_nothing() {
        const OTHER: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=";
        let old = Vault::from_secret(Some(SECRET)).expect("valid");
        let (sealed_old, _) = old.seal("kid-1", b"pem");
        let rotating = Vault::from_secrets(Some(OTHER), Some(SECRET)).expect("valid");
        assert!(rotating.rotating());
        let (opened, how) = rotating
            .open_detailed("kid-1", &sealed_old, true)
            .expect("opens with the previous key");
        assert_eq!((&opened[..], how), (&b"pem"[..], Opened::Previous));
        // What it seals is under the new key: the old key alone cannot open it.
        let (sealed_new, _) = rotating.seal("kid-1", b"pem");
        assert_eq!(
            rotating
                .open_detailed("kid-1", &sealed_new, true)
                .expect("opens")
                .1,
            Opened::Current
        );
        assert!(matches!(
            old.open("kid-1", &sealed_new, true),
            Err(VaultError::WrongKey { .. })
        ));
        // Neither key: refused, naming the kid.
        let stranger = Vault::from_secret(Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWE="))
            .expect("valid");
        let (foreign, _) = stranger.seal("kid-1", b"pem");
        assert!(matches!(
            rotating.open("kid-1", &foreign, true),
            Err(VaultError::WrongKey { .. })
        ));
        assert!(matches!(
            Vault::from_secrets(None, Some(SECRET)),
            Err(VaultError::PreviousWithoutCurrent)
        ));
        let bad = Vault::from_secrets(Some(OTHER), Some("short")).expect_err("bad previous");
        assert!(
            bad.to_string()
                .starts_with("IDP_PREVIOUS_KEY_ENCRYPTION_KEY"),
            "{bad}"
        );
    }

    #[test]
    fn debug_shows_only_whether_each_key_is_set() {
        const OTHER: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=";
        let rotating = Vault::from_secrets(Some(OTHER), Some(SECRET)).expect("valid");
        assert_eq!(
            format!("{rotating:?}"),
            "Vault { encrypting: true, previous_key: true }"
        );
        let current = Vault::from_secrets(Some(OTHER), None).expect("valid");
        assert_eq!(
            format!("{current:?}"),
            "Vault { encrypting: true, previous_key: false }"
        );
        assert!(!current.rotating());
    }

    #[test]
    fn secrets_that_are_not_32_bytes_are_refused() {
        for bad in ["short", "MDEyMzQ1Njc4OWFiY2RlZg==", "not base64 at all!!"] {
            assert!(
                matches!(
                    Vault::from_secret(Some(bad)),
                    Err(VaultError::BadKey {
                        variable: "IDP_KEY_ENCRYPTION_KEY"
                    })
                ),
                "{bad}"
            );
        }
        assert!(!Vault::from_secret(None).expect("plain").encrypts());
        assert!(!Vault::from_secret(Some("  ")).expect("plain").encrypts());
    }
}
