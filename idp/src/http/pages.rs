//! The server-rendered pages of browser sign-in: templates (askama,
//! checked at compile time, under `idp/templates/`), the one stylesheet,
//! and the headers every page carries.
//!
//! Every page answers with `Content-Security-Policy` (nothing but this
//! IdP's stylesheet loads, no script at all, `frame-ancestors 'none'`
//! against clickjacking, forms may post only here and redirect only to the
//! application the page is for), `Referrer-Policy: no-referrer` (URLs
//! carry codes and state), `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff`. Pages are the one exception to "every
//! error is JSON": a person reads them.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::Error;
use crate::state::AppState;

/// The stylesheet, served at `/assets/idp.css`.
const STYLESHEET: &str = include_str!("../../assets/idp.css");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stylesheet))
}

/// The stylesheet; it changes only with a new release.
#[utoipa::path(
    get,
    path = "/assets/idp.css",
    tag = "pages",
    operation_id = "stylesheet",

    responses(
        (status = 200, description = "The pages' stylesheet", content_type = "text/css; charset=utf-8", body = String),
    )
)]
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    /// Who runs the sign-in (the issuer's host).
    pub service: String,
    /// The application's name.
    pub client: String,
    /// The authorization request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The request as a query string, for the sign-up link.
    pub query: String,
    /// The CSRF token.
    pub csrf: String,
    /// Pre-filled email.
    pub email: String,
    /// What went wrong with the last attempt.
    pub error: Option<String>,
}

/// The second step of signing in: a TOTP or recovery code.
#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The application's name.
    pub client: String,
    /// The account signing in.
    pub email: String,
    /// The authorization request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The CSRF token.
    pub csrf: String,
    /// The token binding this page to the password step (never the
    /// password itself).
    pub mfa_token: String,
    /// What went wrong with the last code.
    pub error: Option<String>,
}

/// The sign-up page.
#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignUpPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The application's name.
    pub client: String,
    /// The authorization request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The request as a query string, for the sign-in link.
    pub query: String,
    /// The CSRF token.
    pub csrf: String,
    /// Pre-filled name.
    pub name: String,
    /// Pre-filled email.
    pub email: String,
    /// What went wrong with the last attempt.
    pub error: Option<String>,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The application's name.
    pub client: String,
    /// The signed-in user's email.
    pub user: String,
    /// Each requested scope in words: title and detail.
    pub scopes: Vec<(String, String)>,
    /// The authorization request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The CSRF token.
    pub csrf: String,
}

/// The confirmation asked before signing out without an `id_token_hint`.
#[derive(Template)]
#[template(path = "end_session.html")]
pub struct EndSessionPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The application asking, when it says.
    pub client: Option<String>,
    /// Where "stay signed in" goes: the application's post-logout URI.
    pub stay: Option<String>,
    /// The logout request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The CSRF token.
    pub csrf: String,
}

/// "Forgot your password?": the form asking for the email.
#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The application being signed in to, when the person came from its
    /// sign-in page.
    pub client: Option<String>,
    /// That authorization request, as hidden fields.
    pub params: Vec<(&'static str, String)>,
    /// The same as a query string, for the way back to the sign-in page.
    pub query: String,
    /// The CSRF token.
    pub csrf: String,
    /// Pre-filled email.
    pub email: String,
    /// What was wrong with the last post.
    pub error: Option<String>,
}

/// The mailed reset link's page: the new-password form.
#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The CSRF token.
    pub csrf: String,
    /// The link's single-use token, posted back with the form.
    pub token: String,
    /// The account's address (shown, and given to password managers).
    pub email: String,
    /// The shortest password accepted.
    pub min_chars: usize,
    /// What was wrong with the last post.
    pub error: Option<String>,
}

/// The mailed verification link's page: a button that confirms (a GET
/// never does: mail scanners follow links).
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The CSRF token.
    pub csrf: String,
    /// The link's single-use token, posted back with the form.
    pub token: String,
    /// The address being confirmed.
    pub email: String,
}

/// The account page of a signed-in browser.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The CSRF token.
    pub csrf: String,
    /// The account's address.
    pub email: String,
    /// The account's name.
    pub name: String,
    /// Whether an authenticator app guards sign-in.
    pub totp: bool,
    /// The shortest password accepted.
    pub min_chars: usize,
    /// What the last change did.
    pub notice: Option<String>,
    /// Why the last password change was refused.
    pub password_error: Option<String>,
    /// Why the last removal of the authenticator app was refused.
    pub totp_error: Option<String>,
    /// Why the last deletion of the account was refused.
    pub delete_error: Option<String>,
    /// Why the last change of name was refused.
    pub name_error: Option<String>,
    /// Unused recovery codes, while an authenticator app is set up.
    pub codes_left: u32,
    /// Why the last renewal of the recovery codes was refused.
    pub codes_error: Option<String>,
    /// The applications the account approved: client id and what each
    /// may do, in words.
    pub apps: Vec<(String, String)>,
}

/// Setting up an authenticator app: the QR code and the first code.
#[derive(Template)]
#[template(path = "totp_enrol.html")]
pub struct TotpEnrolPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The CSRF token.
    pub csrf: String,
    /// The QR code, an SVG element rendered by this IdP (no script).
    pub qr_svg: String,
    /// The `otpauth://` URI the QR code encodes.
    pub otpauth_uri: String,
    /// The secret in base32, to type in by hand.
    pub secret: String,
    /// Why the last code was refused.
    pub error: Option<String>,
}

/// The recovery codes, shown on the answer to the first code only.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    /// Who runs the sign-in.
    pub service: String,
    /// The ten single-use codes.
    pub codes: Vec<String>,
    /// Whether they replace earlier codes (rather than come with a new
    /// authenticator app).
    pub renewed: bool,
}

/// A page that only says something: an error, or "signed out".
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Who runs the sign-in.
    pub service: String,
    /// Heading.
    pub title: String,
    /// Text.
    pub message: String,
    /// A link on: address and words.
    pub link: Option<(String, String)>,
}

/// A scope in words, for the consent page.
pub fn describe_scope(scope: &str) -> (String, String) {
    let (title, detail) = match scope {
        "openid" => ("Know who you are", "Your account ID on this service"),
        "profile" => ("See your name", ""),
        "email" => ("See your email address", ""),
        "offline_access" => (
            "Stay connected",
            "Keep this access while you are not using the application",
        ),
        other => {
            return (
                format!("Use “{other}”"),
                "Access granted by this service".into(),
            )
        }
    };
    (title.to_owned(), detail.to_owned())
}

/// A domain error's description (`password must be ...`) as a sentence
/// for a page.
pub fn sentence(why: &str) -> String {
    let mut text = why.to_owned();
    if let Some(first) = text.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!("{text}.")
}

/// The issuer's host, for the page footer.
pub fn service_name(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| issuer.to_owned())
}

/// A rendered page with `status`, every security header, and a
/// `form-action` that also allows `form_targets` (the origins a form's
/// answer may redirect to).
pub fn page(status: StatusCode, template: &impl Template, form_targets: &[String]) -> Response {
    let body = match template.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut response = (status, body).into_response();
    let form_action = std::iter::once("'self'".to_owned())
        .chain(form_targets.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    security_headers(&mut response);
    response
}

/// `Referrer-Policy`, `Cache-Control: no-store`, `nosniff` and
/// `X-Frame-Options`, for pages and for the redirects that carry codes.
pub fn security_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Whether cookies must be `Secure` (the issuer is https).
pub fn secure(state: &AppState) -> bool {
    state.settings().issuer.starts_with("https://")
}

/// A page rendered with the browser's CSRF token, answered with `status`,
/// setting the CSRF cookie when the browser has none yet.
pub fn with_csrf(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    render: impl FnOnce(String) -> Response,
) -> Response {
    let (csrf, set) = super::cookies::csrf_token(headers, secure(state));
    let mut response = render(csrf);
    if let Some(cookie) = set {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    *response.status_mut() = status;
    response
}

/// A message page.
pub fn message(issuer: &str, status: StatusCode, title: &str, text: &str) -> Response {
    linked_message(issuer, status, title, text, None)
}

/// A message page with a link on (address and words), if any.
pub fn linked_message(
    issuer: &str,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    page(
        status,
        &MessagePage {
            service: service_name(issuer),
            title: title.to_owned(),
            message: text.to_owned(),
            link: link.map(|(href, words)| (href.to_owned(), words.to_owned())),
        },
        &[],
    )
}

/// `routes` (a form's POST target) answering every other method with
/// `page`: a person whose browser opens the address (a reload, a bookmark)
/// reads a page, not the API's JSON 405.
pub fn form_target<H, T>(
    routes: UtoipaMethodRouter<AppState>,
    page: H,
) -> UtoipaMethodRouter<AppState>
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let (schemas, paths, method_router) = routes;
    (schemas, paths, method_router.fallback(page))
}

/// The page of [`form_target`]: 405, `Allow: POST`, and a link on if any.
pub fn form_opened(
    issuer: &str,
    title: &str,
    text: &str,
    link: Option<(&'static str, &'static str)>,
) -> Response {
    let mut response = linked_message(issuer, StatusCode::METHOD_NOT_ALLOWED, title, text, link);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The page for an IdP failure: the error's status, a sentence a person
/// can act on, and `Retry-After` where waiting helps.
pub fn failure(issuer: &str, error: &Error) -> Response {
    let text = match error.status() {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            "The service is busy. Please try again in a moment."
        }
        s if s.is_server_error() => "Something went wrong on our side. Please try again.",
        _ => "The request could not be handled. Go back to the application and try again.",
    };
    let mut response = message(issuer, error.status(), "Sign-in is not available", text);
    if let Some(seconds) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A `303 See Other` to `location` (a form's answer becomes a GET), with
/// the page security headers.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect").into_response(),
    }
    security_headers(&mut response);
    response
}
