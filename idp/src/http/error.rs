//! The one place an [`Error`] becomes an HTTP answer, and the safety net
//! that gives every other error response the same JSON shape.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Serialize;

use crate::error::Error;

/// Every error answer of the JSON API (the `ErrorBody` component of the
/// OpenAPI document, which every error response refers to).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody<'a> {
    /// A machine-readable code: the RFC 6749 §5.2 codes at the OAuth
    /// endpoints (`invalid_request`, `invalid_client`, `invalid_grant`, ...),
    /// and the IdP's own elsewhere (`not_found`, `email_taken`, `too_many_attempts`, ...).
    error: &'a str,
    /// What went wrong, for a person; never echoes a submitted value.
    error_description: &'a str,
    /// Only in `mfa_required`: what to send on to `/login/mfa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a str>,
}

/// `{"error": CODE, "error_description": TEXT}` with the error's status,
/// challenge and `Retry-After`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let description = self.to_string();
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: self.code(),
                error_description: &description,
                mfa_token: match &self {
                    Error::MfaRequired { mfa_token } => Some(mfa_token.expose()),
                    _ => None,
                },
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if matches!(self, Error::MfaRequired { .. }) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if let Some(challenge) = self.challenge().and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turns any error response that is not JSON (a 404 from routing, a 405, a
/// 413 from the body limit, a 415) into the API's JSON error shape, so no
/// endpoint ever answers with plain text. The sign-in pages' own HTML
/// answers (`text/html`, rendered by `pages.rs`) are for people and pass
/// through. Headers that matter to the client (`Allow`,
/// `WWW-Authenticate`, `Retry-After`) are kept.
pub fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let passes = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if passes {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => Error::NotFound("no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => Error::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => Error::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge(super::BODY_LIMIT),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType("application/json"),
        StatusCode::SERVICE_UNAVAILABLE => {
            Error::Unavailable("the service is unavailable, retry shortly".into())
        }
        s if s.is_server_error() => Error::Internal,
        _ => Error::invalid_request("the request could not be handled"),
    };
    let (parts, _) = response.into_parts();
    let mut fresh = error.into_response();
    *fresh.status_mut() = status;
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            fresh.headers_mut().insert(name, v.clone());
        }
    }
    fresh
}
