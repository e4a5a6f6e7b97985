//! The client registry and key administration over HTTP, for bearer
//! tokens with scope `admin`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::no_store;
use super::ApiJson;
use crate::clients::{self, RegistryError};
use crate::error::ApiError;
use crate::keys::{unix_now, KeyManagerError};
use crate::store::db_seconds;
use crate::AppState;

/// Routes that need scope `admin`; the caller adds the bearer layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", post(create).get(list))
        .route("/clients/{id}", get(show).delete(remove))
        .route("/admin/keys/rotate", post(rotate))
        .route("/admin/keys", get(list_keys))
        .route("/admin/keys/prune", post(prune))
        .route_layer(resource_server::require_scope(clients::ADMIN_SCOPE))
}

#[derive(Deserialize)]
struct NewClient {
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    admin: bool,
}

/// `POST /clients`: 201 with the secret, shown this once.
async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewClient>,
) -> Result<Response, ApiError> {
    let now = db_seconds(unix_now());
    let registered =
        clients::register(state.store(), &body.client_id, &body.scope, body.admin, now)
            .await
            .map_err(|e| match e {
                RegistryError::Taken => {
                    ApiError::new(StatusCode::CONFLICT, "client_exists", e.to_string())
                }
                RegistryError::Store(e) => e.into(),
                other => ApiError::invalid_request(other.to_string()),
            })?;
    tracing::info!(client = %registered.client_id, admin = registered.admin, "client registered");
    let mut response = no_store(Json(json!({
        "client_id": registered.client_id,
        "client_secret": registered.client_secret,
        "scope": registered.scope,
        "admin": registered.admin,
    })));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn describe(c: &crate::store::ClientRow) -> Value {
    json!({
        "client_id": c.client_id,
        "scope": c.scope,
        "admin": c.admin,
        "created_at": c.created_at,
    })
}

/// `GET /clients`.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let clients = state.store().list_clients().await?;
    Ok(Json(
        json!({"clients": clients.iter().map(describe).collect::<Vec<_>>()}),
    ))
}

fn no_such_client() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such client")
}

/// `GET /clients/{id}`.
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state.store().client(id).await?.ok_or_else(no_such_client)?;
    Ok(Json(describe(&client)))
}

/// `DELETE /clients/{id}`: 204; the client can no longer obtain tokens, and
/// introspection stops vouching for the ones it holds.
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.store().delete_client(id.clone()).await? {
        return Err(no_such_client());
    }
    tracing::info!(client = %id, "client deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
struct RotateRequest {
    #[serde(default)]
    force: bool,
}

/// `POST /admin/keys/rotate`, optionally `{"force": true}`.
async fn rotate(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: RotateRequest = if body.is_empty() {
        RotateRequest::default()
    } else {
        super::parse_json(&headers, &body)?
    };
    let plan = state
        .keys()
        .rotate(request.force)
        .await
        .map_err(|e| match e {
            KeyManagerError::Rotation(why) => {
                ApiError::new(StatusCode::CONFLICT, "rotation_refused", why.to_string())
            }
            other => ApiError::internal(&other),
        })?;
    Ok(Json(json!({
        "promoted": plan.promote,
        "retired": plan.retire,
        "keys": key_list(&state).await?,
    })))
}

/// `POST /admin/keys/prune`: removes retired keys past their grace period.
async fn prune(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pruned = state
        .keys()
        .prune()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({"pruned": pruned, "keys": key_list(&state).await?}),
    ))
}

/// `GET /admin/keys`: every key with its state and dates (no key material).
async fn list_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"keys": key_list(&state).await?})))
}

async fn key_list(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let keys = state
        .keys()
        .stored_keys()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.record.kid,
                "state": k.record.state.as_str(),
                "bits": k.bits,
                "created_at": k.record.created_at,
                "activated_at": k.record.activated_at,
                "retired_at": k.record.retired_at,
            })
        })
        .collect())
}
