//! The DPoP replay cache: every proof's `jti` is accepted once, in bounded
//! memory.
//!
//! A proof is only acceptable for a short window after its `iat` (five
//! minutes by default), so its `jti` must be remembered for that window and
//! may be forgotten after. Entries are kept in arrival order with their
//! expiry, and expired ones leave from the front. The memory bound is a hard
//! one: when the cache is full, the oldest entry is evicted anyway and the
//! cache raises a *floor* to that entry's `iat`; from then on a proof whose
//! `iat` is at or below the floor is refused as stale. A replay is therefore
//! always refused, either because its `jti` is still here or because its
//! `iat` is at or below the floor; what a flood of proofs can cost honest
//! clients is that proofs made in the same second as evicted ones must be
//! made afresh.
//!
//! Entries are keyed by a SHA-256 of the key thumbprint and the `jti`, so
//! two clients choosing the same `jti` do not collide and no client-chosen
//! string is stored.

use std::collections::{HashSet, VecDeque};
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

#[derive(Debug, Default)]
struct State {
    seen: HashSet<[u8; 32]>,
    /// (key, expiry, iat) in arrival order.
    order: VecDeque<([u8; 32], u64, u64)>,
    floor: Option<u64>,
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
        let key: [u8; 32] = Sha256::new()
            .chain_update(jkt.as_bytes())
            .chain_update([0])
            .chain_update(jti.as_bytes())
            .finalize()
            .into();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(old, expiry, _)) = state.order.front() {
            if expiry > now {
                break;
            }
            state.order.pop_front();
            state.seen.remove(&old);
        }
        if state.seen.contains(&key) {
            return Err(Refused::Replayed);
        }
        if state.floor.is_some_and(|floor| iat <= floor) {
            return Err(Refused::Evicted);
        }
        while state.order.len() >= self.capacity {
            let Some((old, _, old_iat)) = state.order.pop_front() else {
                break;
            };
            state.seen.remove(&old);
            state.floor = Some(state.floor.map_or(old_iat, |floor| floor.max(old_iat)));
        }
        state.seen.insert(key);
        state.order.push_back((key, expires, iat));
        Ok(())
    }

    /// How many proofs are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.order.len())
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
}
