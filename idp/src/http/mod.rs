//! The HTTP API: one module per resource, each with a `router()`.
//!
//! Cross-cutting behaviour lives here: the body limit, JSON errors for
//! everything (including routing and extractor failures), and the
//! extractors that turn malformed input into 4xx answers. Timeouts are the
//! server's (`resource_server::serve`).

mod account;
mod discovery;
mod health;
mod oauth;
mod registry;
mod users;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use resource_server::BearerAuthLayer;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::{json_errors, ApiError};
use crate::AppState;

/// Largest request body accepted anywhere.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole API.
pub fn app(state: AppState) -> Router {
    let bearer = BearerAuthLayer::new(state.validator().clone()).realm(&state.settings().issuer);
    let protected = Router::new()
        .merge(account::router())
        .merge(registry::router())
        .route_layer(bearer);
    Router::new()
        .merge(discovery::router())
        .merge(health::router())
        .merge(users::router())
        .merge(oauth::router())
        .merge(protected)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_errors))
}

/// `Json<T>` whose rejections are the API's JSON errors: 415 for a missing
/// or wrong content type, 413 for an oversized body, 400 for bad syntax or
/// missing or mistyped fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| body_rejection(rejection.status()))?;
        parse_json(&parts.headers, &bytes).map(Self)
    }
}

/// The error for a body that could not be read (too large, or broken).
pub fn body_rejection(status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "invalid_request",
            format!("the body is larger than {BODY_LIMIT} bytes"),
        )
    } else {
        ApiError::invalid_request("the body could not be read")
    }
}

/// What the `Authorization` header says, for endpoints that take HTTP Basic.
pub enum BasicAuth {
    /// No `Authorization` header.
    Absent,
    /// `Basic` credentials: the part before the first `:` and the rest.
    Credentials(String, Zeroizing<String>),
    /// Another scheme (`Bearer`, ...).
    OtherScheme,
    /// Not valid `Basic` credentials (bad base64, no `:`, not UTF-8).
    Malformed,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BasicAuth::Absent => f.write_str("Absent"),
            BasicAuth::Credentials(user, _) => write!(f, "Credentials({user:?}, <hidden>)"),
            BasicAuth::OtherScheme => f.write_str("OtherScheme"),
            BasicAuth::Malformed => f.write_str("Malformed"),
        }
    }
}

/// Reads `Authorization: Basic` (RFC 7617), scheme case-insensitive.
pub fn basic_auth(headers: &HeaderMap) -> BasicAuth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return BasicAuth::Absent;
    };
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return BasicAuth::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return BasicAuth::OtherScheme;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()).map(Zeroizing::new) else {
        return BasicAuth::Malformed;
    };
    match std::str::from_utf8(&decoded)
        .ok()
        .and_then(|t| t.split_once(':'))
    {
        Some((user, password)) => {
            BasicAuth::Credentials(user.to_owned(), Zeroizing::new(password.to_owned()))
        }
        None => BasicAuth::Malformed,
    }
}

/// Whether the request says its body is JSON (`application/json`, or any
/// `+json` type, parameters allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// Parses a JSON body into `T`. Error descriptions name the field and what
/// was wrong with it, and never echo a submitted value.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "expected Content-Type: application/json",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return ApiError::invalid_request("the body is not valid JSON");
        }
        let message = inner.to_string();
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            ApiError::invalid_request(format!("missing field `{field}`"))
        } else if path == "." {
            ApiError::invalid_request("the body must be a JSON object with the documented fields")
        } else {
            ApiError::invalid_request(format!("field `{path}` has the wrong type or value"))
        }
    })?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid_request("the body is not valid JSON"))?;
    Ok(value)
}

/// Token responses must never be cached (RFC 6749 §5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("value"),
        );
        h
    }

    fn description(e: ApiError) -> String {
        e.description().to_owned()
    }

    #[test]
    fn data_errors_name_the_field_without_values() {
        let missing = parse_json::<Login>(&json_headers(), br#"{"email":"a@b.c"}"#)
            .expect_err("must be refused");
        assert_eq!(description(missing), "missing field `password`");
        let typed =
            parse_json::<Login>(&json_headers(), br#"{"email":"a@b.c","password":12345678}"#)
                .expect_err("must be refused");
        let text = description(typed);
        assert_eq!(text, "field `password` has the wrong type or value");
        assert!(!text.contains("12345678"));
    }

    #[test]
    fn syntax_errors_and_content_types() {
        let bad = parse_json::<Login>(&json_headers(), b"{not json").expect_err("must be refused");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let trailing = parse_json::<Login>(&json_headers(), br#"{"email":"a","password":"b"} x"#)
            .expect_err("must be refused");
        assert_eq!(trailing.status(), StatusCode::BAD_REQUEST);
        let not_object =
            parse_json::<Login>(&json_headers(), b"[1,2]").expect_err("must be refused");
        assert_eq!(not_object.status(), StatusCode::BAD_REQUEST);
        let wrong_type =
            parse_json::<Login>(&HeaderMap::new(), b"{}").expect_err("must be refused");
        assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
