//! Signup, login, and the second step of a login with a second factor.
//! The decisions are the `accounts` module's; this reads requests and
//! shapes answers.

use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};

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
use crate::accounts::sign_in::{self, PasswordSignIn};
use crate::accounts::signup::{sign_up, SignUp};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", post(signup))
        .route("/users", post(signup))
        .route("/login", post(login))
        .route("/login/mfa", post(login_mfa))
}

/// The client's address, when the server knows it.
pub(super) fn address(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

#[derive(Deserialize)]
struct Signup {
    email: String,
    name: String,
    password: String,
}

/// `POST /user`: creates an account. 201 with the user, 409 if the email is
/// taken; with `--require-email-verification`, 202 `{"status":
/// "verification_sent"}` either way. The answer is sent only after the row
/// is durably committed.
async fn signup(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<Signup>,
) -> Result<Response, Error> {
    let password = Zeroizing::new(body.password);
    match sign_up(
        &state,
        address(peer),
        &body.email,
        &body.name,
        password,
        unix_now(),
    )
    .await?
    {
        SignUp::Created(user) => Ok((
            StatusCode::CREATED,
            Json(json!({"user": {"id": user.id, "email": user.email, "name": user.name}})),
        )
            .into_response()),
        SignUp::CheckYourMail => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"status": "verification_sent"})),
        )
            .into_response()),
    }
}

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

/// `POST /login`: JSON `{email, password}` or HTTP Basic. An unknown email
/// and a wrong password get the same answer, after the same bcrypt work.
/// With a second factor enrolled: `401 mfa_required` with an `mfa_token`.
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
    // A DPoP proof binds the session (RFC 9449 §5); a bad one is refused
    // before any password work.
    let now = unix_now();
    let target = TokenTarget::read(&state, &headers, None, "/login", now).await?;
    let signed_in = sign_in::with_password(
        &state,
        address(peer),
        &email,
        password,
        now,
        target.dpop_jkt,
    )
    .await?;
    match signed_in {
        PasswordSignIn::SignedIn(tokens) => Ok(no_store(Json(tokens))),
        PasswordSignIn::SecondFactorRequired { mfa_token } => Err(Error::MfaRequired { mfa_token }),
    }
}

#[derive(Deserialize)]
struct SecondStep {
    mfa_token: String,
    code: String,
}

/// `POST /login/mfa` `{mfa_token, code}`: a TOTP code or a recovery code
/// finishes the login. Wrong or reused codes: `401 invalid_code`. A DPoP
/// proof binds the session as at `/login`.
async fn login_mfa(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SecondStep>,
) -> Result<Response, Error> {
    let now = unix_now();
    let target = TokenTarget::read(&state, &headers, None, "/login/mfa", now).await?;
    let (token, code) = (Zeroizing::new(body.mfa_token), Zeroizing::new(body.code));
    let tokens =
        sign_in::with_second_factor(&state, address(peer), &token, &code, now, target.dpop_jkt)
            .await?;
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
