//! Signup and login.

use axum::body::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::{basic_auth, no_store, parse_json, ApiJson, BasicAuth};
use crate::error::ApiError;
use crate::keys::unix_now;
use crate::passwords::{validate_password, PasswordError};
use crate::store::db_seconds;
use crate::store::{StoreError, UserRow};
use crate::{metrics, sessions, AppState};

/// Longest accepted email (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
/// Longest accepted display name, in characters.
const MAX_NAME: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", post(signup))
        .route("/users", post(signup))
        .route("/login", post(login))
}

#[derive(Deserialize)]
struct Signup {
    email: String,
    name: String,
    password: String,
}

/// `POST /user`: creates an account. 201 with the user, 409 if the email is
/// taken. The answer is sent only after the row is durably committed.
async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Signup>,
) -> Result<Response, ApiError> {
    let password = Zeroizing::new(body.password);
    let email = body.email.trim().to_owned();
    if email.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(&email) {
        return Err(ApiError::invalid_request("email is not a valid address"));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_request(
            "name must be 1 to 200 characters, without control characters",
        ));
    }
    validate_password(&password).map_err(ApiError::invalid_request)?;
    let password_hash = state
        .passwords()
        .hash(password)
        .await
        .map_err(password_error)?;
    let user = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash,
        scope: String::new(),
        created_at: db_seconds(unix_now()),
    };
    match state.store().insert_user(user.clone()).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "email_taken",
                "an account with this email already exists",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    metrics::inc(&state.metrics().signups);
    tracing::info!(user = %user.id, "user signed up");
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": {"id": user.id, "email": user.email, "name": user.name}})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

/// `POST /login`: JSON `{email, password}` or HTTP Basic. An unknown email
/// and a wrong password get the same answer, after the same bcrypt work.
async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (email, password) = match basic_credentials(&headers)? {
        Some(credentials) => credentials,
        None => {
            let login: Login = parse_json(&headers, &body)?;
            (login.email, Zeroizing::new(login.password))
        }
    };
    let started = Instant::now();
    if let Err(wait) = state.login_throttle().admit(
        peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
        &email,
        started,
    ) {
        metrics::inc(&state.metrics().login_failures);
        return Err(too_many_attempts(wait));
    }
    let user = if email.len() <= MAX_EMAIL {
        state.store().user_by_email(email.trim().to_owned()).await?
    } else {
        None
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state
        .passwords()
        .verify(password, hash)
        .await
        .map_err(password_error)?;
    let Some(user) = user.filter(|_| matches) else {
        metrics::inc(&state.metrics().login_failures);
        state.login_throttle().failed(&email, started);
        tracing::info!("login refused");
        return Err(invalid_credentials(&state));
    };
    let tokens = sessions::open(&state, &user, unix_now()).await?;
    metrics::inc(&state.metrics().logins);
    tracing::info!(user = %user.id, "user logged in");
    Ok(no_store(Json(tokens)))
}

/// 429 with the wait in `Retry-After`.
fn too_many_attempts(wait: Duration) -> ApiError {
    let seconds = wait.as_secs().max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many login attempts; retry in {seconds} s"),
    )
    .with_retry_after(seconds)
}

/// The one answer for every failed login.
fn invalid_credentials(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "email or password is incorrect",
    )
    .with_challenge(format!(
        "Basic realm=\"{}\", charset=\"UTF-8\"",
        state.settings().issuer
    ))
}

/// Reads `Authorization: Basic`, if present. A malformed one is a 400, not
/// a fallback to the body.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Zeroizing<String>)>, ApiError> {
    match basic_auth(headers) {
        BasicAuth::Absent => Ok(None),
        BasicAuth::Credentials(email, password) => Ok(Some((email, password))),
        BasicAuth::OtherScheme => Err(ApiError::invalid_request(
            "only Basic credentials are accepted here",
        )),
        BasicAuth::Malformed => Err(ApiError::invalid_request("malformed Basic credentials")),
    }
}

fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::Busy => ApiError::unavailable("too many logins in progress, retry shortly"),
        other => ApiError::internal(&other),
    }
}
