//! The TOTP second factor end to end: enrolment with an `otpauth://` URI
//! and a QR code, confirmation, login in two steps, the `amr`/`acr` of the
//! tokens, replay of a used code, recovery codes, throttling, and the
//! secret sealed at rest. Codes are computed here from the secret the way
//! an authenticator app does.

mod common;

use common::{error_code, jwt_part, TestIdp};
use idp::accounts::totp;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn code(secret: &[u8], step: u64) -> String {
    totp::code_at(secret, step, totp::DIGITS).to_string()
}

/// Enrols and confirms TOTP for a logged-in user; returns the secret, the
/// step the confirming code used, and the recovery codes.
async fn enrol(idp: &TestIdp, access: &str) -> (Vec<u8>, u64, Vec<String>) {
    let r = idp
        .post_bearer("/account/totp", access, Some(&json!({})))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let enrolment: Value = r.json().await.expect("json");
    let uri = enrolment["otpauth_uri"].as_str().expect("uri");
    let secret_b32 = enrolment["secret"].as_str().expect("secret");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_b32}")), "{uri}");
    assert!(
        uri.contains("digits=6") && uri.contains("period=30"),
        "{uri}"
    );
    let svg = enrolment["qr_svg"].as_str().expect("qr");
    assert!(svg.contains("<svg") && !svg.contains("<script"));
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("base32");

    let wrong = idp
        .post_bearer(
            "/account/totp/confirm",
            access,
            Some(&json!({"code": "000000"})),
        )
        .await;
    // (A one-in-a-million chance that 000000 is right: then the next
    // assertions would catch it as confirmed.)
    assert_eq!(error_code(wrong, 401).await, "invalid_code");
    let step = totp::step_at(idp::unix_now());
    let r = idp
        .post_bearer(
            "/account/totp/confirm",
            access,
            Some(&json!({"code": code(&secret, step)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let confirmed: Value = r.json().await.expect("json");
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, step, codes)
}

async fn login_mfa(idp: &TestIdp, mfa_token: &str, code: &str) -> reqwest::Response {
    idp.http
        .post(idp.url("/login/mfa"))
        .json(&json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await
        .expect("send")
}

/// The password step of a login with TOTP enrolled: its `mfa_token`.
async fn mfa_token(idp: &TestIdp, email: &str) -> String {
    let r = idp.login(email, PASSWORD).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "mfa_required", "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

#[tokio::test]
async fn totp_login_replay_and_recovery_codes() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("otto@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let claims = jwt_part(access, 1);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd"]), json!("aal1"))
    );

    let (secret, step, recovery) = enrol(&idp, access).await;
    let again = idp
        .post_bearer("/account/totp", access, Some(&json!({})))
        .await;
    assert_eq!(error_code(again, 409).await, "totp_enrolled");

    // The confirming code is spent: the same step does not log in.
    let mfa = mfa_token(&idp, "otto@example.com").await;
    let replay = login_mfa(&idp, &mfa, &code(&secret, step)).await;
    assert_eq!(error_code(replay, 401).await, "invalid_code");
    // The next step's code does (one step of tolerance), once.
    let next = code(&secret, step + 1);
    let r = login_mfa(&idp, &mfa, &next).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let signed_in: Value = r.json().await.expect("json");
    let strong = signed_in["access_token"].as_str().expect("access");
    let claims = jwt_part(strong, 1);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd", "otp"]), json!("aal2"))
    );
    assert_eq!(idp.get_bearer("/userinfo", strong).await.status(), 200);
    // The mfa_token is spent too.
    assert_eq!(
        error_code(login_mfa(&idp, &mfa, &next).await, 400).await,
        "invalid_grant"
    );
    let mfa = mfa_token(&idp, "otto@example.com").await;
    assert_eq!(
        error_code(login_mfa(&idp, &mfa, &next).await, 401).await,
        "invalid_code",
        "replayed code"
    );
    // A refreshed token keeps saying how the session began.
    let refreshed: Value = idp
        .refresh(signed_in["refresh_token"].as_str().expect("refresh"))
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_part(refreshed["access_token"].as_str().expect("access"), 1);
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));

    // Recovery codes: each works once, typed loosely.
    let loose = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(login_mfa(&idp, &mfa, &loose).await.status(), 200);
    let mfa = mfa_token(&idp, "otto@example.com").await;
    assert_eq!(
        error_code(login_mfa(&idp, &mfa, &recovery[0]).await, 401).await,
        "invalid_code"
    );
    assert_eq!(login_mfa(&idp, &mfa, &recovery[1]).await.status(), 200);

    // Removing the factor takes a code; then the password alone logs in.
    let r = idp
        .post_bearer(
            "/account/totp/remove",
            strong,
            Some(&json!({"code": "not-a-code"})),
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_code");
    let r = idp
        .post_bearer(
            "/account/totp/remove",
            strong,
            Some(&json!({"code": recovery[2]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(idp.login("otto@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn wrong_codes_spend_the_mfa_token_and_count_like_wrong_passwords() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("wendy@example.com").await;
    let (secret, step, _) = enrol(&idp, tokens["access_token"].as_str().expect("access")).await;
    // A wrong password never reaches the second step.
    assert_eq!(
        error_code(idp.login("wendy@example.com", "wrong password!").await, 401).await,
        "invalid_credentials"
    );
    let mfa = mfa_token(&idp, "wendy@example.com").await;
    let wrong = code(&secret, step + 40);
    for _ in 0..5 {
        assert_eq!(
            error_code(login_mfa(&idp, &mfa, &wrong).await, 401).await,
            "invalid_code"
        );
    }
    // Five wrong codes spend the token, even with the right one now.
    let right = code(&secret, step + 1);
    assert_eq!(
        error_code(login_mfa(&idp, &mfa, &right).await, 400).await,
        "invalid_grant"
    );
    // The account's failure budget (10, as for passwords) runs out too:
    // the wrong confirmation code, the wrong password and 5 wrong codes so
    // far; 3 more, then even the right code waits.
    let mfa = mfa_token(&idp, "wendy@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            error_code(login_mfa(&idp, &mfa, &wrong).await, 401).await,
            "invalid_code"
        );
    }
    let limited = login_mfa(&idp, &mfa, &right).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(error_code(limited, 429).await, "too_many_attempts");
    let r = login_mfa(&idp, "made-up", &right).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    let r = idp
        .http
        .post(idp.url("/login/mfa"))
        .json(&json!({"mfa_token": mfa}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r, 400).await, "invalid_request");
}

#[tokio::test]
async fn totp_secrets_are_sealed_at_rest_with_the_key_encryption_key() {
    let idp = TestIdp::start_with(|c| c.key_encryption_key = Some(KEK.into())).await;
    let tokens = idp.user_tokens("sam@example.com").await;
    let (secret, step, _) = enrol(&idp, tokens["access_token"].as_str().expect("access")).await;
    let conn = rusqlite::Connection::open(idp.db_path()).expect("open");
    let (stored, encrypted): (Vec<u8>, bool) = conn
        .query_row("SELECT secret, encrypted FROM totp_factors", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("row");
    assert!(encrypted);
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_slice()),
        "sealed"
    );
    // And it still works, through the vault.
    let mfa = mfa_token(&idp, "sam@example.com").await;
    assert_eq!(
        login_mfa(&idp, &mfa, &code(&secret, step + 1))
            .await
            .status(),
        200
    );
}

/// A password step's `mfa_token` dies with a cut-off in a later second
/// ("sign out everywhere" here; a reset or a disabling alike): it cannot
/// finish a sign-in the account has since ended.
#[tokio::test]
async fn a_pending_mfa_token_dies_with_a_later_cut_off() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("uma@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let (secret, step, _) = enrol(&idp, access).await;
    let mfa = mfa_token(&idp, "uma@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let store = idp.server.state.store();
    let user = store
        .run(|db| db.user_by_email("uma@example.com"))
        .await
        .expect("read")
        .expect("user");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    idp::accounts::lifecycle::sign_out_everywhere(store, &user.id, now)
        .await
        .expect("signed out everywhere");
    let r = login_mfa(&idp, &mfa, &code(&secret, step + 1)).await;
    assert_eq!(error_code(r, 400).await, "invalid_grant");
    // A new password step works as before.
    let mfa = mfa_token(&idp, "uma@example.com").await;
    assert_eq!(
        login_mfa(&idp, &mfa, &code(&secret, step + 1))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_administrator_removes_the_second_factor_of_a_user_who_lost_it() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("lou@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let id = idp.get_json_bearer("/userinfo", access).await["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    enrol(&idp, access).await;
    mfa_token(&idp, "lou@example.com").await;

    let secret = idp.client("ops", "", true).await;
    let ops = idp.client_token("ops", &secret).await;
    let remove = |id: String| {
        let ops = ops.clone();
        let http = idp.http.clone();
        let url = idp.url(&format!("/admin/users/{id}/totp"));
        async move {
            http.delete(url)
                .bearer_auth(ops)
                .send()
                .await
                .expect("send")
        }
    };
    assert_eq!(remove(id.clone()).await.status(), 204);
    let shown = idp
        .get_json_bearer(&format!("/admin/users/{id}"), &ops)
        .await;
    assert_eq!(shown["totp"], false, "{shown}");
    // The password alone signs in again; the user may enrol anew.
    assert_eq!(idp.login("lou@example.com", PASSWORD).await.status(), 200);
    assert_eq!(
        error_code(remove(id.clone()).await, 404).await,
        "not_found",
        "nothing left to remove"
    );
    assert_eq!(
        error_code(remove("no-such-user".into()).await, 404).await,
        "not_found"
    );
    // Only with scope admin.
    let r = idp
        .http
        .delete(idp.url(&format!("/admin/users/{id}/totp")))
        .bearer_auth(access)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);

    // The command line, for an operator on the database.
    enrol(&idp, access).await;
    let cli = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["users", "remove-totp", "--email", "LOU@example.com", "--db"])
            .arg(idp.db_path())
            .env_remove("IDP_KEY_ENCRYPTION_KEY")
            .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
            .output()
            .expect("cli runs")
    };
    let out = cli();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(idp.login("lou@example.com", PASSWORD).await.status(), 200);
    let again = cli();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("has no second factor"));
}

#[tokio::test]
async fn recovery_codes_are_renewed_with_a_code_and_the_old_ones_stop_working() {
    let idp = TestIdp::start().await;
    let tokens = idp.user_tokens("rob@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    let renew = |code: String| {
        let idp = &idp;
        async move {
            idp.post_bearer(
                "/account/totp/recovery-codes",
                access,
                Some(&json!({ "code": code })),
            )
            .await
        }
    };
    assert_eq!(
        error_code(renew("123456".into()).await, 400).await,
        "invalid_request",
        "no authenticator app yet"
    );
    let (secret, step, old) = enrol(&idp, access).await;
    assert_eq!(
        error_code(renew("000000".into()).await, 401).await,
        "invalid_code"
    );
    let r = renew(code(&secret, step + 1)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.expect("json");
    let new: Vec<String> = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    // At sign-in an old code is refused, a new one accepted.
    let token = mfa_token(&idp, "rob@example.com").await;
    assert_eq!(
        error_code(login_mfa(&idp, &token, &old[0]).await, 401).await,
        "invalid_code"
    );
    let token = mfa_token(&idp, "rob@example.com").await;
    assert_eq!(login_mfa(&idp, &token, &new[0]).await.status(), 200);
}
