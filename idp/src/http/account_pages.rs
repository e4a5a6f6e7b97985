//! The account page: what a person signed in on this browser (the
//! `idp_session` cookie) manages themselves, without a program holding a
//! bearer token. `GET /account` shows the account; each form posts (with
//! its CSRF token) to its own path under `/account/manage/` and goes
//! through the same domain functions as the JSON API in `account.rs`:
//! change the password (`accounts::password::change`, which ends the
//! other sessions and keeps this one), set up an authenticator app
//! (`second_factor::enrol`, then `confirm`, whose recovery codes are shown
//! on that one answer only), remove it (`check_attempt`, then `remove`),
//! sign out everywhere (`lifecycle::sign_out_everywhere`) and sign out
//! (`browser_sessions::end`). Wrong passwords and codes meet the same
//! throttle as `/login`.
//!
//! Without a live session the page shows no account data: it says how to
//! sign in (the sign-in page belongs to an application's authorization
//! request, so there is no client-less sign-in to send the browser to).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::authorize::Post;
use super::cookies;
use super::pages::{self, AccountPage, RecoveryCodesPage, TotpEnrolPage};
use super::users::address;
use crate::accounts::{lifecycle, password, second_factor, signup, user_of_token};
use crate::authorization::Params;
use crate::browser_sessions;
use crate::error::Error;
use crate::passwords::MIN_PASSWORD_CHARS;
use crate::state::AppState;
use crate::store::{BrowserSessionRow, UserRow};
use crate::unix_now;

type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

pub fn router() -> OpenApiRouter<AppState> {
    let form = |routes| pages::form_target(routes, account_form_opened);
    OpenApiRouter::new()
        .routes(routes!(account_page))
        .routes(form(routes!(change_password)))
        .routes(form(routes!(start_totp)))
        .routes(form(routes!(confirm_totp)))
        .routes(form(routes!(remove_totp)))
        .routes(form(routes!(renew_recovery_codes)))
        .routes(form(routes!(sign_out_everywhere)))
        .routes(form(routes!(sign_out)))
        .routes(form(routes!(remove_app)))
        .routes(form(routes!(delete_account)))
        .routes(form(routes!(rename)))
}

/// A browser opening one of the account page's form addresses (a reload
/// after a change, a bookmark): a page pointing back to the account page.
async fn account_form_opened(State(state): State<AppState>) -> Response {
    pages::form_opened(
        &state.settings().issuer,
        "This form has expired",
        "Your account page has every form, up to date.",
        Some(("/account", "Open your account page")),
    )
}

/// What `?done=` after a change may say on the account page (a fixed set:
/// the query never puts text of its own on the page).
const NOTICES: [(&str, &str); 6] = [
    ("name", "Your name is changed."),
    (
        "codes",
        "Your new recovery codes are in place; the earlier ones no longer work.",
    ),
    (
        "app_removed",
        "The application's access is removed. It will ask again before using your account.",
    ),
    (
        "password",
        "Your password is changed. You were signed out on every other device.",
    ),
    (
        "totp",
        "Your authenticator app is set up. Signing in now asks for its code.",
    ),
    (
        "totp_removed",
        "Your authenticator app is removed. Signing in asks for your password only.",
    ),
];

/// The signed-in session and its user, or the page to show instead.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(BrowserSessionRow, UserRow), Box<Response>> {
    let issuer = &state.settings().issuer;
    let failure = |e: Error| Box::new(pages::failure(issuer, &e));
    let now = unix_now();
    let session = match cookies::session(headers, pages::secure(state)) {
        Some(cookie) => browser_sessions::find(state, &cookie, now)
            .await
            .map_err(failure)?,
        None => None,
    };
    let Some(session) = session else {
        return Err(Box::new(pages::message(
            issuer,
            StatusCode::UNAUTHORIZED,
            "You are not signed in",
            "Sign in through an application that uses this service, then open this page again. \
             Forgot your password? Choose “Forgot your password?” on the sign-in page.",
        )));
    };
    match user_of_token(state, &session.user_id).await {
        Ok(user) if user.disabled_at.is_none() => Ok((session, user)),
        Ok(_) | Err(Error::NotFound(_)) => Err(Box::new(pages::message(
            issuer,
            StatusCode::UNAUTHORIZED,
            "You are not signed in",
            "This account cannot be used any more.",
        ))),
        Err(e) => Err(failure(e)),
    }
}

/// The account page with `status`, a notice and errors per section.
async fn render(
    state: &AppState,
    headers: &HeaderMap,
    user: &UserRow,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let issuer = &state.settings().issuer;
    let totp = match second_factor::is_enrolled(state, &user.id).await {
        Ok(enrolled) => enrolled,
        Err(e) => return pages::failure(issuer, &e),
    };
    let codes_left = if totp {
        match second_factor::recovery_codes_left(state, &user.id).await {
            Ok(left) => left,
            Err(e) => return pages::failure(issuer, &e),
        }
    } else {
        0
    };
    let id = user.id.clone();
    let apps = match state.store().run(move |db| db.consents_of(&id)).await {
        Ok(apps) => apps
            .into_iter()
            .map(|(client, scope)| {
                let words: Vec<String> = scope
                    .split_ascii_whitespace()
                    .map(|s| pages::describe_scope(s).0)
                    .collect();
                (client, words.join(" · "))
            })
            .collect(),
        Err(e) => return pages::failure(issuer, &Error::from(e)),
    };
    pages::with_csrf(state, headers, status, |csrf| {
        let page = AccountPage {
            service: pages::service_name(issuer),
            csrf,
            email: user.email.clone(),
            name: user.name.clone(),
            totp,
            min_chars: MIN_PASSWORD_CHARS,
            notice: shown.notice.map(str::to_owned),
            password_error: shown.password_error,
            totp_error: shown.totp_error,
            delete_error: shown.delete_error,
            name_error: shown.name_error,
            codes_left,
            codes_error: shown.codes_error,
            apps,
        };
        pages::page(status, &page, &[])
    })
}

/// What the account page shows besides the account.
#[derive(Default)]
struct Shown {
    notice: Option<&'static str>,
    name_error: Option<String>,
    password_error: Option<String>,
    totp_error: Option<String>,
    delete_error: Option<String>,
    codes_error: Option<String>,
}

/// `GET /account`.
#[utoipa::path(
    get,
    path = "/account",
    tag = "pages",
    operation_id = "account_page",
    params(("done" = Option<String>, Query, description = "Which change to confirm on the page")),
    responses(
        (status = 200, description = "The account page", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
    )
)]
async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, user) = match signed_in(&state, &headers).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let done = Params::parse(query.unwrap_or_default().as_bytes());
    let done = done.get("done").ok().flatten().unwrap_or_default();
    let notice = NOTICES
        .iter()
        .find(|(key, _)| *key == done)
        .map(|(_, text)| *text);
    render(
        &state,
        &headers,
        &user,
        StatusCode::OK,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

/// A form post from a signed-in browser: its fields, session and user.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Post, BrowserSessionRow, UserRow), Box<Response>> {
    let post = Post::read(state, headers, body)?;
    let (session, user) = signed_in(state, headers).await?;
    Ok((post, session, user))
}

/// A wrong password or code, or the throttle, as a sentence for the page
/// (with its status); any other error as the failure page.
fn refusal(e: &Error) -> Option<(StatusCode, String)> {
    match e {
        Error::InvalidRequest(why) => Some((StatusCode::BAD_REQUEST, pages::sentence(why))),
        Error::InvalidGrant(_) => Some((
            StatusCode::BAD_REQUEST,
            "Your current password is not right.".into(),
        )),
        Error::InvalidCode => Some((
            StatusCode::BAD_REQUEST,
            "That code is not right. Enter the code your app shows now.".into(),
        )),
        Error::TooManyAttempts { retry_after } => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts. Wait {retry_after} seconds, then try again."),
        )),
        _ => None,
    }
}

/// The sections of the account page a refusal is shown in.
enum Section {
    Name,
    Password,
    Totp,
    Codes,
    Delete,
}

/// The account page again with why `e` refused the change, in `section`;
/// the failure page for any other error.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    user: &UserRow,
    e: &Error,
    section: Section,
) -> Response {
    let Some((status, text)) = refusal(e) else {
        return pages::failure(&state.settings().issuer, e);
    };
    let shown = match section {
        Section::Name => Shown {
            name_error: Some(text),
            ..Shown::default()
        },
        Section::Password => Shown {
            password_error: Some(text),
            ..Shown::default()
        },
        Section::Totp => Shown {
            totp_error: Some(text),
            ..Shown::default()
        },
        Section::Codes => Shown {
            codes_error: Some(text),
            ..Shown::default()
        },
        Section::Delete => Shown {
            delete_error: Some(text),
            ..Shown::default()
        },
    };
    with_retry(render(state, headers, user, status, shown).await, e)
}

/// Adds `Retry-After` to a throttled answer.
fn with_retry(mut response: Response, e: &Error) -> Response {
    if let Some(seconds) = e.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `POST /account/manage/password`: the current and a new password; the
/// other sessions end, this browser's goes on.
#[utoipa::path(
    post,
    path = "/account/manage/password",
    tag = "pages",
    operation_id = "account_change_password",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`current_password`, `new_password`, with the CSRF token"),
    responses(
        (status = 200, description = "The account page", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, session, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let address = address(peer);
    let current = Zeroizing::new(post.field("current_password").to_owned());
    let new = Zeroizing::new(post.field("new_password").to_owned());
    let changed = password::change(
        &state,
        address,
        &user.id,
        Some(&session.id),
        current,
        new,
        unix_now(),
    )
    .await;
    match changed {
        Ok(()) => pages::see_other("/account?done=password"),
        Err(e) => refused(&state, &headers, &user, &e, Section::Password).await,
    }
}

/// The enrolment page: the QR code, the URI and the secret, and the form
/// for the first code.
fn enrol_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    enrolment: &second_factor::Enrolment,
    error: Option<String>,
) -> Response {
    // The renderer writes an XML declaration first, which has no place
    // inside HTML.
    let svg = enrolment.qr_svg.as_str();
    let svg = svg.find("<svg").map_or(svg, |start| &svg[start..]);
    pages::with_csrf(state, headers, status, |csrf| {
        let page = TotpEnrolPage {
            service: pages::service_name(&state.settings().issuer),
            csrf,
            qr_svg: svg.to_owned(),
            otpauth_uri: enrolment.otpauth_uri.expose().to_owned(),
            secret: enrolment.secret.expose().to_owned(),
            error,
        };
        pages::page(status, &page, &[])
    })
}

/// `POST /account/manage/totp`: starts setting up an authenticator app (a
/// new secret, replacing one never confirmed).
#[utoipa::path(
    post,
    path = "/account/manage/totp",
    tag = "pages",
    operation_id = "account_start_totp",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "No fields, with the CSRF token"),
    responses(
        (status = 200, description = "The authenticator app's QR code and secret, and a form for the first code", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn start_totp(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    match second_factor::enrol(&state, &user, unix_now()).await {
        Ok(enrolment) => enrol_page(&state, &headers, StatusCode::OK, &enrolment, None),
        Err(Error::TotpEnrolled) => pages::see_other("/account"),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// `POST /account/manage/totp/confirm`: the first code; the answer shows
/// the recovery codes, this once. A wrong code shows the same QR code
/// again.
#[utoipa::path(
    post,
    path = "/account/manage/totp/confirm",
    tag = "pages",
    operation_id = "account_confirm_totp",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`code`, with the CSRF token"),
    responses(
        (status = 200, description = "The recovery codes, shown this once; or the QR code again after a wrong code", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let issuer = &state.settings().issuer;
    let address = address(peer);
    let code = Zeroizing::new(post.field("code").to_owned());
    match second_factor::confirm(&state, address, &user, &code, unix_now()).await {
        Ok(codes) => {
            let page = RecoveryCodesPage {
                service: pages::service_name(issuer),
                codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
                renewed: false,
            };
            pages::page(StatusCode::OK, &page, &[])
        }
        // Nothing waits for a code (confirmed already, or never started).
        Err(Error::InvalidRequest(_)) => pages::see_other("/account"),
        Err(e) => match refusal(&e) {
            Some((status, text)) => match second_factor::pending(&state, &user).await {
                Ok(Some(enrolment)) => with_retry(
                    enrol_page(&state, &headers, status, &enrolment, Some(text)),
                    &e,
                ),
                Ok(None) => pages::see_other("/account"),
                Err(e) => pages::failure(issuer, &e),
            },
            None => pages::failure(issuer, &e),
        },
    }
}

/// `POST /account/manage/totp/recovery_codes`: a current code or a
/// recovery code proves the app is in hand; ten new recovery codes replace
/// the old ones, shown this once.
#[utoipa::path(
    post,
    path = "/account/manage/totp/recovery_codes",
    tag = "pages",
    operation_id = "account_renew_recovery_codes",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`code`, with the CSRF token"),
    responses(
        (status = 200, description = "The new recovery codes, shown once", content_type = "text/html", body = String),
        (status = 303, description = "To `/account` when no authenticator app is set up", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn renew_recovery_codes(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let code = Zeroizing::new(post.field("code").to_owned());
    let renewed =
        second_factor::renew_recovery_codes(&state, address(peer), &user, &code, unix_now()).await;
    match renewed {
        Ok(codes) => {
            let page = RecoveryCodesPage {
                service: pages::service_name(&state.settings().issuer),
                codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
                renewed: true,
            };
            pages::page(StatusCode::OK, &page, &[])
        }
        // No authenticator app (removed meanwhile, in another tab).
        Err(Error::InvalidRequest(_)) => pages::see_other("/account"),
        Err(e) => refused(&state, &headers, &user, &e, Section::Codes).await,
    }
}

/// `POST /account/manage/totp/remove`: a current code or a recovery code
/// proves the app is in hand, then the factor goes.
#[utoipa::path(
    post,
    path = "/account/manage/totp/remove",
    tag = "pages",
    operation_id = "account_remove_totp",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`code`, with the CSRF token"),
    responses(
        (status = 200, description = "The account page", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn remove_totp(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let address = address(peer);
    let code = Zeroizing::new(post.field("code").to_owned());
    let now = unix_now();
    let removed = match second_factor::check_attempt(&state, address, &user, &code, now).await {
        Ok(()) => second_factor::remove(&state, &user).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => {
            tracing::info!(user = %user.id, "TOTP removed");
            pages::see_other("/account?done=totp_removed")
        }
        Err(e) => refused(&state, &headers, &user, &e, Section::Totp).await,
    }
}

/// `POST /account/manage/name`: a new display name.
#[utoipa::path(
    post,
    path = "/account/manage/name",
    tag = "pages",
    operation_id = "account_rename",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`name`, with the CSRF token"),
    responses(
        (status = 303, description = "To `/account?done=name` after the change", headers(("Location" = String))),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
    )
)]
async fn rename(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    match signup::rename(&state, &user.id, post.field("name")).await {
        Ok(()) => pages::see_other("/account?done=name"),
        Err(e) => refused(&state, &headers, &user, &e, Section::Name).await,
    }
}

/// `POST /account/manage/delete`: the account's owner, with the password,
/// deletes it; this browser is signed out with it.
#[utoipa::path(
    post,
    path = "/account/manage/delete",
    tag = "pages",
    operation_id = "account_delete",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`current_password`, with the CSRF token"),
    responses(
        (status = 200, description = "A page saying the account is deleted", content_type = "text/html", body = String),
        (status = 400, description = "The account page again: the password is not right", content_type = "text/html", body = String),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let current = Zeroizing::new(post.field("current_password").to_owned());
    match lifecycle::delete_own(&state, address(peer), &user, current, unix_now()).await {
        Ok(()) => signed_out(
            &state,
            "Your account is deleted",
            "Your account and its personal data are gone, and every application signed in \
             with it has been signed out. You can close this window.",
        ),
        Err(e) => refused(&state, &headers, &user, &e, Section::Delete).await,
    }
}

/// The page after signing out, with this browser's cookie cleared.
fn signed_out(state: &AppState, title: &str, text: &str) -> Response {
    let mut response = pages::message(&state.settings().issuer, StatusCode::OK, title, text);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear_session(pages::secure(state)),
    );
    response
}

/// `POST /account/manage/sign_out_everywhere`: every session and access
/// token of the account ends, this browser's too.
#[utoipa::path(
    post,
    path = "/account/manage/sign_out_everywhere",
    tag = "pages",
    operation_id = "account_sign_out_everywhere",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "No fields, with the CSRF token"),
    responses(
        (status = 200, description = "A page saying every session ended", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let issuer = &state.settings().issuer;
    let ended = match lifecycle::sign_out_everywhere(state.store(), &user.id, unix_now()).await {
        Ok(_) => state.revocations().catch_up().await.map_err(Error::from),
        Err(e) => Err(Error::from(e)),
    };
    if let Err(e) = ended {
        return pages::failure(issuer, &e);
    }
    tracing::info!(user = %user.id, "user signed out everywhere");
    signed_out(
        &state,
        "You are signed out everywhere",
        "Every device and application signed in to your account has been signed out, \
         this browser too. Applications may take a minute to notice.",
    )
}

/// `POST /account/manage/apps/remove`: an application the account approved
/// loses its access: the approval is forgotten (it asks again next time)
/// and every grant and refresh token it holds for the account is revoked,
/// which reaches resource servers through the revocation feed.
#[utoipa::path(
    post,
    path = "/account/manage/apps/remove",
    tag = "pages",
    operation_id = "account_remove_app",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`client_id`, with the CSRF token"),
    responses(
        (status = 303, description = "To `/account?done=app_removed`", headers(("Location" = String))),
        (status = 400, description = "No such approval: a page saying so", content_type = "text/html", body = String),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
    )
)]
async fn remove_app(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (post, _, user) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let issuer = &state.settings().issuer;
    let (id, client) = (user.id.clone(), post.field("client_id").to_owned());
    let shown = client.clone();
    let withdrawn = state
        .store()
        .run(move |db| db.withdraw_consent(&id, &client, unix_now()))
        .await;
    match withdrawn {
        Ok(true) => {}
        Ok(false) => {
            return pages::message(
                issuer,
                StatusCode::BAD_REQUEST,
                "Nothing to remove",
                "That application has no access to your account.",
            )
        }
        Err(e) => return pages::failure(issuer, &Error::from(e)),
    }
    if let Err(e) = state.revocations().catch_up().await {
        return pages::failure(issuer, &Error::from(e));
    }
    tracing::info!(user = %user.id, client = %shown, "application access removed");
    pages::see_other("/account?done=app_removed")
}

/// `POST /account/manage/sign_out`: this browser's session ends.
#[utoipa::path(
    post,
    path = "/account/manage/sign_out",
    tag = "pages",
    operation_id = "account_sign_out",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "No fields, with the CSRF token"),
    responses(
        (status = 200, description = "A page saying this browser is signed out", content_type = "text/html", body = String),
        (status = 303, description = "To `/account?done=...` after the change", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The account page again, saying why", content_type = "text/html", body = String),
        (status = 401, description = "No live browser session: a page saying how to sign in", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, session, _) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if let Err(e) = browser_sessions::end(&state, &session.id, unix_now()).await {
        return pages::failure(&state.settings().issuer, &e);
    }
    signed_out(
        &state,
        "You are signed out",
        "You have been signed out of this service on this browser. You can close this window.",
    )
}
