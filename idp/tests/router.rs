//! The IdP's router driven in-process with `tower::ServiceExt::oneshot`, as
//! axum's testing example does: no socket, the same `idp::app` the server
//! runs. Error shapes, challenges and the bearer and scope layers are
//! checked here; `api.rs` and the others keep what needs a real listener.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt as _;

const ISSUER: &str = "http://idp.test";

/// The router over a fresh SQLite database, with its state.
async fn router() -> (Router, idp::AppState, tempfile::TempDir) {
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

async fn send(app: &Router, request: Request<Body>) -> Response {
    app.clone().oneshot(request).await.expect("infallible")
}

/// The status, the JSON body (every error must be JSON) and the response.
async fn json_of(response: Response) -> (StatusCode, Value, Response<()>) {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{} answered with content-type {content_type:?}",
        parts.status
    );
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let value = serde_json::from_slice(&bytes).expect("JSON body");
    (parts.status, value, Response::from_parts(parts, ()))
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

fn json_post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn form_post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

fn header_of(response: &Response<()>, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn routing_failures_are_json_with_their_allow_header() {
    let (app, _, _dir) = router().await;
    let (status, body, _) = json_of(send(&app, get("/no/such/endpoint")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body, response) = json_of(send(&app, get("/token")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    assert!(header_of(&response, header::ALLOW).contains("POST"));
}

#[tokio::test]
async fn bad_signup_bodies_get_4xx_json_naming_the_problem() {
    let (app, _, _dir) = router().await;
    let wrong_type = Request::post("/user")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .expect("request");
    let (status, body, _) = json_of(send(&app, wrong_type).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("invalid_request"))
    );

    let missing = json_post("/user", &json!({"email": "a@example.com", "name": "A"}));
    let (status, body, _) = json_of(send(&app, missing).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "missing field `password`");

    let huge = json_post(
        "/user",
        &json!({"email": "a@example.com", "name": "x".repeat(100_000), "password": "p"}),
    );
    let (status, body, _) = json_of(send(&app, huge).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("invalid_request"))
    );

    let signup = json!({"email": "ann@example.com", "name": "Ann", "password": "correct horse"});
    assert_eq!(
        send(&app, json_post("/user", &signup)).await.status(),
        StatusCode::CREATED
    );
    let (status, body, _) = json_of(send(&app, json_post("/user", &signup)).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
}

#[tokio::test]
async fn failed_logins_are_one_answer_with_a_basic_challenge() {
    let (app, _, _dir) = router().await;
    let signup = json!({"email": "ann@example.com", "name": "Ann", "password": "correct horse"});
    assert_eq!(
        send(&app, json_post("/user", &signup)).await.status(),
        StatusCode::CREATED
    );
    let mut answers = Vec::new();
    for (email, password) in [
        ("ann@example.com", "wrong horse"),
        ("nobody@example.com", "correct horse"),
    ] {
        let login = json_post("/login", &json!({"email": email, "password": password}));
        let (status, body, response) = json_of(send(&app, login).await).await;
        answers.push((status, body, header_of(&response, header::WWW_AUTHENTICATE)));
    }
    assert_eq!(
        answers[0], answers[1],
        "unknown email and wrong password look alike"
    );
    let (status, body, challenge) = &answers[0];
    assert_eq!(
        (*status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    assert_eq!(
        challenge,
        &format!("Basic realm=\"{ISSUER}\", charset=\"UTF-8\"")
    );

    let login = json_post(
        "/login",
        &json!({"email": "ANN@example.com", "password": "correct horse"}),
    );
    let response = send(&app, login).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of_full(&response, header::CACHE_CONTROL), "no-store");
}

fn header_of_full(response: &Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let (app, state, _dir) = router().await;
    let registered = idp::clients::register(state.store(), "svc", "api:read", false, 0)
        .await
        .expect("client");
    let secret = registered.client_secret.expose().to_owned();

    let (status, body, _) = json_of(
        send(
            &app,
            json_post("/token", &json!({"grant_type": "client_credentials"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body, _) =
        json_of(send(&app, form_post("/token", "grant_type=password")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    let wrong = form_post(
        "/token",
        "grant_type=client_credentials&client_id=svc&client_secret=nope",
    );
    let (status, body, response) = json_of(send(&app, wrong).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(
        header_of(&response, header::WWW_AUTHENTICATE),
        "",
        "no Basic challenge after client_secret_post"
    );

    let too_much = form_post(
        "/token",
        &format!("grant_type=client_credentials&client_id=svc&client_secret={secret}&scope=admin"),
    );
    let (status, body, _) = json_of(send(&app, too_much).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    let good = form_post(
        "/token",
        &format!("grant_type=client_credentials&client_id=svc&client_secret={secret}"),
    );
    let (status, body, _) = json_of(send(&app, good).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["token_type"].as_str(), body["scope"].as_str()),
        (Some("Bearer"), Some("api:read"))
    );
}

/// A client_credentials token for a new client with `scope` (and `admin`).
async fn token(app: &Router, state: &idp::AppState, id: &str, scope: &str, admin: bool) -> String {
    let registered = idp::clients::register(state.store(), id, scope, admin, 0)
        .await
        .expect("client");
    let request = form_post(
        "/token",
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={}",
            registered.client_secret.expose()
        ),
    );
    let (status, body, _) = json_of(send(app, request).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn the_registry_sits_behind_the_bearer_and_admin_scope_layers() {
    let (app, state, _dir) = router().await;
    let (status, body, response) = json_of(send(&app, get("/clients")).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header_of(&response, header::WWW_AUTHENTICATE),
        format!("Bearer realm=\"{ISSUER}\"")
    );
    assert!(body["error"].is_string());

    let (status, body, response) = json_of(send(&app, bearer("/clients", "not.a.jwt")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(header_of(&response, header::WWW_AUTHENTICATE).contains("error=\"invalid_token\""));

    let plain = token(&app, &state, "svc", "api:read", false).await;
    let (status, body, response) = json_of(send(&app, bearer("/clients", &plain)).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    assert!(header_of(&response, header::WWW_AUTHENTICATE).contains("scope=\"admin\""));

    let admin = token(&app, &state, "ops", "", true).await;
    let (status, body, _) = json_of(send(&app, bearer("/clients", &admin)).await).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert_eq!(ids, ["ops", "svc"]);
    let (status, body, _) = json_of(send(&app, bearer("/clients/nobody", &admin)).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}
