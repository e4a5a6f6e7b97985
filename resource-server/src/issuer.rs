//! [`Issuer`]: one token issuer a validator trusts, with its own keys,
//! audiences and algorithms.
//!
//! A validator may trust several issuers at once (a company IdP and a
//! partner's, a Keycloak realm and an Auth0 tenant). A token's `iss` picks
//! its issuer before anything else is looked at, so a token from an issuer
//! nobody configured is refused without touching any key source: no fetch,
//! whatever `kid` it names. Each issuer then applies its own rules: its
//! audiences, the algorithms its keys may be used with, whether it sends
//! RFC 9068 `at+jwt` access tokens or plain `JWT`s.
//!
//! Settings an issuer leaves unset fall back to the validator builder's
//! ([`ValidatorBuilder`](crate::ValidatorBuilder)), so a single API can name
//! its audience once for every issuer.

use crate::alg::Algorithms;
use crate::error::Error;
use crate::jwks::JwksCache;
use crate::key_source::KeySource;

/// One trusted token issuer.
///
/// ```no_run
/// use resource_server::{Algorithm, Issuer, JwksCache, Validator};
///
/// # async fn example() -> Result<(), resource_server::Error> {
/// let keycloak = Issuer::discover("https://kc.example.com/realms/acme")?
///     .audience("orders-api")
///     .accept_jwt_typ(true);
/// let auth0 = Issuer::new(
///     "https://acme.eu.auth0.com/",
///     JwksCache::from_url("https://acme.eu.auth0.com/.well-known/jwks.json").build()?,
/// )
/// .audience("https://orders.example.com")
/// .algorithms([Algorithm::RS256, Algorithm::PS256])
/// .accept_jwt_typ(true);
/// let validator = Validator::with_issuer(keycloak).issuer(auth0).build();
/// # let _ = validator;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "hand the issuer to a validator builder"]
pub struct Issuer {
    pub(crate) issuer: String,
    pub(crate) keys: KeySource,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Option<Algorithms>,
    pub(crate) accept_jwt_typ: Option<bool>,
    pub(crate) scope_claim: Option<String>,
}

impl Issuer {
    /// Tokens whose `iss` is exactly `issuer`, verified with keys from
    /// `keys` (a [`JwksCache`] or [`LocalKeys`](crate::LocalKeys)).
    pub fn new(issuer: impl Into<String>, keys: impl Into<KeySource>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: keys.into(),
            audiences: Vec::new(),
            algorithms: None,
            accept_jwt_typ: None,
            scope_claim: None,
        }
    }

    /// Tokens from `issuer`, with keys found by OpenID Connect discovery
    /// (`{issuer}/.well-known/openid-configuration` → `jwks_uri`, then RFC
    /// 8414). Builds the [`JwksCache`] with its defaults; call inside a
    /// Tokio runtime. Fails only on a malformed URL, never on the network.
    pub fn discover(issuer: impl Into<String>) -> Result<Self, Error> {
        let issuer = issuer.into();
        let keys = JwksCache::from_issuer(&issuer).build()?;
        Ok(Self::new(issuer, keys))
    }

    /// Accept tokens whose `aud` contains `audience`; call again for more.
    /// Setting any replaces the validator's default audiences for this
    /// issuer.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithms this issuer's tokens may be signed with (default: the
    /// validator's, `RS256` unless set there). A key whose JWK names an
    /// `alg` is used with that algorithm only.
    pub fn algorithms(mut self, algorithms: impl Into<Algorithms>) -> Self {
        self.algorithms = Some(algorithms.into());
        self
    }

    /// Also accept header `typ` `JWT` or no `typ`, as Keycloak, Auth0 and
    /// Entra send (default: the validator's, only RFC 9068 `at+jwt`).
    pub fn accept_jwt_typ(mut self, accept: bool) -> Self {
        self.accept_jwt_typ = Some(accept);
        self
    }

    /// Read this issuer's scopes from the claim `name` (a space-separated
    /// string or an array of strings) instead of `scope`/`scp`: Auth0's
    /// `permissions`, Entra's `roles`, a `scopes` array. `require_scope`,
    /// `has_scope` and `Claims::scope` then see those values.
    pub fn scope_claim(mut self, name: impl Into<String>) -> Self {
        self.scope_claim = Some(name.into());
        self
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where its keys come from.
    pub fn keys(&self) -> &KeySource {
        &self.keys
    }
}

/// An issuer with every setting decided, as the validator uses it.
#[derive(Debug)]
pub(crate) struct Trusted {
    pub(crate) issuer: String,
    pub(crate) keys: KeySource,
    /// Empty: `aud` is not checked.
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Algorithms,
    pub(crate) accept_jwt_typ: bool,
    /// Where scopes are read from, when not `scope`/`scp`.
    pub(crate) scope_claim: Option<String>,
}
