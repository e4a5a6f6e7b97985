//! APIs and resource indicators (RFC 8707): which audience a token names.
//!
//! An operator registers each API a client may ask a token for
//! (`idp apis create --resource URI [--scope ...]`). A token request with
//! `resource=URI` gets a token whose `aud` is that API alone, so a token
//! minted for one service is refused by every other; without `resource`,
//! tokens carry the IdP's default audience as before. [`target`] is the
//! one place a requested resource is checked and looked up: the token
//! endpoint's grants call it, and the authorization-code flow calls it too.
//!
//! A resource must be an absolute URI without a fragment (RFC 8707 §2);
//! anything else, or a URI no API is registered for, is `invalid_target`.
//! Resources are compared exactly, as `aud` values are.
//!
//! An API may list the scopes it offers. Its tokens then carry only those:
//! asking for another one is `invalid_scope`, and without a `scope`
//! parameter the client's scopes are narrowed to the API's.

use crate::error::Error;
use crate::scope::{parse_scope, MalformedScope};
use crate::store::{ApiRow, Store, StoreError};

/// The longest resource identifier accepted.
pub const MAX_RESOURCE_LEN: usize = 2048;

/// Why a resource identifier is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// Not an absolute URI, or one with a fragment, spaces or control
    /// characters, or too long.
    #[error("resource must be an absolute URI without a fragment, at most 2048 characters")]
    Malformed,
    /// No API is registered with this identifier.
    #[error("no API is registered for this resource")]
    Unknown,
}

/// Why an API could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ApiRegistryError {
    /// The resource identifier is malformed.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// A scope token has characters RFC 6749 §3.3 forbids.
    #[error(transparent)]
    Scope(#[from] MalformedScope),
    /// The resource is registered already.
    #[error("an API with this resource is registered already")]
    Taken,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Checks a resource identifier's form (RFC 8707 §2, RFC 3986 §4.3): a
/// scheme (a letter, then letters, digits, `+`, `-`, `.`), a colon,
/// something after it; no fragment, no whitespace or control characters.
pub fn check_resource(resource: &str) -> Result<(), ResourceError> {
    if resource.is_empty()
        || resource.len() > MAX_RESOURCE_LEN
        || resource
            .chars()
            .any(|c| c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(ResourceError::Malformed);
    }
    let Some((scheme, rest)) = resource.split_once(':') else {
        return Err(ResourceError::Malformed);
    };
    let mut letters = scheme.chars();
    let scheme_ok = letters.next().is_some_and(|c| c.is_ascii_alphabetic())
        && letters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() || rest == "//" {
        return Err(ResourceError::Malformed);
    }
    Ok(())
}

/// The API a token request names with `resource`, checked and looked up;
/// `None` when it names none (the token gets the default audience).
pub async fn target(store: &Store, resource: Option<&str>) -> Result<Option<ApiRow>, Error> {
    let Some(resource) = resource else {
        return Ok(None);
    };
    check_resource(resource).map_err(|e| Error::InvalidTarget(e.to_string().into()))?;
    let wanted = resource.to_owned();
    match store.run(move |db| db.api(&wanted)).await? {
        Some(api) => Ok(Some(api)),
        None => Err(Error::InvalidTarget(
            ResourceError::Unknown.to_string().into(),
        )),
    }
}

/// Why a token request naming another API than its grant is refused.
pub const RESOURCE_MISMATCH: &str = "the authorization request named another resource";

/// The API a token of a grant is for: the one the grant was requested for
/// (`granted`), which the token request may name again (`requested`,
/// already looked up) but not change; for a grant requested for none, the
/// one the request names, if any.
pub async fn for_grant(
    store: &Store,
    granted: Option<&str>,
    requested: Option<ApiRow>,
) -> Result<Option<ApiRow>, Error> {
    match (granted, requested) {
        (Some(resource), Some(api)) if api.resource == resource => Ok(Some(api)),
        (Some(_), Some(_)) => Err(Error::InvalidTarget(RESOURCE_MISMATCH.into())),
        (Some(resource), None) => target(store, Some(resource)).await,
        (None, api) => Ok(api),
    }
}

/// `granted` (the client's scopes for this request, already checked),
/// narrowed to what `api` offers. `requested`: whether the client named its
/// scopes, in which case one the API does not offer is refused.
pub fn narrow_scope(api: &ApiRow, granted: &str, requested: bool) -> Result<String, Error> {
    let offered: Vec<&str> = api.scope.split_ascii_whitespace().collect();
    if offered.is_empty() {
        return Ok(granted.to_owned());
    }
    let mut kept = Vec::new();
    for scope in granted.split_ascii_whitespace() {
        if offered.contains(&scope) {
            kept.push(scope);
        } else if requested {
            return Err(Error::invalid_scope(format!(
                "scope `{scope}` is not offered by this resource"
            )));
        }
    }
    Ok(kept.join(" "))
}

/// Registers the API `resource` offering `scope` (space-separated; empty
/// for any), at `now`.
pub async fn register(
    store: &Store,
    resource: &str,
    scope: &str,
    now: u64,
) -> Result<ApiRow, ApiRegistryError> {
    check_resource(resource)?;
    let row = ApiRow {
        resource: resource.to_owned(),
        scope: parse_scope(scope)?.join(" "),
        created_at: now,
    };
    let stored = row.clone();
    match store.run(move |db| db.insert_api(&stored)).await {
        Ok(()) => Ok(row),
        Err(StoreError::Conflict) => Err(ApiRegistryError::Taken),
        Err(e) => Err(ApiRegistryError::Store(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_absolute_uris_without_fragments() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/v1/orders",
            "http://127.0.0.1:8081",
            "https://api.example.com/x?tenant=a",
            "urn:example:orders",
            "a+b.c-d:x",
        ] {
            assert_eq!(check_resource(good), Ok(()), "{good}");
        }
        let long = format!("https://api.example.com/{}", "a".repeat(MAX_RESOURCE_LEN));
        for bad in [
            "",
            "api.example.com",
            "/orders",
            "//api.example.com/x",
            "https://api.example.com/x#frag",
            "https://api.example.com/#",
            "https:",
            "https://",
            "1http://x",
            "ht tp://x",
            "https://api.example.com/a b",
            "https://api.example.com/\n",
            ":x",
            long.as_str(),
        ] {
            assert_eq!(
                check_resource(bad),
                Err(ResourceError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_api_s_scopes_narrow_the_grant() {
        let api = |scope: &str| ApiRow {
            resource: "https://api".into(),
            scope: scope.into(),
            created_at: 0,
        };
        assert_eq!(narrow_scope(&api(""), "a b", false).expect("any"), "a b");
        assert_eq!(
            narrow_scope(&api("b c"), "a b", false).expect("narrowed"),
            "b"
        );
        assert_eq!(narrow_scope(&api("b c"), "b", true).expect("offered"), "b");
        assert!(narrow_scope(&api("b c"), "a b", true).is_err());
        assert_eq!(narrow_scope(&api("c"), "a", false).expect("empty"), "");
    }
}
