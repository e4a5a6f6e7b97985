//! The claims of a validated access token: the registered claims this crate
//! checks, and the application's own claims beside them.
//!
//! [`Claims<T>`] has one typed field per claim the crate relies on (`iss`,
//! `sub`, `aud`, `exp`, `nbf`, `jti`, `scope`, `cnf`, ...) and hands
//! everything else to the application's type `T`, deserialized from the
//! same payload: a Keycloak service reads `realm_access` and `azp`, an Auth0
//! one `permissions`, an Entra one `roles` and `tid`, each with a plain
//! `#[derive(Deserialize)]` struct. `Claims<T>` dereferences to `T`, so
//! `claims.realm_access` reads like a field of the token. The default `T`,
//! [`Profile`], holds what this IdP adds to user tokens (`email`, `name`).
//!
//! The crate's strings are [`CompactString`]s: up to 24 bytes are stored
//! inline, so a typical issuer, client id, audience or scope needs no
//! allocation of its own, and a token in the verified-token cache costs
//! about a fifth less memory than with `String`s (this IdP's tokens). They
//! dereference to `str` and compare with `&str` and `String`.
//!
//! Claims are typed, never coerced: a registered claim with the wrong JSON
//! type makes the token malformed. Where issuers legitimately differ the
//! crate reads both forms: `aud` and `amr` as a string or an array, the
//! scope from `scope` (RFC 9068) or Entra's `scp`, as a space-separated
//! string or an array, and NumericDates with a fractional part.

use std::ops::{Deref, DerefMut};

use compact_str::CompactString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AuthError, InvalidTokenReason};

/// The claims of a validated access token (RFC 9068 §2.2, RFC 7519 §4.1),
/// with the application's own claims in `extra`.
///
/// `iss`, `sub` and `exp` are always present; `aud` is required when the
/// validator names an audience; `jti` and `client_id` when it asks for
/// them ([`RequiredClaim`](crate::RequiredClaim)). `aud` may be a string or
/// an array in the token and is always a list here; `scope` is the
/// space-separated scope string (empty when the token has none).
///
/// ```
/// use resource_server::Claims;
///
/// let claims: Claims = serde_json::from_str(r#"{
///     "iss": "https://idp.example.com", "sub": "user-1", "aud": "https://api.example.com",
///     "exp": 1900000000, "iat": 1800000000, "jti": "t-1", "client_id": "web",
///     "scope": "profile api:read", "email": "ann@example.com"
/// }"#).unwrap();
/// assert!(claims.has_scope("api:read"));
/// assert!(!claims.has_scope("api"));
/// assert_eq!(claims.aud, ["https://api.example.com"]);
/// assert_eq!(claims.email.as_deref(), Some("ann@example.com")); // from `Profile`
/// ```
///
/// With claims of your own:
///
/// ```
/// use resource_server::Claims;
/// use serde::Deserialize;
///
/// #[derive(Debug, Clone, Deserialize)]
/// struct Keycloak {
///     azp: String,
///     #[serde(default)]
///     realm_access: RealmAccess,
/// }
///
/// #[derive(Debug, Clone, Default, Deserialize)]
/// struct RealmAccess {
///     roles: Vec<String>,
/// }
///
/// let claims: Claims<Keycloak> = serde_json::from_str(r#"{
///     "iss": "https://kc.example.com/realms/acme", "sub": "f1c0", "exp": 1900000000,
///     "azp": "web", "realm_access": {"roles": ["admin"]}, "scope": "openid email"
/// }"#).unwrap();
/// assert_eq!(claims.azp, "web");
/// assert!(claims.realm_access.roles.contains(&"admin".to_owned()));
/// assert_eq!(claims.client_id, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims<T = Profile> {
    /// Issuer, compared exactly with a configured one.
    pub iss: CompactString,
    /// Subject: a user id, or a client id for `client_credentials` tokens.
    pub sub: CompactString,
    /// Audiences. A single-string `aud` in the token becomes a one-element
    /// list; a single audience serializes back as a plain string.
    #[serde(
        serialize_with = "serialize_one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<CompactString>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id; the key of the revocation list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<CompactString>,
    /// The OAuth client the token was issued to (RFC 9068); Keycloak and
    /// Entra name it `azp` or `appid` instead, which `T` can read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<CompactString>,
    /// Granted scopes, space-separated (RFC 6749 §3.3), from `scope` or,
    /// when that is absent, Entra's `scp`.
    pub scope: CompactString,
    /// The login session the token belongs to; ending it revokes the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<CompactString>,
    /// Authentication methods (RFC 8176): `pwd`, `otp`, `mfa`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<CompactString>,
    /// Authentication context class (OIDC Core §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<CompactString>,
    /// Key confirmation (RFC 7800): a DPoP-bound token carries the
    /// thumbprint of its key here (RFC 9449 §6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The application's own claims, read from the same payload.
    #[serde(flatten)]
    pub extra: T,
}

/// What this IdP adds to user tokens; the default claims type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user's email address (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<CompactString>,
    /// The user's display name (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<CompactString>,
}

/// The `cnf` claim (RFC 7800 §3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 7638 thumbprint of the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<CompactString>,
    /// Whether `cnf` names a key any other way (an mTLS certificate
    /// thumbprint, say), which this crate cannot check: such a token is
    /// refused rather than accepted as a bearer token.
    #[serde(skip)]
    pub other: bool,
}

impl Confirmation {
    /// The confirmation of a token bound to the DPoP key with RFC 7638
    /// thumbprint `jkt`.
    pub fn dpop(jkt: impl Into<CompactString>) -> Self {
        Self {
            jkt: Some(jkt.into()),
            other: false,
        }
    }
}

impl<T> Claims<T> {
    /// Whether the token was granted `scope`, compared as a whole scope token:
    /// `api` does not satisfy `api:read`, nor does `api:read` satisfy `api`.
    pub fn has_scope(&self, scope: &str) -> bool {
        has_scope(&self.scope, scope)
    }

    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// `Ok` when every space-separated scope in `required` was granted, else
    /// [`AuthError::InsufficientScope`] naming `required`. Handy inside a
    /// handler: `claims.require_scope("admin")?;`.
    pub fn require_scope(&self, required: &str) -> Result<(), AuthError> {
        require_scope(&self.scope, required)
    }

    /// Whether `audience` is one of the token's audiences.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|a| a == audience)
    }

    /// The thumbprint of the DPoP key the token is bound to, if it is.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().and_then(|cnf| cnf.jkt.as_deref())
    }

    /// Whether the user authenticated with `method` (an `amr` value).
    pub fn has_amr(&self, method: &str) -> bool {
        self.amr.iter().any(|m| m == method)
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.extra
    }
}

impl<T> DerefMut for Claims<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.extra
    }
}

pub(crate) fn has_scope(granted: &str, scope: &str) -> bool {
    !scope.is_empty() && granted.split(' ').any(|g| g == scope)
}

pub(crate) fn require_scope(granted: &str, required: &str) -> Result<(), AuthError> {
    let mut wanted = required.split(' ').filter(|s| !s.is_empty()).peekable();
    if wanted.peek().is_none() || !wanted.all(|scope| has_scope(granted, scope)) {
        return Err(AuthError::InsufficientScope {
            scope: required.to_owned(),
        });
    }
    Ok(())
}

/// The registered claims as read from a payload, each one optional: which
/// are required is the validator's decision. Unknown members are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Registered {
    pub(crate) iss: Option<CompactString>,
    pub(crate) sub: Option<CompactString>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) aud: Option<Vec<CompactString>>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) iat: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) nbf: Option<u64>,
    pub(crate) jti: Option<CompactString>,
    pub(crate) client_id: Option<CompactString>,
    #[serde(default, deserialize_with = "scope_list")]
    pub(crate) scope: Option<CompactString>,
    #[serde(default, deserialize_with = "scope_list")]
    pub(crate) scp: Option<CompactString>,
    pub(crate) sid: Option<CompactString>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) amr: Option<Vec<CompactString>>,
    pub(crate) acr: Option<CompactString>,
    #[serde(default, deserialize_with = "confirmation")]
    pub(crate) cnf: Option<Confirmation>,
}

impl Registered {
    /// The claims with `extra`, or why they cannot be: `iss`, `sub` and
    /// `exp` are required, and `iss` and `sub` must not be empty.
    pub(crate) fn into_claims<T>(self, extra: T) -> Result<Claims<T>, InvalidTokenReason> {
        const MISSING: InvalidTokenReason = InvalidTokenReason::MissingClaim;
        let (Some(iss), Some(sub), Some(exp)) = (self.iss, self.sub, self.exp) else {
            return Err(MISSING);
        };
        if iss.is_empty() || sub.is_empty() {
            return Err(MISSING);
        }
        Ok(Claims {
            iss,
            sub,
            aud: self.aud.unwrap_or_default(),
            exp,
            iat: self.iat,
            nbf: self.nbf,
            jti: self.jti,
            client_id: self.client_id,
            scope: self.scope.or(self.scp).unwrap_or_default(),
            sid: self.sid,
            amr: self.amr.unwrap_or_default(),
            acr: self.acr,
            cnf: self.cnf,
            extra,
        })
    }
}

/// Reads the registered claims and `T` from the same JSON object, as the
/// validator does (there from the payload bytes, twice, without an
/// intermediate value).
impl<'de, T: DeserializeOwned> Deserialize<'de> for Claims<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(D::Error::custom("claims must be a JSON object"));
        }
        let registered = Registered::deserialize(&value).map_err(D::Error::custom)?;
        let extra = T::deserialize(&value).map_err(D::Error::custom)?;
        registered.into_claims(extra).map_err(D::Error::custom)
    }
}

/// A string or an array of strings (`aud`, `amr`), as a list.
fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<CompactString>>, D::Error> {
    deserializer.deserialize_any(StringsVisitor)
}

/// A scope as a space-separated string (RFC 9068) or an array of scopes
/// (Okta's `scp`), as one space-separated string.
fn scope_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<CompactString>, D::Error> {
    Ok(deserializer
        .deserialize_any(StringsVisitor)?
        .map(|mut scopes| match scopes.len() {
            1 => scopes.swap_remove(0),
            _ => CompactString::from(scopes.join(" ")),
        }))
}

/// The scopes in the claim `name` of the JSON object `payload`, as one
/// space-separated string (empty when the claim is absent or null), or
/// `None` when the claim is neither a string nor an array of strings.
pub(crate) fn scope_from(payload: &[u8], name: &str) -> Option<CompactString> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(payload).ok()?;
    match object.get(name) {
        None | Some(serde_json::Value::Null) => Some(CompactString::default()),
        Some(value) => scope_list(value).ok().map(Option::unwrap_or_default),
    }
}

/// Reads `null`, a string or an array of strings, without buffering the
/// value the way an untagged enum would.
struct StringsVisitor;

impl<'de> serde::de::Visitor<'de> for StringsVisitor {
    type Value = Option<Vec<CompactString>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(vec![CompactString::from(v)]))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(vec![CompactString::from(v)]))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
        while let Some(one) = seq.next_element::<CompactString>()? {
            all.push(one);
        }
        Ok(Some(all))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// RFC 7519 §2 NumericDate: non-negative seconds, possibly fractional
/// (the fraction is dropped). Negative, non-finite or non-numeric values
/// are malformed.
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative NumericDate")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("negative NumericDate"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v >= 0.0 {
                // Saturates at u64::MAX, which is "never" anyway.
                Ok(Some(v as u64))
            } else {
                Err(E::custom("NumericDate out of range"))
            }
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// `cnf` as an object; members other than `jkt` are noted, not read.
fn confirmation<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Confirmation>, D::Error> {
    let Some(map) =
        Option::<std::collections::BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?
    else {
        return Ok(None);
    };
    let mut cnf = Confirmation::default();
    for (name, value) in map {
        match (name.as_str(), value) {
            ("jkt", serde_json::Value::String(jkt)) => cnf.jkt = Some(jkt.into()),
            ("jkt", _) => return Err(serde::de::Error::custom("cnf.jkt must be a string")),
            _ => cnf.other = true,
        }
    }
    Ok(Some(cnf))
}

fn serialize_one_or_many<S: Serializer>(
    aud: &[CompactString],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(scope: &str) -> Claims {
        Claims {
            iss: "https://idp".into(),
            sub: "u".into(),
            aud: vec!["a".into()],
            exp: 2,
            iat: Some(1),
            nbf: None,
            jti: Some("j".into()),
            client_id: Some("c".into()),
            scope: scope.into(),
            sid: None,
            amr: Vec::new(),
            acr: None,
            cnf: None,
            extra: Profile::default(),
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

    fn base() -> serde_json::Value {
        json!({"iss":"i","sub":"s","exp":2})
    }

    #[test]
    fn audience_is_string_or_array_and_round_trips() {
        let mut one = base();
        one["aud"] = "x".into();
        let parsed: Claims = serde_json::from_value(one).expect("string aud");
        assert_eq!(parsed.aud, ["x"]);
        assert_eq!(serde_json::to_value(&parsed).expect("ser")["aud"], "x");

        let mut many = base();
        many["aud"] = json!(["x", "y"]);
        let parsed: Claims = serde_json::from_value(many).expect("array aud");
        assert_eq!(parsed.aud, ["x", "y"]);
        assert!(parsed.has_audience("y"));
        assert_eq!(
            serde_json::to_value(&parsed).expect("ser")["aud"],
            json!(["x", "y"])
        );

        let mut bad = base();
        bad["aud"] = 5.into();
        assert!(serde_json::from_value::<Claims>(bad).is_err());
    }

    #[test]
    fn only_iss_sub_and_exp_are_required() {
        let parsed: Claims = serde_json::from_value(base()).expect("minimal");
        assert_eq!(
            (parsed.jti, parsed.client_id, parsed.iat),
            (None, None, None)
        );
        for claim in ["iss", "sub", "exp"] {
            let mut missing = base();
            missing.as_object_mut().expect("object").remove(claim);
            assert!(
                serde_json::from_value::<Claims>(missing).is_err(),
                "{claim}"
            );
        }
        let mut empty_sub = base();
        empty_sub["sub"] = "".into();
        assert!(serde_json::from_value::<Claims>(empty_sub).is_err());
    }

    #[test]
    fn wrongly_typed_claims_are_refused() {
        for (claim, value) in [
            ("iss", json!(["i", "evil"])),
            ("exp", json!("2")),
            ("exp", json!(-1)),
            ("exp", json!(-0.5)),
            ("sub", json!(1)),
            ("scope", json!(7)),
            ("jti", json!(1)),
            ("amr", json!({"a": 1})),
            ("cnf", json!("jkt")),
            ("cnf", json!({"jkt": 5})),
        ] {
            let mut bad = base();
            bad[claim] = value;
            assert!(
                serde_json::from_value::<Claims>(bad).is_err(),
                "{claim} accepted"
            );
        }
        assert!(serde_json::from_value::<Claims>(json!(["i", "s", 2])).is_err());
    }

    #[test]
    fn issuers_differ_and_are_all_read() {
        let mut entra = base();
        entra["scp"] = "User.Read Files.Read".into();
        let parsed: Claims = serde_json::from_value(entra.clone()).expect("scp");
        assert_eq!(parsed.scope, "User.Read Files.Read");
        entra["scope"] = "wins".into();
        assert_eq!(
            serde_json::from_value::<Claims>(entra)
                .expect("scope")
                .scope,
            "wins"
        );

        let mut okta = base();
        okta["scp"] = json!(["openid", "email"]);
        assert_eq!(
            serde_json::from_value::<Claims>(okta).expect("okta").scope,
            "openid email"
        );

        let mut fractional = base();
        fractional["exp"] = json!(1_900_000_000.75);
        fractional["amr"] = "pwd".into();
        let parsed: Claims = serde_json::from_value(fractional).expect("fractional");
        assert_eq!(parsed.exp, 1_900_000_000);
        assert_eq!(parsed.amr, ["pwd"]);
    }

    #[test]
    fn confirmation_members() {
        let mut bound = base();
        bound["cnf"] = json!({"jkt": "abc"});
        let parsed: Claims = serde_json::from_value(bound).expect("jkt");
        assert_eq!(parsed.dpop_jkt(), Some("abc"));
        assert!(!parsed.cnf.as_ref().is_some_and(|c| c.other));

        let mut mtls = base();
        mtls["cnf"] = json!({"x5t#S256": "abc"});
        let parsed: Claims = serde_json::from_value(mtls).expect("x5t");
        assert_eq!(parsed.dpop_jkt(), None);
        assert!(parsed.cnf.as_ref().is_some_and(|c| c.other));
    }

    /// What keeps a cached token small: strings of up to 24 bytes, read the
    /// way the validator reads a payload, live inside the claims.
    #[test]
    fn short_strings_need_no_allocation_of_their_own() {
        let payload = br#"{"iss":"https://idp.example.com","sub":"service-account-12345678",
            "aud":"https://api.example.com","exp":2,"client_id":"reports",
            "jti":"6f1c2a64-2d4e-4d0e-9a43-8f3b2f0c9e11","scope":"api:read api:write"}"#;
        let registered: Registered = crate::jose::object(payload).expect("claims");
        let claims = registered
            .into_claims(Profile::default())
            .expect("complete claims");
        let client_id = claims.client_id.as_ref().expect("client_id");
        for short in [
            &claims.iss,
            &claims.sub,
            &claims.aud[0],
            client_id,
            &claims.scope,
        ] {
            assert!(!short.is_heap_allocated(), "{short} allocated");
        }
        assert_eq!(claims.sub.len(), 24);
        // A UUID is 36 bytes: it has an allocation of its own.
        assert!(claims.jti.as_ref().expect("jti").is_heap_allocated());
    }

    #[test]
    fn extra_claims_sit_beside_the_registered_ones() {
        #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
        struct Auth0 {
            permissions: Vec<String>,
            #[serde(rename = "https://example.com/tenant")]
            tenant: String,
        }
        let mut token = base();
        token["permissions"] = json!(["read:reports"]);
        token["https://example.com/tenant"] = "acme".into();
        token["aud"] = json!(["https://api", "https://tenant/userinfo"]);
        let parsed: Claims<Auth0> = serde_json::from_value(token).expect("auth0");
        assert_eq!(parsed.permissions, ["read:reports"]);
        assert_eq!(parsed.tenant, "acme");
        let back = serde_json::to_value(&parsed).expect("ser");
        assert_eq!(back["permissions"], json!(["read:reports"]));
        assert_eq!(back["iss"], "i");

        // A missing application claim is the application's refusal.
        assert!(serde_json::from_value::<Claims<Auth0>>(base()).is_err());
    }
}
