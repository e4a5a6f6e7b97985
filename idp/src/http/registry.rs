//! The client registry and key administration over HTTP, for bearer
//! tokens with scope `admin`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keys::rotation::RotationTrigger;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;

use super::extract::{parse_json, ApiJson};
use super::no_store;
use crate::clients;
use crate::error::Error;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::{ClientRow, StoredKey};
use crate::unix_now;

/// Routes that need scope `admin`; the caller adds the bearer layer.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(rotate))
        .routes(routes!(list_keys))
        .routes(routes!(prune))
        .route_layer(resource_server::require_scope(clients::ADMIN_SCOPE))
}

#[derive(Deserialize, ToSchema)]
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
#[utoipa::path(
    post,
    path = "/clients",
    tag = "admin",
    operation_id = "create_client",
    request_body = NewClient,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 201, description = "Registered; the secret is shown once (`no-store`)", body = RegisteredClient),
        (status = 400, description = "`invalid_request`: a field is missing, unknown or invalid (scope, redirect URIs, auth method)", body = ErrorBody),
        (status = 409, description = "`client_exists`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
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
    let body = RegisteredClient {
        client: describe(client),
        client_secret: registered.client_secret,
    };
    let mut response = no_store(Json(body));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// A registered client as the API shows it (never its secret's digest).
#[derive(Serialize, ToSchema)]
struct ClientDescription {
    client_id: String,
    /// Space-separated scopes it may be granted.
    scope: String,
    admin: bool,
    redirect_uris: Vec<String>,
    /// `client_secret_basic` or `none` (public).
    token_endpoint_auth_method: &'static str,
    /// Whether users are asked to consent.
    consent: bool,
    post_logout_redirect_uris: Vec<String>,
    /// Unix seconds.
    created_at: u64,
    /// While a replaced secret still works beside the current one: until
    /// when (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<u64>,
}

/// `POST /clients`' answer: the client and, for a confidential one, its
/// secret, shown this once.
#[derive(Serialize, ToSchema)]
struct RegisteredClient {
    #[serde(flatten)]
    client: ClientDescription,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    client_secret: Option<Secret>,
}

#[derive(Serialize, ToSchema)]
struct ClientList {
    clients: Vec<ClientDescription>,
}

fn describe(c: &ClientRow) -> ClientDescription {
    ClientDescription {
        client_id: c.client_id.clone(),
        scope: c.scope.clone(),
        admin: c.admin,
        redirect_uris: c.redirect_uris.clone(),
        token_endpoint_auth_method: clients::auth_method(c),
        consent: c.consent,
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        created_at: c.created_at,
        previous_secret_expires_at: c
            .previous_secret
            .as_ref()
            .map(|p| p.expires_at)
            .filter(|&at| at > unix_now()),
    }
}

/// A stored signing key's public metadata.
#[derive(Serialize, ToSchema)]
struct KeyDescription {
    kid: String,
    /// `next`, `current` or `retired`.
    state: &'static str,
    bits: u32,
    created_at: u64,
    activated_at: Option<u64>,
    retired_at: Option<u64>,
    /// A retired key's earliest prune time: its retirement plus the
    /// longest access-token lifetime and JWKS max-age of this instance and
    /// of those that declared theirs on the key, plus the margin.
    prunable_at: Option<u64>,
    /// The longest access-token lifetime, seconds, declared on the key by
    /// an instance that signs (or signed) with it; 0 if none declared one.
    declared_access_ttl: u64,
}

#[derive(Serialize, ToSchema)]
struct KeyList {
    keys: Vec<KeyDescription>,
}

/// `POST /admin/keys/rotate`'s answer.
#[derive(Serialize, ToSchema)]
struct Rotated {
    /// The kid that became `current`.
    promoted: String,
    /// The kid that became `retired`, if any.
    retired: Option<String>,
    keys: Vec<KeyDescription>,
}

/// `POST /admin/keys/prune`'s answer.
#[derive(Serialize, ToSchema)]
struct Pruned {
    /// The kids deleted.
    pruned: Vec<String>,
    keys: Vec<KeyDescription>,
}

/// `GET /clients`.
#[utoipa::path(
    get,
    path = "/clients",
    tag = "admin",
    operation_id = "list_clients",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "Every registered client", body = ClientList),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn list(State(state): State<AppState>) -> Result<Json<ClientList>, Error> {
    let clients = state.store().run(|db| db.list_clients()).await?;
    Ok(Json(ClientList {
        clients: clients.iter().map(describe).collect(),
    }))
}

const NO_SUCH_CLIENT: Error = Error::NotFound("no such client");

/// `GET /clients/{id}`.
#[utoipa::path(
    get,
    path = "/clients/{id}",
    tag = "admin",
    operation_id = "show_client",
    params(("id" = String, Path, description = "The client id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The client", body = ClientDescription),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClientDescription>, Error> {
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
#[utoipa::path(
    delete,
    path = "/clients/{id}",
    tag = "admin",
    operation_id = "delete_client",
    params(("id" = String, Path, description = "The client id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Deleted; its tokens are refused from now on"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    if !clients::delete(state.store(), &id, unix_now()).await? {
        return Err(NO_SUCH_CLIENT);
    }
    state.revocations().catch_up().await?;
    tracing::info!(client = %id, "client deleted; its tokens are cut off");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /clients/{id}/secret`'s body, optional.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSecret {
    /// Seconds the old secret keeps working beside the new one (at most
    /// 30 days); 0, the default, ends it at once.
    #[serde(default)]
    keep_old_seconds: u64,
    /// Also end every token and refresh token the client holds (a leaked
    /// secret); not with `keep_old_seconds`.
    #[serde(default)]
    revoke_tokens: bool,
}

/// `POST /clients/{id}/secret`'s answer: the new secret, shown this once.
#[derive(Serialize, ToSchema)]
struct RotatedSecret {
    client_id: String,
    #[schema(value_type = String)]
    client_secret: Secret,
    /// Until when the old secret still works (Unix seconds); absent when
    /// it stopped at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<u64>,
    /// Whether the client's tokens were cut off.
    tokens_revoked: bool,
}

/// `POST /clients/{id}/secret`: a confidential client's new secret.
#[utoipa::path(
    post,
    path = "/clients/{id}/secret",
    tag = "admin",
    operation_id = "rotate_client_secret",
    params(("id" = String, Path, description = "The client id")),
    request_body(content = Option<NewSecret>, description = "Optional: an overlap for the old secret, or cutting off the client's tokens"),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The new secret, shown this once (`no-store`); the old one works until `previous_secret_expires_at`, or no longer", body = RotatedSecret),
        (status = 400, description = "`invalid_request`: a public client (no secret), an overlap over 30 days, an overlap with `revoke_tokens`, or a bad body", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    let request: NewSecret = if body.is_empty() {
        NewSecret::default()
    } else {
        parse_json(&headers, &body)?
    };
    let how = clients::RotateSecret {
        keep_old: request.keep_old_seconds,
        revoke_tokens: request.revoke_tokens,
    };
    let rotated = clients::rotate_secret(state.store(), &id, how, unix_now()).await?;
    if request.revoke_tokens {
        state.revocations().catch_up().await?;
    }
    tracing::info!(
        client = %id,
        overlap_until = ?rotated.previous_expires_at,
        tokens_revoked = request.revoke_tokens,
        "client secret rotated"
    );
    Ok(no_store(Json(RotatedSecret {
        client_id: id,
        client_secret: rotated.secret,
        previous_secret_expires_at: rotated.previous_expires_at,
        tokens_revoked: request.revoke_tokens,
    })))
}

#[derive(Deserialize, Default, ToSchema)]
struct RotateRequest {
    /// Rotate even if caches may not know the next key yet.
    #[serde(default)]
    force: bool,
}

/// `POST /admin/keys/rotate`, optionally `{"force": true}`.
#[utoipa::path(
    post,
    path = "/admin/keys/rotate",
    tag = "admin",
    operation_id = "rotate_keys",
    request_body(content = RotateRequest, description = "Optional: no body is `{\"force\": false}`"),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "Rotated: `next` became `current`", body = Rotated),
        (status = 409, description = "`rotation_refused`: too soon after the last rotation for caches to know the new key (`force` overrides)", body = ErrorBody),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn rotate(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Rotated>, Error> {
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
    Ok(Json(Rotated {
        promoted: plan.promote,
        retired: plan.retire,
        keys: key_list(&state).await?,
    }))
}

/// `POST /admin/keys/prune`: removes retired keys past their grace period.
#[utoipa::path(
    post,
    path = "/admin/keys/prune",
    tag = "admin",
    operation_id = "prune_keys",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "Retired keys no token can still need are deleted", body = Pruned),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn prune(State(state): State<AppState>) -> Result<Json<Pruned>, Error> {
    let pruned = state.keys().prune().await?;
    Ok(Json(Pruned {
        pruned,
        keys: key_list(&state).await?,
    }))
}

/// `GET /admin/keys`: every key with its state and dates (no key material).
#[utoipa::path(
    get,
    path = "/admin/keys",
    tag = "admin",
    operation_id = "list_keys",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The stored signing keys (public metadata only)", body = KeyList),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn list_keys(State(state): State<AppState>) -> Result<Json<KeyList>, Error> {
    Ok(Json(KeyList {
        keys: key_list(&state).await?,
    }))
}

async fn key_list(state: &AppState) -> Result<Vec<KeyDescription>, Error> {
    let policy = state.keys().policy();
    let keys = state.keys().stored_keys().await?;
    Ok(keys
        .iter()
        .map(|k: &StoredKey| KeyDescription {
            kid: k.record.kid.clone(),
            state: k.record.state.as_str(),
            bits: k.bits,
            created_at: k.record.created_at,
            activated_at: k.record.activated_at,
            retired_at: k.record.retired_at,
            prunable_at: policy.prunable_at(&k.record),
            declared_access_ttl: k.record.signed_with.access_ttl,
        })
        .collect())
}
