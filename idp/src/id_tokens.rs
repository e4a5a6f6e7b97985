//! ID tokens (OpenID Connect Core §2, §3.1.3.6): RS256 JWTs with
//! `typ: JWT`, signed with the current key, for the client that asked
//! (`aud` and `azp` its id).
//!
//! `at_hash` binds the ID token to the access token issued with it: the
//! base64url of the left half of SHA-256 over the access token's ASCII.
//! `nonce` is echoed only when the request sent one. `sid` is the browser
//! session, which `/end_session` ends. `amr` and `acr` say how the browser
//! signed in (`["pwd"]`/`aal1`, `["pwd","otp"]`/`aal2`), as in the access
//! token.
//!
//! [`verify_hint`] reads an `id_token_hint` at `/end_session`: signature
//! by one of the published keys and issuer, but not expiry (RP-Initiated
//! Logout 1.0 §2: an expired ID token is still a good hint).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::disclosure::Disclosed;
use crate::secret::Secret;
use crate::signing_keys::KeyRing;
use crate::tokens::{AuthMethods, SignError};

/// The `typ` header of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Authorized party: the client id.
    pub azp: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// When the user authenticated, Unix seconds.
    pub auth_time: u64,
    /// The request's nonce, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of SHA-256 of the access token, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The browser session.
    pub sid: String,
    /// Authentication methods (RFC 8176): `pwd`, `otp`.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Authentication context class: `aal1`, or `aal2` with a second factor.
    #[serde(default)]
    pub acr: String,
    /// Email, with the `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email is verified, with the `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Display name, with the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What an ID token is made from.
#[derive(Debug)]
pub struct IdTokenFor<'a> {
    /// Issuer.
    pub issuer: &'a str,
    /// User id.
    pub user_id: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// When the user authenticated.
    pub auth_time: u64,
    /// The request's nonce.
    pub nonce: Option<&'a str>,
    /// The access token issued alongside.
    pub access_token: &'a str,
    /// The browser session id.
    pub session_id: &'a str,
    /// How the user signed in.
    pub auth: AuthMethods,
    /// The user claims the scopes disclose.
    pub disclosed: Disclosed,
    /// Lifetime, seconds.
    pub ttl: u64,
}

/// `at_hash` of an RS256-signed token's companion access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs an ID token with the ring's current key, at `now`.
pub fn sign(ring: &KeyRing, of: IdTokenFor<'_>, now: u64) -> Result<Secret, SignError> {
    let claims = IdTokenClaims {
        iss: of.issuer.to_owned(),
        sub: of.user_id.to_owned(),
        aud: of.client_id.to_owned(),
        azp: of.client_id.to_owned(),
        exp: now.saturating_add(of.ttl),
        iat: now,
        auth_time: of.auth_time,
        nonce: of.nonce.map(str::to_owned),
        at_hash: Some(at_hash(of.access_token)),
        sid: of.session_id.to_owned(),
        amr: of.auth.amr().iter().map(|m| (*m).to_owned()).collect(),
        acr: of.auth.acr().to_owned(),
        email: of.disclosed.email,
        email_verified: of.disclosed.email_verified,
        name: of.disclosed.name,
    };
    let header = Header {
        typ: Some(ID_TOKEN_TYP.to_owned()),
        kid: Some(ring.current_kid.clone()),
        ..Header::new(Algorithm::RS256)
    };
    jsonwebtoken::encode(&header, &claims, &ring.encoding_key)
        .map(Secret::new)
        .map_err(|_| SignError)
}

/// The claims of `token` if it is an ID token this IdP signed (any
/// published key, this issuer), expired or not.
pub fn verify_hint(ring: &KeyRing, issuer: &str, token: &str) -> Option<IdTokenClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(ID_TOKEN_TYP) {
        return None;
    }
    let kid = header.kid?;
    let jwk = ring.jwks.keys.iter().find(|k| k.kid == kid)?;
    let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OIDC Core §3.1.3.6 with the example of the ID token's access token
    /// from Core §A.3 (`jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y`
    /// hashes to `77QmUPtjPfzWtF2AnpK9RQ`).
    #[test]
    fn at_hash_matches_the_openid_example() {
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
