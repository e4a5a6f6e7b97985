//! Persistent state: users, signing keys, clients, APIs, refresh tokens (and
//! their DPoP bindings), revocations, browser sessions, account tokens and
//! second factors, in an SQLite file (the default) or a PostgreSQL database.
//!
//! - `contract.rs` is the storage contract: one trait per group of tables,
//!   and [`Repository`], all of them. It is the only thing the rest of the
//!   IdP knows of the database.
//! - `rows.rs` holds the row types, `refresh_policy.rs` and
//!   `code_policy.rs` the decisions both backends share (what presenting a
//!   refresh token or an authorization code means), and
//!   `error.rs` the one error type both map their driver errors into.
//! - `sqlite/` and `postgres/` are siblings that implement the contract on
//!   their connection type, one file per group of tables; their migrations
//!   are numbered SQL files under `migrations/sqlite/` and
//!   `migrations/postgres/`, applied at start-up.
//!
//! [`Store`] is the handle the IdP holds. Both drivers are synchronous
//! (rusqlite, the `postgres` crate), so [`Store::run`] runs a closure over
//! the [`Repository`] on tokio's blocking pool and never stalls the async
//! executor:
//!
//! ```no_run
//! # async fn f(store: idp::store::Store) -> Result<(), idp::store::StoreError> {
//! let user = store
//!     .run(|db| db.user_by_email("ann@example.com"))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Several IdP processes may share one database; changes another process
//! makes are noticed through change counters that triggers bump on every
//! write to the tables running instances cache.

pub mod code_policy;
mod contract;
mod error;
mod location;
mod postgres;
pub mod purge_policy;
pub mod refresh_policy;
mod rows;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

pub use code_policy::PresentedCode;
pub use contract::{
    AccountTokens, Apis, BrowserSessions, Clients, DpopSessions, Grants, Health, Purge,
    RefreshTokens, Repository, RevocationLog, RevokedTokens, SecondFactors, SigningKeys, Throttle,
    Users,
};
pub use error::StoreError;
pub use location::DbLocation;
pub use postgres::redact_url;
pub use refresh_policy::{ClaimedGeneration, PresentedRefresh};
pub use rows::{
    email_key, AccountTokenPurpose, AccountTokenRow, ApiRow, BrowserSessionRow, ClientRow,
    CodeOutcome, CutoffKind, EndedSession, Expiring, GrantRow, KeyChange, LogEntry, LogHead,
    LogKind, LogPage, PreviousSecret, PurgeHorizon, RefreshOutcome, RefreshRow, Reservation,
    RevokedToken, SecretRotation, SessionGuard, StoredKey, ThrottleCharge, TokenCutoff, TotpRow,
    UserCursor, UserRow,
};

/// How the database is used, beyond where it is. SQLite has one
/// connection and its own busy timeout; these are for PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections per IdP process. Requests queue for one beyond that; the
    /// server's `max_connections` (100 by default) bounds instances × this.
    pub pool_size: u32,
    /// A statement running longer is cancelled (`statement_timeout`).
    pub statement_timeout: Duration,
    /// A statement waiting longer for a lock gives up (`lock_timeout`).
    pub lock_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 10,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    location: Arc<DbLocation>,
}

/// Which database answers; matched in [`Store::run`] alone.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // DbLocation's Debug redacts the password of a URL.
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

impl Store {
    /// Opens the database at `location` and applies pending migrations: an
    /// SQLite file is created if needed, with owner-only permissions; a
    /// PostgreSQL database must exist, and its tables are created inside it.
    ///
    /// This blocks (file and network I/O): call it from
    /// `tokio::task::spawn_blocking` in async code.
    pub fn open(location: &DbLocation) -> Result<Self, StoreError> {
        Self::open_with(location, &StoreOptions::default())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(location: &DbLocation, options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = match location {
            DbLocation::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path)?),
            DbLocation::Postgres(url) => Backend::Postgres(postgres::Postgres::open(url, options)?),
        };
        Ok(Self {
            backend,
            location: Arc::new(location.clone()),
        })
    }

    /// Where the data lives.
    pub fn location(&self) -> &DbLocation {
        &self.location
    }

    /// Runs `f` with a connection on the blocking pool. Each contract method
    /// is atomic on its own; several calls inside one `f` share the
    /// connection (one blocking hop) but not a transaction. `f` may run a
    /// second time, on a fresh connection, when the first one turns out to
    /// have been closed by the server before `f` sent anything.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Repository) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| f(conn)).await,
            Backend::Postgres(db) => db.call(move |conn| f(conn)).await,
        }
    }

    /// [`run`](Self::run) for a lookup that only reads (a row by its key, on
    /// a hot path such as client authentication): on SQLite it runs on the
    /// calling thread with one of the query-only reader connections (one
    /// per core) that is free, skipping the trip to the blocking pool; with
    /// every reader busy, a busy file, and on PostgreSQL, it goes through
    /// the pool.
    pub async fn lookup<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Repository) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(db) => db.lookup(move |conn| f(conn)).await,
            Backend::Postgres(db) => db.call(move |conn| f(conn)).await,
        }
    }
}
