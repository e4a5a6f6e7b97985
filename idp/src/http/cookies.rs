//! The two cookies of the sign-in pages, read and written in one place.
//! On an https issuer their names carry the `__Host-` prefix: the browser
//! then takes them only from this origin over https with `Path=/` and no
//! `Domain`, so a sibling subdomain or a plain-http page cannot plant a
//! session or a CSRF token of its choosing (login CSRF, session fixation).
//!
//! - `idp_session` names the browser session (`browser_sessions.rs`):
//!   `HttpOnly`, `SameSite=Lax` (so it comes along on the top-level GET that
//!   brings the browser back to `/authorize` from an application), `Secure`
//!   when the issuer is https, for the session's lifetime.
//! - `idp_csrf` holds the CSRF token every form repeats in its hidden
//!   `csrf_token` field (double submit). `SameSite=Lax` already keeps it
//!   off cross-site POSTs; the field check refuses any POST a page of this
//!   IdP did not render, whatever the browser does with `SameSite`.
//! - `idp_resume` remembers, for the quarter hour a reset link lives and
//!   time to read the mail, the authorization request a browser was
//!   signing in for when it asked for a password reset, so that the page
//!   confirming the new password (opened from the mail in the same browser)
//!   leads back to the application. It holds the request's query string,
//!   base64url; the request is checked again, as any other, when followed.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq as _;

use crate::secret::{random_secret, Secret};

/// The session cookie's name over http (a development issuer).
const SESSION: &str = "idp_session";
/// The CSRF cookie's name over http.
const CSRF: &str = "idp_csrf";

/// The session cookie's name: `__Host-`-prefixed when `secure`.
pub fn session_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_session"
    } else {
        SESSION
    }
}

/// The CSRF cookie's name: `__Host-`-prefixed when `secure`.
fn csrf_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_csrf"
    } else {
        CSRF
    }
}

/// The resume cookie's name: `__Host-`-prefixed when `secure`.
fn resume_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_resume"
    } else {
        "idp_resume"
    }
}

/// The longest authorization request (its query string) the resume cookie
/// carries; a longer one is not remembered.
const MAX_RESUME: usize = 2048;

/// How long the resume cookie lives, seconds: the reset link's 15 minutes
/// and time to read the mail.
const RESUME_TTL: u64 = 1800;

/// The `Set-Cookie` remembering the authorization request `query`, unless
/// it is longer than the cookie carries.
pub fn set_resume(query: &str, secure: bool) -> Option<HeaderValue> {
    (query.len() <= MAX_RESUME).then(|| {
        let value = URL_SAFE_NO_PAD.encode(query);
        set(resume_name(secure), value, secure, Some(RESUME_TTL))
    })
}

/// The authorization request's query string the resume cookie holds, if it
/// holds one well formed.
pub fn resume(headers: &HeaderMap, secure: bool) -> Option<String> {
    let mut found = cookie_values(headers, resume_name(secure));
    let value = found.next()?;
    if found.next().is_some() || value.len() > MAX_RESUME.div_ceil(3) * 4 {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()
}

/// Removes the resume cookie.
pub fn clear_resume(secure: bool) -> HeaderValue {
    set(resume_name(secure), String::new(), secure, Some(0))
}

/// The browser session cookie's value, if well formed.
pub fn session(headers: &HeaderMap, secure: bool) -> Option<String> {
    read(headers, session_name(secure))
}
/// The hidden form field that repeats the CSRF cookie.
pub const CSRF_FIELD: &str = "csrf_token";

/// The value of cookie `name`, if the request sent exactly one that looks
/// like ours (43 base64url characters): a value of another shape is
/// treated as absent.
fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = cookie_values(headers, name);
    let value = found.next()?;
    let well_formed = value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (well_formed && found.next().is_none()).then_some(value)
}

/// Every value the request sent for cookie `name`.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value.
fn set(name: &'static str, value: String, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    if let Some(seconds) = max_age {
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(seconds).unwrap_or(i64::MAX),
        ));
    }
    // A cookie built from base64url text always is a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Sets the session cookie for `ttl` seconds.
pub fn set_session(value: &Secret, secure: bool, ttl: u64) -> HeaderValue {
    set(
        session_name(secure),
        value.expose().to_owned(),
        secure,
        Some(ttl),
    )
}

/// Removes the session cookie.
pub fn clear_session(secure: bool) -> HeaderValue {
    set(session_name(secure), String::new(), secure, Some(0))
}

/// The browser's CSRF token, and the `Set-Cookie` that gives it one when
/// it has none yet.
pub fn csrf_token(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    match read(headers, csrf_name(secure)) {
        Some(token) => (token, None),
        None => {
            let token = random_secret().expose().to_owned();
            let cookie = set(csrf_name(secure), token.clone(), secure, None);
            (token, Some(cookie))
        }
    }
}

/// Whether the form's `submitted` token is the browser's CSRF cookie.
pub fn csrf_matches(headers: &HeaderMap, secure: bool, submitted: Option<&str>) -> bool {
    match (read(headers, csrf_name(secure)), submitted) {
        (Some(cookie), Some(field)) => bool::from(cookie.as_bytes().ct_eq(field.as_bytes())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).expect("ascii"));
        h
    }

    #[test]
    fn the_resume_cookie_carries_a_request_back_and_nothing_oversized() {
        let query = "client_id=notes&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=a+b";
        let set = set_resume(query, true).expect("short enough");
        let pair = set
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair");
        assert!(pair.starts_with("__Host-idp_resume="), "{pair}");
        assert_eq!(resume(&with_cookie(pair), true).as_deref(), Some(query));
        // Read under its own name only, once, and only as base64url.
        assert_eq!(resume(&with_cookie(pair), false), None);
        assert_eq!(resume(&with_cookie(&format!("{pair}; {pair}")), true), None);
        assert_eq!(
            resume(&with_cookie("__Host-idp_resume=not*base64"), true),
            None
        );
        assert!(set_resume(&"x".repeat(MAX_RESUME + 1), true).is_none());
        assert!(clear_resume(true)
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"));
    }

    #[test]
    fn reads_only_well_formed_single_values() {
        let token = "a".repeat(43);
        let h = with_cookie(&format!("other=1; {CSRF}={token}"));
        assert_eq!(read(&h, CSRF).as_deref(), Some(token.as_str()));
        assert!(csrf_matches(&h, false, Some(&token)));
        assert!(!csrf_matches(&h, false, Some(&"b".repeat(43))));
        assert!(!csrf_matches(&h, false, None));
        assert!(read(&with_cookie(&format!("{CSRF}=short")), CSRF).is_none());
        let twice = with_cookie(&format!("{CSRF}={token}; {CSRF}={token}"));
        assert!(read(&twice, CSRF).is_none());
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_on_https() {
        let secret = Secret::new("v".repeat(43));
        let set = set_session(&secret, true, 60);
        let text = set.to_str().expect("ascii");
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(text.starts_with("__Host-idp_session="), "{text}");
        let plain = set_session(&secret, false, 60);
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
        assert!(plain.to_str().expect("ascii").starts_with("idp_session="));
    }

    #[test]
    fn on_https_only_host_prefixed_cookies_count() {
        let token = "a".repeat(43);
        // Planted by a sibling subdomain or an http page: unprefixed.
        let planted = with_cookie(&format!("{CSRF}={token}; {SESSION}={token}"));
        assert!(!csrf_matches(&planted, true, Some(&token)));
        assert!(session(&planted, true).is_none());
        let ours = with_cookie(&format!(
            "__Host-idp_csrf={token}; __Host-idp_session={token}"
        ));
        assert!(csrf_matches(&ours, true, Some(&token)));
        assert_eq!(session(&ours, true).as_deref(), Some(token.as_str()));
        let (_, set) = csrf_token(&HeaderMap::new(), true);
        let set = set.expect("a new token");
        assert!(set.to_str().expect("ascii").starts_with("__Host-idp_csrf="));
    }
}
