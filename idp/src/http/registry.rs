//! The client registry and key administration over HTTP, for bearer
//! tokens with scope `admin`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keys::rotation::RotationTrigger;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{parse_json, ApiJson};
use super::no_store;
use crate::clients;
use crate::error::Error;
use crate::state::AppState;
use crate::store::ClientRow;
use crate::unix_now;

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
#[serde(deny_unknown_fields)]
struct NewClient {
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// `client_secret_basic` (the default; `client_secret_post` is the
    /// same kind of client) or `none` for a public client.
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    consent: bool,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
}

/// `POST /clients`: 201 with the secret, shown this once (none for a
/// public client).
async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewClient>,
) -> Result<Response, Error> {
    let public = match body.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic" | "client_secret_post") => false,
        Some("none") => true,
        Some(_) => return Err(Error::invalid_request(
            "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none",
        )),
    };
    let spec = clients::ClientSpec {
        client_id: body.client_id,
        scope: body.scope,
        admin: body.admin,
        redirect_uris: body.redirect_uris,
        public,
        consent: body.consent,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
    };
    let registered = clients::register_client(state.store(), &spec, unix_now()).await?;
    let client = &registered.client;
    tracing::info!(client = %client.client_id, admin = client.admin, public = client.public, "client registered");
    let mut body = describe(client);
    if let Some(secret) = &registered.client_secret {
        body["client_secret"] = json!(secret);
    }
    let mut response = no_store(Json(body));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn describe(c: &ClientRow) -> Value {
    json!({
        "client_id": c.client_id,
        "scope": c.scope,
        "admin": c.admin,
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": clients::auth_method(c),
        "consent": c.consent,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "created_at": c.created_at,
    })
}

/// `GET /clients`.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let clients = state.store().run(|db| db.list_clients()).await?;
    Ok(Json(
        json!({"clients": clients.iter().map(describe).collect::<Vec<_>>()}),
    ))
}

const NO_SUCH_CLIENT: Error = Error::NotFound("no such client");

/// `GET /clients/{id}`.
async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, Error> {
    let client = state
        .store()
        .run(move |db| db.client(&id))
        .await?
        .ok_or(NO_SUCH_CLIENT)?;
    Ok(Json(describe(&client)))
}

/// `DELETE /clients/{id}`: 204; the client can no longer obtain tokens, and
/// the tokens it holds are refused here at once and by resource servers at
/// their next poll of the revocation feed.
async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    if !clients::delete(state.store(), &id, unix_now()).await? {
        return Err(NO_SUCH_CLIENT);
    }
    state.revocations().refresh_if_stale().await?;
    tracing::info!(client = %id, "client deleted; its tokens are cut off");
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
) -> Result<Json<Value>, Error> {
    let request: RotateRequest = if body.is_empty() {
        RotateRequest::default()
    } else {
        parse_json(&headers, &body)?
    };
    let plan = state
        .keys()
        .rotate(RotationTrigger::Manual {
            force: request.force,
        })
        .await?;
    Ok(Json(json!({
        "promoted": plan.promote,
        "retired": plan.retire,
        "keys": key_list(&state).await?,
    })))
}

/// `POST /admin/keys/prune`: removes retired keys past their grace period.
async fn prune(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let pruned = state.keys().prune().await?;
    Ok(Json(
        json!({"pruned": pruned, "keys": key_list(&state).await?}),
    ))
}

/// `GET /admin/keys`: every key with its state and dates (no key material).
async fn list_keys(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    Ok(Json(json!({"keys": key_list(&state).await?})))
}

async fn key_list(state: &AppState) -> Result<Vec<Value>, Error> {
    let keys = state.keys().stored_keys().await?;
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
