//! The demo's `/metrics`: the request-duration histogram every request
//! records (`serve::observe`), and gauges read at each scrape from the
//! library's caches, the signals an operator alerts on:
//!
//! | metric | what |
//! |---|---|
//! | `rs_jwks_age_seconds` | time since the JWKS was last fetched successfully |
//! | `rs_jwks_refresh_failures_total` | failed JWKS fetches since start |
//! | `rs_revocation_feed_staleness_seconds` | time since the revocation feed last answered (absent when the feed is off) |
//! | `rs_revoked_entries` | revoked tokens, sessions, clients and subjects held |
//! | `rs_cached_tokens` | tokens in the verified-token cache |

use metrics::Unit;
use resource_server::{JwksCache, RevocationList, Validator};

/// What the gauges are read from.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    pub(crate) metrics: serve::Metrics,
    pub(crate) jwks: JwksCache,
    pub(crate) revocations: Option<RevocationList>,
    pub(crate) validator: Validator,
}

impl Sources {
    /// Describes the demo's metrics once.
    pub(crate) fn describe(&self) {
        self.metrics.scope(|| {
            metrics::describe_histogram!(
                serve::REQUEST_DURATION,
                Unit::Seconds,
                "Time from request to response, per method, route template and status."
            );
            metrics::describe_gauge!(
                "rs_jwks_age_seconds",
                Unit::Seconds,
                "Time since the JWKS was last fetched successfully."
            );
            metrics::describe_counter!(
                "rs_jwks_refresh_failures_total",
                "Failed JWKS fetches since start."
            );
            metrics::describe_gauge!(
                "rs_revocation_feed_staleness_seconds",
                Unit::Seconds,
                "Time since the revocation feed was last fetched successfully."
            );
            metrics::describe_gauge!(
                "rs_revoked_entries",
                "Revoked tokens, sessions, clients and subjects held."
            );
            metrics::describe_gauge!(
                "rs_cached_tokens",
                "Tokens in the verified-token cache (cached on their second verification)."
            );
        });
    }

    /// Sets the gauges to what the caches say now.
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    pub(crate) fn read(&self) {
        self.metrics.scope(|| {
            if let Some(age) = self.jwks.age() {
                metrics::gauge!("rs_jwks_age_seconds").set(age.as_secs_f64());
            }
            metrics::counter!("rs_jwks_refresh_failures_total")
                .absolute(self.jwks.refresh_failures());
            if let Some(list) = &self.revocations {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if let Some(stale) = list.staleness(now) {
                    metrics::gauge!("rs_revocation_feed_staleness_seconds")
                        .set(stale.as_secs_f64());
                }
                metrics::gauge!("rs_revoked_entries").set(list.len() as f64);
            }
            metrics::gauge!("rs_cached_tokens").set(self.validator.cached_tokens() as f64);
        });
    }
}
