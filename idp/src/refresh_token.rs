//! The refresh token's wire format: `<family>.<generation>.<secret>.<mac>`.
//!
//! A session (family) keeps one row, however often it refreshes: the
//! digest of its current token's random `secret` and that token's
//! generation. An earlier token coming back must still be recognised as
//! reuse without storing it, so every token carries its family and
//! generation with a MAC over them, keyed by the deployment's secret: a
//! presented earlier generation with a valid MAC is proven to be one the
//! IdP issued (reuse: the family is revoked), while a token whose MAC does
//! not check out is refused as `invalid_grant` before the store is asked,
//! so a stranger who knows a family id cannot revoke it.
//!
//! The random part keeps what only digests are stored for: the database
//! alone does not yield a working token. Tokens issued before this format
//! (one random string) are still accepted until they are rotated (see
//! `store::refresh_policy`).

use aws_lc_rs::{constant_time, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::secret::{digest, random_secret, Secret};
use crate::store::ClaimedGeneration;

/// Bytes of the MAC kept in a token: 128 bits.
const MAC_BYTES: usize = 16;

/// A refresh token as presented, read and checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// A token of this format whose MAC checks out.
    Generation {
        /// Its family and generation.
        claimed: ClaimedGeneration,
        /// SHA-256 of its secret part.
        secret_hash: Vec<u8>,
    },
    /// A token from before generations: one random string.
    Legacy {
        /// SHA-256 of the whole token.
        token_hash: Vec<u8>,
    },
}

impl Presented {
    /// The digest the store compares.
    pub fn hash(&self) -> &[u8] {
        match self {
            Self::Generation { secret_hash, .. } => secret_hash,
            Self::Legacy { token_hash } => token_hash,
        }
    }

    /// The family and generation claimed, if any.
    pub fn claimed(&self) -> Option<&ClaimedGeneration> {
        match self {
            Self::Generation { claimed, .. } => Some(claimed),
            Self::Legacy { .. } => None,
        }
    }
}

/// A token about to be handed out: its secret part, whose digest is
/// stored, made before the store is asked.
#[derive(Debug)]
pub struct Successor {
    secret: Secret,
}

impl Successor {
    /// A fresh random secret part.
    pub fn new() -> Self {
        Self {
            secret: random_secret(),
        }
    }

    /// What the store keeps of it.
    pub fn hash(&self) -> Vec<u8> {
        digest(self.secret.expose())
    }

    /// The token for generation `generation` of `family_id`.
    pub fn token(&self, key: &[u8], family_id: &str, generation: u64) -> Secret {
        let mac = URL_SAFE_NO_PAD.encode(mac(key, family_id, generation));
        Secret::new(format!(
            "{family_id}.{generation}.{}.{mac}",
            self.secret.expose()
        ))
    }
}

impl Default for Successor {
    fn default() -> Self {
        Self::new()
    }
}

fn mac(key: &[u8], family_id: &str, generation: u64) -> [u8; MAC_BYTES] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(
        &key,
        format!("idp refresh token\0{family_id}\0{generation}").as_bytes(),
    );
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
    out
}

/// Reads a presented token. `None`: it is neither format, or its MAC does
/// not check out (forged or from another deployment).
pub fn parse(key: &[u8], token: &str) -> Option<Presented> {
    if !token.contains('.') {
        return (!token.is_empty()).then(|| Presented::Legacy {
            token_hash: digest(token),
        });
    }
    let mut parts = token.split('.');
    let (Some(family_id), Some(generation), Some(secret), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    // Canonical decimal only, so one generation has one spelling.
    if generation.is_empty() || (generation.len() > 1 && generation.starts_with('0')) {
        return None;
    }
    let generation: u64 = generation.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if family_id.is_empty() || secret.is_empty() {
        return None;
    }
    constant_time::verify_slices_are_equal(&tag, &mac(key, family_id, generation)).ok()?;
    Some(Presented::Generation {
        claimed: ClaimedGeneration {
            family_id: family_id.to_owned(),
            generation,
        },
        secret_hash: digest(secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"deployment secret";

    #[test]
    fn a_token_reads_back_with_its_family_generation_and_digest() {
        let next = Successor::new();
        let token = next.token(KEY, "fam-1", 42);
        let presented = parse(KEY, token.expose()).expect("genuine");
        assert_eq!(
            presented.claimed(),
            Some(&ClaimedGeneration {
                family_id: "fam-1".into(),
                generation: 42
            })
        );
        assert_eq!(presented.hash(), next.hash().as_slice());
    }

    #[test]
    fn a_forged_or_altered_token_is_not_read() {
        let token = Successor::new().token(KEY, "fam-1", 3);
        let token = token.expose();
        assert_eq!(parse(b"another deployment", token), None);
        let other_generation = token.replacen(".3.", ".2.", 1);
        assert_eq!(parse(KEY, &other_generation), None);
        let other_family = token.replacen("fam-1", "fam-2", 1);
        assert_eq!(parse(KEY, &other_family), None);
        for bad in [
            "a.b",
            "fam.03.s.t",
            "fam.x.s.t",
            "fam.1.s.t.u",
            ".1.s.t",
            "fam.1..t",
        ] {
            assert_eq!(parse(KEY, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_token_without_dots_is_a_legacy_one_found_by_digest() {
        assert_eq!(
            parse(KEY, "abc"),
            Some(Presented::Legacy {
                token_hash: digest("abc")
            })
        );
        assert_eq!(parse(KEY, ""), None);
    }
}
