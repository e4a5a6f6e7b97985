//! Scopes (RFC 6749 §3.3): how a scope string is read, and what a
//! request for scopes is granted.

/// A scope string with a token RFC 6749 §3.3 forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("scope must be space-separated tokens of printable ASCII without \" or \\")]
pub struct MalformedScope;

/// Why requested scopes were not granted (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The request's scope string is malformed.
    #[error("malformed scope")]
    Malformed,
    /// This scope is not among the allowed ones.
    #[error("scope `{0}` is not granted to this client")]
    NotGranted(String),
    /// This scope delegates a user's sign-in; a client acting as itself
    /// cannot hold it.
    #[error("scope `{0}` is for a user's sign-in, not for client_credentials")]
    UserOnly(String),
}

/// Scopes that only mean something for a signed-in user (OpenID Connect
/// Core §3.1.2.1, §11): an ID token, a refresh token kept while the user is
/// away. A client_credentials token has no user, so it never carries them.
pub const USER_ONLY_SCOPES: [&str; 2] = ["openid", "offline_access"];

/// Splits and checks a scope string, removing duplicates.
pub fn parse_scope(scope: &str) -> Result<Vec<String>, MalformedScope> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        let ok = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !ok {
            return Err(MalformedScope);
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// The scopes granted: all of `allowed` when none are requested, else the
/// requested ones, which must all be allowed (a prefix of an allowed scope
/// is not that scope).
pub fn granted_scope(requested: Option<&str>, allowed: &str) -> Result<String, ScopeError> {
    let allowed: Vec<&str> = allowed.split_ascii_whitespace().collect();
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let requested = parse_scope(requested).map_err(|_| ScopeError::Malformed)?;
    if let Some(extra) = requested.iter().find(|s| !allowed.contains(&s.as_str())) {
        return Err(ScopeError::NotGranted(extra.clone()));
    }
    Ok(requested.join(" "))
}

/// The scopes a client_credentials request is granted: as [`granted_scope`],
/// without the [`USER_ONLY_SCOPES`]. A client registered with them (a
/// browser client) gets the rest of its scopes when it asks for none, and
/// `invalid_scope` when it asks for one of them by name.
pub fn client_scope(requested: Option<&str>, allowed: &str) -> Result<String, ScopeError> {
    let own: Vec<&str> = allowed
        .split_ascii_whitespace()
        .filter(|s| !USER_ONLY_SCOPES.contains(s))
        .collect();
    granted_scope(requested, &own.join(" ")).map_err(|e| match e {
        ScopeError::NotGranted(s) if USER_ONLY_SCOPES.contains(&s.as_str()) => {
            ScopeError::UserOnly(s)
        }
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_rfc6749_tokens_deduplicated() {
        assert_eq!(
            parse_scope("api:read  api:write api:read").expect("valid"),
            ["api:read", "api:write"]
        );
        assert!(parse_scope("quote\"d").is_err());
        assert!(parse_scope("back\\slash").is_err());
        assert!(parse_scope("tab\tbed").is_err());
        assert!(parse_scope("").expect("empty is fine").is_empty());
    }

    #[test]
    fn scope_subsets() {
        assert_eq!(granted_scope(None, "a b").expect("all"), "a b");
        assert_eq!(granted_scope(Some("b"), "a b").expect("subset"), "b");
        let err = granted_scope(Some("a c"), "a b").expect_err("must be refused");
        assert_eq!(err, ScopeError::NotGranted("c".into()));
        // A prefix of a granted scope is not that scope.
        assert!(granted_scope(Some("api"), "api:read").is_err());
    }

    #[test]
    fn clients_never_hold_user_only_scopes() {
        let registered = "openid profile email offline_access api:read";
        assert_eq!(
            client_scope(None, registered).expect("the rest"),
            "profile email api:read"
        );
        assert_eq!(
            client_scope(Some("openid api:read"), registered),
            Err(ScopeError::UserOnly("openid".into()))
        );
        assert_eq!(
            client_scope(Some("offline_access"), registered),
            Err(ScopeError::UserOnly("offline_access".into()))
        );
        // Refused by the same reason when the client was never registered with it.
        assert_eq!(
            client_scope(Some("openid"), "api:read"),
            Err(ScopeError::UserOnly("openid".into()))
        );
        assert_eq!(
            client_scope(Some("profile"), registered).expect("kept"),
            "profile"
        );
    }
}
