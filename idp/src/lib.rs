//! The identity provider: users sign up and log in, services obtain tokens
//! with the OAuth 2.0 client_credentials grant, and every access token is an
//! RS256 JWT in the RFC 9068 profile, verifiable by anyone holding `/jwks`.
//!
//! Where each concern lives:
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`Config`]: what a running IdP is configured with |
//! | [`cli`] | the `idp` command line: flags (clap) and what each subcommand does |
//! | [`server`] | [`start`]: state, background tasks and a listener, until shutdown |
//! | [`state`] | [`AppState`]: everything a handler needs, assembled once |
//! | [`tasks`] | background work: key and revocation watchers, scheduled rotation |
//! | [`http`] | the HTTP API, one module per resource; [`app`] is the router |
//! | [`error`] | [`Error`]: every way a request fails, with its status and code |
//! | [`store`] | the storage contract and its SQLite and PostgreSQL backends |
//! | [`signing_keys`] | the running key set: current key parsed once, `/jwks` body, rotation |
//! | [`signer`], [`vault`] | signing with the parsed key; sealing private keys at rest |
//! | [`tokens`] | RFC 9068 access tokens |
//! | [`apis`], [`dpop`] | RFC 8707 resources (`aud` per API); DPoP-bound tokens and sessions |
//! | [`sessions`], [`refresh_token`] | login sessions: refresh-token families and the refresh flow; the token's format and MAC |
//! | [`authorization`], [`code_grant`] | `/authorize` requests and their codes; redeeming a code at `/token` |
//! | [`browser_sessions`], [`id_tokens`], [`disclosure`] | the sign-in cookie's sessions; ID tokens; which user claims a scope discloses |
//! | [`redirect_uris`], [`pkce`] | which redirect URIs may be registered and match; PKCE S256 |
//! | [`clients`], [`scope`] | the client registry's rules; what scopes a request is granted |
//! | [`passwords`], [`throttle`] | bcrypt off the executor; login limits |
//! | [`accounts`] | sign-in (the one password check, for the API and the pages), signup, lifecycle, password change and reset, email verification, TOTP |
//! | [`mail`] | outgoing mail: SMTP (lettre) or the outbox directory |
//! | [`revocations`], [`introspection`] | revoked tokens and the feed; what `/introspect` says |
//! | [`metrics`], [`etag`], [`secret`] | counters; ETags; secrets whose `Debug` shows nothing |
//!
//! The library exposes [`app`] (the router, drivable without a socket),
//! [`AppState`] (cheap to clone) and [`start`] (state, background tasks and
//! a listener, as `idp serve` runs them), so tests and embedders run
//! exactly what the binary runs.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = idp::Config {
//!     // Or DbLocation::parse("postgres://idp:password@db.internal/idp")?
//!     db: idp::DbLocation::Sqlite("idp.db".into()),
//!     ..idp::Config::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = idp::start(config, listener).await?;
//! println!("issuer {}", server.state.settings().issuer);
//! server.stopped().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod accounts;
pub mod apis;
pub mod authorization;
pub mod browser_sessions;
pub mod cli;
pub mod clients;
pub mod code_grant;
pub mod config;
pub mod disclosure;
pub mod dpop;
pub mod error;
pub mod etag;
pub mod http;
pub mod id_tokens;
pub mod introspection;
pub mod mail;
pub mod metrics;
pub mod passwords;
pub mod pkce;
pub mod private_files;
pub mod redirect_uris;
pub mod refresh_token;
pub mod revocations;
pub mod scope;
pub mod secret;
pub mod server;
pub mod sessions;
pub mod signer;
pub mod signing_keys;
pub mod state;
pub mod store;
pub mod tasks;
pub mod throttle;
pub mod tokens;
pub mod vault;

pub use config::Config;
pub use error::Error;
pub use http::app;
pub use server::{start, Server};
pub use state::{AppState, Settings};
pub use store::DbLocation;

/// Unix seconds now: the resource-server crate's clock, so that issuing and
/// validating read time the same way.
pub use resource_server::unix_now;
