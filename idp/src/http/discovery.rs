//! What the IdP publishes for validators: `/jwks`, the discovery documents
//! (RFC 8414, OpenID Connect Discovery) and the revocation feed.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::Error;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/revocations", get(revocations))
}

/// The public keys, serialized once per key change. Honest caching: the
/// max-age is the one rotation timing relies on, and the ETag lets caches
/// revalidate for the price of a 304.
async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ring = state.keys().ring();
    let cache_control = format!("public, max-age={}", state.settings().jwks_max_age);
    conditional(
        &headers,
        &ring.etag,
        ring.jwks_body.clone(),
        "application/jwk-set+json",
        &cache_control,
    )
}

/// Revoked access tokens that have not expired yet, for resource servers
/// that poll (`resource_server::RevocationPoller`). Polling is cheap: the
/// full body is rebuilt only on change and an unchanged feed answers 304;
/// `?since=<cursor>` answers only what changed after the cursor.
async fn revocations(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
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
            Err(e) => e.into_response(),
        };
    }
    let feed = state.revocations().feed().await;
    conditional(
        &headers,
        &feed.etag,
        feed.body.clone(),
        "application/json",
        "no-cache",
    )
}

/// A 200 with `body`, or a 304 when `If-None-Match` names `etag`.
fn conditional(
    headers: &HeaderMap,
    etag: &str,
    body: Bytes,
    content_type: &'static str,
    cache_control: &str,
) -> Response {
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(cc) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, cc);
    }
    response
}

/// Authorization server metadata (RFC 8414) and OpenID Provider metadata
/// (OpenID Connect Discovery 1.0): exactly what is implemented, nothing
/// more, so standard client libraries validate it and rely on it.
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
        "dpop_signing_alg_values_supported": resource_server::Algorithm::ALL,
        "revocation_feed": format!("{issuer}/revocations"),
        "acr_values_supported": ["aal1", "aal2"],
    }))
}
