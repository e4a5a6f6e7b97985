//! Refresh-token families and revoked access tokens.
//!
//! A login opens a family. Each use of a refresh token marks it used and
//! issues its successor in the same family; presenting a used token again
//! means it was stolen or replayed, so the whole family is revoked.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};

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
        self.call(move |c| {
            insert_row(c, &token_hash, &row, now)?;
            Ok(())
        })
        .await
    }

    /// Uses a refresh token presented by `client_id`: rotates it to
    /// `successor_hash` (valid until `successor_expires_at`), or detects
    /// reuse, in one transaction. A token of another client is left as it
    /// is, so nobody can burn (and so revoke) a session that is not theirs.
    pub async fn use_refresh(
        &self,
        token_hash: Vec<u8>,
        client_id: String,
        successor_hash: Vec<u8>,
        now: i64,
        successor_expires_at: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found = tx
                .query_row(
                    "SELECT family_id, user_id, client_id, scope, expires_at, used_at, revoked_at
                     FROM refresh_tokens WHERE token_hash = ?1",
                    [&token_hash],
                    |r| {
                        Ok((
                            RefreshRow {
                                family_id: r.get(0)?,
                                user_id: r.get(1)?,
                                client_id: r.get(2)?,
                                scope: r.get(3)?,
                                expires_at: r.get(4)?,
                            },
                            r.get::<_, Option<i64>>(5)?,
                            r.get::<_, Option<i64>>(6)?,
                        ))
                    },
                )
                .optional()?;
            let outcome = match found {
                None => RefreshOutcome::Invalid,
                Some((row, _, _)) if row.client_id != client_id => RefreshOutcome::WrongClient,
                Some((_, _, Some(_))) => RefreshOutcome::Invalid,
                Some((row, Some(_), None)) => {
                    revoke_family_rows(&tx, &row.family_id, now)?;
                    RefreshOutcome::Reused {
                        family_id: row.family_id,
                    }
                }
                Some((row, None, None)) if row.expires_at <= now => RefreshOutcome::Invalid,
                Some((row, None, None)) => {
                    tx.execute(
                        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
                        params![token_hash, now],
                    )?;
                    let successor = RefreshRow {
                        expires_at: successor_expires_at,
                        ..row
                    };
                    insert_row(&tx, &successor_hash, &successor, now)?;
                    RefreshOutcome::Rotated(successor)
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// Finds the live session of a refresh token without using it.
    pub async fn refresh_family(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<Option<RefreshRow>, StoreError> {
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT family_id, user_id, client_id, scope, expires_at FROM refresh_tokens
                 WHERE token_hash = ?1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?2",
                params![token_hash, now],
                |r| {
                    Ok(RefreshRow {
                        family_id: r.get(0)?,
                        user_id: r.get(1)?,
                        client_id: r.get(2)?,
                        scope: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    /// Revokes every refresh token of a session.
    pub async fn revoke_family(&self, family_id: String, now: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            revoke_family_rows(c, &family_id, now)?;
            Ok(())
        })
        .await
    }

    /// Records an access token as revoked until its expiry.
    pub async fn revoke_access_token(
        &self,
        jti: String,
        exp: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?1, ?2, ?3)",
                params![jti, exp, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Revoked access tokens that have not yet expired; expired entries and
    /// dead refresh tokens are deleted on the way.
    pub async fn live_revocations(&self, now: i64) -> Result<Vec<RevokedToken>, StoreError> {
        self.call(move |c| {
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
        })
        .await
    }
}
