//! Access tokens: RS256 JWTs in the RFC 9068 profile.
//!
//! Header `{"alg":"RS256","typ":"at+jwt","kid":...}`; claims `iss`, `sub`,
//! `aud`, `exp`, `iat`, `nbf`, `jti`, `client_id`, `scope`, plus `email`,
//! `name` and the session id `sid` for user tokens. A token for an API
//! named with `resource=` has that API alone in `aud` (see `apis.rs`); one
//! requested with a DPoP proof carries the key's thumbprint in `cnf.jkt`
//! and is answered with `token_type: DPoP` (see `dpop.rs`). Claims are a
//! typed struct serialized by serde, never formatted by hand. The time is
//! passed in, so expiry is tested without sleeping.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header};
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
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: Secret,
    /// `Bearer`, or `DPoP` for a token bound to a DPoP key.
    pub token_type: &'static str,
    /// Seconds until `exp`.
    pub expires_in: u64,
    /// Granted scopes.
    pub scope: String,
    /// Opaque refresh token, for user sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

impl TokenResponse {
    /// The answer for an issued token.
    pub fn new(issued: Issued, ttl: u64, refresh_token: Option<Secret>) -> Self {
        let bound = issued.claims.cnf.is_some();
        Self {
            access_token: issued.token,
            token_type: if bound { "DPoP" } else { "Bearer" },
            expires_in: ttl,
            scope: issued.claims.scope,
            refresh_token,
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
        /// Email.
        email: String,
        /// Display name.
        name: String,
        /// Login session.
        session: String,
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
    /// An issuer for `issuer`/`audience` whose tokens live `ttl` seconds.
    pub fn new(issuer: String, audience: String, ttl: u64, keys: Arc<KeyManager>) -> Self {
        Self {
            issuer,
            audience,
            ttl,
            keys,
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
        let (sub, email, name, sid) = match subject {
            Subject::User {
                id,
                email,
                name,
                session,
            } => (id, Some(email), Some(name), Some(session)),
            Subject::Client => (client_id.to_owned(), None, None, None),
        };
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub,
            aud: vec![options
                .audience
                .clone()
                .unwrap_or_else(|| self.audience.clone())],
            exp: now + self.ttl,
            iat: Some(now),
            nbf: Some(now),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            client_id: Some(client_id.to_owned()),
            scope: scope.to_owned(),
            sid,
            amr: Vec::new(),
            acr: None,
            cnf: options
                .dpop_jkt
                .clone()
                .map(resource_server::Confirmation::dpop),
            extra: resource_server::Profile { email, name },
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
    use jsonwebtoken::EncodingKey;
    use keys::SigningKey;

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
