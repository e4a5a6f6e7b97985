//! What an account's owner does without a session, with a link mailed to
//! them: reset a forgotten password, verify their email address. These
//! take no bearer token; the single-use token in the link is the proof.

use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use zeroize::Zeroizing;

use super::extract::ApiJson;
use super::users::address;
use crate::accounts::{email, limits, password};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/password/reset", post(request_reset))
        .route("/account/password/reset/confirm", post(confirm_reset))
        .route("/account/email/verify", post(verify_email))
}

#[derive(Deserialize)]
struct ResetRequest {
    email: String,
}

/// `POST /account/password/reset` `{email}`: 202 `{"status":
/// "reset_requested"}` whether or not the address has an account, in the
/// same time; if it has one, a link is mailed.
async fn request_reset(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Response, Error> {
    if body.email.trim().is_empty() || body.email.len() > crate::accounts::sign_in::MAX_EMAIL {
        return Err(Error::invalid_request("email is not a valid address"));
    }
    limits::admit_request(&state, address(peer)).await?;
    password::request_reset(&state, &body.email, unix_now());
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "reset_requested"})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

/// `POST /account/password/reset/confirm` `{token, new_password}`: 204;
/// every session of the account ends. A used, expired or unknown token:
/// `400 invalid_grant`.
async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> Result<Response, Error> {
    let token = Zeroizing::new(body.token);
    password::confirm_reset(
        &state,
        &token,
        Zeroizing::new(body.new_password),
        unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Verify {
    token: String,
}

/// `POST /account/email/verify` `{token}`: 204; the address is verified.
/// A used, expired or unknown token: `400 invalid_grant`.
async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Verify>,
) -> Result<Response, Error> {
    let token = Zeroizing::new(body.token);
    email::verify(&state, &token, unix_now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
