//! Key material for the identity provider.
//!
//! Three things live here, all free of I/O so they can be tested on their own:
//!
//! * [`SigningKey`]: an RSA private key generated with josekit (2048 bits or
//!   more), held in a zeroizing buffer, whose `Debug` output names only its
//!   `kid`. The `kid` is the RFC 7638 thumbprint of the public key, so the
//!   same key always has the same id, on every instance.
//! * [`PublicJwk`] and [`Jwks`]: the public half as published at `/jwks`. The
//!   types have no field for a private parameter, so a JWKS built from them
//!   cannot leak one.
//! * [`rotation`]: the key states `next` → `current` → `retired` and the rules
//!   for promoting and pruning, as pure functions of the key list and `now`.
//!
//! ```
//! let key = keys::SigningKey::generate(2048).unwrap();
//! let jwks = keys::Jwks { keys: vec![key.public_jwk().clone()] };
//! let json = serde_json::to_string(&jwks).unwrap();
//! assert!(json.contains(key.kid()));
//! assert!(!json.contains("\"d\""));
//! ```
#![forbid(unsafe_code)]

mod jwk;
pub mod rotation;
mod signing_key;

pub use jwk::{thumbprint, Jwks, PublicJwk};
pub use rotation::{KeyRecord, KeyState, Lifetimes, RotationPolicy, RotationTrigger};
pub use signing_key::SigningKey;

/// The smallest RSA modulus this product generates or accepts for signing.
pub const MIN_RSA_BITS: u32 = 2048;
/// The largest RSA modulus this product generates (generation time grows
/// steeply beyond it, and verifiers gain nothing).
pub const MAX_RSA_BITS: u32 = 8192;

/// Everything that can go wrong with key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key size outside `MIN_RSA_BITS..=MAX_RSA_BITS`, or not a multiple of 8.
    #[error("RSA key size {0} is not allowed: use a multiple of 8 from {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")]
    KeySize(u32),
    /// The stored key could not be parsed. The message never contains key bytes.
    #[error("the stored private key could not be parsed")]
    Parse,
    /// The crypto library failed to generate or export a key.
    #[error("key generation failed: {0}")]
    Generate(String),
}
