//! The DPoP replay cache: every proof's `jti` is accepted once, in bounded
//! memory.
//!
//! A proof is only acceptable for a short window after its `iat` (five
//! minutes by default), so its `jti` must be remembered for that window and
//! may be forgotten after. Entries are kept in arrival order with their
//! expiry, and expired ones leave from the front. The memory bound is a hard
//! one: when the cache is full, the oldest entry is evicted anyway and a
//! *floor* is raised to that entry's `iat` **for the key that made it**;
//! from then on a proof of that key whose `iat` is at or below its floor is
//! refused as stale. A replay is therefore always refused, either because
//! its `jti` is still here or because its `iat` is at or below its key's
//! floor. Floors are per key so that one client flooding the cache (with
//! `iat`s up to the leeway ahead, say) raises no floor but its own: what
//! the flood costs another client is that a proof made in the same second
//! as one of its own evicted proofs must be made afresh.
//!
//! The floors are bounded too: one per key whose proofs were evicted,
//! dropped when the evicted proof's window closes, at most as many as the
//! cache holds proofs. Past that (more keys evicted within one window than
//! the cache holds proofs, each key needing a token bound to it), the
//! floors collapse into one shared floor, the highest of them.
//!
//! Entries are keyed by a SHA-256 of the key thumbprint and the `jti`, and
//! floors by a SHA-256 of the thumbprint, so two clients choosing the same
//! `jti` do not collide and no client-chosen string is stored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Why a proof's `jti` was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The `jti` was used before.
    Replayed,
    /// The `iat` is at or below the floor left by evictions.
    Evicted,
}

/// The highest evicted `iat`, and until when it matters.
#[derive(Debug, Clone, Copy)]
struct Floor {
    iat: u64,
    expires: u64,
}

impl Floor {
    fn refuses(self, iat: u64, now: u64) -> bool {
        now < self.expires && iat <= self.iat
    }

    fn raise(floor: Option<Self>, iat: u64, expires: u64) -> Self {
        floor.map_or(Self { iat, expires }, |f| Self {
            iat: f.iat.max(iat),
            expires: f.expires.max(expires),
        })
    }
}

#[derive(Debug)]
struct Entry {
    proof: [u8; 32],
    key: [u8; 32],
    expires: u64,
    iat: u64,
}

#[derive(Debug, Default)]
struct State {
    seen: HashSet<[u8; 32]>,
    /// In arrival order.
    order: VecDeque<Entry>,
    /// Per key (the hash of its thumbprint).
    floors: HashMap<[u8; 32], Floor>,
    /// When the per-key floors overflowed: one for every key.
    shared_floor: Option<Floor>,
}

impl State {
    fn refuses(&self, key: &[u8; 32], iat: u64, now: u64) -> bool {
        self.shared_floor.is_some_and(|f| f.refuses(iat, now))
            || self.floors.get(key).is_some_and(|f| f.refuses(iat, now))
    }

    /// Raises `entry`'s key's floor to its `iat`, within `capacity` floors.
    fn raise_floor(&mut self, entry: &Entry, capacity: usize, now: u64) {
        if !self.floors.contains_key(&entry.key) && self.floors.len() >= capacity {
            self.floors.retain(|_, f| f.expires > now);
            if self.floors.len() >= capacity {
                for (_, floor) in self.floors.drain() {
                    self.shared_floor =
                        Some(Floor::raise(self.shared_floor, floor.iat, floor.expires));
                }
            }
        }
        let floor = self.floors.get(&entry.key).copied();
        self.floors
            .insert(entry.key, Floor::raise(floor, entry.iat, entry.expires));
    }
}

/// The `jti`s of accepted proofs, until their window closes.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    state: Mutex<State>,
    capacity: usize,
}

impl ReplayCache {
    /// A cache remembering at most `capacity` proofs (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
        }
    }

    /// Accepts the proof `jti` of the key `jkt`, issued at `iat` and
    /// acceptable until `expires`, at `now`; or says why not.
    pub(crate) fn accept(
        &self,
        jkt: &str,
        jti: &str,
        iat: u64,
        expires: u64,
        now: u64,
    ) -> Result<(), Refused> {
        let key: [u8; 32] = Sha256::digest(jkt.as_bytes()).into();
        let proof: [u8; 32] = Sha256::new()
            .chain_update(jkt.as_bytes())
            .chain_update([0])
            .chain_update(jti.as_bytes())
            .finalize()
            .into();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.order.front().is_some_and(|e| e.expires <= now) {
            if let Some(old) = state.order.pop_front() {
                state.seen.remove(&old.proof);
            }
        }
        if state.shared_floor.is_some_and(|f| f.expires <= now) {
            state.shared_floor = None;
        }
        if state.seen.contains(&proof) {
            return Err(Refused::Replayed);
        }
        if state.refuses(&key, iat, now) {
            return Err(Refused::Evicted);
        }
        while state.order.len() >= self.capacity {
            let Some(old) = state.order.pop_front() else {
                break;
            };
            state.seen.remove(&old.proof);
            state.raise_floor(&old, self.capacity, now);
        }
        state.seen.insert(proof);
        state.order.push_back(Entry {
            proof,
            key,
            expires,
            iat,
        });
        Ok(())
    }

    /// How many proofs are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.order.len())
    }

    /// How many per-key floors are kept.
    #[cfg(test)]
    fn floors(&self) -> usize {
        self.state.lock().map_or(0, |s| s.floors.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_per_key() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.accept("k1", "j", 100, 400, 100), Ok(()));
        assert_eq!(
            cache.accept("k1", "j", 100, 400, 101),
            Err(Refused::Replayed)
        );
        assert_eq!(cache.accept("k2", "j", 100, 400, 101), Ok(()));
    }

    #[test]
    fn entries_leave_when_their_window_closes() {
        let cache = ReplayCache::new(10);
        cache.accept("k", "a", 100, 400, 100).expect("a");
        cache.accept("k", "b", 200, 500, 200).expect("b");
        assert_eq!(cache.len(), 2);
        cache.accept("k", "c", 400, 700, 400).expect("c");
        assert_eq!(cache.len(), 2, "a expired at 400");
    }

    #[test]
    fn a_full_cache_stays_bounded_and_still_refuses_every_replay() {
        let cache = ReplayCache::new(3);
        for (i, iat) in [100, 101, 102, 103, 104].into_iter().enumerate() {
            cache
                .accept("k", &format!("j{i}"), iat, iat + 300, 105)
                .expect("fresh");
            assert!(cache.len() <= 3);
        }
        // j0 and j1 were evicted: their replays fall below the floor.
        assert_eq!(
            cache.accept("k", "j0", 100, 400, 105),
            Err(Refused::Evicted)
        );
        assert_eq!(
            cache.accept("k", "j1", 101, 401, 105),
            Err(Refused::Evicted)
        );
        assert_eq!(
            cache.accept("k", "j4", 104, 404, 105),
            Err(Refused::Replayed)
        );
        assert_eq!(cache.accept("k", "new", 105, 405, 105), Ok(()));
    }

    #[test]
    fn a_flood_by_one_key_raises_no_other_keys_floor() {
        let cache = ReplayCache::new(4);
        // An honest key's proof, then a flood of proofs dated ahead.
        cache.accept("honest", "h0", 100, 400, 100).expect("h0");
        let taken = (0..20)
            .filter(|i| {
                cache
                    .accept("flood", &format!("f{i}"), 129, 429, 100)
                    .is_ok()
            })
            .count();
        // Three fill the cache, a fourth evicts the honest proof, a fifth
        // the flood's own first: from then on the flood meets its own floor.
        assert_eq!(taken, 5, "the flood was refused after its own eviction");
        // The honest key's next proof, made in a later second, is taken.
        assert_eq!(cache.accept("honest", "h1", 101, 401, 101), Ok(()));
        // Its evicted proof stays refused, by its own floor.
        assert_eq!(
            cache.accept("honest", "h0", 100, 400, 101),
            Err(Refused::Evicted)
        );
        // The flooding key's own evicted proofs stay refused too.
        assert_eq!(
            cache.accept("flood", "f0", 129, 429, 101),
            Err(Refused::Evicted)
        );
    }

    #[test]
    fn floors_are_forgotten_when_their_window_closes_and_stay_bounded() {
        let cache = ReplayCache::new(2);
        for i in 0..10_u64 {
            cache
                .accept(&format!("k{i}"), "j", 100 + i, 400 + i, 100 + i)
                .expect("fresh");
            assert!(cache.floors() <= 2, "floors bounded by the capacity");
        }
        // k0's floor, expired at 400, no longer refuses (the proof's own
        // window would, in the verifier).
        assert_eq!(cache.accept("k0", "j", 100, 500, 450), Ok(()));
    }
}
