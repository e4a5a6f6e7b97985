//! Liveness, readiness, and the Prometheus exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::Error;
use crate::metrics::Gauges;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `/metrics`: beside the API, or alone on `--metrics-bind`.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Prometheus text exposition.
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

/// The database answers and a signing key is loaded.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    state
        .store()
        .run(|db| db.ping())
        .await
        .map_err(|_| Error::Unavailable("the database does not answer".into()))?;
    let ring = state.keys().ring();
    Ok(Json(json!({
        "status": "ready",
        "signing_kid": ring.current_kid,
        "published_keys": ring.jwks.keys.len(),
    })))
}
