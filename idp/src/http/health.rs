//! Liveness, readiness, and the Prometheus exposition.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use crate::error::Error;
use crate::metrics::Gauges;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `/metrics`: beside the API, or alone on `--metrics-bind`.
pub fn metrics_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// `/healthz`'s answer.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// How long `/readyz` waits for the database: beyond it, not ready. Probes
/// commonly give up after a second, and should see a 503 rather than a
/// timeout.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `/readyz`'s answer.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// The key new tokens are signed with.
    signing_kid: String,
    /// How many keys `/jwks` publishes.
    published_keys: usize,
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The process is up", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition (counters, gauges, \
        request duration histograms); on `--metrics-bind`'s listener when that is set",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics().render(Gauges {
        published_keys: state.keys().ring().jwks.keys.len(),
        revoked_tokens: state.revocations().list().len(),
        password_queue: state.passwords().queued(),
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The database answers (within a second) and a signing key is loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "`temporarily_unavailable`: the database does not answer \
            within a second", body = ErrorBody),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, Error> {
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store().run(|db| db.ping())).await;
    if !matches!(ping, Ok(Ok(()))) {
        return Err(Error::Unavailable("the database does not answer".into()));
    }
    let ring = state.keys().ring();
    Ok(Json(Readiness {
        status: "ready",
        signing_kid: ring.current_kid.clone(),
        published_keys: ring.jwks.keys.len(),
    }))
}
