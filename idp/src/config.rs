//! What a running IdP is configured with: [`Config`], built from the
//! command line (`cli/args.rs`) or by hand in tests and embedders, with
//! defaults that work out of the box.

use std::time::Duration;

use crate::mail::MailConfig;
use crate::store::{DbLocation, StoreOptions};

/// Everything `idp serve` is configured with.
#[derive(Clone)]
pub struct Config {
    /// Issuer URL; default `http://<bound address>`.
    pub issuer: Option<String>,
    /// Audience of access tokens; default the issuer.
    pub audience: Option<String>,
    /// The database: an SQLite file or a PostgreSQL URL.
    pub db: DbLocation,
    /// Base64 of 32 bytes for encrypting private keys at rest.
    pub key_encryption_key: Option<String>,
    /// While rotating that key: the one being replaced (opens only).
    pub previous_key_encryption_key: Option<String>,
    /// Access-token lifetime, seconds.
    pub access_ttl: u64,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: u64,
    /// Browser sign-in session lifetime, seconds.
    pub session_ttl: u64,
    /// `/jwks` max-age, seconds.
    pub jwks_max_age: u64,
    /// Extra seconds a retired key stays published.
    pub prune_margin: u64,
    /// Scheduled rotation.
    pub rotate_every: Option<Duration>,
    /// RSA size of new keys.
    pub key_bits: u32,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Password hashes computed at once (eight more per worker may wait).
    pub hash_workers: usize,
    /// Key-change polling interval.
    pub key_poll: Duration,
    /// Login attempts per minute per client address; 0 = unlimited.
    pub login_rate: u32,
    /// Counting slots of the attempt limits (the cap on their rows).
    pub throttle_slots: u64,
    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client
    /// address; empty: the peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PostgreSQL pool size and timeouts.
    pub store: StoreOptions,
    /// Connections held at once (below the open-file limit).
    pub max_connections: usize,
    /// Where mail goes: an SMTP relay or the outbox directory.
    pub mail: MailConfig,
    /// Accounts sign in only once their email is verified, and signup
    /// answers alike for new and taken addresses.
    pub require_email_verification: bool,
    /// Serve `/metrics` on this address alone, not beside the API.
    pub metrics_bind: Option<std::net::SocketAddr>,
}

/// Everything but the encryption key, which is only said to be set or not.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("db", &self.db)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "previous_key_encryption_key",
                &self.previous_key_encryption_key.as_ref().map(|_| "<set>"),
            )
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("session_ttl", &self.session_ttl)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("prune_margin", &self.prune_margin)
            .field("rotate_every", &self.rotate_every)
            .field("key_bits", &self.key_bits)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("hash_workers", &self.hash_workers)
            .field("key_poll", &self.key_poll)
            .field("login_rate", &self.login_rate)
            .field("throttle_slots", &self.throttle_slots)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("store", &self.store)
            .field("max_connections", &self.max_connections)
            .field("mail", &self.mail)
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .field("metrics_bind", &self.metrics_bind)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            db: DbLocation::Sqlite("idp.db".into()),
            key_encryption_key: None,
            previous_key_encryption_key: None,
            access_ttl: 900,
            refresh_ttl: 1_209_600,
            session_ttl: 86_400,
            jwks_max_age: 300,
            prune_margin: ::keys::RotationPolicy::DEFAULT_MARGIN,
            rotate_every: None,
            key_bits: 2048,
            bcrypt_cost: 12,
            hash_workers: crate::passwords::default_workers(),
            key_poll: Duration::from_secs(2),
            login_rate: 60,
            throttle_slots: crate::throttle::DEFAULT_SLOTS,
            trusted_proxies: Vec::new(),
            store: StoreOptions::default(),
            max_connections: serve::ServeConfig::default().max_connections,
            mail: MailConfig::default(),
            require_email_verification: false,
            metrics_bind: None,
        }
    }
}

impl Config {
    /// The rotation policy these lifetimes imply.
    pub fn rotation_policy(&self) -> ::keys::RotationPolicy {
        ::keys::RotationPolicy {
            access_ttl: self.access_ttl,
            jwks_max_age: self.jwks_max_age,
            margin: self.prune_margin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_does_not_show_the_encryption_key() {
        let config = Config {
            key_encryption_key: Some("c2VjcmV0IGtleSBtYXRlcmlhbA==".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("<set>"), "{shown}");
    }
}
