//! Where the data lives: an SQLite file or a PostgreSQL database, as named by
//! `--db` / `IDP_DB`.
//!
//! A PostgreSQL URL carries a password, so a [`DbLocation`] never shows one:
//! its `Display` and `Debug` print `postgres://***@host/db`, and every error
//! and log line about a database goes through them.

use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::postgres::{check_url, redact_url};

/// The database an IdP uses.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// An SQLite file, created with owner-only permissions if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database, `postgres://user:password@host:port/dbname`
    /// (or `postgresql://`), with `sslmode` and `sslrootcert` as libpq
    /// reads them. Checked by [`DbLocation::parse`].
    Postgres(String),
}

impl DbLocation {
    /// Reads `--db`: a `postgres://` or `postgresql://` URL names a
    /// PostgreSQL database, anything else an SQLite file. A URL is checked
    /// whole (its `sslmode`, its `sslrootcert` file) without connecting.
    /// Another `scheme://` (a misspelt `postgress://`, say) is refused
    /// rather than taken for a file name, and only its scheme is shown: the
    /// rest may hold a password.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if let Some(scheme) = url_scheme(text).filter(|_| !is_postgres_url(text)) {
            return Err(StoreError::BadUrl {
                url: format!("{scheme}://***"),
                reason: "the scheme is not postgres:// or postgresql:// (a file path has none)"
                    .into(),
            });
        }
        if !is_postgres_url(text) {
            return Ok(Self::Sqlite(PathBuf::from(text)));
        }
        check_url(text)?;
        Ok(Self::Postgres(text.to_owned()))
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// The scheme of `text` if it starts like a URL (`scheme://`, RFC 3986
/// §3.1), whatever its case.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (starts && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(scheme)
}

/// Whether `text` is a PostgreSQL URL rather than a file path.
pub(crate) fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl std::fmt::Display for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl std::fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl From<PathBuf> for DbLocation {
    fn from(path: PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl From<&Path> for DbLocation {
    fn from(path: &Path) -> Self {
        Self::Sqlite(path.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sqlite_and_urls_are_postgres() {
        assert_eq!(
            DbLocation::parse("idp.db").expect("path"),
            DbLocation::Sqlite("idp.db".into())
        );
        for url in [
            "postgres://idp:pw@db:5432/idp",
            "postgresql://idp@db/idp",
            "postgres://idp:pw@db/idp?sslmode=disable",
            "postgres://idp:pw@db/idp?sslmode=prefer&application_name=x",
        ] {
            assert!(
                DbLocation::parse(url).expect(url).is_postgres(),
                "{url} is PostgreSQL"
            );
        }
    }

    #[test]
    fn the_password_never_shows() {
        let location = DbLocation::parse("postgres://idp:hunter2@db:5432/idp").expect("url");
        assert_eq!(location.to_string(), "postgres://***@db:5432/idp");
        assert!(!format!("{location:?}").contains("hunter2"));
        assert_eq!(redact_url("postgres://db/idp"), "postgres://db/idp");
        assert_eq!(
            redact_url("postgres://u:p@ss@db/idp"),
            "postgres://***@db/idp"
        );
    }

    #[test]
    fn tls_urls_are_taken_and_bad_ones_refused_without_echoing_the_password() {
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let url = format!("postgres://idp:hunter2@db/idp?sslmode={mode}");
            assert!(DbLocation::parse(&url).expect(mode).is_postgres());
        }
        for bad in [
            "postgres://idp:hunter2@db/idp?sslmode=sometimes",
            "postgres://idp:hunter2@db/idp?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        ] {
            let err = DbLocation::parse(bad).expect_err(bad).to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("ssl"), "{err}");
        }
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_the_password() {
        let err = DbLocation::parse("postgres://idp:hunter2@db:notaport/idp")
            .expect_err("bad port")
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        for misspelt in [
            "postgress://idp:hunter2@db/idp",
            "POSTGRES://idp:hunter2@db/idp",
            "pg://idp:hunter2@db/idp",
            "mysql://idp:hunter2@db/idp",
        ] {
            let err = DbLocation::parse(misspelt).expect_err(misspelt).to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("postgres://"), "{err}");
        }
        // Paths stay paths, whatever characters they hold.
        for path in [
            "./data/idp.db",
            "/var/lib/idp/idp.db",
            "idp:1.db",
            "a//b.db",
        ] {
            assert!(
                !DbLocation::parse(path).expect(path).is_postgres(),
                "{path}"
            );
        }
    }
}
