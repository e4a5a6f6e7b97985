//! One pooled PostgreSQL connection and what it remembers: the statements
//! it has prepared, so each query costs one round trip instead of a
//! prepare and an execute, and whether it turned out dead on arrival.
//!
//! The pool does not test a connection on every checkout (that was an
//! extra round trip per query). A connection the server dropped while it
//! sat idle (a restart, a failover) fails on its first statement instead;
//! since nothing ran on it, [`Postgres::call`](super::Postgres) retries the
//! work once on a fresh connection, so nobody sees the error. A failure
//! after a statement has run is never retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement, Transaction};

use super::{describe, is_unavailable, MakeTls};
use crate::store::error::StoreError;

/// A connection with its prepared statements.
pub(in crate::store) struct PgConn {
    client: Client,
    state: ConnState,
}

/// What a connection remembers besides its socket.
#[derive(Default)]
pub(super) struct ConnState {
    statements: HashMap<String, Statement>,
    /// A statement has been sent since checkout.
    used: bool,
    /// The first statement after checkout failed because the connection
    /// was already gone: nothing ran, the work may be retried.
    dead_on_arrival: bool,
    /// A statement failed because the connection is gone.
    broken: bool,
}

impl PgConn {
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            state: ConnState::default(),
        }
    }

    /// Statements on the connection itself (each its own transaction).
    pub(super) fn db(&mut self) -> Cached<'_, &mut Client> {
        Cached {
            client: &mut self.client,
            state: &mut self.state,
        }
    }

    /// Opens a transaction; run statements on it through [`Cached`] and
    /// commit with [`Cached::commit`]. Dropping it rolls back.
    pub(super) fn transaction(&mut self) -> Result<Cached<'_, Transaction<'_>>, StoreError> {
        let first = self.state.begin();
        let tx = self
            .client
            .transaction()
            .map_err(|e| self.state.failed(first, e))?;
        Ok(Cached {
            client: tx,
            state: &mut self.state,
        })
    }

    /// Marks the start of a checkout.
    pub(super) fn checked_out(&mut self) {
        self.state.used = false;
        self.state.dead_on_arrival = false;
    }

    /// Whether the last work failed on a connection that was already dead,
    /// before anything ran.
    pub(super) fn dead_on_arrival(&self) -> bool {
        self.state.dead_on_arrival
    }

    /// Whether the pool should throw this connection away.
    pub(super) fn is_broken(&self) -> bool {
        self.state.broken || self.client.is_closed()
    }
}

impl ConnState {
    /// Notes that a statement is about to be sent; whether it is the first.
    fn begin(&mut self) -> bool {
        !std::mem::replace(&mut self.used, true)
    }

    /// Records a failure and converts it.
    fn failed(&mut self, first: bool, e: postgres::Error) -> StoreError {
        if connection_lost(&e) {
            self.broken = true;
            self.dead_on_arrival = first;
        }
        e.into()
    }
}

/// Whether `e` says the connection is gone (closed socket, or the server
/// terminating the session), as opposed to a statement that failed.
fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
        None => is_unavailable(e),
    }
}

/// A connection or transaction whose statements are prepared once per
/// connection and reused.
pub(in crate::store) struct Cached<'a, C> {
    client: C,
    state: &'a mut ConnState,
}

/// Statements run through `&mut Client` or an owned `Transaction`.
pub(super) trait Target {
    /// The client or transaction to run on.
    type Client: GenericClient;
    /// It.
    fn target(&mut self) -> &mut Self::Client;
}

impl Target for &mut Client {
    type Client = Client;
    fn target(&mut self) -> &mut Client {
        self
    }
}

impl<'t> Target for Transaction<'t> {
    type Client = Transaction<'t>;
    fn target(&mut self) -> &mut Transaction<'t> {
        self
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<C: Target> Cached<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.state.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.target().prepare(sql)?;
        self.state
            .statements
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `run` with the prepared statement for `sql`.
    fn with<T>(
        &mut self,
        sql: &str,
        run: impl FnOnce(&mut C::Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let first = self.state.begin();
        let result = self
            .statement(sql)
            .and_then(|statement| run(self.client.target(), &statement));
        result.map_err(|e| self.state.failed(first, e))
    }

    /// All rows.
    pub(super) fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.with(sql, |c, s| c.query(s, params))
    }

    /// At most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        self.with(sql, |c, s| c.query_opt(s, params))
    }

    /// Exactly one row.
    pub(super) fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
        self.with(sql, |c, s| c.query_one(s, params))
    }

    /// The number of rows changed.
    pub(super) fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        self.with(sql, |c, s| c.execute(s, params))
    }
}

impl Cached<'_, Transaction<'_>> {
    /// Commits the transaction.
    pub(super) fn commit(self) -> Result<(), StoreError> {
        let Cached { client, state } = self;
        client.commit().map_err(|e| state.failed(false, e))
    }
}

/// Opens [`PgConn`]s for the pool, noting in [`ConnectFailures`] whether
/// that works. No liveness query on checkout: a dead connection shows on
/// its first statement (see the module docs).
pub(super) struct Manager {
    pub(super) config: postgres::Config,
    pub(super) tls: MakeTls,
    pub(super) failures: Arc<ConnectFailures>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        let connected = self.config.connect(self.tls.clone());
        self.failures.note(connected.as_ref().err());
        connected.map(PgConn::new)
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_broken()
    }
}

/// The last failed attempt to open a connection, forgotten as soon as one
/// succeeds. While it is recent, a checkout that finds no idle connection
/// answers at once instead of waiting for one that cannot come (see
/// `checkout` in `mod.rs`); the pool keeps retrying in the background.
#[derive(Default)]
pub(super) struct ConnectFailures {
    /// When, and why (the driver's and socket's words, never the URL).
    last: Mutex<Option<(Instant, String)>>,
}

impl ConnectFailures {
    /// Records the outcome of an attempt: its error, or `None` for success.
    fn note(&self, error: Option<&postgres::Error>) {
        *self.lock() = error.map(|e| (Instant::now(), describe(e)));
    }

    /// Why connecting failed, if the last attempt failed less than `within`
    /// ago.
    pub(super) fn recent(&self, within: Duration) -> Option<String> {
        match &*self.lock() {
            Some((at, why)) if at.elapsed() < within => Some(why.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        // Nothing is left half-written by a panic: a plain assignment.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the test server of `IDP_TEST_POSTGRES_URL` (`.ci/postgres.sh`);
    /// says so and passes without it.
    fn connect() -> Option<PgConn> {
        let Ok(url) = std::env::var("IDP_TEST_POSTGRES_URL") else {
            eprintln!("IDP_TEST_POSTGRES_URL is not set, skipped");
            return None;
        };
        let client = Client::connect(&url, postgres::NoTls).expect("test server");
        Some(PgConn::new(client))
    }

    #[test]
    fn a_statement_is_prepared_once_per_connection_and_reused() {
        let Some(mut conn) = connect() else { return };
        let sql = "SELECT $1::int + 1";
        for i in 0..5i32 {
            let row = conn.db().query_one(sql, &[&i]).expect("query");
            assert_eq!(row.get::<_, i32>(0), i + 1);
        }
        let mut tx = conn.transaction().expect("begin");
        tx.query_one(sql, &[&7i32]).expect("query in a transaction");
        tx.commit().expect("commit");
        let prepared: i64 = conn
            .db()
            .query_one(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                &[&sql],
            )
            .expect("count")
            .get(0);
        assert_eq!(prepared, 1, "one server-side statement for six executions");
    }

    #[test]
    fn a_connection_closed_by_the_server_is_dead_on_arrival_then_broken() {
        let Some(mut victim) = connect() else { return };
        let Some(mut admin) = connect() else { return };
        let pid: i32 = victim
            .db()
            .query_one("SELECT pg_backend_pid()", &[])
            .expect("pid")
            .get(0);
        admin
            .db()
            .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
            .expect("terminate");
        victim.checked_out();
        let err = victim
            .db()
            .query_one("SELECT 1", &[])
            .expect_err("the server closed it");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(victim.dead_on_arrival() && victim.is_broken());

        // A failure after a statement has run is not a retryable one.
        let Some(mut used) = connect() else { return };
        used.checked_out();
        used.db().query_one("SELECT 1", &[]).expect("runs");
        assert!(used.db().query_one("SELECT 1/0", &[]).is_err());
        assert!(!used.dead_on_arrival() && !used.is_broken());
    }
}
