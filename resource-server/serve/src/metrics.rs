//! [`Metrics`]: one server's Prometheus registry, and the `/metrics` route
//! that exposes it.
//!
//! Each server (each IdP or resource server in a process) owns its
//! registry rather than sharing the `metrics` crate's global recorder: two
//! servers in one test process, or an IdP embedding a resource server, then
//! count apart. Code records into it inside [`Metrics::scope`] (the
//! `metrics` macros then reach this registry) or through the handles it
//! registers. The exposition is written by `metrics-exporter-prometheus`.
//!
//! Histograms are kept as cumulative buckets (`_bucket`, `_sum`, `_count`)
//! with the bounds of [`LATENCY_BUCKETS`], so they can be summed across
//! instances and turned into quantiles by PromQL's `histogram_quantile`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// The request-duration histogram both servers export.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// Upper bounds, in seconds, of the request-duration buckets: 1 ms to
/// 10 s, dense where token endpoints (bcrypt, RSA signing) answer.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often recorded histogram samples are folded into their buckets
/// between scrapes, so memory stays flat when nobody scrapes. Samples wait
/// as raw values until then: at 20,000 requests a second, each second is
/// 160 KB of them.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// A server's metrics registry (cheap to clone).
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry whose request-duration histogram has the bounds
    /// of [`LATENCY_BUCKETS`]. Inside a tokio runtime, also starts the
    /// task that folds samples into buckets; it ends with the registry.
    pub fn new() -> Self {
        let recorder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), &LATENCY_BUCKETS)
        {
            Ok(builder) => builder.build_recorder(),
            // Only an empty bucket list is refused; ours is not empty.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let recorder = Arc::new(recorder);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(upkeep(Arc::downgrade(&recorder)));
        }
        Self { recorder }
    }

    /// Runs `record` with this registry as the `metrics` recorder: the
    /// `counter!`, `gauge!` and `histogram!` macros inside reach it.
    ///
    /// ```
    /// let metrics = serve::Metrics::new();
    /// metrics.scope(|| metrics::gauge!("queue_length").set(3.0));
    /// assert!(metrics.render().contains("queue_length 3"));
    /// ```
    pub fn scope<T>(&self, record: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, record)
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// A router serving `GET /metrics` with [`render`](Self::render)'s text
    /// after `before_scrape` has set the gauges that are read, not counted.
    pub fn router<F>(&self, before_scrape: F) -> Router
    where
        F: Fn() + Clone + Send + Sync + 'static,
    {
        let metrics = self.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                before_scrape();
                let body = metrics.render();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response()
                }
            }),
        )
    }
}

async fn upkeep(recorder: Weak<PrometheusRecorder>) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(recorder) = recorder.upgrade() else {
            return;
        };
        recorder.handle().run_upkeep();
    }
}
