//! The life of a signing key, as pure logic.
//!
//! ```text
//!   generated ──► next ──rotate──► current ──rotate──► retired ──prune──► gone
//!                 published        published            published
//!                 not signing      signing (one)        not signing
//! ```
//!
//! A key is published as `next` before it ever signs, so every JWKS cache has
//! seen it by the time the first token carrying its `kid` arrives. A retired
//! key stays published until every token it signed has expired *and* every
//! cache has refreshed since: `access_ttl + jwks_max_age + margin` after its
//! retirement. Every instance that signs with a key first records on it the
//! access-token lifetime and JWKS max-age it serves with
//! ([`KeyRecord::signed_with`]), and the grace is taken from the longest of
//! those and the pruning process's own policy: a prune run with default
//! flags never removes a key whose tokens an instance issued for longer.
//! Times are Unix seconds passed in by the caller, so the rules are tested
//! without clocks.

use std::fmt;
use std::str::FromStr;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing. Exactly one key is current.
    Current,
    /// Published so that tokens it signed keep validating; no longer signing.
    Retired,
}

impl KeyState {
    /// The name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = RotationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(KeyState::Next),
            "current" => Ok(KeyState::Current),
            "retired" => Ok(KeyState::Retired),
            other => Err(RotationError::UnknownState(other.to_owned())),
        }
    }
}

/// What the rotation rules need to know about one stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Current state.
    pub state: KeyState,
    /// When the key was generated (and, as `next`, first published).
    pub created_at: u64,
    /// When it became `current`.
    pub activated_at: Option<u64>,
    /// When it became `retired`.
    pub retired_at: Option<u64>,
    /// The longest lifetimes declared by the instances that signed (or may
    /// sign) with it; zero where none declared one (keys stored before
    /// instances declared them).
    pub signed_with: Lifetimes,
}

/// The lifetimes a signing instance serves with, recorded on a key before
/// it signs with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// Lifetime of the access (and ID) tokens it issues, seconds.
    pub access_ttl: u64,
    /// The `Cache-Control: max-age` of its `/jwks`, seconds.
    pub jwks_max_age: u64,
}

impl Lifetimes {
    /// Whether `self` covers `other`: neither lifetime is shorter.
    pub fn covers(&self, other: &Lifetimes) -> bool {
        self.access_ttl >= other.access_ttl && self.jwks_max_age >= other.jwks_max_age
    }
}

/// The timing that rotation and pruning must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Lifetime of access tokens, seconds.
    pub access_ttl: u64,
    /// `Cache-Control: max-age` of `/jwks`, seconds.
    pub jwks_max_age: u64,
    /// Extra slack for clock skew and validators' refresh jitter, seconds.
    pub margin: u64,
}

impl RotationPolicy {
    /// Default slack added to every grace period: five minutes.
    pub const DEFAULT_MARGIN: u64 = 300;

    /// A policy with the default margin.
    pub fn new(access_ttl: u64, jwks_max_age: u64) -> Self {
        Self {
            access_ttl,
            jwks_max_age,
            margin: Self::DEFAULT_MARGIN,
        }
    }

    /// The lifetimes this policy serves with, as a signing instance
    /// declares them on its keys.
    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access_ttl: self.access_ttl,
            jwks_max_age: self.jwks_max_age,
        }
    }

    /// How long a retired key stays published by this policy alone.
    pub fn retirement_grace(&self) -> u64 {
        self.access_ttl
            .saturating_add(self.jwks_max_age)
            .saturating_add(self.margin)
    }

    /// How long `key` stays published once retired: this policy's grace, or
    /// longer where an instance that signed with the key declared a longer
    /// access-token lifetime or JWKS max-age.
    pub fn retirement_grace_of(&self, key: &KeyRecord) -> u64 {
        let declared = key.signed_with;
        self.access_ttl
            .max(declared.access_ttl)
            .saturating_add(self.jwks_max_age.max(declared.jwks_max_age))
            .saturating_add(self.margin)
    }

    /// When a retired `key` may be pruned; `None` while it is not retired.
    pub fn prunable_at(&self, key: &KeyRecord) -> Option<u64> {
        match (key.state, key.retired_at) {
            (KeyState::Retired, Some(at)) => Some(at.saturating_add(self.retirement_grace_of(key))),
            _ => None,
        }
    }

    /// Whether `key` may be removed from the key set at `now`.
    pub fn prunable(&self, key: &KeyRecord, now: u64) -> bool {
        self.prunable_at(key).is_some_and(|at| now >= at)
    }

    /// Whether a `next` key has been published long enough that every cache
    /// honouring max-age has seen it.
    pub fn next_is_propagated(&self, key: &KeyRecord, now: u64) -> bool {
        key.state == KeyState::Next && now >= key.created_at.saturating_add(self.jwks_max_age)
    }

    /// When a schedule of one rotation `every` seconds wants the next one:
    /// once the current key has been signing that long. `None` without a
    /// current key (a schedule then rotates at once).
    pub fn rotation_due_at(keys: &[KeyRecord], every: u64) -> Option<u64> {
        keys.iter()
            .find(|k| k.state == KeyState::Current)
            .map(|k| k.activated_at.unwrap_or(k.created_at).saturating_add(every))
    }

    /// Plans a rotation: `next` → `current`, `current` → `retired`. The caller
    /// then generates a fresh `next` in the same transaction.
    ///
    /// A `next` key younger than the JWKS max-age is refused unless a manual
    /// rotation is forced: validators may not have seen it yet. A scheduled
    /// rotation is refused until it is due, so that of several instances
    /// sharing one schedule the first to find it due rotates and the others
    /// find it done.
    pub fn plan_rotation(
        &self,
        keys: &[KeyRecord],
        now: u64,
        trigger: RotationTrigger,
    ) -> Result<RotationPlan, RotationError> {
        check_invariants(keys)?;
        if let RotationTrigger::Scheduled { every } = trigger {
            match Self::rotation_due_at(keys, every) {
                Some(due_at) if now < due_at => return Err(RotationError::NotDue { due_at }),
                _ => {}
            }
        }
        let force = trigger == RotationTrigger::Manual { force: true };
        let next = keys
            .iter()
            .find(|k| k.state == KeyState::Next)
            .ok_or(RotationError::NoNextKey)?;
        if !force && !self.next_is_propagated(next, now) {
            return Err(RotationError::NextTooYoung {
                kid: next.kid.clone(),
                published_for: now.saturating_sub(next.created_at),
                needed: self.jwks_max_age,
            });
        }
        let current = keys.iter().find(|k| k.state == KeyState::Current);
        Ok(RotationPlan {
            promote: next.kid.clone(),
            retire: current.map(|k| k.kid.clone()),
        })
    }

    /// The kids that may be pruned at `now`.
    pub fn prunable_kids(&self, keys: &[KeyRecord], now: u64) -> Vec<String> {
        keys.iter()
            .filter(|k| self.prunable(k, now))
            .map(|k| k.kid.clone())
            .collect()
    }
}

/// What asks for a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationTrigger {
    /// An operator (`idp keys rotate`, the admin API); `force` rotates even
    /// while the next key is younger than the JWKS max-age.
    Manual {
        /// Rotate anyway.
        force: bool,
    },
    /// The `--rotate-every` schedule: only once the current key has been
    /// signing for `every` seconds, never forced.
    Scheduled {
        /// The schedule's period, seconds.
        every: u64,
    },
}

/// The state changes one rotation makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPlan {
    /// The `next` key that becomes `current`.
    pub promote: String,
    /// The `current` key that becomes `retired`, if there was one.
    pub retire: Option<String>,
}

/// Why a key set or a rotation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// There is no `next` key to promote.
    #[error("there is no next key to promote")]
    NoNextKey,
    /// The `next` key has not been published for a full JWKS max-age.
    #[error("next key {kid} has been published for {published_for}s, less than the JWKS max-age of {needed}s; validators may not have it yet (use --force to rotate anyway)")]
    NextTooYoung {
        /// The key.
        kid: String,
        /// Seconds since it was published.
        published_for: u64,
        /// Seconds it must be published first.
        needed: u64,
    },
    /// A scheduled rotation is not due yet (another instance may have just
    /// done it).
    #[error("the next scheduled rotation is due at {due_at}")]
    NotDue {
        /// Unix seconds.
        due_at: u64,
    },
    /// The key set breaks an invariant (several current keys, several next).
    #[error("inconsistent key set: {0}")]
    Inconsistent(String),
    /// A state name not known to this version.
    #[error("unknown key state {0:?}")]
    UnknownState(String),
}

/// Checks that at most one key is `current` and at most one is `next`.
pub fn check_invariants(keys: &[KeyRecord]) -> Result<(), RotationError> {
    let count = |state| keys.iter().filter(|k| k.state == state).count();
    match (count(KeyState::Current), count(KeyState::Next)) {
        (c, _) if c > 1 => Err(RotationError::Inconsistent(format!("{c} current keys"))),
        (_, n) if n > 1 => Err(RotationError::Inconsistent(format!("{n} next keys"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, state: KeyState, created_at: u64) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            state,
            created_at,
            activated_at: (state != KeyState::Next).then_some(created_at),
            retired_at: (state == KeyState::Retired).then_some(created_at + 10),
            signed_with: Lifetimes::default(),
        }
    }

    const POLICY: RotationPolicy = RotationPolicy {
        access_ttl: 900,
        jwks_max_age: 300,
        margin: 300,
    };
    const MANUAL: RotationTrigger = RotationTrigger::Manual { force: false };
    const FORCED: RotationTrigger = RotationTrigger::Manual { force: true };

    #[test]
    fn a_scheduled_rotation_waits_until_the_current_key_has_signed_its_period() {
        let mut keys = vec![key("a", KeyState::Current, 0), key("b", KeyState::Next, 0)];
        keys[0].activated_at = Some(1000);
        assert_eq!(RotationPolicy::rotation_due_at(&keys, 600), Some(1600));
        let scheduled = RotationTrigger::Scheduled { every: 600 };
        assert_eq!(
            POLICY.plan_rotation(&keys, 1599, scheduled),
            Err(RotationError::NotDue { due_at: 1600 })
        );
        let plan = POLICY.plan_rotation(&keys, 1600, scheduled).expect("due");
        assert_eq!(plan.promote, "b");
        // Due, but the next key is too young: a schedule is never forced.
        keys[1].created_at = 1500;
        assert!(matches!(
            POLICY.plan_rotation(&keys, 1700, scheduled),
            Err(RotationError::NextTooYoung { .. })
        ));
        assert_eq!(RotationPolicy::rotation_due_at(&keys[1..], 600), None);
    }

    #[test]
    fn rotation_promotes_next_and_retires_current() {
        let keys = [key("a", KeyState::Current, 0), key("b", KeyState::Next, 0)];
        let plan = POLICY.plan_rotation(&keys, 300, MANUAL).expect("allowed");
        assert_eq!(plan.promote, "b");
        assert_eq!(plan.retire.as_deref(), Some("a"));
    }

    #[test]
    fn a_next_key_younger_than_max_age_needs_force() {
        let keys = [
            key("a", KeyState::Current, 0),
            key("b", KeyState::Next, 100),
        ];
        let err = POLICY
            .plan_rotation(&keys, 399, MANUAL)
            .expect_err("must be refused");
        assert_eq!(
            err,
            RotationError::NextTooYoung {
                kid: "b".into(),
                published_for: 299,
                needed: 300
            }
        );
        assert!(POLICY.plan_rotation(&keys, 399, FORCED).is_ok());
        assert!(POLICY.plan_rotation(&keys, 400, MANUAL).is_ok());
    }

    #[test]
    fn rotation_without_next_is_refused() {
        let keys = [key("a", KeyState::Current, 0)];
        assert_eq!(
            POLICY.plan_rotation(&keys, 10_000, FORCED),
            Err(RotationError::NoNextKey)
        );
    }

    #[test]
    fn two_current_keys_are_inconsistent() {
        let keys = [
            key("a", KeyState::Current, 0),
            key("b", KeyState::Current, 0),
            key("c", KeyState::Next, 0),
        ];
        assert!(matches!(
            POLICY.plan_rotation(&keys, 10_000, FORCED),
            Err(RotationError::Inconsistent(_))
        ));
    }

    #[test]
    fn retired_keys_are_pruned_only_after_ttl_plus_max_age_plus_margin() {
        let retired = key("old", KeyState::Retired, 0); // retired at 10
        assert_eq!(POLICY.retirement_grace(), 1500);
        assert!(!POLICY.prunable(&retired, 10 + 1499));
        assert!(POLICY.prunable(&retired, 10 + 1500));
        for state in [KeyState::Current, KeyState::Next] {
            assert!(!POLICY.prunable(&key("k", state, 0), u64::MAX));
        }
    }

    #[test]
    fn a_key_signed_for_longer_than_the_pruning_policy_says_stays_that_much_longer() {
        let mut retired = key("old", KeyState::Retired, 0); // retired at 10
        retired.signed_with = Lifetimes {
            access_ttl: 3600,
            jwks_max_age: 60,
        };
        // 3600 declared + 300 of the policy's max-age (the longer) + 300.
        assert_eq!(POLICY.retirement_grace_of(&retired), 4200);
        assert_eq!(POLICY.prunable_at(&retired), Some(4210));
        assert!(!POLICY.prunable(&retired, 10 + POLICY.retirement_grace()));
        assert!(!POLICY.prunable(&retired, 4209));
        assert!(POLICY.prunable(&retired, 4210));
        // Declared lifetimes shorter than the policy's change nothing.
        retired.signed_with = Lifetimes {
            access_ttl: 60,
            jwks_max_age: 60,
        };
        assert_eq!(
            POLICY.retirement_grace_of(&retired),
            POLICY.retirement_grace()
        );
        assert_eq!(POLICY.prunable_at(&key("k", KeyState::Current, 0)), None);
    }

    #[test]
    fn lifetimes_cover_only_when_neither_is_shorter() {
        let l = |access_ttl, jwks_max_age| Lifetimes {
            access_ttl,
            jwks_max_age,
        };
        assert!(l(900, 300).covers(&l(900, 300)));
        assert!(l(3600, 300).covers(&l(900, 300)));
        assert!(!l(3600, 60).covers(&l(900, 300)));
        assert!(!Lifetimes::default().covers(&l(1, 0)));
    }

    #[test]
    fn state_names_round_trip() {
        for state in [KeyState::Next, KeyState::Current, KeyState::Retired] {
            assert_eq!(state.as_str().parse::<KeyState>(), Ok(state));
        }
        assert!("active".parse::<KeyState>().is_err());
    }
}
