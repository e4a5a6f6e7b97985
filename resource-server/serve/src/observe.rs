//! What every request leaves behind: a request id, one log line, and a
//! latency observation.
//!
//! [`observe`] wraps a router, for both servers, in:
//! - a request id: an incoming `X-Request-Id` is kept when it is a sane
//!   token (1 to 128 characters of `A-Z a-z 0-9 - _ . : @`; anything else
//!   could forge or break log lines and is replaced), otherwise a UUID v4
//!   is made; either way it is returned in the response's `X-Request-Id`
//!   (tower-http's `request_id`);
//! - a `request` span holding `request_id`, `method` and `route` (the
//!   route template, `/clients/{id}`, never the path a client sent nor its
//!   query string, which can carry codes and tokens; no header is ever
//!   logged), and one line per answered request with `status` and
//!   `duration_ms` (tower-http's `trace`); every line logged while the
//!   request is handled carries the same span, so it can be correlated;
//! - the histogram `http_request_duration_seconds{method,route,status}`
//!   in the server's own registry ([`Metrics`]).
//!
//! Requests no route matched are labelled with the route `unmatched`, and
//! methods outside RFC 9110's with `OTHER`, so a scan of random paths or
//! methods cannot blow up the metrics' label sets.
//!
//! Every layer here is a plain tower service: nothing is boxed or cloned
//! per request, and the histogram handle of each label set is looked up
//! without allocating (they are registered once, on first use).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::Router;
use http::{HeaderName, Method};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use crate::metrics::{Metrics, REQUEST_DURATION};

/// The request id header, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// `router` with request ids, a log line per request and the latency
/// histogram, recorded in `metrics`. Layers added with [`Router::layer`] run after routing, so the
/// route template ([`MatchedPath`]) is known.
///
/// ```
/// use axum::{routing::get, Router};
///
/// let metrics = serve::Metrics::new();
/// let app: Router = serve::observe(Router::new().route("/", get(|| async { "hi" })), &metrics);
/// # let _ = app;
/// ```
pub fn observe(router: Router, metrics: &Metrics) -> Router {
    router.layer(
        ServiceBuilder::new()
            .map_request(drop_unsafe_request_id)
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(RequestSpan)
                    .on_request(())
                    .on_response(LogResponse)
                    .on_failure(()),
            )
            .layer(RecordDurationLayer::new(metrics)),
    )
}

/// Whether a client's request id may be kept and logged.
fn is_safe_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(b))
}

/// Removes a request id that is not a sane token, so that one is made.
fn drop_unsafe_request_id<B>(mut request: http::Request<B>) -> http::Request<B> {
    if request
        .headers()
        .get_all(&REQUEST_ID)
        .iter()
        .any(|v| !is_safe_request_id(v.as_bytes()))
        || request.headers().get_all(&REQUEST_ID).iter().count() > 1
    {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// The route template of a request, or [`UNMATCHED`].
fn route_of<B>(request: &http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

/// The `request` span: id, method, route template; nothing a client can
/// put a secret in.
#[derive(Debug, Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            route = %route_of(request),
        )
    }
}

/// The line logged once a response is ready: status and duration, inside
/// the request's span. Server errors are warnings.
#[derive(Debug, Clone, Copy)]
struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, response: &http::Response<B>, latency: Duration, _span: &Span) {
        let status = response.status().as_u16();
        let duration_ms = latency.as_secs_f64() * 1000.0;
        if response.status().is_server_error() {
            tracing::warn!(status, duration_ms, "request answered");
        } else {
            tracing::info!(status, duration_ms, "request answered");
        }
    }
}

/// The method label: RFC 9110's methods by name, any other as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// A route's (method, status) and its histogram.
type LabelSet = (&'static str, u16, metrics::Histogram);

/// The [`REQUEST_DURATION`] histogram of each label set, registered on
/// first use. Routes are the router's templates and [`UNMATCHED`], methods
/// [`method_label`]'s, so the map stays as small as the route table.
struct Durations {
    metrics: Metrics,
    /// Route template → its label sets.
    handles: RwLock<HashMap<Box<str>, Vec<LabelSet>>>,
}

impl Durations {
    fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let recorded = {
            let handles = self.handles.read().unwrap_or_else(|p| p.into_inner());
            let known = handles
                .get(route)
                .and_then(|sets| sets.iter().find(|(m, s, _)| *m == method && *s == status));
            known
                .map(|(_, _, histogram)| histogram.record(seconds))
                .is_some()
        };
        if !recorded {
            self.register(method, route, status).record(seconds);
        }
    }

    fn register(&self, method: &'static str, route: &str, status: u16) -> metrics::Histogram {
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        let sets = handles.entry(route.into()).or_default();
        if let Some((_, _, histogram)) = sets.iter().find(|(m, s, _)| *m == method && *s == status)
        {
            return histogram.clone();
        }
        let histogram = self.metrics.scope(|| {
            metrics::histogram!(
                REQUEST_DURATION,
                "method" => method,
                "route" => route.to_owned(),
                "status" => status.to_string(),
            )
        });
        sets.push((method, status, histogram.clone()));
        histogram
    }
}

/// Observes each request's duration in [`REQUEST_DURATION`].
#[derive(Clone)]
struct RecordDurationLayer {
    durations: Arc<Durations>,
}

impl RecordDurationLayer {
    fn new(metrics: &Metrics) -> Self {
        Self {
            durations: Arc::new(Durations {
                metrics: metrics.clone(),
                handles: RwLock::default(),
            }),
        }
    }
}

impl<S> Layer<S> for RecordDurationLayer {
    type Service = RecordDuration<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordDuration {
            inner,
            durations: Arc::clone(&self.durations),
        }
    }
}

#[derive(Clone)]
struct RecordDuration<S> {
    inner: S,
    durations: Arc<Durations>,
}

impl<S, B, R> Service<http::Request<B>> for RecordDuration<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RecordDurationFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        RecordDurationFuture {
            inner: self.inner.call(request),
            started,
            method,
            route,
            durations: Some(Arc::clone(&self.durations)),
        }
    }
}

pin_project_lite::pin_project! {
    struct RecordDurationFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
        // Taken when the response is recorded.
        durations: Option<Arc<Durations>>,
    }
}

impl<F, R, E> Future for RecordDurationFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(durations)) = (&result, this.durations.take()) {
            let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            durations.record(
                this.method,
                route,
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn request_id_of(header: Option<&str>) -> String {
        let app = observe(
            Router::new().route("/users/{id}", get(|| async { "ok" })),
            &Metrics::new(),
        );
        let mut request = http::Request::get("/users/7?code=secret");
        if let Some(value) = header {
            request = request.header(&REQUEST_ID, value);
        }
        let response = app
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        response.headers()[&REQUEST_ID]
            .to_str()
            .expect("ASCII")
            .to_owned()
    }

    #[tokio::test]
    async fn a_sane_request_id_is_kept_and_returned() {
        assert_eq!(
            request_id_of(Some("abc-123_x.y:z@1")).await,
            "abc-123_x.y:z@1"
        );
    }

    #[tokio::test]
    async fn a_missing_or_unsafe_request_id_is_replaced_by_a_uuid() {
        for header in [None, Some("two words"), Some("\"quoted\""), Some("")] {
            let id = request_id_of(header).await;
            assert_eq!(id.len(), 36, "{header:?} -> {id}");
            assert!(uuid_like(&id), "{id}");
        }
        let long = "a".repeat(129);
        assert_ne!(request_id_of(Some(&long)).await, long);
    }

    #[tokio::test]
    async fn durations_are_recorded_per_route_template_and_status() {
        let metrics = Metrics::new();
        let app = observe(
            Router::new().route("/users/{id}", get(|| async { "ok" })),
            &metrics,
        );
        for path in ["/users/1", "/users/2", "/nowhere?token=x"] {
            let request = http::Request::get(path)
                .body(Body::empty())
                .expect("request");
            app.clone().oneshot(request).await.expect("response");
        }
        let text = metrics.render();
        let count = |labels: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{REQUEST_DURATION}_count{{{labels}}} ")))
                .map(str::to_owned)
        };
        assert_eq!(
            count(r#"method="GET",route="/users/{id}",status="200""#).as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            count(r#"method="GET",route="unmatched",status="404""#).as_deref(),
            Some("1"),
            "{text}"
        );
        assert!(!text.contains("token=x"));
    }

    #[tokio::test]
    async fn methods_outside_rfc_9110_share_one_label() {
        let metrics = Metrics::new();
        let app = observe(Router::new().route("/", get(|| async { "ok" })), &metrics);
        for method in ["FOO", "BAR", "PURGE", "GET"] {
            let request = http::Request::builder()
                .method(method)
                .uri("/")
                .body(Body::empty())
                .expect("request");
            app.clone().oneshot(request).await.expect("response");
        }
        let text = metrics.render();
        let mut counts: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{REQUEST_DURATION}_count")))
            .collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            [
                format!(r#"{REQUEST_DURATION}_count{{method="GET",route="/",status="200"}} 1"#),
                format!(r#"{REQUEST_DURATION}_count{{method="OTHER",route="/",status="405"}} 3"#),
            ],
            "{text}"
        );
    }

    fn uuid_like(id: &str) -> bool {
        id.bytes().filter(|b| *b == b'-').count() == 4
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    }
}
