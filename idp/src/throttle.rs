//! Login throttling.
//!
//! bcrypt makes every login attempt cost a quarter of a second of CPU, so
//! unlimited attempts are both a password-guessing and a denial-of-service
//! risk. Two token buckets guard `/login`, checked before any hashing:
//!
//! * per client address: a burst of 30 attempts, then `--login-rate` per
//!   minute (60 by default; 0 turns it off for deployments behind a proxy
//!   that hides client addresses);
//! * per email, counting failures only: 10 failures, then one more per
//!   minute. Unknown and known emails are counted alike, so the limit
//!   reveals nothing about which accounts exist; a successful login does
//!   not reset it (an attacker who guesses right is not rewarded with a
//!   fresh budget).
//!
//! Both maps are bounded: when one grows past its cap, entries whose
//! bucket has refilled (and so carry no information) are dropped first.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket's shape.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens when full.
    pub burst: f64,
    /// Seconds for one token to come back.
    pub per: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Keyed token buckets.
#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    cap: usize,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(rate: Rate, cap: usize) -> Self {
        Self {
            rate,
            cap,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed / self.rate.per.as_secs_f64()).min(self.rate.burst);
        bucket.at = now;
    }

    /// Whether `key` has a token left (without taking it); if not, how long
    /// until it has.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = map.get_mut(key) else {
            return Ok(());
        };
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.rate.per.mul_f64(1.0 - bucket.tokens))
        }
    }

    /// Takes a token from `key`'s bucket (it may go empty, never negative).
    fn take(&self, key: K, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.cap && !map.contains_key(&key) {
            let rate = self.rate;
            map.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + elapsed / rate.per.as_secs_f64() < rate.burst
            });
            if map.len() >= self.cap {
                // Still full of active keys: forget the whole table rather
                // than grow without bound.
                map.clear();
            }
        }
        let burst = self.rate.burst;
        let bucket = map.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        self.refill(bucket, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }
}

/// The `/login` limits.
#[derive(Debug)]
pub struct LoginThrottle {
    per_address: Option<Buckets<IpAddr>>,
    per_email: Buckets<String>,
}

/// How many keys each map keeps at most.
const MAX_TRACKED: usize = 100_000;

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_address_rate(60)
    }
}

impl LoginThrottle {
    /// The default limits with `per_minute` attempts per address (burst 30);
    /// 0 means no per-address limit.
    pub fn with_address_rate(per_minute: u32) -> Self {
        let per_address = match per_minute {
            0 => None,
            n => Some(Rate {
                burst: 30.0,
                per: Duration::from_secs(60).div_f64(f64::from(n)),
            }),
        };
        let per_email_failure = Rate {
            burst: 10.0,
            per: Duration::from_secs(60),
        };
        Self {
            per_address: per_address.map(|rate| Buckets::new(rate, MAX_TRACKED)),
            per_email: Buckets::new(per_email_failure, MAX_TRACKED),
        }
    }

    /// Limits with the given rates.
    pub fn new(per_address: Rate, per_email_failure: Rate) -> Self {
        Self {
            per_address: Some(Buckets::new(per_address, MAX_TRACKED)),
            per_email: Buckets::new(per_email_failure, MAX_TRACKED),
        }
    }

    /// Admits an attempt from `address` for `email` at `now`, counting it
    /// against the address; or says how long to wait.
    pub fn admit(
        &self,
        address: Option<IpAddr>,
        email: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        self.per_email.check(&normalize(email), now)?;
        if let (Some(limits), Some(address)) = (&self.per_address, address) {
            limits.check(&address, now)?;
            limits.take(address, now);
        }
        Ok(())
    }

    /// Records a failed attempt for `email`.
    pub fn failed(&self, email: &str, now: Instant) {
        self.per_email.take(normalize(email), now);
    }
}

/// Emails are unique without regard to case, and so are their limits.
fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(
            Rate {
                burst: 3.0,
                per: Duration::from_secs(1),
            },
            Rate {
                burst: 2.0,
                per: Duration::from_secs(60),
            },
        )
    }

    #[test]
    fn addresses_get_a_burst_then_one_per_period() {
        let t = throttle();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let start = Instant::now();
        for i in 0..3 {
            assert!(t
                .admit(Some(ip), &format!("u{i}@example.com"), start)
                .is_ok());
        }
        let wait = t
            .admit(Some(ip), "u9@example.com", start)
            .expect_err("limited");
        assert!(wait <= Duration::from_secs(1));
        assert!(t
            .admit(
                Some("192.0.2.2".parse().expect("ip")),
                "x@example.com",
                start
            )
            .is_ok());
        assert!(t
            .admit(
                Some(ip),
                "u9@example.com",
                start + Duration::from_millis(1100)
            )
            .is_ok());
    }

    #[test]
    fn failures_per_email_are_limited_whatever_the_case() {
        let t = throttle();
        let start = Instant::now();
        t.failed("Ann@Example.com", start);
        assert!(t.admit(None, "ann@example.com", start).is_ok());
        t.failed("ann@example.com", start);
        let wait = t
            .admit(None, "ANN@example.com", start)
            .expect_err("limited");
        assert!(wait > Duration::from_secs(59));
        assert!(t.admit(None, "bob@example.com", start).is_ok());
        assert!(t
            .admit(None, "ann@example.com", start + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn maps_stay_bounded() {
        let b: Buckets<u32> = Buckets::new(
            Rate {
                burst: 1.0,
                per: Duration::from_secs(3600),
            },
            100,
        );
        let now = Instant::now();
        for key in 0..1000 {
            b.take(key, now);
        }
        assert!(b.map.lock().expect("lock").len() <= 100);
    }
}
