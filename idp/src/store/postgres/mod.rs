//! The PostgreSQL backend: `--db postgres://user:password@host:port/dbname`,
//! for running any number of stateless IdP instances on one database.
//!
//! It uses the synchronous `postgres` crate with a small r2d2 connection
//! pool, and runs every call on tokio's blocking pool exactly like the
//! SQLite backend, so no blocking call lands on the async executor. The
//! contract is implemented on [`conn::PgConn`] (a client with its
//! prepared statements), one file per group of tables, beside the SQLite
//! backend's files of the same names.
//!
//! Several instances start, rotate keys and use refresh tokens at the same
//! time on one database, so everything that reads before it writes takes a
//! lock first:
//! - migrations run in one transaction under `pg_advisory_xact_lock`, and
//!   are recorded in `schema_migrations` (numbered files under
//!   `migrations/postgres/`); a database newer than this build is refused;
//! - key rotation, pruning and the initial key set lock the `signing_keys`
//!   change counter row (`keys.rs`);
//! - a refresh token is read `FOR UPDATE` before it is used (`sessions.rs`).
//!
//! Connections speak TLS (rustls) as the URL's `sslmode` says (`tls.rs`);
//! pooled ones start with a `statement_timeout` and `lock_timeout`, so a
//! stuck table fails the requests that need it with 503 within seconds
//! instead of holding every pooled connection.
//!
//! A request waits up to [`CHECKOUT_TIMEOUT`] for a pooled connection when
//! all are busy, but not when the pool cannot open one: for a second after
//! an attempt to connect failed (refused, unknown host, wrong password,
//! TLS), a request that finds no idle connection is answered 503 at once.
//! The pool keeps trying to connect in the background, and after that
//! second requests ask for a connection again, so the first success ends
//! the outage.

mod account_tokens;
mod apis;
mod browser;
mod clients;
mod conn;
mod dpop_sessions;
mod keys;
mod purge;
mod revocation_log;
mod second_factors;
mod sessions;
mod throttle;
mod tls;
mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use self::conn::{ConnectFailures, Manager, PgConn};
use self::tls::TlsSettings;
use super::contract::Health;
use super::error::StoreError;
use super::StoreOptions;

/// The schema, one entry per migration, in order. Version N is
/// `MIGRATIONS[N - 1]`, recorded in `schema_migrations` once applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_revoked_sessions.sql"),
    include_str!("../../../migrations/postgres/0003_browser_sign_in.sql"),
    include_str!("../../../migrations/postgres/0004_accounts.sql"),
    include_str!("../../../migrations/postgres/0005_apis_and_dpop.sql"),
    include_str!("../../../migrations/postgres/0006_browser_session_amr.sql"),
    include_str!("../../../migrations/postgres/0007_limits.sql"),
    include_str!("../../../migrations/postgres/0008_bounded_sessions_and_feed.sql"),
    include_str!("../../../migrations/postgres/0009_grant_resource.sql"),
    include_str!("../../../migrations/postgres/0010_grants_by_user.sql"),
    include_str!("../../../migrations/postgres/0011_key_lifetimes.sql"),
    include_str!("../../../migrations/postgres/0012_client_secret_rotation.sql"),
];

/// The advisory lock migrations hold (per database): "idp-migr" in ASCII.
const MIGRATION_LOCK: i64 = 0x6964_702d_6d69_6772;

/// How long a request waits for a free (or new) connection before it is
/// answered 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a failed attempt to connect makes checkouts that need a new
/// connection fail at once, unless an attempt succeeds first. After it, a
/// checkout asks the pool for a connection again, and waits only until
/// that (or any) attempt fails.
const CONNECT_FAILURE_KEPT: Duration = Duration::from_secs(1);

/// How often a checkout waiting for a busy pool looks whether connecting
/// has failed meanwhile (r2d2 does not wake waiters on a failure).
const CHECKOUT_POLL: Duration = Duration::from_millis(50);

/// How long opening one connection may take, unless the URL says otherwise
/// (`connect_timeout=`): a black-holed host must not hang start-up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How connections are encrypted (see `tls.rs`).
type MakeTls = MakeRustlsConnect;

type Pool = r2d2::Pool<Manager>;

/// A pool of connections to one database; cheap to clone.
#[derive(Clone)]
pub(super) struct Postgres {
    pool: Arc<PoolOwner>,
    /// Shared with the pool's [`Manager`], which records them.
    failures: Arc<ConnectFailures>,
}

/// Owns the pool so that its connections are closed off the async executor.
/// A `postgres::Client` runs its own small tokio runtime, and closing it
/// blocks on that runtime, which panics on an async worker thread; the last
/// `Store` handle is often dropped on one (a server shutting down).
struct PoolOwner(Option<Pool>);

impl Drop for PoolOwner {
    fn drop(&mut self) {
        let Some(pool) = self.0.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // The thread only says goodbye to the server; nothing waits on it.
            let closing = std::thread::Builder::new()
                .name("idp-pg-close".into())
                .spawn(move || drop(pool));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "could not close PostgreSQL connections cleanly");
            }
        }
    }
}

impl Postgres {
    /// Connects, applies pending migrations and sets up the pool. Blocks.
    pub(super) fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (mut config, tls) = connection_config(url)?;
        // One direct connection first: an unreachable server, a wrong
        // password or a certificate that does not check out fails here at
        // once with the reason, where a pool would keep retrying until its
        // timeout. Migrations run on it without the request timeouts.
        let mut client = config
            .connect(tls.clone())
            .map_err(|e| StoreError::Unavailable(format!("cannot connect: {}", describe(&e))))?;
        migrate(&mut client)?;
        drop(client);
        config.options(&session_options(config.get_options(), options));
        let failures = Arc::new(ConnectFailures::default());
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(false)
            .error_handler(Box::new(LogConnectionErrors))
            .build_unchecked(Manager {
                config,
                tls,
                failures: Arc::clone(&failures),
            });
        Ok(Self {
            pool: Arc::new(PoolOwner(Some(pool))),
            failures,
        })
    }

    /// Runs `f` with a pooled connection on the blocking pool. When the
    /// connection turns out to have been dropped by the server before `f`
    /// sent anything (a restart, a failover), it is thrown away and `f` runs
    /// again on another: nothing had happened, so nothing happens twice.
    /// After a restart every pooled connection may be dead, so this goes on
    /// for at most the pool's size plus one (a new connection).
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut PgConn) -> Result<T, StoreError> + Send + 'static,
    {
        let owner = Arc::clone(&self.pool);
        let failures = Arc::clone(&self.failures);
        tokio::task::spawn_blocking(move || {
            let pool = owner.0.as_ref().ok_or(StoreError::Task)?;
            let mut tries = 0;
            loop {
                let mut conn = checkout(pool, &failures)?;
                conn.checked_out();
                let result = f(&mut conn);
                tries += 1;
                if result.is_ok() || !conn.dead_on_arrival() || tries > pool.max_size() {
                    return result;
                }
                tracing::info!("a PostgreSQL connection was closed by the server; trying another");
            }
        })
        .await
        .map_err(|_| StoreError::Task)?
    }
}

/// Takes a pooled connection: an idle one, else a new or freed one within
/// [`CHECKOUT_TIMEOUT`], except that while connecting fails (see
/// [`CONNECT_FAILURE_KEPT`]) no idle connection means 503 at once. A busy
/// pool on a healthy server still gets the whole timeout: the wait goes in
/// short slices only to notice a failure that happens meanwhile.
fn checkout(
    pool: &Pool,
    failures: &ConnectFailures,
) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
    let deadline = Instant::now() + CHECKOUT_TIMEOUT;
    loop {
        if let Some(why) = failures.recent(CONNECT_FAILURE_KEPT) {
            return pool
                .try_get()
                .ok_or_else(|| StoreError::Unavailable(format!("cannot connect: {why}")));
        }
        // Takes an idle connection, or asks the pool for a new one and
        // waits for it or for one given back.
        let left = deadline.saturating_duration_since(Instant::now());
        match pool.get_timeout(left.min(CHECKOUT_POLL)) {
            Ok(conn) => return Ok(conn),
            Err(e) if left <= CHECKOUT_POLL => return Err(StoreError::Unavailable(e.to_string())),
            Err(_) => {}
        }
    }
}

/// Checks a `postgres://` URL without connecting. Errors never echo it
/// whole: only its redacted form.
pub(super) fn check_url(url: &str) -> Result<(), StoreError> {
    connection_config(url).map(drop)
}

/// The driver's configuration and the TLS connector for `url`.
fn connection_config(url: &str) -> Result<(postgres::Config, MakeTls), StoreError> {
    let bad = |reason: String| StoreError::BadUrl {
        url: redact_url(url),
        reason,
    };
    let (tls, rest) = TlsSettings::extract(url).map_err(bad)?;
    let mut config: postgres::Config = rest.parse().map_err(|e: postgres::Error| {
        // The parser's messages name an option, never its value.
        bad(describe(&e))
    })?;
    config.ssl_mode(tls.ssl_mode());
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("idp");
    }
    let connector = tls.connector().map_err(bad)?;
    Ok((config, connector))
}

/// The server settings every pooled connection starts with: the URL's own
/// `options`, then the statement and lock timeouts, so that a stuck table
/// fails the requests that need it within seconds instead of holding every
/// pooled connection.
fn session_options(from_url: Option<&str>, options: &StoreOptions) -> String {
    let timeouts = format!(
        "-c statement_timeout={} -c lock_timeout={}",
        options.statement_timeout.as_millis(),
        options.lock_timeout.as_millis()
    );
    match from_url {
        Some(own) if !own.trim().is_empty() => format!("{own} {timeouts}"),
        _ => timeouts,
    }
}

/// Applies pending migrations in one transaction. The advisory lock makes
/// instances starting at once take turns: the first creates the schema, the
/// others find it done.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    let found = usize::try_from(found).map_err(|_| StoreError::OutOfRange("schema version"))?;
    if found > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let version =
            i32::try_from(index + 1).map_err(|_| StoreError::OutOfRange("schema version"))?;
        tx.batch_execute(sql)?;
        if index + 1 == EMAIL_KEY_MIGRATION {
            fill_email_keys(&mut tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit()?;
    Ok(())
}

/// The migration that adds `users.email_key`.
const EMAIL_KEY_MIGRATION: usize = 7;

/// Folds the emails of existing users into `email_key` by the program's
/// rule (the same as SQLite's), then makes it unique.
fn fill_email_keys(tx: &mut postgres::Transaction<'_>) -> Result<(), StoreError> {
    let users = tx
        .query("SELECT id, email FROM users ORDER BY created_at, id", &[])?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<(String, String)>, StoreError>>()?;
    for (id, key) in super::rows::initial_email_keys(users) {
        tx.execute(
            "UPDATE users SET email_key = $2 WHERE id = $1",
            &[&id, &key],
        )?;
    }
    tx.batch_execute("CREATE UNIQUE INDEX users_email_key ON users (email_key)")?;
    Ok(())
}

impl Health for PgConn {
    fn ping(&mut self) -> Result<(), StoreError> {
        self.db().query_one("SELECT 1", &[])?;
        Ok(())
    }

    fn change_counter(&mut self, name: &str) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .query_one(
                "SELECT value FROM change_counters WHERE name = $1",
                &[&name],
            )?
            .try_get(0)?)
    }
}

/// Shows a database URL without its password (nor user name): everything
/// between `://` and the last `@` becomes `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict
        } else if is_unavailable(&e) {
            StoreError::Unavailable(describe(&e))
        } else {
            StoreError::Backend(describe(&e))
        }
    }
}

/// The error with its cause: `postgres::Error` displays only its kind ("db
/// error"). A server error shows its severity, message and SQLSTATE, but not
/// its DETAIL, which can quote row values (an email address, say).
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether the error means "the database cannot serve right now, try again"
/// rather than "this statement is wrong": a lost connection, a server
/// shutting down or out of connections, a serialization failure.
pub(super) fn is_unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") // connection exception
                || code.starts_with("53") // insufficient resources
                || code.starts_with("57P") // admin/crash shutdown, cannot connect now
                || code == SqlState::T_R_SERIALIZATION_FAILURE.code()
                || code == SqlState::T_R_DEADLOCK_DETECTED.code()
                || code == SqlState::QUERY_CANCELED.code() // statement_timeout
                || code == SqlState::LOCK_NOT_AVAILABLE.code() // lock_timeout
        }
        // No SQLSTATE: the socket failed.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Unix seconds as stored (`BIGINT`).
fn to_db(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange(what))
}

/// Unix seconds as the program uses them.
fn from_db(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::OutOfRange(what))
}

/// Logs the pool's failures to (re)connect through `tracing`; the messages
/// are the server's and the socket's, without the URL.
#[derive(Debug)]
struct LogConnectionErrors;

impl r2d2::HandleError<postgres::Error> for LogConnectionErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(error = %describe(&error), "PostgreSQL connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_timeouts_and_a_name_but_keep_their_own() {
        let (config, _) = connection_config("postgres://idp:pw@db/idp").expect("parses");
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_application_name(), Some("idp"));
        assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Prefer);
        let (config, _) = connection_config(
            "postgresql://idp:pw@db/idp?connect_timeout=1&application_name=a&sslmode=disable",
        )
        .expect("parses");
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(1)));
        assert_eq!(config.get_application_name(), Some("a"));
        assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Disable);
    }

    #[test]
    fn pooled_sessions_get_the_timeouts_after_the_urls_own_options() {
        let options = StoreOptions {
            statement_timeout: Duration::from_millis(1500),
            lock_timeout: Duration::from_secs(1),
            ..StoreOptions::default()
        };
        assert_eq!(
            session_options(Some("-c search_path=idp"), &options),
            "-c search_path=idp -c statement_timeout=1500 -c lock_timeout=1000"
        );
        assert_eq!(
            session_options(None, &options),
            "-c statement_timeout=1500 -c lock_timeout=1000"
        );
    }
}
