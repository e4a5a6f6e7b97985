//! The OAuth 2.0 endpoints clients talk to: `/token` (RFC 6749 §4.4 and §6),
//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662).
//!
//! Bodies are `application/x-www-form-urlencoded`. A missing, empty or
//! repeated parameter is `invalid_request` (RFC 6749 §3.2); errors use the
//! RFC 6749 §5.2 codes; a client that authenticated with HTTP Basic and
//! failed gets 401 with a `WWW-Authenticate: Basic` challenge.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{basic_auth, no_store, BasicAuth};
use crate::clients::{parse_scope, secret_matches};
use crate::error::ApiError;
use crate::keys::unix_now;
use crate::sessions::{self, digest, random_secret, LOGIN_CLIENT_ID};
use crate::store::db_seconds;
use crate::store::{ClientRow, RefreshOutcome};
use crate::tokens::{Subject, TokenResponse};
use crate::{metrics, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/introspect", post(introspect))
}

/// A parsed form: each parameter at most once.
pub struct Form(HashMap<String, Zeroizing<String>>);

impl Form {
    /// Parses a form body, refusing the wrong content type and repeated
    /// parameters. Empty values count as absent (RFC 6749 §3.1).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let mut params = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.to_string(), Zeroizing::new(value.into_owned()))
                .is_some()
            {
                return Err(ApiError::invalid_request(format!(
                    "parameter `{name}` is repeated"
                )));
            }
        }
        Ok(Self(params))
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::invalid_request(format!("parameter `{name}` is missing")))
    }
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
    /// No credentials at all.
    Anonymous,
}

fn invalid_client(method: Option<AuthMethod>, issuer: &str) -> ApiError {
    let error = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    );
    match method {
        Some(AuthMethod::Basic) | None => error.with_challenge(format!("Basic realm=\"{issuer}\"")),
        Some(AuthMethod::Post) => error,
    }
}

/// RFC 6749 §2.3.1: client_secret_basic (id and secret form-urlencoded,
/// then Basic) or client_secret_post; never both.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Caller, ApiError> {
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
            return Err(ApiError::invalid_request(
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
        (None, None) => return Ok(Caller::Anonymous),
    };
    if let Some(body_id) = form.get("client_id") {
        if method == AuthMethod::Basic && body_id != id {
            return Err(ApiError::invalid_request(
                "client_id in the body does not match the authenticated client",
            ));
        }
    }
    let client = state.store().client(id).await?;
    match client {
        Some(client) if secret_matches(&client, &secret) => Ok(Caller::Client(client)),
        _ => {
            metrics::inc(&state.metrics().client_auth_failures);
            tracing::info!(method = ?method, "client authentication failed");
            Err(invalid_client(Some(method), issuer))
        }
    }
}

/// Requires an authenticated client.
async fn require_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<ClientRow, ApiError> {
    match authenticate(state, headers, form).await? {
        Caller::Client(client) => Ok(client),
        Caller::Anonymous => Err(invalid_client(None, &state.settings().issuer)),
    }
}

/// The scopes granted: all of `allowed` when none are requested, else the
/// requested ones, which must all be allowed.
fn granted_scope(requested: Option<&str>, allowed: &str) -> Result<String, ApiError> {
    let allowed: Vec<&str> = allowed.split_ascii_whitespace().collect();
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let requested = parse_scope(requested)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_scope", "malformed scope"))?;
    if let Some(extra) = requested.iter().find(|s| !allowed.contains(&s.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope `{extra}` is not granted to this client"),
        ));
    }
    Ok(requested.join(" "))
}

fn invalid_grant(description: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// `POST /token`.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = Form::parse(&headers, &body)?;
    let grant_type = form.require("grant_type")?;
    match grant_type {
        "client_credentials" => client_credentials(&state, &headers, &form).await,
        "refresh_token" => refresh(&state, &headers, &form).await,
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials or refresh_token",
        )),
    }
}

async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, ApiError> {
    let client = require_client(state, headers, form).await?;
    let scope = granted_scope(form.get("scope"), &client.scope)?;
    let issued = state
        .tokens()
        .issue(Subject::Client, &client.client_id, &scope, unix_now())
        .map_err(|e| ApiError::internal(&e))?;
    metrics::inc(&state.metrics().client_credentials_tokens);
    Ok(no_store(Json(TokenResponse::new(
        &issued,
        state.tokens().ttl(),
        None,
    ))))
}

async fn refresh(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Response, ApiError> {
    let caller = authenticate(state, headers, form).await?;
    let presented = form.require("refresh_token")?;
    let caller_id = match &caller {
        Caller::Client(c) => c.client_id.clone(),
        Caller::Anonymous => LOGIN_CLIENT_ID.to_owned(),
    };
    let now = unix_now();
    let now_i = db_seconds(now);
    // Check a requested scope before the token is used up, so that asking
    // for too much does not cost the client its session.
    if let Some(live) = state
        .store()
        .refresh_family(digest(presented), now_i)
        .await?
    {
        granted_scope(form.get("scope"), &live.scope)?;
    }
    let successor = random_secret();
    let ttl = db_seconds(state.settings().refresh_ttl);
    let outcome = state
        .store()
        .use_refresh(
            digest(presented),
            caller_id,
            digest(&successor),
            now_i,
            now_i.saturating_add(ttl),
        )
        .await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused { family_id } => {
            metrics::inc(&state.metrics().refresh_reuse);
            tracing::warn!(session = %family_id, "refresh token reused: session revoked");
            // The store ended the session; publish it before answering.
            state.revocations().refresh_if_stale().await?;
            return Err(invalid_grant(
                "refresh token was already used; the session has been revoked",
            ));
        }
        RefreshOutcome::Invalid => {
            return Err(invalid_grant(
                "refresh token is invalid, expired or revoked",
            ))
        }
        RefreshOutcome::WrongClient => {
            return Err(match caller {
                Caller::Anonymous => invalid_client(None, &state.settings().issuer),
                Caller::Client(_) => invalid_grant("refresh token was issued to another client"),
            })
        }
    };
    // A narrower scope may be asked for; never a wider one. The session
    // keeps its full scope for later refreshes.
    let scope = granted_scope(form.get("scope"), &session.scope)?;
    let Some(user) = state.store().user_by_id(session.user_id.clone()).await? else {
        return Err(invalid_grant("the account no longer exists"));
    };
    let issued = state
        .tokens()
        .issue(
            sessions::subject(&user, session.family_id.clone()),
            &session.client_id,
            &scope,
            now,
        )
        .map_err(|e| ApiError::internal(&e))?;
    metrics::inc(&state.metrics().refreshed_tokens);
    Ok(no_store(Json(TokenResponse::new(
        &issued,
        state.tokens().ttl(),
        Some(successor),
    ))))
}

/// `POST /revoke` (RFC 7009). 200 for unknown tokens too, so the answer
/// reveals nothing. Tokens of registered clients can be revoked only by
/// their client; login-session tokens by anyone holding them.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = Form::parse(&headers, &body)?;
    let caller = authenticate(&state, &headers, &form).await?;
    let token = form.require("token")?;
    let caller_id = match &caller {
        Caller::Client(c) => c.client_id.as_str(),
        Caller::Anonymous => LOGIN_CLIENT_ID,
    };
    let now = unix_now();
    let now_i = db_seconds(now);
    if let Some(claims) = crate::introspection::verify_access_token(&state, token, now).await {
        if claims.client_id != caller_id {
            return Err(invalid_client(None, &state.settings().issuer));
        }
        state.revocations().revoke(claims.jti, claims.exp).await?;
        metrics::inc(&state.metrics().revocations);
    } else if let Some(session) = state.store().refresh_family(digest(token), now_i).await? {
        if session.client_id != caller_id {
            return Err(invalid_client(None, &state.settings().issuer));
        }
        state.revocations().end_session(session.family_id).await?;
    }
    Ok(no_store(Json(json!({}))))
}

/// `POST /introspect` (RFC 7662). The caller must be a registered client.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = Form::parse(&headers, &body)?;
    require_client(&state, &headers, &form).await?;
    let token = form.require("token")?;
    let answer: Value = crate::introspection::introspect(&state, token, unix_now()).await?;
    Ok(no_store(Json(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_subsets() {
        assert_eq!(granted_scope(None, "a b").expect("all"), "a b");
        assert_eq!(granted_scope(Some("b"), "a b").expect("subset"), "b");
        let err = granted_scope(Some("a c"), "a b").expect_err("must be refused");
        assert_eq!(err.code(), "invalid_scope");
        // A prefix of a granted scope is not that scope.
        assert!(granted_scope(Some("api"), "api:read").is_err());
    }

    #[test]
    fn repeated_and_empty_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().expect("v"),
        );
        assert!(Form::parse(&h, b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(&h, b"grant_type=&scope=x").expect("parses");
        assert!(form.get("grant_type").is_none());
        assert!(Form::parse(&HeaderMap::new(), b"grant_type=x").is_err());
    }
}
