//! Shared helpers: start a real IdP on 127.0.0.1:0 with a fresh database.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{json, Value};

#[derive(Debug)]
pub struct TestIdp {
    pub server: idp::Server,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl TestIdp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut idp::Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = idp::Config {
            db_path: dir.path().join("idp.db"),
            bcrypt_cost: 4,
            ..idp::Config::default()
        };
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = idp::start(config, listener).await.expect("idp starts");
        let base = format!("http://{}", server.addr);
        Self {
            server,
            base,
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("idp.db")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn signup(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/user"))
            .json(&json!({"email": email, "name": "Test User", "password": password}))
            .send()
            .await
            .expect("signup request")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    /// Signs up and logs in; returns the token response.
    pub async fn user_tokens(&self, email: &str) -> Value {
        assert_eq!(
            self.signup(email, "correct horse battery").await.status(),
            201
        );
        let response = self.login(email, "correct horse battery").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("token json")
    }
}

/// Asserts the API's JSON error shape and returns the error code.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = response.json().await.expect("json error body");
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().expect("error code").to_owned()
}
