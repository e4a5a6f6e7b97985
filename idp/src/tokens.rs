//! Access tokens: RS256 JWTs in the RFC 9068 profile.
//!
//! Header `{"alg":"RS256","typ":"at+jwt","kid":...}`; claims `iss`, `sub`,
//! `aud`, `exp`, `iat`, `nbf`, `jti`, `client_id`, `scope`, plus `email`,
//! `name`, the session id `sid`, and how the user signed in (`amr`, `acr`,
//! see [`AuthMethods`]) for user tokens. A token for an API named with
//! `resource=` has that API alone in `aud` (see `apis.rs`); one requested
//! with a DPoP proof carries the key's thumbprint in `cnf.jkt` and is
//! answered with `token_type: DPoP` (see `dpop.rs`). Claims are a typed
//! struct serialized by serde, never formatted by hand. The time is passed
//! in, so expiry is tested without sleeping.
//!
//! A token is never issued with an `iat` its own cut-off would refuse: when
//! a user's or client's earlier tokens were cut off (tokens issued before
//! `T` are refused, `T` one second past the event), a token issued in that
//! same second gets `iat` `T`, so a login right after a password reset is
//! not caught by the reset. `nbf` stays the real time.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header};
use resource_server::RevocationList;
use serde::Serialize;

use crate::secret::Secret;
use crate::signing_keys::KeyManager;

/// The `typ` header of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token: the very type resource servers
/// deserialize, so issuer and validators cannot drift apart.
pub type AccessClaims = resource_server::Claims;

/// The token endpoint's success answer (RFC 6749 §5.1). Its `Debug` shows
/// no token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    #[schema(value_type = String)]
    pub access_token: Secret,
    /// `Bearer`, or `DPoP` for a token bound to a DPoP key.
    pub token_type: &'static str,
    /// Seconds until `exp`.
    pub expires_in: u64,
    /// Granted scopes.
    pub scope: String,
    /// Opaque refresh token, for user sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<Secret>,
    /// OpenID Connect ID token, for the authorization code grant with
    /// scope `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub id_token: Option<Secret>,
}

impl TokenResponse {
    /// The answer for an issued token.
    pub fn new(issued: Issued, ttl: u64, refresh_token: Option<Secret>) -> Self {
        let bound = issued.claims.cnf.is_some();
        Self {
            access_token: issued.token,
            token_type: if bound { "DPoP" } else { "Bearer" },
            expires_in: ttl,
            scope: issued.claims.scope.into(),
            refresh_token,
            id_token: None,
        }
    }
}

/// How a user proved who they are: the `amr` (RFC 8176) and `acr` of
/// their tokens.
///
/// | methods | `amr` | `acr` |
/// |---|---|---|
/// | password | `["pwd"]` | `aal1` |
/// | password, then a TOTP or recovery code | `["pwd","otp"]` | `aal2` |
///
/// The `acr` values are NIST SP 800-63B's authenticator assurance levels: a
/// memorized secret alone is AAL1, with a one-time code (an OTP device, or
/// a single-use recovery code, a look-up secret) AAL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethods {
    /// A password.
    Password,
    /// A password and a second factor.
    PasswordAndOtp,
}

impl AuthMethods {
    /// The `amr` claim.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndOtp => &["pwd", "otp"],
        }
    }

    /// The `acr` claim.
    pub fn acr(self) -> &'static str {
        match self {
            Self::Password => "aal1",
            Self::PasswordAndOtp => "aal2",
        }
    }

    /// As a session stores it: the `amr` values, space-separated.
    pub fn as_stored(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::PasswordAndOtp => "pwd otp",
        }
    }

    /// From a session's record; anything unknown reads as the weakest.
    pub fn from_stored(text: &str) -> Self {
        if text.split_ascii_whitespace().any(|m| m == "otp") {
            Self::PasswordAndOtp
        } else {
            Self::Password
        }
    }
}

/// Who a token is for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A user who logged in.
    User {
        /// User id.
        id: String,
        /// Email, where the scopes disclose it.
        email: Option<String>,
        /// Display name, where the scopes disclose it.
        name: Option<String>,
        /// Login session.
        session: String,
        /// How they signed in.
        auth: AuthMethods,
        /// The earliest `iat` their tokens may carry (their latest cut-off).
        not_before: u64,
    },
    /// A client using client_credentials.
    Client,
}

/// What a token is restricted to beyond its subject and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenOptions {
    /// The API it is for (`aud`), instead of the default audience.
    pub audience: Option<String>,
    /// The RFC 7638 thumbprint of the DPoP key it is bound to (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[error("signing the access token failed")]
pub struct SignError;

/// Issues access tokens with the current key.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    ttl: u64,
    keys: Arc<KeyManager>,
    /// The cut-offs this instance knows, so that no token is issued into one.
    cutoffs: RevocationList,
}

/// A freshly signed token and what it says. Its `Debug` shows the claims,
/// never the token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWT.
    pub token: Secret,
    /// Its claims.
    pub claims: AccessClaims,
}

impl TokenIssuer {
    /// An issuer for `issuer`/`audience` whose tokens live `ttl` seconds;
    /// `cutoffs` is the revocation list whose client and subject cut-offs
    /// its tokens' `iat` must clear.
    pub fn new(
        issuer: String,
        audience: String,
        ttl: u64,
        keys: Arc<KeyManager>,
        cutoffs: RevocationList,
    ) -> Self {
        Self {
            issuer,
            audience,
            ttl,
            keys,
            cutoffs,
        }
    }

    /// Token lifetime in seconds.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Signs a token for `subject` through `client_id` with `scope`, at `now`,
    /// for the default audience and not bound to any key.
    pub fn issue(
        &self,
        subject: Subject,
        client_id: &str,
        scope: &str,
        now: u64,
    ) -> Result<Issued, SignError> {
        self.issue_with(subject, client_id, scope, now, &TokenOptions::default())
    }

    /// [`issue`](Self::issue), for the audience and DPoP key in `options`.
    pub fn issue_with(
        &self,
        subject: Subject,
        client_id: &str,
        scope: &str,
        now: u64,
        options: &TokenOptions,
    ) -> Result<Issued, SignError> {
        let (sub, email, name, sid, auth, not_before) = match subject {
            Subject::User {
                id,
                email,
                name,
                session,
                auth,
                not_before,
            } => (id, email, name, Some(session), Some(auth), not_before),
            Subject::Client => (client_id.to_owned(), None, None, None, None, 0),
        };
        let iat = [
            now,
            not_before,
            self.cutoffs.client_cutoff(client_id).unwrap_or(0),
            self.cutoffs.subject_cutoff(&sub).unwrap_or(0),
        ]
        .into_iter()
        .max()
        .unwrap_or(now);
        let claims = AccessClaims {
            iss: self.issuer.as_str().into(),
            sub: sub.into(),
            aud: vec![options.audience.as_deref().unwrap_or(&self.audience).into()],
            exp: iat + self.ttl,
            iat: Some(iat),
            nbf: Some(now),
            jti: Some(uuid::Uuid::new_v4().to_string().into()),
            client_id: Some(client_id.into()),
            scope: scope.into(),
            sid: sid.map(Into::into),
            amr: auth
                .map(|auth| auth.amr().iter().map(|m| (*m).into()).collect())
                .unwrap_or_default(),
            acr: auth.map(|auth| auth.acr().into()),
            cnf: options
                .dpop_jkt
                .clone()
                .map(resource_server::Confirmation::dpop),
            extra: resource_server::Profile {
                email: email.map(Into::into),
                name: name.map(Into::into),
            },
        };
        let ring = self.keys.ring();
        let header = Header {
            typ: Some(ACCESS_TOKEN_TYP.to_owned()),
            kid: Some(ring.current_kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        let token =
            jsonwebtoken::encode(&header, &claims, &ring.encoding_key).map_err(|_| SignError)?;
        Ok(Issued {
            token: Secret::new(token),
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AuthMethods;
    use jsonwebtoken::EncodingKey;
    use keys::SigningKey;

    #[test]
    fn auth_methods_round_trip_through_the_session_record() {
        for methods in [AuthMethods::Password, AuthMethods::PasswordAndOtp] {
            assert_eq!(AuthMethods::from_stored(methods.as_stored()), methods);
        }
        assert_eq!(AuthMethods::from_stored("unknown"), AuthMethods::Password);
        assert_eq!(AuthMethods::PasswordAndOtp.amr(), ["pwd", "otp"]);
        assert_eq!(AuthMethods::Password.acr(), "aal1");
    }

    /// RFC 7520 §4.1: RS256 is deterministic, so signing the example's
    /// header and payload with the §3.4 key reproduces Figure 13 exactly.
    #[test]
    fn signer_reproduces_rfc7520_figure_13() {
        let key = SigningKey::from_private_jwk(include_str!(
            "../../keys/tests/vectors/rfc7520_s3.4_rsa_private_jwk.json"
        ))
        .expect("RFC key parses");
        let encoding = EncodingKey::from_rsa_pem(key.private_pem()).expect("PEM parses");
        let expected =
            include_str!("../../keys/tests/vectors/rfc7520_s4.1_figure13_compact.jws").trim();
        let (message, signature) = expected.rsplit_once('.').expect("three parts");
        let signed = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &encoding,
            jsonwebtoken::Algorithm::RS256,
        )
        .expect("signs");
        assert_eq!(signed, signature);
    }
}
