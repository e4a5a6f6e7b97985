//! The JWS algorithms this crate verifies, and the sets of them an issuer or
//! a DPoP verifier allows.
//!
//! Nine asymmetric algorithms, each mapped to one aws-lc-rs verification
//! algorithm: `RS256`, `RS384`, `RS512` (RSASSA-PKCS1-v1_5), `PS256`,
//! `PS384`, `PS512` (RSASSA-PSS), `ES256` (ECDSA on P-256) and `ES384`
//! (ECDSA on P-384), both with the JWS fixed-length `r‖s` signature, and
//! `EdDSA` (Ed25519). `none` and the HMAC family are not representable here
//! at all, so no configuration can ever allow them: a symmetric
//! "verification" with a public key as the secret is the classic
//! algorithm-confusion attack.
//!
//! Algorithm names are compared exactly and case-sensitively (RFC 7515
//! §4.1.1): `rs256` and `None` are unknown, not aliases.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self, VerificationAlgorithm};

/// A JWS signature algorithm this crate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); what this IdP signs.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (RFC 7518 §3.3).
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (RFC 7518 §3.3).
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256 (RFC 7518 §3.5).
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384 (RFC 7518 §3.5).
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512 (RFC 7518 §3.5).
    PS512,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
    /// ECDSA on P-384 with SHA-384 (RFC 7518 §3.4).
    ES384,
    /// Ed25519 (RFC 8037 §3.1).
    EdDSA,
}

impl Algorithm {
    /// Every algorithm this crate verifies.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm with this exact `alg` name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The aws-lc-rs verification algorithm. The RSA ones accept moduli of
    /// 2048 to 8192 bits, the bounds this crate enforces on keys anyway.
    pub(crate) fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::EdDSA => &signature::ED25519,
        }
    }

    /// The aws-lc-rs RSA parameters of an RSA algorithm (2048 to 8192
    /// bits), to parse an RSA public key for it.
    pub(crate) fn rsa_parameters(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::ES256 | Self::ES384 | Self::EdDSA => return None,
        })
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an algorithm name this crate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported JWS algorithm {0:?} (supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
)]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| UnsupportedAlgorithm(name.to_owned()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A set of [`Algorithm`]s, as an issuer or a DPoP verifier allows them.
/// Membership is one bit test.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Algorithms(u16);

impl Algorithms {
    /// No algorithm at all.
    pub const NONE: Algorithms = Algorithms(0);
    /// `RS256` alone: the default for issuers, and what this IdP signs.
    pub const RS256: Algorithms = Algorithms(1);
    /// All nine.
    pub const ALL: Algorithms = Algorithms((1 << Algorithm::ALL.len()) - 1);
    /// `RS256`, `PS256`, `ES256` and `EdDSA`: what a DPoP verifier accepts
    /// in proofs unless told otherwise, and what its challenges and
    /// metadata advertise.
    pub const DPOP: Algorithms = Algorithms(
        1 << Algorithm::RS256 as u16
            | 1 << Algorithm::PS256 as u16
            | 1 << Algorithm::ES256 as u16
            | 1 << Algorithm::EdDSA as u16,
    );

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }

    /// The names, space-separated, for an `algs` challenge parameter.
    pub fn names(self) -> String {
        self.iter()
            .map(Algorithm::name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromIterator<Algorithm> for Algorithms {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        Algorithms(iter.into_iter().fold(0, |bits, alg| bits | alg.bit()))
    }
}

impl From<Algorithm> for Algorithms {
    fn from(alg: Algorithm) -> Self {
        Algorithms(alg.bit())
    }
}

impl<const N: usize> From<[Algorithm; N]> for Algorithms {
    fn from(algs: [Algorithm; N]) -> Self {
        algs.into_iter().collect()
    }
}

impl fmt::Debug for Algorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact_and_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
        }
        for name in [
            "none", "None", "HS256", "HS384", "HS512", "rs256", "rs384", "ES512", "ES256K",
            "Ed448", "eddsa", "Ed25519", "", "RS256 ", "PS384 ",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn sets() {
        let set: Algorithms = [Algorithm::RS256, Algorithm::ES256].into();
        assert!(set.contains(Algorithm::RS256) && set.contains(Algorithm::ES256));
        assert!(!set.contains(Algorithm::PS256) && !set.contains(Algorithm::EdDSA));
        assert_eq!(set.names(), "RS256 ES256");
        assert_eq!(Algorithms::ALL.iter().count(), 9);
        assert!(Algorithm::ALL
            .into_iter()
            .all(|a| Algorithms::ALL.contains(a)));
        assert_eq!(Algorithms::DPOP.names(), "RS256 PS256 ES256 EdDSA");
        let bits: Vec<u16> = Algorithm::ALL.into_iter().map(Algorithm::bit).collect();
        assert!(
            bits.iter().enumerate().all(|(i, b)| *b == 1 << i),
            "one bit each"
        );
        assert!(Algorithms::NONE.is_empty());
        assert_eq!(Algorithms::RS256, Algorithm::RS256.into());
        assert_eq!(format!("{set:?}"), "{RS256, ES256}");
    }
}
