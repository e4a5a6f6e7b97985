//! Server-provided DPoP nonces (RFC 9449 §8 and §9), without server state.
//!
//! A nonce is the number of the current time window and an HMAC-SHA256 of
//! it under a key made at start-up: any instance holding the key checks it
//! without remembering anything, a client cannot make one up, and a nonce
//! stays good for the window it was made in and the next one. Clients that
//! send none (or an old one) are answered `401 use_dpop_nonce` with a fresh
//! nonce in `DPoP-Nonce`, and retry with it.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Issues and checks nonces; see the module docs.
pub(crate) struct Nonces {
    key: hmac::Key,
    period: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces under a random key, each good for one to two `period`s
    /// (seconds, at least one).
    pub(crate) fn random(period: u64) -> Self {
        let mut secret = [0u8; 32];
        // Like every key generator, this cannot go on without randomness;
        // aws-lc's system generator does not fail where aws-lc runs.
        #[allow(clippy::expect_used)]
        SystemRandom::new()
            .fill(&mut secret)
            .expect("the operating system provides no randomness");
        Self::with_key(&secret, period)
    }

    /// Nonces under `secret`, shared by every instance that should accept
    /// each other's nonces.
    pub(crate) fn with_key(secret: &[u8], period: u64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            period: period.max(1),
        }
    }

    /// A nonce good from `now` for at least one period.
    pub(crate) fn issue(&self, now: u64) -> String {
        let window = (now / self.period).to_be_bytes();
        let tag = hmac::sign(&self.key, &window);
        URL_SAFE_NO_PAD.encode([&window[..], tag.as_ref()].concat())
    }

    /// Whether `nonce` was issued by these nonces in the current window or
    /// the one before.
    pub(crate) fn check(&self, nonce: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((window, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let issued = u64::from_be_bytes(*window);
        let current = now / self.period;
        (issued == current || issued.saturating_add(1) == current)
            && hmac::verify(&self.key, window, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_window_and_the_next() {
        let nonces = Nonces::with_key(b"k", 60);
        let nonce = nonces.issue(120);
        assert!(nonces.check(&nonce, 120));
        assert!(nonces.check(&nonce, 179));
        assert!(nonces.check(&nonce, 239));
        assert!(!nonces.check(&nonce, 240));
        assert!(!nonces.check(&nonce, 60), "not before its window");
    }

    #[test]
    fn forged_and_foreign_nonces_are_refused() {
        let nonces = Nonces::with_key(b"k", 60);
        let other = Nonces::with_key(b"other", 60);
        assert!(!nonces.check(&other.issue(120), 120));
        assert!(!nonces.check("", 120));
        assert!(!nonces.check("not base64!", 120));
        let mut bytes = URL_SAFE_NO_PAD.decode(nonces.issue(120)).expect("b64");
        bytes[7] ^= 1;
        assert!(!nonces.check(&URL_SAFE_NO_PAD.encode(&bytes), 120));
        assert!(!Nonces::random(60).check(&Nonces::random(60).issue(1), 1));
    }
}
