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
}

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
}
