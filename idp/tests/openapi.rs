//! The OpenAPI document against the router it describes, both ways.
//!
//! The document and the router come from the same registrations: every
//! module's `router()` is a `utoipa_axum` `OpenApiRouter` fed with
//! `routes!(handler, ...)`, which reads each handler's path and methods
//! from its `#[utoipa::path]` and both routes it and documents it. What
//! could still make them differ is checked here against the real
//! `idp::app`, in-process:
//!
//! - every documented operation is answered by a handler, not by the
//!   router's own 404 (the fallback) or 405 (path served, method not);
//! - on every documented path, every method the document does not list is
//!   the router's 405, so no handler serves an undocumented method (this
//!   also catches `routes!` grouping handlers of different paths, which
//!   would route each method on every path of the group);
//! - no module registers a route the document cannot see: axum does not
//!   list its routes, so the one way around `routes!` (a raw `.route(`,
//!   `.route_service(`, `.nest(`, `.nest_service(` call) is refused in the
//!   sources of `idp/src/http/`.
//!
//! Besides, the document's own promises: every JSON error response
//! refers to the one `ErrorBody` component, operation ids are unique, and
//! `/openapi.json` serves what `idp openapi` prints, cacheable.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt as _;

const ISSUER: &str = "http://idp.test";

/// The methods probed on every documented path. `HEAD` is left out: axum
/// answers it wherever `GET` is served, as HTTP says it must.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

async fn app() -> (Router, tempfile::TempDir) {
    let (app, _, dir) = app_and_state().await;
    (app, dir)
}

/// A client_credentials token of a new admin client with every scope the
/// protected routes ask for.
async fn admin_token(app: &Router, state: &idp::AppState) -> String {
    let registered = idp::clients::register(state.store(), "probe", "profile openid", true, 0)
        .await
        .expect("client");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id=probe&client_secret={}",
            registered.client_secret.expose()
        )))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

async fn app_and_state() -> (Router, idp::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = idp::Config {
        db: dir.path().join("idp.db").into(),
        bcrypt_cost: 4,
        mail: idp::mail::MailConfig {
            outbox: dir.path().join("outbox"),
            ..idp::mail::MailConfig::default()
        },
        ..idp::Config::default()
    };
    let state = idp::AppState::open(&config, ISSUER.into())
        .await
        .expect("state opens");
    (idp::app(state.clone()), state, dir)
}

fn document() -> Value {
    serde_json::from_str(idp::http::openapi_json()).expect("the document is JSON")
}

/// Every `(METHOD, path)` the document lists.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            let upper = method.to_ascii_uppercase();
            if METHODS.contains(&upper.as_str()) || upper == "HEAD" {
                found.insert((upper, path.clone()));
            }
        }
    }
    found
}

/// A concrete URL for a templated path: every `{param}` becomes `x`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Status and body of `method path` with no credentials and no body.
async fn probe(app: &Router, method: &str, path: &str) -> (StatusCode, Vec<u8>) {
    probe_with(app, method, path, None).await
}

/// Status and body of `method path` with no body, and `token` if given.
async fn probe_with(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, body.to_vec())
}

#[tokio::test]
async fn every_documented_operation_is_served_by_a_handler() {
    let (app, _dir) = app().await;
    let doc = document();
    let ops = operations(&doc);
    assert!(ops.len() > 40, "only {} operations documented", ops.len());
    // What the router itself answers for a path it does not serve.
    let unrouted = probe(&app, "GET", "/no/such/route/anywhere").await;
    assert_eq!(unrouted.0, StatusCode::NOT_FOUND);
    for (method, path) in &ops {
        let (status, body) = probe(&app, method, &concrete(path)).await;
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but the router does not serve that method"
        );
        assert!(
            !(status == unrouted.0 && body == unrouted.1),
            "{method} {path} is documented but the router does not serve that path"
        );
    }
}

#[tokio::test]
async fn no_undocumented_method_is_served_on_a_documented_path() {
    let (app, state, _dir) = app_and_state().await;
    // With a valid token the bearer layer lets every request through to the
    // router's method check, so a method served only to token holders is
    // probed too.
    let token = admin_token(&app, &state).await;
    let doc = document();
    let ops = operations(&doc);
    let paths: BTreeSet<&String> = ops.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in METHODS {
            if ops.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let (status, body) = probe_with(&app, method, &concrete(path), Some(&token)).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served but not in the document: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A status listed twice in one `#[utoipa::path]` reaches the document
/// once, with the last description: the first is silently lost.
#[test]
fn no_operation_lists_a_status_twice() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    let mut twice = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        for attribute in text.split("#[utoipa::path(").skip(1) {
            let attribute = attribute.split("\n)]").next().unwrap_or_default();
            let mut seen = HashSet::new();
            for status in attribute.split("(status = ").skip(1) {
                let code: String = status.chars().take_while(char::is_ascii_digit).collect();
                if !seen.insert(code.clone()) {
                    let id = attribute
                        .split("operation_id = \"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or("?");
                    twice.push(format!("{}: {id} lists {code} twice", file.display()));
                }
            }
        }
    }
    assert!(twice.is_empty(), "{}", twice.join("\n"));
}

#[test]
fn routes_are_registered_only_through_the_documented_routes_macro() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    assert!(
        files.len() > 10,
        "found {} files under {dir:?}",
        files.len()
    );
    let raw = [".route(", ".route_service(", ".nest(", ".nest_service("];
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if raw.iter().any(|call| code.contains(call)) {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "register routes with `.routes(routes!(handler))` so they are documented:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_json_error_response_is_the_shared_error_shape() {
    let doc = document();
    let mut ids = HashSet::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            for (status, response) in responses {
                let error = status.starts_with('4') || status.starts_with('5');
                let Some(json) = response["content"].get("application/json") else {
                    continue;
                };
                if error {
                    assert_eq!(
                        json["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} JSON error responses");
}

#[tokio::test]
async fn openapi_json_serves_the_document_cacheably() {
    let (app, _dir) = app().await;
    let response = app
        .clone()
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=3600");
    let etag = headers[header::ETAG].to_str().expect("etag").to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let served: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(served, document());
    assert!(served["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));

    let again = app
        .oneshot(
            Request::get("/openapi.json")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}
