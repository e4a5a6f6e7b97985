//! What the IdP publishes for validators: `/jwks`, the discovery documents
//! (RFC 8414, OpenID Connect Discovery) and the revocation feed.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(jwks_well_known))
        .routes(routes!(openid_configuration))
        .routes(routes!(oauth_authorization_server))
        .routes(routes!(revocations))
}

/// The public keys, serialized once per key change. Honest caching: the
/// max-age is the one rotation timing relies on, and the ETag lets caches
/// revalidate for the price of a 304.
#[utoipa::path(
    get,
    path = "/jwks",
    tag = "discovery",
    operation_id = "jwks",
    params(IfNoneMatchParam),
    responses(
        (status = 200, description = "The JWK Set (RFC 7517) of the published public keys",
            content_type = "application/jwk-set+json", body = Object,
            headers(("ETag" = String), ("Cache-Control" = String, description = "`public, max-age=<--jwks-max-age>`"))),
        (status = 304, description = "Unchanged since the ETag named in `If-None-Match`"),
    )
)]
async fn jwks(State(state): State<AppState>, if_none_match: IfNoneMatch) -> Response {
    let ring = state.keys().ring();
    if_none_match.answer(
        &ring.etag,
        ring.jwks_body.clone(),
        "application/jwk-set+json",
        state.settings().jwks_cache_control.clone(),
    )
}

/// `/jwks` at its well-known address.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    operation_id = "jwks_well_known",
    params(IfNoneMatchParam),
    responses(
        (status = 200, description = "The same JWK Set as `/jwks`",
            content_type = "application/jwk-set+json", body = Object,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the ETag named in `If-None-Match`"),
    )
)]
async fn jwks_well_known(state: State<AppState>, if_none_match: IfNoneMatch) -> Response {
    jwks(state, if_none_match).await
}

/// `If-None-Match`, for the endpoints that answer 304 (documentation).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IfNoneMatchParam {
    /// An ETag from an earlier answer: 304 if it still names the body.
    #[param(rename = "If-None-Match", nullable = false)]
    if_none_match: Option<String>,
}

/// `GET /revocations?since=`: the query.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct Since {
    /// The opaque `cursor` of an earlier answer: only what changed after
    /// it. Without it, the whole feed.
    since: Option<String>,
}

/// The revocation feed's body (built in `revocations.rs`): what resource
/// servers must refuse, and the cursor to ask from next time.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct RevocationFeed {
    /// Opaque; pass it back as `since`.
    cursor: String,
    /// Revoked access tokens, by `jti`, until they expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<Vec<RevokedToken>>,
    /// Ended sessions: tokens carrying this `sid` are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<Vec<EndedSession>>,
    /// Deleted clients: their tokens issued before `before` are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    clients: Option<Vec<CutOffClient>>,
    /// Disabled, deleted or signed-out users: their tokens issued before
    /// `before` are refused, except those of `except_sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects: Option<Vec<CutOffSubject>>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct RevokedToken {
    jti: String,
    /// Unix seconds; the entry can be dropped after it.
    exp: u64,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct EndedSession {
    sid: String,
    exp: u64,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct CutOffClient {
    client_id: String,
    /// Unix seconds: tokens with an earlier `iat` are refused.
    before: u64,
    exp: u64,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct CutOffSubject {
    sub: String,
    before: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    except_sid: Option<String>,
}

/// Revoked access tokens that have not expired yet, for resource servers
/// that poll (`resource_server::RevocationPoller`). Polling is cheap: the
/// full body is rebuilt only on change and an unchanged feed answers 304;
/// `?since=<cursor>` answers only what changed after the cursor.
#[utoipa::path(
    get,
    path = "/revocations",
    tag = "discovery",
    operation_id = "revocations",
    params(Since, IfNoneMatchParam),
    responses(
        (status = 200, description = "The feed, or what changed since the cursor",
            body = RevocationFeed,
            headers(("ETag" = String), ("Cache-Control" = String, description = "`no-cache`"))),
        (status = 304, description = "Unchanged since the ETag named in `If-None-Match`"),
        (status = 400, description = "`invalid_request`: `since` is malformed or repeated",
            body = super::error::ErrorBody),
        (status = 410, description = "`cursor_expired`: the cursor can no longer be answered \
            incrementally; fetch the whole feed", body = super::error::ErrorBody),
    )
)]
async fn revocations(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    if_none_match: IfNoneMatch,
) -> Response {
    let mut since = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "since" {
            if since.is_some() {
                return Error::invalid_request("since is repeated").into_response();
            }
            since = Some(value.into_owned());
        }
    }
    if let Some(since) = since {
        return match state.revocations().since(&since).await {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response(),
            Err(e) => Error::from(e).into_response(),
        };
    }
    let feed = state.revocations().feed().await;
    if_none_match.answer(
        &feed.etag,
        feed.body.clone(),
        "application/json",
        HeaderValue::from_static("no-cache"),
    )
}

/// The `If-None-Match` values of a request, read without copying the
/// request's other headers (`/jwks` is the hottest route of the IdP).
#[derive(Debug)]
pub(super) struct IfNoneMatch(Vec<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        // Each value shares the request's buffer: no copy.
        let values = parts.headers.get_all(header::IF_NONE_MATCH).iter();
        Ok(Self(values.cloned().collect()))
    }
}

impl IfNoneMatch {
    /// Whether one of the listed tags (or `*`) names `etag`; weak
    /// comparison (RFC 9110 §13.1.2), as `If-None-Match` asks.
    fn names(&self, etag: &HeaderValue) -> bool {
        let etag = etag.as_bytes();
        self.0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag.as_bytes() == etag || tag == "*")
    }

    /// A 200 with `body`, or a 304 when `If-None-Match` names `etag`; either
    /// way with the ETag and `Cache-Control`.
    pub(super) fn answer(
        &self,
        etag: &HeaderValue,
        body: Bytes,
        content_type: &'static str,
        cache_control: HeaderValue,
    ) -> Response {
        let mut response = if self.names(etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, etag.clone());
        h.insert(header::CACHE_CONTROL, cache_control);
        response
    }
}

/// Authorization server metadata (RFC 8414) and OpenID Provider metadata
/// (OpenID Connect Discovery 1.0): exactly what is implemented, nothing
/// more, so standard client libraries validate it and rely on it.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    operation_id = "openid_configuration",
    responses((status = 200, description = "OpenID Provider metadata (OpenID Connect Discovery 1.0)",
        body = Object)),
)]
async fn openid_configuration(state: State<AppState>) -> Json<Value> {
    metadata(state).await
}

/// The same document at RFC 8414's address.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    operation_id = "oauth_authorization_server",
    responses((status = 200, description = "Authorization server metadata (RFC 8414)", body = Object)),
)]
async fn oauth_authorization_server(state: State<AppState>) -> Json<Value> {
    metadata(state).await
}

async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.settings().issuer;
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/end_session"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "scopes_supported": crate::authorization::OIDC_SCOPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "email", "email_verified", "name", "amr", "acr",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": resource_server::Algorithms::DPOP.iter().collect::<Vec<_>>(),
        "revocation_feed": format!("{issuer}/revocations"),
        "acr_values_supported": ["aal1", "aal2"],
    }))
}
