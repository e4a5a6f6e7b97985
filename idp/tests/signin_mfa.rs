//! The hosted sign-in with a second factor, over HTTP as a browser drives
//! it: the code page after the right password, wrong codes, the CSRF
//! token, the single-use `mfa_token`, recovery codes, the `amr`/`acr` of
//! code-flow access tokens and ID tokens, single sign-on at `aal2`, and
//! `acr_values=aal2` stepping up a password-only session. `browser.rs`
//! drives the same page in a real Chromium.

mod common;

use common::flow::{
    authorize_url, browser, enrol_totp, exchange, hidden_fields, location, param, pkce, submit,
    tokens, totp_code,
};
use common::{jwt_part, TestIdp};
use serde_json::{json, Value};

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "correct horse battery";

/// An IdP with a confidential client `web` (redirect `CB`); its secret.
async fn idp_with_web_client() -> (TestIdp, String) {
    let idp = TestIdp::start().await;
    let secret = idp
        .register(idp::clients::ClientSpec {
            client_id: "web".into(),
            redirect_uris: vec![CB.into()],
            ..Default::default()
        })
        .await
        .expect("confidential");
    (idp, secret)
}

/// Signs up `email` and enrols TOTP; the secret and the used step.
async fn user_with_totp(idp: &TestIdp, email: &str) -> (Vec<u8>, u64) {
    let t = idp.user_tokens(email).await;
    let (secret, step, _) = enrol_totp(idp, t["access_token"].as_str().expect("access")).await;
    (secret, step)
}

/// `(amr, acr)` of a token's claims.
fn auth_of(claims: &Value) -> (Value, Value) {
    (claims["amr"].clone(), claims["acr"].clone())
}

/// Redeems the code in `back` and returns the access and ID tokens' claims.
async fn redeem(idp: &TestIdp, secret: &str, back: &str, verifier: &str) -> (Value, Value) {
    let code = param(back, "code").expect("code");
    let t = tokens(exchange(idp, ("web", Some(secret)), &code, CB, verifier).await).await;
    (
        jwt_part(t["access_token"].as_str().expect("access"), 1),
        jwt_part(t["id_token"].as_str().expect("id"), 1),
    )
}

/// Opens `url` and signs in with the password; the answer (the code page
/// for an account with TOTP).
async fn password_step(b: &reqwest::Client, idp: &TestIdp, url: &str, email: &str) -> String {
    let page = b.get(url).send().await.expect("authorize");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let answer = submit(
        b,
        idp,
        "/signin",
        &html,
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(answer.status(), 200, "a page, not yet a redirect");
    answer.text().await.expect("html")
}

#[tokio::test]
async fn a_second_factor_is_asked_after_the_password_and_carried_into_the_tokens() {
    let (idp, client_secret) = idp_with_web_client().await;
    let (secret, step) = user_with_totp(&idp, "otto@example.com").await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &idp,
        "web",
        CB,
        &challenge,
        &[("state", "st"), ("nonce", "n1")],
    );
    let page = password_step(&b, &idp, &url, "otto@example.com").await;
    for needle in [
        r#"action="/signin/code""#,
        r#"name="code""#,
        r#"autocomplete="one-time-code""#,
        r#"inputmode="numeric""#,
        r#"name="mfa_token""#,
        r#"name="csrf_token""#,
        "recovery code",
        "otto@example.com",
    ] {
        assert!(page.contains(needle), "{needle} in {page}");
    }
    assert!(!page.contains(PASSWORD) && !page.contains("<script"));
    let fields = hidden_fields(&page);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    assert_eq!(field("state"), "st", "the request travels with the page");
    let mfa_token = field("mfa_token");

    // Without the CSRF token nothing is checked.
    let forged: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| k != "csrf_token")
        .cloned()
        .chain([("code".to_owned(), totp_code(&secret, step + 1))])
        .collect();
    let r = b
        .post(idp.url("/signin/code"))
        .form(&forged)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    // A wrong code (the one enrolment used up) shows the page again.
    let wrong = submit(
        &b,
        &idp,
        "/signin/code",
        &page,
        &[("code", &totp_code(&secret, step))],
    )
    .await;
    assert_eq!(wrong.status(), 200);
    let again = wrong.text().await.expect("html");
    assert!(again.contains("That code is not right"), "{again}");
    assert!(again.contains(&mfa_token), "the same password step");

    // The right one signs in and sends the browser back with a code.
    let right = submit(
        &b,
        &idp,
        "/signin/code",
        &again,
        &[("code", &totp_code(&secret, step + 1))],
    )
    .await;
    assert_eq!(right.status(), 303);
    let back = location(&right);
    assert!(back.starts_with(CB) && param(&back, "state").as_deref() == Some("st"));
    let (access, id) = redeem(&idp, &client_secret, &back, &verifier).await;
    let strong = (json!(["pwd", "otp"]), json!("aal2"));
    assert_eq!(auth_of(&access), strong);
    assert_eq!(auth_of(&id), strong);
    assert_eq!(id["nonce"], "n1");

    // The step is single-use: the same page posted again starts over.
    let replay = submit(
        &b,
        &idp,
        "/signin/code",
        &again,
        &[("code", &totp_code(&secret, step + 2))],
    )
    .await;
    assert_eq!(replay.status(), 200);
    let html = replay.text().await.expect("html");
    assert!(
        html.contains("Sign in again") && html.contains(r#"name="password""#),
        "{html}"
    );

    // Single sign-on keeps the session's aal2.
    let (verifier2, challenge2) = pkce();
    let sso = b
        .get(authorize_url(&idp, "web", CB, &challenge2, &[]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(sso.status(), 303);
    let (access, id) = redeem(&idp, &client_secret, &location(&sso), &verifier2).await;
    assert_eq!(auth_of(&access), strong);
    assert_eq!(auth_of(&id), strong);
}

#[tokio::test]
async fn a_recovery_code_works_and_too_many_wrong_codes_spend_the_step() {
    let (idp, _) = idp_with_web_client().await;
    let t = idp.user_tokens("rita@example.com").await;
    let (secret, step, recovery) =
        enrol_totp(&idp, t["access_token"].as_str().expect("access")).await;
    let recovery = recovery[0].to_uppercase();

    let b = browser();
    let (_, challenge) = pkce();
    let url = authorize_url(&idp, "web", CB, &challenge, &[]);
    let page = password_step(&b, &idp, &url, "rita@example.com").await;
    let r = submit(&b, &idp, "/signin/code", &page, &[("code", &recovery)]).await;
    assert_eq!(r.status(), 303, "a recovery code, typed in capitals");
    assert!(param(&location(&r), "code").is_some());

    // Wrong codes count against the step: after the cap it is spent,
    // whatever comes next.
    let b = browser();
    let page = password_step(&b, &idp, &url, "rita@example.com").await;
    let mut last = String::new();
    for _ in 0..idp::accounts::sign_in::MFA_TOKEN_MAX_FAILURES {
        let r = submit(&b, &idp, "/signin/code", &page, &[("code", "000000")]).await;
        last = r.text().await.expect("html");
    }
    assert!(
        last.contains("Sign in again") || last.contains("Too many"),
        "{last}"
    );
    let r = submit(
        &b,
        &idp,
        "/signin/code",
        &page,
        &[("code", &totp_code(&secret, step + 1))],
    )
    .await;
    assert_ne!(r.status(), 303, "the spent step signs nobody in");
}

#[tokio::test]
async fn acr_values_aal2_steps_up_a_password_session_when_the_account_has_a_factor() {
    let (idp, client_secret) = idp_with_web_client().await;
    // Ann signs in on the browser with her password, then enrols TOTP.
    let t = idp.user_tokens("ann@example.com").await;
    let b = browser();
    let (_, challenge) = pkce();
    let first = b
        .get(authorize_url(&idp, "web", CB, &challenge, &[]))
        .send()
        .await
        .expect("authorize");
    let html = first.text().await.expect("html");
    let r = submit(
        &b,
        &idp,
        "/signin",
        &html,
        &[("email", "ann@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 303, "no factor yet: signed in with a password");
    let (secret, step, _) = enrol_totp(&idp, t["access_token"].as_str().expect("access")).await;

    // Without acr_values the session is reused as it is: aal1.
    let (verifier, challenge) = pkce();
    let sso = b
        .get(authorize_url(&idp, "web", CB, &challenge, &[]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(sso.status(), 303);
    let (access, _) = redeem(&idp, &client_secret, &location(&sso), &verifier).await;
    assert_eq!(auth_of(&access), (json!(["pwd"]), json!("aal1")));

    // prompt=none cannot show a page: the code comes at aal1.
    let silent = b
        .get(authorize_url(
            &idp,
            "web",
            CB,
            &challenge,
            &[("acr_values", "aal2"), ("prompt", "none")],
        ))
        .send()
        .await
        .expect("authorize");
    assert!(param(&location(&silent), "code").is_some());

    // acr_values=aal2 asks for the code, and the session becomes aal2.
    let (verifier, challenge) = pkce();
    let url = authorize_url(&idp, "web", CB, &challenge, &[("acr_values", "aal2")]);
    let page = b.get(&url).send().await.expect("authorize");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"name="code""#) && !html.contains(r#"name="password""#));
    let r = submit(
        &b,
        &idp,
        "/signin/code",
        &html,
        &[("code", &totp_code(&secret, step + 1))],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (access, id) = redeem(&idp, &client_secret, &location(&r), &verifier).await;
    assert_eq!(auth_of(&id), (json!(["pwd", "otp"]), json!("aal2")));
    assert_eq!(auth_of(&access), auth_of(&id));
    let (verifier, challenge) = pkce();
    let again = b
        .get(authorize_url(
            &idp,
            "web",
            CB,
            &challenge,
            &[("acr_values", "aal2")],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(again.status(), 303, "already aal2");
    let (access, _) = redeem(&idp, &client_secret, &location(&again), &verifier).await;
    assert_eq!(auth_of(&access).1, json!("aal2"));

    // An account without a factor gets its code at aal1 (acr is voluntary).
    assert_eq!(idp.signup("bob@example.com", PASSWORD).await.status(), 201);
    let b = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&idp, "web", CB, &challenge, &[("acr_values", "aal2")]);
    let page = b.get(&url).send().await.expect("authorize");
    let html = page.text().await.expect("html");
    let r = submit(
        &b,
        &idp,
        "/signin",
        &html,
        &[("email", "bob@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, id) = redeem(&idp, &client_secret, &location(&r), &verifier).await;
    assert_eq!(auth_of(&id), (json!(["pwd"]), json!("aal1")));
}
