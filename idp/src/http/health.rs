//! Liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and a signing key is loaded.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store()
        .ping()
        .await
        .map_err(|_| ApiError::unavailable("the database does not answer"))?;
    let ring = state.keys().ring();
    Ok(Json(json!({
        "status": "ready",
        "signing_kid": ring.current_kid,
        "published_keys": ring.jwks.keys.len(),
    })))
}
