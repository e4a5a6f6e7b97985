//! The account page of a signed-in browser, over HTTP as a browser drives
//! it: no account data without a session, the CSRF token on every form,
//! changing the password (the other sessions end, this one goes on),
//! setting up an authenticator app (QR code, first code, recovery codes
//! shown once, then the sign-in asks for a code), removing it, signing out
//! everywhere and signing out. `browser.rs` takes the screenshots.

mod common;

use common::flow::{
    authorize_url, browser, exchange, hidden_fields, location, param, pkce, sign_in_for_code,
    submit, tokens, totp_code,
};
use common::TestIdp;

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// Every form post path of the page.
const FORMS: [&str; 10] = [
    "/account/manage/name",
    "/account/manage/totp/recovery_codes",
    "/account/manage/apps/remove",
    "/account/manage/delete",
    "/account/manage/password",
    "/account/manage/totp",
    "/account/manage/totp/confirm",
    "/account/manage/totp/remove",
    "/account/manage/sign_out_everywhere",
    "/account/manage/sign_out",
];

/// An IdP with a confidential client `web` and a user `email`.
async fn idp_with_user(email: &str) -> TestIdp {
    let idp = TestIdp::start().await;
    idp::clients::register_client(
        idp.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "web".into(),
            redirect_uris: vec![CB.into()],
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client");
    assert_eq!(idp.signup(email, PASSWORD).await.status(), 201);
    idp
}

/// A browser signed in as `email` through the hosted sign-in page.
async fn signed_in(idp: &TestIdp, email: &str) -> reqwest::Client {
    let b = browser();
    let (_, challenge) = pkce();
    let back = sign_in_for_code(
        &b,
        idp,
        &authorize_url(idp, "web", CB, &challenge, &[]),
        email,
        PASSWORD,
    )
    .await;
    assert!(back.starts_with(CB), "{back}");
    b
}

/// A `/login` session's refresh token for `email`.
async fn refresh_token(idp: &TestIdp, email: &str) -> String {
    let login = idp.login(email, PASSWORD).await;
    login.json::<serde_json::Value>().await.expect("json")["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned()
}

/// `GET /account`: status and page.
async fn account(b: &reqwest::Client, idp: &TestIdp) -> (u16, String) {
    let r = b.get(idp.url("/account")).send().await.expect("account");
    let status = r.status().as_u16();
    (status, r.text().await.expect("html"))
}

/// The account page, which must be there.
async fn page(b: &reqwest::Client, idp: &TestIdp) -> String {
    let (status, html) = account(b, idp).await;
    assert_eq!(status, 200, "{html}");
    html
}

/// Posts the form of `page` whose action is `path` (its hidden fields,
/// plus `fields`), as a browser would.
async fn post(
    b: &reqwest::Client,
    idp: &TestIdp,
    path: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let form = between(page, &format!(r#"action="{path}""#), "</form>");
    submit(b, idp, path, form, fields).await
}

/// The page a `303` answer sends the browser to.
async fn follow(b: &reqwest::Client, idp: &TestIdp, answer: &reqwest::Response) -> String {
    let r = b.get(idp.url(&location(answer))).send().await.expect("get");
    assert_eq!(r.status(), 200);
    r.text().await.expect("html")
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).expect(start) + start.len();
    &html[from..from + html[from..].find(end).expect(end)]
}

#[tokio::test]
async fn without_a_session_the_page_shows_no_account_data() {
    let idp = idp_with_user("nora@example.com").await;
    let (status, html) = account(&browser(), &idp).await;
    assert_eq!(status, 401);
    assert!(html.contains("You are not signed in"), "{html}");
    assert!(!html.contains("nora@example.com") && !html.contains("<form"));

    // A made-up cookie is no session either.
    let r = reqwest::Client::new()
        .get(idp.url("/account"))
        .header("cookie", format!("idp_session={}", "a".repeat(43)))
        .send()
        .await
        .expect("account");
    assert_eq!(r.status(), 401);

    // Nor do the forms do anything without one, CSRF token or not.
    let b = browser();
    let signed = signed_in(&idp, "nora@example.com").await;
    let form = page(&signed, &idp).await;
    let csrf = between(&form, r#"name="csrf_token" value=""#, "\"").to_owned();
    for path in FORMS {
        let r = b
            .post(idp.url(path))
            .header("cookie", format!("idp_csrf={csrf}"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn the_page_has_the_security_headers_and_labelled_fields() {
    let idp = idp_with_user("lena@example.com").await;
    let b = signed_in(&idp, "lena@example.com").await;
    let r = b.get(idp.url("/account")).send().await.expect("account");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.expect("html");
    for needle in [
        "lena@example.com",
        r#"<label for="current_password">"#,
        r#"autocomplete="current-password""#,
        r#"<label for="new_password">"#,
        r#"autocomplete="new-password""#,
        r#"action="/account/manage/totp""#,
        r#"action="/account/manage/sign_out_everywhere""#,
        r#"action="/account/manage/sign_out""#,
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    assert!(!html.contains("<script"));
    assert_eq!(
        html.matches(r#"name="csrf_token""#).count(),
        html.matches("<form").count(),
        "a CSRF token in every form"
    );
}

#[tokio::test]
async fn every_form_without_its_csrf_token_is_refused() {
    let idp = idp_with_user("carl@example.com").await;
    let b = signed_in(&idp, "carl@example.com").await;
    page(&b, &idp).await;
    for path in FORMS {
        let r = b
            .post(idp.url(path))
            .form(&[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403, "{path}");
    }
    // Nothing changed: the old password works, the session lives.
    assert_eq!(idp.login("carl@example.com", PASSWORD).await.status(), 200);
    page(&b, &idp).await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let idp = idp_with_user("pia@example.com").await;
    let here = signed_in(&idp, "pia@example.com").await;
    let elsewhere = signed_in(&idp, "pia@example.com").await;
    let refresh = refresh_token(&idp, "pia@example.com").await;

    // A wrong current password changes nothing and says so.
    let html = page(&here, &idp).await;
    let wrong = post(
        &here,
        &idp,
        "/account/manage/password",
        &html,
        &[
            ("current_password", "not my password"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let text = wrong.text().await.expect("html");
    assert!(
        text.contains("Your current password is not right."),
        "{text}"
    );
    // A too-short new one neither.
    let short = post(
        &here,
        &idp,
        "/account/manage/password",
        &html,
        &[("current_password", PASSWORD), ("new_password", "short")],
    )
    .await;
    assert_eq!(short.status(), 400);
    assert_eq!(idp.login("pia@example.com", PASSWORD).await.status(), 200);

    let changed = post(
        &here,
        &idp,
        "/account/manage/password",
        &html,
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(location(&changed), "/account?done=password");
    let after = follow(&here, &idp, &changed).await;
    assert!(after.contains("Your password is changed."), "{after}");

    assert_eq!(account(&elsewhere, &idp).await.0, 401, "the other browser");
    assert_eq!(
        idp.refresh(&refresh).await.status(),
        400,
        "a /login session"
    );
    assert_eq!(idp.login("pia@example.com", PASSWORD).await.status(), 401);
    assert_eq!(
        idp.login("pia@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn an_authenticator_app_is_set_up_confirmed_and_removed() {
    let idp = idp_with_user("tom@example.com").await;
    let b = signed_in(&idp, "tom@example.com").await;
    let html = page(&b, &idp).await;
    assert!(html.contains("Set up an authenticator app"));

    let enrol = post(&b, &idp, "/account/manage/totp", &html, &[]).await;
    assert_eq!(enrol.status(), 200);
    let csp = enrol.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(!csp.contains("script"));
    let enrol = enrol.text().await.expect("html");
    assert!(enrol.contains("<svg") && !enrol.contains("<?xml") && !enrol.contains("<script"));
    assert!(enrol.contains("otpauth://totp/"), "{enrol}");
    let key = between(&enrol, r#"<p class="secret"><code>"#, "</code>").to_owned();
    let secret = data_encoding::BASE32_NOPAD
        .decode(key.as_bytes())
        .expect("base32 key");
    let step = idp::accounts::totp::step_at(idp::unix_now());

    // A wrong code shows the same key again.
    let wrong = post(
        &b,
        &idp,
        "/account/manage/totp/confirm",
        &enrol,
        &[("code", "000000")],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let again = wrong.text().await.expect("html");
    assert!(again.contains("That code is not right."), "{again}");
    assert!(again.contains(&key), "the app already set up stays right");

    // The right one shows the ten recovery codes, this once.
    let confirmed = post(
        &b,
        &idp,
        "/account/manage/totp/confirm",
        &again,
        &[("code", &totp_code(&secret, step))],
    )
    .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(confirmed.headers()["cache-control"], "no-store");
    let codes_page = confirmed.text().await.expect("html");
    let codes: Vec<String> = codes_page
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find("</code>").expect("end")].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{codes_page}");
    let after = page(&b, &idp).await;
    assert!(after.contains("Remove the authenticator app"));
    assert!(codes.iter().all(|c| !after.contains(c.as_str())));
    let any_form = between(&after, r#"action="/account/manage/totp/remove""#, "</form>");
    let twice = submit(
        &b,
        &idp,
        "/account/manage/totp/confirm",
        any_form,
        &[("code", &totp_code(&secret, step + 1))],
    )
    .await;
    assert_eq!(twice.status(), 303, "nothing waits for a first code");
    let twice = twice.text().await.expect("body");
    assert!(codes.iter().all(|c| !twice.contains(c.as_str())));

    // The next sign-in asks for the code after the password.
    let other = browser();
    let (_, challenge) = pkce();
    let signin = other
        .get(authorize_url(&idp, "web", CB, &challenge, &[]))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    let asked = submit(
        &other,
        &idp,
        "/signin",
        &signin,
        &[("email", "tom@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(asked.status(), 200);
    assert!(asked
        .text()
        .await
        .expect("html")
        .contains(r#"action="/signin/code""#));

    // New recovery codes: a wrong code is refused; with a recovery code,
    // ten new ones replace the old, which stop working.
    assert!(after.contains("10 recovery codes are left."), "{after}");
    let refused = post(
        &b,
        &idp,
        "/account/manage/totp/recovery_codes",
        &after,
        &[("code", "123456")],
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .expect("html")
        .contains(r#"id="codes-error""#));
    let renewed = post(
        &b,
        &idp,
        "/account/manage/totp/recovery_codes",
        &after,
        &[("code", &codes[9])],
    )
    .await;
    assert_eq!(renewed.status(), 200);
    let renewed = renewed.text().await.expect("html");
    assert!(renewed.contains("Your new recovery codes"), "{renewed}");
    let old_codes = codes;
    let codes: Vec<String> = renewed
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find("</code>").expect("end")].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{renewed}");
    assert!(codes.iter().all(|c| !old_codes.contains(c)));
    let after = page(&b, &idp).await;
    assert!(after.contains("10 recovery codes are left."), "{after}");
    let stale = post(
        &b,
        &idp,
        "/account/manage/totp/remove",
        &after,
        &[("code", &old_codes[0])],
    )
    .await;
    assert_eq!(stale.status(), 400, "an old recovery code no longer works");

    // A wrong code does not remove it; a recovery code does.
    let refused = post(
        &b,
        &idp,
        "/account/manage/totp/remove",
        &after,
        &[("code", "123456")],
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .expect("html")
        .contains("That code is not right."));
    let removed = post(
        &b,
        &idp,
        "/account/manage/totp/remove",
        &after,
        &[("code", &codes[0])],
    )
    .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(location(&removed), "/account?done=totp_removed");
    assert!(follow(&b, &idp, &removed)
        .await
        .contains("Your authenticator app is removed."));
    let (_, challenge) = pkce();
    let back = sign_in_for_code(
        &browser(),
        &idp,
        &authorize_url(&idp, "web", CB, &challenge, &[]),
        "tom@example.com",
        PASSWORD,
    )
    .await;
    assert!(back.starts_with(CB), "no code asked any more: {back}");
}

#[tokio::test]
async fn the_name_is_changed_and_a_bad_one_refused() {
    let idp = idp_with_user("nell@example.com").await;
    let b = signed_in(&idp, "nell@example.com").await;
    let html = page(&b, &idp).await;
    let bad = post(&b, &idp, "/account/manage/name", &html, &[("name", "  ")]).await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .expect("html")
        .contains(r#"id="name-error""#));
    let done = post(
        &b,
        &idp,
        "/account/manage/name",
        &html,
        &[("name", "  Nell Gwyn ")],
    )
    .await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/account?done=name");
    let after = follow(&b, &idp, &done).await;
    assert!(after.contains("Your name is changed."), "{after}");
    assert!(after.contains(r#"value="Nell Gwyn""#), "{after}");
}

#[tokio::test]
async fn the_owner_deletes_the_account_with_the_password() {
    let idp = idp_with_user("dana@example.com").await;
    let here = signed_in(&idp, "dana@example.com").await;
    let elsewhere = signed_in(&idp, "dana@example.com").await;
    let refresh = refresh_token(&idp, "dana@example.com").await;
    let html = page(&here, &idp).await;
    assert!(html.contains("Delete your account"), "{html}");

    // The wrong password: the page again, saying so, nothing deleted.
    let wrong = post(
        &here,
        &idp,
        "/account/manage/delete",
        &html,
        &[("current_password", "not my password")],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let again = wrong.text().await.expect("html");
    assert!(again.contains(r#"id="delete-error""#), "{again}");
    assert!(
        again.contains("Your current password is not right."),
        "{again}"
    );
    assert_eq!(account(&here, &idp).await.0, 200);

    let done = post(
        &here,
        &idp,
        "/account/manage/delete",
        &again,
        &[("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(done.status(), 200);
    let cookie = done.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("idp_session=;") && cookie.contains("Max-Age=0"));
    assert!(done
        .text()
        .await
        .expect("html")
        .contains("Your account is deleted"));
    // Every session is gone; the address may sign up anew.
    assert_eq!(account(&here, &idp).await.0, 401);
    assert_eq!(account(&elsewhere, &idp).await.0, 401);
    assert_eq!(idp.refresh(&refresh).await.status(), 400);
    assert_eq!(idp.login("dana@example.com", PASSWORD).await.status(), 401);
    assert_eq!(idp.signup("dana@example.com", PASSWORD).await.status(), 201);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let idp = idp_with_user("ella@example.com").await;
    let here = signed_in(&idp, "ella@example.com").await;
    let elsewhere = signed_in(&idp, "ella@example.com").await;
    let refresh = refresh_token(&idp, "ella@example.com").await;
    let html = page(&here, &idp).await;
    let r = post(
        &here,
        &idp,
        "/account/manage/sign_out_everywhere",
        &html,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("idp_session=;") && cookie.contains("Max-Age=0"));
    assert!(r
        .text()
        .await
        .expect("html")
        .contains("You are signed out everywhere"));
    assert_eq!(account(&here, &idp).await.0, 401);
    assert_eq!(account(&elsewhere, &idp).await.0, 401);
    assert_eq!(idp.refresh(&refresh).await.status(), 400);
}

#[tokio::test]
async fn signing_out_ends_this_browsers_session_only() {
    let idp = idp_with_user("max@example.com").await;
    let here = signed_in(&idp, "max@example.com").await;
    let elsewhere = signed_in(&idp, "max@example.com").await;
    let html = page(&here, &idp).await;
    let r = post(&here, &idp, "/account/manage/sign_out", &html, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("html").contains("You are signed out"));
    assert_eq!(account(&here, &idp).await.0, 401);
    page(&elsewhere, &idp).await;
}

/// Reloading a form's address (a GET) shows a page with the way back to
/// the account page, not the API's JSON.
#[tokio::test]
async fn opening_a_form_address_shows_the_way_back() {
    let idp = idp_with_user("gil@example.com").await;
    let b = signed_in(&idp, "gil@example.com").await;
    for path in FORMS {
        let r = b.get(idp.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["allow"], "POST", "{path}");
        let page = r.text().await.expect("html");
        assert!(
            page.contains(r#"<a href="/account">Open your account page</a>"#),
            "{path}: {page}"
        );
    }
}

/// An application the account approved is listed with what it may do, and
/// removing it ends its tokens and makes it ask again.
#[tokio::test]
async fn an_approved_application_can_be_removed_with_its_tokens() {
    let idp = idp_with_user("hal@example.com").await;
    let secret = idp
        .register(idp::clients::ClientSpec {
            client_id: "partner".into(),
            redirect_uris: vec![CB.into()],
            consent: true,
            ..Default::default()
        })
        .await
        .expect("confidential");
    let b = signed_in(&idp, "hal@example.com").await;
    let (verifier, challenge) = pkce();
    let scope = [("scope", "openid offline_access")];
    let consent = b
        .get(authorize_url(&idp, "partner", CB, &challenge, &scope))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("consent page");
    let allowed = submit(&b, &idp, "/consent", &consent, &[("decision", "allow")]).await;
    let code = param(&location(&allowed), "code").expect("code");
    let t = tokens(exchange(&idp, ("partner", Some(&secret)), &code, CB, &verifier).await).await;
    let (access, refresh) = (
        t["access_token"].as_str().expect("access").to_owned(),
        t["refresh_token"].as_str().expect("refresh").to_owned(),
    );

    let html = page(&b, &idp).await;
    assert!(html.contains("Applications with access"), "{html}");
    assert!(
        html.contains(r#"<span class="scope-title">partner</span>"#)
            && html.contains("Stay connected"),
        "{html}"
    );
    let csrf = hidden_fields(&html)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .expect("csrf")
        .1;
    let removed = b
        .post(idp.url("/account/manage/apps/remove"))
        .form(&[("csrf_token", csrf.as_str()), ("client_id", "partner")])
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status(), 303);
    assert_eq!(location(&removed), "/account?done=app_removed");

    let html = b
        .get(idp.url("/account?done=app_removed"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    assert!(html.contains("access is removed"), "{html}");
    assert!(
        html.contains("No application has asked for your permission."),
        "{html}"
    );
    assert_eq!(idp.get_bearer("/userinfo", &access).await.status(), 401);
    let r = idp
        .form(
            "/token",
            Some(("partner", &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(r.status(), 400, "the refresh token is revoked");
    // It asks again: prompt=none cannot skip the consent page now.
    let again = b
        .get(authorize_url(
            &idp,
            "partner",
            CB,
            &challenge,
            &[("prompt", "none"), ("scope", "openid offline_access")],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        param(&location(&again), "error").as_deref(),
        Some("consent_required")
    );
    // Removing it again, or an application never approved: a page, no change.
    let again = b
        .post(idp.url("/account/manage/apps/remove"))
        .form(&[("csrf_token", csrf.as_str()), ("client_id", "partner")])
        .send()
        .await
        .expect("remove");
    assert_eq!(again.status(), 400);
}
