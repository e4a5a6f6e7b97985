//! User administration over HTTP, for bearer tokens with scope `admin`:
//! `GET /admin/users` (paginated), `GET`/`PATCH`/`DELETE /admin/users/{id}`,
//! and `POST /admin/users/{id}/revoke-sessions` (sign out everywhere). The
//! same domain functions as `idp users` on the command line; changes that
//! end sessions are published to the revocation feed before answering.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::extract::ApiJson;
use crate::accounts::lifecycle::{self, describe, UserView};
use crate::clients::ADMIN_SCOPE;
use crate::error::Error;
use crate::scope::parse_scope;
use crate::state::AppState;
use crate::store::{UserCursor, UserRow};
use crate::unix_now;

/// Routes that need scope `admin`; the caller adds the bearer layer.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, update, remove))
        .routes(routes!(revoke_sessions))
        .routes(routes!(remove_totp))
        .route_layer(resource_server::require_scope(ADMIN_SCOPE))
}

const NO_SUCH_USER: Error = Error::NotFound("no such user");
/// The page size when none is asked for.
const DEFAULT_PAGE: u32 = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Users per page, 1 to 200; 50 by default.
    limit: Option<u32>,
    /// The `next` of the previous page.
    after: Option<String>,
}

/// A page of users.
#[derive(Serialize, ToSchema)]
struct UserPage {
    users: Vec<UserView>,
    /// The cursor of the next page (`after`); `null` on the last page.
    next: Option<String>,
}

/// One user, with whether a second factor is enrolled.
#[derive(Serialize, ToSchema)]
struct UserDetail {
    #[serde(flatten)]
    user: UserView,
    totp: bool,
}

/// An opaque page cursor: base64url of `created_at.id`.
fn encode_cursor(cursor: &UserCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.created_at, cursor.id))
}

fn decode_cursor(text: &str) -> Result<UserCursor, Error> {
    let bad = || Error::invalid_request("`after` is not a cursor this API handed out");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (created_at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok(UserCursor {
        created_at: created_at.parse().map_err(|_| bad())?,
        id: id.to_owned(),
    })
}

/// `GET /admin/users?limit=N&after=CURSOR`: users in order of creation,
/// `{"users": [...], "next": CURSOR | null}`; pass `next` as `after` for
/// the following page. `limit` 1 to 200, default 50.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    operation_id = "list_users",
    params(Page),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "A page of users, oldest first", body = UserPage),
        (status = 400, description = "`invalid_request`: `limit` out of 1..=200, or `after` is not a cursor", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<UserPage>, Error> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=lifecycle::MAX_PAGE).contains(&limit) {
        return Err(Error::invalid_request("limit must be 1 to 200"));
    }
    let after = page.after.as_deref().map(decode_cursor).transpose()?;
    let (users, next) = lifecycle::list(state.store(), after, limit).await?;
    Ok(Json(UserPage {
        users: users.iter().map(describe).collect(),
        next: next.as_ref().map(encode_cursor),
    }))
}

async fn user(state: &AppState, id: String) -> Result<UserRow, Error> {
    state
        .store()
        .run(move |db| db.user_by_id(&id))
        .await?
        .ok_or(NO_SUCH_USER)
}

/// `GET /admin/users/{id}`.
#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "admin",
    operation_id = "show_user",
    params(("id" = String, Path, description = "The user id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>, Error> {
    let user = user(&state, id).await?;
    let totp = crate::accounts::second_factor::is_enrolled(&state, &user.id).await?;
    Ok(Json(UserDetail {
        user: describe(&user),
        totp,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Patch {
    /// `true` disables the user and ends every session; `false` enables.
    disabled: Option<bool>,
    /// Replaces the user's extra scopes (space-separated).
    scope: Option<String>,
}

/// `PATCH /admin/users/{id}` `{"disabled": true|false, "scope": "a b"}`
/// (either or both): disabling ends every session and token of the user at
/// once; the answer is the user as it now is.
#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    tag = "admin",
    operation_id = "update_user",
    params(("id" = String, Path, description = "The user id")),
    request_body = Patch,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The user after the change; disabling ends every session", body = UserView),
        (status = 400, description = "`invalid_request`: an unknown field or an invalid scope", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Patch>,
) -> Result<Json<UserView>, Error> {
    let found = user(&state, id).await?;
    if let Some(scope) = &patch.scope {
        let scope = parse_scope(scope)
            .map_err(|e| Error::invalid_request(e.to_string()))?
            .join(" ");
        let email = found.email.clone();
        state
            .store()
            .run(move |db| db.set_user_scope(&email, &scope))
            .await?;
    }
    match patch.disabled {
        Some(true) => {
            lifecycle::disable(state.store(), &found.id, unix_now()).await?;
            state.revocations().catch_up().await?;
            tracing::info!(user = %found.id, "user disabled; sessions ended");
        }
        Some(false) => {
            lifecycle::enable(state.store(), &found.id).await?;
            tracing::info!(user = %found.id, "user enabled");
        }
        None => {}
    }
    let now = user(&state, found.id).await?;
    Ok(Json(describe(&now)))
}

/// `DELETE /admin/users/{id}`: 204; the account and everything personal
/// in it are gone, and its tokens are refused everywhere.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    tag = "admin",
    operation_id = "delete_user",
    params(("id" = String, Path, description = "The user id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Deleted with everything personal; its tokens are refused"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    if !lifecycle::delete(state.store(), &id, unix_now()).await? {
        return Err(NO_SUCH_USER);
    }
    state.revocations().catch_up().await?;
    tracing::info!(user = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/users/{id}/revoke-sessions`: 204; every session and access
/// token of the user ends (sign out everywhere).
#[utoipa::path(
    post,
    path = "/admin/users/{id}/revoke-sessions",
    tag = "admin",
    operation_id = "revoke_user_sessions",
    params(("id" = String, Path, description = "The user id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Every session and token of the user ended"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn revoke_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    if !lifecycle::sign_out_everywhere(state.store(), &id, unix_now()).await? {
        return Err(NO_SUCH_USER);
    }
    state.revocations().catch_up().await?;
    tracing::info!(user = %id, "user signed out everywhere");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /admin/users/{id}/totp`: 204; the user's second factor and
/// recovery codes are gone (one who lost both signs in with the password
/// alone, and may enrol again), and the account's address is told.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}/totp",
    tag = "admin",
    operation_id = "remove_user_totp",
    params(("id" = String, Path, description = "The user id")),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "The second factor is removed"),
        (status = 404, description = "`not_found`: no such user, or the user has no second factor", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks scope `admin`", body = ErrorBody),
    )
)]
async fn remove_totp(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let user = user(&state, id).await?;
    if !crate::accounts::second_factor::remove(&state, &user).await? {
        return Err(Error::NotFound("the user has no second factor"));
    }
    tracing::info!(user = %user.id, "second factor removed by an administrator");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let cursor = UserCursor {
            created_at: 1_700_000_000,
            id: "9f1c.x".into(),
        };
        assert_eq!(
            decode_cursor(&encode_cursor(&cursor)).expect("decodes"),
            cursor
        );
        for junk in ["", "!!", "bm8tZG90", "YWJjLmRlZg"] {
            assert!(decode_cursor(junk).is_err(), "{junk}");
        }
    }
}
