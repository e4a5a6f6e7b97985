//! The IdP on PostgreSQL (`--db postgres://...`): the same behaviour as on
//! SQLite, plus what only a shared database brings: several instances on one
//! database, concurrent rotations and refreshes, lost connections.
//!
//! These tests need a PostgreSQL server: `IDP_TEST_POSTGRES_URL` names one
//! with a superuser URL (`postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres`)
//! to a throw-away server. Each test creates its own database
//! (`idp_test_<random>`) and drops it afterwards, so they run in parallel.
//!
//! Without the variable, each test prints that the PostgreSQL tests were
//! skipped and returns. That is a deliberate choice: `cargo test` keeps
//! working on a machine without PostgreSQL, and CI cannot skip them, since
//! `.ci/run` always starts a server (`.ci/postgres.sh`) and sets the
//! variable. To run them by hand:
//!
//! ```sh
//! source .ci/postgres.sh && start_test_postgres && trap stop_test_postgres EXIT
//! cargo test -p idp --test postgres
//! ```

mod common;

use std::time::{Duration, Instant};

use common::postgres::PgDatabase;
use common::{error_code, jwt_part, test_pki, TestIdp};
use idp::store::{Store, StoreError};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

/// An IdP on the database, noticing other instances' changes every second.
/// Instances behind one name share an issuer, as a deployment's would.
async fn idp_on(db: &PgDatabase) -> TestIdp {
    let location = db.location();
    TestIdp::start_with(move |c| {
        c.db = location;
        c.issuer = Some("http://idp.example.test".into());
        c.key_poll = Duration::from_secs(1);
    })
    .await
}

/// Runs the `idp` binary on the database; returns (success, stdout, stderr).
async fn idp_cli(db: &PgDatabase, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args)
        .args(["--db", &db.url])
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .output()
        .await
        .expect("idp runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(password) = password_of(&db.url) {
        assert!(
            !stdout.contains(password) && !stderr.contains(password),
            "the database password was printed"
        );
    }
    (out.status.success(), stdout, stderr)
}

/// The password in a `scheme://user:password@host/...` URL.
fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let userinfo = &rest[..rest.rfind('@')?];
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

async fn signing_kid(idp: &TestIdp) -> String {
    let ready: Value = idp
        .http
        .get(idp.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    ready["signing_kid"].as_str().expect("kid").to_owned()
}

async fn jwks(idp: &TestIdp) -> Value {
    idp.http
        .get(idp.url("/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json")
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `check` holds, polling every 100 ms, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn signup_and_login_with_emails_unique_whatever_their_case() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let idp = idp_on(&db).await;

    let r = idp.signup("Alice@Example.com", PASSWORD).await;
    assert_eq!(r.status(), 201);
    let r = idp.signup("alice@example.COM", "another password").await;
    assert_eq!(error_code(r, 409).await, "email_taken");

    let r = idp.login("ALICE@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(jwt_part(access, 1)["email"], "Alice@Example.com");
    let profile: Value = idp
        .get_bearer("/userinfo", access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["email"], "Alice@Example.com");

    let r = idp.login("alice@example.com", "wrong password!").await;
    assert_eq!(error_code(r, 401).await, "invalid_credentials");
    let r = idp.login("nobody@example.com", PASSWORD).await;
    assert_eq!(error_code(r, 401).await, "invalid_credentials");

    // The CLI finds the user whatever the case, on the same database.
    let (ok, out, err) = idp_cli(
        &db,
        &[
            "users",
            "grant",
            "--email",
            "alice@EXAMPLE.com",
            "--scope",
            "api:read",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let r = idp.login("alice@example.com", PASSWORD).await;
    let tokens: Value = r.json().await.expect("json");
    let scope = tokens["scope"].as_str().expect("scope");
    assert!(scope.split(' ').any(|s| s == "api:read"), "{scope}");
}

#[tokio::test]
async fn client_credentials_and_refresh_rotation_with_reuse_detection() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let idp = idp_on(&db).await;

    let secret = idp.client("billing", "api:read", false).await;
    let token = idp.client_token("billing", &secret).await;
    let claims = jwt_part(&token, 1);
    assert_eq!(claims["sub"], "billing");
    assert_eq!(claims["scope"], "api:read");
    let r = idp
        .form(
            "/token",
            Some(("billing", "not the secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_client");

    let login = idp.user_tokens("rita@example.com").await;
    let first = login["refresh_token"].as_str().expect("refresh").to_owned();
    let r = idp.refresh(&first).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.expect("json");
    let second = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(first, second);

    // The used token again: reuse, so the whole family dies.
    let r = idp.refresh(&first).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let r = idp.refresh(&second).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let metrics = idp
        .http
        .get(idp.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l == "idp_refresh_token_reuse_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_of_one_refresh_token_never_give_two_sessions() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    // Two instances, so the race also crosses processes' pools.
    let a = idp_on(&db).await;
    let b = idp_on(&db).await;
    let login = a.user_tokens("race@example.com").await;
    let mut token = login["refresh_token"].as_str().expect("refresh").to_owned();
    for round in 0..5 {
        let (ra, rb) = tokio::join!(a.refresh(&token), b.refresh(&token));
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        let mut sorted = statuses;
        sorted.sort_unstable();
        // Never two sessions from one token. The loser's reuse revokes the
        // family, and a winner that finds it revoked before answering
        // answers 400 too rather than hand out dead tokens.
        assert!(
            sorted == [200, 400] || sorted == [400, 400],
            "round {round}: {statuses:?}"
        );
        // The family is revoked by the reuse: start a new session.
        let login = a.login("race@example.com", PASSWORD).await;
        assert_eq!(login.status(), 200);
        let body: Value = login.json().await.expect("json");
        token = body["refresh_token"].as_str().expect("refresh").to_owned();
    }
}

#[tokio::test]
async fn two_instances_share_keys_users_and_revocations() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let a = idp_on(&db).await;
    let b = idp_on(&db).await;
    assert_eq!(jwks(&a).await, jwks(&b).await, "one key set");
    assert_eq!(kids(&jwks(&a).await).len(), 2, "current and next");

    assert_eq!(a.signup("sam@example.com", PASSWORD).await.status(), 201);
    let r = b.signup("SAM@example.com", PASSWORD).await;
    assert_eq!(error_code(r, 409).await, "email_taken");
    let r = b.login("sam@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200, "a user signed up on A logs in on B");
    let tokens: Value = r.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(a.get_bearer("/userinfo", &access).await.status(), 200);

    // A logout on B reaches A through the database, and A's feed.
    let jti = jwt_part(&access, 1)["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let r = b
        .http
        .post(b.url("/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 200);
    let (a_ref, access_ref) = (&a, &access);
    eventually(
        Duration::from_secs(10),
        "A revoking B's logout",
        || async move { a_ref.get_bearer("/userinfo", access_ref).await.status() == 401 },
    )
    .await;
    let feed: Value = a
        .http
        .get(a.url("/revocations"))
        .send()
        .await
        .expect("feed")
        .json()
        .await
        .expect("json");
    assert_eq!(feed["revoked"][0]["jti"], jti.as_str(), "{feed}");
    let r = a
        .refresh(tokens["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
}

/// Finding 9 of issue 10: the password-guessing limit is the database's, so
/// N instances do not allow N times the guesses. Each instance checks three
/// guesses first (so both have charged the shared balance), then the rest
/// race on both at once; together they check at most ten passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_password_guessing_limit() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let a = idp_on(&db).await;
    let b = idp_on(&db).await;
    assert_eq!(a.signup("kim@example.com", PASSWORD).await.status(), 201);
    let checks = |idp: &TestIdp| {
        idp.server
            .state
            .metrics()
            .value("idp_password_checks_total")
    };
    for (i, idp) in [&a, &b, &a, &b, &a, &b].into_iter().enumerate() {
        let r = idp
            .login("kim@example.com", &format!("first guess {i}"))
            .await;
        assert_eq!(error_code(r, 401).await, "invalid_credentials");
    }
    assert_eq!((checks(&a), checks(&b)), (3, 3));
    let (http, urls) = (a.http.clone(), [a.url("/login"), b.url("/login")]);
    let answers = futures_join((0..34).map(|i| {
        let (http, url) = (http.clone(), urls[i % 2].clone());
        async move {
            let body =
                serde_json::json!({"email": "kim@example.com", "password": format!("guess {i}")});
            // A guess that waited too long on the shared counter is told to
            // retry (503) and charged nothing; it retries, as clients do.
            loop {
                let status = http
                    .post(url.clone())
                    .json(&body)
                    .send()
                    .await
                    .expect("login")
                    .status();
                if status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }))
    .await;
    let checked = checks(&a) + checks(&b);
    assert!((7..=10).contains(&checked), "{checked} checks: {answers:?}");
    assert_eq!(
        answers.iter().filter(|s| s.as_u16() == 429).count() as u64,
        34 - (checked - 6)
    );
    for idp in [&a, &b] {
        let r = idp.login("kim@example.com", PASSWORD).await;
        assert_eq!(error_code(r, 429).await, "too_many_attempts");
    }
}

#[tokio::test]
async fn a_cli_rotation_on_the_url_is_picked_up_by_running_instances() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let a = idp_on(&db).await;
    let b = idp_on(&db).await;
    let before = signing_kid(&a).await;

    let (ok, out, err) = idp_cli(&db, &["keys", "rotate"]).await;
    assert!(
        !ok && err.contains("--force"),
        "a young next key needs --force: {err}"
    );
    let (ok, out2, err2) = idp_cli(&db, &["keys", "rotate", "--force"]).await;
    assert!(ok, "{out}{err}{out2}{err2}");
    let promoted = out2
        .lines()
        .find_map(|l| l.strip_prefix("rotated: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("rotated line")
        .to_owned();
    assert_ne!(promoted, before);

    for idp in [&a, &b] {
        let promoted = &promoted;
        eventually(
            Duration::from_secs(10),
            "the rotation reaching an IdP",
            || async move { signing_kid(idp).await == *promoted },
        )
        .await;
        let published = kids(&jwks(idp).await);
        assert_eq!(published.len(), 3, "retired, current, next: {published:?}");
        assert!(published.contains(&before), "the old key stays published");
    }
    let token = a.user_tokens("kim@example.com").await;
    let access = token["access_token"].as_str().expect("access");
    assert_eq!(jwt_part(access, 0)["kid"], promoted.as_str());
    assert_eq!(b.get_bearer("/userinfo", access).await.status(), 200);

    let (ok, out, _) = idp_cli(&db, &["keys", "list"]).await;
    assert!(ok);
    let states: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|s| ["next", "current", "retired"].contains(s))
        .collect();
    assert_eq!(states.len(), 3, "{out}");
}

#[tokio::test]
async fn a_restart_keeps_users_and_keys() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let mut first = idp_on(&db).await;
    assert_eq!(
        first.signup("eve@example.com", PASSWORD).await.status(),
        201
    );
    let keys_before = jwks(&first).await;
    first.server.shutdown();
    let TestIdp { server, .. } = first;
    server.stopped().await;

    let second = idp_on(&db).await;
    assert_eq!(jwks(&second).await, keys_before, "no key regenerated");
    assert_eq!(
        second.login("eve@example.com", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn idp_serve_on_a_postgres_url_keeps_an_answered_signup_through_kill_9() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let http = reqwest::Client::new();
    let signup =
        serde_json::json!({"email": "kai@example.com", "name": "Kai", "password": PASSWORD});
    let login = serde_json::json!({"email": "kai@example.com", "password": PASSWORD});

    let (mut idp, base) = common::spawn_idp(&db.url, &[]);
    let r = http.post(format!("{base}/user")).json(&signup).send().await;
    assert_eq!(r.expect("signup").status(), 201);
    idp.kill().expect("kill -9");
    idp.wait().expect("reaped");

    let (mut idp, base) = common::spawn_idp(&db.url, &[]);
    let r = http.post(format!("{base}/login")).json(&login).send().await;
    assert_eq!(r.expect("login").status(), 200, "the user survived");
    idp.kill().expect("kill");
    idp.wait().expect("reaped");
}

#[tokio::test]
async fn cli_commands_work_on_a_postgres_url() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (ok, out, err) = idp_cli(&db, &["keys", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("current") && out.contains("next"), "{out}");

    let (ok, out, err) = idp_cli(
        &db,
        &[
            "clients", "create", "--id", "billing", "--scope", "api:read", "--admin",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret line")
        .to_owned();
    let (ok, _, err) = idp_cli(&db, &["clients", "create", "--id", "billing"]).await;
    assert!(
        !ok && err.contains("already exists"),
        "a duplicate id is refused: {err}"
    );

    // A running IdP accepts the client the CLI created.
    let idp = idp_on(&db).await;
    let token = idp.client_token("billing", &secret).await;
    assert_eq!(jwt_part(&token, 1)["scope"], "api:read admin");

    let (ok, listed, _) = idp_cli(&db, &["clients", "list"]).await;
    assert!(ok && listed.contains("billing") && !listed.contains(&secret));
    let (ok, _, _) = idp_cli(&db, &["clients", "delete", "--id", "billing"]).await;
    assert!(ok);
    let (ok, _, _) = idp_cli(&db, &["clients", "delete", "--id", "billing"]).await;
    assert!(!ok, "deleting twice fails");
    let (ok, _, err) = idp_cli(
        &db,
        &[
            "users",
            "grant",
            "--email",
            "nobody@example.com",
            "--scope",
            "x",
        ],
    )
    .await;
    assert!(!ok && err.contains("no user"), "{err}");
    let (ok, out, _) = idp_cli(&db, &["keys", "prune"]).await;
    assert!(ok && out.contains("nothing to prune"), "{out}");
}

/// Runs the futures concurrently (on their own tasks) and collects results.
async fn futures_join<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let location = db.location();
    let opened = futures_join((0..4).map(|_| {
        let location = location.clone();
        async move {
            tokio::task::spawn_blocking(move || Store::open(&location).map(drop))
                .await
                .expect("task")
        }
    }))
    .await;
    for result in &opened {
        assert!(result.is_ok(), "{result:?}");
    }

    db.execute("INSERT INTO schema_migrations (version) VALUES (99)")
        .await;
    match db.open_store().await {
        Err(StoreError::SchemaTooNew { found: 99, known }) => assert!(known < 99),
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_replaced_and_an_unreachable_database_answers_503() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let idp = idp_on(&db).await;
    assert_eq!(idp.signup("dana@example.com", PASSWORD).await.status(), 201);
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );

    // The server drops every connection (a restart, a failover): the pool
    // notices on checkout and connects again, and nobody sees an error.
    db.admin(terminate.clone()).await;
    assert_eq!(idp.login("dana@example.com", PASSWORD).await.status(), 200);

    // No connection can be had at all: 503 with Retry-After, not 500.
    db.admin(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        db.name
    ))
    .await;
    db.admin(terminate).await;
    let (signup, ready) = tokio::join!(
        idp.signup("lee@example.com", PASSWORD),
        idp.http.get(idp.url("/readyz")).send()
    );
    assert_eq!(
        signup.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(error_code(signup, 503).await, "temporarily_unavailable");
    assert_eq!(ready.expect("readyz").status(), 503);

    db.admin(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        db.name
    ))
    .await;
    // Refused connections are remembered for a moment: 503 until the pool
    // has connected again, then everything works.
    eventually(Duration::from_secs(10), "readiness", || async {
        let ready = idp.http.get(idp.url("/readyz")).send().await;
        ready.expect("readyz").status() == 200
    })
    .await;
    assert_eq!(idp.signup("lee@example.com", PASSWORD).await.status(), 201);
}

/// A TCP proxy in front of the test server, so that a test can make the
/// database unreachable (new connections refused, open ones cut) and
/// reachable again at the same address, as a server stopped and started
/// again would be.
struct Proxy {
    port: u16,
    target: String,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Starts forwarding a free port on 127.0.0.1 to the server of `url`;
    /// returns the proxy and `url` pointing at it.
    async fn start(url: &str) -> (Self, String) {
        let authority_start = url.find('@').expect("URL with a user") + 1;
        let authority_end = authority_start
            + url[authority_start..]
                .find('/')
                .expect("URL with a database");
        let target = url[authority_start..authority_end].to_owned();
        let mut proxy = Self {
            port: 0,
            target,
            serving: None,
        };
        proxy.listen(true);
        let via = format!(
            "{}127.0.0.1:{}{}",
            &url[..authority_start],
            proxy.port,
            &url[authority_end..]
        );
        (proxy, via)
    }

    /// Listens again (on the same port once it has one) and forwards.
    fn resume(&mut self) {
        self.listen(true);
    }

    /// Listens again but never answers: a server behind a black hole,
    /// where connecting takes the whole connect timeout.
    fn swallow(&mut self) {
        self.listen(false);
    }

    fn listen(&mut self, forward: bool) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))
            .expect("bind the proxy port");
        let listener = socket.listen(64).expect("listen");
        self.port = listener.local_addr().expect("address").port();
        let target = self.target.clone();
        self.serving = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) cuts every
            // forwarded connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let target = target.clone();
                        connections.spawn(async move {
                            if !forward {
                                let _held = inbound;
                                return std::future::pending().await;
                            }
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        }));
    }

    /// Closes the port and cuts the open connections: the database is
    /// unreachable, connecting is refused at once.
    async fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = serving.await;
        }
    }
}

/// Sends `request` and asserts it is answered 503 `temporarily_unavailable`
/// with `Retry-After: 1`, well before the 5 s a request may wait for a
/// pooled connection (the bound is generous: a behaviour, not a benchmark).
async fn unavailable_promptly(what: &str, request: reqwest::RequestBuilder) {
    let started = Instant::now();
    let response = request.send().await.expect("request");
    let took = started.elapsed();
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "{what}"
    );
    assert_eq!(
        error_code(response, 503).await,
        "temporarily_unavailable",
        "{what}"
    );
    eprintln!("{what}: 503 after {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "{what} took {took:?} to answer 503"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_answers_503_at_once_and_recovery_is_automatic() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (mut proxy, url) = Proxy::start(&db.url).await;
    let location = idp::DbLocation::parse(&url).expect("proxy URL");
    let idp = TestIdp::start_with(move |c| c.db = location).await;
    let secret = idp.client("svc", "api:read", false).await;
    let token = || {
        idp.http.post(idp.url("/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", &secret),
        ])
    };
    let ready = || idp.http.get(idp.url("/readyz"));
    assert_eq!(token().send().await.expect("token").status(), 200);
    assert_eq!(ready().send().await.expect("readyz").status(), 200);

    // The server goes away: pooled connections are cut, new ones refused.
    proxy.stop().await;
    unavailable_promptly("readyz", ready()).await;
    unavailable_promptly("token", token()).await;
    // Still so a while later, whenever the pool last tried to connect.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        unavailable_promptly("readyz later", ready()).await;
        unavailable_promptly("token later", token()).await;
    }

    // Back: the pool connects again by itself.
    proxy.resume();
    let back = Instant::now();
    eventually(
        Duration::from_secs(15),
        "readiness after the outage",
        || async { ready().send().await.expect("readyz").status() == 200 },
    )
    .await;
    eprintln!(
        "ready again {:?} after the database came back",
        back.elapsed()
    );
    assert_eq!(token().send().await.expect("token").status(), 200);

    // Connections that hang rather than fail (a black hole): the pool
    // waits out its connect timeout, readiness answers not ready after its
    // own second. (Connects the cut interrupted fail; once they are
    // forgotten, nothing fails any more, it only hangs.)
    proxy.stop().await;
    proxy.swallow();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    unavailable_promptly("readyz, no answer", ready()).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    proxy.stop().await;
    proxy.resume();
    eventually(
        Duration::from_secs(15),
        "readiness after the black hole",
        || async { ready().send().await.expect("readyz").status() == 200 },
    )
    .await;
}

/// Writes `pem` into the server's data directory as the server's own user,
/// owner-only as PostgreSQL wants its key (`COPY ... TO PROGRAM` runs as
/// the server's user), returning the path.
async fn write_server_file(db: &PgDatabase, name: &str, pem: &str) -> String {
    let dir = db.value("SHOW data_directory").await;
    let path = format!("{dir}/{name}");
    let lines: Vec<String> = pem.lines().map(|l| format!("'{l}'")).collect();
    db.execute(&format!(
        "COPY (SELECT unnest(ARRAY[{}]::text[])) TO PROGRAM 'umask 077 && cat > {path}'",
        lines.join(",")
    ))
    .await;
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgres_is_verified_as_sslmode_says() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    // The test server gets a certificate for "localhost" only, from a CA
    // made here, and starts speaking TLS beside plain connections.
    let (ca, cert, key) = test_pki(&["localhost"]);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let cert_path = write_server_file(&db, &format!("tls-{tag}.crt"), &cert).await;
    let key_path = write_server_file(&db, &format!("tls-{tag}.key"), &key).await;
    db.execute(&format!("ALTER SYSTEM SET ssl_cert_file = '{cert_path}'"))
        .await;
    db.execute(&format!("ALTER SYSTEM SET ssl_key_file = '{key_path}'"))
        .await;
    db.execute("ALTER SYSTEM SET ssl = on").await;
    db.execute("SELECT pg_reload_conf()").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.value("SHOW ssl").await != "on" {
        assert!(Instant::now() < deadline, "the server did not turn TLS on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let files = tempfile::tempdir().expect("tempdir");
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca).expect("CA file");
    let (other_ca, _, _) = test_pki(&["localhost"]);
    let other_ca_file = files.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, other_ca).expect("other CA file");
    let ca_param = |file: &std::path::Path| format!("sslrootcert={}", file.display());
    // The test URL names 127.0.0.1; the certificate names localhost.
    let by_name = |params: &str| db.url_with(params).replace("@127.0.0.1:", "@localhost:");
    let open = |url: String| async move {
        let location = idp::DbLocation::parse(&url).expect("URL");
        tokio::task::spawn_blocking(move || Store::open(&location))
            .await
            .expect("task")
    };

    let verified = by_name(&format!("sslmode=verify-full&{}", ca_param(&ca_file)));
    let store = open(verified.clone())
        .await
        .expect("verify-full with the right CA");
    store.run(|r| r.ping()).await.expect("ping over TLS");
    let encrypted = db
        .value(&format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE datname = '{}' AND ssl",
            db.name
        ))
        .await;
    assert_ne!(encrypted, "0", "the IdP's connections are encrypted");

    // A certificate from another CA, or for another name, is refused.
    let wrong_ca = by_name(&format!("sslmode=verify-full&{}", ca_param(&other_ca_file)));
    let err = open(wrong_ca).await.expect_err("an unknown CA is refused");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let wrong_name = db.url_with(&format!("sslmode=verify-full&{}", ca_param(&ca_file)));
    open(wrong_name)
        .await
        .expect_err("a certificate for another name is refused by verify-full");
    // verify-ca checks the chain, not the name; require only encrypts.
    let chain_only = db.url_with(&format!("sslmode=verify-ca&{}", ca_param(&ca_file)));
    open(chain_only).await.expect("verify-ca ignores the name");
    open(db.url_with("sslmode=require"))
        .await
        .expect("require without a CA encrypts only");

    // The whole IdP runs over it, and the password never shows.
    let location = idp::DbLocation::parse(&verified).expect("URL");
    let idp = TestIdp::start_with(move |c| c.db = location).await;
    assert_eq!(idp.signup("tls@example.com", PASSWORD).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_table_fails_only_the_requests_that_need_it_and_quickly() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let location = db.location();
    let idp = TestIdp::start_with(move |c| {
        c.db = location;
        c.store.lock_timeout = Duration::from_secs(1);
        c.store.statement_timeout = Duration::from_secs(2);
    })
    .await;
    assert_eq!(idp.signup("ann@example.com", PASSWORD).await.status(), 201);
    let secret = idp.client("svc", "api:read", false).await;

    // Someone holds the users table (a migration by hand, a stuck job).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    let url = db.url.clone();
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let mut tx = client.transaction().expect("begin");
        tx.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            .expect("lock");
        locked.send(()).expect("signal");
        let _ = released.recv();
        drop(tx);
    });
    is_locked.recv().expect("the table is locked");

    let started = Instant::now();
    let logins = futures_join((0..10).map(|_| {
        let (http, url) = (idp.http.clone(), idp.url("/login"));
        async move {
            http.post(url)
                .json(&serde_json::json!({"email": "ann@example.com", "password": PASSWORD}))
                .send()
                .await
                .expect("login")
                .status()
        }
    }));
    let token = idp.http.post(idp.url("/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_secret", &secret),
    ]);
    let (logins, token, ready) = tokio::join!(
        logins,
        token.send(),
        idp.http.get(idp.url("/readyz")).send()
    );
    let waited = started.elapsed();
    assert!(
        logins.iter().all(|s| s.as_u16() == 503),
        "logins needing the locked table: {logins:?}"
    );
    assert!(
        waited < Duration::from_secs(15),
        "they failed after {waited:?}, not within the lock timeout"
    );
    assert_eq!(token.expect("token").status(), 200, "other tables answer");
    assert_eq!(ready.expect("readyz").status(), 200, "the database answers");

    release.send(()).expect("release");
    holder.join().expect("holder");
    assert_eq!(idp.login("ann@example.com", PASSWORD).await.status(), 200);
}

/// Browser sign-in across two instances on one database: a session made
/// on one signs in on the other, a code issued by one is redeemed by the
/// other, and its replay on the first is refused by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_flow_spans_instances_sharing_a_database() {
    use common::flow::{
        authorize_url, browser, exchange, location, param, pkce, sign_in_for_code, tokens,
    };
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (a, b) = (idp_on(&db).await, idp_on(&db).await);
    let cb = "https://app.example/cb";
    let secret = idp::clients::register_client(
        a.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "web".into(),
            redirect_uris: vec![cb.into()],
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client")
    .client_secret
    .expect("secret")
    .expose()
    .to_owned();
    assert_eq!(a.signup("ann@example.com", PASSWORD).await.status(), 201);
    let browser = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &a,
        "web",
        cb,
        &challenge,
        &[("scope", "openid offline_access")],
    );
    let back = sign_in_for_code(&browser, &a, &url, "ann@example.com", PASSWORD).await;
    let code = param(&back, "code").expect("code");
    let t = tokens(exchange(&b, ("web", Some(&secret)), &code, cb, &verifier).await).await;
    let access = t["access_token"].as_str().expect("access");
    assert!(t["id_token"].is_string() && t["refresh_token"].is_string());
    // The cookie names a session both instances know.
    let sso = browser
        .get(authorize_url(&b, "web", cb, &challenge, &[]))
        .send()
        .await
        .expect("authorize");
    assert!(
        param(&location(&sso), "code").is_some(),
        "single sign-on on the other instance"
    );
    let replay = exchange(&a, ("web", Some(&secret)), &code, cb, &verifier).await;
    assert_eq!(error_code(replay, 400).await, "invalid_grant");
    eventually(
        Duration::from_secs(5),
        "the other instance refuses the token",
        || async { b.get_bearer("/userinfo", access).await.status() == 401 },
    )
    .await;
}
