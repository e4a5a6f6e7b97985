//! The identity provider: users sign up and log in, services obtain tokens
//! with the OAuth 2.0 client_credentials grant, and every access token is an
//! RS256 JWT in the RFC 9068 profile, verifiable by anyone holding `/jwks`.
//!
//! The library exposes [`app`] (the router, drivable without a socket),
//! [`AppState`] (everything a handler needs, cheap to clone) and [`start`]
//! (state, background tasks and a listener, as `idp serve` runs them), so
//! tests and embedders run exactly what the binary runs.
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

pub mod cli;
pub mod clients;
pub mod config;
pub mod error;
pub mod http;
pub mod introspection;
pub mod keys;
pub mod metrics;
pub mod passwords;
pub mod revocations;
pub mod sessions;
pub mod signer;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod vault;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use http::app;
pub use store::DbLocation;

use crate::keys::KeyManager;
use crate::passwords::Passwords;
use crate::revocations::Revocations;
use crate::store::Store;
use crate::tokens::TokenIssuer;
use crate::vault::Vault;

/// A strong ETag for a response body: 128 bits of its SHA-256.
pub(crate) fn strong_etag(body: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    )
}

/// Everything `idp serve` is configured with.
#[derive(Clone)]
pub struct Config {
    /// Issuer URL; default `http://<bound address>`.
    pub issuer: Option<String>,
    /// Audience of access tokens; default the issuer.
    pub audience: Option<String>,
    /// The database: an SQLite file or a PostgreSQL URL.
    pub db: DbLocation,
    /// Base64 of 32 bytes for encrypting private keys at rest.
    pub key_encryption_key: Option<String>,
    /// Access-token lifetime, seconds.
    pub access_ttl: u64,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: u64,
    /// `/jwks` max-age, seconds.
    pub jwks_max_age: u64,
    /// Extra seconds a retired key stays published.
    pub prune_margin: u64,
    /// Scheduled rotation.
    pub rotate_every: Option<Duration>,
    /// RSA size of new keys.
    pub key_bits: u32,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Key-change polling interval.
    pub key_poll: Duration,
    /// Login attempts per minute per client address; 0 = unlimited.
    pub login_rate: u32,
}

/// Everything but the encryption key, which is only said to be set or not.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("db", &self.db)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<set>"),
            )
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("prune_margin", &self.prune_margin)
            .field("rotate_every", &self.rotate_every)
            .field("key_bits", &self.key_bits)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("key_poll", &self.key_poll)
            .field("login_rate", &self.login_rate)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            db: DbLocation::Sqlite("idp.db".into()),
            key_encryption_key: None,
            access_ttl: 900,
            refresh_ttl: 1_209_600,
            jwks_max_age: 300,
            prune_margin: ::keys::RotationPolicy::DEFAULT_MARGIN,
            rotate_every: None,
            key_bits: 2048,
            bcrypt_cost: 12,
            key_poll: Duration::from_secs(2),
            login_rate: 60,
        }
    }
}

impl Config {
    /// The configuration `idp serve` flags describe.
    pub fn from_args(args: &config::ServeArgs) -> anyhow::Result<Self> {
        Ok(Self {
            issuer: args.issuer.clone(),
            audience: args.audience.clone(),
            db: args.db.location()?,
            key_encryption_key: args.db.key_encryption_key.clone(),
            access_ttl: args.lifetimes.access_ttl,
            refresh_ttl: args.refresh_ttl,
            jwks_max_age: args.lifetimes.jwks_max_age,
            prune_margin: args.lifetimes.prune_margin,
            rotate_every: args.rotate_every,
            key_bits: args.key_bits,
            bcrypt_cost: args.bcrypt_cost,
            key_poll: Duration::from_secs(args.key_poll),
            login_rate: args.login_rate,
        })
    }
}

/// Settings handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of every token, exactly as configured.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl: u64,
    /// `/jwks` max-age.
    pub jwks_max_age: u64,
}

/// Shared state of all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: Settings,
    store: Store,
    keys: Arc<KeyManager>,
    tokens: TokenIssuer,
    passwords: Passwords,
    revocations: Arc<Revocations>,
    /// The IdP's own keys, handed to its validator in-process.
    local_keys: resource_server::LocalKeys,
    validator: resource_server::Validator,
    metrics: metrics::Metrics,
    login_throttle: throttle::LoginThrottle,
}

impl AppState {
    /// Opens the database and key set described by `config`, for an IdP
    /// reachable at `issuer`.
    pub async fn open(config: &Config, issuer: String) -> anyhow::Result<Self> {
        signer::install();
        let vault = Vault::from_secret(config.key_encryption_key.as_deref())?;
        let location = config.db.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&location))
            .await
            .context("opening the database")?
            .with_context(|| format!("opening the database {}", config.db))?;
        tracing::info!(db = %config.db, "database opened");
        let policy = ::keys::RotationPolicy {
            access_ttl: config.access_ttl,
            jwks_max_age: config.jwks_max_age,
            margin: config.prune_margin,
        };
        let keys = Arc::new(
            KeyManager::start(store.clone(), vault, config.key_bits, policy)
                .await
                .context("loading signing keys")?,
        );
        let cost = config.bcrypt_cost;
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        let passwords = tokio::task::spawn_blocking(move || {
            Passwords::new(cost, slots, Duration::from_secs(10))
        })
        .await
        .context("preparing the password hasher")??;
        let audience = config.audience.clone().unwrap_or_else(|| issuer.clone());
        let tokens = TokenIssuer::new(
            issuer.clone(),
            audience.clone(),
            config.access_ttl,
            Arc::clone(&keys),
        );
        let revocations = Arc::new(Revocations::load(store.clone(), config.access_ttl).await?);
        let local_keys = resource_server::LocalKeys::new();
        local_keys
            .set_json(&keys.ring().jwks_body)
            .context("publishing keys to the in-process validator")?;
        let validator = resource_server::Validator::builder(issuer.clone(), local_keys.clone())
            .audience(audience.clone())
            .revocations(revocations.list().clone())
            .build();
        Ok(Self(Arc::new(Inner {
            settings: Settings {
                issuer,
                audience,
                access_ttl: config.access_ttl,
                refresh_ttl: config.refresh_ttl,
                jwks_max_age: config.jwks_max_age,
            },
            store,
            keys,
            tokens,
            passwords,
            revocations,
            local_keys,
            validator,
            metrics: metrics::Metrics::default(),
            login_throttle: throttle::LoginThrottle::with_address_rate(config.login_rate),
        })))
    }

    /// Keeps the in-process validator's keys in step with the key set.
    async fn sync_local_keys(self) {
        let mut changes = self.keys().subscribe();
        while changes.changed().await.is_ok() {
            let ring = Arc::clone(&changes.borrow_and_update());
            if let Err(e) = self.0.local_keys.set_json(&ring.jwks_body) {
                tracing::error!(error = %e, "in-process validator rejected the key set");
            }
        }
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }
    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyManager> {
        &self.0.keys
    }
    /// The token issuer.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.0.tokens
    }
    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }
    /// Revoked access tokens.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.0.revocations
    }
    /// Limits on `/login` attempts.
    pub fn login_throttle(&self) -> &throttle::LoginThrottle {
        &self.0.login_throttle
    }
    /// Counters for `/metrics`.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }
    /// Validates this IdP's access tokens in-process.
    pub fn validator(&self) -> &resource_server::Validator {
        &self.0.validator
    }
}

/// A running IdP.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Its state.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Begins a graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has stopped.
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Opens state, starts the background tasks (key watcher, scheduled
/// rotation) and serves on `listener` until [`Server::shutdown`] or a
/// termination signal.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let state = AppState::open(&config, issuer).await?;
    let watchers = [
        tokio::spawn(Arc::clone(state.keys()).watch(config.key_poll)),
        tokio::spawn(Arc::clone(state.revocations()).watch(config.key_poll)),
        tokio::spawn(state.clone().sync_local_keys()),
    ];
    let rotation = config
        .rotate_every
        .map(|every| tokio::spawn(scheduled_rotation(Arc::clone(state.keys()), every)));
    let (tx, rx) = oneshot::channel::<()>();
    let router = app(state.clone());
    let task = tokio::spawn(async move {
        let stop = async {
            tokio::select! {
                _ = rx => {}
                () = serve::shutdown_signal() => {}
            }
        };
        let served = serve::serve(listener, router, serve::ServeConfig::default(), stop).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
        for watcher in watchers {
            watcher.abort();
        }
        if let Some(rotation) = rotation {
            rotation.abort();
        }
    });
    Ok(Server {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}

/// Rotates every `every`, and prunes. Not forced: a schedule shorter than
/// the JWKS max-age would outrun validators' caches, so such a rotation is
/// skipped with a warning.
async fn scheduled_rotation(keys: Arc<KeyManager>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        match keys.rotate(false).await {
            Ok(plan) => tracing::info!(promoted = %plan.promote, "scheduled rotation done"),
            Err(e) => tracing::warn!(error = %e, "scheduled rotation skipped"),
        }
        if let Err(e) = keys.prune().await {
            tracing::warn!(error = %e, "scheduled prune failed");
        }
    }
}
