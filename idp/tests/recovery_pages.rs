//! The pages of the mailed links, over HTTP as a browser drives them:
//! "Forgot your password?" → the email form → the mailed link's
//! new-password form → done, once; and the verification link's button,
//! which a GET never presses. CSRF tokens, reused and unknown links.
//! `browser.rs` drives the reset in a real Chromium.

mod common;

use common::flow::{browser, hidden_fields, submit};
use common::smtp::SmtpSink;
use common::TestIdp;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

async fn idp_with_mail(sink: &SmtpSink) -> TestIdp {
    let url = sink.url();
    TestIdp::start_with(move |c| c.mail.smtp_url = Some(url)).await
}

async fn page(b: &reqwest::Client, url: &str) -> (u16, String) {
    let r = b.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    (status, r.text().await.expect("html"))
}

#[tokio::test]
async fn a_password_is_reset_through_the_mailed_links_pages_once() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let old = idp.user_tokens("rita@example.com").await;
    sink.wait_for(1).await; // the verification mail
    let b = browser();

    let (status, form) = page(&b, &idp.url("/account/password/reset")).await;
    assert_eq!(status, 200);
    assert!(form.contains(r#"autocomplete="email""#) && form.contains(r#"name="csrf_token""#));
    // Without the CSRF token: refused, nothing mailed.
    let forged = b
        .post(idp.url("/account/password/reset"))
        .form(&[("email", "rita@example.com")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    // The same answer for an unknown address and a known one.
    let unknown = submit(
        &b,
        &idp,
        "/account/password/reset",
        &form,
        &[("email", "nobody@example.com")],
    )
    .await;
    assert_eq!(unknown.status(), 202);
    let unknown = unknown.text().await.expect("html");
    let known = submit(
        &b,
        &idp,
        "/account/password/reset",
        &form,
        &[("email", "rita@example.com")],
    )
    .await;
    assert_eq!(known.status(), 202);
    // (Each page names the address typed, nothing more.)
    assert_eq!(
        known
            .text()
            .await
            .expect("html")
            .replace("rita@example.com", "ADDRESS"),
        unknown.replace("nobody@example.com", "ADDRESS")
    );
    assert!(unknown.contains("Check your mail"));
    let mail = sink.wait_for(2).await.pop().expect("reset mail");
    let token = mail.token_for("/account/password/reset/confirm");
    let link = idp.url(&format!("/account/password/reset/confirm?token={token}"));

    // The link opens the form; a too-short password shows it again.
    let (status, reset) = page(&b, &link).await;
    assert_eq!(status, 200);
    assert!(reset.contains(r#"autocomplete="new-password""#), "{reset}");
    assert!(
        reset.contains("rita@example.com"),
        "the page names the account"
    );
    let short = submit(
        &b,
        &idp,
        "/account/password/reset/confirm",
        &reset,
        &[("new_password", "short")],
    )
    .await;
    assert_eq!(short.status(), 400);
    let short = short.text().await.expect("html");
    assert!(
        short.contains("Password must be at least 8 characters."),
        "{short}"
    );
    let done = submit(
        &b,
        &idp,
        "/account/password/reset/confirm",
        &short,
        &[("new_password", "brand new password")],
    )
    .await;
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await
        .expect("html")
        .contains("Your password is changed"));
    // Every session ended; the new password works.
    let access = old["access_token"].as_str().expect("access");
    assert_eq!(idp.get_bearer("/userinfo", access).await.status(), 401);
    assert_eq!(
        idp.login("rita@example.com", "brand new password")
            .await
            .status(),
        200
    );
    assert_eq!(idp.login("rita@example.com", PASSWORD).await.status(), 401);

    // Opened again, or posted again: it says so plainly.
    let (status, again) = page(&b, &link).await;
    assert_eq!(status, 400);
    assert!(again.contains("This link no longer works"), "{again}");
    let replay = submit(
        &b,
        &idp,
        "/account/password/reset/confirm",
        &reset,
        &[("new_password", "yet another password")],
    )
    .await;
    assert_eq!(replay.status(), 400);
    assert!(replay
        .text()
        .await
        .expect("html")
        .contains("This link no longer works"));
    let (status, _) = page(
        &b,
        &idp.url("/account/password/reset/confirm?token=made-up"),
    )
    .await;
    assert_eq!(status, 400);
    // The JSON endpoint still answers JSON.
    let r = idp
        .http
        .post(idp.url("/account/password/reset/confirm"))
        .json(&serde_json::json!({"token": token, "new_password": "whatever it is"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_verification_link_verifies_only_with_its_button() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    let t = idp.user_tokens("vera@example.com").await;
    let mail = sink.wait_for(1).await.pop().expect("verification mail");
    let token = mail.token_for("/account/email/verify");
    let link = idp.url(&format!("/account/email/verify?token={token}"));
    let access = t["access_token"].as_str().expect("access").to_owned();
    let verified = || async {
        let info: Value = idp
            .get_bearer("/userinfo", &access)
            .await
            .json()
            .await
            .expect("json");
        info["email_verified"].clone()
    };

    // A mail scanner's GETs verify nothing.
    let b = browser();
    for _ in 0..2 {
        let (status, html) = page(&b, &link).await;
        assert_eq!(status, 200);
        assert!(html.contains("Confirm my address") && html.contains("vera@example.com"));
    }
    assert_eq!(verified().await, false);
    let (_, html) = page(&b, &link).await;
    let fields = hidden_fields(&html);
    assert!(fields.iter().any(|(k, v)| k == "token" && v == &token));
    // Without the CSRF token: refused.
    let forged = b
        .post(idp.url("/account/email/verify"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(verified().await, false);

    let done = submit(&b, &idp, "/account/email/verify", &html, &[]).await;
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await
        .expect("html")
        .contains("Your email address is confirmed"));
    assert_eq!(verified().await, true);
    let again = submit(&b, &idp, "/account/email/verify", &html, &[]).await;
    assert_eq!(again.status(), 400);
    let (status, html) = page(&b, &link).await;
    assert_eq!(status, 400);
    assert!(html.contains("This link no longer works"));
}

/// The `href` of the link whose words are `words`, unescaped.
fn link_to(html: &str, words: &str) -> Option<String> {
    let end = html.find(&format!(">{words}</a>"))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(
        html[start..end - 1]
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

/// The parameters of a link's query, sorted: the same request whatever
/// the order.
fn request_in(link: &str) -> Vec<(String, String)> {
    let query = link.split_once('?').map_or("", |(_, q)| q);
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn forgot_password_from_a_sign_in_page_leads_back_to_the_application() {
    let sink = SmtpSink::start().await;
    let idp = idp_with_mail(&sink).await;
    idp.register(idp::clients::ClientSpec {
        client_id: "notes".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        public: true,
        ..Default::default()
    })
    .await;
    idp.user_tokens("rita@example.com").await;
    sink.wait_for(1).await; // the verification mail
    let b = browser();
    let (_, challenge) = common::flow::pkce();
    let authorize = common::flow::authorize_url(
        &idp,
        "notes",
        "http://127.0.0.1/cb",
        &challenge,
        &[("state", "s-123"), ("nonce", "n-456")],
    );
    let request = request_in(&authorize);

    // The sign-in page's link carries the request to the email form, which
    // names the application, carries it on and leads back.
    let (status, sign_in) = page(&b, &authorize).await;
    assert_eq!(status, 200);
    let forgot = link_to(&sign_in, "Forgot your password?").expect("the link");
    assert!(forgot.starts_with("/account/password/reset?"), "{forgot}");
    assert_eq!(request_in(&forgot), request);
    let (status, form) = page(&b, &idp.url(&forgot)).await;
    assert_eq!(status, 200);
    assert!(form.contains("sign in to <strong>notes</strong>"), "{form}");
    let back = link_to(&form, "Back to sign in").expect("the way back");
    assert!(back.starts_with("/authorize?"), "{back}");
    assert_eq!(request_in(&back), request);
    let sent = submit(
        &b,
        &idp,
        "/account/password/reset",
        &form,
        &[("email", "rita@example.com")],
    )
    .await;
    assert_eq!(sent.status(), 202);
    let sent = sent.text().await.expect("html");
    assert!(sent.contains("Check your mail"), "{sent}");
    let back = link_to(&sent, "Back to sign in").expect("the way back");
    assert!(back.starts_with("/authorize?"), "{back}");
    assert_eq!(request_in(&back), request);

    // The mailed link, opened in the same browser: once the password is
    // set, the page leads back to the application's sign-in, whose request
    // (state, nonce, PKCE) is the one the application started.
    let mail = sink.wait_for(2).await.pop().expect("reset mail");
    let token = mail.token_for("/account/password/reset/confirm");
    let (status, reset) = page(
        &b,
        &idp.url(&format!("/account/password/reset/confirm?token={token}")),
    )
    .await;
    assert_eq!(status, 200);
    let done = submit(
        &b,
        &idp,
        "/account/password/reset/confirm",
        &reset,
        &[("new_password", "brand new password")],
    )
    .await;
    assert_eq!(done.status(), 200);
    let done = done.text().await.expect("html");
    let back = link_to(&done, "Continue to notes").expect("the way back");
    assert!(back.starts_with("/authorize?"), "{back}");
    assert_eq!(request_in(&back), request);
    let redirect = common::flow::sign_in_for_code(
        &b,
        &idp,
        &idp.url(&back),
        "rita@example.com",
        "brand new password",
    )
    .await;
    assert!(redirect.starts_with("http://127.0.0.1/cb?"), "{redirect}");
    assert_eq!(
        common::flow::param(&redirect, "state").as_deref(),
        Some("s-123")
    );
    assert!(
        common::flow::param(&redirect, "code").is_some(),
        "{redirect}"
    );

    // The way back was used up with the reset: another reset in this
    // browser, not from a sign-in page, ends with the generic page.
    idp.user_tokens("bob@example.com").await;
    sink.wait_for_subject("Confirm your email address", 2).await; // bob's
    let (_, plain) = page(&b, &idp.url("/account/password/reset")).await;
    assert!(!plain.contains("Back to sign in"), "{plain}");
    submit(
        &b,
        &idp,
        "/account/password/reset",
        &plain,
        &[("email", "bob@example.com")],
    )
    .await;
    let mail = sink
        .wait_for_subject("Reset your password", 2)
        .await
        .pop()
        .expect("bob's reset mail");
    let token = mail.token_for("/account/password/reset/confirm");
    let (_, reset) = page(
        &b,
        &idp.url(&format!("/account/password/reset/confirm?token={token}")),
    )
    .await;
    let done = submit(
        &b,
        &idp,
        "/account/password/reset/confirm",
        &reset,
        &[("new_password", "another new password")],
    )
    .await;
    let done = done.text().await.expect("html");
    assert!(done.contains("Go back to the application"), "{done}");
    assert!(link_to(&done, "Continue to notes").is_none(), "{done}");
}

#[tokio::test]
async fn a_reset_page_opened_with_a_request_that_is_not_valid_is_the_plain_one() {
    let idp = TestIdp::start().await;
    let b = browser();
    for query in [
        "client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&response_type=code",
        "client_id=a&client_id=b",
        "%zz=%%",
    ] {
        let (status, form) = page(&b, &idp.url(&format!("/account/password/reset?{query}"))).await;
        assert_eq!(status, 200, "{query}");
        assert!(form.contains(r#"name="email""#), "{query}");
        assert!(!form.contains("Back to sign in"), "{query}: {form}");
        assert!(!form.contains(r#"name="client_id""#), "{query}: {form}");
    }
}
