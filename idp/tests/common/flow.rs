//! The authorization code flow driven over plain HTTP, as a browser would
//! (a cookie jar, no automatic redirects, form posts), plus the PKCE and
//! token-exchange steps of a relying party.

use serde_json::Value;

use super::TestIdp;

/// A browser: keeps cookies, follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A fresh PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = idp::secret::random_secret().expose().to_owned();
    let challenge = idp::pkce::challenge_of(&verifier);
    (verifier, challenge)
}

/// `/authorize?...` for `client` and `redirect_uri` with `challenge`, plus `extra`.
pub fn authorize_url(
    idp: &TestIdp,
    client: &str,
    redirect_uri: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if !extra.iter().any(|(k, _)| *k == "scope") {
        query.append_pair("scope", "openid profile email");
    }
    for (k, v) in extra {
        query.append_pair(k, v);
    }
    idp.url(&format!("/authorize?{}", query.finish()))
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// One query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The `name`/`value` of every `<input type="hidden">` in a page.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = start + tag[start..].find('"')?;
                Some(unescape(&tag[start..end]))
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

/// Undoes HTML escaping: the named entities askama writes and decimal
/// character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Posts a page's form to `path`: its hidden fields plus `fields`.
pub async fn submit(
    browser: &reqwest::Client,
    idp: &TestIdp,
    path: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = hidden_fields(page);
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser
        .post(idp.url(path))
        .form(&form)
        .send()
        .await
        .expect("form post")
}

/// Exchanges a code; `client` is `(id, Some(secret))` for a confidential
/// client (HTTP Basic) or `(id, None)` for a public one.
pub async fn exchange(
    idp: &TestIdp,
    client: (&str, Option<&str>),
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let basic = match client {
        (id, Some(secret)) => Some((id, secret)),
        (id, None) => {
            params.push(("client_id", id));
            None
        }
    };
    idp.form("/token", basic, &params).await
}

/// Signs in on a fresh authorization request and returns the code's
/// redirect (after consent, when the page asks and `allow` is set).
pub async fn sign_in_for_code(
    browser: &reqwest::Client,
    idp: &TestIdp,
    url: &str,
    email: &str,
    password: &str,
) -> String {
    let page = browser.get(url).send().await.expect("authorize");
    assert_eq!(page.status(), 200, "the sign-in page");
    let html = page.text().await.expect("html");
    let answer = submit(
        browser,
        idp,
        "/signin",
        &html,
        &[("email", email), ("password", password)],
    )
    .await;
    assert_eq!(answer.status(), 303, "signed in and sent back");
    location(&answer)
}

/// The JSON body of a successful token response.
pub async fn tokens(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.expect("token JSON")
}

/// Enrols and confirms TOTP for the holder of `access` through the JSON
/// API; the secret (to compute codes the way an authenticator app does)
/// the TOTP step its confirming code used up, and the recovery codes.
pub async fn enrol_totp(idp: &TestIdp, access: &str) -> (Vec<u8>, u64, Vec<String>) {
    let r = idp
        .post_bearer("/account/totp", access, Some(&serde_json::json!({})))
        .await;
    assert_eq!(r.status(), 200);
    let enrolment: Value = r.json().await.expect("json");
    let secret = data_encoding::BASE32_NOPAD
        .decode(enrolment["secret"].as_str().expect("secret").as_bytes())
        .expect("base32");
    let step = idp::accounts::totp::step_at(idp::unix_now());
    let r = idp
        .post_bearer(
            "/account/totp/confirm",
            access,
            Some(&serde_json::json!({"code": totp_code(&secret, step)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let confirmed: Value = r.json().await.expect("json");
    let codes = confirmed["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (secret, step, codes)
}

/// The TOTP code of `secret` at `step`.
pub fn totp_code(secret: &[u8], step: u64) -> String {
    idp::accounts::totp::code_at(secret, step, idp::accounts::totp::DIGITS).to_string()
}
