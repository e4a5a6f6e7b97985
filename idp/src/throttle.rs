//! Attempt limits: which counters an attempt is charged against, and the
//! keys they are counted under. The counting itself happens in the
//! database (`store::Throttle`), so every instance on one database shares
//! it; `accounts::limits` is the one place attempts meet it.
//!
//! An attempt (a password check, a second-factor code, a reset request) is
//! charged, before any slow work, against:
//!
//! * its client address: `--login-rate` attempts per minute (0: none);
//! * its email and address together: [`EMAIL_LIMIT`] per
//!   [`EMAIL_WINDOW`];
//! * its email alone, unless that address signed in to that account in
//!   the last [`TRUST_PERIOD`]: [`EMAIL_LIMIT`] per [`EMAIL_WINDOW`]
//!   whatever the concurrency, so guessing is bounded, while the owner's
//!   usual addresses are limited per email and address only and strangers
//!   cannot lock the owner out.
//!
//! A right answer gives back its email charges (it was not a guess); a
//! wrong one keeps them.
//!
//! Memory and rows stay bounded by configuration, not by the attacker:
//! every key is a keyed SHA-256 digest of the normalized email (and
//! address), reduced to one of a fixed number of slots (`--throttle-slots`).
//! Keys that share a slot share a budget, which can only make a limit
//! stricter; the digest is keyed with a random per-deployment secret, so
//! nobody can pick an email whose slot is someone else's. A 1 MB email
//! costs one slot, like a short one.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::store::ThrottleCharge;

/// Password checks per email (or email and address) per window.
pub const EMAIL_LIMIT: u32 = 10;
/// The email limits' window, seconds.
pub const EMAIL_WINDOW: u64 = 15 * 60;
/// The per-address rate's window, seconds.
pub const ADDRESS_WINDOW: u64 = 60;
/// How long a successful sign-in vouches for its address, seconds.
pub const TRUST_PERIOD: u64 = 30 * 86_400;
/// Default number of slots: about 40 MB of rows at most.
pub const DEFAULT_SLOTS: u64 = 1 << 20;

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts per minute per client address; 0 for no such limit.
    pub address_rate: u32,
    /// How many counting slots exist (the cap on throttle rows).
    pub slots: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            address_rate: 60,
            slots: DEFAULT_SLOTS,
        }
    }
}

/// One counter an attempt is charged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Where and how it counts.
    pub charge: ThrottleCharge,
    /// Whether a right answer gives it back.
    pub refundable: bool,
}

/// The form of an email its limits are keyed by: the one accounts are
/// unique by (trimmed, lower-cased by Unicode's rules), so `ÄNN@x` and
/// `änn@x` are one.
pub fn normalize_email(email: &str) -> String {
    crate::store::email_key(email)
}

/// A keyed digest of `parts`, each length-prefixed so that no two lists
/// of parts digest alike.
fn keyed(secret: &[u8], kind: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((secret.len() as u64).to_be_bytes());
    hash.update(secret);
    hash.update(kind.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

fn address_bytes(address: IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        // An IPv6 client controls at least its /64: count it as one.
        IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
    }
}

/// The key under which a successful sign-in of `email` (normalized) from
/// `address` is remembered.
pub fn trust_key(secret: &[u8], email: &str, address: IpAddr) -> [u8; 32] {
    keyed(
        secret,
        "trusted",
        &[email.as_bytes(), &address_bytes(address)],
    )
}

impl ThrottlePolicy {
    /// The per-address rate's charge, if there is an address and a rate.
    pub fn address_charge(&self, secret: &[u8], address: Option<IpAddr>) -> Option<ThrottleCharge> {
        let address = address.filter(|_| self.address_rate > 0)?;
        Some(ThrottleCharge {
            slot: self.slot(keyed(secret, "address", &[&address_bytes(address)])),
            limit: self.address_rate,
            window: ADDRESS_WINDOW,
        })
    }

    fn slot(&self, digest: [u8; 32]) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.slots.max(1)
    }

    /// The charges of an attempt about `email` (normalized) from
    /// `address`; `trusted` when that address signed in to the account
    /// within [`TRUST_PERIOD`].
    pub fn charges(
        &self,
        secret: &[u8],
        email: &str,
        address: Option<IpAddr>,
        trusted: bool,
    ) -> Vec<Charge> {
        let per_email = |digest| Charge {
            charge: ThrottleCharge {
                slot: self.slot(digest),
                limit: EMAIL_LIMIT,
                window: EMAIL_WINDOW,
            },
            refundable: true,
        };
        let mut charges = Vec::with_capacity(3);
        if let Some(charge) = self.address_charge(secret, address) {
            charges.push(Charge {
                charge,
                refundable: false,
            });
        }
        if let Some(address) = address {
            let address = address_bytes(address);
            charges.push(per_email(keyed(
                secret,
                "email+address",
                &[email.as_bytes(), &address],
            )));
        }
        if !trusted || address.is_none() {
            charges.push(per_email(keyed(secret, "email", &[email.as_bytes()])));
        }
        charges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn strangers_are_charged_per_email_and_the_owners_address_is_not() {
        let policy = ThrottlePolicy::default();
        let stranger = policy.charges(SECRET, "ann@example.com", ip("192.0.2.1"), false);
        let owner = policy.charges(SECRET, "ann@example.com", ip("192.0.2.2"), true);
        assert_eq!(stranger.len(), 3);
        assert_eq!(owner.len(), 2);
        // The email-wide slot is the stranger's last charge; the owner's
        // charges never include it.
        let email_slot = stranger[2].charge.slot;
        assert!(owner.iter().all(|c| c.charge.slot != email_slot));
        assert!(!stranger[0].refundable && stranger[1].refundable && stranger[2].refundable);
    }

    #[test]
    fn emails_fold_case_by_unicode_rules() {
        assert_eq!(normalize_email(" ÄNN@Example.COM "), "änn@example.com");
        let policy = ThrottlePolicy::default();
        assert_eq!(
            policy.charges(SECRET, &normalize_email("ÄNN@x.org"), None, false),
            policy.charges(SECRET, &normalize_email("änn@x.org"), None, false)
        );
    }

    #[test]
    fn slots_stay_within_the_cap_whatever_the_key() {
        let policy = ThrottlePolicy {
            address_rate: 60,
            slots: 16,
        };
        let long = "a".repeat(1 << 20);
        for charge in policy.charges(SECRET, &long, ip("2001:db8::1"), false) {
            assert!(charge.charge.slot < 16);
        }
    }

    #[test]
    fn the_secret_decides_the_slots() {
        let policy = ThrottlePolicy::default();
        let a = policy.charges(SECRET, "ann@example.com", None, false);
        let b = policy.charges(b"another secret", "ann@example.com", None, false);
        assert_ne!(a, b);
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        let policy = ThrottlePolicy::default();
        assert_eq!(
            policy.charges(SECRET, "a@b.c", ip("2001:db8::1"), false),
            policy.charges(SECRET, "a@b.c", ip("2001:db8::ffff:1"), false)
        );
    }
}
