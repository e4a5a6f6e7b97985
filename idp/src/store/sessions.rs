//! Refresh-token families and revoked access tokens.
//!
//! A login opens a family. Each use of a refresh token marks it used and
//! issues its successor in the same family; presenting a used token again
//! means it was stolen or replayed, so the whole family is revoked.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::postgres::sessions as pg;
use super::{Backend, Store, StoreError};

/// The session a refresh token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// The login session.
    pub family_id: String,
    /// The user.
    pub user_id: String,
    /// The client the session was opened through.
    pub client_id: String,
    /// Granted scopes.
    pub scope: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now used, and its successor was stored.
    Rotated(RefreshRow),
    /// It had been used before: its family is now revoked.
    Reused {
        /// The revoked family.
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Issued to another client than the one presenting it; left untouched.
    WrongClient,
}

/// A revoked access token, until its own expiry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`.
    pub exp: i64,
}

fn insert_row(
    conn: &Connection,
    token_hash: &[u8],
    row: &RefreshRow,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO refresh_tokens
           (token_hash, family_id, user_id, client_id, scope, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            token_hash,
            row.family_id,
            row.user_id,
            row.client_id,
            row.scope,
            now,
            row.expires_at
        ],
    )
}

fn revoke_family_rows(conn: &Connection, family_id: &str, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family_id, now],
    )
}

impl Store {
    /// Stores a new refresh token.
    pub async fn insert_refresh(
        &self,
        token_hash: Vec<u8>,
        row: RefreshRow,
        now: i64,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |c| {
                    insert_row(c, &token_hash, &row, now)?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(db) => {
                db.call(move |c| pg::insert_refresh(c, &token_hash, &row, now))
                    .await
            }
        }
    }

    /// Uses a refresh token presented by `client_id`: rotates it to
    /// `successor_hash` (valid until `successor_expires_at`), or detects
    /// reuse, in one transaction. A token of another client is left as it
    /// is, so nobody can burn (and so revoke) a session that is not theirs.
    /// Two concurrent uses of one token give one `Rotated` and one `Reused`.
    pub async fn use_refresh(
        &self,
        token_hash: Vec<u8>,
        client_id: String,
        successor_hash: Vec<u8>,
        now: i64,
        successor_expires_at: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let presented = Presented {
            token_hash,
            client_id,
            successor_hash,
            now,
            successor_expires_at,
        };
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| use_refresh(c, &presented)).await,
            Backend::Postgres(db) => db.call(move |c| pg::use_refresh(c, &presented)).await,
        }
    }

    /// Finds the live session of a refresh token without using it.
    pub async fn refresh_family(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<Option<RefreshRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| refresh_family(c, &token_hash, now)).await,
            Backend::Postgres(db) => {
                db.call(move |c| pg::refresh_family(c, &token_hash, now))
                    .await
            }
        }
    }

    /// Revokes every refresh token of a session.
    pub async fn revoke_family(&self, family_id: String, now: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |c| {
                    revoke_family_rows(c, &family_id, now)?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(db) => {
                db.call(move |c| pg::revoke_family(c, &family_id, now))
                    .await
            }
        }
    }

    /// Records an access token as revoked until its expiry.
    pub async fn revoke_access_token(
        &self,
        jti: String,
        exp: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |c| revoke_access_token(c, &jti, exp, now))
                    .await
            }
            Backend::Postgres(db) => {
                db.call(move |c| pg::revoke_access_token(c, &jti, exp, now))
                    .await
            }
        }
    }

    /// Sessions (refresh families) revoked after `since`, with the latest
    /// time each was revoked.
    pub async fn sessions_revoked_since(
        &self,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| sessions_revoked_since(c, since)).await,
            Backend::Postgres(db) => db.call(move |c| pg::sessions_revoked_since(c, since)).await,
        }
    }

    /// Revoked access tokens that have not yet expired; expired entries and
    /// dead refresh tokens are deleted on the way.
    pub async fn live_revocations(&self, now: i64) -> Result<Vec<RevokedToken>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| live_revocations(c, now)).await,
            Backend::Postgres(db) => db.call(move |c| pg::live_revocations(c, now)).await,
        }
    }
}

/// A refresh token as presented to the token endpoint, with the successor
/// to store if it is good.
pub(super) struct Presented {
    pub(super) token_hash: Vec<u8>,
    pub(super) client_id: String,
    pub(super) successor_hash: Vec<u8>,
    pub(super) now: i64,
    pub(super) successor_expires_at: i64,
}

/// What a token's row says, for [`decide`].
pub(super) struct Found {
    pub(super) row: RefreshRow,
    pub(super) used_at: Option<i64>,
    pub(super) revoked_at: Option<i64>,
}

/// What to do with a presented token, the same for both backends.
pub(super) enum Decision {
    /// Answer with this outcome and change nothing.
    Answer(RefreshOutcome),
    /// A used token came back: revoke its family.
    RevokeFamily(String),
    /// Good: mark it used and store this successor.
    Rotate(RefreshRow),
}

pub(super) fn decide(found: Option<Found>, presented: &Presented) -> Decision {
    let Some(found) = found else {
        return Decision::Answer(RefreshOutcome::Invalid);
    };
    if found.row.client_id != presented.client_id {
        return Decision::Answer(RefreshOutcome::WrongClient);
    }
    match (found.used_at, found.revoked_at) {
        (_, Some(_)) => Decision::Answer(RefreshOutcome::Invalid),
        (Some(_), None) => Decision::RevokeFamily(found.row.family_id),
        (None, None) if found.row.expires_at <= presented.now => {
            Decision::Answer(RefreshOutcome::Invalid)
        }
        (None, None) => Decision::Rotate(RefreshRow {
            expires_at: presented.successor_expires_at,
            ..found.row
        }),
    }
}

/// `BEGIN IMMEDIATE` takes the write lock before the read, so two uses of
/// one token are serialized and the second sees the first's `used_at`.
fn use_refresh(c: &mut Connection, p: &Presented) -> Result<RefreshOutcome, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = tx
        .query_row(
            "SELECT family_id, user_id, client_id, scope, expires_at, used_at, revoked_at
             FROM refresh_tokens WHERE token_hash = ?1",
            [&p.token_hash],
            |r| {
                Ok(Found {
                    row: refresh_row(r)?,
                    used_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                })
            },
        )
        .optional()?;
    let outcome = match decide(found, p) {
        Decision::Answer(outcome) => outcome,
        Decision::RevokeFamily(family_id) => {
            revoke_family_rows(&tx, &family_id, p.now)?;
            RefreshOutcome::Reused { family_id }
        }
        Decision::Rotate(successor) => {
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
                params![p.token_hash, p.now],
            )?;
            insert_row(&tx, &p.successor_hash, &successor, p.now)?;
            RefreshOutcome::Rotated(successor)
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// Reads `family_id, user_id, client_id, scope, expires_at`, the first
/// five columns of every refresh-token query.
fn refresh_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefreshRow> {
    Ok(RefreshRow {
        family_id: r.get(0)?,
        user_id: r.get(1)?,
        client_id: r.get(2)?,
        scope: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

fn refresh_family(
    c: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<RefreshRow>, StoreError> {
    Ok(c.query_row(
        "SELECT family_id, user_id, client_id, scope, expires_at FROM refresh_tokens
         WHERE token_hash = ?1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?2",
        params![token_hash, now],
        refresh_row,
    )
    .optional()?)
}

fn revoke_access_token(c: &Connection, jti: &str, exp: i64, now: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?1, ?2, ?3)",
        params![jti, exp, now],
    )?;
    Ok(())
}

fn sessions_revoked_since(c: &Connection, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT family_id, MAX(revoked_at) FROM refresh_tokens
         WHERE revoked_at > ?1 GROUP BY family_id",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn live_revocations(c: &Connection, now: i64) -> Result<Vec<RevokedToken>, StoreError> {
    c.execute("DELETE FROM revoked_tokens WHERE expires_at <= ?1", [now])?;
    c.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?;
    let mut stmt =
        c.prepare_cached("SELECT jti, expires_at FROM revoked_tokens ORDER BY expires_at")?;
    let rows = stmt.query_map([], |r| {
        Ok(RevokedToken {
            jti: r.get(0)?,
            exp: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
