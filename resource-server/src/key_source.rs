//! Where the validator gets its trusted public keys from.
//!
//! [`KeySource`] is the closed choice between the two producers of
//! [`KeySet`] snapshots:
//!
//! * [`JwksCache`]: a resource server's view of a remote IdP, fetched over
//!   HTTP and refreshed in the background.
//! * [`LocalKeys`]: the IdP's own view of its keys, pushed in-process with
//!   [`LocalKeys::set`] whenever its key set changes, so that the IdP's own
//!   bearer endpoints sit behind the same layer without calling themselves
//!   over HTTP.

use std::sync::Arc;

use crate::jwks::JwksCache;
use crate::keyset::KeySet;
use crate::local_keys::LocalKeys;

/// The source of trusted keys a [`Validator`](crate::Validator) reads.
///
/// A closed choice rather than a trait: there are exactly two ways keys reach
/// a validator, and an enum keeps the hot path free of boxing and dynamic
/// dispatch. Build it with `.into()` from either source.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Keys fetched from a remote JWKS.
    Jwks(JwksCache),
    /// Keys pushed in-process by the IdP.
    Local(LocalKeys),
}

impl KeySource {
    /// The current snapshot; lock-free.
    pub fn snapshot(&self) -> Arc<KeySet> {
        match self {
            Self::Jwks(cache) => cache.snapshot(),
            Self::Local(local) => local.snapshot(),
        }
    }

    /// Whether a key set was ever loaded.
    pub fn is_loaded(&self) -> bool {
        self.generation() > 0
    }

    /// The generation of the current snapshot, without taking a reference
    /// to it: what a verified-token cache hit compares.
    pub fn generation(&self) -> u64 {
        match self {
            Self::Jwks(cache) => cache.generation(),
            Self::Local(local) => local.generation(),
        }
    }

    /// The snapshot to use after a token named `kid`, which the current
    /// one lacks: the remote cache may refetch (at most once per cooldown,
    /// single flight); local keys are authoritative and never refetch.
    pub(crate) async fn after_unknown_kid(&self, kid: &str) -> Arc<KeySet> {
        match self {
            Self::Jwks(cache) => cache.refresh_for_unknown_kid(kid).await,
            Self::Local(local) => local.snapshot(),
        }
    }
}

impl From<JwksCache> for KeySource {
    fn from(cache: JwksCache) -> Self {
        Self::Jwks(cache)
    }
}

impl From<LocalKeys> for KeySource {
    fn from(local: LocalKeys) -> Self {
        Self::Local(local)
    }
}
