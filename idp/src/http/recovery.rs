//! What an account's owner does without a session, with a link mailed to
//! them: reset a forgotten password, verify their email address. These
//! take no bearer token; the single-use token in the link is the proof.
//!
//! Each path is also a page (`recovery_pages.rs`): a GET shows the form a
//! person fills in, and a form body (`application/x-www-form-urlencoded`)
//! posted to the same path is answered with a page; a JSON body gets the
//! JSON answers below.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use zeroize::Zeroizing;

use super::authorize::is_form;
use super::extract::parse_json;
use super::recovery_pages as page;
use super::users::address;
use crate::accounts::{email, limits, password};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/account/password/reset",
            get(|State(state): State<AppState>, headers: HeaderMap| async move {
                page::forgot_page(&state, &headers).await
            })
            .post(request_reset),
        )
        .route(
            "/account/password/reset/confirm",
            get(
                |State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery| async move {
                    page::reset_page(&state, &headers, q.as_deref()).await
                },
            )
            .post(confirm_reset),
        )
        .route(
            "/account/email/verify",
            get(
                |State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery| async move {
                    page::verify_page(&state, &headers, q.as_deref()).await
                },
            )
            .post(verify_email),
        )
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    if is_form(&headers) {
        return Ok(page::forgot_post(&state, address(peer), &headers, &body).await);
    }
    let body: ResetRequest = parse_json(&headers, &body)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    if is_form(&headers) {
        return Ok(page::reset_post(&state, &headers, &body).await);
    }
    let body: ResetConfirm = parse_json(&headers, &body)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    if is_form(&headers) {
        return Ok(page::verify_post(&state, &headers, &body).await);
    }
    let body: Verify = parse_json(&headers, &body)?;
    let token = Zeroizing::new(body.token);
    email::verify(&state, &token, unix_now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
