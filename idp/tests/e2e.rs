//! The identity provider and a resource server, both real, talking over
//! loopback: profile, logout reaching the resource server, and key rotation
//! under load with zero failed calls.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{jwt_part, TestIdp, TestRs};
use serde_json::Value;

fn kid_of(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().expect("kid").to_owned()
}

#[tokio::test]
async fn signup_login_then_profile_at_the_resource_server() {
    let idp = TestIdp::start().await;
    let rs = TestRs::start(
        &idp.base,
        Duration::from_secs(30),
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
    .await;
    let tokens = idp.user_tokens("grace@example.com").await;
    let access = tokens["access_token"].as_str().expect("token");

    let r = idp
        .http
        .get(rs.url("/user/profile"))
        .bearer_auth(access)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["user"]["email"], "grace@example.com");
    assert_eq!(body["user"]["name"], "Test User");
    assert_eq!(body["user"]["sub"].as_str().map(str::len), Some(36));

    let r = idp
        .http
        .get(rs.url("/user/profile"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .starts_with("Bearer realm="));
    let r = idp
        .http
        .get(rs.url("/api/private-scoped"))
        .bearer_auth(access)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403, "a user token has no api:read");
    let r = idp
        .http
        .get(rs.url("/api/public"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_logged_out_token_is_refused_by_a_running_resource_server_within_the_poll_interval() {
    let poll = Duration::from_secs(1);
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rs = TestRs::start(
        &idp.base,
        Duration::from_secs(30),
        Duration::from_secs(10),
        poll,
    )
    .await;
    let tokens = idp.user_tokens("otto@example.com").await;
    let access = tokens["access_token"].as_str().expect("token");
    // A second access token of the same session, from a refresh.
    let refreshed = idp
        .refresh(tokens["refresh_token"].as_str().expect("refresh"))
        .await;
    let refreshed: Value = refreshed.json().await.expect("json");
    let sibling = refreshed["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let profile = |token: &str| {
        idp.http
            .get(rs.url("/user/profile"))
            .bearer_auth(token)
            .send()
    };
    // Each used twice: valid before logout, and cached on the second use.
    for token in [access, &sibling, access, &sibling] {
        assert_eq!(
            profile(token).await.expect("send").status(),
            200,
            "valid before logout"
        );
    }

    let r = idp.post_bearer("/logout", access, None).await;
    assert_eq!(r.status(), 200);
    let logged_out = Instant::now();
    // Both the presented token (by its jti) and its sibling (by the
    // session's sid) stop working at the resource server.
    for token in [access, &sibling] {
        loop {
            let status = profile(token).await.expect("send").status();
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                logged_out.elapsed() < poll * 3,
                "still accepted {:?} after logout (poll interval {poll:?})",
                logged_out.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let refused_after = logged_out.elapsed();
    assert!(refused_after <= poll * 3, "{refused_after:?}");
}

/// Several clients fetch fresh tokens and call the resource server the
/// whole time while the keys are rotated three times from the CLI on the
/// shared database: not one call fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_three_times_under_load_fails_no_call() {
    const ACCESS_TTL: u64 = 8;
    const MAX_AGE: u64 = 1;
    let idp = TestIdp::start_with(|c| {
        c.access_ttl = ACCESS_TTL;
        c.jwks_max_age = MAX_AGE;
        c.prune_margin = 0;
        c.key_poll = Duration::from_millis(200);
    })
    .await;
    // The resource server honours the IdP's short max-age: it has every new
    // `next` key before that key signs anything.
    let rs = TestRs::start(
        &idp.base,
        Duration::from_secs(1),
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
    .await;
    let secret = idp.client("worker", "api:read", false).await;
    let early = idp.client_token("worker", &secret).await;
    assert_eq!(
        idp.http
            .get(rs.url("/api/private-scoped"))
            .bearer_auth(&early)
            .send()
            .await
            .expect("send")
            .status(),
        200
    );

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let kids = Arc::new(Mutex::new(BTreeSet::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (http, token_url, api) = (
            idp.http.clone(),
            idp.url("/token"),
            rs.url("/api/private-scoped"),
        );
        let (stop, calls, failures, kids, secret) = (
            stop.clone(),
            calls.clone(),
            failures.clone(),
            kids.clone(),
            secret.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let issued = http
                    .post(&token_url)
                    .basic_auth("worker", Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                let token = match issued {
                    Ok(r) if r.status() == 200 => r.json::<Value>().await.expect("json")
                        ["access_token"]
                        .as_str()
                        .expect("token")
                        .to_owned(),
                    Ok(r) => {
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("token: {}", r.status()));
                        continue;
                    }
                    Err(e) => {
                        failures.lock().expect("lock").push(format!("token: {e}"));
                        continue;
                    }
                };
                kids.lock().expect("lock").insert(kid_of(&token));
                match http.get(&api).bearer_auth(&token).send().await {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("api: {status} {body}"));
                    }
                    Err(e) => failures.lock().expect("lock").push(format!("api: {e}")),
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let db = idp.db_path();
    let lifetimes = [
        "--access-ttl",
        "8",
        "--jwks-max-age",
        "1",
        "--prune-margin",
        "0",
    ];
    let mut retired_order = Vec::new();
    for _ in 0..3 {
        // Longer than the max-age: the next key has been published for a
        // full max-age, so no --force is needed.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let before = idp.server.state.keys().ring().current_kid.clone();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["keys", "rotate", "--db"])
            .arg(&db)
            .args(lifetimes)
            .env_remove("IDP_KEY_ENCRYPTION_KEY")
            .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
            .output()
            .await
            .expect("idp keys rotate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        retired_order.push(before);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }

    let failures = failures.lock().expect("lock").clone();
    let calls = calls.load(Ordering::Relaxed);
    let kids = kids.lock().expect("lock").clone();
    eprintln!(
        "{calls} calls, {} failures, signing kids seen: {}",
        failures.len(),
        kids.len()
    );
    assert!(
        failures.is_empty(),
        "failed calls during rotation: {failures:?}"
    );
    assert!(calls >= 20, "only {calls} calls made");
    assert!(
        kids.len() >= 3,
        "the running IdP signed with {} keys",
        kids.len()
    );

    // The token from before the first rotation still works (it has not expired).
    assert!(kid_of(&early) == retired_order[0]);
    let r = idp
        .http
        .get(rs.url("/api/private-scoped"))
        .bearer_auth(&early)
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "a pre-rotation token must keep working until it expires"
    );

    // Prune removes exactly what has aged out: the first retired key once
    // its grace (ttl 8 + max-age 1 + margin 0 s) has passed, nothing else.
    let prune = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["keys", "prune", "--db"])
            .arg(&db)
            .args(lifetimes)
            .output()
            .expect("prune")
    };
    let stored = idp.server.state.keys().stored_keys().await.expect("keys");
    let retired_at = |kid: &str| {
        stored
            .iter()
            .find(|k| k.record.kid == kid)
            .and_then(|k| k.record.retired_at)
            .expect("retired")
    };
    let first_prunable = retired_at(&retired_order[0]) + ACCESS_TTL + MAX_AGE;
    let second_prunable = retired_at(&retired_order[1]) + ACCESS_TTL + MAX_AGE;
    assert!(second_prunable > first_prunable);
    // Before the first retired key's grace has passed, prune removes
    // nothing. Only checked with time to spare: on a loaded machine the
    // rotations above may already have taken that long.
    if idp::unix_now() + 2 < first_prunable {
        let out = prune();
        assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to prune"));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let wait_ms = u128::from(first_prunable * 1000).saturating_sub(now_ms) + 50;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(wait_ms).expect("small"),
    ))
    .await;
    assert!(
        idp::unix_now() < second_prunable,
        "test too slow to separate the two"
    );
    let out = prune();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        text.trim(),
        format!("pruned {}", retired_order[0]),
        "{text}"
    );
    let remaining: Vec<String> = idp
        .server
        .state
        .keys()
        .stored_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.record.kid)
        .collect();
    assert_eq!(remaining.len(), 4, "{remaining:?}");
    assert!(remaining.contains(&retired_order[1]) && remaining.contains(&retired_order[2]));
}
