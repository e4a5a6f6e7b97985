//! The OAuth 2.0 endpoints clients talk to: `/token` (RFC 6749 §4.1.3,
//! §4.4 and §6), `/revoke` (RFC 7009) and `/introspect` (RFC 7662).
//!
//! Public clients (`token_endpoint_auth_method: none`) identify themselves
//! with `client_id` alone; a confidential client that sends no secret is
//! refused with `invalid_client`.
//!
//! Bodies are `application/x-www-form-urlencoded`. A missing, empty or
//! repeated parameter is `invalid_request` (RFC 6749 §3.2); errors use the
//! RFC 6749 §5.2 codes; a client that authenticated with HTTP Basic and
//! failed gets 401 with a `WWW-Authenticate: Basic` challenge.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::error::ErrorBody;

use super::extract::{basic_auth, BasicAuth, Form};
use super::no_store;
use super::token_request::TokenTarget;
use crate::clients::{secret_matches, LOGIN_CLIENT_ID};
use crate::code_grant::{self, CodeRedemption};
use crate::error::Error;
use crate::scope::client_scope;
use crate::sessions::{self, RefreshRequest};
use crate::state::AppState;
use crate::store::ClientRow;
use crate::tokens::{Subject, TokenResponse};
use crate::{metrics, unix_now};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(revoke))
        .routes(routes!(introspect))
}

// What the form bodies hold, for the OpenAPI document. The handlers read
// them with `Form`, which refuses repeated and empty parameters — a rule
// serde's form decoding cannot express — so these types describe the
// fields and are not what the handlers deserialize.

/// `POST /token`'s form (RFC 6749 §4.1.3, §4.4, §6). Client credentials go
/// in `Authorization: Basic` or as `client_id` + `client_secret`, never both.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct TokenForm {
    /// `authorization_code`, `client_credentials` or `refresh_token`.
    grant_type: String,
    /// client_secret_post, or a public client naming itself.
    client_id: Option<String>,
    /// client_secret_post.
    client_secret: Option<String>,
    /// Space-separated scopes (client_credentials, refresh_token: a subset
    /// of what was granted; client_credentials never grants `openid` or
    /// `offline_access`).
    scope: Option<String>,
    /// The API the token is for (RFC 8707); its identifier becomes `aud`.
    resource: Option<String>,
    /// authorization_code: the code from `/authorize`.
    code: Option<String>,
    /// authorization_code: the `redirect_uri` of the authorization request.
    redirect_uri: Option<String>,
    /// authorization_code: the PKCE verifier (S256).
    code_verifier: Option<String>,
    /// refresh_token: the refresh token; each use returns a new one.
    refresh_token: Option<String>,
}

/// `POST /revoke`'s form (RFC 7009).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct RevokeForm {
    /// An access token or a refresh token.
    token: String,
    /// Ignored: the kind of token is found out.
    token_type_hint: Option<String>,
    /// client_secret_post, or a public client naming itself.
    client_id: Option<String>,
    /// client_secret_post.
    client_secret: Option<String>,
}

/// `POST /introspect`'s form (RFC 7662).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct IntrospectForm {
    /// The token to describe.
    token: String,
    /// Ignored.
    token_type_hint: Option<String>,
    /// client_secret_post.
    client_id: Option<String>,
    /// client_secret_post.
    client_secret: Option<String>,
}

/// The `DPoP` proof header of the endpoints that bind tokens to a key.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct DpopProof {
    /// A DPoP proof JWT (RFC 9449) for this request: the tokens issued are
    /// bound to its key (`token_type: DPoP`, `cnf.jkt`).
    #[param(rename = "DPoP")]
    dpop: Option<String>,
}

/// How the caller presented client credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMethod {
    Basic,
    Post,
}

/// The outcome of client authentication.
enum Caller {
    /// A registered client proved its secret.
    Client(ClientRow),
    /// A public client named itself with `client_id` (it has no secret).
    Public(ClientRow),
    /// No credentials at all.
    Anonymous,
}

/// 401 `invalid_client`; with a `Basic` challenge unless the client used
/// client_secret_post.
fn invalid_client(method: Option<AuthMethod>, issuer: &str) -> Error {
    Error::InvalidClient {
        basic_realm: match method {
            Some(AuthMethod::Basic) | None => Some(issuer.to_owned()),
            Some(AuthMethod::Post) => None,
        },
    }
}

/// RFC 6749 §2.3.1: client_secret_basic (id and secret form-urlencoded,
/// then Basic) or client_secret_post; never both.
async fn authenticate(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Caller, Error> {
    let issuer = &state.settings().issuer;
    let basic = match basic_auth(headers) {
        BasicAuth::Absent => None,
        BasicAuth::Credentials(id, secret) => {
            // RFC 6749 §2.3.1: both parts are form-urlencoded inside Basic.
            let unescape = |s: &str| -> String {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((unescape(&id), Zeroizing::new(unescape(&secret))))
        }
        BasicAuth::OtherScheme | BasicAuth::Malformed => {
            return Err(invalid_client(Some(AuthMethod::Basic), issuer))
        }
    };
    let posted = form.get("client_secret");
    let (method, id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request(
                "use one client authentication method, not both",
            ))
        }
        (Some((id, secret)), None) => (AuthMethod::Basic, id, secret),
        (None, Some(secret)) => {
            let id = form.require("client_id")?;
            (
                AuthMethod::Post,
                id.to_owned(),
                Zeroizing::new(secret.to_owned()),
            )
        }
        (None, None) => return identify_public(state, form).await,
    };
    if let Some(body_id) = form.get("client_id") {
        if method == AuthMethod::Basic && body_id != id {
            return Err(Error::invalid_request(
                "client_id in the body does not match the authenticated client",
            ));
        }
    }
    let client = state.store().lookup(move |db| db.client(&id)).await?;
    match client {
        Some(client) if secret_matches(&client, &secret, unix_now()) => Ok(Caller::Client(client)),
        _ => {
            metrics::inc(&state.metrics().client_auth_failures);
            tracing::info!(method = ?method, "client authentication failed");
            Err(invalid_client(Some(method), issuer))
        }
    }
}

/// A request without a secret: anonymous, or a public client named by
/// `client_id`. A confidential client must authenticate.
async fn identify_public(state: &AppState, form: &Form) -> Result<Caller, Error> {
    let Some(id) = form.get("client_id").map(str::to_owned) else {
        return Ok(Caller::Anonymous);
    };
    match state.store().lookup(move |db| db.client(&id)).await? {
        Some(client) if client.public => Ok(Caller::Public(client)),
        _ => {
            metrics::inc(&state.metrics().client_auth_failures);
            Err(invalid_client(None, &state.settings().issuer))
        }
    }
}

/// Requires an authenticated client.
async fn require_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<ClientRow, Error> {
    match authenticate(state, headers, form).await? {
        Caller::Client(client) => Ok(client),
        Caller::Public(_) | Caller::Anonymous => {
            Err(invalid_client(None, &state.settings().issuer))
        }
    }
}

/// `POST /token`.
#[utoipa::path(
    post,
    path = "/token",
    tag = "oauth",
    operation_id = "token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    params(DpopProof),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Tokens (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `invalid_scope`, \
            `invalid_target`, `invalid_dpop_proof`, `unsupported_grant_type`", body = ErrorBody),
        (status = 401, description = "`invalid_client` (with `WWW-Authenticate: Basic` after \
            Basic credentials)", body = ErrorBody),
        (status = 403, description = "`account_disabled`: the session's user is disabled", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not a form", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = ErrorBody),
    )
)]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let form = Form::parse(&headers, &body)?;
    let grant_type = form.require("grant_type")?;
    match grant_type {
        "authorization_code" => authorization_code(&state, &headers, &form).await,
        "client_credentials" => client_credentials(&state, &headers, &form).await,
        "refresh_token" => refresh(&state, &headers, &form).await,
        _ => Err(Error::UnsupportedGrantType),
    }
}

async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, Error> {
    let client = require_client(state, headers, form).await?;
    let now = unix_now();
    let target = TokenTarget::read(state, headers, Some(form), "/token", now).await?;
    let scope = client_scope(form.get("scope"), &client.scope)?;
    let scope = target.scope(scope, form.get("scope").is_some())?;
    let issued = state.tokens().issue_with(
        Subject::Client,
        &client.client_id,
        &scope,
        now,
        &target.options(),
    )?;
    metrics::inc(&state.metrics().client_credentials_tokens);
    Ok(no_store(Json(TokenResponse::new(
        issued,
        state.tokens().ttl(),
        None,
    ))))
}

/// `grant_type=authorization_code`: a confidential client authenticates,
/// a public one names itself; both prove the PKCE verifier.
async fn authorization_code(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, Error> {
    let client = match authenticate(state, headers, form).await? {
        Caller::Client(client) | Caller::Public(client) => client,
        Caller::Anonymous => return Err(invalid_client(None, &state.settings().issuer)),
    };
    let (code, redirect_uri, code_verifier) = (
        form.require("code")?,
        form.require("redirect_uri")?,
        form.require("code_verifier")?,
    );
    let now = unix_now();
    let target = TokenTarget::read(state, headers, Some(form), "/token", now).await?;
    let presented = CodeRedemption {
        code,
        redirect_uri,
        code_verifier,
        api: target.api,
        dpop_jkt: target.dpop_jkt,
    };
    let tokens = code_grant::exchange(state, &client, presented, now).await?;
    Ok(no_store(Json(tokens)))
}

/// `grant_type=refresh_token`: a registered client authenticates (a public
/// one names itself); the IdP's own login sessions are refreshed without
/// client credentials.
async fn refresh(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Response, Error> {
    let client_id = match authenticate(state, headers, form).await? {
        Caller::Client(client) | Caller::Public(client) => Some(client.client_id),
        Caller::Anonymous => None,
    };
    let now = unix_now();
    let target = TokenTarget::read(state, headers, Some(form), "/token", now).await?;
    let tokens = sessions::refresh_with(
        state,
        client_id.as_deref(),
        form.require("refresh_token")?,
        form.get("scope"),
        now,
        RefreshRequest {
            dpop_jkt: target.dpop_jkt,
            api: target.api,
        },
    )
    .await?;
    Ok(no_store(Json(tokens)))
}

/// `POST /revoke` (RFC 7009). 200 for unknown tokens too, so the answer
/// reveals nothing. Tokens of registered clients can be revoked only by
/// their client; login-session tokens by anyone holding them.
#[utoipa::path(
    post,
    path = "/revoke",
    tag = "oauth",
    operation_id = "revoke",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or unknown: the answer says nothing about the token \
            (an empty object)", body = Object),
        (status = 400, description = "`invalid_request`; `unauthorized_client`: the token was \
            issued to another client than the one that authenticated", body = ErrorBody),
        (status = 401, description = "`invalid_client`: bad credentials, or none for a registered \
            client's token", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not a form", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let form = Form::parse(&headers, &body)?;
    let caller = authenticate(&state, &headers, &form).await?;
    let token = form.require("token")?;
    let caller_id = match &caller {
        Caller::Client(c) | Caller::Public(c) => c.client_id.as_str(),
        Caller::Anonymous => LOGIN_CLIENT_ID,
    };
    // A registered client's token is revoked by that client alone; a
    // login session's by anyone holding it.
    let may_revoke = |owner: &str| {
        if owner == LOGIN_CLIENT_ID || owner == caller_id {
            Ok(())
        } else if matches!(caller, Caller::Anonymous) {
            Err(invalid_client(None, &state.settings().issuer))
        } else {
            Err(Error::UnauthorizedClient(
                "the token was issued to another client".into(),
            ))
        }
    };
    let now = unix_now();
    if let Some(claims) = crate::introspection::verify_access_token(&state, token, now).await {
        may_revoke(claims.client_id.as_deref().unwrap_or_default())?;
        if let Some(jti) = &claims.jti {
            state
                .revocations()
                .revoke(jti.to_string(), claims.exp)
                .await?;
        }
        metrics::inc(&state.metrics().revocations);
    } else if let Some(session) = sessions::find(&state, token, now).await? {
        may_revoke(&session.client_id)?;
        state.revocations().end_session(session.family_id).await?;
    }
    Ok(no_store(Json(json!({}))))
}

/// `POST /introspect` (RFC 7662). The caller must be a registered client.
#[utoipa::path(
    post,
    path = "/introspect",
    tag = "oauth",
    operation_id = "introspect",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "RFC 7662 §2.2: `{\"active\": false}` for anything not \
            currently valid; otherwise `active`, `token_type`, `scope`, `client_id`, `username`, \
            `sub`, `aud`, `iss`, `exp`, `iat`, `nbf`, `jti` and, for a DPoP-bound token, `cnf.jkt`",
            body = Object),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 401, description = "`invalid_client`", body = ErrorBody),
        (status = 415, description = "`invalid_request`: the body is not a form", body = ErrorBody),
    )
)]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let form = Form::parse(&headers, &body)?;
    require_client(&state, &headers, &form).await?;
    let token = form.require("token")?;
    let answer: Value = crate::introspection::introspect(&state, token, unix_now()).await?;
    Ok(no_store(Json(answer)))
}
