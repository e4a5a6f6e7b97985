//! The `resource-server` binary as a user runs it: started with
//! `--bind 127.0.0.1:0`, its address read from the line it prints, talked to
//! over HTTP, stopped with SIGTERM.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    child: Child,
    url: String,
}

async fn start(args: &[&str]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_resource-server"));
    command
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for var in [
        "RS_BIND",
        "RS_ISSUER",
        "RS_JWKS_URL",
        "RS_AUDIENCE",
        "RS_CA_FILE",
        "RS_REVOCATIONS_URL",
        "RS_REVOCATION_POLL",
        "RS_REVOCATION_MAX_STALENESS",
        "RS_REQUIRE_DPOP",
        "RS_PUBLIC_URL",
    ] {
        command.env_remove(var);
    }
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("listening line in time")
        .expect("stdout readable")
        .expect("a line");
    let addr = line
        .strip_prefix("resource-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Running {
        child,
        url: format!("http://{addr}"),
    }
}

/// GET `url` over the network, with `token` as the bearer token.
async fn get(url: &str, token: Option<&str>) -> Reply {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    let (status, headers) = (response.status(), response.headers().clone());
    Reply::new(status, &headers, response.text().await.expect("body"))
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn starts_without_the_idp_and_fails_closed() {
    let issuer = closed_port().await;
    let mut rs = start(&["--issuer", &issuer]).await;
    let url = |path: &str| format!("{}{path}", rs.url);

    assert_eq!(get(&url("/api/public"), None).await.status, 200);
    assert_eq!(get(&url("/healthz"), None).await.json["status"], "ok");
    assert_eq!(get(&url("/readyz"), None).await.status, 503);
    let reply = get(&url("/api/private"), None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.challenge,
        Some(format!(
            "Bearer realm=\"api\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            rs.url
        ))
    );
    // A token cannot be checked without keys: 503, not a pass, not a 500.
    let token = sign(
        &header_for(trusted()),
        &claims_for(&issuer),
        trusted(),
        jsonwebtoken::Algorithm::RS256,
    );
    let reply = get(&url("/api/private"), Some(&token)).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    let reply = get(&url("/does/not/exist"), None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    rs.child.kill().await.expect("kill");
}

#[tokio::test]
async fn serves_the_demo_api_and_exits_cleanly_on_sigterm() {
    let idp = TestIdp::start(&[trusted()]).await;
    let mut rs = start(&["--issuer", &idp.issuer, "--revocation-poll", "1"]).await;
    let url = |path: &str| format!("{}{path}", rs.url);

    let mut claims = idp.claims();
    let jti = jti();
    claims["jti"] = json!(jti);
    let token = idp.token_with(trusted(), &claims);

    let reply = get(&url("/user/profile"), Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json,
        json!({"user": {"sub": "user-1", "email": "alice@example.com", "name": "Alice"}})
    );
    assert_eq!(
        get(&url("/api/private-scoped"), Some(&token)).await.status,
        200
    );
    assert_eq!(get(&url("/readyz"), None).await.status, 200);

    let mut other = idp.claims();
    other["aud"] = json!("some-other-api");
    let reply = get(
        &url("/api/private"),
        Some(&idp.token_with(trusted(), &other)),
    )
    .await;
    assert_eq!(reply.status, 401, "audience defaults to the issuer");

    idp.revoke(&jti, now() + 600);
    let mut refused = false;
    for _ in 0..60 {
        if get(&url("/api/private"), Some(&token)).await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revocation feed is polled");

    let pid = rs.child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), rs.child.wait())
        .await
        .expect("exits in time")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
}

/// SIGTERM drains requests in flight for up to 10 s; a second signal stops
/// at once.
#[tokio::test]
async fn a_second_sigterm_cuts_the_drain_short() {
    use tokio::io::AsyncWriteExt;
    let idp = TestIdp::start(&[trusted()]).await;
    let mut rs = start(&["--issuer", &idp.issuer]).await;
    // A request whose headers never end holds the drain open.
    let address = rs.url.trim_start_matches("http://").to_owned();
    let mut stuck = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stuck
        .write_all(b"GET /api/public HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a request");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = rs.child.id().expect("pid").to_string();
    let term = || {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    term();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rs.child.try_wait().expect("status").is_none(),
        "still draining after the first signal"
    );
    term();
    let exit = tokio::time::timeout(Duration::from_secs(4), rs.child.wait())
        .await
        .expect("the second signal ends the drain well before the 10 s grace")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
    drop(stuck);
}

#[tokio::test]
async fn with_a_max_staleness_an_unreachable_feed_fails_closed_and_a_healthy_one_does_not() {
    let idp = TestIdp::start(&[trusted()]).await;
    let token = idp.token();
    let feed_down = closed_port().await;
    let mut strict = start(&[
        "--issuer",
        &idp.issuer,
        "--revocation-poll",
        "1",
        "--revocation-max-staleness",
        "2",
        "--revocations-url",
        &format!("{feed_down}/revocations"),
    ])
    .await;
    let mut healthy = start(&[
        "--issuer",
        &idp.issuer,
        "--revocation-poll",
        "1",
        "--revocation-max-staleness",
        "2",
    ])
    .await;
    // The feed never answers: once its list is more than 2 s old, every
    // token is refused with 503 rather than trusted.
    let mut refused = None;
    for _ in 0..100 {
        let reply = get(&format!("{}/api/private", strict.url), Some(&token)).await;
        if reply.status == 503 {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.status, 200, "{reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused.expect("refused once the list is stale");
    assert_eq!(refused.error(), "temporarily_unavailable");
    // The same setting with a reachable feed keeps accepting it (past the
    // staleness limit, so only fetches keep it fresh). One fetch slowed by
    // a loaded machine may leave it stale for a moment: the next poll, a
    // second later, makes it fresh again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut reply = get(&format!("{}/api/private", healthy.url), Some(&token)).await;
    for _ in 0..3 {
        if reply.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        reply = get(&format!("{}/api/private", healthy.url), Some(&token)).await;
    }
    assert_eq!(reply.status, 200, "{reply:?}");
    strict.child.kill().await.expect("kill");
    healthy.child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_max_staleness_within_the_poll_interval_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .args(["--revocation-poll", "5", "--revocation-max-staleness", "5"])
        .env_remove("RS_REVOCATION_MAX_STALENESS")
        .env_remove("RS_REVOCATION_POLL")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must exceed --revocation-poll"), "{stderr}");
}

/// An issuer over HTTPS whose certificate no public root vouches for: its
/// keys never load (503) until `--ca-file` names the certificate, and
/// then its tokens pass.
#[tokio::test]
async fn an_issuer_behind_a_private_ca_is_trusted_with_ca_file() {
    let (addr, pem, _handshakes) = tls_issuer(jwks_json(&[trusted()])).await;
    let issuer = format!("https://{addr}");
    let jwks_url = format!("{issuer}/jwks");
    let ca_file = std::env::temp_dir().join(format!("rs-ca-trusted-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &pem).expect("CA file written");
    let ca_path = ca_file.to_str().expect("UTF-8 path");
    let token = sign(
        &header_for(trusted()),
        &claims_for(&issuer),
        trusted(),
        jsonwebtoken::Algorithm::RS256,
    );
    let common = [
        "--issuer",
        &issuer,
        "--jwks-url",
        &jwks_url,
        "--revocations-url",
        "off",
    ];

    let mut untrusted = start(&common).await;
    let reply = get(&format!("{}/api/private", untrusted.url), Some(&token)).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    untrusted.child.kill().await.expect("kill");

    let mut trusting = start(&[&common[..], &["--ca-file", ca_path]].concat()).await;
    let reply = get(&format!("{}/api/private", trusting.url), Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    trusting.child.kill().await.expect("kill");
    std::fs::remove_file(&ca_file).expect("cleaned up");
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_read_or_holds_no_certificate_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("rs-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").expect("written");
    let missing = dir.join("missing.pem");
    for (file, expected) in [
        (&missing, "reading --ca-file"),
        (&empty, "no PEM certificate found"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_resource-server"))
            .args(["--bind", "127.0.0.1:0", "--ca-file"])
            .arg(file)
            .env("RUST_LOG", "info")
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success(), "{file:?} accepted");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(expected), "{file:?}: {text}");
        assert!(
            String::from_utf8_lossy(&output.stdout).is_empty(),
            "{file:?}: it must not start listening"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

#[tokio::test]
async fn require_dpop_and_the_metadata_document() {
    let idp = TestIdp::start(&[trusted()]).await;
    let mut rs = start(&[
        "--issuer",
        &idp.issuer,
        "--audience",
        "https://orders.example.com",
        "--require-dpop",
        "--revocations-url",
        "off",
    ])
    .await;
    let url = |path: &str| format!("{}{path}", rs.url);

    let metadata = get(&url("/.well-known/oauth-protected-resource"), None).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.json["resource"], "https://orders.example.com");
    assert_eq!(metadata.json["authorization_servers"], json!([idp.issuer]));
    assert_eq!(metadata.json["dpop_bound_access_tokens_required"], true);

    let mut claims = idp.claims();
    claims["aud"] = json!("https://orders.example.com");
    let reply = get(
        &url("/api/private"),
        Some(&idp.token_with(trusted(), &claims)),
    )
    .await;
    assert_eq!(reply.status, 401, "a bearer token where DPoP is required");
    assert!(
        reply
            .challenge
            .as_deref()
            .unwrap_or_default()
            .starts_with("DPoP realm=\"api\""),
        "{reply:?}"
    );
    rs.child.kill().await.expect("kill");
}
