//! Redirect URIs: which ones a client may register, and whether a request's
//! `redirect_uri` is one of them.
//!
//! Matching is exact, character for character (RFC 9700 §4.1.3), with one
//! exception from RFC 8252 §7.3: a public (native) client registered with
//! a loopback IP redirect (`http://127.0.0.1/cb`, `http://[::1]/cb`) may
//! come back on any port, since the operating system picks it at run time.
//! Nothing else is pattern-matched: no prefixes, no wildcards.
//!
//! What may be registered (the same rules serve post-logout redirects):
//! - `https://` URIs;
//! - `http://` only on a loopback host (`127.0.0.1`, `[::1]`, `localhost`),
//!   for development and native apps;
//! - private-use schemes of native apps (RFC 8252 §7.1), which must be a
//!   reverse domain name such as `com.example.app:/callback` (a dot in the
//!   scheme), so that `javascript:`, `data:` or `file:` can never be one.
//!
//! Every URI must be absolute, without a fragment (RFC 6749 §3.1.2) and
//! without user information, and at most 2,000 characters.

use url::{Host, Url};

/// The longest URI accepted.
pub const MAX_URI_LEN: usize = 2000;

/// Why a URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not an absolute URI, or too long.
    #[error("must be an absolute URI of at most 2000 characters")]
    NotAbsolute,
    /// Has a `#fragment`.
    #[error("must not have a fragment")]
    Fragment,
    /// Has `user:password@`.
    #[error("must not carry user information")]
    UserInfo,
    /// `http://` to a host that is not loopback.
    #[error("http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https")]
    InsecureHttp,
    /// A scheme that is neither https, loopback http, nor a reverse-domain
    /// private-use scheme.
    #[error("the scheme must be https, http on loopback, or a reverse-domain scheme such as com.example.app")]
    Scheme,
}

/// Checks a URI for registration as a (post-logout) redirect URI.
pub fn validate(uri: &str) -> Result<(), UriError> {
    if uri.len() > MAX_URI_LEN || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UriError::NotAbsolute);
    }
    let parsed = Url::parse(uri).map_err(|_| UriError::NotAbsolute)?;
    if uri.contains('#') || parsed.fragment().is_some() {
        return Err(UriError::Fragment);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UriError::UserInfo);
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if is_loopback(&parsed, true) => Ok(()),
        "http" => Err(UriError::InsecureHttp),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(UriError::Scheme),
    }
}

/// Whether the URL's host is loopback: an IP literal, or also the name
/// `localhost` when `name_too`.
fn is_loopback(url: &Url, name_too: bool) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name_too && name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `requested` is one of `registered`: exactly, or, when
/// `loopback_any_port` (public clients), as a loopback IP `http` redirect
/// that differs from a registered one in its port alone.
pub fn matches(registered: &[String], requested: &str, loopback_any_port: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if !loopback_any_port {
        return false;
    }
    let Some(requested) = loopback_without_port(requested) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback_without_port(r))
        .any(|r| r == requested)
}

/// A loopback IP `http` URL with its port removed, for comparison; `None`
/// for anything else. The input must already be in the parser's normal
/// form (it is compared again after parsing), so that `http://127.0.0.1:80/`
/// and friends cannot sneak past by spelling.
fn loopback_without_port(uri: &str) -> Option<String> {
    let mut url = Url::parse(uri).ok()?;
    if url.scheme() != "http" || !is_loopback(&url, false) || url.fragment().is_some() {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let port = url.port();
    // Port 0 is "pick one" when listening, never where a client listens.
    if port == Some(0) {
        return None;
    }
    url.set_port(None).ok()?;
    let bare = url.to_string();
    // The original must be the normal form plus at most its port.
    let normal = match port {
        Some(p) => {
            let mut with = url.clone();
            with.set_port(Some(p)).ok()?;
            with.to_string()
        }
        None => bare.clone(),
    };
    (normal == uri).then_some(bare)
}

/// The origin of a URI for a `Content-Security-Policy` source list
/// (`https://app.example:8443`, or `com.example.app:` for a private-use
/// scheme), or `None` if it has none worth naming.
pub fn csp_source(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => {
            let origin = url.origin().ascii_serialization();
            (origin != "null").then_some(origin)
        }
        scheme => Some(format!("{scheme}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:8000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        let refused = [
            ("/cb", UriError::NotAbsolute),
            ("app.example/cb", UriError::NotAbsolute),
            ("https://app.example/cb#x", UriError::Fragment),
            ("https://user:pw@app.example/cb", UriError::UserInfo),
            ("http://app.example/cb", UriError::InsecureHttp),
            ("javascript:alert(1)", UriError::Scheme),
            ("data:text/html,hi", UriError::Scheme),
            ("file:///etc/passwd", UriError::Scheme),
            ("https://app.example/c b", UriError::NotAbsolute),
        ];
        for (uri, why) in refused {
            assert_eq!(validate(uri), Err(why), "{uri}");
        }
    }

    fn reg(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn matching_is_exact_for_everything_but_loopback_ports_of_public_clients() {
        let web = reg(&["https://app.example/cb"]);
        assert!(matches(&web, "https://app.example/cb", false));
        for near in [
            "https://app.example/cb/",
            "https://app.example/cb/extra",
            "https://app.example/c",
            "https://app.example/cb?x=1",
            "https://app.example:444/cb",
            "http://app.example/cb",
            "https://APP.example/cb",
            "https://app.example.evil/cb",
        ] {
            assert!(!matches(&web, near, true), "{near}");
        }
        let native = reg(&["http://127.0.0.1/cb", "http://[::1]:7/cb"]);
        assert!(matches(&native, "http://127.0.0.1:51234/cb", true));
        assert!(matches(&native, "http://[::1]:9/cb", true));
        assert!(!matches(&native, "http://127.0.0.1:51234/cb", false));
        assert!(!matches(&native, "http://127.0.0.1:51234/cb/x", true));
        assert!(!matches(&native, "http://127.0.0.1:51234/cb#f", true));
        assert!(!matches(&native, "https://127.0.0.1:51234/cb", true));
        assert!(!matches(&native, "http://127.0.0.2:51234/cb", true));
        assert!(!matches(&native, "http://127.0.0.1:0/cb", true));
        // localhost is a name, not a loopback IP: exact only (RFC 8252 §8.3).
        let named = reg(&["http://localhost/cb"]);
        assert!(!matches(&named, "http://localhost:5000/cb", true));
    }

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://app.example:8443/cb?x").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
