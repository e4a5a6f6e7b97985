//! Liveness and readiness.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::Error;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Prometheus text exposition.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics().render(
        state.keys().ring().jwks.keys.len(),
        state.revocations().list().len(),
    );
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
