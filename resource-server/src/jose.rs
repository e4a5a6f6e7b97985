//! Reading a compact JWS (RFC 7515 §7.1) before anything is trusted: the
//! three segments, the JOSE header, the decoded payload. Access tokens and
//! DPoP proofs both go through here.
//!
//! Everything is checked for shape only: exactly three non-empty segments of
//! unpadded base64url, a header and a payload that are JSON *objects* (RFC
//! 7515 §4 and RFC 7519 §7.2; serde would otherwise accept a JSON array for
//! a struct, field by field), and no duplicate header members that this
//! crate reads. Signatures are verified by the caller, with a key it chose.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

use crate::alg::Algorithm;
use crate::jwk::Jwk;

/// The segments of a compact JWS, borrowed from the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact<'a> {
    /// The base64url header segment.
    pub(crate) header: &'a str,
    /// The base64url payload segment.
    pub(crate) payload: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    /// The base64url signature segment.
    pub(crate) signature: &'a str,
}

/// Exactly three non-empty segments of unpadded base64url characters.
pub(crate) fn split(token: &str) -> Option<Compact<'_>> {
    // One pass without early exit over the characters (the compiler turns
    // it into vector code), then the dots, found word by word.
    let allowed = token.bytes().fold(true, |ok, b| {
        ok & matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.')
    });
    if !allowed {
        return None;
    }
    let first = token.find('.')?;
    let second = first + 1 + token[first + 1..].find('.')?;
    if first == 0 || second == first + 1 || second + 1 == token.len() {
        return None;
    }
    if token[second + 1..].contains('.') {
        return None;
    }
    Some(Compact {
        header: &token[..first],
        payload: &token[first + 1..second],
        signing_input: &token[..second],
        signature: &token[second + 1..],
    })
}

/// Decodes one base64url segment (canonical, unpadded).
pub(crate) fn decode(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

/// Whether `json` is a JSON object: its first non-whitespace byte is `{`.
/// (Whether the rest is well-formed is serde's to say.)
pub(crate) fn is_object(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

/// Parses a decoded segment as a JSON object into `T`.
pub(crate) fn object<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    if !is_object(json) {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// The header members this crate looks at, borrowed from the decoded
/// segment where possible. Unknown members are ignored (`jku`, `x5u`, `x5c`
/// included: keys come only from the trusted set); a repeated known member
/// makes the header invalid.
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) typ: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) kid: Option<Cow<'a, str>>,
    /// Present at all (whatever its value) means refuse: this crate
    /// understands no extension, and RFC 7515 §4.1.11 says to reject then.
    #[serde(default, deserialize_with = "present")]
    pub(crate) crit: bool,
    /// The public key a DPoP proof carries (RFC 9449 §4.2). Access tokens'
    /// embedded keys are never used.
    #[serde(default)]
    pub(crate) jwk: Option<Box<Jwk>>,
}

impl Header<'_> {
    /// The algorithm, if it is one this crate verifies.
    pub(crate) fn algorithm(&self) -> Option<Algorithm> {
        Algorithm::from_name(&self.alg)
    }
}

/// `true` for any value, `null` included; an absent member stays `false`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

/// Parses a decoded header segment: a JSON object with an `alg`.
pub(crate) fn header(json: &[u8]) -> Option<Header<'_>> {
    if !is_object(json) {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// A media type such as `typ`, compared as RFC 7515 §4.1.9 says: case-
/// insensitively, with or without the `application/` prefix.
pub(crate) fn media_type_is(value: &str, name: &str) -> bool {
    value.eq_ignore_ascii_case(name)
        || matches!(
            (value.get(..12), value.get(12..)),
            (Some(prefix), Some(rest))
                if prefix.eq_ignore_ascii_case("application/") && rest.eq_ignore_ascii_case(name)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_base64url_segments_pass() {
        for bad in [
            "", ".", "..", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c=", "a+b.c.d",
            "a/b.c.d", "a b.c.d", "a.b.c\n", "ä.b.c", "...",
        ] {
            assert!(split(bad).is_none(), "{bad:?} accepted");
        }
        let parts = split("aB-_0.x.Y9").expect("valid");
        assert_eq!(
            (parts.header, parts.payload, parts.signature),
            ("aB-_0", "x", "Y9")
        );
        assert_eq!(parts.signing_input, "aB-_0.x");
    }

    #[test]
    fn headers_and_payloads_must_be_objects() {
        assert!(header(br#"{"alg":"RS256"}"#).is_some());
        assert!(header(b" \n{\"alg\":\"RS256\"}").is_some());
        // RFC 7515 §5.2: serde would fill the struct from an array.
        assert!(header(br#"["RS256","at+jwt","k"]"#).is_none());
        assert!(header(br#"["RS256"]"#).is_none());
        assert!(header(b"\"RS256\"").is_none());
        assert!(header(b"null").is_none());
        assert!(header(br#"{"typ":"at+jwt"}"#).is_none(), "alg is required");
        assert!(header(br#"{"alg":"RS256","alg":"none"}"#).is_none());
        assert!(object::<serde_json::Value>(br#"[1,2]"#).is_none());
        assert!(object::<serde_json::Value>(br#"{"a":1}"#).is_some());
    }

    #[test]
    fn crit_in_any_form_is_noticed() {
        for crit in [r#"["exp"]"#, "[]", "null", "1"] {
            let json = format!(r#"{{"alg":"RS256","crit":{crit}}}"#);
            assert!(header(json.as_bytes()).expect("parses").crit, "{crit}");
        }
        assert!(!header(br#"{"alg":"RS256"}"#).expect("parses").crit);
    }

    #[test]
    fn media_types() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert!(media_type_is(typ, "at+jwt"), "{typ}");
        }
        for typ in ["JWT", "at+jwt ", "at+jwt;x", "", "applicationXat+jwt", "é"] {
            assert!(!media_type_is(typ, "at+jwt"), "{typ}");
        }
        assert!(
            !media_type_is("éééééééééééééééééé", "jwt"),
            "non-ASCII must not panic"
        );
    }
}
