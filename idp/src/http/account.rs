//! Endpoints a logged-in user calls with their bearer token: `/userinfo`
//! (OpenID Connect Core §5.3), `/logout`, changing the password, and the
//! TOTP second factor.
//!
//! `/userinfo` answers tokens with scope `openid` (the authorization code
//! flow) or `profile` (`/login` sessions): always `sub`, and the claims the
//! token's scopes disclose (`disclosure.rs`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use resource_server::{AuthError, Claims};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::second_factor::Enrolment;
use crate::disclosure::disclose;
use zeroize::Zeroizing;

use super::error::ErrorBody;
use super::users::Status;

use super::extract::{parse_json, ApiJson};
use super::no_store;
use super::users::address;
use crate::accounts::{email, lifecycle, password, second_factor, signup, user_of_token};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

/// Routes that need a valid bearer token; the caller adds the layer.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(userinfo, userinfo_post))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(delete_account))
        .routes(routes!(rename))
        .routes(routes!(resend_verification))
        .routes(routes!(enrol_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(remove_totp))
        .routes(routes!(renew_recovery_codes))
}

/// `/userinfo`'s answer (OpenID Connect Core §5.3): what the token's scopes
/// disclose.
#[derive(Serialize, ToSchema)]
struct UserInfo {
    sub: String,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// With `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    /// With scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// `/logout`'s answer.
#[derive(Serialize, ToSchema)]
struct LoggedOut {
    /// Always `true`.
    logged_out: bool,
}

/// The recovery codes handed out once when TOTP is confirmed.
#[derive(Serialize, ToSchema)]
struct RecoveryCodes {
    #[schema(value_type = Vec<String>)]
    recovery_codes: Vec<crate::secret::Secret>,
}

/// The user's profile, read from the database (not the token), so a
/// changed name shows at once.
#[utoipa::path(
    get,
    path = "/userinfo",
    tag = "account",
    operation_id = "userinfo",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The claims the token's scopes disclose", body = UserInfo),
        (status = 403, description = "`insufficient_scope`: the token has neither `openid` nor `profile`", body = ErrorBody),
        (status = 404, description = "`not_found`: the user no longer exists", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn userinfo(State(state): State<AppState>, claims: Claims) -> Result<Response, Error> {
    if !(claims.has_scope("openid") || claims.has_scope("profile")) {
        return Ok(AuthError::InsufficientScope {
            scope: "openid".into(),
        }
        .into_response_with_realm(&state.settings().issuer));
    }
    let user = user_of_token(&state, &claims.sub).await?;
    let disclosed = disclose(
        &user,
        &claims.scope,
        claims.client_id.as_deref().unwrap_or_default(),
    );
    Ok(Json(UserInfo {
        sub: user.id,
        email: disclosed.email,
        email_verified: disclosed.email_verified,
        name: disclosed.name,
    })
    .into_response())
}

/// `POST /userinfo`: the same as `GET`.
#[utoipa::path(
    post,
    path = "/userinfo",
    tag = "account",
    operation_id = "userinfo_post",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The claims the token's scopes disclose", body = UserInfo),
        (status = 403, description = "`insufficient_scope`: the token has neither `openid` nor `profile`", body = ErrorBody),
        (status = 404, description = "`not_found`: the user no longer exists", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn userinfo_post(state: State<AppState>, claims: Claims) -> Result<Response, Error> {
    userinfo(state, claims).await
}

/// Revokes the presented access token everywhere (through the revocation
/// feed) and ends its login session, so its refresh token stops working.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "account",
    operation_id = "logout",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The token is revoked and its session ended", body = LoggedOut),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn logout(State(state): State<AppState>, claims: Claims) -> Result<Json<LoggedOut>, Error> {
    // The IdP's own validator requires `jti` of every token.
    if let Some(jti) = &claims.jti {
        state
            .revocations()
            .revoke(jti.to_string(), claims.exp)
            .await?;
    }
    crate::metrics::inc(&state.metrics().revocations);
    if let Some(session) = &claims.sid {
        state.revocations().end_session(session.to_string()).await?;
    }
    tracing::info!(sub = %claims.sub, "logged out");
    Ok(Json(LoggedOut { logged_out: true }))
}

#[derive(Deserialize, ToSchema)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /account/password`: 204. Every other session of the user ends;
/// the caller's goes on. A wrong current password is `400 invalid_grant`.
#[utoipa::path(
    post,
    path = "/account/password",
    tag = "account",
    operation_id = "change_password",
    request_body = PasswordChange,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Changed; every other session of the user ended"),
        (status = 400, description = "`invalid_grant`: wrong current password; `invalid_request`: weak new password or a bad body", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, Error> {
    password::change(
        &state,
        address(peer),
        &claims.sub,
        claims.sid.as_deref(),
        Zeroizing::new(body.current_password),
        Zeroizing::new(body.new_password),
        unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewName {
    /// 1 to 200 characters (trimmed), no control characters.
    name: String,
}

/// `POST /account/name` `{name}`: 204; the display name (`name` in
/// `/userinfo` and in ID tokens with scope `profile`) from now on.
#[utoipa::path(
    post,
    path = "/account/name",
    tag = "account",
    operation_id = "rename_account",
    request_body = NewName,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "`invalid_request`: an empty, too long or control-character name, or a bad body", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn rename(
    State(state): State<AppState>,
    claims: Claims,
    ApiJson(body): ApiJson<NewName>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    signup::rename(&state, &user.id, &body.name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
struct AccountDeletion {
    current_password: String,
}

/// `POST /account/delete`: 204. The token's user deletes their own account:
/// everything personal goes, every session and token ends (at resource
/// servers through the revocation feed), and the address is told. A wrong
/// password is `400 invalid_grant`, counted like a wrong login.
#[utoipa::path(
    post,
    path = "/account/delete",
    tag = "account",
    operation_id = "delete_account",
    request_body = AccountDeletion,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Deleted; every session and token of the account ended"),
        (status = 400, description = "`invalid_grant`: wrong password; `invalid_request`: a bad body", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<AccountDeletion>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    lifecycle::delete_own(
        &state,
        address(peer),
        &user,
        Zeroizing::new(body.current_password),
        unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /account/email/verify/resend`: mails a new verification link, at
/// most one a minute; 202 `{"status": "verification_sent" | "recently_sent"
/// | "already_verified"}`, so a page can say what happened.
#[utoipa::path(
    post,
    path = "/account/email/verify/resend",
    tag = "account",
    operation_id = "resend_verification",

    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 202, description = "`verification_sent`, `recently_sent` or `already_verified`", body = Status),
        (status = 404, description = "`not_found`: the user no longer exists", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn resend_verification(
    State(state): State<AppState>,
    claims: Claims,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let status = if user.email_verified {
        "already_verified"
    } else if email::send_verification(&state, &user, unix_now()).await? {
        "verification_sent"
    } else {
        "recently_sent"
    };
    Ok((StatusCode::ACCEPTED, Json(Status { status })).into_response())
}

/// A body that must be `{}` (or empty): nothing to say, but JSON if said.
fn empty_body(headers: &HeaderMap, body: &Bytes) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Empty {}
    if !body.is_empty() {
        let _: Empty = parse_json(headers, body)?;
    }
    Ok(())
}

/// `POST /account/totp` `{}`: 200 `{otpauth_uri, secret, qr_svg}`, shown
/// once. The factor guards login only once confirmed.
#[utoipa::path(
    post,
    path = "/account/totp",
    tag = "account",
    operation_id = "enrol_totp",
    request_body(content = Object, description = "`{}` or no body"),
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "The new factor's secret, shown once (`no-store`); it guards login once confirmed", body = Enrolment),
        (status = 409, description = "`totp_enrolled`: a confirmed factor exists", body = ErrorBody),
        (status = 400, description = "`invalid_request`: a field is missing or of the wrong type", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn enrol_totp(
    State(state): State<AppState>,
    claims: Claims,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    empty_body(&headers, &body)?;
    let user = user_of_token(&state, &claims.sub).await?;
    let enrolment = second_factor::enrol(&state, &user, unix_now()).await?;
    Ok(no_store(Json::<Enrolment>(enrolment)))
}

#[derive(Deserialize, ToSchema)]
struct Code {
    code: String,
}

/// `POST /account/totp/confirm` `{code}`: 200 `{recovery_codes: [...]}`,
/// ten single-use codes, shown once. A wrong code: `401 invalid_code`.
#[utoipa::path(
    post,
    path = "/account/totp/confirm",
    tag = "account",
    operation_id = "confirm_totp",
    request_body = Code,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "Ten single-use recovery codes, shown once (`no-store`)", body = RecoveryCodes),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 400, description = "`invalid_request`: a field is missing or of the wrong type", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_code`: the code is wrong; `invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<Code>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let code = Zeroizing::new(body.code);
    let codes = second_factor::confirm(&state, address(peer), &user, &code, unix_now()).await?;
    Ok(no_store(Json(RecoveryCodes {
        recovery_codes: codes,
    })))
}

/// `POST /account/totp/recovery-codes` `{code}`: a current TOTP code or a
/// recovery code proves the factor is in hand; 200 `{recovery_codes}`, ten
/// new single-use codes (shown once) that replace the old ones.
#[utoipa::path(
    post,
    path = "/account/totp/recovery-codes",
    tag = "account",
    operation_id = "renew_recovery_codes",
    request_body = Code,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 200, description = "Ten new single-use recovery codes, shown once (`no-store`); the old ones no longer work", body = RecoveryCodes),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 400, description = "`invalid_request`: no authenticator app is set up, or a field is missing or of the wrong type", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_code`: the code is wrong; `invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn renew_recovery_codes(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<Code>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let code = Zeroizing::new(body.code);
    let codes =
        second_factor::renew_recovery_codes(&state, address(peer), &user, &code, unix_now())
            .await?;
    Ok(no_store(Json(RecoveryCodes {
        recovery_codes: codes,
    })))
}

/// `POST /account/totp/remove` `{code}`: a current TOTP code or a recovery
/// code proves the factor is in hand; 204, and login asks for no code any
/// more. A wrong code: `401 invalid_code`.
#[utoipa::path(
    post,
    path = "/account/totp/remove",
    tag = "account",
    operation_id = "remove_totp",
    request_body = Code,
    security(("bearer" = []), ("dpop" = [])),
    responses(
        (status = 204, description = "Removed; login asks for no code any more"),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 400, description = "`invalid_request`: a field is missing or of the wrong type", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_code`: the code is wrong; `invalid_token`: no, a bad, an expired or a revoked token (with `WWW-Authenticate`)", body = ErrorBody),
    )
)]
async fn remove_totp(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<Code>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let code = Zeroizing::new(body.code);
    second_factor::check_attempt(&state, address(peer), &user, &code, unix_now()).await?;
    second_factor::remove(&state, &user).await?;
    tracing::info!(user = %user.id, "TOTP removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
