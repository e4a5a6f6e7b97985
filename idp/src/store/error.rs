//! The one error type of the storage layer, whichever backend answers.
//!
//! Each backend maps its own driver errors into it (`sqlite/mod.rs`,
//! `postgres/mod.rs`): a busy or locked SQLite file and a lost or
//! overloaded PostgreSQL server both become [`StoreError::Unavailable`], a
//! uniqueness violation becomes [`StoreError::Conflict`] where the caller
//! asked for it. Messages never contain secrets: database URLs appear with
//! their password redacted, and driver messages never quote row values.

use std::path::PathBuf;

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated (duplicate email, client id...).
    #[error("already exists")]
    Conflict,
    /// The database cannot serve right now (SQLite busy or locked, or not
    /// writable: a full disk, an I/O error, a file moved away; a
    /// PostgreSQL connection refused or lost, no pooled connection free in
    /// time, the server shutting down): worth a retry, answered with 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed in a way a retry will not mend.
    #[error("database error: {0}")]
    Backend(String),
    /// The database file could not be created or opened.
    /// (The reason is in the message, not a `source`: error chains would
    /// print it twice.)
    #[error("cannot open database {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
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
