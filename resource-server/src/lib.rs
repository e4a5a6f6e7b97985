//! Validate the IdP's RS256 access tokens locally, in any axum or tower
//! service.
//!
//! A resource server never calls the IdP per request. A [`JwksCache`] keeps
//! the IdP's public keys (honouring `Cache-Control: max-age`, refreshing in
//! the background, refetching on an unknown `kid` at most once per cooldown,
//! keeping the last good set while the IdP is down). A [`Validator`] checks
//! each token against those keys: RS256 only, signature, `exp`/`nbf` with a
//! small leeway, exact `iss`, `aud`, `typ` `at+jwt`, no `crit`, bounded size,
//! an optional [`RevocationList`], and a verified-token cache so that a
//! reused token costs a lookup instead of an RSA verification.
//! [`BearerAuthLayer`] wraps that in tower middleware that answers refusals
//! per RFC 6750 and hands the typed [`Claims`] to handlers through an axum
//! extractor; [`require_scope`] guards single routes. The IdP itself uses
//! the same layer with [`LocalKeys`], fed in-process instead of over HTTP.
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{require_scope, BearerAuthLayer, Claims, JwksCache, Validator};
//!
//! # async fn example() -> Result<(), resource_server::Error> {
//! let issuer = "https://idp.example.com";
//! let validator = Validator::builder(issuer, JwksCache::from_issuer(issuer).build()?)
//!     .audience("https://api.example.com")
//!     .build();
//!
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.sub }))
//!     .route(
//!         "/reports",
//!         get(|| async { "quarterly numbers" }).route_layer(require_scope("reports:read")),
//!     )
//!     .route_layer(BearerAuthLayer::new(validator));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! The IdP guards its own bearer endpoints with the same layer, fed
//! in-process: it pushes its published JWKS into [`LocalKeys`] whenever its
//! key set changes, and its revocations into a [`RevocationList`].
//!
//! ```
//! use resource_server::{BearerAuthLayer, LocalKeys, RevocationList, Validator};
//!
//! let keys = LocalKeys::new();
//! let revocations = RevocationList::new();
//! let layer = BearerAuthLayer::new(
//!     Validator::builder("https://idp.example.com", keys.clone())
//!         .audience("https://idp.example.com")
//!         .revocations(revocations.clone())
//!         .build(),
//! );
//! keys.set_json(br#"{"keys": []}"#)?; // on start and after every rotation
//! revocations.insert("jti-of-a-revoked-token", 1_900_000_000); // on revoke
//! # let _ = layer;
//! # Ok::<(), resource_server::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod claims;
mod error;
mod fetch;
pub mod jwks;
mod key_source;
mod keyset;
pub mod layer;
mod local_keys;
pub mod revocation;
pub mod scope;
mod token_cache;
pub mod validator;

pub use claims::Claims;
pub use error::{AuthError, Error, DEFAULT_REALM};
pub use jwks::{JwksCache, JwksCacheBuilder};
pub use key_source::KeySource;
pub use keyset::{Jwk, JwkSet, KeySet, VerifyingKey, MAX_KID_LEN, MAX_RSA_BITS, MIN_RSA_BITS};
pub use layer::{bearer_token, BearerAuth, BearerAuthLayer};
pub use local_keys::LocalKeys;
pub use revocation::{
    Refusal, RevocationFeed, RevocationList, RevocationPoller, RevokedClient, RevokedSession,
    RevokedSubject, RevokedToken,
};
pub use scope::{require_scope, RequireScope, RequireScopeLayer};
pub use validator::{Validator, ValidatorBuilder};

/// The current time in Unix seconds, as the layer passes it to
/// [`Validator::validate`]. A clock before 1970 reads as `0`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
