//! Signup and login.

use axum::body::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::extract::{basic_auth, parse_json, ApiJson, BasicAuth};
use super::no_store;
use super::token_request::TokenTarget;
use crate::error::Error;
use crate::passwords::validate_password;
use crate::state::AppState;
use crate::store::{StoreError, UserRow};
use crate::{metrics, sessions, unix_now};

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
) -> Result<Response, Error> {
    let password = Zeroizing::new(body.password);
    let email = body.email.trim().to_owned();
    if email.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(&email) {
        return Err(Error::invalid_request("email is not a valid address"));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name must be 1 to 200 characters, without control characters",
        ));
    }
    validate_password(&password).map_err(Error::invalid_request)?;
    let password_hash = state.passwords().hash(password).await?;
    let user = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash,
        scope: String::new(),
        created_at: unix_now(),
    };
    let row = user.clone();
    match state.store().run(move |db| db.insert_user(&row)).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(Error::EmailTaken),
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
) -> Result<Response, Error> {
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
        return Err(Error::TooManyAttempts {
            retry_after: wait.as_secs().max(1),
        });
    }
    // A DPoP proof binds the session (RFC 9449 §5); a bad one is refused
    // before any password work.
    let target = TokenTarget::read(&state, &headers, None, "/login", unix_now()).await?;
    let user = if email.len() <= MAX_EMAIL {
        let email = email.trim().to_owned();
        state
            .store()
            .run(move |db| db.user_by_email(&email))
            .await?
    } else {
        None
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state.passwords().verify(password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        metrics::inc(&state.metrics().login_failures);
        state.login_throttle().failed(&email, started);
        tracing::info!("login refused");
        return Err(Error::InvalidCredentials {
            realm: state.settings().issuer.clone(),
        });
    };
    let tokens = sessions::open_bound(&state, &user, unix_now(), target.dpop_jkt).await?;
    metrics::inc(&state.metrics().logins);
    tracing::info!(user = %user.id, "user logged in");
    Ok(no_store(Json(tokens)))
}

/// Reads `Authorization: Basic`, if present. A malformed one is a 400, not
/// a fallback to the body.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Zeroizing<String>)>, Error> {
    match basic_auth(headers) {
        BasicAuth::Absent => Ok(None),
        BasicAuth::Credentials(email, password) => Ok(Some((email, password))),
        BasicAuth::OtherScheme => Err(Error::invalid_request(
            "only Basic credentials are accepted here",
        )),
        BasicAuth::Malformed => Err(Error::invalid_request("malformed Basic credentials")),
    }
}
