//! The JSON error body every part of the product answers with.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

/// A response with `status` and the body
/// `{"error": code, "error_description": description}`, served as
/// `application/json`.
///
/// ```
/// use http::StatusCode;
///
/// let response = serve::json_error(StatusCode::NOT_FOUND, "not_found", "no such resource");
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}
