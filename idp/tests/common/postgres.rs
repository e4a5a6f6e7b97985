//! A throw-away database per test on the PostgreSQL server that
//! `IDP_TEST_POSTGRES_URL` names (a superuser URL, as `.ci/postgres.sh`
//! starts one). Without the variable, [`PgDatabase::create`] says once that
//! the PostgreSQL tests were skipped and returns `None`: `cargo test` keeps
//! working on a machine without PostgreSQL, and CI always sets it.

use idp::store::{Store, StoreError};
use idp::DbLocation;

/// A fresh database on the test server, dropped (with its connections) when
/// this goes out of scope.
pub struct PgDatabase {
    admin_url: String,
    /// The database's name.
    pub name: String,
    /// The URL of this database, with the superuser's password.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database, or returns `None` after saying so when no test
    /// server is configured.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("IDP_TEST_POSTGRES_URL") else {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write as _;
                // Straight to stderr: the test harness does not capture
                // this, so the skip shows in a plain `cargo test`.
                let _ = writeln!(
                    std::io::stderr(),
                    "IDP_TEST_POSTGRES_URL is not set, the PostgreSQL tests were skipped \
                     (.ci/run starts a server and sets it)"
                );
            });
            return None;
        };
        let name = format!("idp_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_dbname(&admin_url, &name);
        let statement = format!("CREATE DATABASE {name}");
        admin(&admin_url, statement).await;
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    pub fn location(&self) -> DbLocation {
        DbLocation::parse(&self.url).expect("test URL")
    }

    /// Opens a store of its own (a pool of its own) on this database.
    pub async fn open_store(&self) -> Result<Store, StoreError> {
        let location = self.location();
        tokio::task::spawn_blocking(move || Store::open(&location))
            .await
            .expect("open task")
    }

    /// Runs SQL on the test server as the superuser, outside this database.
    pub async fn admin(&self, statement: String) {
        admin(&self.admin_url, statement).await;
    }

    /// Runs SQL inside this database as the superuser.
    pub async fn execute(&self, statement: &str) {
        admin(&self.url, statement.to_owned()).await;
    }

    /// The first column of the first row `query` answers, as text, run
    /// inside this database as the superuser.
    pub async fn value(&self, query: &str) -> String {
        let (url, query) = (self.url.clone(), query.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("test server");
            client
                .simple_query(&query)
                .expect("query")
                .into_iter()
                .find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
                .unwrap_or_default()
        })
        .await
        .expect("query task")
    }

    /// This database's URL with extra query parameters.
    pub fn url_with(&self, params: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{params}", self.url)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Its own thread: the sync client must not run on the async runtime.
        let dropped = std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// `url` with its database name replaced.
fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").expect("URL scheme") + 3;
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn admin(url: &str, statement: String) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("test server");
        client.batch_execute(&statement).expect("admin statement");
    })
    .await
    .expect("admin task");
}
