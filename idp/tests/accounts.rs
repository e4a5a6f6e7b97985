//! Accounts that can be managed, and revocation that reaches everywhere:
//! deleted clients, disabled and deleted users, password change and reset,
//! email verification, each checked at the IdP's own bearer endpoints and
//! at a running resource server. Mail goes through a real SMTP exchange
//! with a sink started here, and links are read from what it received.

mod common;

use std::time::{Duration, Instant};

use common::smtp::SmtpSink;
use common::{error_code, TestIdp, TestRs};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const POLL: Duration = Duration::from_secs(1);

async fn idp_with_mail(sink: &SmtpSink) -> TestIdp {
    let url = sink.url();
    TestIdp::start_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.key_poll = Duration::from_millis(200);
    })
    .await
}

async fn resource_server(idp: &TestIdp) -> TestRs {
    TestRs::start(
        &idp.base,
        Duration::from_secs(30),
        Duration::from_secs(10),
        POLL,
    )
    .await
}

/// Waits until `token` is refused (401) at the resource server's `path`,
/// and says how long that took; fails if it takes three poll intervals.
async fn refused_at_rs(idp: &TestIdp, rs: &TestRs, path: &str, token: &str) -> Duration {
    let since = Instant::now();
    loop {
        let status = idp
            .http
            .get(rs.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
            .status();
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200, "accepted or refused, nothing else");
        assert!(
            since.elapsed() < POLL * 3,
            "still accepted after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn admin_token(idp: &TestIdp) -> String {
    let secret = idp.client("ops", "", true).await;
    idp.client_token("ops", &secret).await
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_deleted_clients_token_is_refused_at_clients_admin_and_a_running_resource_server() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rs = resource_server(&idp).await;
    let ops = admin_token(&idp).await;
    let rogue_secret = idp.client("rogue-admin", "api:read", true).await;
    let rogue = idp.client_token("rogue-admin", &rogue_secret).await;
    assert_eq!(idp.get_bearer("/clients", &rogue).await.status(), 200);
    // Used twice: accepted, and cached on the second use.
    for _ in 0..2 {
        let api = send(
            idp.http
                .get(rs.url("/api/private-scoped"))
                .bearer_auth(&rogue),
        )
        .await;
        assert_eq!(api.status(), 200, "accepted before the deletion");
    }

    let r = send(
        idp.http
            .delete(idp.url("/clients/rogue-admin"))
            .bearer_auth(&ops),
    )
    .await;
    assert_eq!(r.status(), 204);

    // The IdP's own bearer endpoints refuse it at once.
    let create = idp
        .post_bearer(
            "/clients",
            &rogue,
            Some(&json!({"client_id": "backdoor", "scope": "admin"})),
        )
        .await;
    assert_eq!(create.status(), 401);
    let challenge = create.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(idp.get_bearer("/clients", &rogue).await.status(), 401);
    assert_eq!(idp.get_bearer("/admin/keys", &rogue).await.status(), 401);
    assert_eq!(idp.get_bearer("/admin/users", &rogue).await.status(), 401);
    assert_eq!(
        idp.post_bearer("/admin/keys/rotate", &rogue, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        idp.get_bearer("/clients/backdoor", &ops).await.status(),
        404,
        "nothing was created"
    );

    // Resource servers learn it from the feed within the poll interval.
    let took = refused_at_rs(&idp, &rs, "/api/private-scoped", &rogue).await;
    eprintln!("deleted client's token refused at the resource server after {took:?}");
    let feed = idp.get_json("/revocations").await;
    assert_eq!(feed["clients"][0]["client_id"], "rogue-admin", "{feed}");

    // A client registered again under the same id starts afresh: its new
    // tokens (even in the same second) are not caught by the old cut-off.
    let again = idp.client("rogue-admin", "", true).await;
    let fresh = idp.client_token("rogue-admin", &again).await;
    assert_eq!(idp.get_bearer("/clients", &fresh).await.status(), 200);
}

#[tokio::test]
async fn a_client_deleted_from_the_cli_loses_its_tokens_at_the_running_idp() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let secret = idp.client("cli-victim", "", true).await;
    let token = idp.client_token("cli-victim", &secret).await;
    assert_eq!(idp.get_bearer("/clients", &token).await.status(), 200);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["clients", "delete", "--id", "cli-victim", "--db"])
        .arg(idp.db_path())
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .output()
        .expect("cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let since = Instant::now();
    while idp.get_bearer("/clients", &token).await.status() != 401 {
        assert!(since.elapsed() < Duration::from_secs(3), "not noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_disabled_users_tokens_are_refused_and_they_cannot_log_in_or_refresh() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rs = resource_server(&idp).await;
    let ops = admin_token(&idp).await;
    let tokens = idp.user_tokens("dora@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let profile = send(idp.http.get(rs.url("/user/profile")).bearer_auth(access)).await;
    assert_eq!(profile.status(), 200);
    let id = idp.get_json_bearer("/userinfo", access).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();

    let r = send(
        idp.http
            .patch(idp.url(&format!("/admin/users/{id}")))
            .bearer_auth(&ops)
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.expect("json");
    assert_eq!(
        (shown["disabled"].clone(), shown["email"].clone()),
        (json!(true), json!("dora@example.com"))
    );

    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    let took = refused_at_rs(&idp, &rs, "/user/profile", access).await;
    eprintln!("disabled user's token refused at the resource server after {took:?}");
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
    // The right password says the account is disabled; a wrong one says
    // nothing more than it would to anyone.
    assert_eq!(
        error_code(idp.login("dora@example.com", PASSWORD).await, 403).await,
        "account_disabled"
    );
    assert_eq!(
        error_code(idp.login("dora@example.com", "wrong password!").await, 401).await,
        "invalid_credentials"
    );
    let basic = send(
        idp.http
            .post(idp.url("/login"))
            .basic_auth("dora@example.com", Some(PASSWORD)),
    )
    .await;
    assert_eq!(error_code(basic, 403).await, "account_disabled");

    // Enabled again: a new login works at once, old tokens stay dead.
    let r = send(
        idp.http
            .patch(idp.url(&format!("/admin/users/{id}")))
            .bearer_auth(&ops)
            .json(&json!({"disabled": false})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let again: Value = idp
        .login("dora@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let fresh = again["access_token"].as_str().expect("access");
    assert_eq!(idp.get_bearer("/userinfo", fresh).await.status(), 200);
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn deleting_a_user_removes_the_account_and_ends_its_tokens() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rs = resource_server(&idp).await;
    let ops = admin_token(&idp).await;
    let tokens = idp.user_tokens("gone@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let id = idp.get_json_bearer("/userinfo", access).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let plain = idp.user_tokens("plain@example.com").await;
    let plain = plain["access_token"].as_str().expect("access");
    assert_eq!(
        idp.get_bearer(&format!("/admin/users/{id}"), plain)
            .await
            .status(),
        403,
        "admin only"
    );

    let r = send(
        idp.http
            .delete(idp.url(&format!("/admin/users/{id}")))
            .bearer_auth(&ops),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = send(
        idp.http
            .delete(idp.url(&format!("/admin/users/{id}")))
            .bearer_auth(&ops),
    )
    .await;
    assert_eq!(error_code(r, 404).await, "not_found");
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    refused_at_rs(&idp, &rs, "/user/profile", access).await;
    assert_eq!(
        error_code(idp.login("gone@example.com", PASSWORD).await, 401).await,
        "invalid_credentials"
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
    // The address can be used again.
    assert_eq!(idp.signup("gone@example.com", PASSWORD).await.status(), 201);
}

#[tokio::test]
async fn admins_list_users_in_pages_and_sign_them_out_everywhere() {
    let idp = TestIdp::start().await;
    let ops = admin_token(&idp).await;
    for name in ["a", "b", "c"] {
        assert_eq!(
            idp.signup(&format!("{name}@example.com"), PASSWORD)
                .await
                .status(),
            201
        );
    }
    let first = idp.get_json_bearer("/admin/users?limit=2", &ops).await;
    assert_eq!(
        first["users"].as_array().expect("users").len(),
        2,
        "{first}"
    );
    let next = first["next"].as_str().expect("a next page");
    let second = idp
        .get_json_bearer(&format!("/admin/users?limit=2&after={next}"), &ops)
        .await;
    assert_eq!(second["users"].as_array().expect("users").len(), 1);
    assert!(second["next"].is_null());
    let emails: Vec<&str> = first["users"]
        .as_array()
        .into_iter()
        .chain(second["users"].as_array())
        .flatten()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 3);
    assert!(!first.to_string().contains("password"), "no hashes listed");
    for bad in [
        "/admin/users?limit=0",
        "/admin/users?limit=201",
        "/admin/users?after=junk",
    ] {
        assert_eq!(
            error_code(idp.get_bearer(bad, &ops).await, 400).await,
            "invalid_request",
            "{bad}"
        );
    }
    let r = send(
        idp.http
            .patch(idp.url("/admin/users/nobody"))
            .bearer_auth(&ops)
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(error_code(r, 404).await, "not_found");
    let r = send(
        idp.http
            .patch(idp.url("/admin/users/nobody"))
            .bearer_auth(&ops)
            .json(&json!({"disabled": "yes"})),
    )
    .await;
    assert_eq!(error_code(r, 400).await, "invalid_request");

    let login: Value = idp
        .login("a@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let access = login["access_token"].as_str().expect("access");
    let id = idp.get_json_bearer("/userinfo", access).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let shown = idp
        .get_json_bearer(&format!("/admin/users/{id}"), &ops)
        .await;
    assert_eq!(
        (shown["disabled"].clone(), shown["totp"].clone()),
        (json!(false), json!(false))
    );
    let r = idp
        .post_bearer(&format!("/admin/users/{id}/revoke-sessions"), &ops, None)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    let refresh = login["refresh_token"].as_str().expect("refresh");
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
    assert_eq!(
        idp.login("a@example.com", PASSWORD).await.status(),
        200,
        "signing in again works"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_the_calling_one_survives() {
    let idp = TestIdp::start().await;
    let mine = idp.user_tokens("pat@example.com").await;
    let theirs: Value = idp
        .login("pat@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let my_access = mine["access_token"].as_str().expect("access");
    let server = &idp;
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        async move {
            server
                .post_bearer("/account/password", my_access, Some(&body))
                .await
        }
    };
    assert_eq!(
        error_code(change("not my password", "a new long password").await, 400).await,
        "invalid_grant"
    );
    assert_eq!(
        error_code(change(PASSWORD, "short").await, 400).await,
        "invalid_request"
    );
    assert_eq!(change(PASSWORD, "a new long password").await.status(), 204);

    // The other session is over: access token and refresh token.
    let their_access = theirs["access_token"].as_str().expect("access");
    assert_eq!(
        idp.get_bearer("/userinfo", their_access).await.status(),
        401
    );
    let their_refresh = theirs["refresh_token"].as_str().expect("refresh");
    assert_eq!(
        error_code(idp.refresh(their_refresh).await, 400).await,
        "invalid_grant"
    );
    // The calling session goes on, both its tokens.
    assert_eq!(idp.get_bearer("/userinfo", my_access).await.status(), 200);
    let refreshed = idp
        .refresh(mine["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.expect("json");
    let next = refreshed["access_token"].as_str().expect("access");
    assert_eq!(idp.get_bearer("/userinfo", next).await.status(), 200);
    // Only the new password logs in.
    assert_eq!(idp.login("pat@example.com", PASSWORD).await.status(), 401);
    assert_eq!(
        idp.login("pat@example.com", "a new long password")
            .await
            .status(),
        200
    );
    // A client token has no account to change.
    let secret = idp.client("svc", "", false).await;
    let svc = idp.client_token("svc", &secret).await;
    let r = idp
        .post_bearer(
            "/account/password",
            &svc,
            Some(&json!({"current_password": "x", "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(error_code(r, 404).await, "not_found");
}

#[tokio::test]
async fn reset_links_are_mailed_work_once_expire_and_end_every_session() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let tokens = idp.user_tokens("rita@example.com").await;
    let verification = sink.wait_for(1).await;
    assert_eq!(verification[0].subject(), "Confirm your email address");

    let r = idp
        .http
        .post(idp.url("/account/password/reset"))
        .json(&json!({"email": "rita@example.com"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let mail = sink.wait_for(2).await.pop().expect("reset mail");
    assert_eq!(mail.to, ["rita@example.com"]);
    assert_eq!(mail.subject(), "Reset your password");
    assert!(mail.body().contains(&format!(
        "{}/account/password/reset/confirm?token=",
        idp.base
    )));
    let token = mail.token_for("/account/password/reset/confirm");
    assert!(token.len() >= 43, "{token}");

    let confirm = |token: &str, password: &str| {
        idp.http
            .post(idp.url("/account/password/reset/confirm"))
            .json(&json!({"token": token, "new_password": password}))
            .send()
    };
    assert_eq!(
        confirm(&token, "brand new password")
            .await
            .expect("send")
            .status(),
        204
    );
    let reuse = confirm(&token, "another new password").await.expect("send");
    assert_eq!(error_code(reuse, 400).await, "invalid_grant");
    // Every session ended; the new password works, right away.
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
    let login: Value = idp
        .login("rita@example.com", "brand new password")
        .await
        .json()
        .await
        .expect("json");
    let fresh = login["access_token"]
        .as_str()
        .expect("a token right after the reset");
    assert_eq!(idp.get_bearer("/userinfo", fresh).await.status(), 200);
    // The address is told, once, how the password was changed.
    let notice = sink
        .wait_for_subject("Your password was changed", 1)
        .await
        .pop()
        .expect("notice");
    assert_eq!(notice.to, ["rita@example.com"]);
    assert!(
        notice.body().contains("with a password-reset link"),
        "{}",
        notice.body()
    );

    // Expiry, with the clock passed in: a link is good for 15 minutes.
    let state = &idp.server.state;
    let later = idp::unix_now() + 3600;
    idp::accounts::password::request_reset(state, "rita@example.com", later);
    let mail = sink
        .wait_for_subject("Reset your password", 2)
        .await
        .pop()
        .expect("second reset mail");
    let token = mail.token_for("/account/password/reset/confirm");
    let ttl = idp::accounts::password::RESET_TTL;
    let expired = idp::accounts::password::confirm_reset(
        state,
        &token,
        zeroize::Zeroizing::new("too late password".into()),
        later + ttl,
    )
    .await
    .expect_err("expired");
    assert_eq!(expired.code(), "invalid_grant");
    idp::accounts::password::confirm_reset(
        state,
        &token,
        zeroize::Zeroizing::new("just in time pw".into()),
        later + ttl - 1,
    )
    .await
    .expect("still valid a second before");
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.data.contains("just in time")),
        "no password in mail"
    );
}

#[tokio::test]
async fn verification_links_work_once_expire_and_show_in_userinfo() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let tokens = idp.user_tokens("vera@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let mail = sink.wait_for(1).await.pop().expect("verification mail");
    assert_eq!(mail.to, ["vera@example.com"]);
    let token = mail.token_for("/account/email/verify");
    assert_eq!(
        idp.get_json_bearer("/userinfo", access).await["email_verified"],
        false
    );

    let verify = |token: &str| {
        idp.http
            .post(idp.url("/account/email/verify"))
            .json(&json!({"token": token}))
            .send()
    };
    assert_eq!(verify(&token).await.expect("send").status(), 204);
    assert_eq!(
        idp.get_json_bearer("/userinfo", access).await["email_verified"],
        true
    );
    assert_eq!(
        error_code(verify(&token).await.expect("send"), 400).await,
        "invalid_grant"
    );
    assert_eq!(
        error_code(verify("made-up").await.expect("send"), 400).await,
        "invalid_grant"
    );
    let r = idp
        .post_bearer("/account/email/verify/resend", access, None)
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["status"],
        "already_verified"
    );

    // Expiry, with the clock passed in.
    let state = &idp.server.state;
    let user = state
        .store()
        .run(|db| db.user_by_email("vera@example.com"))
        .await
        .expect("lookup")
        .expect("user");
    let later = idp::unix_now() + 3600;
    assert!(idp::accounts::email::send_verification(state, &user, later)
        .await
        .expect("sent"));
    let token = sink
        .wait_for(2)
        .await
        .pop()
        .expect("mail")
        .token_for("/account/email/verify");
    let ttl = idp::accounts::email::VERIFY_TTL;
    let expired = idp::accounts::email::verify(state, &token, later + ttl)
        .await
        .expect_err("expired");
    assert_eq!(expired.code(), "invalid_grant");
    idp::accounts::email::verify(state, &token, later + ttl - 1)
        .await
        .expect("valid until then");
}

/// The default `smtp://` mode upgrades with STARTTLS and checks the
/// server's certificate (here against the test CA given with `ca=`).
#[tokio::test]
async fn mail_goes_over_starttls_by_default() {
    let sink = SmtpSink::start_tls().await;
    assert!(!sink.url().contains("tls=none"));
    let idp = idp_with_mail(&sink).await;
    assert_eq!(idp.signup("tess@example.com", PASSWORD).await.status(), 201);
    let mail = sink.wait_for(1).await.pop().expect("verification mail");
    assert!(mail.over_tls, "delivered after STARTTLS");
    assert_eq!(mail.to, ["tess@example.com"]);
    assert!(!mail.token_for("/account/email/verify").is_empty());
}

/// Alternates known and unknown addresses and compares median times: the
/// answer, and how long it takes, must not tell them apart.
#[tokio::test]
async fn reset_requests_answer_alike_and_in_like_time_for_known_and_unknown_emails() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let idp = TestIdp::start_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.login_rate = 0;
    })
    .await;
    assert_eq!(idp.signup("kim@example.com", PASSWORD).await.status(), 201);
    let mut timings: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut answers = Vec::new();
    for _ in 0..25 {
        for (case, email) in ["kim@example.com", "nobody@example.com"]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let r = idp
                .http
                .post(idp.url("/account/password/reset"))
                .json(&json!({"email": email}))
                .send()
                .await
                .expect("send");
            let status = r.status();
            let body = r.text().await.expect("body");
            timings[case].push(started.elapsed().as_secs_f64());
            answers.push((status, body));
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0].0, 202);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [known, unknown] = timings;
    let (a, b) = (median(known), median(unknown));
    eprintln!(
        "reset request medians: known {:.3} ms, unknown {:.3} ms, ratio {:.2}",
        a * 1e3,
        b * 1e3,
        a.max(b) / a.min(b)
    );
    assert!(
        a.max(b) / a.min(b) < 2.0,
        "median timings differ: {a:.5}s vs {b:.5}s"
    );
    // Exactly one mail (signup's verification aside): the known address,
    // once, however often it was asked for within the minute.
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resets: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| m.subject() == "Reset your password")
        .collect();
    assert_eq!(resets.len(), 1, "{mails:?}");
    assert_eq!(resets[0].to, ["kim@example.com"]);
}

#[tokio::test]
async fn with_required_verification_signup_answers_alike_and_mails_the_owner_instead() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let idp = TestIdp::start_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.require_email_verification = true;
    })
    .await;
    let first = idp.signup("nina@example.com", PASSWORD).await;
    let (status, body) = (first.status(), first.text().await.expect("body"));
    let second = idp.signup("NINA@example.com", "another password").await;
    assert_eq!(
        (second.status(), second.text().await.expect("body")),
        (status, body.clone())
    );
    assert_eq!(status, 202);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"status": "verification_sent"})
    );
    assert!(!body.contains("nina"), "no account details");

    let mails = sink.wait_for(2).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject()).collect();
    assert!(
        subjects.contains(&"Confirm your email address"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Someone tried to create an account with your address"),
        "{subjects:?}"
    );
    assert!(mails
        .iter()
        .all(|m| m.to[0].eq_ignore_ascii_case("nina@example.com")));

    // Not before the address is verified; the wrong password learns nothing.
    assert_eq!(
        error_code(idp.login("nina@example.com", PASSWORD).await, 403).await,
        "email_not_verified"
    );
    assert_eq!(
        error_code(idp.login("nina@example.com", "another password").await, 401).await,
        "invalid_credentials"
    );
    let link = mails
        .iter()
        .find(|m| m.subject() == "Confirm your email address")
        .expect("verification")
        .token_for("/account/email/verify");
    let r = idp
        .http
        .post(idp.url("/account/email/verify"))
        .json(&json!({"token": link}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    assert_eq!(idp.login("nina@example.com", PASSWORD).await.status(), 200);
}

/// client_credentials with `secret`: the status, and the token if issued.
async fn try_client_token(idp: &TestIdp, id: &str, secret: &str) -> (u16, Option<String>) {
    let r = idp
        .form(
            "/token",
            Some((id, secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    (status, body["access_token"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn a_client_secret_is_rotated_with_an_overlap_at_once_or_with_its_tokens_cut_off() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rs = resource_server(&idp).await;
    let ops = admin_token(&idp).await;
    let first = idp.client("billing", "api:read", false).await;
    let rotate = |body: Value| {
        let ops = ops.clone();
        let idp = &idp;
        async move {
            idp.post_bearer("/clients/billing/secret", &ops, Some(&body))
                .await
        }
    };

    // A routine rotation: both secrets work during the overlap.
    let r = rotate(json!({"keep_old_seconds": 3600})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let answer: Value = r.json().await.expect("json");
    let second = answer["client_secret"].as_str().expect("secret").to_owned();
    assert_ne!(second, first);
    let until = answer["previous_secret_expires_at"]
        .as_u64()
        .expect("until");
    assert!(until >= idp::unix_now() + 3590, "{answer}");
    assert_eq!(answer["tokens_revoked"], false);
    assert_eq!(try_client_token(&idp, "billing", &first).await.0, 200);
    let (status, token) = try_client_token(&idp, "billing", &second).await;
    assert_eq!(status, 200);
    let token = token.expect("token");
    let shown = idp.get_json_bearer("/clients/billing", &ops).await;
    assert_eq!(shown["previous_secret_expires_at"], until, "{shown}");

    // Rotated again at once: the first secret and the second stop working;
    // tokens already issued stay valid.
    let r = rotate(json!({})).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("json");
    assert!(
        answer.get("previous_secret_expires_at").is_none(),
        "{answer}"
    );
    let third = answer["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(try_client_token(&idp, "billing", &first).await.0, 401);
    assert_eq!(try_client_token(&idp, "billing", &second).await.0, 401);
    assert_eq!(try_client_token(&idp, "billing", &third).await.0, 200);
    let private = |token: String| {
        let url = rs.url("/api/private");
        let http = idp.http.clone();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    assert_eq!(private(token.clone()).await, 200);

    // A leaked secret: rotated with the tokens cut off, at the resource
    // server too; tokens for the new secret work, even in the same second.
    let r = rotate(json!({"revoke_tokens": true})).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["tokens_revoked"], true);
    let fourth = answer["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(try_client_token(&idp, "billing", &third).await.0, 401);
    let took = refused_at_rs(&idp, &rs, "/api/private", &token).await;
    eprintln!("token of the rotated-away secret refused at the resource server after {took:?}");
    let (status, fresh) = try_client_token(&idp, "billing", &fourth).await;
    assert_eq!(status, 200);
    assert_eq!(private(fresh.expect("token")).await, 200);

    // What cannot be rotated, and bodies that make no sense.
    idp.register(idp::clients::ClientSpec {
        client_id: "spa".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        public: true,
        ..Default::default()
    })
    .await;
    for (path, body, status) in [
        ("/clients/spa/secret", json!({}), 400),
        ("/clients/nobody/secret", json!({}), 404),
        (
            "/clients/billing/secret",
            json!({"keep_old_seconds": 3600, "revoke_tokens": true}),
            400,
        ),
        (
            "/clients/billing/secret",
            json!({"keep_old_seconds": 31 * 86_400}),
            400,
        ),
        ("/clients/billing/secret", json!({"keep_old": 60}), 400),
    ] {
        let r = idp.post_bearer(path, &ops, Some(&body)).await;
        assert_eq!(r.status(), status, "{path} {body}");
        let error: Value = r.json().await.expect("json error");
        assert!(error["error"].is_string(), "{error}");
    }
    assert_eq!(
        try_client_token(&idp, "billing", &fourth).await.0,
        200,
        "refusals changed nothing"
    );
    let billing_token = try_client_token(&idp, "billing", &fourth)
        .await
        .1
        .expect("token");
    assert_eq!(
        idp.post_bearer("/clients/billing/secret", &billing_token, None)
            .await
            .status(),
        403,
        "scope admin is needed"
    );
}

#[tokio::test]
async fn the_cli_rotates_a_client_secret_with_or_without_an_overlap() {
    let idp = TestIdp::start().await;
    let first = idp.client("nightly-job", "", false).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["clients", "rotate-secret", "--id", "nightly-job", "--db"])
            .arg(idp.db_path())
            .args(args)
            .env_remove("IDP_KEY_ENCRYPTION_KEY")
            .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
            .output()
            .expect("cli runs")
    };
    let out = cli(&["--keep-old", "2h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let second = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("the new secret is printed")
        .to_owned();
    assert!(text.contains("the old secret works until"), "{text}");
    assert_eq!(try_client_token(&idp, "nightly-job", &first).await.0, 200);
    assert_eq!(try_client_token(&idp, "nightly-job", &second).await.0, 200);

    let out = cli(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the old secret no longer works"));
    assert_eq!(try_client_token(&idp, "nightly-job", &first).await.0, 401);
    assert_eq!(try_client_token(&idp, "nightly-job", &second).await.0, 401);

    for bad in [
        &["--keep-old", "31d"][..],
        &["--keep-old", "1h", "--revoke-tokens"],
    ] {
        let out = cli(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: a usage error");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["clients", "rotate-secret", "--id", "nobody", "--db"])
        .arg(idp.db_path())
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .output()
        .expect("cli runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such client"));
}

#[tokio::test]
async fn password_and_second_factor_changes_are_mailed_to_the_account_address() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let tokens = idp.user_tokens("sam@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");

    let r = idp
        .post_bearer(
            "/account/password",
            access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let notice = sink
        .wait_for_subject("Your password was changed", 1)
        .await
        .pop()
        .expect("notice");
    assert_eq!(notice.to, ["sam@example.com"]);
    let body = notice.body();
    assert!(body.contains("knew the previous password"), "{body}");
    assert!(
        body.contains("Forgot your password?"),
        "what to do if it was not them: {body}"
    );
    assert!(!body.contains("a new long password"), "never the password");

    let (_, _, codes) = common::flow::enrol_totp(&idp, access).await;
    let on = sink.wait_for_subject("Two-step sign-in is on", 1).await;
    assert_eq!(on[0].to, ["sam@example.com"]);
    for code in &codes {
        assert!(
            !on[0].body().contains(code.as_str()),
            "never a recovery code"
        );
    }
    let r = idp
        .post_bearer(
            "/account/totp/remove",
            access,
            Some(&json!({"code": codes[0]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let off = sink.wait_for_subject("Two-step sign-in is off", 1).await;
    // The removal took a recovery code: that is told too, with the count.
    let used = sink.wait_for_subject("A recovery code was used", 1).await;
    assert!(
        used[0].body().contains("9 recovery codes are left."),
        "{}",
        used[0].body()
    );
    assert!(
        off[0].body().contains("password alone"),
        "{}",
        off[0].body()
    );
    // A refused change is not mailed: a wrong current password.
    let refused = idp
        .post_bearer(
            "/account/password",
            access,
            Some(&json!({"current_password": "wrong one", "new_password": "another long one"})),
        )
        .await;
    assert_eq!(refused.status(), 400);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| m.subject() == "Your password was changed")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_user_deletes_their_own_account_over_the_api_and_is_told() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let rs = resource_server(&idp).await;
    let tokens = idp.user_tokens("ola@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let delete = |password: &str| {
        let body = json!({"current_password": password});
        let idp = &idp;
        async move {
            idp.post_bearer("/account/delete", access, Some(&body))
                .await
        }
    };
    assert_eq!(
        error_code(delete("not my password").await, 400).await,
        "invalid_grant"
    );
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 200);

    assert_eq!(delete(PASSWORD).await.status(), 204);
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    assert_eq!(
        error_code(idp.refresh(refresh).await, 400).await,
        "invalid_grant"
    );
    assert_eq!(idp.login("ola@example.com", PASSWORD).await.status(), 401);
    refused_at_rs(&idp, &rs, "/user/profile", access).await;
    let notice = sink
        .wait_for_subject("Your account was deleted", 1)
        .await
        .pop()
        .expect("notice");
    assert_eq!(notice.to, ["ola@example.com"]);
    // A client's token has no account to delete.
    let secret = idp.client("svc", "", false).await;
    let client = idp.client_token("svc", &secret).await;
    let r = idp
        .post_bearer(
            "/account/delete",
            &client,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn a_user_changes_their_name_and_userinfo_says_it() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("ivy@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let rename = |name: Value| {
        let idp = &idp;
        async move {
            idp.post_bearer("/account/name", access, Some(&json!({ "name": name })))
                .await
        }
    };
    assert_eq!(rename(json!(" Ivy Compton ")).await.status(), 204);
    assert_eq!(
        idp.get_json_bearer("/userinfo", access).await["name"],
        "Ivy Compton"
    );
    for bad in [
        json!(""),
        json!("a\u{7}b"),
        json!("x".repeat(201)),
        json!(7),
    ] {
        assert_eq!(
            error_code(rename(bad.clone()).await, 400).await,
            "invalid_request",
            "{bad}"
        );
    }
    assert_eq!(
        idp.get_json_bearer("/userinfo", access).await["name"],
        "Ivy Compton"
    );
}
