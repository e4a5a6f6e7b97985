//! Browser sign-in over HTTP: `/authorize` (GET and POST, OpenID Connect
//! Core §3.1.2.1), the sign-in and sign-up forms and the consent form.
//!
//! The request logic lives in `authorization.rs`; this module reads
//! cookies and forms, renders pages (`pages.rs`) and redirects. Every form
//! post is checked for its CSRF token first, then the authorization
//! request it carries is checked again from scratch.
//!
//! Signing in is two calls: [`check_password`] then [`signed_in`]. For an
//! account with a second factor a page of its own slots in between them
//! (`POST /signin/code`): the password step opens a short-lived,
//! single-use `mfa_token` (as `/login` does), the page carries it with the
//! authorization request and the CSRF token, and [`check_second_factor`]
//! (the check `/login/mfa` makes) ends in [`signed_in`] with `pwd otp`.
//! The same page steps up a password-only session when the request asks
//! for `acr_values=aal2` ([`authorization::needs_second_factor`]).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::cookies;
use super::pages::{self, ConsentPage, SecondFactorPage, SignInPage, SignUpPage};
use crate::accounts::second_factor;
use crate::accounts::sign_in::{
    check_password, check_second_factor, second_step_user, start_second_step,
};
use crate::accounts::signup::{sign_up as create_account, SignUp};
use crate::authorization::{self, AuthorizationRequest, Next, Params, Rejection};
use crate::browser_sessions;
use crate::error::Error;
use crate::redirect_uris::csp_source;
use crate::state::AppState;
use crate::store::{BrowserSessionRow, UserRow};
use crate::tokens::AuthMethods;
use crate::{metrics, unix_now};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_get, authorize_post))
        .routes(pages::form_target(routes!(sign_in), sign_in_form_opened))
        .routes(pages::form_target(
            routes!(sign_in_code),
            sign_in_form_opened,
        ))
        .routes(routes!(sign_up_page, sign_up))
        .routes(pages::form_target(routes!(consent), sign_in_form_opened))
}

/// A browser opening a sign-in form's address (a reload after a wrong
/// password, a bookmark, a new tab): the form carried the application's
/// request, so the way on is through the application again.
async fn sign_in_form_opened(State(state): State<AppState>) -> Response {
    pages::form_opened(
        &state.settings().issuer,
        "This sign-in page has expired",
        "Go back to the application and sign in from there again.",
        None,
    )
}

/// The parameters of an authorization request (OpenID Connect Core
/// §3.1.2.1), for the OpenAPI document: `authorization.rs` reads them from
/// [`Params`], which refuses repeated parameters, so this type describes
/// them and is not what the handlers deserialize.
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct AuthorizeParams {
    /// Always `code`.
    response_type: String,
    client_id: String,
    /// One of the client's registered redirect URIs.
    redirect_uri: String,
    /// Space-separated; `openid` for an ID token.
    scope: String,
    /// Returned unchanged with the answer.
    state: Option<String>,
    /// Put in the ID token.
    nonce: Option<String>,
    /// PKCE (RFC 7636), required: `BASE64URL(SHA-256(code_verifier))`.
    code_challenge: String,
    /// `S256`.
    code_challenge_method: String,
    /// `none`, `login`, `consent` (space-separated).
    prompt: Option<String>,
    /// Seconds since the last sign-in after which the user signs in again.
    max_age: Option<u64>,
    /// Pre-fills the email on the sign-in page; a browser signed in as
    /// another account signs in again (`login_required` under
    /// `prompt=none`).
    login_hint: Option<String>,
    /// An ID token this IdP issued (expired or not): a browser signed in
    /// as another account signs in again; anything else is
    /// `invalid_request`.
    id_token_hint: Option<String>,
    /// The API the tokens are for (RFC 8707): a registered one, else the
    /// client is sent back with `error=invalid_target`. The code's access
    /// token and every refresh's are for that API alone.
    resource: Option<String>,
    /// `aal2` asks for a second factor.
    acr_values: Option<String>,
    /// `query` (the only mode).
    response_mode: Option<String>,
}

type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// A form post's fields, or the page saying why it was refused (every
/// page's form: sign-in, consent, the mailed links' pages).
pub(super) struct Post {
    fields: Params,
}

impl Post {
    /// Reads a form body and checks its CSRF token against the cookie.
    pub(super) fn read(
        state: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, Box<Response>> {
        let issuer = &state.settings().issuer;
        if !is_form(headers) {
            return Err(Box::new(pages::message(
                issuer,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This form could not be read",
                "Go back to the application and try again.",
            )));
        }
        let fields = Params::parse(body);
        let token = fields.get(cookies::CSRF_FIELD).ok().flatten();
        if !cookies::csrf_matches(headers, pages::secure(state), token) {
            return Err(Box::new(pages::message(
                issuer,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this site, or it is too old. Go back, reload the page and try again.",
            )));
        }
        Ok(Self { fields })
    }

    /// A field's value (empty when absent or repeated).
    pub(super) fn field(&self, name: &str) -> &str {
        self.fields.get(name).ok().flatten().unwrap_or_default()
    }

    /// Every field, as the authorization request's parameters travel in a
    /// form's hidden fields.
    pub(super) fn params(&self) -> &Params {
        &self.fields
    }
}

/// The answer for a refused request.
fn rejected(state: &AppState, rejection: Rejection) -> Response {
    let issuer = &state.settings().issuer;
    match rejection {
        Rejection::Page(text) => pages::message(
            issuer,
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            text,
        ),
        Rejection::Redirect(error) => pages::see_other(&error.location(issuer)),
        Rejection::Failed(error) => pages::failure(issuer, &error),
    }
}

/// Adds `Set-Cookie` headers.
fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The origins a form about `request` may end up redirecting to.
fn form_targets(request: &AuthorizationRequest) -> Vec<String> {
    csp_source(&request.redirect_uri).into_iter().collect()
}

/// The sign-in page for `request`, with `error` shown, and a CSRF cookie.
fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    status: StatusCode,
    email: Option<&str>,
    error: Option<String>,
) -> Response {
    let (csrf, set) = cookies::csrf_token(headers, pages::secure(state));
    let page = SignInPage {
        service: pages::service_name(&state.settings().issuer),
        client: request.client.client_id.clone(),
        params: request.params.clone(),
        query: request.query(),
        csrf,
        email: email
            .or(request.login_hint.as_deref())
            .unwrap_or_default()
            .to_owned(),
        error,
    };
    with_cookies(pages::page(status, &page, &form_targets(request)), set)
}

/// The second-factor page for `request` and `user`, bound to the password
/// step by `mfa_token`, with `error` shown.
fn second_factor_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    user: &UserRow,
    mfa_token: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (csrf, set) = cookies::csrf_token(headers, pages::secure(state));
    let page = SecondFactorPage {
        service: pages::service_name(&state.settings().issuer),
        client: request.client.client_id.clone(),
        email: user.email.clone(),
        params: request.params.clone(),
        csrf,
        mfa_token: mfa_token.to_owned(),
        error,
    };
    with_cookies(pages::page(status, &page, &form_targets(request)), set)
}

/// Opens the second step for `user` (whose password, or live session, is
/// proven) and shows its page.
async fn ask_second_factor(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    user: &UserRow,
    now: u64,
) -> Response {
    match start_second_step(state, user, now).await {
        Ok(token) => second_factor_page(
            state,
            headers,
            request,
            user,
            token.expose(),
            StatusCode::OK,
            None,
        ),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// The consent page for `request` and `user`.
fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    user: &UserRow,
) -> Response {
    let (csrf, set) = cookies::csrf_token(headers, pages::secure(state));
    let page = ConsentPage {
        service: pages::service_name(&state.settings().issuer),
        client: request.client.client_id.clone(),
        user: user.email.clone(),
        scopes: request
            .scope
            .iter()
            .map(|s| pages::describe_scope(s))
            .collect(),
        params: request.params.clone(),
        csrf,
    };
    with_cookies(
        pages::page(StatusCode::OK, &page, &form_targets(request)),
        set,
    )
}

/// The browser's live session and its user, if any.
async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    now: u64,
) -> Result<Option<(BrowserSessionRow, UserRow)>, Error> {
    let Some(cookie) = cookies::session(headers, pages::secure(state)) else {
        return Ok(None);
    };
    let Some(session) = browser_sessions::find(state, &cookie, now).await? else {
        return Ok(None);
    };
    let user_id = session.user_id.clone();
    let user = state.store().run(move |db| db.user_by_id(&user_id)).await?;
    Ok(user.map(|user| (session, user)))
}

/// `GET /authorize`.
#[utoipa::path(
    get,
    path = "/authorize",
    tag = "oauth",
    operation_id = "authorize",
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The sign-in, second-factor or consent page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client's `redirect_uri` with `code`, `state` and `iss`, or with `error` (`login_required`, `consent_required`, `access_denied`, `invalid_scope`, `invalid_target`, `unsupported_response_type`, ...)", headers(("Location" = String))),
        (status = 400, description = "A request that cannot be sent back (unknown client, unregistered `redirect_uri`)", content_type = "text/html", body = String),
    )
)]
async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    authorize(&state, &headers, &params).await
}

/// `POST /authorize`: the same request as a form body (OpenID Connect
/// Core §3.1.2.1). An application's form posts here, not a page of this
/// IdP, so there is no CSRF token to check: nothing is changed until the
/// user acts on a page.
#[utoipa::path(
    post,
    path = "/authorize",
    tag = "oauth",
    operation_id = "authorize_post",
    request_body(content = AuthorizeParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The sign-in, second-factor or consent page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client's `redirect_uri` with `code`, `state` and `iss`, or with `error` (`login_required`, `consent_required`, `access_denied`, `invalid_scope`, `invalid_target`, `unsupported_response_type`, ...)", headers(("Location" = String))),
        (status = 400, description = "A request that cannot be sent back (unknown client, unregistered `redirect_uri`)", content_type = "text/html", body = String),
        (status = 415, description = "The body is not a form", content_type = "text/html", body = String),
    )
)]
async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return pages::message(
            &state.settings().issuer,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "This sign-in request could not be read",
            "Go back to the application and try again.",
        );
    }
    authorize(&state, &headers, &Params::parse(&body)).await
}

/// Whether the body is `application/x-www-form-urlencoded`.
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

async fn authorize(state: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    let request = match authorization::parse(state, params).await {
        Ok(request) => request,
        Err(rejection) => return rejected(state, rejection),
    };
    let now = unix_now();
    let result = async {
        let current = current_session(state, headers, now).await?;
        let remembered = match &current {
            Some((_, user)) => authorization::consent_remembered(state, &request, &user.id).await?,
            None => false,
        };
        Ok::<_, Error>((current, remembered))
    }
    .await;
    let (current, remembered) = match result {
        Ok(found) => found,
        Err(e) => return pages::failure(&state.settings().issuer, &e),
    };
    let current = current.filter(|(_, user)| authorization::hint_fits(&request, user));
    let next =
        authorization::next_step(&request, current.as_ref().map(|(s, _)| s), remembered, now);
    if let (Ok(Next::Consent | Next::Issue), Some((session, user))) = (&next, &current) {
        if request.wants_aal2 {
            let enrolled = match second_factor::is_enrolled(state, &user.id).await {
                Ok(enrolled) => enrolled,
                Err(e) => return pages::failure(&state.settings().issuer, &e),
            };
            if authorization::needs_second_factor(&request, session, enrolled) {
                return ask_second_factor(state, headers, &request, user, now).await;
            }
        }
    }
    match next {
        Err(error) => pages::see_other(&error.location(&state.settings().issuer)),
        Ok(Next::SignIn) => sign_in_page(state, headers, &request, StatusCode::OK, None, None),
        Ok(Next::Consent) => match &current {
            Some((_, user)) => consent_page(state, headers, &request, user),
            None => sign_in_page(state, headers, &request, StatusCode::OK, None, None),
        },
        Ok(Next::Issue) => match &current {
            Some((session, user)) => issue(state, &request, user, session, now).await,
            None => sign_in_page(state, headers, &request, StatusCode::OK, None, None),
        },
    }
}

/// Redirects to the client with a new code.
async fn issue(
    state: &AppState,
    request: &AuthorizationRequest,
    user: &UserRow,
    session: &BrowserSessionRow,
    now: u64,
) -> Response {
    match authorization::issue_code(state, request, user, session, now).await {
        Ok(location) => pages::see_other(&location),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// Reads a posted form and the authorization request it carries.
async fn posted_request(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Post, AuthorizationRequest), Box<Response>> {
    let post = Post::read(state, headers, body)?;
    let request = authorization::parse(state, &post.fields)
        .await
        .map_err(|r| Box::new(rejected(state, r)))?;
    Ok((post, request))
}

/// `POST /signin`: the sign-in form. The same throttle and password check
/// as `POST /login`; a refusal shows the form again, saying the same for
/// an unknown email and a wrong password.
#[utoipa::path(
    post,
    path = "/signin",
    tag = "pages",
    operation_id = "sign_in_form",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "The sign-in page's form: `email`, `password`, the authorization request it carries and the CSRF token"),
    responses(
        (status = 200, description = "The second-factor or consent page, or the sign-in form again saying why (a wrong email or password)", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client with a code", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "A form that cannot be read", content_type = "text/html", body = String),
        (status = 429, description = "The form again: too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, request) = match posted_request(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let email = post.field("email").to_owned();
    let password = Zeroizing::new(post.field("password").to_owned());
    let address = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let refused = |message: &str| {
        sign_in_page(
            &state,
            &headers,
            &request,
            StatusCode::OK,
            Some(&email),
            Some(message.into()),
        )
    };
    match check_password(&state, address, &email, password).await {
        Ok(user) => match second_factor::is_enrolled(&state, &user.id).await {
            Ok(false) => signed_in(&state, &headers, &request, user, AuthMethods::Password).await,
            Ok(true) => ask_second_factor(&state, &headers, &request, &user, unix_now()).await,
            Err(e) => pages::failure(&state.settings().issuer, &e),
        },
        Err(Error::AccountDisabled) => refused("This account is disabled."),
        Err(Error::EmailNotVerified) => {
            refused("Confirm your email address first: follow the link in the mail we sent you.")
        }
        Err(Error::InvalidCredentials { .. }) => sign_in_page(
            &state,
            &headers,
            &request,
            StatusCode::OK,
            Some(&email),
            Some("The email or password is incorrect.".into()),
        ),
        Err(Error::TooManyAttempts { retry_after }) => {
            let mut response = sign_in_page(
                &state,
                &headers,
                &request,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&email),
                Some(format!(
                    "Too many attempts. Wait {retry_after} seconds, then try again."
                )),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// `POST /signin/code`: the second step. The right code signs the browser
/// in with `pwd otp`; a wrong one shows the page again (it counts against
/// the account like a wrong password, and against the `mfa_token`, which is
/// spent after a few); a spent or expired `mfa_token` sends the user back
/// to the sign-in form.
#[utoipa::path(
    post,
    path = "/signin/code",
    tag = "pages",
    operation_id = "sign_in_code_form",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "The second-factor page's form: `code`, `mfa_token`, the authorization request and the CSRF token"),
    responses(
        (status = 200, description = "The consent page, or the sign-in or code form again", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client with a code", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "A form that cannot be read", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn sign_in_code(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, request) = match posted_request(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let mfa_token = Zeroizing::new(post.field("mfa_token").to_owned());
    let code = Zeroizing::new(post.field("code").to_owned());
    let address = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let now = unix_now();
    let (state, headers, request, mfa_token) = (&state, &headers, &request, &mfa_token);
    let issuer = &state.settings().issuer;
    let start_again = |message: &str| {
        sign_in_page(
            state,
            headers,
            request,
            StatusCode::OK,
            None,
            Some(message.into()),
        )
    };
    let again = |status: StatusCode, message: String| async move {
        match second_step_user(state, mfa_token, now).await {
            Ok(Some(user)) => second_factor_page(
                state,
                headers,
                request,
                &user,
                mfa_token,
                status,
                Some(message),
            ),
            Ok(None) => start_again(
                "Too many wrong codes. Sign in again with your password to get a fresh try.",
            ),
            Err(e) => pages::failure(issuer, &e),
        }
    };
    match check_second_factor(state, address, mfa_token, &code, now).await {
        Ok(user) => signed_in(state, headers, request, user, AuthMethods::PasswordAndOtp).await,
        Err(Error::InvalidCode) => {
            again(
                StatusCode::OK,
                "That code is not right. Check your authenticator app and try again.".into(),
            )
            .await
        }
        Err(Error::TooManyAttempts { retry_after }) => {
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts. Wait {retry_after} seconds, then try again."),
            )
            .await;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
        Err(Error::InvalidGrant(_)) => {
            start_again("This sign-in took too long or had too many wrong codes. Sign in again.")
        }
        Err(Error::AccountDisabled) => start_again("This account is disabled."),
        Err(Error::EmailNotVerified) => start_again(
            "Confirm your email address first: follow the link in the mail we sent you.",
        ),
        Err(e) => pages::failure(issuer, &e),
    }
}

/// The user proved who they are with `auth`: open (or renew) the browser
/// session, then ask for consent or go back to the application with a code.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    user: UserRow,
    auth: AuthMethods,
) -> Response {
    let now = unix_now();
    let issuer = &state.settings().issuer;
    let opened = async {
        let current = current_session(state, headers, now).await?.map(|(s, _)| s);
        let (session, cookie) = browser_sessions::sign_in(state, &user, current, auth, now).await?;
        let remembered = authorization::consent_remembered(state, request, &user.id).await?;
        Ok::<_, Error>((session, cookie, remembered))
    }
    .await;
    let (session, cookie, remembered) = match opened {
        Ok(opened) => opened,
        Err(e) => return pages::failure(issuer, &e),
    };
    metrics::inc(&state.metrics().browser_sign_ins);
    let set = cookies::set_session(&cookie, pages::secure(state), state.settings().session_ttl);
    let response = match authorization::after_sign_in(request, remembered) {
        Err(error) => pages::see_other(&error.location(issuer)),
        Ok(Next::Consent) => consent_page(state, headers, request, &user),
        Ok(Next::SignIn | Next::Issue) => issue(state, request, &user, &session, now).await,
    };
    with_cookies(response, [set])
}

/// `GET /signup`: the sign-up page for an authorization request.
#[utoipa::path(
    get,
    path = "/signup",
    tag = "pages",
    operation_id = "sign_up_page",
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The sign-up page for an authorization request", content_type = "text/html", body = String),
        (status = 400, description = "The authorization request is not valid", content_type = "text/html", body = String),
    )
)]
async fn sign_up_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match authorization::parse(&state, &params).await {
        Ok(request) => sign_up_form(&state, &headers, &request, StatusCode::OK, "", "", None),
        Err(rejection) => rejected(&state, rejection),
    }
}

fn sign_up_form(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    status: StatusCode,
    name: &str,
    email: &str,
    error: Option<String>,
) -> Response {
    let (csrf, set) = cookies::csrf_token(headers, pages::secure(state));
    let page = SignUpPage {
        service: pages::service_name(&state.settings().issuer),
        client: request.client.client_id.clone(),
        params: request.params.clone(),
        query: request.query(),
        csrf,
        name: name.to_owned(),
        email: email.to_owned(),
        error,
    };
    with_cookies(pages::page(status, &page, &form_targets(request)), set)
}

/// `POST /signup`: creates the account with the rules of `POST /user`,
/// signs the browser in and continues the authorization request.
#[utoipa::path(
    post,
    path = "/signup",
    tag = "pages",
    operation_id = "sign_up_form",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "The sign-up form: `email`, `name`, `password`, the authorization request and the CSRF token"),
    responses(
        (status = 200, description = "The consent page, or the form again saying why", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client with a code", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "The form again: a field is invalid", content_type = "text/html", body = String),
        (status = 202, description = "With `--require-email-verification`: a page saying to check the mail", content_type = "text/html", body = String),
        (status = 409, description = "The form again: the email is taken", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts (with `Retry-After`)", content_type = "text/html", body = String),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (post, request) = match posted_request(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (name, email) = (post.field("name"), post.field("email"));
    let password = Zeroizing::new(post.field("password").to_owned());
    let again = |status, message: String| {
        sign_up_form(
            &state,
            &headers,
            &request,
            status,
            name,
            email,
            Some(message),
        )
    };
    let address = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    match create_account(&state, address, email, name, password, unix_now()).await {
        Ok(SignUp::Created(user)) => {
            signed_in(&state, &headers, &request, user, AuthMethods::Password).await
        }
        Ok(SignUp::CheckYourMail) => pages::message(
            &state.settings().issuer,
            StatusCode::ACCEPTED,
            "Check your mail",
            "Follow the link we mailed to your address to finish, then sign in.",
        ),
        Err(Error::EmailTaken) => again(
            StatusCode::CONFLICT,
            "An account with this email already exists. Sign in instead.".into(),
        ),
        Err(Error::InvalidRequest(why)) => again(StatusCode::BAD_REQUEST, pages::sentence(&why)),
        Err(e) => pages::failure(&state.settings().issuer, &e),
    }
}

/// `POST /consent`: `decision=allow` remembers the approval and issues the
/// code; `decision=deny` sends `access_denied` back.
#[utoipa::path(
    post,
    path = "/consent",
    tag = "pages",
    operation_id = "consent_form",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "The consent page's form: `decision` (`allow` or `deny`), the authorization request and the CSRF token"),
    responses(
        (status = 303, description = "Back to the client with a code, or with `error=access_denied`", headers(("Location" = String))),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
        (status = 400, description = "A form that cannot be read or a request no longer valid", content_type = "text/html", body = String),
    )
)]
async fn consent(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (post, request) = match posted_request(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let now = unix_now();
    let issuer = &state.settings().issuer;
    let current = match current_session(&state, &headers, now).await {
        Ok(current) => current,
        Err(e) => return pages::failure(issuer, &e),
    };
    let Some((session, user)) = current else {
        // The session ended while the page was open: sign in again.
        return sign_in_page(
            &state,
            &headers,
            &request,
            StatusCode::OK,
            None,
            Some("Your session ended. Please sign in again.".into()),
        );
    };
    match post.field("decision") {
        "allow" => {
            if let Err(e) = authorization::remember_consent(&state, &request, &user.id, now).await {
                return pages::failure(issuer, &e);
            }
            issue(&state, &request, &user, &session, now).await
        }
        "deny" => pages::see_other(
            &request
                .error("access_denied", "the user denied the request")
                .location(issuer),
        ),
        _ => pages::message(
            issuer,
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            "Choose Allow or Deny.",
        ),
    }
}
