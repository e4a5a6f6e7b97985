//! The authorization code flow over HTTP, as a browser and a relying party
//! drive it: codes, PKCE, redirect URIs, CSRF, consent, `prompt`, ID
//! tokens, `/userinfo`, `/end_session`, and what resource servers do with
//! the tokens when a code is replayed. `browser.rs` drives the same pages
//! in a real Chromium.

mod common;

use std::time::{Duration, Instant};

use common::flow::{
    authorize_url, browser, exchange, location, param, pkce, query_of, sign_in_for_code, submit,
    tokens,
};
use common::{error_code, jwt_part, TestIdp, TestRs};
use serde_json::{json, Value};

const CB: &str = "https://app.example/cb";
const PASSWORD: &str = "correct horse battery";

/// An IdP with a confidential web client `web` (redirect `CB`, scope
/// `api:read`, post-logout `https://app.example/bye`) and a user.
async fn idp_with_web_client() -> (TestIdp, String) {
    let idp = TestIdp::start().await;
    let registered = idp::clients::register_client(
        idp.server.state.store(),
        &idp::clients::ClientSpec {
            client_id: "web".into(),
            scope: "api:read".into(),
            redirect_uris: vec![CB.into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            ..Default::default()
        },
        0,
    )
    .await
    .expect("client");
    let secret = registered
        .client_secret
        .expect("confidential")
        .expose()
        .to_owned();
    assert_eq!(idp.signup("ann@example.com", PASSWORD).await.status(), 201);
    (idp, secret)
}

/// A browser signs ann in and brings back a code for `web`: the PKCE
/// verifier and the code.
async fn code_for_ann(idp: &TestIdp) -> (String, String) {
    let b = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(idp, "web", CB, &challenge, &[]);
    let code = param(
        &sign_in_for_code(&b, idp, &url, "ann@example.com", PASSWORD).await,
        "code",
    )
    .expect("code");
    (verifier, code)
}

async fn register(idp: &TestIdp, spec: idp::clients::ClientSpec) -> Option<String> {
    idp.register(spec).await
}

/// A public client `spa`: loopback redirects on any port, and a
/// post-logout URI.
async fn register_spa(idp: &TestIdp) {
    register(
        idp,
        idp::clients::ClientSpec {
            client_id: "spa".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            public: true,
            post_logout_redirect_uris: vec!["http://127.0.0.1:3000/bye".into()],
            ..Default::default()
        },
    )
    .await;
}

/// GET `url` in the browser `b`.
async fn open(b: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    b.get(url).send().await.expect("authorize")
}

/// `r` is a `303` back to `CB` with `error`, `state` and the issuer.
fn assert_sent_back(idp: &TestIdp, r: &reqwest::Response, error: &str, state: &str, why: &str) {
    assert_eq!(r.status(), 303, "{why}");
    let back = location(r);
    assert!(back.starts_with(CB), "{why}: {back}");
    assert_eq!(param(&back, "error").as_deref(), Some(error), "{why}");
    assert_eq!(param(&back, "state").as_deref(), Some(state), "{why}");
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(idp.base.as_str()),
        "{why}"
    );
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_code_flow_gives_an_id_token_and_single_sign_on() {
    let (idp, secret) = idp_with_web_client().await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let state = "a b&c=d/é?";
    let url = authorize_url(
        &idp,
        "web",
        CB,
        &challenge,
        &[
            ("state", state),
            ("nonce", "n-0S6"),
            ("login_hint", "ann@example.com"),
        ],
    );
    let page = open(&b, &url).await;
    assert_eq!(page.status(), 200);
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.expect("html");
    for needle in [
        r#"name="email""#,
        r#"autocomplete="username""#,
        r#"name="password""#,
        r#"autocomplete="current-password""#,
        r#"name="csrf_token""#,
        r#"value="ann@example.com""#,
        "/signup?",
        "<script",
    ] {
        assert_eq!(html.contains(needle), needle != "<script", "{needle}");
    }
    let answer = submit(
        &b,
        &idp,
        "/signin",
        &html,
        &[("email", "ann@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(answer.status(), 303);
    let set_cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("idp_session="))
        .expect("session cookie");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let back = location(&answer);
    assert!(back.starts_with(CB), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state),
        "state comes back unchanged"
    );
    assert_eq!(param(&back, "iss").as_deref(), Some(idp.base.as_str()));
    let code = param(&back, "code").expect("code");

    let t = tokens(exchange(&idp, ("web", Some(&secret)), &code, CB, &verifier).await).await;
    assert!(
        t["refresh_token"].is_null(),
        "no offline_access, no refresh token"
    );
    assert_eq!(t["scope"], "openid profile email");
    let access = t["access_token"].as_str().expect("access");
    let id_token = t["id_token"].as_str().expect("id_token");
    let header = jwt_part(id_token, 0);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("RS256"), Some("JWT"))
    );
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["iss"], idp.base.as_str());
    assert_eq!(
        (claims["aud"].as_str(), claims["azp"].as_str()),
        (Some("web"), Some("web"))
    );
    assert_eq!(claims["nonce"], "n-0S6");
    assert_eq!(claims["at_hash"], idp::id_tokens::at_hash(access).as_str());
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["name"], "Test User");
    assert!(claims["auth_time"].is_u64() && claims["sid"].is_string() && claims["exp"].is_u64());
    let access_claims = jwt_part(access, 1);
    assert_eq!(jwt_part(access, 0)["typ"], "at+jwt");
    assert_eq!(access_claims["client_id"], "web");
    assert_eq!(access_claims["aud"], idp.base.as_str());
    assert_eq!(access_claims["sub"], claims["sub"]);

    let info: Value = idp
        .get_bearer("/userinfo", access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        info,
        json!({"sub": claims["sub"], "email": "ann@example.com", "email_verified": false, "name": "Test User"})
    );
    let posted = idp.post_bearer("/userinfo", access, None).await;
    assert_eq!(posted.status(), 200);
    // A user's claims are for the caller alone: no cache keeps them.
    assert_eq!(posted.headers()["cache-control"], "no-store");
    // The authorization request as a form post (OIDC Core §3.1.2.1).
    let (_, challenge3) = pkce();
    let url = authorize_url(&idp, "web", CB, &challenge3, &[]);
    let query = url.split_once('?').expect("query").1.to_owned();
    let form = b
        .post(idp.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .expect("post");
    assert_eq!(form.status(), 303, "signed in: straight back with a code");
    assert!(param(&location(&form), "code").is_some());

    // Single sign-on: the next request skips the form.
    let (verifier2, challenge2) = pkce();
    let again = open(
        &b,
        authorize_url(&idp, "web", CB, &challenge2, &[("scope", "openid")]),
    )
    .await;
    assert_eq!(again.status(), 303, "no form the second time");
    let code2 = param(&location(&again), "code").expect("code");
    let t2 = tokens(exchange(&idp, ("web", Some(&secret)), &code2, CB, &verifier2).await).await;
    let claims2 = jwt_part(t2["id_token"].as_str().expect("id"), 1);
    assert_eq!(claims2["sid"], claims["sid"], "one browser session");
    assert!(claims2.get("email").is_none() && claims2.get("nonce").is_none());
    // The openid scope alone discloses no profile.
    let info: Value = idp
        .get_bearer("/userinfo", t2["access_token"].as_str().expect("access"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(info, json!({"sub": claims["sub"]}));

    // prompt=login asks again even with a session; prompt=none answers at once.
    let login = open(
        &b,
        authorize_url(&idp, "web", CB, &challenge2, &[("prompt", "login")]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let none = open(
        &b,
        authorize_url(&idp, "web", CB, &challenge2, &[("prompt", "none")]),
    )
    .await;
    assert!(param(&location(&none), "code").is_some());
    // A login_hint naming the signed-in account (in any case) changes
    // nothing; one naming another account is not answered with this one's
    // code: login_required under prompt=none, the sign-in form otherwise.
    let again =
        |extra: &[(&str, &str)]| open(&b, authorize_url(&idp, "web", CB, &challenge2, extra));
    let same = again(&[("prompt", "none"), ("login_hint", "ANN@example.com")]).await;
    assert!(param(&location(&same), "code").is_some());
    let other = again(&[
        ("prompt", "none"),
        ("login_hint", "bob@example.com"),
        ("state", "h1"),
    ])
    .await;
    assert_sent_back(
        &idp,
        &other,
        "login_required",
        "h1",
        "another account hinted",
    );
    let form = again(&[("prompt", "consent"), ("login_hint", "bob@example.com")]).await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.expect("html");
    assert!(html.contains("bob@example.com"), "the form is pre-filled");
    // id_token_hint: this account's ID token fits; anything not an ID
    // token of this IdP is refused.
    let fits = again(&[("prompt", "none"), ("id_token_hint", id_token)]).await;
    assert!(param(&location(&fits), "code").is_some());
    let forged_hint = format!("{id_token}x");
    let forged = again(&[
        ("prompt", "none"),
        ("id_token_hint", &forged_hint),
        ("state", "h2"),
    ])
    .await;
    assert_sent_back(&idp, &forged, "invalid_request", "h2", "not an ID token");
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked() {
    let (idp, secret) = idp_with_web_client().await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let base = |extra: &str| {
        format!(
            "{}/authorize?response_type=code&client_id=web&redirect_uri={}&scope=openid&state=xyz{extra}",
            idp.base,
            form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
        )
    };
    for (extra, why) in [
        (String::new(), "missing"),
        (
            format!("&code_challenge={challenge}"),
            "method missing (plain)",
        ),
        (
            format!("&code_challenge={challenge}&code_challenge_method=plain"),
            "plain",
        ),
        (
            "&code_challenge=short&code_challenge_method=S256".into(),
            "malformed",
        ),
    ] {
        let r = open(&b, base(&extra)).await;
        assert_sent_back(&idp, &r, "invalid_request", "xyz", why);
    }
    let url = authorize_url(&idp, "web", CB, &challenge, &[]);
    let back = sign_in_for_code(&b, &idp, &url, "ann@example.com", PASSWORD).await;
    let code = param(&back, "code").expect("code");
    let (other_verifier, _) = pkce();
    let wrong = exchange(&idp, ("web", Some(&secret)), &code, CB, &other_verifier).await;
    assert_eq!(error_code(wrong, 400).await, "invalid_grant");
    let no_verifier = idp
        .form(
            "/token",
            Some(("web", &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
        )
        .await;
    assert_eq!(error_code(no_verifier, 400).await, "invalid_request");
    let wrong_redirect = exchange(
        &idp,
        ("web", Some(&secret)),
        &code,
        "https://app.example/cb2",
        &verifier,
    )
    .await;
    assert_eq!(error_code(wrong_redirect, 400).await, "invalid_grant");
    // A wrong verifier did not burn the code for its rightful owner.
    tokens(exchange(&idp, ("web", Some(&secret)), &code, CB, &verifier).await).await;
}

/// The sign-in forms' targets opened by address (a reload, a bookmark): a
/// page saying to start again, never JSON.
#[tokio::test]
async fn opening_a_sign_in_form_address_shows_a_page() {
    let (idp, _) = idp_with_web_client().await;
    for path in ["/signin", "/signin/code", "/consent"] {
        let r = browser().get(idp.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(header(&r, "allow"), "POST", "{path}");
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        let page = r.text().await.expect("html");
        assert!(page.contains("This sign-in page has expired"), "{path}");
    }
}

/// OIDC Core §6: request objects are refused by name, also when repeated.
#[tokio::test]
async fn request_objects_are_refused_once_or_repeated() {
    let (idp, _) = idp_with_web_client().await;
    let b = browser();
    let (_, challenge) = pkce();
    let url = authorize_url(&idp, "web", CB, &challenge, &[("state", "ro")]);
    for (extra, error) in [
        ("&request=a.b.c", "request_not_supported"),
        ("&request=a.b.c&request=d.e.f", "request_not_supported"),
        ("&request_uri=urn%3Ax", "request_uri_not_supported"),
        (
            "&request_uri=urn%3Ax&request_uri=urn%3Ay",
            "request_uri_not_supported",
        ),
    ] {
        let r = open(&b, format!("{url}{extra}")).await;
        assert_sent_back(&idp, &r, error, "ro", extra);
    }
}

#[tokio::test]
async fn redirect_uris_match_exactly_and_unknown_ones_get_a_page_not_a_redirect() {
    let (idp, _) = idp_with_web_client().await;
    register(
        &idp,
        idp::clients::ClientSpec {
            client_id: "native".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            public: true,
            ..Default::default()
        },
    )
    .await;
    register(
        &idp,
        idp::clients::ClientSpec {
            client_id: "dev".into(),
            redirect_uris: vec!["http://127.0.0.1:8000/cb".into()],
            ..Default::default()
        },
    )
    .await;
    let b = browser();
    let (_, challenge) = pkce();
    let refused = [
        ("nobody", CB),
        ("web", "https://app.example/cb/extra"),
        ("web", "https://app.example/c"),
        ("web", "https://app.example/cb?x=1"),
        ("web", "https://app.example:8443/cb"),
        ("web", "http://app.example/cb"),
        ("web", "https://evil.example/cb"),
        ("web", "https://app.example.evil.example/cb"),
        ("dev", "http://127.0.0.1:8001/cb"),
        ("native", "http://127.0.0.1:5000/cb/x"),
        ("native", "http://localhost:5000/cb"),
    ];
    for (client, uri) in refused {
        let r = open(
            &b,
            authorize_url(&idp, client, uri, &challenge, &[("state", "s")]),
        )
        .await;
        assert_eq!(r.status(), 400, "{client} {uri}");
        assert!(
            r.headers().get("location").is_none(),
            "{client} {uri}: never a redirect"
        );
        assert!(header(&r, "content-type").starts_with("text/html"));
        assert!(header(&r, "content-security-policy").contains("frame-ancestors 'none'"));
    }
    for (client, uri) in [
        ("web", CB),
        ("native", "http://127.0.0.1:5000/cb"),
        ("native", "http://127.0.0.1/cb"),
        ("dev", "http://127.0.0.1:8000/cb"),
    ] {
        let r = open(&b, authorize_url(&idp, client, uri, &challenge, &[])).await;
        assert_eq!(r.status(), 200, "{client} {uri}");
    }
}

#[tokio::test]
async fn every_form_needs_its_csrf_token_and_a_wrong_password_shows_the_form_again() {
    let (idp, _) = idp_with_web_client().await;
    let b = browser();
    let (_, challenge) = pkce();
    let page = open(&b, authorize_url(&idp, "web", CB, &challenge, &[])).await;
    let html = page.text().await.expect("html");
    let without: Vec<(String, String)> = common::flow::hidden_fields(&html)
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .chain([
            ("email".into(), "ann@example.com".into()),
            ("password".into(), PASSWORD.into()),
        ])
        .collect();
    for path in ["/signin", "/signup", "/consent"] {
        let r = b
            .post(idp.url(path))
            .form(&without)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403, "{path} without a CSRF token");
        assert!(header(&r, "content-type").starts_with("text/html"));
    }
    let mut forged = without.clone();
    forged.push(("csrf_token".into(), "A".repeat(43)));
    let r = b
        .post(idp.url("/signin"))
        .form(&forged)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "a token that is not the cookie's");
    // Another browser (no CSRF cookie) posting this page's token.
    let r = browser()
        .post(idp.url("/signin"))
        .form(&common::flow::hidden_fields(&html))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "a token without its cookie");

    let mut messages = Vec::new();
    for email in ["ann@example.com", "nobody@example.com"] {
        let r = submit(
            &b,
            &idp,
            "/signin",
            &html,
            &[("email", email), ("password", "wrong password")],
        )
        .await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("location").is_none());
        let text = r.text().await.expect("html");
        assert!(text.contains(r#"role="alert""#) && text.contains(r#"name="password""#));
        messages.push(text.replace(email, "EMAIL"));
    }
    assert_eq!(
        messages[0], messages[1],
        "unknown email and wrong password read alike"
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens_at_the_resource_server() {
    let poll = Duration::from_millis(500);
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    let secret = register(
        &idp,
        idp::clients::ClientSpec {
            client_id: "web".into(),
            redirect_uris: vec![CB.into()],
            ..Default::default()
        },
    )
    .await
    .expect("secret");
    assert_eq!(idp.signup("ann@example.com", PASSWORD).await.status(), 201);
    let rs = TestRs::start(
        &idp.base,
        Duration::from_secs(30),
        Duration::from_secs(10),
        poll,
    )
    .await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &idp,
        "web",
        CB,
        &challenge,
        &[("scope", "openid profile offline_access")],
    );
    let code = param(
        &sign_in_for_code(&b, &idp, &url, "ann@example.com", PASSWORD).await,
        "code",
    )
    .expect("code");
    let t = tokens(exchange(&idp, ("web", Some(&secret)), &code, CB, &verifier).await).await;
    let access = t["access_token"].as_str().expect("access").to_owned();
    let refresh = t["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_owned();
    let profile = || {
        idp.http
            .get(rs.url("/user/profile"))
            .bearer_auth(&access)
            .send()
    };
    assert_eq!(
        profile().await.expect("send").status(),
        200,
        "valid at the resource server"
    );

    let replay = exchange(&idp, ("web", Some(&secret)), &code, CB, &verifier).await;
    assert_eq!(error_code(replay, 400).await, "invalid_grant");
    let replayed = Instant::now();
    loop {
        let status = profile().await.expect("send").status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            replayed.elapsed() < poll * 6,
            "still accepted after the replay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        idp.get_bearer("/userinfo", &access).await.status(),
        401,
        "and at the IdP"
    );
    let r = idp
        .form(
            "/token",
            Some(("web", &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_grant",
        "its refresh token is revoked too"
    );
}

#[tokio::test]
async fn a_code_not_yet_redeemed_dies_with_the_user_s_other_sessions() {
    let (idp, secret) = idp_with_web_client().await;
    let (verifier, code) = code_for_ann(&idp).await;
    // The password changes elsewhere (an API login session) before the
    // code is redeemed: every other session ends, this code's grant too.
    let login = idp.login("ann@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.expect("tokens");
    let access = login["access_token"].as_str().expect("access");
    let changed = idp
        .post_bearer(
            "/account/password",
            access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let late = exchange(&idp, ("web", Some(&secret)), &code, CB, &verifier).await;
    assert_eq!(error_code(late, 400).await, "invalid_grant");
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_expires() {
    let (idp, secret) = idp_with_web_client().await;
    let other_secret = register(
        &idp,
        idp::clients::ClientSpec {
            client_id: "other".into(),
            redirect_uris: vec![CB.into()],
            ..Default::default()
        },
    )
    .await
    .expect("secret");
    let (verifier, code) = code_for_ann(&idp).await;
    let stolen = exchange(&idp, ("other", Some(&other_secret)), &code, CB, &verifier).await;
    assert_eq!(error_code(stolen, 400).await, "invalid_grant");
    let unauthenticated = exchange(&idp, ("web", None), &code, CB, &verifier).await;
    assert_eq!(
        error_code(unauthenticated, 401).await,
        "invalid_client",
        "a confidential client must authenticate"
    );

    // Expiry: the same code, presented 61 s after it was issued.
    let state = &idp.server.state;
    let client = state
        .store()
        .run(|db| db.client("web"))
        .await
        .expect("read")
        .expect("client");
    let redemption = |now| {
        idp::code_grant::exchange(
            state,
            &client,
            idp::code_grant::CodeRedemption {
                code: &code,
                redirect_uri: CB,
                code_verifier: &verifier,
                api: None,
                dpop_jkt: None,
            },
            now,
        )
    };
    let late = redemption(idp::unix_now() + idp::authorization::CODE_TTL + 1).await;
    assert!(matches!(late, Err(idp::Error::InvalidGrant(_))), "{late:?}");
    // In time it still works (the late attempt changed nothing), once.
    redemption(idp::unix_now()).await.expect("in time");
    let _ = secret;
}

#[tokio::test]
async fn consent_is_asked_once_and_deny_and_prompt_none_answer_by_redirect() {
    let (idp, _) = idp_with_web_client().await;
    let secret = register(
        &idp,
        idp::clients::ClientSpec {
            client_id: "partner".into(),
            redirect_uris: vec![CB.into()],
            consent: true,
            ..Default::default()
        },
    )
    .await
    .expect("secret");
    let b = browser();
    let (verifier, challenge) = pkce();
    let none = b
        .get(authorize_url(
            &idp,
            "partner",
            CB,
            &challenge,
            &[("prompt", "none"), ("state", "p1")],
        ))
        .send()
        .await
        .expect("authorize");
    let back = location(&none);
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&back, "state").as_deref(), Some("p1"));

    let url = authorize_url(&idp, "partner", CB, &challenge, &[("state", "p2")]);
    let page = open(&b, &url).await.text().await.expect("html");
    let consent = submit(
        &b,
        &idp,
        "/signin",
        &page,
        &[("email", "ann@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(consent.status(), 200, "the consent page");
    let html = consent.text().await.expect("html");
    assert!(
        html.contains(r#"name="decision" value="allow""#)
            && html.contains(r#"name="decision" value="deny""#)
    );
    assert!(html.contains("See your email address"));
    let denied = submit(&b, &idp, "/consent", &html, &[("decision", "deny")]).await;
    let back = location(&denied);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("p2"));
    assert_eq!(param(&back, "iss").as_deref(), Some(idp.base.as_str()));

    let none = open(
        &b,
        authorize_url(&idp, "partner", CB, &challenge, &[("prompt", "none")]),
    )
    .await;
    assert_eq!(
        param(&location(&none), "error").as_deref(),
        Some("consent_required")
    );
    let page = open(&b, &url).await;
    assert_eq!(page.status(), 200, "signed in, so straight to consent");
    let html = page.text().await.expect("html");
    let allowed = submit(&b, &idp, "/consent", &html, &[("decision", "allow")]).await;
    let code = param(&location(&allowed), "code").expect("code");
    tokens(exchange(&idp, ("partner", Some(&secret)), &code, CB, &verifier).await).await;
    // Remembered for this scope set: no page, even with prompt=none ...
    let none = open(
        &b,
        authorize_url(&idp, "partner", CB, &challenge, &[("prompt", "none")]),
    )
    .await;
    assert!(param(&location(&none), "code").is_some());
    // ... but a new scope set asks again, and prompt=consent always does.
    for extra in [
        [("scope", "openid"), ("state", "x")],
        [("prompt", "consent"), ("state", "y")],
    ] {
        let r = open(&b, authorize_url(&idp, "partner", CB, &challenge, &extra)).await;
        assert_eq!(r.status(), 200, "{extra:?}");
        assert!(r.text().await.expect("html").contains(r#"value="allow""#));
    }
    // A scope the client does not have is refused by redirect.
    let r = open(
        &b,
        authorize_url(
            &idp,
            "partner",
            CB,
            &challenge,
            &[("scope", "openid admin")],
        ),
    )
    .await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn public_clients_use_pkce_alone_and_end_session_ends_everything() {
    let idp = TestIdp::start_with(|c| c.key_poll = Duration::from_millis(200)).await;
    register_spa(&idp).await;
    assert_eq!(idp.signup("ann@example.com", PASSWORD).await.status(), 201);
    let b = browser();
    let (verifier, challenge) = pkce();
    let cb = "http://127.0.0.1:4321/cb";
    let url = authorize_url(
        &idp,
        "spa",
        cb,
        &challenge,
        &[("scope", "openid offline_access")],
    );
    let code = param(
        &sign_in_for_code(&b, &idp, &url, "ann@example.com", PASSWORD).await,
        "code",
    )
    .expect("code");
    let t = tokens(exchange(&idp, ("spa", None), &code, cb, &verifier).await).await;
    let access = t["access_token"].as_str().expect("access");
    let refresh = t["refresh_token"].as_str().expect("refresh");
    let id_token = t["id_token"].as_str().expect("id");
    // A public client refreshes with its client_id alone.
    let refreshed = idp
        .form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "spa"),
            ],
        )
        .await;
    let refreshed = tokens(refreshed).await;
    let refresh = refreshed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    let sibling = refreshed["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    // A secret for a public client is refused.
    let r = idp
        .form(
            "/token",
            Some(("spa", "guess")),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_client");

    // Without a hint the user confirms with a form.
    let confirm = b
        .get(idp.url("/end_session"))
        .send()
        .await
        .expect("end_session");
    assert_eq!(confirm.status(), 200);
    assert!(confirm
        .text()
        .await
        .expect("html")
        .contains(r#"name="csrf_token""#));
    // With a hint: at once, back to the registered URI with state.
    let logout = format!(
        "/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye1",
        form_urlencoded::byte_serialize(b"http://127.0.0.1:3000/bye").collect::<String>()
    );
    let r = b.get(idp.url(&logout)).send().await.expect("end_session");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:3000/bye?state=bye1");
    let cleared = header(&r, "set-cookie");
    assert!(
        cleared.starts_with("idp_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // Every token of the session stops working, the refreshed ones included.
    for token in [access, sibling.as_str()] {
        assert_eq!(idp.get_bearer("/userinfo", token).await.status(), 401);
    }
    let r = idp
        .form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "spa"),
            ],
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let feed = idp.get_json("/revocations").await;
    assert_eq!(feed["sessions"].as_array().map(Vec::len), Some(1), "{feed}");
    let none = open(
        &b,
        authorize_url(&idp, "spa", cb, &challenge, &[("prompt", "none")]),
    )
    .await;
    assert_eq!(
        param(&location(&none), "error").as_deref(),
        Some("login_required")
    );
    // An unregistered post-logout URI is refused with a page.
    let bad = format!("/end_session?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F");
    let r = b.get(idp.url(&bad)).send().await.expect("end_session");
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

/// RP-Initiated Logout §2: a hint that does not name the browser's own
/// sign-in (another user's ID token, or any ID token from a browser with no
/// session) ends nothing until the user confirms; confirming ends the
/// browser's session and the hinted one.
#[tokio::test]
async fn a_hint_that_is_not_the_browser_s_own_is_confirmed_first() {
    let idp = TestIdp::start().await;
    register_spa(&idp).await;
    let cb = "http://127.0.0.1:4321/cb";
    let sign_in = |email: &'static str| {
        let idp = &idp;
        async move {
            assert_eq!(idp.signup(email, PASSWORD).await.status(), 201);
            let b = browser();
            let (verifier, challenge) = pkce();
            let url = authorize_url(idp, "spa", cb, &challenge, &[("scope", "openid")]);
            let code = param(
                &sign_in_for_code(&b, idp, &url, email, PASSWORD).await,
                "code",
            )
            .expect("code");
            let t = tokens(exchange(idp, ("spa", None), &code, cb, &verifier).await).await;
            (b, t["id_token"].as_str().expect("id token").to_owned())
        }
    };
    let (ann, ann_hint) = sign_in("ann@example.com").await;
    let (bob, bob_hint) = sign_in("bob@example.com").await;
    let signed_in = |b: &reqwest::Client| {
        let b = b.clone();
        let (_, challenge) = pkce();
        let url = authorize_url(&idp, "spa", cb, &challenge, &[("prompt", "none")]);
        async move { param(&location(&open(&b, url).await), "code").is_some() }
    };
    let logout = |hint: &str| {
        format!(
            "/end_session?id_token_hint={hint}&post_logout_redirect_uri={}&state=s1",
            form_urlencoded::byte_serialize(b"http://127.0.0.1:3000/bye").collect::<String>()
        )
    };

    // Bob's hint in Ann's browser, and Ann's hint in a browser without a
    // session: a page asking, naming the application, and nobody signed out.
    for (b, hint) in [(&ann, &bob_hint), (&browser(), &ann_hint)] {
        let r = b
            .get(idp.url(&logout(hint)))
            .send()
            .await
            .expect("end_session");
        assert_eq!(r.status(), 200);
        let cookie = r.headers().get("set-cookie").cloned();
        assert!(
            cookie.is_none_or(|c| !c.as_bytes().starts_with(b"idp_session=")),
            "nothing cleared"
        );
        let page = r.text().await.expect("html");
        assert!(
            page.contains("<strong>spa</strong> asks you to sign out"),
            "{page}"
        );
        assert!(
            page.contains(r#"href="http://127.0.0.1:3000/bye?state=s1">Stay signed in"#),
            "{page}"
        );
    }
    assert!(signed_in(&ann).await, "Ann is still signed in");
    assert!(signed_in(&bob).await, "Bob is still signed in");

    // Ann confirms on the page Bob's hint brought: her browser's session
    // ends, and so does the session the hint names.
    let page = ann
        .get(idp.url(&logout(&bob_hint)))
        .send()
        .await
        .expect("end_session")
        .text()
        .await
        .expect("html");
    let r = submit(&ann, &idp, "/end_session", &page, &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:3000/bye?state=s1");
    assert!(!signed_in(&ann).await, "Ann's browser is signed out");
    assert!(!signed_in(&bob).await, "the hinted session ended");
}

#[tokio::test]
async fn the_registry_takes_and_shows_browser_settings() {
    let idp = TestIdp::start().await;
    let admin_secret = idp.client("ops", "", true).await;
    let admin = idp.client_token("ops", &admin_secret).await;
    let body = json!({
        "client_id": "spa",
        "redirect_uris": ["https://spa.example/cb"],
        "token_endpoint_auth_method": "none",
        "consent": true,
        "post_logout_redirect_uris": ["https://spa.example/"],
    });
    let r = idp.post_bearer("/clients", &admin, Some(&body)).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    let shown: Value = idp
        .get_bearer("/clients/spa", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown["redirect_uris"], json!(["https://spa.example/cb"]));
    assert_eq!(
        shown["post_logout_redirect_uris"],
        json!(["https://spa.example/"])
    );
    assert_eq!(shown["consent"], true);
    let web = json!({"client_id": "web", "redirect_uris": ["https://web.example/cb"]});
    let r = idp.post_bearer("/clients", &admin, Some(&web)).await;
    let created: Value = r.json().await.expect("json");
    assert!(created["client_secret"].is_string());
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    for bad in [
        json!({"client_id": "x", "redirect_uris": ["https://a.example/cb#f"]}),
        json!({"client_id": "x", "redirect_uris": ["/relative"]}),
        json!({"client_id": "x", "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"client_id": "x", "token_endpoint_auth_method": "none"}),
        json!({"client_id": "x", "redirect_uri": "https://a.example/cb"}),
    ] {
        let r = idp.post_bearer("/clients", &admin, Some(&bad)).await;
        assert_eq!(error_code(r, 400).await, "invalid_request", "{bad}");
    }
}

#[tokio::test]
async fn discovery_advertises_exactly_the_code_flow() {
    let idp = TestIdp::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc = idp.get_json(path).await;
        assert_eq!(
            doc["authorization_endpoint"],
            idp.url("/authorize").as_str()
        );
        assert_eq!(
            doc["end_session_endpoint"],
            idp.url("/end_session").as_str()
        );
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert!(doc.get("registration_endpoint").is_none());
        assert!(doc
            .get("token_endpoint_auth_signing_alg_values_supported")
            .is_none());
        assert!(doc["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&json!("openid")));
    }
    let _ = query_of;
}

/// `aud` as a list, whether the token wrote one string or an array.
fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|a| a.as_str().expect("string").to_owned())
            .collect(),
        other => panic!("aud is {other}"),
    }
}

/// RFC 8707 in the code flow: the API named at `/authorize` is the only
/// audience of the code's access token and of every refresh's; the token
/// requests may name it again but not another (and a refused one spends
/// neither the code nor the refresh token); an unknown one goes back to
/// the client before anyone signs in.
#[tokio::test]
async fn a_resource_named_at_authorize_is_the_audience_of_the_grant_s_tokens() {
    const API: &str = "https://api.example.com";
    const OTHER: &str = "https://other.example.com";
    let (idp, secret) = idp_with_web_client().await;
    for (resource, scope) in [(API, "api:read"), (OTHER, "")] {
        idp::apis::register(idp.server.state.store(), resource, scope, 0)
            .await
            .expect("api");
    }
    let b = browser();
    for bad in [
        "https://unknown.example.com",
        "not-absolute",
        "https://api.example.com#fragment",
    ] {
        let (_, challenge) = pkce();
        let url = authorize_url(
            &idp,
            "web",
            CB,
            &challenge,
            &[("resource", bad), ("state", "s1")],
        );
        let r = open(&b, url).await;
        assert_sent_back(&idp, &r, "invalid_target", "s1", bad);
    }

    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &idp,
        "web",
        CB,
        &challenge,
        &[
            ("scope", "openid profile offline_access api:read"),
            ("resource", API),
        ],
    );
    let back = sign_in_for_code(&b, &idp, &url, "ann@example.com", PASSWORD).await;
    let code = param(&back, "code").expect("code");
    let redeem = |resource: Option<&'static str>| {
        let (idp, secret, code, verifier) = (&idp, &secret, &code, &verifier);
        async move {
            let mut params = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CB),
                ("code_verifier", verifier.as_str()),
            ];
            params.extend(resource.map(|r| ("resource", r)));
            idp.form("/token", Some(("web", secret)), &params).await
        }
    };
    assert_eq!(
        error_code(redeem(Some(OTHER)).await, 400).await,
        "invalid_target"
    );
    let issued = tokens(redeem(Some(API)).await).await;
    let access = jwt_part(issued["access_token"].as_str().expect("token"), 1);
    assert_eq!(audiences(&access), [API]);
    assert_eq!(
        access["scope"], "api:read",
        "narrowed to what the API offers"
    );
    let id_token = jwt_part(issued["id_token"].as_str().expect("id token"), 1);
    assert_eq!(
        audiences(&id_token),
        ["web"],
        "the ID token is the client's"
    );

    let refresh = |token: String, resource: Option<&'static str>| {
        let (idp, secret) = (&idp, &secret);
        async move {
            let mut params = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            params.extend(resource.map(|r| ("resource", r)));
            idp.form("/token", Some(("web", secret)), &params).await
        }
    };
    let first = issued["refresh_token"]
        .as_str()
        .expect("offline_access")
        .to_owned();
    let refused = refresh(first.clone(), Some(OTHER)).await;
    assert_eq!(error_code(refused, 400).await, "invalid_target");
    let again = tokens(refresh(first, None).await).await;
    let access = jwt_part(again["access_token"].as_str().expect("token"), 1);
    assert_eq!(audiences(&access), [API], "the refresh keeps the API");
    let named = tokens(
        refresh(
            again["refresh_token"].as_str().expect("rotated").to_owned(),
            Some(API),
        )
        .await,
    )
    .await;
    let access = jwt_part(named["access_token"].as_str().expect("token"), 1);
    assert_eq!(audiences(&access), [API]);

    // Authorized for no API: the token request may name any registered one.
    let (verifier, challenge) = pkce();
    let r = open(&b, authorize_url(&idp, "web", CB, &challenge, &[])).await;
    assert_eq!(r.status(), 303, "single sign-on");
    let code = param(&location(&r), "code").expect("code");
    let issued = tokens(
        idp.form(
            "/token",
            Some(("web", &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
                ("resource", OTHER),
            ],
        )
        .await,
    )
    .await;
    let access = jwt_part(issued["access_token"].as_str().expect("token"), 1);
    assert_eq!(audiences(&access), [OTHER]);
}
