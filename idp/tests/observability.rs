//! What an operator sees: JSON log lines of the real `idp` binary (request
//! id, route, status; no secret in any line through a whole signup, login,
//! refresh, client_credentials and revoke), and `/metrics` of the IdP and
//! the demo resource server, read with an independent Prometheus text
//! parser, on the API's port or on `--metrics-bind`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestIdp;
use prometheus_parse::{Sample, Scrape, Value as Metric};
use serde_json::{json, Value};

/// The histogram the README names, on both servers.
const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// A listener on a free port; the port stays taken while it is held.
fn free_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind")
}

fn free_addr() -> SocketAddr {
    free_listener().local_addr().expect("addr")
}

fn idp_command(db: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
    command
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_LOG_FORMAT")
        .env("IDP_LOG", "info");
    command
}

#[tokio::test]
async fn json_logs_carry_the_request_id_route_and_status_and_never_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let created = idp_command(
        &db,
        &["clients", "create", "--id", "svc", "--scope", "api:read"],
    )
    .output()
    .expect("idp runs");
    assert!(created.status.success());
    let client_secret = String::from_utf8_lossy(&created.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: ").map(str::to_owned))
        .expect("secret printed");

    let log_path = dir.path().join("idp.log");
    let mut child = idp_command(
        &db,
        &["serve", "--bind", "127.0.0.1:0", "--bcrypt-cost", "4"],
    )
    .args(["--log-format", "json"])
    .env("IDP_OUTBOX", dir.path().join("outbox"))
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(&log_path).expect("log file"))
    .spawn()
    .expect("idp starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("startup line");
    let addr = line
        .strip_prefix("idp listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let password = "correct horse battery staple";
    let email = "ada@example.com";
    let response = http
        .post(format!("{base}/user"))
        .json(&json!({"email": email, "name": "Ada", "password": password}))
        .send()
        .await
        .expect("signup");
    assert_eq!(response.status(), 201);
    let response = http
        .post(format!("{base}/login"))
        .header("x-request-id", "login-42")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "login-42");
    let login: Value = response.json().await.expect("JSON");
    let access = login["access_token"].as_str().expect("access").to_owned();
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();

    let response = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(response.status(), 200);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID is made when none is sent");
    let refreshed: Value = response.json().await.expect("JSON");
    let refreshed_access = refreshed["access_token"].as_str().expect("access");
    let refreshed_refresh = refreshed["refresh_token"].as_str().expect("refresh");

    let response = http
        .post(format!("{base}/token"))
        .basic_auth("svc", Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("client_credentials");
    assert_eq!(response.status(), 200);
    let service: Value = response.json().await.expect("JSON");
    let service_access = service["access_token"].as_str().expect("access");

    let response = http
        .post(format!("{base}/revoke"))
        .basic_auth("svc", Some(&client_secret))
        .form(&[("token", service_access)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    // A secret in a query string never reaches a log line either.
    let response = http
        .get(format!("{base}/jwks?code=query-secret-7"))
        .header("x-request-id", "has spaces, so replaced")
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status(), 200);
    assert_ne!(
        response.headers()["x-request-id"],
        "has spaces, so replaced"
    );

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    assert!(child.wait().expect("idp exits").success());

    let log = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = |request_id: &str| {
        lines
            .iter()
            .find(|l| l["span"]["request_id"] == request_id && l["fields"]["status"].is_u64())
            .unwrap_or_else(|| panic!("no line for request {request_id}:\n{log}"))
    };
    let login_line = answered("login-42");
    assert_eq!(login_line["span"]["route"], "/login");
    assert_eq!(login_line["span"]["method"], "POST");
    assert_eq!(login_line["fields"]["status"], 200);
    assert!(login_line["fields"]["duration_ms"].is_f64(), "{login_line}");
    assert_eq!(answered(&generated)["span"]["route"], "/token");

    for secret in [
        password,
        &client_secret,
        &access,
        &refresh,
        refreshed_access,
        refreshed_refresh,
        service_access,
        "query-secret-7",
        "has spaces",
    ] {
        assert!(
            !log.contains(secret),
            "a log line holds a secret ({:.12}...):\n{log}",
            secret
        );
    }
}

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text parses")
}

/// The request-duration histogram of `method route status`, if recorded.
fn duration_of<'a>(
    scrape: &'a Scrape,
    method: &str,
    route: &str,
    status: &str,
) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == REQUEST_DURATION
            && matches!(s.value, Metric::Histogram(_))
            && s.labels.get("method") == Some(method)
            && s.labels.get("route") == Some(route)
            && s.labels.get("status") == Some(status)
    })
}

fn value_of(scrape: &Scrape, metric: &str) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric)
        .and_then(|s| match s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => Some(v),
            _ => None,
        })
}

async fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_idps_metrics_hold_the_request_histogram_counters_and_gauges() {
    let idp = TestIdp::start().await;
    assert_eq!(
        idp.signup("m@example.com", "password one").await.status(),
        201
    );
    let (status, _) = get_text(&idp.url("/jwks")).await;
    assert_eq!(status, 200);
    let (status, _) = get_text(&idp.url("/no/such/path?token=x")).await;
    assert_eq!(status, 404);

    let (status, text) = get_text(&idp.url("/metrics")).await;
    assert_eq!(status, 200);
    let metrics = scrape(&text);
    let jwks = duration_of(&metrics, "GET", "/jwks", "200").expect("/jwks observed");
    let Metric::Histogram(buckets) = &jwks.value else {
        unreachable!("matched as a histogram")
    };
    assert!(buckets
        .iter()
        .any(|b| b.less_than.is_infinite() && b.count == 1.0));
    assert!(
        duration_of(&metrics, "POST", "/user", "201").is_some(),
        "{text}"
    );
    assert!(
        duration_of(&metrics, "GET", "unmatched", "404").is_some(),
        "{text}"
    );
    assert_eq!(value_of(&metrics, "idp_signups_total"), Some(1.0));
    assert_eq!(value_of(&metrics, "idp_logins_total"), Some(0.0));
    assert_eq!(value_of(&metrics, "idp_published_keys"), Some(2.0));
    assert_eq!(value_of(&metrics, "idp_password_hash_queue"), Some(0.0));
    assert!(!text.contains("token=x"));
}

#[tokio::test]
async fn metrics_bind_moves_the_idps_metrics_off_the_api() {
    let metrics_addr = free_addr();
    let idp = TestIdp::start_with(|config| config.metrics_bind = Some(metrics_addr)).await;
    let (status, _) = get_text(&idp.url("/metrics")).await;
    assert_eq!(status, 404, "not beside the API");
    let (status, _) = get_text(&idp.url("/healthz")).await;
    assert_eq!(status, 200);
    let (status, text) = get_text(&format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(status, 200);
    let metrics = scrape(&text);
    assert!(
        duration_of(&metrics, "GET", "/healthz", "200").is_some(),
        "{text}"
    );
}

#[tokio::test]
async fn the_resource_servers_metrics_hold_the_request_histogram_and_cache_gauges() {
    use clap::Parser as _;

    let idp = TestIdp::start().await;
    let secret = idp.client("svc", "api:read", false).await;
    let token = idp.client_token("svc", &secret).await;
    // Both listeners held at once, so the two free ports differ.
    let (api, metrics) = (free_listener(), free_listener());
    let api_addr = api.local_addr().expect("addr");
    let metrics_addr = metrics.local_addr().expect("addr");
    drop((api, metrics));
    let args = resource_server_demo::Args::try_parse_from([
        "resource-server",
        "--bind",
        &api_addr.to_string(),
        "--metrics-bind",
        &metrics_addr.to_string(),
        "--issuer",
        &idp.base,
        "--revocation-poll",
        "1",
    ])
    .expect("arguments");
    let server = tokio::spawn(resource_server_demo::run(args));

    let http = reqwest::Client::new();
    let api = format!("http://{api_addr}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{api}/readyz")).send().await {
            if response.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the resource server became ready");
    let call_private = || async {
        let response = http
            .get(format!("{api}/api/private"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("API call");
        assert_eq!(response.status(), 200);
    };
    call_private().await;
    let (status, _) = get_text(&format!("{api}/metrics")).await;
    assert_eq!(status, 404, "--metrics-bind keeps /metrics off the API");

    let (status, text) = get_text(&format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(status, 200);
    let metrics = scrape(&text);
    assert!(
        duration_of(&metrics, "GET", "/api/private", "200").is_some(),
        "{text}"
    );
    assert!(value_of(&metrics, "rs_jwks_age_seconds").is_some_and(|age| age >= 0.0));
    assert_eq!(
        value_of(&metrics, "rs_jwks_refresh_failures_total"),
        Some(0.0)
    );
    assert!(
        value_of(&metrics, "rs_revocation_feed_staleness_seconds").is_some(),
        "{text}"
    );
    // One use verified the token without caching it; a second caches it.
    assert_eq!(value_of(&metrics, "rs_cached_tokens"), Some(0.0), "{text}");
    call_private().await;
    let (_, text) = get_text(&format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(
        value_of(&scrape(&text), "rs_cached_tokens"),
        Some(1.0),
        "{text}"
    );
    server.abort();
}
