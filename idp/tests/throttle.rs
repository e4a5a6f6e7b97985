//! Password guessing under hostile load (issue 10, findings 1–3 and the
//! trusted-proxy part of 9), driven in-process with `oneshot` so each
//! request can come from an address of the test's choosing: concurrent
//! guesses cannot exceed the per-email budget, a stranger cannot lock the
//! owner out, long emails cost one bounded slot, and `--trusted-proxies`
//! reads the client address from the forwarding headers.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::json;
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery";

async fn router(
    tweak: impl FnOnce(&mut idp::Config),
) -> (Router, idp::AppState, tempfile::TempDir) {
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
    let state = idp::AppState::open(&config, "http://idp.test".into())
        .await
        .expect("state opens");
    (idp::app(state.clone()), state, dir)
}

fn from(address: &str, request: Request<Body>) -> Request<Body> {
    let mut request = request;
    let peer: SocketAddr = format!("{address}:40000").parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn login(address: &str, email: &str, password: &str) -> Request<Body> {
    from(
        address,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"email": email, "password": password}).to_string(),
            ))
            .expect("request"),
    )
}

async fn status(app: &Router, request: Request<Body>) -> StatusCode {
    app.clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

async fn sign_up(app: &Router, email: &str) {
    let request = Request::post("/user")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": email, "name": "Ann", "password": PASSWORD}).to_string(),
        ))
        .expect("request");
    assert_eq!(
        status(app, from("192.0.2.200", request)).await,
        StatusCode::CREATED
    );
}

fn checks(state: &idp::AppState) -> u64 {
    state.metrics().value("idp_password_checks_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_concurrent_guesses_run_at_most_ten_password_checks() {
    // Room for every guess the email's budget admits, whatever the cores:
    // one that found the hashing queue full would be told to retry (503)
    // and given its place in the budget back.
    let (app, state, _dir) = router(|config| config.hash_workers = 2).await;
    sign_up(&app, "ann@example.com").await;
    let before = checks(&state);
    let guesses = (0..300).map(|i| {
        let app = app.clone();
        let address = format!("198.51.100.{}", i % 10);
        tokio::spawn(async move {
            status(
                &app,
                login(&address, "ann@example.com", &format!("guess {i}")),
            )
            .await
        })
    });
    let mut answers = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        answers.push(guess.await.expect("task"));
    }
    let checked = checks(&state) - before;
    assert!(checked <= 10, "{checked} password checks");
    assert!(checked >= 1, "the first guesses are checked");
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused >= 290, "{refused} of 300 refused: {answers:?}");
    assert!(answers.iter().all(|s| *s != StatusCode::OK));
    // The budget is spent for strangers: even the right password waits.
    let late = status(&app, login("198.51.100.1", "ann@example.com", PASSWORD)).await;
    assert_eq!(late, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        checks(&state) - before,
        checked,
        "no check for a refused attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signs_in_while_a_stranger_hammers_the_email() {
    let (app, state, _dir) = router(|_| {}).await;
    sign_up(&app, "ann@example.com").await;
    let owner = "192.0.2.10";
    assert_eq!(
        status(&app, login(owner, "ANN@Example.com", PASSWORD)).await,
        StatusCode::OK
    );
    let mut refused = 0;
    for i in 0..40 {
        let answer = status(
            &app,
            login("203.0.113.66", "ann@example.com", &format!("guess {i}")),
        )
        .await;
        assert_ne!(answer, StatusCode::OK);
        if answer == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 30, "ten guesses, then 429");
    let checked = checks(&state);
    assert_eq!(
        status(&app, login(owner, "Ann@example.com", PASSWORD)).await,
        StatusCode::OK
    );
    assert_eq!(checks(&state), checked + 1);
    // A right password is given back: the owner can sign in again and again.
    for _ in 0..15 {
        assert_eq!(
            status(&app, login(owner, "ann@example.com", PASSWORD)).await,
            StatusCode::OK
        );
    }
    // An address the account never signed in from shares the strangers'
    // budget, spent for this window.
    let new_place = status(&app, login("198.51.100.77", "ann@example.com", PASSWORD)).await;
    assert_eq!(new_place, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_emails_cost_one_bounded_slot_each() {
    const SLOTS: u64 = 64;
    let (app, state, _dir) = router(|c| {
        c.throttle_slots = SLOTS;
        c.login_rate = 0;
    })
    .await;
    use base64::Engine as _;
    for i in 0..150 {
        let email = format!("{i}{}@example.com", "a".repeat(1 << 20));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{PASSWORD}"));
        let request = Request::post("/login")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::empty())
            .expect("request");
        let answer = status(&app, from("198.51.100.5", request)).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&answer),
            "{answer}"
        );
    }
    // Each throttle row is a slot number, a time and a count, whatever the
    // email's length; there are never more rows than slots.
    let rows = state
        .store()
        .run(|db| db.throttle_rows())
        .await
        .expect("rows");
    assert!(rows <= SLOTS, "{rows} rows for {SLOTS} slots");
    assert!(rows > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_name_the_client_and_others_cannot() {
    let forwarded = |client: &str| {
        let mut request = login("10.0.0.1", "nobody@example.com", "wrong password");
        request.headers_mut().insert(
            "x-forwarded-for",
            format!("{client}, 10.0.0.2").parse().expect("header"),
        );
        request
    };
    // One attempt per minute per address, so the second from one address is 429.
    let (app, _state, _dir) = router(|c| {
        c.login_rate = 1;
        c.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    assert_eq!(
        status(&app, forwarded("198.51.100.1")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, forwarded("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, forwarded("198.51.100.2")).await,
        StatusCode::UNAUTHORIZED,
        "another client behind the proxy"
    );

    // Off by default: the proxy is the client, and the headers are ignored.
    let (app, _state, _dir) = router(|c| c.login_rate = 1).await;
    assert_eq!(
        status(&app, forwarded("198.51.100.1")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, forwarded("198.51.100.2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn signup_request(address: &str, email: &str) -> Request<Body> {
    from(
        address,
        Request::post("/user")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"email": email, "name": "Ann", "password": PASSWORD}).to_string(),
            ))
            .expect("request"),
    )
}

fn hashes(state: &idp::AppState) -> u64 {
    state.metrics().value("idp_password_hashes_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signups_are_limited_per_address_and_a_taken_email_costs_no_hash() {
    let (app, state, _dir) = router(|c| c.login_rate = 2).await;
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "a@example.com")).await,
        StatusCode::CREATED
    );
    let before = hashes(&state);
    // Taken, whatever the case of its letters: refused before any hashing.
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "Ä@example.com")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "ä@EXAMPLE.com")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(hashes(&state), before + 1);
    assert_eq!(
        status(&app, signup_request("198.51.100.2", "A@EXAMPLE.COM")).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        status(&app, signup_request("198.51.100.2", "ä@example.com")).await,
        StatusCode::CONFLICT
    );
    assert_eq!(hashes(&state), before + 1, "no hash for a taken address");
    assert_eq!(
        status(&app, signup_request("198.51.100.2", "b@example.com")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, signup_request("198.51.100.3", "b@example.com")).await,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_required_taken_and_new_addresses_do_the_same_work() {
    let (app, state, _dir) = router(|c| c.require_email_verification = true).await;
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "a@example.com")).await,
        StatusCode::ACCEPTED
    );
    let before = hashes(&state);
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "A@example.com")).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        status(&app, signup_request("198.51.100.1", "c@example.com")).await,
        StatusCode::ACCEPTED
    );
    // One hash each: a taken address answers no faster than a new one.
    assert_eq!(hashes(&state), before + 2);
}
