//! Persistent state: users, signing keys, clients, refresh tokens and
//! revocations, in one SQLite database.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a write that has been
//! answered survives a crash of the process or the machine. Every call runs
//! on tokio's blocking pool: rusqlite is synchronous and must never stall the
//! async executor. Migrations are numbered SQL files under `migrations/`,
//! applied in order at start-up and recorded in `PRAGMA user_version`.
//!
//! Several IdP processes may share one database file; changes another
//! process makes are noticed through the `change_counters` table, which
//! triggers bump on every write to the tables that running instances cache.

mod clients;
mod keys;
mod sessions;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use clients::ClientRow;
pub use keys::{KeyChange, StoredKey};
pub use sessions::{RefreshOutcome, RefreshRow, RevokedToken};
pub use users::UserRow;

/// The schema, one entry per migration, in order.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0001_init.sql")];

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors from the storage layer. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated (duplicate email, client id...).
    #[error("already exists")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database file could not be created or opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database was written by a newer version of this program.
    #[error("database schema version {found} is newer than this program knows ({known})")]
    SchemaTooNew {
        /// Version in the file.
        found: usize,
        /// Latest version this build knows.
        known: usize,
    },
    /// The blocking task was cancelled or panicked.
    #[error("storage task failed")]
    Task,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed, with owner-only permissions) the database
    /// at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
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
            path: Arc::new(path.to_owned()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
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

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// The value of a change counter (`signing_keys`, `revocations`).
    pub async fn change_counter(&self, name: &'static str) -> Result<i64, StoreError> {
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT value FROM change_counters WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?)
        })
        .await
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
        drop(Store::open(&path).expect("first open"));
        let store = Store::open(&path).expect("second open");
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
        drop(Store::open(&path).expect("open"));
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
            Store::open(&path),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }
}
