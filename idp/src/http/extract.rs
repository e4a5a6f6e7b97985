//! Reading requests: JSON and form bodies, HTTP Basic credentials, DPoP
//! proof headers. Every malformed input becomes an [`Error`] (a 4xx), and
//! no description ever echoes a submitted value.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::BODY_LIMIT;
use crate::error::Error;

/// `Json<T>` whose rejections are the API's JSON errors: 415 for a missing
/// or wrong content type, 413 for an oversized body, 400 for bad syntax or
/// missing or mistyped fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| body_rejection(rejection.status()))?;
        parse_json(&parts.headers, &bytes).map(Self)
    }
}

/// The error for a body that could not be read (too large, or broken).
fn body_rejection(status: StatusCode) -> Error {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(BODY_LIMIT)
    } else {
        Error::invalid_request("the body could not be read")
    }
}

/// What the `Authorization` header says, for endpoints that take HTTP Basic.
pub enum BasicAuth {
    /// No `Authorization` header.
    Absent,
    /// `Basic` credentials: the part before the first `:` and the rest.
    Credentials(String, Zeroizing<String>),
    /// Another scheme (`Bearer`, ...).
    OtherScheme,
    /// Not valid `Basic` credentials (bad base64, no `:`, not UTF-8).
    Malformed,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BasicAuth::Absent => f.write_str("Absent"),
            BasicAuth::Credentials(user, _) => write!(f, "Credentials({user:?}, <hidden>)"),
            BasicAuth::OtherScheme => f.write_str("OtherScheme"),
            BasicAuth::Malformed => f.write_str("Malformed"),
        }
    }
}

/// Reads `Authorization: Basic` (RFC 7617), scheme case-insensitive. Two
/// `Authorization` headers are malformed: which one counts is not for the
/// server to guess.
pub fn basic_auth(headers: &HeaderMap) -> BasicAuth {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return BasicAuth::Absent;
    };
    if values.next().is_some() {
        return BasicAuth::Malformed;
    }
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return BasicAuth::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return BasicAuth::OtherScheme;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()).map(Zeroizing::new) else {
        return BasicAuth::Malformed;
    };
    match std::str::from_utf8(&decoded)
        .ok()
        .and_then(|t| t.split_once(':'))
    {
        Some((user, password)) => {
            BasicAuth::Credentials(user.to_owned(), Zeroizing::new(password.to_owned()))
        }
        None => BasicAuth::Malformed,
    }
}

/// Whether the request says its body is JSON (`application/json`, or any
/// `+json` type, parameters allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|v| {
        v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
    })
}

/// The media type of the body, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

/// Parses a JSON body into `T`. Error descriptions name the field and what
/// was wrong with it, and never echo a submitted value.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Error> {
    if !is_json(headers) {
        return Err(Error::UnsupportedMediaType("application/json"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return Error::invalid_request("the body is not valid JSON");
        }
        let message = inner.to_string();
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Error::invalid_request(format!("missing field `{field}`"))
        } else if path == "." {
            Error::invalid_request("the body must be a JSON object with the documented fields")
        } else {
            Error::invalid_request(format!("field `{path}` has the wrong type or value"))
        }
    })?;
    deserializer
        .end()
        .map_err(|_| Error::invalid_request("the body is not valid JSON"))?;
    Ok(value)
}

/// A parsed `application/x-www-form-urlencoded` body: each parameter at
/// most once. Values are wiped on drop (they carry secrets).
pub struct Form(HashMap<String, Zeroizing<String>>);

/// Parameter names only.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Form {
    /// Parses a form body, refusing the wrong content type and repeated
    /// parameters. Empty values count as absent (RFC 6749 §3.1).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, Error> {
        if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(Error::invalid_request(
                "expected Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let mut params = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.to_string(), Zeroizing::new(value.into_owned()))
                .is_some()
            {
                return Err(Error::invalid_request(format!(
                    "parameter `{name}` is repeated"
                )));
            }
        }
        Ok(Self(params))
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| Error::invalid_request(format!("parameter `{name}` is missing")))
    }
}

/// The request's `DPoP` proof header (RFC 9449 §4.1): `None` without one,
/// `invalid_dpop_proof` for more than one or a value that is not text.
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let mut values = headers.get_all(resource_server::DPOP).iter();
    let proof = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(proof), None) => proof,
        (Some(_), Some(_)) => {
            return Err(Error::InvalidDpopProof(
                "the request has more than one DPoP header".into(),
            ))
        }
    };
    proof
        .to_str()
        .map(Some)
        .map_err(|_| Error::InvalidDpopProof("the DPoP proof is malformed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("value"),
        );
        h
    }

    #[test]
    fn two_authorization_headers_are_malformed() {
        let mut h = HeaderMap::new();
        h.append(header::AUTHORIZATION, "Basic YTpi".parse().expect("value"));
        assert!(matches!(basic_auth(&h), BasicAuth::Credentials(u, _) if u == "a"));
        h.append(header::AUTHORIZATION, "Basic Yzpk".parse().expect("value"));
        assert!(matches!(basic_auth(&h), BasicAuth::Malformed));
    }

    #[test]
    fn data_errors_name_the_field_without_values() {
        let missing = parse_json::<Login>(&json_headers(), br#"{"email":"a@b.c"}"#)
            .expect_err("must be refused");
        assert_eq!(missing.to_string(), "missing field `password`");
        let typed =
            parse_json::<Login>(&json_headers(), br#"{"email":"a@b.c","password":12345678}"#)
                .expect_err("must be refused");
        let text = typed.to_string();
        assert_eq!(text, "field `password` has the wrong type or value");
        assert!(!text.contains("12345678"));
    }

    #[test]
    fn syntax_errors_and_content_types() {
        let bad = parse_json::<Login>(&json_headers(), b"{not json").expect_err("must be refused");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let trailing = parse_json::<Login>(&json_headers(), br#"{"email":"a","password":"b"} x"#)
            .expect_err("must be refused");
        assert_eq!(trailing.status(), StatusCode::BAD_REQUEST);
        let not_object =
            parse_json::<Login>(&json_headers(), b"[1,2]").expect_err("must be refused");
        assert_eq!(not_object.status(), StatusCode::BAD_REQUEST);
        let wrong_type =
            parse_json::<Login>(&HeaderMap::new(), b"{}").expect_err("must be refused");
        assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn repeated_and_empty_form_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().expect("v"),
        );
        assert!(Form::parse(&h, b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(&h, b"grant_type=&scope=x").expect("parses");
        assert!(form.get("grant_type").is_none());
        assert!(Form::parse(&HeaderMap::new(), b"grant_type=x").is_err());
    }
}
