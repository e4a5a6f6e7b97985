//! Refresh-token families and revoked access tokens on SQLite. A family
//! revoked also revokes the grant of the same id (authorization-code
//! sessions), so the revocation feed carries it either way.
//!
//! A family is one row, rotated in place. Using a refresh token opens its
//! transaction with `BEGIN IMMEDIATE`, which takes the write lock before
//! the read, so two uses of one token are serialized and the second sees
//! the generation the first left.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::store::contract::{RefreshTokens, RevokedTokens};
use crate::store::error::StoreError;
use crate::store::refresh_policy::{decide, Decision, Found, PresentedRefresh};
use crate::store::rows::{
    CutoffKind, EndedSession, RefreshOutcome, RefreshRow, RevokedToken, SessionGuard, TokenCutoff,
};

/// Ends every session of `user_id` but `except_sid`: its refresh tokens are
/// deleted (the cut-off recorded beside it refuses its access tokens).
pub(super) fn end_sessions(
    conn: &Connection,
    user_id: &str,
    except_sid: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM refresh_tokens WHERE user_id = ?1 AND (?2 IS NULL OR family_id <> ?2)",
    )?
    .execute(params![user_id, except_sid])?;
    Ok(())
}

/// Records that tokens of `kind` `id` issued before `issued_before` are
/// refused, but those of `except_sid`. A later cut-off replaces an earlier
/// one; an earlier one (clocks of two instances apart) leaves it be.
pub(super) fn record_cutoff(
    conn: &Connection,
    kind: CutoffKind,
    id: &str,
    except_sid: Option<&str>,
    issued_before: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO token_cutoffs (kind, id, issued_before, except_sid) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, id) DO UPDATE
           SET issued_before = excluded.issued_before, except_sid = excluded.except_sid
           WHERE excluded.issued_before >= token_cutoffs.issued_before",
    )?
    .execute(params![kind.as_str(), id, issued_before, except_sid])?;
    Ok(())
}

fn insert_row(
    conn: &Connection,
    token_hash: &[u8],
    row: &RefreshRow,
    now: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens
           (token_hash, family_id, user_id, client_id, scope, created_at, expires_at, amr,
            generation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        token_hash,
        row.family_id,
        row.user_id,
        row.client_id,
        row.scope,
        now,
        row.expires_at,
        row.amr,
        row.generation
    ])?;
    Ok(())
}

/// Whether `guard` holds for `user_id`: run in the write transaction that
/// stores the session, which SQLite serializes with every cut-off.
pub(super) fn guard_holds(
    conn: &Connection,
    user_id: &str,
    guard: &SessionGuard,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?2
                              AND disabled_at IS NULL AND tokens_not_before = ?3)",
        )?
        .query_row(
            params![user_id, guard.password_hash, guard.tokens_not_before],
            |r| r.get(0),
        )?)
}

/// Whether no revoked grant has the id `family_id`, in the same transaction.
fn grant_stands(conn: &Connection, family_id: &str) -> Result<bool, StoreError> {
    let revoked: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM grants WHERE family_id = ?1 AND revoked_at IS NOT NULL)",
        )?
        .query_row([family_id], |r| r.get(0))?;
    Ok(!revoked)
}

/// Revokes a family's refresh tokens and the grant of that id, if any.
pub(super) fn revoke_family_rows(
    conn: &Connection,
    family_id: &str,
    now: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![family_id, now])?;
    conn.prepare_cached(
        "UPDATE grants SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![family_id, now])?;
    Ok(())
}

/// Reads `family_id, user_id, client_id, scope, expires_at, amr,
/// generation`, the first seven columns of every refresh-token query.
fn refresh_row(r: &Row<'_>) -> rusqlite::Result<RefreshRow> {
    Ok(RefreshRow {
        family_id: r.get(0)?,
        user_id: r.get(1)?,
        client_id: r.get(2)?,
        scope: r.get(3)?,
        expires_at: r.get(4)?,
        amr: r.get(5)?,
        generation: r.get(6)?,
    })
}

/// The row of the family a presented token names: by family when it
/// claims one, by digest (current or last legacy) when it does not.
fn find_family(conn: &Connection, p: &PresentedRefresh) -> Result<Option<Found>, StoreError> {
    let read = |r: &Row<'_>| {
        Ok(Found {
            row: refresh_row(r)?,
            token_hash: r.get(7)?,
            legacy_hash: r.get(8)?,
            revoked_at: r.get(9)?,
        })
    };
    /// The columns every query of this table reads, in `read`'s order
    /// (a macro, so that the statements around it are `concat!`ed at
    /// compile time and `prepare_cached` never formats SQL per call).
    macro_rules! columns {
        () => {
            "family_id, user_id, client_id, scope, expires_at, amr, generation,
                           token_hash, legacy_hash, revoked_at"
        };
    }
    Ok(match &p.claimed {
        Some(claimed) => conn
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM refresh_tokens WHERE family_id = ?1"
            ))?
            .query_row([&claimed.family_id], read)
            .optional()?,
        None => conn
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM refresh_tokens WHERE token_hash = ?1 OR legacy_hash = ?1"
            ))?
            .query_row([&p.token_hash], read)
            .optional()?,
    })
}

impl RefreshTokens for Connection {
    fn insert_refresh(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
    ) -> Result<(), StoreError> {
        insert_row(self, token_hash, row, now)
    }

    fn insert_refresh_guarded(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
        guard: &SessionGuard,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !guard_holds(&tx, &row.user_id, guard)? || !grant_stands(&tx, &row.family_id)? {
            return Ok(false);
        }
        insert_row(&tx, token_hash, row, now)?;
        tx.commit()?;
        Ok(true)
    }

    fn use_refresh(&mut self, p: &PresentedRefresh) -> Result<RefreshOutcome, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = find_family(&tx, p)?;
        let outcome = match decide(found, p) {
            Decision::Answer(outcome) => outcome,
            Decision::RevokeFamily(family_id) => {
                revoke_family_rows(&tx, &family_id, p.now)?;
                RefreshOutcome::Reused { family_id }
            }
            Decision::Rotate(successor) => {
                // A token without a generation stays recognisable as reuse.
                let legacy = p.claimed.is_none().then_some(&p.token_hash);
                tx.prepare_cached(
                    "UPDATE refresh_tokens
                     SET token_hash = ?2, generation = ?3, expires_at = ?4,
                         legacy_hash = COALESCE(?5, legacy_hash)
                     WHERE family_id = ?1",
                )?
                .execute(params![
                    successor.family_id,
                    p.successor_hash,
                    successor.generation,
                    successor.expires_at,
                    legacy
                ])?;
                RefreshOutcome::Rotated(successor)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn refresh_family(
        &mut self,
        token_hash: &[u8],
        now: u64,
    ) -> Result<Option<RefreshRow>, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT family_id, user_id, client_id, scope, expires_at, amr, generation
                 FROM refresh_tokens
                 WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            )?
            .query_row(params![token_hash, now], refresh_row)
            .optional()?)
    }

    fn revoke_family(&mut self, family_id: &str, now: u64) -> Result<(), StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        revoke_family_rows(&tx, family_id, now)?;
        tx.commit()?;
        Ok(())
    }

    fn sessions_revoked_since(&mut self, since: u64) -> Result<Vec<EndedSession>, StoreError> {
        let mut stmt = self.prepare_cached(
            "SELECT family_id, MAX(revoked_at) FROM (
                 SELECT family_id, revoked_at FROM refresh_tokens WHERE revoked_at > ?1
                 UNION ALL
                 SELECT family_id, revoked_at FROM grants WHERE revoked_at > ?1
             ) GROUP BY family_id",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok(EndedSession {
                family_id: r.get(0)?,
                revoked_at: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl RevokedTokens for Connection {
    fn revoke_access_token(&mut self, jti: &str, exp: u64, now: u64) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?1, ?2, ?3)",
            params![jti, exp, now],
        )?;
        Ok(())
    }

    fn live_revocations(&mut self, now: u64) -> Result<Vec<RevokedToken>, StoreError> {
        let mut stmt = self.prepare_cached(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1 ORDER BY expires_at",
        )?;
        let rows = stmt.query_map([now], |r| {
            Ok(RevokedToken {
                jti: r.get(0)?,
                exp: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cutoffs_since(&mut self, since: u64) -> Result<Vec<TokenCutoff>, StoreError> {
        let mut stmt = self.prepare_cached(
            "SELECT kind, id, issued_before, except_sid FROM token_cutoffs
             WHERE issued_before > ?1 ORDER BY issued_before, kind, id",
        )?;
        let rows = stmt.query_map([since], |r| {
            let kind: String = r.get(0)?;
            Ok((kind, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.map(|row| {
            let (kind, id, issued_before, except_sid) = row?;
            Ok(TokenCutoff {
                kind: CutoffKind::parse(&kind)
                    .ok_or(StoreError::OutOfRange("token cut-off kind"))?,
                id,
                issued_before,
                except_sid,
            })
        })
        .collect()
    }
}
