//! Signup, login, and the second step of a login with a second factor.
//! The decisions are the `accounts` module's; this reads requests and
//! shapes answers.

use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::error::ErrorBody;
use super::oauth::DpopProof;
use crate::tokens::TokenResponse;

use super::extract::{basic_auth, parse_json, ApiJson, BasicAuth};
use super::no_store;
use super::token_request::TokenTarget;
use crate::accounts::sign_in::{self, PasswordSignIn};
use crate::accounts::signup::{sign_up, SignUp};
use crate::error::Error;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(signup_users))
        .routes(routes!(login))
        .routes(routes!(login_mfa))
}

/// The client's address, when the server knows it.
pub(super) fn address(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

#[derive(Deserialize, ToSchema)]
struct Signup {
    email: String,
    name: String,
    /// At least the configured minimum length; checked against common
    /// passwords.
    password: String,
}

/// `201`: the account.
#[derive(Serialize, ToSchema)]
struct Created {
    user: NewUser,
}

#[derive(Serialize, ToSchema)]
struct NewUser {
    id: String,
    email: String,
    name: String,
}

/// An accepted request whose outcome is told by `status`.
#[derive(Serialize, ToSchema)]
pub(super) struct Status {
    /// What happened, e.g. `verification_sent`.
    pub(super) status: &'static str,
}

/// `POST /user`: creates an account. 201 with the user, 409 if the email is
/// taken; with `--require-email-verification`, 202 `{"status":
/// "verification_sent"}` either way. The answer is sent only after the row
/// is durably committed.
#[utoipa::path(
    post,
    path = "/user",
    tag = "users",
    operation_id = "signup",
    request_body = Signup,
    responses(
        (status = 201, description = "The account was created", body = Created),
        (status = 202, description = "With `--require-email-verification`: `verification_sent` \
            (whether or not the address was taken)", body = Status),
        (status = 400, description = "`invalid_request`: a field is missing or invalid, or the \
            password is too weak", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
    )
)]
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
            Json(Created {
                user: NewUser {
                    id: user.id,
                    email: user.email,
                    name: user.name,
                },
            }),
        )
            .into_response()),
        SignUp::CheckYourMail => Ok((
            StatusCode::ACCEPTED,
            Json(Status {
                status: "verification_sent",
            }),
        )
            .into_response()),
    }
}

/// `POST /users`: the same as `POST /user`.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    operation_id = "signup_users",
    request_body = Signup,
    responses(
        (status = 201, description = "The account was created", body = Created),
        (status = 202, description = "With `--require-email-verification`: `verification_sent`",
            body = Status),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
    )
)]
async fn signup_users(
    state: State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: ApiJson<Signup>,
) -> Result<Response, Error> {
    signup(state, peer, body).await
}

#[derive(Deserialize, ToSchema)]
struct Login {
    email: String,
    password: String,
}

/// `POST /login`: JSON `{email, password}` or HTTP Basic. An unknown email
/// and a wrong password get the same answer, after the same bcrypt work.
/// With a second factor enrolled: `401 mfa_required` with an `mfa_token`.
#[utoipa::path(
    post,
    path = "/login",
    tag = "users",
    operation_id = "login",
    request_body(content = Login, description = "Or no body and `Authorization: Basic` with \
        the email and password"),
    params(DpopProof),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "A session: access and refresh token (`no-store`)",
            body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_dpop_proof`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`; or `mfa_required`, whose body also \
            carries `mfa_token` for `/login/mfa`", body = ErrorBody),
        (status = 403, description = "`account_disabled`, `email_not_verified`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
    )
)]
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

#[derive(Deserialize, ToSchema)]
struct SecondStep {
    mfa_token: String,
    code: String,
}

/// `POST /login/mfa` `{mfa_token, code}`: a TOTP code or a recovery code
/// finishes the login. Wrong or reused codes: `401 invalid_code`. A DPoP
/// proof binds the session as at `/login`.
#[utoipa::path(
    post,
    path = "/login/mfa",
    tag = "users",
    operation_id = "login_mfa",
    request_body = SecondStep,
    params(DpopProof),
    responses(
        (status = 200, description = "A session (`no-store`)", body = TokenResponse),
        (status = 400, description = "`invalid_grant`: a spent, expired or unknown `mfa_token`; \
            `invalid_request`, `invalid_dpop_proof`", body = ErrorBody),
        (status = 401, description = "`invalid_code`: a wrong or reused code (five spend the \
            `mfa_token`)", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
    )
)]
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
