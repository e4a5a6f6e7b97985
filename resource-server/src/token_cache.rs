//! The verified-token cache: a client that reuses its token pays for one RSA
//! verification, then a hash and a map lookup per request.
//!
//! Entries are keyed by the SHA-256 of the whole token, so a hit means the
//! very same bytes were verified before; keying on the signature segment
//! alone would let a swapped payload ride on a cached signature. An entry
//! remembers what a hit must still check: the token's own `exp`/`nbf`
//! (against the caller's `now`), and the key that verified it, which must
//! still be in the current key set. Revocation is checked by the validator on
//! every request, hit or miss.
//!
//! Bounding is cheap: each shard keeps a young and an old map; when the young
//! one fills up it becomes the old one and the previous old one is dropped
//! whole. Hits in the old map are promoted. That approximates LRU with O(1)
//! eviction and no per-entry bookkeeping, and never holds more than the
//! configured capacity.
//!
//! A token is admitted on its second verification, not its first (the
//! "doorkeeper" of TinyLFU): a direct-mapped table remembers a fingerprint
//! of each token verified but not cached, and only a token found there is
//! cached. Tokens used once (a job's one call, a flood of fresh tokens)
//! then cost an RSA verify and nothing more: no claims kept, no insert, no
//! eviction of the entries that clients reusing their tokens hit. A reused
//! token pays one more verify than it would without the doorkeeper. The
//! table has a power of two of slots, at most one per two entries of
//! capacity (4,096 for 10,000), so it remembers about as many first sights
//! as the cache's young generations hold: a token that comes back later
//! than that would have been evicted before its reuse anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::claims::Claims;
use crate::keyset::VerifyingKey;

/// SHA-256 of a token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What the cache remembers about a verified token.
#[derive(Debug)]
pub(crate) struct Verified<T> {
    pub(crate) claims: Arc<Claims<T>>,
    /// Which of the validator's issuers the token is from.
    pub(crate) issuer: usize,
    /// The key that verified the signature.
    pub(crate) key: Arc<VerifyingKey>,
    /// The key-set generation it was last known to be current in.
    pub(crate) generation: u64,
}

// A derive would ask `T: Clone`; only the `Arc` is cloned.
impl<T> Clone for Verified<T> {
    fn clone(&self) -> Self {
        Self {
            claims: Arc::clone(&self.claims),
            issuer: self.issuer,
            key: Arc::clone(&self.key),
            generation: self.generation,
        }
    }
}

#[derive(Debug)]
struct Shard<T> {
    young: HashMap<TokenDigest, Verified<T>>,
    old: HashMap<TokenDigest, Verified<T>>,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Self {
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

/// A bounded, sharded map from token digest to verification.
#[derive(Debug)]
pub(crate) struct TokenCache<T> {
    shards: Box<[Mutex<Shard<T>>]>,
    /// Entries per generation map of one shard.
    half: usize,
    /// Fingerprints of tokens verified once and not admitted, one per
    /// slot, a power of two of them; `0` is an empty slot.
    seen: Box<[AtomicU64]>,
}

const SHARDS: usize = 16;

impl<T> TokenCache<T> {
    /// A cache holding at most `capacity` tokens (`capacity` >= 2).
    pub(crate) fn new(capacity: usize) -> Self {
        let shards = if capacity >= 4 * SHARDS { SHARDS } else { 1 };
        let half = (capacity / shards / 2).max(1);
        // The largest power of two at most half the capacity (at least 1).
        let slots = 1usize << (capacity / 2).max(1).ilog2();
        Self {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            half,
            seen: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether a verified token not in the cache is seen for the second
    /// time (recently enough to be remembered); remembers it otherwise.
    fn second_sight(&self, digest: &TokenDigest) -> bool {
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        // The slot and the fingerprint come from different digest bits;
        // the fingerprint is never 0, the empty slot.
        let slot = (word(8) as usize) & (self.seen.len() - 1);
        let fingerprint = word(16) | 1;
        self.seen[slot].swap(fingerprint, Ordering::Relaxed) == fingerprint
    }

    fn shard(&self, digest: &TokenDigest) -> MutexGuard<'_, Shard<T>> {
        let index = usize::from(digest[0]) % self.shards.len();
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<Verified<T>> {
        let mut shard = self.shard(digest);
        if let Some(hit) = shard.young.get(digest) {
            return Some(hit.clone());
        }
        let promoted = shard.old.remove(digest)?;
        let hit = promoted.clone();
        let dropped = Self::insert_young(&mut shard, *digest, promoted, self.half);
        drop(shard);
        drop(dropped);
        Some(hit)
    }

    /// Caches a verification, if the token was verified before (see the
    /// module docs); a token seen for the first time is only remembered.
    pub(crate) fn insert(&self, digest: TokenDigest, verified: Verified<T>) {
        if !self.second_sight(&digest) {
            return;
        }
        let mut shard = self.shard(&digest);
        shard.old.remove(&digest);
        let dropped = Self::insert_young(&mut shard, digest, verified, self.half);
        // Freeing a generation's claims is hundreds of frees: not while
        // other requests wait for this shard.
        drop(shard);
        drop(dropped);
    }

    /// Records that the entry's key is still current in `generation`.
    pub(crate) fn confirm(&self, digest: &TokenDigest, generation: u64) {
        let mut shard = self.shard(digest);
        if let Some(entry) = shard.young.get_mut(digest) {
            entry.generation = generation;
        }
    }

    pub(crate) fn remove(&self, digest: &TokenDigest) {
        let mut shard = self.shard(digest);
        shard.young.remove(digest);
        shard.old.remove(digest);
    }

    /// Inserts into the young map, aging it first when it is full; returns
    /// the generation that fell out, for the caller to drop unlocked.
    #[must_use]
    fn insert_young(
        shard: &mut Shard<T>,
        digest: TokenDigest,
        verified: Verified<T>,
        half: usize,
    ) -> Option<HashMap<TokenDigest, Verified<T>>> {
        let mut dropped = None;
        if shard.young.len() >= half && !shard.young.contains_key(&digest) {
            // Sized once for a whole generation: no rehashing as it fills.
            let young = std::mem::replace(&mut shard.young, HashMap::with_capacity(half));
            dropped = Some(std::mem::replace(&mut shard.old, young));
        }
        shard.young.insert(digest, verified);
        dropped
    }

    /// How many tokens are cached.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap_or_else(|p| p.into_inner());
                shard.young.len() + shard.old.len()
            })
            .sum()
    }

    /// The most tokens this cache will hold.
    pub(crate) fn capacity(&self) -> usize {
        self.shards.len() * self.half * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Verified<crate::Profile> {
        let mut n = vec![0xff; 256];
        n[255] = 0xf1;
        let claims = serde_json::json!({"iss": "i", "sub": "s", "exp": 10});
        Verified {
            claims: Arc::new(serde_json::from_value(claims).expect("claims")),
            issuer: 0,
            key: Arc::new(VerifyingKey::from_rsa_components("k", &n, &[1, 0, 1]).expect("key")),
            generation: 1,
        }
    }

    /// A token verified twice in a row: the second verification caches it.
    fn admit<T>(cache: &TokenCache<T>, digest: TokenDigest, entry: &Verified<T>) {
        cache.insert(digest, entry.clone());
        cache.insert(digest, entry.clone());
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [2, 10, 64, 1000, 10_000] {
            let cache = TokenCache::<crate::Profile>::new(capacity);
            assert!(cache.capacity() <= capacity.max(2), "capacity {capacity}");
            let e = entry();
            for i in 0..(3 * capacity as u32) {
                admit(&cache, digest(&i.to_string()), &e);
                assert!(cache.len() <= cache.capacity());
            }
            // Recent entries survive.
            let last = digest(&(3 * capacity as u32 - 1).to_string());
            assert!(cache.get(&last).is_some());
        }
    }

    #[test]
    fn a_token_is_cached_on_its_second_verification() {
        let cache = TokenCache::new(100);
        let e = entry();
        cache.insert(digest("a"), e.clone());
        assert!(
            cache.get(&digest("a")).is_none(),
            "first sight: remembered only"
        );
        assert_eq!(cache.len(), 0);
        cache.insert(digest("a"), e.clone());
        assert!(cache.get(&digest("a")).is_some(), "second sight: cached");
        cache.insert(digest("b"), e);
        assert!(
            cache.get(&digest("b")).is_none(),
            "one token's sight is not another's"
        );
    }

    #[test]
    fn tokens_used_once_neither_fill_the_cache_nor_evict_reused_ones() {
        let cache = TokenCache::new(1000);
        let e = entry();
        admit(&cache, digest("reused"), &e);
        for i in 0..100_000u32 {
            cache.insert(digest(&format!("once-{i}")), e.clone());
        }
        // (Two of the flood would have to share 63 bits of fingerprint.)
        assert_eq!(cache.len(), 1, "only the reused token is cached");
        assert!(cache.get(&digest("reused")).is_some());
    }

    #[test]
    fn hits_in_the_old_generation_are_promoted() {
        let cache = TokenCache::new(4);
        let e = entry();
        admit(&cache, digest("a"), &e);
        admit(&cache, digest("b"), &e);
        admit(&cache, digest("c"), &e); // "a","b" move to old
        assert!(cache.get(&digest("a")).is_some()); // promoted next to "c"
        admit(&cache, digest("d"), &e); // young full: it ages, "b" is dropped
        assert!(cache.get(&digest("a")).is_some());
        assert!(cache.get(&digest("b")).is_none());
    }

    #[test]
    fn remove_and_confirm() {
        let cache = TokenCache::new(100);
        admit(&cache, digest("a"), &entry());
        cache.confirm(&digest("a"), 7);
        assert_eq!(cache.get(&digest("a")).map(|v| v.generation), Some(7));
        cache.remove(&digest("a"));
        assert!(cache.get(&digest("a")).is_none());
    }

    #[test]
    fn digest_covers_the_whole_token() {
        assert_ne!(digest("h.p1.sig"), digest("h.p2.sig"));
    }
}
