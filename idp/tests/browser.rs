//! Browser sign-in in a real headless Chromium, driven through WebDriver
//! (`fantoccini` talking to Debian's `chromedriver`, which this test
//! starts on a free port): sign up, consent, single sign-on, a wrong
//! password, `/end_session`, `prompt=none` answering `login_required`, and
//! signing in with a TOTP second factor, a password reset through the
//! mailed link and the email verification button. Screenshots of every
//! page at phone (390 px) and
//! laptop (1280 px) widths go to `target/screenshots/` for people
//! reviewing the pages.
//!
//! Skipped, saying so, only where `/usr/bin/chromedriver` is absent; CI
//! (`.ci/run`) installs `chromium` and `chromium-driver`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::flow::{enrol_totp, exchange, param, pkce, tokens, totp_code};
use common::smtp::SmtpSink;
use common::{error_code, jwt_part, TestIdp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "a long passphrase";

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port, or `None` (after saying so)
    /// where it is not installed.
    async fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            eprintln!(
                "{CHROMEDRIVER} is absent: the browser tests were skipped \
                 (apt-get install chromium chromium-driver; .ci/run does)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: profile.path().to_owned(),
            _profile: profile,
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .is_ok()
            {
                return Some(driver);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// A headless Chromium session with a fresh profile.
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// A relying party's callback pages on 127.0.0.1: `/cb` and `/bye`.
async fn relying_party() -> SocketAddr {
    let app = axum::Router::new()
        .route("/cb", axum::routing::get(|| async { "signed in" }))
        .route("/bye", axum::routing::get(|| async { "signed out" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Saves a screenshot of the current page at `width` px as
/// `target/screenshots/NAME-WIDTH.png`.
async fn screenshot(browser: &Client, name: &str, width: u32) {
    browser
        .set_window_size(width, if width < 600 { 844 } else { 900 })
        .await
        .expect("resize");
    let png = browser.screenshot().await.expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("write screenshot");
    browser.set_window_size(1280, 900).await.expect("resize");
}

async fn fill(browser: &Client, name: &str, value: &str) {
    let input = browser
        .find(Locator::Css(&format!("input[name=\"{name}\"]")))
        .await
        .unwrap_or_else(|e| panic!("input {name}: {e}"));
    input.clear().await.expect("clear");
    input.send_keys(value).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

async fn url_of(browser: &Client) -> String {
    browser.current_url().await.expect("url").to_string()
}

/// The URL once the browser has arrived where `arrived` says (a click's
/// navigation may still be under way when the click returns).
async fn wait_for_url(browser: &Client, arrived: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let url = url_of(browser).await;
        if arrived(&url) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    url_of(browser).await
}

async fn text_of(browser: &Client) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_consent_single_sign_on_wrong_password_and_end_session_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let rp = relying_party().await;
    let cb = format!("http://{rp}/cb");
    let bye = format!("http://{rp}/bye");
    let secret = idp::clients::register_client(
        idp.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "photo-prints".into(),
            redirect_uris: vec![cb.clone()],
            consent: true,
            post_logout_redirect_uris: vec![bye.clone()],
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client")
    .client_secret
    .expect("confidential")
    .expose()
    .to_owned();
    let authorize = |challenge: &str, extra: &str| {
        format!(
            "{}/authorize?response_type=code&client_id=photo-prints&redirect_uri={}\
             &scope=openid%20profile%20email&state=st-1&nonce=nc-1\
             &code_challenge={challenge}&code_challenge_method=S256{extra}",
            idp.base,
            form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
        )
    };
    let browser = driver.browser().await;

    // Sign up from the sign-in page's link.
    let (verifier, challenge) = pkce();
    browser
        .goto(&authorize(&challenge, ""))
        .await
        .expect("goto");
    assert!(text_of(&browser).await.contains("Sign in"));
    screenshot(&browser, "sign-in", 390).await;
    screenshot(&browser, "sign-in", 1280).await;
    click(&browser, "a[href^=\"/signup?\"]").await;
    assert!(wait_for_url(&browser, |u| u.contains("/signup?"))
        .await
        .contains("/signup?"));
    screenshot(&browser, "sign-up", 390).await;
    fill(&browser, "name", "Grace Hopper").await;
    fill(&browser, "email", "grace@example.com").await;
    fill(&browser, "password", PASSWORD).await;
    click(&browser, "button[type=submit]").await;

    // Consent, then back at the application with a code.
    browser
        .wait()
        .for_element(Locator::Css("button[value=\"allow\"]"))
        .await
        .expect("the consent page");
    let consent = text_of(&browser).await;
    assert!(
        consent.contains("photo-prints wants to access your account"),
        "{consent}"
    );
    assert!(consent.contains("See your email address"));
    screenshot(&browser, "consent", 390).await;
    screenshot(&browser, "consent", 1280).await;
    click(&browser, "button[value=\"allow\"]").await;
    let back = wait_for_url(&browser, |u| u.starts_with(&cb)).await;
    assert!(back.starts_with(&cb), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&back, "iss").as_deref(), Some(idp.base.as_str()));
    let code = param(&back, "code").expect("code");
    let t =
        tokens(exchange(&idp, ("photo-prints", Some(&secret)), &code, &cb, &verifier).await).await;
    let id_token = t["id_token"].as_str().expect("id_token").to_owned();
    let claims = jwt_part(&id_token, 1);
    assert_eq!(
        (claims["nonce"].as_str(), claims["name"].as_str()),
        (Some("nc-1"), Some("Grace Hopper"))
    );

    // Single sign-on: straight back, no page.
    let (_, challenge2) = pkce();
    browser
        .goto(&authorize(&challenge2, ""))
        .await
        .expect("goto");
    let again = wait_for_url(&browser, |u| u.starts_with(&cb)).await;
    assert!(
        again.starts_with(&cb) && param(&again, "code").is_some(),
        "{again}"
    );

    // RP-initiated logout with the ID token: back at the application.
    let logout = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=out-1",
        idp.base,
        form_urlencoded::byte_serialize(bye.as_bytes()).collect::<String>()
    );
    browser.goto(&logout).await.expect("goto");
    let out = wait_for_url(&browser, |u| u.starts_with(&bye)).await;
    assert!(
        out.starts_with(&bye) && out.ends_with("state=out-1"),
        "{out}"
    );
    assert_eq!(
        idp.get_bearer("/userinfo", t["access_token"].as_str().expect("access"))
            .await
            .status(),
        401,
        "the session's tokens are revoked"
    );

    // prompt=none without a session: login_required, by redirect.
    browser
        .goto(&authorize(&challenge2, "&prompt=none"))
        .await
        .expect("goto");
    let none = wait_for_url(&browser, |u| u.starts_with(&cb)).await;
    assert_eq!(
        param(&none, "error").as_deref(),
        Some("login_required"),
        "{none}"
    );
    assert_eq!(param(&none, "state").as_deref(), Some("st-1"));

    // The same hint from a browser no longer signed in is not this
    // browser's own sign-in: the page asks, and "Stay signed in" goes back.
    browser.goto(&logout).await.expect("goto");
    browser
        .wait()
        .for_element(Locator::Css("button[name=confirm]"))
        .await
        .expect("the confirmation form");
    screenshot(&browser, "end-session", 390).await;
    screenshot(&browser, "end-session", 1280).await;
    click(&browser, "p.switch a").await;
    let back = wait_for_url(&browser, |u| u.starts_with(&bye)).await;
    assert!(back.ends_with("state=out-1"), "{back}");

    // A wrong password shows the form again with a message; then the right
    // one goes straight back (consent is remembered).
    let (verifier3, challenge3) = pkce();
    browser
        .goto(&authorize(&challenge3, ""))
        .await
        .expect("goto");
    fill(&browser, "email", "grace@example.com").await;
    fill(&browser, "password", "not the passphrase").await;
    click(&browser, "button[type=submit]").await;
    let alert = browser
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .expect("an error message")
        .text()
        .await
        .expect("text");
    assert_eq!(alert, "The email or password is incorrect.");
    screenshot(&browser, "sign-in-error", 390).await;
    fill(&browser, "password", PASSWORD).await;
    click(&browser, "button[type=submit]").await;
    let back = wait_for_url(&browser, |u| u.starts_with(&cb)).await;
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    tokens(
        exchange(
            &idp,
            ("photo-prints", Some(&secret)),
            &code,
            &cb,
            &verifier3,
        )
        .await,
    )
    .await;

    // The account page of the signed-in browser: set up an authenticator
    // app (QR code, first code, recovery codes), then sign out.
    browser
        .goto(&format!("{}/account", idp.base))
        .await
        .expect("goto");
    assert!(text_of(&browser).await.contains("grace@example.com"));
    screenshot(&browser, "account", 390).await;
    screenshot(&browser, "account", 1280).await;
    // The application approved on the consent page, with what it may do.
    let apps = browser
        .find(Locator::Css("section[aria-labelledby=apps-heading]"))
        .await
        .expect("the applications section")
        .text()
        .await
        .expect("text");
    assert!(apps.contains("Remove access"), "{apps}");
    browser
        .execute(
            "document.getElementById('apps-heading').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    screenshot(&browser, "account-apps", 390).await;
    browser
        .execute(
            "document.querySelector('form[action=\"/account/manage/sign_out\"]').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    screenshot(&browser, "account-end", 390).await;
    browser
        .execute(
            "document.getElementById('delete-heading').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    screenshot(&browser, "account-delete", 390).await;
    click(&browser, "form[action=\"/account/manage/totp\"] button").await;
    browser
        .wait()
        .for_element(Locator::Css(".qr svg"))
        .await
        .expect("the QR code");
    screenshot(&browser, "totp-enrol", 390).await;
    screenshot(&browser, "totp-enrol", 1280).await;
    click(&browser, "details.manual summary").await;
    screenshot(&browser, "totp-enrol-key", 390).await;
    let source = browser.source().await.expect("source");
    let key = source
        .split("<p class=\"secret\"><code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the key");
    let key = data_encoding::BASE32_NOPAD
        .decode(key.as_bytes())
        .expect("base32");
    let step = idp::accounts::totp::step_at(idp::unix_now());
    fill(&browser, "code", &totp_code(&key, step)).await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Css("ol.codes"))
        .await
        .expect("the recovery codes");
    screenshot(&browser, "recovery-codes", 390).await;
    screenshot(&browser, "recovery-codes", 1280).await;
    click(&browser, "a[href=\"/account?done=totp\"]").await;
    browser
        .wait()
        .for_element(Locator::Css("[role=status]"))
        .await
        .expect("the notice");
    screenshot(&browser, "account-totp-on", 390).await;
    browser
        .execute(
            "document.getElementById('totp-heading').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    screenshot(&browser, "account-totp-codes", 390).await;
    click(&browser, "form[action=\"/account/manage/sign_out\"] button").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'signed out')]"))
        .await
        .expect("signed out");

    browser.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_password_reset_and_email_verification_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let idp = TestIdp::start_with(move |c| c.mail.smtp_url = Some(smtp)).await;
    let rp = relying_party().await;
    let cb = format!("http://{rp}/cb");
    let secret = idp::clients::register_client(
        idp.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "photo-prints".into(),
            redirect_uris: vec![cb.clone()],
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client")
    .client_secret
    .expect("confidential")
    .expose()
    .to_owned();
    // The account has TOTP, enrolled through the JSON API.
    let t = idp.user_tokens("otto@example.com").await;
    let (totp_secret, step, _) =
        enrol_totp(&idp, t["access_token"].as_str().expect("access")).await;

    let browser = driver.browser().await;
    let (verifier, challenge) = pkce();
    browser
        .goto(&format!(
            "{}/authorize?response_type=code&client_id=photo-prints&redirect_uri={}\
             &scope=openid&state=st-2&code_challenge={challenge}&code_challenge_method=S256",
            idp.base,
            form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
        ))
        .await
        .expect("goto");
    fill(&browser, "email", "otto@example.com").await;
    fill(&browser, "password", "correct horse battery").await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Css("input[name=\"code\"]"))
        .await
        .expect("the code page");
    let page = text_of(&browser).await;
    assert!(
        page.contains("Enter your code") && page.contains("recovery codes"),
        "{page}"
    );
    screenshot(&browser, "second-factor", 390).await;
    screenshot(&browser, "second-factor", 1280).await;

    // The code the enrolment used is spent: the page says so and stays.
    fill(&browser, "code", &totp_code(&totp_secret, step)).await;
    click(&browser, "button[type=submit]").await;
    let alert = browser
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .expect("an error message")
        .text()
        .await
        .expect("text");
    assert!(alert.starts_with("That code is not right"), "{alert}");
    screenshot(&browser, "second-factor-error", 390).await;
    fill(&browser, "code", &totp_code(&totp_secret, step + 1)).await;
    click(&browser, "button[type=submit]").await;
    let back = wait_for_url(&browser, |u| u.starts_with(&cb)).await;
    assert_eq!(param(&back, "state").as_deref(), Some("st-2"), "{back}");
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let t =
        tokens(exchange(&idp, ("photo-prints", Some(&secret)), &code, &cb, &verifier).await).await;
    let claims = jwt_part(t["id_token"].as_str().expect("id_token"), 1);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd", "otp"]), json!("aal2"))
    );

    // The verification link mailed at sign-up: a GET shows a button.
    let verify = sink.wait_for(1).await[0].token_for("/account/email/verify");
    browser
        .goto(&format!("{}/account/email/verify?token={verify}", idp.base))
        .await
        .expect("goto");
    screenshot(&browser, "verify-email", 390).await;
    screenshot(&browser, "verify-email", 1280).await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'confirmed')]"))
        .await
        .expect("confirmed");
    screenshot(&browser, "verify-email-done", 390).await;

    // Forgot the password: from the sign-in page to the mailed link.
    let (_, challenge) = pkce();
    browser
        .goto(&format!(
            "{}/authorize?response_type=code&client_id=photo-prints&redirect_uri={}\
             &scope=openid&prompt=login&code_challenge={challenge}&code_challenge_method=S256",
            idp.base,
            form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
        ))
        .await
        .expect("goto");
    click(&browser, "a[href^=\"/account/password/reset?\"]").await;
    browser
        .wait()
        .for_element(Locator::Css("input[autocomplete=\"email\"]"))
        .await
        .expect("the email form");
    screenshot(&browser, "forgot-password", 390).await;
    screenshot(&browser, "forgot-password", 1280).await;
    fill(&browser, "email", "otto@example.com").await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'Check your mail')]"))
        .await
        .expect("check your mail");
    screenshot(&browser, "forgot-password-sent", 390).await;
    let reset = sink.wait_for_subject("Reset your password", 1).await[0]
        .token_for("/account/password/reset/confirm");
    let link = format!("{}/account/password/reset/confirm?token={reset}", idp.base);
    browser.goto(&link).await.expect("goto");
    screenshot(&browser, "reset-password", 390).await;
    screenshot(&browser, "reset-password", 1280).await;
    fill(&browser, "new_password", "short").await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .expect("too short");
    screenshot(&browser, "reset-password-error", 390).await;
    fill(&browser, "new_password", "a brand new passphrase").await;
    click(&browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'password is changed')]"))
        .await
        .expect("changed");
    screenshot(&browser, "reset-password-done", 390).await;
    // This browser asked for the reset from photo-prints' sign-in page: the
    // page leads back there.
    click(&browser, "a[href^=\"/authorize?\"]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'Sign in')]"))
        .await
        .expect("back at the sign-in page");
    let back = text_of(&browser).await;
    assert!(back.contains("photo-prints"), "{back}");
    // The new password is right: the next step is the second factor.
    assert_eq!(
        error_code(
            idp.login("otto@example.com", "a brand new passphrase")
                .await,
            401
        )
        .await,
        "mfa_required"
    );
    browser.goto(&link).await.expect("goto");
    let used = text_of(&browser).await;
    assert!(used.contains("This link no longer works"), "{used}");
    screenshot(&browser, "reset-password-used", 390).await;
    browser.close().await.expect("close");
}
