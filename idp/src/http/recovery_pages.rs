//! The pages of the mailed links and of "Forgot your password?", for a
//! person with a browser rather than a program: the email form, the
//! new-password form the reset link opens, and the button the verification
//! link opens. Each form posts (with its CSRF token) to the same path as
//! the JSON endpoint in `recovery.rs`, which hands form bodies here, and
//! goes through the same domain functions. A GET never changes anything:
//! mail scanners follow links.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use zeroize::Zeroizing;

use super::authorize::Post;
use super::cookies;
use super::pages::{self, ForgotPage, ResetPage, VerifyEmailPage};
use crate::accounts::{email, limits, live_link_user, password, LINK_TOKEN_PARAMETER};
use crate::authorization::{self, AuthorizationRequest, Params};
use crate::error::Error;
use crate::passwords::MIN_PASSWORD_CHARS;
use crate::state::AppState;
use crate::store::AccountTokenPurpose;
use crate::unix_now;

/// The page for a link that was used, has expired or never existed.
fn dead_link(state: &AppState, what: &str) -> Response {
    pages::message(
        &state.settings().issuer,
        StatusCode::BAD_REQUEST,
        "This link no longer works",
        what,
    )
}

const DEAD_RESET: &str = "It was already used, or it is more than 15 minutes old. \
     Ask for a new one from the sign-in page (“Forgot your password?”).";
const DEAD_VERIFY: &str = "It was already used, or it has expired. \
     Sign in to have a new one mailed to you.";

/// The link's token, from a query string.
fn token_of(query: Option<&str>) -> String {
    Params::parse(query.unwrap_or_default().as_bytes())
        .get(LINK_TOKEN_PARAMETER)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned()
}

/// The authorization request a person was signing in for when they
/// followed "Forgot your password?", if `params` hold a valid one. Anything
/// else (none, a stale client, a return address no longer registered) is
/// no request: the reset goes on without a way back.
async fn request_of(state: &AppState, params: &Params) -> Option<AuthorizationRequest> {
    // No client named: no request to check (and no lookup).
    params.get("client_id").ok().flatten()?;
    authorization::parse(state, params).await.ok()
}

fn forgot_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    request: Option<&AuthorizationRequest>,
    email: &str,
    error: Option<String>,
) -> Response {
    pages::with_csrf(state, headers, status, |csrf| {
        let page = ForgotPage {
            service: pages::service_name(&state.settings().issuer),
            client: request.map(|r| r.client.client_id.clone()),
            params: request.map(|r| r.params.clone()).unwrap_or_default(),
            query: request.map(AuthorizationRequest::query).unwrap_or_default(),
            csrf,
            email: email.to_owned(),
            error,
        };
        pages::page(StatusCode::OK, &page, &[])
    })
}

/// `GET /account/password/reset[?authorization request]`: the email form,
/// carrying the sign-in's request when it came from a sign-in page.
pub(super) async fn forgot_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let request = request_of(state, &params).await;
    let email = request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    forgot_form(
        state,
        headers,
        StatusCode::OK,
        request.as_ref(),
        &email,
        None,
    )
}

/// `POST /account/password/reset` as a form: the same answer whether or
/// not the address has an account (as the JSON endpoint), under the same
/// throttle.
pub(super) async fn forgot_post(
    state: &AppState,
    address: Option<IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let post = match Post::read(state, headers, body) {
        Ok(post) => post,
        Err(response) => return *response,
    };
    let email = post.field("email").trim().to_owned();
    let request = request_of(state, post.params()).await;
    if email.is_empty() || email.len() > crate::accounts::sign_in::MAX_EMAIL || !email.contains('@')
    {
        return forgot_form(
            state,
            headers,
            StatusCode::BAD_REQUEST,
            request.as_ref(),
            &email,
            Some("Enter the email address of your account.".into()),
        );
    }
    if let Err(Error::TooManyAttempts { retry_after }) = limits::admit_request(state, address).await
    {
        let mut response = forgot_form(
            state,
            headers,
            StatusCode::TOO_MANY_REQUESTS,
            request.as_ref(),
            &email,
            Some(format!(
                "Too many attempts. Wait {retry_after} seconds, then try again."
            )),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    password::request_reset(state, &email, unix_now());
    let text = format!(
        "If an account uses {email}, we have mailed it a link to choose a new password. \
         The link works once, for 15 minutes. Nothing there? Check the address and ask again."
    );
    let issuer = &state.settings().issuer;
    let Some(request) = request else {
        return pages::message(issuer, StatusCode::ACCEPTED, "Check your mail", &text);
    };
    // Back to the sign-in page from here; from the mailed link's page (in
    // this browser) through the cookie.
    let query = request.query();
    let mut response = pages::linked_message(
        issuer,
        StatusCode::ACCEPTED,
        "Check your mail",
        &text,
        Some((&format!("/authorize?{query}"), "Back to sign in")),
    );
    if let Some(cookie) = cookies::set_resume(&query, pages::secure(state)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn reset_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    token: &str,
    email: &str,
    error: Option<String>,
) -> Response {
    pages::with_csrf(state, headers, status, |csrf| {
        let page = ResetPage {
            service: pages::service_name(&state.settings().issuer),
            csrf,
            token: token.to_owned(),
            email: email.to_owned(),
            min_chars: MIN_PASSWORD_CHARS,
            error,
        };
        pages::page(StatusCode::OK, &page, &[])
    })
}

/// `GET /account/password/reset/confirm?token=...`: the mailed link opens
/// the new-password form, or says plainly that it no longer works.
pub(super) async fn reset_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let token = Zeroizing::new(token_of(query));
    let live = live_link_user(
        state,
        &token,
        AccountTokenPurpose::PasswordReset,
        unix_now(),
    )
    .await;
    match live {
        Ok(Some(user)) => reset_form(state, headers, StatusCode::OK, &token, &user.email, None),
        Ok(None) => dead_link(state, DEAD_RESET),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// `POST /account/password/reset/confirm` as a form: sets the new password
/// (ending every session of the account), once.
pub(super) async fn reset_post(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let post = match Post::read(state, headers, body) {
        Ok(post) => post,
        Err(response) => return *response,
    };
    let token = Zeroizing::new(post.field("token").to_owned());
    // Shown again with an error; the token, not this field, names the account.
    let email = post.field("username").to_owned();
    let new = Zeroizing::new(post.field("new_password").to_owned());
    match password::confirm_reset(state, &token, new, unix_now()).await {
        Ok(()) => password_changed(state, headers).await,
        Err(Error::InvalidRequest(why)) => reset_form(
            state,
            headers,
            StatusCode::BAD_REQUEST,
            &token,
            &email,
            Some(pages::sentence(&why)),
        ),
        Err(Error::InvalidGrant(_)) => dead_link(state, DEAD_RESET),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// The page saying the password is changed: with the way back to the
/// application this browser was signing in to when it asked for the reset,
/// if it still stands.
async fn password_changed(state: &AppState, headers: &HeaderMap) -> Response {
    let issuer = &state.settings().issuer;
    let secure = pages::secure(state);
    const TITLE: &str = "Your password is changed";
    let remembered = match cookies::resume(headers, secure) {
        Some(query) => request_of(state, &Params::parse(query.as_bytes())).await,
        None => None,
    };
    let mut response = match remembered {
        Some(request) => pages::linked_message(
            issuer,
            StatusCode::OK,
            TITLE,
            &format!(
                "You were signed out everywhere. Sign in to {} with your new password.",
                request.client.client_id
            ),
            Some((
                &format!("/authorize?{}", request.query()),
                &format!("Continue to {}", request.client.client_id),
            )),
        ),
        None => pages::message(
            issuer,
            StatusCode::OK,
            TITLE,
            "You were signed out everywhere. Go back to the application and sign in with your new password.",
        ),
    };
    if headers.get(header::COOKIE).is_some() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookies::clear_resume(secure));
    }
    response
}

/// `GET /account/email/verify?token=...`: a button that confirms. The GET
/// itself verifies nothing.
pub(super) async fn verify_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let token = Zeroizing::new(token_of(query));
    let live = live_link_user(
        state,
        &token,
        AccountTokenPurpose::EmailVerification,
        unix_now(),
    )
    .await;
    match live {
        Ok(Some(user)) => pages::with_csrf(state, headers, StatusCode::OK, |csrf| {
            let page = VerifyEmailPage {
                service: pages::service_name(&state.settings().issuer),
                csrf,
                token: token.to_string(),
                email: user.email,
            };
            pages::page(StatusCode::OK, &page, &[])
        }),
        Ok(None) => dead_link(state, DEAD_VERIFY),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// `POST /account/email/verify` as a form: verifies the address, once.
pub(super) async fn verify_post(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let post = match Post::read(state, headers, body) {
        Ok(post) => post,
        Err(response) => return *response,
    };
    let token = Zeroizing::new(post.field("token").to_owned());
    match email::verify(state, &token, unix_now()).await {
        Ok(()) => pages::message(
            &state.settings().issuer,
            StatusCode::OK,
            "Your email address is confirmed",
            "Thank you. You can close this page, or go back to the application and sign in.",
        ),
        Err(Error::InvalidGrant(_)) => dead_link(state, DEAD_VERIFY),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}
