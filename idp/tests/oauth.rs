//! OAuth 2.0 over real HTTP: client_credentials, refresh rotation and reuse
//! detection, revocation, introspection, logout, the admin-only registry.

mod common;

use common::{error_code, jwt_part, TestIdp};
use serde_json::{json, Value};

fn claims_of(token: &str) -> Value {
    jwt_part(token, 1)
}

#[tokio::test]
async fn client_credentials_with_basic_and_with_post() {
    let idp = TestIdp::start().await;
    let secret = idp.client("reports", "api:read api:write", false).await;

    let basic = idp
        .form(
            "/token",
            Some(("reports", &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(basic.status(), 200);
    assert_eq!(basic.headers()["cache-control"], "no-store");
    let body: Value = basic.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read api:write");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let claims = claims_of(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["sub"], "reports");
    assert_eq!(claims["client_id"], "reports");

    let post = idp
        .form(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "reports"),
                ("client_secret", &secret),
                ("scope", "api:read"),
            ],
        )
        .await;
    assert_eq!(post.status(), 200);
    let body: Value = post.json().await.expect("json");
    assert_eq!(body["scope"], "api:read");
}

/// A browser client registered for sign-in scopes, acting as itself, gets
/// its other scopes and never `openid` or `offline_access`: its token has no
/// user behind it.
#[tokio::test]
async fn client_credentials_never_carry_sign_in_scopes() {
    let idp = TestIdp::start().await;
    let secret = idp
        .client("web", "openid profile email offline_access api:read", false)
        .await;
    let basic = Some(("web", secret.as_str()));
    let cc = ("grant_type", "client_credentials");

    let r = idp.form("/token", basic, &[cc]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["scope"], "profile email api:read");
    let claims = claims_of(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["scope"], "profile email api:read");

    for scope in ["openid", "offline_access", "api:read offline_access"] {
        let r = idp.form("/token", basic, &[cc, ("scope", scope)]).await;
        assert_eq!(r.status(), 400, "{scope}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], "invalid_scope", "{scope}");
        let description = body["error_description"].as_str().expect("description");
        assert!(
            description.contains("not for client_credentials"),
            "{scope}: {description}"
        );
    }
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let idp = TestIdp::start().await;
    let secret = idp.client("svc", "api:read", false).await;
    let cc = ("grant_type", "client_credentials");

    let r = idp.form("/token", Some(("svc", &secret)), &[]).await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_request",
        "missing grant_type"
    );
    let r = idp.form("/token", Some(("svc", &secret)), &[cc, cc]).await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_request",
        "repeated parameter"
    );
    let r = idp
        .form(
            "/token",
            Some(("svc", &secret)),
            &[("grant_type", "password")],
        )
        .await;
    assert_eq!(error_code(r, 400).await, "unsupported_grant_type");
    let r = idp
        .http
        .post(idp.url("/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request", "JSON body");

    let r = idp.form("/token", Some(("svc", "wrong")), &[cc]).await;
    let challenge = r.headers().get("www-authenticate").cloned();
    assert_eq!(error_code(r, 401).await, "invalid_client");
    assert!(challenge
        .expect("challenge")
        .to_str()
        .expect("ascii")
        .starts_with("Basic"));
    let r = idp.form("/token", Some(("nobody", &secret)), &[cc]).await;
    assert_eq!(error_code(r, 401).await, "invalid_client");
    let r = idp
        .form(
            "/token",
            None,
            &[cc, ("client_id", "svc"), ("client_secret", "wrong")],
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_client");
    let r = idp.form("/token", None, &[cc]).await;
    assert_eq!(error_code(r, 401).await, "invalid_client", "no credentials");
    let r = idp
        .form(
            "/token",
            Some(("svc", &secret)),
            &[cc, ("client_id", "svc"), ("client_secret", &secret)],
        )
        .await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_request",
        "two auth methods"
    );

    let r = idp
        .form(
            "/token",
            Some(("svc", &secret)),
            &[cc, ("scope", "api:read admin")],
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_scope");
    let r = idp
        .form("/token", Some(("svc", &secret)), &[cc, ("scope", "api")])
        .await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_scope",
        "a prefix is not the scope"
    );

    let r = idp.refresh("made-up").await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let idp = TestIdp::start().await;
    let login = idp.user_tokens("rita@example.com").await;
    let first = login["refresh_token"].as_str().expect("refresh").to_owned();

    let r = idp.refresh(&first).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let rotated: Value = r.json().await.expect("json");
    let second = rotated["refresh_token"]
        .as_str()
        .expect("new refresh")
        .to_owned();
    assert_ne!(second, first);
    let claims = claims_of(rotated["access_token"].as_str().expect("access"));
    assert_eq!(claims["email"], "rita@example.com");
    assert_eq!(
        claims["sid"],
        claims_of(login["access_token"].as_str().expect("a"))["sid"]
    );

    // Narrowing is allowed; widening is not, and does not burn the token.
    let r = idp
        .form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &second),
                ("scope", "profile admin"),
            ],
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_scope");

    let rotated_access = rotated["access_token"].as_str().expect("access");
    assert_eq!(
        idp.get_bearer("/userinfo", rotated_access).await.status(),
        200
    );

    // Replaying the used token: invalid_grant, and the whole family dies,
    // including the legitimately rotated successor and every access token
    // the session was given.
    let r = idp.refresh(&first).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let r = idp.refresh(&second).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    for access in [rotated_access, login["access_token"].as_str().expect("a")] {
        let r = idp.get_bearer("/userinfo", access).await;
        assert_eq!(error_code(r, 401).await, "invalid_token");
    }
}

#[tokio::test]
async fn any_earlier_refresh_token_revokes_the_session_and_a_forged_one_touches_nothing() {
    let idp = TestIdp::start().await;
    let login = idp.user_tokens("gene@example.com").await;
    let mut tokens = vec![login["refresh_token"].as_str().expect("refresh").to_owned()];
    for _ in 0..4 {
        let r = idp.refresh(tokens.last().expect("token")).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        tokens.push(body["refresh_token"].as_str().expect("refresh").to_owned());
    }
    // Family and generation are in the clear; the MAC is not guessable.
    let current = tokens.last().expect("current").clone();
    let parts: Vec<&str> = current.split('.').collect();
    assert_eq!((parts.len(), parts[1]), (4, "4"));
    let forged_earlier = format!("{}.1.{}.AAAAAAAAAAAAAAAAAAAAAA", parts[0], parts[2]);
    let r = idp.refresh(&forged_earlier).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    // A stranger who knows the family id revoked nothing: the owner goes on.
    let r = idp.refresh(&current).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let newest = body["refresh_token"].as_str().expect("refresh").to_owned();
    // The second token ever issued comes back: the session ends.
    let r = idp.refresh(&tokens[1]).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let r = idp.refresh(&newest).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let feed = idp.get_json("/revocations").await;
    let sid = claims_of(login["access_token"].as_str().expect("access"))["sid"].clone();
    assert!(
        feed["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .any(|s| s["sid"] == sid),
        "{feed}"
    );
}

#[tokio::test]
async fn a_client_cannot_use_another_clients_refresh_token() {
    let idp = TestIdp::start().await;
    let secret = idp.client("thief", "profile", false).await;
    let login = idp.user_tokens("vic@example.com").await;
    let refresh = login["refresh_token"].as_str().expect("refresh");
    let r = idp
        .form(
            "/token",
            Some(("thief", &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    // The victim's session is untouched.
    let r = idp.refresh(refresh).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn introspection_needs_a_client_and_reports_only_valid_tokens() {
    let idp = TestIdp::start().await;
    let secret = idp.client("rs", "api:read", false).await;
    let login = idp.user_tokens("ivy@example.com").await;
    let access = login["access_token"].as_str().expect("access");
    let refresh = login["refresh_token"].as_str().expect("refresh");

    let r = idp.form("/introspect", None, &[("token", access)]).await;
    assert_eq!(error_code(r, 401).await, "invalid_client");

    let r = idp
        .form("/introspect", Some(("rs", &secret)), &[("token", access)])
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "profile");
    assert_eq!(body["username"], "ivy@example.com");
    assert_eq!(body["client_id"], "login");
    // Past `exp` the token is inactive, though validation would still
    // allow it the 30 s of clock skew.
    let exp = body["exp"].as_u64().expect("exp");
    let state = &idp.server.state;
    let at = |now| idp::introspection::introspect(state, access, now);
    assert_eq!(at(exp - 1).await.expect("answer")["active"], true);
    assert_eq!(at(exp + 5).await.expect("answer"), json!({"active": false}));

    let r = idp
        .form("/introspect", Some(("rs", &secret)), &[("token", refresh)])
        .await;
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");

    for junk in ["garbage", "a.b.c", &format!("{access}x")] {
        let r = idp
            .form("/introspect", Some(("rs", &secret)), &[("token", junk)])
            .await;
        let body: Value = r.json().await.expect("json");
        assert_eq!(body, json!({"active": false}), "{junk}");
    }
}

#[tokio::test]
async fn revocation_of_access_and_refresh_tokens() {
    let idp = TestIdp::start().await;
    let secret = idp.client("rs", "", false).await;
    let login = idp.user_tokens("max@example.com").await;
    let access = login["access_token"].as_str().expect("access");
    let refresh = login["refresh_token"].as_str().expect("refresh");

    // Unknown tokens: 200 all the same.
    let r = idp
        .form("/revoke", None, &[("token", "never-issued")])
        .await;
    assert_eq!(r.status(), 200);
    let r = idp.form("/revoke", None, &[]).await;
    assert_eq!(error_code(r, 400).await, "invalid_request");

    let r = idp
        .form(
            "/revoke",
            None,
            &[("token", access), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = idp
        .form("/introspect", Some(("rs", &secret)), &[("token", access)])
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"active": false})
    );
    let r = idp.get_bearer("/userinfo", access).await;
    assert_eq!(error_code(r, 401).await, "invalid_token");

    let r = idp.form("/revoke", None, &[("token", refresh)]).await;
    assert_eq!(r.status(), 200);
    let r = idp.refresh(refresh).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");

    // A client's token can be revoked by that client only.
    let other = idp.client("other", "", false).await;
    let token = idp.client_token("rs", &secret).await;
    let r = idp
        .form("/revoke", Some(("other", &other)), &[("token", &token)])
        .await;
    assert_eq!(error_code(r, 400).await, "unauthorized_client");
    let r = idp.form("/revoke", None, &[("token", &token)]).await;
    assert_eq!(
        error_code(r, 401).await,
        "invalid_client",
        "a registered client's token needs that client's credentials"
    );
    let r = idp
        .form("/revoke", Some(("rs", &secret)), &[("token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    let r = idp
        .form("/introspect", Some(("rs", &secret)), &[("token", &token)])
        .await;
    assert_eq!(r.json::<Value>().await.expect("json")["active"], false);

    // A login session's tokens, by anyone holding them: a client too.
    let login = idp.user_tokens("mia@example.com").await;
    for kind in ["access_token", "refresh_token"] {
        let token = login[kind].as_str().expect("token");
        let r = idp
            .form("/revoke", Some(("other", &other)), &[("token", token)])
            .await;
        assert_eq!(r.status(), 200, "{kind}");
    }
    let r = idp
        .refresh(login["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
}

#[tokio::test]
async fn logout_revokes_the_token_and_its_session_and_feeds_it_out() {
    let idp = TestIdp::start().await;
    let login = idp.user_tokens("lou@example.com").await;
    let access = login["access_token"].as_str().expect("access");
    let refresh = login["refresh_token"].as_str().expect("refresh");
    let jti = claims_of(access)["jti"].as_str().expect("jti").to_owned();

    let feed = idp
        .http
        .get(idp.url("/revocations"))
        .send()
        .await
        .expect("send");
    let etag = feed.headers()["etag"].to_str().expect("etag").to_owned();
    let empty: Value = feed.json().await.expect("json");
    assert_eq!(empty["revoked"], json!([]), "{empty}");
    assert!(
        empty["cursor"].is_string(),
        "a cursor to poll from: {empty}"
    );

    let r = idp.get_bearer("/userinfo", access).await;
    assert_eq!(r.status(), 200);
    let profile: Value = r.json().await.expect("json");
    assert_eq!(profile["email"], "lou@example.com");

    let r = idp
        .http
        .post(idp.url("/logout"))
        .send()
        .await
        .expect("send");
    assert_ne!(
        error_code(r, 401).await,
        "invalid_token",
        "no token is not a bad token"
    );
    let r = idp.post_bearer("/logout", access, None).await;
    assert_eq!(r.status(), 200);

    let r = idp.get_bearer("/userinfo", access).await;
    assert_eq!(error_code(r, 401).await, "invalid_token");
    let r = idp.refresh(refresh).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");

    let feed = idp
        .http
        .get(idp.url("/revocations"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(feed.status(), 200, "the feed changed");
    let body: Value = feed.json().await.expect("json");
    assert_eq!(body["revoked"][0]["jti"], jti.as_str());
    assert_eq!(body["revoked"][0]["exp"], claims_of(access)["exp"]);
    // The session is published too, for one access-token lifetime.
    let claims = claims_of(access);
    assert_eq!(body["sessions"][0]["sid"], claims["sid"]);
    let session_exp = body["sessions"][0]["exp"].as_u64().expect("exp");
    assert!(session_exp >= claims["exp"].as_u64().expect("exp"));
    assert!(session_exp <= idp::unix_now() + 900);
}

#[tokio::test]
async fn logout_ends_every_token_of_the_session_not_only_the_one_presented() {
    let idp = TestIdp::start().await;
    let login = idp.user_tokens("sue@example.com").await;
    let refresh = login["refresh_token"].as_str().expect("refresh");
    let r = idp.refresh(refresh).await;
    assert_eq!(r.status(), 200);
    let sibling: Value = r.json().await.expect("json");
    let sibling = sibling["access_token"].as_str().expect("access");
    let other_session = idp.login("sue@example.com", "correct horse battery").await;
    let other_session: Value = other_session.json().await.expect("json");
    let other_session = other_session["access_token"].as_str().expect("access");

    let presented = login["access_token"].as_str().expect("access");
    assert_eq!(
        idp.post_bearer("/logout", presented, None).await.status(),
        200
    );
    for token in [presented, sibling] {
        let r = idp.get_bearer("/userinfo", token).await;
        assert_eq!(error_code(r, 401).await, "invalid_token");
    }
    assert_eq!(
        idp.get_bearer("/userinfo", other_session).await.status(),
        200,
        "another login session of the same user lives on"
    );
}

#[tokio::test]
async fn the_registry_is_admin_only_and_deleted_clients_lose_access() {
    let idp = TestIdp::start().await;
    let admin_secret = idp.client("ops", "", true).await;
    let plain_secret = idp.client("app", "api:read", false).await;
    let admin = idp.client_token("ops", &admin_secret).await;
    let plain = idp.client_token("app", &plain_secret).await;

    let r = idp
        .http
        .get(idp.url("/clients"))
        .send()
        .await
        .expect("send");
    let challenge = r.headers().get("www-authenticate").cloned();
    assert_eq!(r.status(), 401);
    assert!(challenge
        .expect("challenge")
        .to_str()
        .expect("ascii")
        .starts_with("Bearer realm="));
    let r = idp.get_bearer("/clients", &plain).await;
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    let r = idp
        .post_bearer(
            "/clients",
            &plain,
            Some(&json!({"client_id": "sneaky", "scope": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 403);

    let r = idp
        .post_bearer(
            "/clients",
            &admin,
            Some(&json!({"client_id": "billing", "scope": "api:read api:write"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.expect("json");
    let billing_secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(billing_secret.len() >= 43);
    assert_eq!(created["scope"], "api:read api:write");

    let r = idp
        .post_bearer(
            "/clients",
            &admin,
            Some(&json!({"client_id": "billing", "scope": ""})),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "client_exists");
    let r = idp
        .post_bearer(
            "/clients",
            &admin,
            Some(&json!({"client_id": "bad id", "scope": ""})),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_request");

    let listed: Value = idp
        .get_bearer("/clients", &admin)
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = listed["clients"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert_eq!(ids, ["app", "billing", "ops"]);
    let text = listed.to_string();
    assert!(
        !text.contains("\"client_secret\"") && !text.contains("secret_hash"),
        "no secrets or digests listed: {text}"
    );
    let one = idp.get_bearer("/clients/billing", &admin).await;
    assert_eq!(one.status(), 200);

    let billing_token = idp.client_token("billing", &billing_secret).await;
    let r = idp
        .http
        .delete(idp.url("/clients/billing"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    let r = idp
        .http
        .delete(idp.url("/clients/billing"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 404).await, "not_found");
    let r = idp
        .form(
            "/token",
            Some(("billing", &billing_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_client");
    let r = idp
        .form(
            "/introspect",
            Some(("app", &plain_secret)),
            &[("token", &billing_token)],
        )
        .await;
    assert_eq!(r.json::<Value>().await.expect("json")["active"], false);
}

#[tokio::test]
async fn keys_rotate_over_http_for_admins() {
    let idp = TestIdp::start().await;
    let secret = idp.client("ops", "", true).await;
    let admin = idp.client_token("ops", &secret).await;
    let before: Value = idp
        .get_bearer("/admin/keys", &admin)
        .await
        .json()
        .await
        .expect("json");

    let r = idp.post_bearer("/admin/keys/rotate", &admin, None).await;
    assert_eq!(
        error_code(r, 409).await,
        "rotation_refused",
        "next key too young"
    );

    let r = idp
        .post_bearer("/admin/keys/rotate", &admin, Some(&json!({"force": true})))
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.expect("json");
    let next_before = before["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["state"] == "next")
        .expect("next")["kid"]
        .clone();
    assert_eq!(rotated["promoted"], next_before);
    assert_eq!(rotated["keys"].as_array().expect("keys").len(), 3);

    // New tokens carry the new kid; the admin token from before still works.
    let fresh = idp.client_token("ops", &secret).await;
    assert_eq!(jwt_part(&fresh, 0)["kid"], next_before);
    assert_eq!(idp.get_bearer("/admin/keys", &admin).await.status(), 200);
}

#[tokio::test]
async fn userinfo_needs_the_profile_scope() {
    let idp = TestIdp::start().await;
    let secret = idp.client("svc", "api:read", false).await;
    let token = idp.client_token("svc", &secret).await;
    let r = idp.get_bearer("/userinfo", &token).await;
    assert_eq!(r.status(), 403);
}
