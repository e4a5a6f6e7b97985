//! What the IdP counts, for `/metrics`: counters incremented where things
//! happen, gauges read at scrape time, and the request-duration histogram
//! that every request records (`serve::observe`).
//!
//! All of it lives in the IdP's own [`serve::Metrics`] registry (one per
//! server, so two IdPs in one process count apart) and is written out by
//! `metrics-exporter-prometheus`. The counters are handles registered once,
//! so incrementing one on the request path is an atomic add.

use metrics::{Counter, Unit};

/// The IdP's counters, registered in its registry.
#[derive(Debug)]
pub struct Metrics {
    registry: serve::Metrics,
    /// Accounts created.
    pub signups: Counter,
    /// Successful logins.
    pub logins: Counter,
    /// Refused logins (unknown email or wrong password).
    pub login_failures: Counter,
    /// Passwords checked against a hash (bcrypt runs), whatever the outcome.
    pub password_checks: Counter,
    /// New passwords hashed (signup, change, reset).
    pub password_hashes: Counter,
    /// Access tokens issued by client_credentials.
    pub client_credentials_tokens: Counter,
    /// Access tokens issued by refresh.
    pub refreshed_tokens: Counter,
    /// Access tokens issued for authorization codes.
    pub authorization_code_tokens: Counter,
    /// Authorization codes presented a second time (grants revoked).
    pub code_replays: Counter,
    /// Successful sign-ins on the sign-in page.
    pub browser_sign_ins: Counter,
    /// Refresh tokens presented a second time (families revoked).
    pub refresh_reuse: Counter,
    /// Failed client authentications.
    pub client_auth_failures: Counter,
    /// Access tokens revoked (revoke and logout).
    pub revocations: Counter,
}

/// Adds one.
pub fn inc(counter: &Counter) {
    counter.increment(1);
}

/// What is read, not counted, at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Keys published at `/jwks`.
    pub published_keys: usize,
    /// Unexpired revoked tokens in the feed.
    pub revoked_tokens: usize,
    /// Password checks waiting for a bcrypt slot.
    pub password_queue: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(serve::Metrics::new())
    }
}

impl Metrics {
    /// The counters, registered in `registry`, all starting at zero.
    pub fn new(registry: serve::Metrics) -> Self {
        let counter = |name: &'static str, help: &'static str| {
            registry.scope(|| {
                metrics::describe_counter!(name, help);
                let counter = metrics::counter!(name);
                // Shown at 0 before the first event, as before.
                counter.absolute(0);
                counter
            })
        };
        let this = Self {
            signups: counter("idp_signups_total", "Accounts created."),
            logins: counter("idp_logins_total", "Successful logins."),
            login_failures: counter("idp_login_failures_total", "Refused logins."),
            password_checks: counter(
                "idp_password_checks_total",
                "Passwords checked against a stored hash (bcrypt runs).",
            ),
            password_hashes: counter(
                "idp_password_hashes_total",
                "New passwords hashed (bcrypt runs).",
            ),
            client_credentials_tokens: counter(
                "idp_client_credentials_tokens_total",
                "Access tokens issued by the client_credentials grant.",
            ),
            refreshed_tokens: counter(
                "idp_refreshed_tokens_total",
                "Access tokens issued by the refresh_token grant.",
            ),
            authorization_code_tokens: counter(
                "idp_authorization_code_tokens_total",
                "Access tokens issued by the authorization_code grant.",
            ),
            code_replays: counter(
                "idp_authorization_code_replays_total",
                "Used authorization codes presented again (grant revoked).",
            ),
            browser_sign_ins: counter(
                "idp_browser_sign_ins_total",
                "Successful sign-ins on the sign-in page.",
            ),
            refresh_reuse: counter(
                "idp_refresh_token_reuse_total",
                "Used refresh tokens presented again (session revoked).",
            ),
            client_auth_failures: counter(
                "idp_client_auth_failures_total",
                "Failed client authentications.",
            ),
            revocations: counter("idp_revocations_total", "Access tokens revoked."),
            registry,
        };
        this.registry.scope(|| {
            metrics::describe_histogram!(
                serve::REQUEST_DURATION,
                Unit::Seconds,
                "Time from request to response, per method, route template and status."
            );
        });
        this
    }

    /// The registry: `/metrics` renders it, requests record into it.
    pub fn registry(&self) -> &serve::Metrics {
        &self.registry
    }

    /// The value a counter (or gauge) named `name`, without labels, shows
    /// in the exposition now; `0` if it is not there.
    pub fn value(&self, name: &str) -> u64 {
        self.registry
            .render()
            .lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|value| value.trim().parse::<f64>().ok())
            // Counters are whole numbers far below 2^52.
            .map_or(0, |v| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let v = v as u64;
                v
            })
    }

    /// Sets the gauges and returns the whole exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        self.registry.scope(|| {
            let gauge = |name: &'static str, help: &'static str, value: usize| {
                metrics::describe_gauge!(name, help);
                // Counts far below 2^52 are exact in an f64.
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(name).set(value as f64);
            };
            gauge(
                "idp_published_keys",
                "Keys published at /jwks.",
                gauges.published_keys,
            );
            gauge(
                "idp_revoked_tokens",
                "Unexpired revoked tokens in the feed.",
                gauges.revoked_tokens,
            );
            gauge(
                "idp_password_hash_queue",
                "Password checks waiting for a bcrypt slot.",
                gauges.password_queue,
            );
        });
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        inc(&m.logins);
        inc(&m.logins);
        let text = m.render(Gauges {
            published_keys: 3,
            revoked_tokens: 1,
            password_queue: 0,
        });
        assert!(text.contains("\nidp_logins_total 2\n"), "{text}");
        assert!(text.contains("\nidp_signups_total 0\n"), "{text}");
        assert!(text.contains("# TYPE idp_published_keys gauge\nidp_published_keys 3\n"));
        assert!(text.contains("idp_revoked_tokens 1\n"));
        assert!(text.contains("idp_password_hash_queue 0\n"));
    }

    #[test]
    fn two_registries_count_apart() {
        let (a, b) = (Metrics::default(), Metrics::default());
        inc(&a.signups);
        assert!(a
            .render(Gauges::default())
            .contains("idp_signups_total 1\n"));
        assert!(b
            .render(Gauges::default())
            .contains("idp_signups_total 0\n"));
    }
}
