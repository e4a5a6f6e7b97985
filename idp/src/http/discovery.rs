//! `/jwks` and the discovery documents (RFC 8414, OpenID Connect Discovery).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// The public keys, serialized once per key change. Honest caching: the
/// max-age is the one rotation timing relies on, and the ETag lets caches
/// revalidate for the price of a 304.
async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ring = state.keys().ring();
    let cache_control = format!("public, max-age={}", state.settings().jwks_max_age);
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == ring.etag || tag == "*");
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/jwk-set+json")],
            ring.jwks_body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&ring.etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(cc) = HeaderValue::from_str(&cache_control) {
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
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "email", "name"],
    }))
}
