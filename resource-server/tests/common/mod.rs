//! Test fixtures: an IdP stand-in that serves a JWKS (and discovery, and a
//! revocation feed) on 127.0.0.1:0 and counts what it is asked, a token
//! forge that can sign anything with a trusted key, and a service guarded
//! by the bearer layer, called in-process; an issuer over HTTPS with a
//! self-signed certificate. `algs.rs` has keys of every
//! algorithm the crate verifies, and DPoP proofs made with them.
#![allow(dead_code)]

pub mod algs;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use keys::SigningKey;
use resource_server::{require_scope, BearerAuthLayer, Claims, Validator};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Keys are slow to generate: three per test binary, shared.
pub fn key(index: usize) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| SigningKey::generate(2048).expect("key generation"))
            .collect()
    })[index]
}

/// The trusted signing key.
pub fn trusted() -> &'static SigningKey {
    key(0)
}

/// A second trusted-later key, for rotation.
pub fn rotated() -> &'static SigningKey {
    key(1)
}

/// A key the resource server never trusts.
pub fn attacker() -> &'static SigningKey {
    key(2)
}

pub fn now() -> u64 {
    resource_server::unix_now()
}

/// What the IdP stand-in serves and has seen.
#[derive(Default)]
pub struct IdpState {
    pub issuer: OnceLock<String>,
    pub jwks_body: Mutex<String>,
    pub jwks_status: Mutex<u16>,
    pub cache_control: Mutex<Option<String>>,
    pub jwks_hits: AtomicUsize,
    /// JWKS requests answered `304 Not Modified`.
    pub jwks_not_modified: AtomicUsize,
    pub discovery_hits: AtomicUsize,
    pub revoked: Mutex<Vec<(String, u64)>>,
    pub revocations_status: Mutex<u16>,
    pub revocation_hits: AtomicUsize,
    pub other_hits: AtomicUsize,
}

pub struct TestIdp {
    pub issuer: String,
    pub state: Arc<IdpState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

pub fn jwks_json(keys: &[&SigningKey]) -> String {
    let jwks = keys::Jwks {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    };
    serde_json::to_string(&jwks).expect("jwks json")
}

impl TestIdp {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let state = Arc::new(IdpState::default());
        *state.jwks_body.lock().expect("lock") = jwks_json(keys);
        *state.jwks_status.lock().expect("lock") = 200;
        *state.revocations_status.lock().expect("lock") = 200;
        let app = Router::new()
            .route("/jwks", routing::get(jwks))
            .route("/.well-known/openid-configuration", routing::get(discovery))
            .route("/revocations", routing::get(revocations))
            .fallback(|State(state): State<Arc<IdpState>>| async move {
                state.other_hits.fetch_add(1, Ordering::SeqCst);
                StatusCode::NOT_FOUND
            })
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        state.issuer.set(issuer.clone()).expect("issuer set once");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("idp serves");
        });
        Self {
            issuer,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub fn set_keys(&self, keys: &[&SigningKey]) {
        *self.state.jwks_body.lock().expect("lock") = jwks_json(keys);
    }

    pub fn set_jwks_body(&self, body: &str) {
        *self.state.jwks_body.lock().expect("lock") = body.to_owned();
    }

    pub fn set_jwks_status(&self, status: u16) {
        *self.state.jwks_status.lock().expect("lock") = status;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().expect("lock") = value.map(str::to_owned);
    }

    pub fn revoke(&self, jti: &str, exp: u64) {
        self.state
            .revoked
            .lock()
            .expect("lock")
            .push((jti.to_owned(), exp));
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// JWKS revalidations answered `304`.
    pub fn jwks_not_modified(&self) -> usize {
        self.state.jwks_not_modified.load(Ordering::SeqCst)
    }

    /// Stops serving and closes every connection, keep-alive ones included.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("idp stops in time")
                .expect("idp task");
        }
    }

    /// A token signed by `key` with the standard header and `claims`.
    pub fn token_with(&self, key: &SigningKey, claims: &Value) -> String {
        token_with(key, claims)
    }

    /// A valid token from the trusted key.
    pub fn token(&self) -> String {
        self.token_with(trusted(), &self.claims())
    }

    /// Valid claims for this issuer (audience = issuer, as the IdP does).
    pub fn claims(&self) -> Value {
        claims_for(&self.issuer)
    }
}

/// Serves the JWKS with an ETag (a hash of the body), answering `304` to
/// an `If-None-Match` that names it.
async fn jwks(State(state): State<Arc<IdpState>>, request: HeaderMap) -> Response {
    use std::hash::{Hash, Hasher};
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let status = *state.jwks_status.lock().expect("lock");
    let body = state.jwks_body.lock().expect("lock").clone();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:x}\"", hasher.finish());
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag.parse().expect("etag"));
    let revalidated = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if status == 200 && revalidated {
        state.jwks_not_modified.fetch_add(1, Ordering::SeqCst);
        if let Some(cc) = state.cache_control.lock().expect("lock").as_deref() {
            headers.insert(header::CACHE_CONTROL, cc.parse().expect("value"));
        }
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("value"),
    );
    if let Some(cc) = state.cache_control.lock().expect("lock").as_deref() {
        headers.insert(header::CACHE_CONTROL, cc.parse().expect("value"));
    }
    (StatusCode::from_u16(status).expect("status"), headers, body).into_response()
}

async fn discovery(State(state): State<Arc<IdpState>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = state.issuer.get().cloned().unwrap_or_default();
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "revocation_endpoint": format!("{issuer}/revoke"),
    }))
    .into_response()
}

async fn revocations(State(state): State<Arc<IdpState>>) -> Response {
    state.revocation_hits.fetch_add(1, Ordering::SeqCst);
    let status = *state.revocations_status.lock().expect("lock");
    if status != 200 {
        return (StatusCode::from_u16(status).expect("status"), "down").into_response();
    }
    let revoked: Vec<Value> = state
        .revoked
        .lock()
        .expect("lock")
        .iter()
        .map(|(jti, exp)| json!({"jti": jti, "exp": exp}))
        .collect();
    axum::Json(json!({ "revoked": revoked })).into_response()
}

/// A fresh, unique `jti`.
pub fn jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "jti-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn claims_for(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": "user-1",
        "aud": issuer,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": jti(),
        "client_id": "demo-client",
        "scope": "profile api:read",
        "email": "alice@example.com",
        "name": "Alice",
    })
}

/// A token signed by `key` with the standard header and `claims`.
pub fn token_with(key: &SigningKey, claims: &Value) -> String {
    sign(&header_for(key), claims, key, Algorithm::RS256)
}

pub fn header_for(key: &SigningKey) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()})
}

pub fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).expect("json"))
}

/// Signs `header.claims` with `key` under `alg`, whatever the header says.
pub fn sign(header: &Value, claims: &Value, key: &SigningKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let key = EncodingKey::from_rsa_pem(key.private_pem()).expect("encoding key");
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// Signs `header.claims` with HMAC-SHA256 keyed by `secret`.
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let key = EncodingKey::from_secret(secret);
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("sign");
    format!("{message}.{signature}")
}

/// The public key of `key` in the encodings an attacker would try as an
/// HMAC secret: SPKI PEM, PKCS#1 PEM (with and without the final newline),
/// the DERs, raw `n`, `n‖e`, the base64url `n`, the JWK JSON.
pub fn public_key_encodings(key: &SigningKey) -> Vec<Vec<u8>> {
    let jwk = key.public_jwk();
    let n = URL_SAFE_NO_PAD.decode(&jwk.n).expect("n");
    let e = URL_SAFE_NO_PAD.decode(&jwk.e).expect("e");
    let pkcs1 = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    let rsa_oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let spki = der(
        0x30,
        &[
            der(0x30, &rsa_oid),
            der(0x03, &[&[0u8][..], &pkcs1].concat()),
        ]
        .concat(),
    );
    let spki_pem = pem("PUBLIC KEY", &spki);
    let pkcs1_pem = pem("RSA PUBLIC KEY", &pkcs1);
    vec![
        spki_pem.clone().into_bytes(),
        spki_pem.trim_end().as_bytes().to_vec(),
        pkcs1_pem.clone().into_bytes(),
        pkcs1_pem.trim_end().as_bytes().to_vec(),
        spki,
        pkcs1,
        n.clone(),
        [n, e].concat(),
        jwk.n.clone().into_bytes(),
        serde_json::to_vec(jwk).expect("jwk json"),
    ]
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 128 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut content = bytes.to_vec();
    if content.first().is_some_and(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A service guarded the way a user guards theirs, called in-process with
/// [`call`]: `/api/public` needs nothing; `/api/private` any valid token;
/// `/api/private-scoped` scope `api:read`; `/api/needs-api` scope `api`.
/// Each guarded handler answers the [`Claims`] it was handed, as JSON.
pub fn api(validator: Validator) -> Router {
    api_with(BearerAuthLayer::new(validator))
}

/// [`api`] behind a layer configured by the test.
pub fn api_with(layer: BearerAuthLayer) -> Router {
    let claims = || routing::get(|claims: Claims| async move { Json(claims) });
    let protected = Router::new()
        .route("/api/private", claims())
        .route(
            "/api/private-scoped",
            claims().route_layer(require_scope("api:read")),
        )
        .route("/api/needs-api", claims().route_layer(require_scope("api")))
        .route_layer(layer);
    Router::new()
        .route("/api/public", routing::get(|| async { "public" }))
        .merge(protected)
}

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub challenge: Option<String>,
    pub content_type: Option<String>,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn new(status: StatusCode, headers: &HeaderMap, text: String) -> Self {
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status: status.as_u16(),
            challenge: header(header::WWW_AUTHENTICATE),
            content_type: header(header::CONTENT_TYPE),
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// Reads a whole response.
    pub async fn read(response: Response) -> Self {
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 1024 * 1024).await.expect("body");
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
        Self::new(parts.status, &parts.headers, text)
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or_default()
    }

    /// A 401 `invalid_token` in every part of the response.
    pub fn assert_invalid_token(&self, what: &str) {
        assert_eq!(self.status, 401, "{what}: {self:?}");
        assert_eq!(self.error(), "invalid_token", "{what}: {self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=") && challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json"),
            "{what}"
        );
    }
}

/// GET `path` from `app` in-process, with this `Authorization` header.
pub async fn call_with(app: &Router, path: &str, authorization: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    Reply::read(response).await
}

/// GET `path` from `app` in-process, with `token` as the bearer token.
pub async fn call(app: &Router, path: &str, token: Option<&str>) -> Reply {
    let authorization = token.map(|t| format!("Bearer {t}"));
    call_with(app, path, authorization.as_deref()).await
}

/// Polls `condition` every 20 ms for at most `limit`.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// An issuer over HTTPS with a self-signed certificate for 127.0.0.1: each
/// connection's TLS handshake outcome is sent on the channel, and a
/// completed one is answered with `jwks` (one HTTP/1.1 response, then
/// close). Returns the address and the certificate in PEM.
pub async fn tls_issuer(
    jwks: String,
) -> (
    std::net::SocketAddr,
    String,
    tokio::sync::mpsc::UnboundedReceiver<Result<(), std::io::Error>>,
) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let addr = listener.local_addr().expect("address");
    let (handshakes, outcomes) = tokio::sync::mpsc::unbounded_channel();
    let response = Arc::new(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
        jwks.len()
    ));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, handshakes, response) =
                (acceptor.clone(), handshakes.clone(), Arc::clone(&response));
            tokio::spawn(async move {
                let mut stream = match acceptor.accept(tcp).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        let _ = handshakes.send(Err(e));
                        return;
                    }
                };
                let _ = handshakes.send(Ok(()));
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, certified.cert.pem(), outcomes)
}
