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
use axum::{Extension, Json};
use serde::Deserialize;
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::error::ErrorBody;
use super::users::Status;

use super::authorize::{is_form, AuthorizeParams};
use super::extract::parse_json;
use super::recovery_pages as page;
use super::users::address;
use crate::accounts::{email, limits, password};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forgot_page, request_reset))
        .routes(routes!(reset_page, confirm_reset))
        .routes(routes!(verify_page, verify_email))
}

/// The page asking for the account's email.
#[utoipa::path(
    get,
    path = "/account/password/reset",
    tag = "pages",
    operation_id = "forgot_password_page",

    params(AuthorizeParams),
    responses(
        (status = 200, description = "The form asking for the account's email. Opened from the sign-in page, with its authorization request: the form carries it, offers the way back to the sign-in page, and the page confirming the new password (in the same browser) leads back to the application; a request that is not valid is ignored", content_type = "text/html", body = String),
    )
)]
async fn forgot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    page::forgot_page(&state, &headers, query.as_deref()).await
}

/// The page the mailed reset link opens.
#[utoipa::path(
    get,
    path = "/account/password/reset/confirm",
    tag = "pages",
    operation_id = "reset_password_page",
    params(("token" = Option<String>, Query, description = "The mailed single-use token")),
    responses(
        (status = 200, description = "The new-password form, or a page saying the link is used or expired", content_type = "text/html", body = String),
    )
)]
async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    page::reset_page(&state, &headers, q.as_deref()).await
}

/// The page the mailed verification link opens.
#[utoipa::path(
    get,
    path = "/account/email/verify",
    tag = "pages",
    operation_id = "verify_email_page",
    params(("token" = Option<String>, Query, description = "The mailed single-use token")),
    responses(
        (status = 200, description = "A page asking to confirm the address, or saying the link is used or expired", content_type = "text/html", body = String),
    )
)]
async fn verify_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    page::verify_page(&state, &headers, q.as_deref()).await
}

#[derive(Deserialize, ToSchema)]
struct ResetRequest {
    email: String,
}

/// `POST /account/password/reset` `{email}`: 202 `{"status":
/// "reset_requested"}` whether or not the address has an account, in the
/// same time; if it has one, a link is mailed.
#[utoipa::path(
    post,
    path = "/account/password/reset",
    tag = "recovery",
    operation_id = "request_password_reset",
    request_body(content(
        (ResetRequest = "application/json"),
        (ResetRequest = "application/x-www-form-urlencoded"),
    ), description = "JSON, or the page's form (with its CSRF token), answered with a page"),
    responses(
        (status = 202, description = "`reset_requested`, whether or not the address has an account; a link is mailed if it has", content(
            (Status = "application/json"), (String = "text/html"))),
        (status = 400, description = "`invalid_request`", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 415, description = "`invalid_request`: neither JSON nor a form", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
    )
)]
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
        Json(Status {
            status: "reset_requested",
        }),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

/// `POST /account/password/reset/confirm` `{token, new_password}`: 204;
/// every session of the account ends. A used, expired or unknown token:
/// `400 invalid_grant`.
#[utoipa::path(
    post,
    path = "/account/password/reset/confirm",
    tag = "recovery",
    operation_id = "confirm_password_reset",
    request_body(content(
        (ResetConfirm = "application/json"),
        (ResetConfirm = "application/x-www-form-urlencoded"),
    ), description = "JSON, or the page's form (with its CSRF token), answered with a page"),
    responses(
        (status = 204, description = "The password is set; every session of the account ended"),
        (status = 200, description = "The form's answer: a page saying the password is set", content_type = "text/html", body = String),
        (status = 400, description = "`invalid_grant`: a used, expired or unknown token; `invalid_request`: a weak password or a bad body", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 415, description = "`invalid_request`: neither JSON nor a form", body = ErrorBody),
    )
)]
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

#[derive(Deserialize, ToSchema)]
struct Verify {
    token: String,
}

/// `POST /account/email/verify` `{token}`: 204; the address is verified.
/// A used, expired or unknown token: `400 invalid_grant`.
#[utoipa::path(
    post,
    path = "/account/email/verify",
    tag = "recovery",
    operation_id = "verify_email",
    request_body(content(
        (Verify = "application/json"),
        (Verify = "application/x-www-form-urlencoded"),
    ), description = "JSON, or the page's form (with its CSRF token), answered with a page"),
    responses(
        (status = 204, description = "The address is verified"),
        (status = 200, description = "The form's answer: a page saying the address is verified", content_type = "text/html", body = String),
        (status = 400, description = "`invalid_grant`: a used, expired or unknown token", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 415, description = "`invalid_request`: neither JSON nor a form", body = ErrorBody),
    )
)]
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
