//! The authorization request (RFC 6749 §4.1.1, RFC 7636, OpenID Connect
//! Core §3.1.2) and what answers it: a sign-in page, a consent page, a code,
//! or an error.
//!
//! [`parse`] reads a request's parameters. While the client or its redirect
//! URI is unknown nothing can be sent back, so those failures are a
//! [`Rejection::Page`]; every later failure goes back to the client
//! (RFC 6749 §4.1.2.1) as a [`Rejection::Redirect`]. [`next_step`] decides,
//! from the browser session and remembered consent, whether the user must
//! sign in, approve, or neither. [`issue_code`] stores the grant and builds
//! the redirect that carries the code. Every answer sent back carries `iss`
//! (RFC 9207) and the request's `state`, unchanged.
//!
//! The request travels through the sign-in, sign-up and consent forms as
//! hidden fields ([`AuthorizationRequest::params`]) and is parsed and
//! checked again on every post, so a tampered field is refused like a
//! tampered URL.

use std::borrow::Cow;

use url::Url;

use crate::apis;
use crate::error::Error;
use crate::id_tokens;
use crate::pkce;
use crate::redirect_uris;
use crate::scope::parse_scope;
use crate::secret::{digest, random_secret};
use crate::state::AppState;
use crate::store::{BrowserSessionRow, ClientRow, GrantRow, UserRow};
use crate::tokens::AuthMethods;

/// How long a code may be redeemed, seconds.
pub const CODE_TTL: u64 = 60;

/// The OpenID Connect scopes every client may request.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The parameters of an authorization request this IdP reads, in the
/// order the forms carry them. `resource` (RFC 8707), once checked to name
/// a registered API, is carried through and stored with the grant.
pub const PARAMS: [&str; 15] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "resource",
    "acr_values",
];

/// The longest `state`, `nonce` or `login_hint` accepted.
const MAX_PARAM_LEN: usize = 1024;

/// The longest `id_token_hint` accepted (an ID token of this IdP is about
/// 1 KiB with a 2048-bit key, 2 KiB with a 4096-bit one).
const MAX_HINT_LEN: usize = 8192;

/// Request parameters as sent (query string or form body), in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or
    /// a form body).
    pub fn parse(text: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The value of `name`: `Ok(None)` when absent or empty (RFC 6749
    /// §3.1), `Err` when repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Repeated> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Repeated);
        }
        Ok(first)
    }
}

/// A parameter was sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// What `prompt` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: no page may be shown.
    pub none: bool,
    /// `login`: ask for the password even with a session.
    pub login: bool,
    /// `consent`: show the consent page even when approved before.
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The registered client.
    pub client: ClientRow,
    /// The redirect URI, exactly as requested (and registered).
    pub redirect_uri: String,
    /// Requested scopes, deduplicated, in request order.
    pub scope: Vec<String>,
    /// Returned unchanged with the answer.
    pub state: Option<String>,
    /// Echoed in the ID token.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, seconds.
    pub max_age: Option<u64>,
    /// Pre-fills the sign-in form's email; a browser signed in as another
    /// account signs in again (see [`hint_fits`]).
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint` (an ID token this IdP issued,
    /// expired or not): the account the application expects.
    pub hinted_sub: Option<String>,
    /// The RFC 8707 `resource`: a registered API, which the grant remembers
    /// (its tokens are for that API alone); carried through the forms.
    pub resource: Option<String>,
    /// `acr_values` named `aal2`: the application would like a second
    /// factor (a voluntary claim, OpenID Connect Core §5.5.1.1; see
    /// [`needs_second_factor`]).
    pub wants_aal2: bool,
    /// Every parameter of [`PARAMS`] that was sent, for the forms' hidden
    /// fields and links.
    pub params: Vec<(&'static str, String)>,
}

impl AuthorizationRequest {
    /// Whether `scope` was requested.
    pub fn wants(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }

    /// The requested scopes sorted: the key consent is remembered under.
    pub fn consent_key(&self) -> String {
        let mut sorted = self.scope.clone();
        sorted.sort();
        sorted.join(" ")
    }

    /// The request as a query string (for links between the pages).
    pub fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish()
    }

    /// An error to send back to the client.
    pub fn error(
        &self,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> AuthorizationError {
        AuthorizationError {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description: description.into(),
            state: self.state.clone(),
        }
    }
}

/// An error answered by redirect (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone)]
pub struct AuthorizationError {
    /// Where to send it.
    pub redirect_uri: String,
    /// The error code.
    pub error: &'static str,
    /// Human-readable detail; never echoes a submitted value.
    pub description: Cow<'static, str>,
    /// The request's `state`.
    pub state: Option<String>,
}

impl AuthorizationError {
    /// The redirect URL carrying the error, `state` and `iss`.
    pub fn location(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error),
            ("error_description", self.description.as_ref()),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }
}

/// Why a request was refused.
#[derive(Debug, Clone)]
pub enum Rejection {
    /// The client or redirect URI is unknown: an HTML page, never a
    /// redirect. The text is for the user.
    Page(&'static str),
    /// Back to the client with an error.
    Redirect(AuthorizationError),
    /// The IdP failed (database unavailable, ...).
    Failed(Error),
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// `redirect_uri` with `pairs` appended to its query (as it is, without
/// a dangling `?`, when there are none).
pub fn with_query(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return redirect_uri.to_owned();
    }
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        // Registered URIs always parse; keep the request's URI as it is
        // rather than fail if one somehow does not.
        Err(_) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let separator = if redirect_uri.contains('?') { '&' } else { '?' };
            format!("{redirect_uri}{separator}{query}")
        }
    }
}

/// A parameter that must be sent once before anything can be sent back
/// (`client_id`, `redirect_uri`): otherwise a page says `missing` or
/// `repeated`.
fn page_param(
    params: &Params,
    name: &str,
    missing: &'static str,
    repeated: &'static str,
) -> Result<String, Rejection> {
    match params.get(name) {
        Ok(Some(value)) => Ok(value.to_owned()),
        Ok(None) => Err(Rejection::Page(missing)),
        Err(Repeated) => Err(Rejection::Page(repeated)),
    }
}

/// Reads and checks an authorization request.
pub async fn parse(state: &AppState, params: &Params) -> Result<AuthorizationRequest, Rejection> {
    let client_id = page_param(
        params,
        "client_id",
        "The request names no application (client_id is missing).",
        "The request names more than one application.",
    )?;
    let lookup = client_id.clone();
    let client = state
        .store()
        .run(move |db| db.client(&lookup))
        .await
        .map_err(Error::from)?;
    let Some(client) = client else {
        return Err(Rejection::Page(
            "The application that sent you here is not registered with this sign-in service.",
        ));
    };
    let redirect_uri = page_param(
        params,
        "redirect_uri",
        "The request does not say where to return you (redirect_uri is missing).",
        "The request names more than one return address.",
    )?;
    if !redirect_uris::matches(&client.redirect_uris, &redirect_uri, client.public) {
        return Err(Rejection::Page("The return address in the request is not registered for this application, so you were not sent back."));
    }
    let state_param = params.get("state").ok().flatten().map(str::to_owned);
    let refuse = |error: &'static str, description: &'static str| {
        Rejection::Redirect(AuthorizationError {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.into(),
            state: state_param.clone(),
        })
    };
    let mut values = Vec::new();
    for name in PARAMS {
        match params.get(name) {
            Ok(Some(v)) => values.push((name, v.to_owned())),
            Ok(None) => {}
            Err(Repeated) => {
                return Err(refuse("invalid_request", "a parameter is repeated"));
            }
        }
    }
    let value = |name: &str| {
        values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    // Present once or more (a repetition is no less a request object).
    let present = |name: &str| !matches!(params.get(name), Ok(None));
    if present("request") {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if present("request_uri") {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match value("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "response_type must be code",
            ))
        }
        None => return Err(refuse("invalid_request", "response_type is missing")),
    }
    if value("response_mode").is_some_and(|m| m != "query") {
        return Err(refuse("invalid_request", "response_mode must be query"));
    }
    let code_challenge = match (value("code_challenge"), value("code_challenge_method")) {
        (None, _) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge is required (PKCE with S256)",
            ))
        }
        (Some(_), None | Some("plain")) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256; plain is not accepted",
            ))
        }
        (Some(_), Some(m)) if m != pkce::S256 => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256",
            ))
        }
        (Some(c), Some(_)) if !pkce::valid_challenge(c) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            ))
        }
        (Some(c), Some(_)) => c.to_owned(),
    };
    let Some(scope) = value("scope") else {
        return Err(refuse("invalid_scope", "scope is required"));
    };
    let Ok(scope) = parse_scope(scope) else {
        return Err(refuse("invalid_scope", "scope is malformed"));
    };
    let allowed: Vec<&str> = client.scope.split_ascii_whitespace().collect();
    if scope
        .iter()
        .any(|s| !OIDC_SCOPES.contains(&s.as_str()) && !allowed.contains(&s.as_str()))
    {
        return Err(refuse(
            "invalid_scope",
            "a requested scope is not available to this client",
        ));
    }
    if scope.is_empty() {
        return Err(refuse("invalid_scope", "scope is required"));
    }
    let mut prompt = Prompt::default();
    for p in value("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        match p {
            "none" => prompt.none = true,
            "login" | "select_account" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "prompt must be none, login or consent",
                ))
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match value("max_age") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(seconds) => Some(seconds),
            Err(_) => {
                return Err(refuse(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ))
            }
        },
    };
    for name in ["state", "nonce", "login_hint", "resource", "acr_values"] {
        if value(name).is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(refuse("invalid_request", "a parameter is too long"));
        }
    }
    let hinted_sub = match value("id_token_hint") {
        None => None,
        Some(hint) if hint.len() > MAX_HINT_LEN => {
            return Err(refuse("invalid_request", "id_token_hint is too long"));
        }
        Some(hint) => {
            match id_tokens::verify_hint(&state.keys().ring(), &state.settings().issuer, hint) {
                Some(claims) => Some(claims.sub),
                None => {
                    return Err(refuse(
                        "invalid_request",
                        "id_token_hint is not an ID token of this issuer",
                    ))
                }
            }
        }
    };
    // The API the tokens are to be for (RFC 8707 §2.1): a registered one,
    // or the client is told at once, before anyone signs in.
    match apis::target(state.store(), value("resource")).await {
        Ok(_) => {}
        Err(Error::InvalidTarget(description)) => {
            return Err(Rejection::Redirect(AuthorizationError {
                redirect_uri: redirect_uri.clone(),
                error: "invalid_target",
                description,
                state: state_param,
            }))
        }
        Err(e) => return Err(Rejection::Failed(e)),
    }
    Ok(AuthorizationRequest {
        nonce: value("nonce").map(str::to_owned),
        login_hint: value("login_hint").map(str::to_owned),
        hinted_sub,
        resource: value("resource").map(str::to_owned),
        wants_aal2: value("acr_values")
            .is_some_and(|v| v.split_ascii_whitespace().any(|a| a == ACR_AAL2)),
        client,
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state_param,
        code_challenge,
        prompt,
        max_age,
        params: values,
    })
}

/// What the request needs before a code can be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The sign-in page.
    SignIn,
    /// The consent page.
    Consent,
    /// Nothing: issue the code.
    Issue,
}

/// What `request` needs next, given the browser's live `session`, whether
/// the user approved this scope set for the client before, and `now`; or
/// the error to send back when `prompt=none` forbids showing a page.
pub fn next_step(
    request: &AuthorizationRequest,
    session: Option<&BrowserSessionRow>,
    consent_remembered: bool,
    now: u64,
) -> Result<Next, AuthorizationError> {
    // `max_age=0` asks for a password every time, like `prompt=login`
    // (a sign-in a moment ago would otherwise pass within the second).
    let too_old = |s: &BrowserSessionRow| {
        request
            .max_age
            .is_some_and(|max| max == 0 || now.saturating_sub(s.auth_time) > max)
    };
    let sign_in = match session {
        None => true,
        Some(s) => request.prompt.login || too_old(s),
    };
    if sign_in {
        return if request.prompt.none {
            Err(request.error("login_required", "the user is not signed in"))
        } else {
            Ok(Next::SignIn)
        };
    }
    after_sign_in(request, consent_remembered)
}

/// Whether the browser's signed-in `user` is the one the hints name, if
/// they name one: `id_token_hint`'s `sub`, `login_hint` as an email
/// (compared as accounts are). When they name another, the request is
/// treated as from a browser not signed in: the sign-in form, pre-filled
/// with the `login_hint`, or `login_required` under `prompt=none` (OpenID
/// Connect Core §3.1.2.1), never a code for the wrong account.
pub fn hint_fits(request: &AuthorizationRequest, user: &UserRow) -> bool {
    let by_id = request
        .hinted_sub
        .as_deref()
        .is_none_or(|sub| sub == user.id);
    let by_email = request
        .login_hint
        .as_deref()
        .filter(|hint| hint.contains('@'))
        .is_none_or(|hint| crate::store::email_key(hint) == crate::store::email_key(&user.email));
    by_id && by_email
}

/// The `acr` of a sign-in with a second factor.
pub const ACR_AAL2: &str = "aal2";

/// Whether the browser's live `session`, good enough otherwise, must
/// first be stepped up with the second factor: the request asked for
/// `acr_values=aal2`, the session was opened with a password alone, and
/// the account has a second factor to ask for. `acr_values` is voluntary
/// (OpenID Connect Core §5.5.1.1): an account without a second factor,
/// or a `prompt=none` request (which may show no page), gets its code at
/// `aal1`, and the tokens' `acr` says so for the application to decide.
pub fn needs_second_factor(
    request: &AuthorizationRequest,
    session: &BrowserSessionRow,
    enrolled: bool,
) -> bool {
    request.wants_aal2
        && !request.prompt.none
        && enrolled
        && AuthMethods::from_stored(&session.amr) == AuthMethods::Password
}

/// What `request` needs once the user has (just) signed in.
pub fn after_sign_in(
    request: &AuthorizationRequest,
    consent_remembered: bool,
) -> Result<Next, AuthorizationError> {
    if request.prompt.consent || (request.client.consent && !consent_remembered) {
        return if request.prompt.none {
            Err(request.error(
                "consent_required",
                "the user has not approved this application",
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::Issue)
}

/// Whether `user` approved `request`'s scopes for its client before.
pub async fn consent_remembered(
    state: &AppState,
    request: &AuthorizationRequest,
    user_id: &str,
) -> Result<bool, Error> {
    if !request.client.consent {
        return Ok(false);
    }
    let (user, client, key) = (
        user_id.to_owned(),
        request.client.client_id.clone(),
        request.consent_key(),
    );
    Ok(state
        .store()
        .run(move |db| db.has_consent(&user, &client, &key))
        .await?)
}

/// Remembers that `user` approved `request`'s scopes for its client.
pub async fn remember_consent(
    state: &AppState,
    request: &AuthorizationRequest,
    user_id: &str,
    now: u64,
) -> Result<(), Error> {
    let (user, client, key) = (
        user_id.to_owned(),
        request.client.client_id.clone(),
        request.consent_key(),
    );
    Ok(state
        .store()
        .run(move |db| db.remember_consent(&user, &client, &key, now))
        .await?)
}

/// The scopes granted to `user`: the requested ones, less `admin` unless
/// the user holds it (a client's admin scope is its own, never a user's).
pub fn granted_scope(request: &AuthorizationRequest, user: &UserRow) -> String {
    let user_is_admin = user
        .scope
        .split_ascii_whitespace()
        .any(|s| s == crate::clients::ADMIN_SCOPE);
    request
        .scope
        .iter()
        .filter(|s| s.as_str() != crate::clients::ADMIN_SCOPE || user_is_admin)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stores a grant for `user` in `session` and returns the redirect that
/// carries its code, `state` and `iss`.
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    user: &UserRow,
    session: &BrowserSessionRow,
    now: u64,
) -> Result<String, Error> {
    let code = random_secret();
    let grant = GrantRow {
        family_id: uuid::Uuid::new_v4().to_string(),
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: user.id.clone(),
        scope: granted_scope(request, user),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        session_id: session.id.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        created_at: now,
        code_expires_at: now.saturating_add(CODE_TTL),
        // Every access token issued from the code expires before this.
        expires_at: now
            .saturating_add(CODE_TTL)
            .saturating_add(state.settings().access_ttl),
        resource: request.resource.clone(),
    };
    let hash = digest(code.expose());
    state
        .store()
        .run(move |db| db.insert_grant(&grant, &hash))
        .await?;
    let mut pairs = vec![("code", code.expose())];
    if let Some(s) = &request.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.settings().issuer));
    Ok(with_query(&request.redirect_uri, &pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: Prompt, max_age: Option<u64>, consent: bool) -> AuthorizationRequest {
        AuthorizationRequest {
            client: ClientRow {
                client_id: "web".into(),
                secret_hash: Vec::new(),
                scope: String::new(),
                admin: false,
                created_at: 0,
                redirect_uris: vec!["https://app.example/cb".into()],
                public: false,
                consent,
                post_logout_redirect_uris: Vec::new(),
                previous_secret: None,
            },
            redirect_uri: "https://app.example/cb".into(),
            scope: vec!["openid".into(), "email".into()],
            state: Some("s t&a=te".into()),
            nonce: None,
            code_challenge: String::new(),
            prompt,
            max_age,
            login_hint: None,
            hinted_sub: None,
            resource: None,
            wants_aal2: false,
            params: Vec::new(),
        }
    }

    fn session(auth_time: u64) -> BrowserSessionRow {
        BrowserSessionRow {
            id: "s".into(),
            user_id: "u".into(),
            auth_time,
            created_at: auth_time,
            expires_at: auth_time + 1000,
            amr: "pwd".into(),
        }
    }

    #[test]
    fn sign_in_is_needed_without_a_session_with_prompt_login_or_past_max_age() {
        let plain = request(Prompt::default(), None, false);
        assert_eq!(next_step(&plain, None, false, 100).ok(), Some(Next::SignIn));
        assert_eq!(
            next_step(&plain, Some(&session(0)), false, 100).ok(),
            Some(Next::Issue)
        );
        let login = request(
            Prompt {
                login: true,
                ..Prompt::default()
            },
            None,
            false,
        );
        assert_eq!(
            next_step(&login, Some(&session(0)), false, 100).ok(),
            Some(Next::SignIn)
        );
        let fresh = request(Prompt::default(), Some(100), false);
        assert_eq!(
            next_step(&fresh, Some(&session(0)), false, 100).ok(),
            Some(Next::Issue)
        );
        assert_eq!(
            next_step(&fresh, Some(&session(0)), false, 101).ok(),
            Some(Next::SignIn)
        );
        let zero = request(Prompt::default(), Some(0), false);
        assert_eq!(
            next_step(&zero, Some(&session(100)), false, 100).ok(),
            Some(Next::SignIn)
        );
    }

    #[test]
    fn acr_values_aal2_steps_up_a_password_session_of_an_enrolled_account_only() {
        let plain = request(Prompt::default(), None, false);
        let aal2 = AuthorizationRequest {
            wants_aal2: true,
            ..plain.clone()
        };
        let password = session(0);
        let both = BrowserSessionRow {
            amr: "pwd otp".into(),
            ..session(0)
        };
        assert!(needs_second_factor(&aal2, &password, true));
        assert!(
            !needs_second_factor(&aal2, &password, false),
            "nothing to ask"
        );
        assert!(!needs_second_factor(&aal2, &both, true), "already aal2");
        assert!(
            !needs_second_factor(&plain, &password, true),
            "not asked for"
        );
        let silent = AuthorizationRequest {
            prompt: Prompt {
                none: true,
                ..Prompt::default()
            },
            ..aal2
        };
        assert!(!needs_second_factor(&silent, &password, true), "no page");
    }

    #[test]
    fn prompt_none_answers_login_and_consent_required() {
        let none = Prompt {
            none: true,
            ..Prompt::default()
        };
        let err = next_step(&request(none, None, false), None, false, 0).expect_err("no session");
        assert_eq!(err.error, "login_required");
        let err = next_step(&request(none, None, true), Some(&session(0)), false, 0)
            .expect_err("not approved");
        assert_eq!(err.error, "consent_required");
        assert_eq!(
            next_step(&request(none, None, true), Some(&session(0)), true, 0).ok(),
            Some(Next::Issue)
        );
    }

    #[test]
    fn consent_is_asked_once_per_scope_set_or_whenever_prompted() {
        let third = request(Prompt::default(), None, true);
        assert_eq!(after_sign_in(&third, false).ok(), Some(Next::Consent));
        assert_eq!(after_sign_in(&third, true).ok(), Some(Next::Issue));
        let first = request(
            Prompt {
                consent: true,
                ..Prompt::default()
            },
            None,
            false,
        );
        assert_eq!(after_sign_in(&first, true).ok(), Some(Next::Consent));
        assert_eq!(third.consent_key(), "email openid");
    }

    #[test]
    fn errors_carry_state_unchanged_and_iss() {
        let err = request(Prompt::default(), None, false).error("access_denied", "no");
        let location = Url::parse(&err.location("https://idp.example")).expect("url");
        let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("state".into(), "s t&a=te".into())));
        assert!(pairs.contains(&("iss".into(), "https://idp.example".into())));
        assert!(pairs.contains(&("error".into(), "access_denied".into())));
    }

    #[test]
    fn hints_must_name_the_signed_in_account_when_they_name_one() {
        let ann = UserRow::new(
            "u-ann".into(),
            "Ann@Example.com".into(),
            "Ann".into(),
            String::new(),
            0,
        );
        let mut r = request(Prompt::default(), None, false);
        assert!(hint_fits(&r, &ann), "no hint");
        r.login_hint = Some("ann@example.COM".into());
        assert!(hint_fits(&r, &ann), "the same address, another case");
        r.hinted_sub = Some("u-ann".into());
        assert!(hint_fits(&r, &ann));
        r.hinted_sub = Some("u-bob".into());
        assert!(!hint_fits(&r, &ann), "an ID token of another account");
        r.hinted_sub = None;
        r.login_hint = Some("bob@example.com".into());
        assert!(!hint_fits(&r, &ann), "another address");
        r.login_hint = Some("ann".into());
        assert!(hint_fits(&r, &ann), "not an address: only pre-fills");
    }

    #[test]
    fn query_is_appended_to_an_existing_one() {
        assert_eq!(
            with_query("https://app.example/cb?tenant=a", &[("code", "x y")]),
            "https://app.example/cb?tenant=a&code=x+y"
        );
        // Nothing to add (an end_session without state): no dangling `?`.
        assert_eq!(
            with_query("https://app.example/bye", &[]),
            "https://app.example/bye"
        );
    }

    #[test]
    fn repeated_parameters_are_told_apart_from_absent_ones() {
        let p = Params::parse(b"a=1&a=2&b=&c=3");
        assert_eq!(p.get("a"), Err(Repeated));
        assert_eq!(p.get("b"), Ok(None));
        assert_eq!(p.get("c"), Ok(Some("3")));
    }
}
