//! What the IdP publishes for validators: `/jwks`, the discovery documents
//! (RFC 8414, OpenID Connect Discovery) and the revocation feed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

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
/// body is rebuilt only on change, and an unchanged feed answers 304.
async fn revocations(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let feed = state.revocations().feed();
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

/// Authorization server metadata: every endpoint and capability.
async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.settings().issuer;
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "registration_endpoint": format!("{issuer}/clients"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": ["profile", "admin"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "dpop_signing_alg_values_supported": resource_server::Algorithm::ALL,
        "revocation_feed": format!("{issuer}/revocations"),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "email", "name"],
    }))
}
