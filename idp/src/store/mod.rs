//! Persistent state: users, signing keys, clients, refresh tokens and
//! revocations, in an SQLite file (the default) or a PostgreSQL database.
//!
//! [`Store`] is the one handle the rest of the IdP uses; its async methods
//! hide which backend answers. Both backends are synchronous libraries
//! (rusqlite, the `postgres` crate), so every call runs on tokio's blocking
//! pool and never stalls the async executor. The SQLite queries live in
//! this module's files (`users.rs`, `keys.rs`, ...), each next to the public
//! method that runs it; the PostgreSQL ones in `postgres/`, in files of the
//! same names.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a write that has been
//! answered survives a crash of the process or the machine. Its migrations
//! are numbered SQL files under `migrations/`, applied in order at start-up
//! and recorded in `PRAGMA user_version`; PostgreSQL's are under
//! `migrations/postgres/` (see `postgres/mod.rs`).
//!
//! Several IdP processes may share one database; changes another process
//! makes are noticed through the `change_counters` table, which triggers
//! bump on every write to the tables that running instances cache.

mod clients;
mod keys;
mod location;
mod postgres;
mod sessions;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use clients::ClientRow;
pub use keys::{KeyChange, StoredKey};
pub use location::{redact_url, DbLocation};
pub use sessions::{RefreshOutcome, RefreshRow, RevokedToken};
pub use users::UserRow;

/// Unix seconds (or a duration in seconds) as the databases store them:
/// `i64`, saturating rather than wrapping for values past its range.
pub fn db_seconds(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// The SQLite schema, one entry per migration, in order.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_revoked_sessions.sql"),
];

/// How long an SQLite writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors from the storage layer. Messages never contain secrets: database
/// URLs appear with their password redacted.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated (duplicate email, client id...).
    #[error("already exists")]
    Conflict,
    /// The SQLite database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed.
    #[error("database error: {}", postgres::describe(.0))]
    Postgres(::postgres::Error),
    /// The database cannot be reached right now (connection refused or lost,
    /// no pooled connection free in time, server shutting down): worth a
    /// retry, answered with 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database file could not be created or opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--db` names no usable database (a malformed PostgreSQL URL, or one
    /// asking for TLS).
    #[error("database URL {url}: {reason}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database was written by a newer version of this program.
    #[error("database schema version {found} is newer than this program knows ({known})")]
    SchemaTooNew {
        /// Version in the database.
        found: usize,
        /// Latest version this build knows.
        known: usize,
    },
    /// A value does not fit the database's column, or a stored value does
    /// not fit the program's type (a negative time, say).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
    /// The blocking task was cancelled or panicked.
    #[error("storage task failed")]
    Task,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    location: Arc<DbLocation>,
}

/// Which database answers. Each public method of [`Store`] matches on this
/// and runs the backend's own SQL on the blocking pool.
#[derive(Clone)]
enum Backend {
    Sqlite(Sqlite),
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
        let backend = match location {
            DbLocation::Sqlite(path) => Backend::Sqlite(Sqlite::open(path)?),
            DbLocation::Postgres(url) => Backend::Postgres(postgres::Postgres::open(url)?),
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

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
                    .await
            }
            Backend::Postgres(db) => db.call(postgres::ping).await,
        }
    }

    /// The value of a change counter (`signing_keys`, `revocations`).
    pub async fn change_counter(&self, name: &'static str) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |c| {
                    Ok(c.query_row(
                        "SELECT value FROM change_counters WHERE name = ?1",
                        [name],
                        |r| r.get(0),
                    )?)
                })
                .await
            }
            Backend::Postgres(db) => db.call(move |c| postgres::change_counter(c, name)).await,
        }
    }
}

/// One SQLite connection, shared behind a mutex: SQLite allows one writer
/// at a time anyway, and WAL lets readers in other processes go on.
#[derive(Clone)]
struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl Sqlite {
    /// Opens (creating if needed, with owner-only permissions) the database
    /// at `path` and applies pending migrations.
    fn open(path: &Path) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut conn = conn;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself
            // is still consistent (SQLite rolls back the open transaction).
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Task)?
    }
}

/// Creates the file with mode 0600 if it does not exist, so that the private
/// keys inside are never readable by other users, not even for a moment.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop).map_err(open_err)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Maps a uniqueness violation to [`StoreError::Conflict`].
fn conflict_on_unique(err: rusqlite::Error) -> StoreError {
    match err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            StoreError::Conflict
        }
        other => StoreError::Database(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        drop(Sqlite::open(&path).expect("first open"));
        let store = Sqlite::open(&path).expect("second open");
        let conn = store.conn.lock().expect("lock");
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len());
    }

    #[cfg(unix)]
    #[test]
    fn database_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        drop(Store::open(&DbLocation::Sqlite(path.clone())).expect("open"));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.pragma_update(None, "user_version", 99).expect("set");
        }
        assert!(matches!(
            Store::open(&path.into()),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }
}
