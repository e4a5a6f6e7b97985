//! Signup and login.

use axum::body::Bytes;
use std::net::SocketAddr;

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
use crate::credentials::check_password;
use crate::error::Error;
use crate::signup::create_account;
use crate::state::AppState;
use crate::{metrics, sessions, unix_now};

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
    let user = create_account(
        &state,
        &body.email,
        &body.name,
        Zeroizing::new(body.password),
    )
    .await?;
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
    let address = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let user = check_password(&state, address, &email, password).await?;
    let tokens = sessions::open(&state, &user, unix_now()).await?;
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
