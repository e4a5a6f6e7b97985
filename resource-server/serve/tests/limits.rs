//! The limits every served request runs under, driven in-process: what a
//! client gets when a handler is too slow, and that a prompt handler's
//! answer passes untouched.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use serve::{json_error, with_limits, ServeConfig};
use tower::ServiceExt;

fn app() -> Router {
    let config = ServeConfig {
        request_timeout: Duration::from_secs(5),
        ..ServeConfig::default()
    };
    let router = Router::new()
        .route("/fast", get(|| async { "done" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }),
        )
        .route(
            "/own-408",
            get(|| async { json_error(StatusCode::REQUEST_TIMEOUT, "own", "the handler's own") }),
        );
    with_limits(router, &config)
}

async fn call(path: &str) -> Response {
    let request = Request::get(path).body(Body::empty()).expect("request");
    app().oneshot(request).await.expect("infallible")
}

async fn json_body(response: Response) -> Value {
    let bytes = to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("a JSON body")
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_is_answered_with_a_json_408() {
    let started = tokio::time::Instant::now();
    let response = call("/slow").await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "the configured timeout"
    );
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        json_body(response).await,
        json!({"error": "request_timeout", "error_description": "the request took too long"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_prompt_answer_passes_untouched() {
    let response = call("/fast").await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = to_bytes(response.into_body(), 1024).await.expect("body");
    assert_eq!(&bytes[..], b"done");
}

#[tokio::test(start_paused = true)]
async fn a_handler_s_own_408_is_not_rewritten() {
    let response = call("/own-408").await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(json_body(response).await["error"], "own");
}
