//! The SQLite backend, the default: one file, no server to install.
//!
//! One connection writes, shared behind a mutex: SQLite allows one writer
//! at a time anyway, and WAL lets readers in other processes (the `idp` CLI
//! on the same file) go on. Hot-path lookups read through query-only
//! connections of their own, one per core, so that requests on different
//! threads do not queue for the writer's. The file runs with
//! `synchronous=FULL`, so a write that has been answered survives a crash
//! of the process or the machine.
//! Migrations are the numbered files under `migrations/sqlite/`, recorded
//! in `PRAGMA user_version`.
//!
//! The contract is implemented on `rusqlite::Connection` itself, one file
//! per group of tables; every method that reads before it writes opens its
//! transaction with `BEGIN IMMEDIATE`, which takes the write lock first.

mod account_tokens;
mod apis;
mod browser;
mod clients;
mod dpop_sessions;
mod keys;
mod purge;
mod revocation_log;
mod second_factors;
mod sessions;
mod throttle;
mod users;

use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::contract::Health;
use super::error::StoreError;
use crate::private_files::keep_to_owner;

/// The schema, one entry per migration, in order.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_revoked_sessions.sql"),
    include_str!("../../../migrations/sqlite/0003_browser_sign_in.sql"),
    include_str!("../../../migrations/sqlite/0004_accounts.sql"),
    include_str!("../../../migrations/sqlite/0005_apis_and_dpop.sql"),
    include_str!("../../../migrations/sqlite/0006_browser_session_amr.sql"),
    include_str!("../../../migrations/sqlite/0007_limits.sql"),
    include_str!("../../../migrations/sqlite/0008_bounded_sessions_and_feed.sql"),
    include_str!("../../../migrations/sqlite/0009_grant_resource.sql"),
    include_str!("../../../migrations/sqlite/0010_grants_by_user.sql"),
    include_str!("../../../migrations/sqlite/0011_key_lifetimes.sql"),
    include_str!("../../../migrations/sqlite/0012_client_secret_rotation.sql"),
];

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections of this process: the writer, and the lookups' readers.
#[derive(Clone)]
pub(super) struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    /// Query-only connections for [`lookup`](Self::lookup), one per core:
    /// a lookup takes the first one free, so lookups on different threads
    /// read side by side (WAL readers do not block each other, nor the
    /// writer) instead of queueing for `conn`.
    readers: Arc<[Mutex<Connection>]>,
}

impl Sqlite {
    /// Opens (creating if needed, with owner-only permissions) the database
    /// at `path` and applies pending migrations. Blocks.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::open_with_readers(path, cores.min(MAX_READERS))
    }

    /// [`open`](Self::open) with `readers` lookup connections (at least 1).
    fn open_with_readers(path: &Path, readers: usize) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let mut conn = connect(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let readers = (0..readers.max(1))
            .map(|_| open_reader(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers,
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
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

    /// Runs the lookup `f` on the calling thread with a reader that is free
    /// this instant, and through [`call`](Self::call) otherwise: a point
    /// read of a page SQLite already holds costs less than the two thread
    /// wake-ups of a trip to the blocking pool. Inline, `f` never waits for
    /// another process's lock (the readers' busy timeout is zero): a busy
    /// file sends `f` to the pool, where waiting is allowed. `f` can only
    /// read: the readers are `query_only`.
    pub(super) async fn lookup<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.lookup_here(&f) {
            Some(Err(StoreError::Unavailable(_))) | None => self.call(move |conn| f(conn)).await,
            Some(done) => done,
        }
    }

    /// `f`'s result on this thread, or `None` when every reader is in use.
    fn lookup_here<T>(
        &self,
        f: &impl Fn(&mut Connection) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        self.readers.iter().find_map(|reader| {
            let mut conn = match reader.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return None,
            };
            Some(f(&mut conn))
        })
    }
}

/// The most readers, however many cores.
const MAX_READERS: usize = 8;

/// A connection of this process to the file, without SQLite's own mutex:
/// each one sits behind a `Mutex` here.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// A connection for lookups: it refuses writes, and never waits for a lock.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = connect(path)?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

impl Health for Connection {
    /// Also that the file is still where it was opened: SQLite goes on
    /// writing into a deleted file, which no later start would find.
    fn ping(&mut self) -> Result<(), StoreError> {
        self.query_row("SELECT 1", [], |_| Ok(()))?;
        match self.path().filter(|p| !p.is_empty()) {
            Some(path) if !Path::new(path).exists() => Err(StoreError::Unavailable(format!(
                "the database file {path} was deleted or moved while in use"
            ))),
            _ => Ok(()),
        }
    }

    fn change_counter(&mut self, name: &str) -> Result<i64, StoreError> {
        Ok(self
            .prepare_cached("SELECT value FROM change_counters WHERE name = ?1")?
            .query_row([name], |r| r.get(0))?)
    }
}

/// Creates the file with mode 0600 if it does not exist, so that the private
/// keys inside are never readable by other users, not even for a moment.
/// An existing file open to others (a backup copied without `umask 077`, a
/// `VACUUM INTO`) is closed to them with a warning, and so are its `-wal`
/// and `-shm` files, which SQLite creates with the database's mode.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let open_err = |reason| StoreError::Open {
        path: path.to_owned(),
        reason,
    };
    let side = |suffix: &str| {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        std::path::PathBuf::from(side)
    };
    if !path.exists() && side("-wal").exists() {
        return Err(open_err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the file is missing but its write-ahead log {} is there: restore the \
                 database, or remove the -wal and -shm files to start with an empty one",
                side("-wal").display()
            ),
        )));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(open_err)?;
    keep_to_owner(path, 0, "the database").map_err(open_err)?;
    for suffix in ["-wal", "-shm"] {
        let side = side(suffix);
        if side.exists() {
            keep_to_owner(&side, 0, "the database").map_err(open_err)?;
        }
    }
    Ok(())
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
        if index + 1 == EMAIL_KEY_MIGRATION {
            fill_email_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The migration that adds `users.email_key`.
const EMAIL_KEY_MIGRATION: usize = 7;

/// Folds the emails of existing users into `email_key` (by the program's
/// rule: SQLite's lower() knows ASCII only), then makes it unique.
fn fill_email_keys(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let users = tx
        .prepare("SELECT id, email FROM users ORDER BY created_at, id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    for (id, key) in super::rows::initial_email_keys(users) {
        tx.execute(
            "UPDATE users SET email_key = ?2 WHERE id = ?1",
            rusqlite::params![id, key],
        )?;
    }
    tx.execute_batch("CREATE UNIQUE INDEX users_email_key ON users (email_key)")?;
    Ok(())
}

/// A busy or locked database is worth a retry, and so is one that cannot
/// be written (a full disk, an I/O error, a file moved away: the operator's
/// to fix, and the IdP recovers without a restart); a uniqueness violation
/// is a conflict; anything else is a backend failure (a write through a
/// `query_only` reader among them: a bug, not the disk).
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DatabaseBusy
                    || f.code == rusqlite::ErrorCode::DatabaseLocked =>
            {
                StoreError::Unavailable("the SQLite database is busy".into())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DiskFull
                    || f.code == rusqlite::ErrorCode::SystemIoFailure
                    || f.extended_code == rusqlite::ffi::SQLITE_READONLY_DBMOVED =>
            {
                StoreError::Unavailable(format!("the SQLite database cannot be written: {e}"))
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::Conflict
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::ToSqlConversionFailure(..) => {
                StoreError::OutOfRange("a stored value does not fit its type")
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_cannot_be_written_is_worth_a_retry_not_a_failure() {
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_IOERR_WRITE,
            rusqlite::ffi::SQLITE_READONLY_DBMOVED,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            assert!(
                matches!(StoreError::from(e), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        assert!(matches!(StoreError::from(corrupt), StoreError::Backend(_)));
    }

    #[test]
    fn a_deleted_database_is_unready_and_not_quietly_recreated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        let store = Sqlite::open(&path).expect("created");
        let mut conn = store.conn.lock().expect("lock");
        conn.ping().expect("ready");
        std::fs::remove_file(&path).expect("rm");
        let Err(StoreError::Unavailable(why)) = conn.ping() else {
            panic!("a deleted file still pings");
        };
        assert!(why.contains("deleted or moved"), "{why}");
        drop(conn);
        drop(store);
        // What SQLite leaves beside the deleted file: a fresh start refuses.
        let wal = dir.path().join("idp.db-wal");
        std::fs::write(&wal, b"").expect("wal");
        let Err(StoreError::Open { reason, .. }) = Sqlite::open(&path) else {
            panic!("a new database was created beside an orphaned log");
        };
        assert!(reason.to_string().contains("write-ahead log"), "{reason}");
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_database_open_to_others_is_made_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        drop(Sqlite::open(&path).expect("created"));
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("idp.db-wal");
        std::fs::write(&wal, b"").expect("wal");
        for file in [&path, &wal] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        drop(Sqlite::open(&path).expect("reopened"));
        assert_eq!(mode(&path), 0o600);
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

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
        drop(Sqlite::open(&path).expect("open"));
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
            Sqlite::open(&path),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_locked_database_is_unavailable_not_broken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        let store = Sqlite::open(&path).expect("open");
        let other = Connection::open(&path).expect("second connection");
        other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let conn = store.conn.lock().expect("lock");
        conn.busy_timeout(Duration::from_millis(10))
            .expect("timeout");
        let err = conn
            .execute("DELETE FROM revoked_tokens", [])
            .map_err(StoreError::from)
            .expect_err("locked");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    fn count_keys(conn: &mut Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT count(*) FROM signing_keys", [], |r| r.get(0))?)
    }

    /// The thread a lookup ran on.
    fn thread(_: &mut Connection) -> Result<std::thread::ThreadId, StoreError> {
        Ok(std::thread::current().id())
    }

    #[tokio::test]
    async fn a_lookup_reads_on_the_calling_thread_while_a_reader_is_free() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Sqlite::open_with_readers(&dir.path().join("idp.db"), 2).expect("open");
        let here = std::thread::current().id();
        assert_eq!(store.lookup(count_keys).await.expect("free"), 0);
        assert_eq!(store.lookup(thread).await.expect("free"), here);

        // The writer busy, and one reader: the other reader answers.
        let _writer = store.conn.lock().expect("writer");
        let _first = store.readers[0].lock().expect("reader");
        let answer = store
            .lookup_here(&thread)
            .expect("the second reader is free");
        assert_eq!(answer.expect("lookup"), here);
    }

    #[tokio::test]
    async fn a_lookup_goes_to_the_pool_when_every_reader_is_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Sqlite::open_with_readers(&dir.path().join("idp.db"), 2).expect("open");
        // Other requests hold both readers for a while: the lookup waits
        // its turn on the pool instead of failing or blocking this thread.
        let readers = Arc::clone(&store.readers);
        let (locked, is_locked) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _held: Vec<_> = readers.iter().map(|r| r.lock().expect("reader")).collect();
            locked.send(()).expect("send");
            std::thread::sleep(Duration::from_millis(200));
        });
        is_locked.recv().expect("the readers are held");
        assert!(store.lookup_here(&thread).is_none(), "no reader is free");
        assert_eq!(store.lookup(count_keys).await.expect("in use"), 0);
        holder.join().expect("holder");
    }

    #[tokio::test]
    async fn a_lookup_sees_every_write_answered_before_it_and_cannot_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Sqlite::open_with_readers(&dir.path().join("idp.db"), 2).expect("open");
        let count = |conn: &mut Connection| -> Result<i64, StoreError> {
            Ok(conn.query_row("SELECT count(*) FROM probe", [], |r| r.get(0))?)
        };
        store
            .call(|conn| Ok(conn.execute_batch("CREATE TABLE probe (x)")?))
            .await
            .expect("create");
        for n in 1..=3 {
            store
                .call(move |conn| Ok(conn.execute("INSERT INTO probe VALUES (?1)", [n])?))
                .await
                .expect("write");
            assert_eq!(store.lookup(count).await.expect("lookup"), n);
        }
        let write = |conn: &mut Connection| -> Result<usize, StoreError> {
            Ok(conn.execute("DELETE FROM probe", [])?)
        };
        let refused = store.lookup_here(&write).expect("a reader is free");
        assert!(
            matches!(refused, Err(StoreError::Backend(_))),
            "{refused:?}"
        );
        assert_eq!(store.lookup(count).await.expect("lookup"), 3);
    }

    /// Whether a write through `store` waits for another connection's
    /// write lock (released after 300 ms) and then succeeds.
    async fn a_write_waits_for_another_process(store: &Sqlite, path: &Path) -> bool {
        // The `idp` CLI, say, writing on the same file.
        let other = Connection::open(path).expect("second connection");
        other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").expect("commit");
        });
        let written = store
            .call(|conn| Ok(conn.execute_batch("CREATE TABLE IF NOT EXISTS probe (x)")?))
            .await;
        release.join().expect("release");
        written.is_ok()
    }

    #[tokio::test]
    async fn writers_still_wait_for_another_process_after_an_inline_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        let store = Sqlite::open(&path).expect("open");
        // WAL readers are not blocked by a writer: the lookup answers here
        // while another connection holds the write lock.
        let other = Connection::open(&path).expect("second connection");
        other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
        assert_eq!(store.lookup(count_keys).await.expect("lookup"), 0);
        other.execute_batch("COMMIT").expect("commit");

        // A write must wait (the readers' zero busy timeout is theirs
        // alone) and then succeed, not fail at once with a busy file.
        assert!(a_write_waits_for_another_process(&store, &path).await);
    }

    #[tokio::test]
    async fn a_lookup_that_panics_leaves_its_reader_usable_and_writes_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.db");
        let store = Sqlite::open_with_readers(&path, 1).expect("open");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.lookup_here(&|_: &mut Connection| -> Result<(), StoreError> {
                panic!("a bug in a lookup")
            })
        }));
        assert!(panicked.is_err());
        assert!(store.readers[0].is_poisoned());
        assert_eq!(
            store.lookup(thread).await.expect("lookup"),
            std::thread::current().id()
        );
        assert!(a_write_waits_for_another_process(&store, &path).await);
    }
}
