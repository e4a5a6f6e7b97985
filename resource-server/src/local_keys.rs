//! [`LocalKeys`]: the IdP's own keys, pushed in-process.
//!
//! The IdP guards its own bearer endpoints with the same layer as any
//! resource server, but must not call itself over HTTP for its keys. It
//! pushes the JWKS it publishes into a [`LocalKeys`] whenever its key set
//! changes; validators read the resulting [`KeySet`] snapshot lock-free.

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::error::Error;
use crate::jwk::{parse_jwks, JwkSet};
use crate::keyset::{usable_keys, KeySet};

/// The IdP's own keys, pushed in-process.
///
/// Cheap to clone (all clones share the set). Until the first
/// [`set`](Self::set), validation answers `503` as for an unreachable IdP.
///
/// ```
/// use resource_server::{LocalKeys, Validator};
///
/// let local = LocalKeys::new();
/// let validator = Validator::builder("https://idp.example.com", local.clone()).build();
/// // Whenever the IdP's published key set changes:
/// let published = br#"{"keys":[]}"#; // the JSON served at /jwks
/// local.set_json(published).unwrap();
/// assert_eq!(validator.keys().snapshot().generation(), 1);
/// ```
#[derive(Clone, Default)]
pub struct LocalKeys {
    inner: Arc<LocalInner>,
}

#[derive(Default)]
struct LocalInner {
    keys: ArcSwap<KeySet>,
    writer: Mutex<()>,
}

impl LocalKeys {
    /// An empty, not yet loaded key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the trusted keys with the usable keys of `jwks` (see
    /// [`VerifyingKey::from_jwk`](crate::VerifyingKey::from_jwk)); returns
    /// how many were taken. An empty set is allowed here: it is the IdP's
    /// call.
    pub fn set(&self, jwks: &JwkSet) -> usize {
        let (keys, skipped) = usable_keys(jwks);
        if skipped > 0 {
            tracing::warn!(skipped, "local key set has unusable keys");
        }
        let taken = keys.len();
        // One writer at a time, so that two concurrent updates cannot both
        // derive their generation from the same predecessor.
        let _writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(next) = self.inner.keys.load().successor(keys) {
            tracing::info!(
                keys = taken,
                generation = next.generation(),
                "local key set updated"
            );
            self.inner.keys.store(Arc::new(next));
        }
        taken
    }

    /// [`set`](Self::set) from the JSON of a JWKS document, e.g. the bytes
    /// the IdP serves at `/jwks`.
    pub fn set_json(&self, json: &[u8]) -> Result<usize, Error> {
        let jwks = parse_jwks(json).map_err(|e| Error::invalid_document("JWKS", "local", e))?;
        Ok(self.set(&jwks))
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// The generation of the current snapshot (`0`: never set).
    pub fn generation(&self) -> u64 {
        self.inner.keys.load().generation()
    }
}

impl fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.keys.load();
        f.debug_struct("LocalKeys")
            .field("kids", &keys.kids().collect::<Vec<_>>())
            .field("generation", &keys.generation())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyset::tests::jwk;

    #[test]
    fn generation_moves_only_when_keys_change() {
        let local = LocalKeys::new();
        assert_eq!(local.snapshot().generation(), 0);
        let one = JwkSet {
            keys: vec![jwk("a", 2048)],
        };
        assert_eq!(local.set(&one), 1);
        let first = local.snapshot();
        assert_eq!(first.generation(), 1);
        local.set(&one);
        assert_eq!(
            local.snapshot().generation(),
            1,
            "same keys, same generation"
        );

        let two = JwkSet {
            keys: vec![jwk("a", 2048), jwk("b", 2048)],
        };
        local.set(&two);
        let second = local.snapshot();
        assert_eq!(second.generation(), 2);
        let (a1, a2) = (first.get("a").expect("a"), second.get("a").expect("a"));
        assert!(Arc::ptr_eq(a1, a2), "unchanged keys keep their Arc");

        let replaced = JwkSet {
            keys: vec![jwk("a", 3072), jwk("b", 2048)],
        };
        local.set(&replaced);
        assert_eq!(local.snapshot().generation(), 3, "new material, same kid");
        local.set(&JwkSet::default());
        assert!(local.snapshot().is_empty());
        assert_eq!(local.snapshot().generation(), 4);
    }
}
