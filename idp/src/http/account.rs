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
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use resource_server::{AuthError, Claims};
use serde::Deserialize;

use crate::disclosure::disclose;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::extract::{parse_json, ApiJson};
use super::no_store;
use super::users::address;
use crate::accounts::{email, password, second_factor, user_of_token};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

/// Routes that need a valid bearer token; the caller adds the layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/logout", post(logout))
        .route("/account/password", post(change_password))
        .route("/account/email/verify/resend", post(resend_verification))
        .route("/account/totp", post(enrol_totp))
        .route("/account/totp/confirm", post(confirm_totp))
        .route("/account/totp/remove", post(remove_totp))
}

/// The user's profile, read from the database (not the token), so a
/// changed name shows at once.
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
    let mut body = json!({"sub": user.id});
    if let Some(email) = disclosed.email {
        body["email"] = json!(email);
        body["email_verified"] = json!(disclosed.email_verified);
    }
    if let Some(name) = disclosed.name {
        body["name"] = json!(name);
    }
    Ok(Json(body).into_response())
}

/// Revokes the presented access token everywhere (through the revocation
/// feed) and ends its login session, so its refresh token stops working.
async fn logout(State(state): State<AppState>, claims: Claims) -> Result<Json<Value>, Error> {
    // The IdP's own validator requires `jti` of every token.
    if let Some(jti) = claims.jti.clone() {
        state.revocations().revoke(jti, claims.exp).await?;
    }
    crate::metrics::inc(&state.metrics().revocations);
    if let Some(session) = claims.sid.clone() {
        state.revocations().end_session(session).await?;
    }
    tracing::info!(sub = %claims.sub, "logged out");
    Ok(Json(json!({"logged_out": true})))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /account/password`: 204. Every other session of the user ends;
/// the caller's goes on. A wrong current password is `400 invalid_grant`.
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

/// `POST /account/email/verify/resend`: mails a new verification link, at
/// most one a minute; 202 `{"status": "verification_sent" | "recently_sent"
/// | "already_verified"}`, so a page can say what happened.
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
    Ok((StatusCode::ACCEPTED, Json(json!({"status": status}))).into_response())
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
async fn enrol_totp(
    State(state): State<AppState>,
    claims: Claims,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    empty_body(&headers, &body)?;
    let user = user_of_token(&state, &claims.sub).await?;
    let enrolment = second_factor::enrol(&state, &user, unix_now()).await?;
    Ok(no_store(Json(json!({
        "otpauth_uri": enrolment.otpauth_uri,
        "secret": enrolment.secret,
        "qr_svg": enrolment.qr_svg,
    }))))
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

/// `POST /account/totp/confirm` `{code}`: 200 `{recovery_codes: [...]}`,
/// ten single-use codes, shown once. A wrong code: `401 invalid_code`.
async fn confirm_totp(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<Code>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let code = Zeroizing::new(body.code);
    let codes = second_factor::confirm(&state, address(peer), &user, &code, unix_now()).await?;
    Ok(no_store(Json(json!({"recovery_codes": codes}))))
}

/// `POST /account/totp/remove` `{code}`: a current TOTP code or a recovery
/// code proves the factor is in hand; 204, and login asks for no code any
/// more. A wrong code: `401 invalid_code`.
async fn remove_totp(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    claims: Claims,
    ApiJson(body): ApiJson<Code>,
) -> Result<Response, Error> {
    let user = user_of_token(&state, &claims.sub).await?;
    let code = Zeroizing::new(body.code);
    second_factor::check_attempt(&state, address(peer), &user, &code, unix_now()).await?;
    second_factor::remove(&state, &user.id).await?;
    tracing::info!(user = %user.id, "TOTP removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
