//! What a token, an ID token or `/userinfo` says about a user, by scope
//! (OpenID Connect Core §5.4): `profile` discloses the name, `email` the
//! email address and whether it is verified.
//!
//! The IdP's own `/login` sessions (client `login`, scope `profile`) have
//! always carried the email with the name; they keep doing so.

use crate::clients::LOGIN_CLIENT_ID;
use crate::store::UserRow;

/// The user claims a scope set discloses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disclosed {
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`, present with `email`.
    pub email_verified: Option<bool>,
    /// `name`.
    pub name: Option<String>,
}

/// What `scope` (space-separated), granted to `client_id`, discloses of `user`.
pub fn disclose(user: &UserRow, scope: &str, client_id: &str) -> Disclosed {
    let has = |s: &str| scope.split_ascii_whitespace().any(|t| t == s);
    let profile = has("profile");
    let email = has("email") || (profile && client_id == LOGIN_CLIENT_ID);
    Disclosed {
        email: email.then(|| user.email.clone()),
        email_verified: email.then_some(user.email_verified),
        name: profile.then(|| user.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> UserRow {
        UserRow::new(
            "u1".into(),
            "ann@example.com".into(),
            "Ann".into(),
            String::new(),
            0,
        )
    }

    #[test]
    fn each_scope_discloses_its_claims_only() {
        let user = ann();
        assert_eq!(disclose(&user, "openid", "web"), Disclosed::default());
        let profile = disclose(&user, "openid profile", "web");
        assert_eq!(
            (profile.name.as_deref(), profile.email),
            (Some("Ann"), None)
        );
        let email = disclose(&user, "openid email", "web");
        assert_eq!(
            (email.email.as_deref(), email.email_verified, email.name),
            (Some("ann@example.com"), Some(false), None)
        );
        let login = disclose(&user, "profile", LOGIN_CLIENT_ID);
        assert!(login.email.is_some() && login.name.is_some());
    }
}
