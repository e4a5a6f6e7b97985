//! Shared helpers: start a real IdP on 127.0.0.1:0 with a fresh database.
#![allow(dead_code)]

pub mod flow;
pub mod postgres;
pub mod smtp;

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
            db: dir.path().join("idp.db").into(),
            bcrypt_cost: 4,
            mail: idp::mail::MailConfig {
                outbox: dir.path().join("outbox"),
                ..idp::mail::MailConfig::default()
            },
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

impl TestIdp {
    /// Registers a client as `spec` says; its secret, unless it is public.
    #[allow(dead_code)]
    pub async fn register(&self, spec: idp::clients::ClientSpec) -> Option<String> {
        idp::clients::register_client(self.server.state.store(), &spec, 0)
            .await
            .expect("client")
            .client_secret
            .map(|s| s.expose().to_owned())
    }

    /// Registers a client directly in the store; returns its secret.
    pub async fn client(&self, id: &str, scope: &str, admin: bool) -> String {
        idp::clients::register(self.server.state.store(), id, scope, admin, 0)
            .await
            .expect("client registered")
            .client_secret
            .expose()
            .to_owned()
    }

    /// POSTs a form, optionally with HTTP Basic client credentials.
    pub async fn form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).form(params);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.expect("form request")
    }

    /// Uses a login session's refresh token (no client authentication).
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// A client_credentials access token.
    pub async fn client_token(&self, id: &str, secret: &str) -> String {
        let response = self
            .form(
                "/token",
                Some((id, secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// POST with a bearer token, and a JSON body if given.
    pub async fn post_bearer(
        &self,
        path: &str,
        token: &str,
        json: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).bearer_auth(token);
        if let Some(body) = json {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// GET without credentials, answered with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    /// GET with a bearer token, answered 200 with JSON.
    pub async fn get_json_bearer(&self, path: &str, token: &str) -> Value {
        let response = self.get_bearer(path, token).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// GET with a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
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

/// A resource server (the demo API of the `resource-server` crate) running
/// in-process on 127.0.0.1:0, trusting `issuer`.
#[derive(Debug)]
pub struct TestRs {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _poller: Option<resource_server::RevocationPoller>,
}

impl TestRs {
    /// JWKS kept at least `min_ttl`, unknown kids refetched at most once per
    /// `cooldown`, revocations polled every `poll`.
    pub async fn start(
        issuer: &str,
        min_ttl: std::time::Duration,
        cooldown: std::time::Duration,
        poll: std::time::Duration,
    ) -> Self {
        let jwks = resource_server::JwksCache::from_issuer(issuer)
            .ttl_bounds(min_ttl, std::time::Duration::from_secs(3600))
            .unknown_kid_cooldown(cooldown)
            .build()
            .expect("jwks cache");
        let revocations = resource_server::RevocationList::new();
        let poller = resource_server::RevocationPoller::builder(format!("{issuer}/revocations"))
            .interval(poll)
            .spawn(&revocations)
            .expect("poller");
        let validator = resource_server::Validator::builder(issuer, jwks)
            .audience(issuer)
            .revocations(revocations)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve::serve(
            listener,
            resource_server_demo::demo_app(validator),
            serve::ServeConfig::default(),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            base,
            stop: Some(tx),
            _poller: Some(poller),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for TestRs {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts `idp serve` on a free port with `--db` (a file or a PostgreSQL
/// URL) and returns it with its base URL.
pub fn spawn_idp(db: impl AsRef<std::ffi::OsStr>, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--db",
        ])
        .arg(db)
        .args(extra)
        .env("IDP_LOG", "warn")
        .env("IDP_OUTBOX", std::env::temp_dir().join("idp-tests-outbox"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("idp starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("startup line");
    let addr = line
        .strip_prefix("idp listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();
    (child, format!("http://{addr}"))
}

/// The JSON of a compact JWT's header (`part` 0) or claims (`part` 1),
/// read without verifying anything.
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine as _;
    let segment = token.split('.').nth(part).expect("JWT segment");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .expect("base64url"),
    )
    .expect("JSON")
}

/// A CA and a server certificate for `names`, made here: (CA PEM, server
/// certificate PEM, server key PEM).
pub fn test_pki(names: &[&str]) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "idp test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let server = CertificateParams::new(names)
        .expect("server params")
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server certificate");
    (ca_cert.pem(), server.pem(), key.serialize_pem())
}
