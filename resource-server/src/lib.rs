//! Validate OAuth 2.0 access tokens locally, in any axum or tower service:
//! from this project's IdP, Keycloak, Auth0, Entra ID or any issuer that
//! publishes a JWKS, with your own claims type, per-route scopes and
//! step-up requirements, and DPoP.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use resource_server::{require_scope, BearerAuthLayer, Claims, Issuer, Validator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = Issuer::discover("https://idp.example.com")?; // OIDC discovery → jwks_uri
//! let validator = Validator::with_issuer(issuer)
//!     .audience("https://api.example.com")
//!     .build();
//! let app = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.sub.to_string() }))
//!     .route("/reports", get(|| async { "numbers" }).route_layer(require_scope("reports:read")))
//!     .route_layer(BearerAuthLayer::new(validator));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! A request without a token gets `401` with `WWW-Authenticate: Bearer
//! realm="api"`; a bad token `401 invalid_token`; a token without the
//! scope `403 insufficient_scope`, each with a JSON body
//! `{"error","error_description"}`. In code, a refusal is an
//! [`AuthError`]; one for a token that fails a check carries the
//! [`InvalidTokenReason`] to match on ([`AuthError::is_expired`] and
//! friends for the common questions). A resource server never calls the IdP
//! per request: everything below is local, but for the key set and an
//! optional revocation feed, fetched in the background.
//!
//! # Issuers, keys and algorithms
//!
//! A [`JwksCache`] keeps an issuer's public keys: found by discovery or at
//! a given URL, kept for the `Cache-Control: max-age` the issuer sends and
//! revalidated with `If-None-Match`, refreshed in the background, refetched
//! at once for a key id never seen before (at most once per cooldown, so
//! forged key ids cost the issuer nothing), and kept while the issuer is
//! unreachable. Keys are parsed once per change: a verification is the
//! public-key arithmetic alone. [`LocalKeys`] is the IdP's in-process
//! variant.
//!
//! A [`Validator`] trusts one or more [`Issuer`]s, each with its keys,
//! audiences and [`Algorithm`]s (RS256, RS384, RS512, PS256, PS384, PS512,
//! ES256, ES384, EdDSA; `RS256` alone unless configured; never `none`
//! nor HMAC). A token's `iss` picks its issuer before any key is looked
//! up, so a token from an unknown issuer is refused without a fetch:
//!
//! ```no_run
//! use resource_server::{Algorithm, Issuer, JwksCache, Validator};
//!
//! # async fn run() -> Result<(), resource_server::Error> {
//! let keycloak = Issuer::discover("https://sso.example.com/realms/acme")?
//!     .audience("orders-api")
//!     .accept_jwt_typ(true); // Keycloak's access tokens say `typ: JWT`
//! let auth0 = Issuer::new(
//!     "https://acme.eu.auth0.com/",
//!     JwksCache::from_url("https://acme.eu.auth0.com/.well-known/jwks.json").build()?,
//! )
//! .audience("https://orders.example.com")
//! .algorithms([Algorithm::RS256, Algorithm::PS256])
//! .accept_jwt_typ(true);
//! let validator = Validator::with_issuer(keycloak).issuer(auth0).build();
//! # let _ = validator;
//! # Ok(()) }
//! ```
//!
//! Checked for every token: size and shape; a JSON-object header with a
//! known `alg` and no `crit`; the signature with the issuer's key for its
//! `kid`; `exp`/`nbf` with a small leeway; `iss` exactly; `aud`; `typ`
//! `at+jwt` (or `JWT` where allowed); revocation by `jti` and `sid` when a
//! [`RevocationList`] is given. A verified-token cache makes a reused token
//! cost a hash and a lookup instead of a signature check, from its third
//! use on: a token is cached on its second verification, so tokens used
//! once never fill the cache.
//!
//! # Your own claims
//!
//! [`Claims<T>`] holds the registered claims the crate checks and your
//! type `T` for the rest, read from the same payload; it dereferences to
//! `T`. `jti` and `client_id` are optional unless you ask for them with
//! [`RequiredClaim`]. The default `T`, [`Profile`], is what this project's
//! IdP adds (`email`, `name`). [`SharedClaims<T>`] reads the same claims
//! without copying them (the `Arc` the layer and its cache hold).
//!
//! ```
//! use axum::{routing::get, Router};
//! use resource_server::{BearerAuthLayer, Claims, LocalKeys, Validator};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Clone, Deserialize)]
//! struct Auth0 {
//!     #[serde(default)]
//!     permissions: Vec<String>,
//! }
//!
//! async fn reports(claims: Claims<Auth0>) -> String {
//!     format!("{} may {:?}", claims.sub, claims.permissions)
//! }
//!
//! let validator = Validator::builder("https://acme.eu.auth0.com/", LocalKeys::new())
//!     .audience("https://orders.example.com")
//!     .claims::<Auth0>()
//!     .build();
//! let app: Router = Router::new()
//!     .route("/reports", get(reports))
//!     .route_layer(BearerAuthLayer::new(validator));
//! ```
//!
//! # Per-route requirements
//!
//! [`require_scope`] (`403 insufficient_scope`), [`require_amr`] and
//! [`require_acr`] (`401 insufficient_user_authentication`, RFC 9470: ask
//! for a second factor on a sensitive route), [`require_dpop`].
//!
//! # Optional authentication
//!
//! [`BearerAuthLayer::optional`] lets requests without any token through
//! anonymous, for routes that serve both: handlers take
//! `Option<Claims<T>>` (or `Option<Authenticated>`), which is `None` then.
//! A token that is presented is still validated, and refused when it is
//! not valid; requirement layers still refuse anonymous requests with
//! `401`.
//!
//! # DPoP
//!
//! DPoP-bound tokens (RFC 9449: `cnf.jkt`) are accepted only with
//! `Authorization: DPoP` and a valid `DPoP` proof: method, URL, age (five
//! minutes), a `jti` never seen before, the token's hash, the key's
//! thumbprint, and a server nonce if you ask for one
//! ([`dpop::DpopVerifier`]). Bearer tokens keep working unless the layer
//! (or a route) requires DPoP:
//!
//! ```
//! use resource_server::{BearerAuthLayer, LocalKeys, ProtectedResourceMetadata, Validator};
//!
//! let validator = Validator::builder("https://idp.example.com", LocalKeys::new())
//!     .audience("https://api.example.com")
//!     .build();
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com")
//!     .authorization_server("https://idp.example.com")
//!     .dpop_required(true);
//! let layer = BearerAuthLayer::new(validator)
//!     .require_dpop(true)
//!     .public_url("https://api.example.com")
//!     .resource_metadata(metadata.url_at("https://api.example.com"));
//! let app: axum::Router = axum::Router::new()
//!     .route("/orders", axum::routing::get(|| async { "orders" }))
//!     .route_layer(layer)
//!     .merge(metadata.router()); // RFC 9728 /.well-known/oauth-protected-resource
//! ```
//!
//! # The IdP's own endpoints
//!
//! The IdP guards its bearer endpoints with the same layer, fed
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
//!
//! Where things live: `validator.rs` (the checks, in order), `issuer.rs`,
//! `claims.rs`, `jose.rs` (compact JWS shape), `alg.rs`, `jwk.rs` and
//! `keyset.rs` (keys parsed once), `jwks.rs` and `fetch.rs` (the remote key
//! cache), `local_keys.rs`, `key_source.rs`, `token_cache.rs`, `layer.rs`
//! and `extract.rs` (the middleware and what it hands handlers),
//! `require.rs`, `dpop.rs` with `replay.rs` and `nonce.rs`, `metadata.rs`
//! (RFC 9728), `revocation.rs`, `error.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
mod claims;
pub mod dpop;
mod error;
mod extract;
mod fetch;
mod issuer;
mod jose;
mod jwk;
pub mod jwks;
mod key_source;
mod keyset;
pub mod layer;
mod local_keys;
mod metadata;
mod nonce;
mod replay;
pub mod require;
pub mod revocation;
mod token_cache;
pub mod validator;

pub use alg::{Algorithm, Algorithms, UnsupportedAlgorithm};
pub use claims::{Claims, Confirmation, Profile};
/// The string type of [`Claims`]' fields (the `compact_str` crate's),
/// re-exported so that applications can name it without depending on it.
pub use compact_str::CompactString;
pub use error::{
    AuthError, Challenge, Error, InvalidTokenReason, Scheme, DEFAULT_REALM, DPOP_NONCE,
};
pub use extract::{Authenticated, SharedClaims};
pub use fetch::https_client_trusting;
pub use issuer::Issuer;
pub use jwk::{Jwk, JwkSet};
pub use jwks::{JwksCache, JwksCacheBuilder};
pub use key_source::KeySource;
pub use keyset::{KeySet, VerifyingKey, MAX_KID_LEN, MAX_RSA_BITS, MIN_RSA_BITS};
pub use layer::{bearer_token, credentials, BearerAuth, BearerAuthLayer, DPOP};
pub use local_keys::LocalKeys;
pub use metadata::ProtectedResourceMetadata;
pub use require::{
    require_acr, require_amr, require_dpop, require_scope, RequireLayer, RequireScope,
    RequireScopeLayer,
};
pub use revocation::{
    FeedDocument, Refusal, RevocationFeed, RevocationList, RevocationPoller, RevokedClient,
    RevokedSession, RevokedSubject, RevokedToken,
};
pub use validator::{RequiredClaim, Validator, ValidatorBuilder, DEFAULT_CACHE_CAPACITY};

/// The current time in Unix seconds, as the layer passes it to
/// [`Validator::validate`]. A clock before 1970 reads as `0`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
