//! The claims of an RFC 9068 access token, and the axum extractor that hands
//! them to handlers.
//!
//! [`Claims`] is what the [`BearerAuthLayer`](crate::BearerAuthLayer) puts
//! into the request extensions once a token has been validated; handlers take
//! it as an argument. The struct is deliberately typed: a claim this crate
//! relies on (`exp`, `iss`, `sub`, `jti`, ...) has a Rust type, and a token
//! whose claim has the wrong JSON type is refused rather than coerced.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AuthError, Realm};

/// The claims of a validated access token (RFC 9068 §2.2).
///
/// `iss`, `sub`, `exp`, `iat`, `jti` and `client_id` are required by RFC 9068
/// and by this type; `aud` may be a string or an array in the token and is
/// always a list here; `scope` is the space-separated scope string (empty when
/// the token has none).
///
/// ```
/// let claims: resource_server::Claims = serde_json::from_str(r#"{
///     "iss": "https://idp.example.com", "sub": "user-1", "aud": "https://api.example.com",
///     "exp": 1900000000, "iat": 1800000000, "jti": "t-1", "client_id": "web",
///     "scope": "profile api:read"
/// }"#).unwrap();
/// assert!(claims.has_scope("api:read"));
/// assert!(!claims.has_scope("api"));
/// assert_eq!(claims.aud, ["https://api.example.com"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the IdP's issuer URL, compared exactly.
    pub iss: String,
    /// Subject: the user id, or the client id for `client_credentials` tokens.
    pub sub: String,
    /// Audiences. A single-string `aud` in the token becomes a one-element
    /// list; a single audience serializes back as a plain string.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        serialize_with = "serialize_audience"
    )]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id; the key of the revocation list.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated (RFC 6749 §3.3).
    #[serde(default)]
    pub scope: String,
    /// The user's email address (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's display name (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The login session the token belongs to (user tokens only); logging
    /// out ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Claims {
    /// Whether the token was granted `scope`, compared as a whole scope token:
    /// `api` does not satisfy `api:read`, nor does `api:read` satisfy `api`.
    pub fn has_scope(&self, scope: &str) -> bool {
        !scope.is_empty() && self.scopes().any(|granted| granted == scope)
    }

    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// `Ok` when every space-separated scope in `required` was granted, else
    /// [`AuthError::InsufficientScope`] naming `required`. Handy inside a
    /// handler: `claims.require_scope("admin")?;`.
    pub fn require_scope(&self, required: &str) -> Result<(), AuthError> {
        let mut wanted = required.split(' ').filter(|s| !s.is_empty()).peekable();
        if wanted.peek().is_none() || !wanted.all(|scope| self.has_scope(scope)) {
            return Err(AuthError::InsufficientScope {
                scope: required.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether `audience` is one of the token's audiences.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|a| a == audience)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn serialize_audience<S: Serializer>(aud: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

/// Extracts the claims the [`BearerAuthLayer`](crate::BearerAuthLayer) stored.
///
/// Without the layer in front of the handler there are no claims, and the
/// request is answered `401` as if it carried no token: a route that forgot
/// its layer fails closed.
impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(claims.clone()),
            None => {
                let realm = parts.extensions.get::<Realm>().cloned().unwrap_or_default();
                Err(AuthError::MissingToken.into_response_with_realm(&realm.0))
            }
        }
    }
}

/// `Option<Claims>`: `None` when no validated token came with the request.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned())
    }
}

impl IntoResponse for Claims {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(scope: &str) -> Claims {
        Claims {
            iss: "https://idp".into(),
            sub: "u".into(),
            aud: vec!["a".into()],
            exp: 2,
            iat: 1,
            nbf: None,
            jti: "j".into(),
            client_id: "c".into(),
            scope: scope.into(),
            email: None,
            name: None,
            sid: None,
        }
    }

    #[test]
    fn scopes_match_whole_tokens_only() {
        let c = claims("api:read profile");
        assert!(c.has_scope("api:read"));
        assert!(c.has_scope("profile"));
        assert!(!c.has_scope("api"));
        assert!(!c.has_scope("api:rea"));
        assert!(!c.has_scope("read"));
        assert!(!c.has_scope(""));
        assert!(!c.has_scope("api:read profile"));
        let c = claims("api");
        assert!(c.has_scope("api"));
        assert!(!c.has_scope("api:read"));
    }

    #[test]
    fn scope_string_tolerates_extra_spaces() {
        let c = claims("  a   b ");
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["a", "b"]);
        assert!(c.has_scope("a") && c.has_scope("b"));
        assert!(claims("").scopes().next().is_none());
    }

    #[test]
    fn require_scope_needs_every_listed_scope() {
        let c = claims("a b");
        assert!(c.require_scope("a").is_ok());
        assert!(c.require_scope("a b").is_ok());
        assert_eq!(
            c.require_scope("a c"),
            Err(AuthError::InsufficientScope {
                scope: "a c".into()
            })
        );
        assert!(c.require_scope("").is_err());
        assert!(c.require_scope("   ").is_err());
    }

    #[test]
    fn audience_is_string_or_array_and_round_trips() {
        let base =
            serde_json::json!({"iss":"i","sub":"s","exp":2,"iat":1,"jti":"j","client_id":"c"});
        let mut one = base.clone();
        one["aud"] = "x".into();
        let parsed: Claims = serde_json::from_value(one).expect("string aud");
        assert_eq!(parsed.aud, ["x"]);
        assert_eq!(serde_json::to_value(&parsed).expect("ser")["aud"], "x");

        let mut many = base.clone();
        many["aud"] = serde_json::json!(["x", "y"]);
        let parsed: Claims = serde_json::from_value(many).expect("array aud");
        assert_eq!(parsed.aud, ["x", "y"]);
        assert!(parsed.has_audience("y"));
        assert_eq!(
            serde_json::to_value(&parsed).expect("ser")["aud"],
            serde_json::json!(["x", "y"])
        );

        let mut bad = base;
        bad["aud"] = 5.into();
        assert!(serde_json::from_value::<Claims>(bad).is_err());
    }

    #[test]
    fn wrongly_typed_claims_are_refused() {
        let ok = serde_json::json!({"iss":"i","sub":"s","aud":"a","exp":2,"iat":1,"jti":"j","client_id":"c"});
        assert!(serde_json::from_value::<Claims>(ok.clone()).is_ok());
        for (claim, value) in [
            ("iss", serde_json::json!(["i", "evil"])),
            ("exp", serde_json::json!("2")),
            ("exp", serde_json::json!(-1)),
            ("sub", serde_json::json!(1)),
            ("scope", serde_json::json!(["a"])),
        ] {
            let mut bad = ok.clone();
            bad[claim] = value;
            assert!(
                serde_json::from_value::<Claims>(bad).is_err(),
                "{claim} accepted"
            );
        }
        let mut missing = ok;
        missing.as_object_mut().expect("object").remove("exp");
        assert!(serde_json::from_value::<Claims>(missing).is_err());
    }
}
