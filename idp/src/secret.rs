//! Secrets as types. A token, refresh token or client secret handed to a
//! caller travels in a [`Secret`]: its `Debug` prints nothing of it, so a
//! derive on a struct that holds one can never leak it into a log line,
//! and its memory is wiped when it is dropped.
//!
//! The opaque secrets the IdP hands out (refresh tokens, client secrets)
//! are 256 random bits, stored only as their SHA-256 digest: a fast digest
//! is right for values of that entropy (there is no dictionary to search).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A fresh opaque secret: 32 random bytes, base64url.
pub fn random_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a high-entropy secret, as stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A secret string: shown only through [`Secret::expose`] and when
/// serialized into the response it is meant for.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Serialized as the plain string: a response body is where it goes.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_serialize_shows() {
        let secret = Secret::new("s3cr3t-value".into());
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert_eq!(
            serde_json::to_string(&secret).expect("serializes"),
            "\"s3cr3t-value\""
        );
        assert_eq!(secret.expose(), "s3cr3t-value");
    }
}
