//! Refresh-token families and revoked access tokens on PostgreSQL. A
//! family revoked also revokes the grant of the same id
//! (authorization-code sessions), so the revocation feed carries it.
//!
//! A family is one row, rotated in place, and read `FOR UPDATE`: of two
//! requests using one token at once, the second waits for the first to
//! commit and then reads the row as the first left it (the next
//! generation), so it is detected as reuse.

use postgres::Row;

use super::conn::{Cached, PgConn, Target};
use super::{from_db, to_db};
use crate::store::contract::{RefreshTokens, RevokedTokens};
use crate::store::error::StoreError;
use crate::store::refresh_policy::{decide, Decision, Found, PresentedRefresh};
use crate::store::rows::{
    CutoffKind, EndedSession, RefreshOutcome, RefreshRow, RevokedToken, SessionGuard, TokenCutoff,
};

/// Ends every session of `user_id` but `except_sid`: its refresh tokens are
/// deleted (the cut-off recorded beside it refuses its access tokens).
pub(super) fn end_sessions<C: Target>(
    c: &mut Cached<'_, C>,
    user_id: &str,
    except_sid: Option<&str>,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM refresh_tokens WHERE user_id = $1 AND ($2::TEXT IS NULL OR family_id <> $2)",
        &[&user_id, &except_sid],
    )?;
    Ok(())
}

/// Records that tokens of `kind` `id` issued before `issued_before` are
/// refused, but those of `except_sid`. A later cut-off replaces an earlier
/// one; an earlier one (clocks of two instances apart) leaves it be.
pub(super) fn record_cutoff<C: Target>(
    c: &mut Cached<'_, C>,
    kind: CutoffKind,
    id: &str,
    except_sid: Option<&str>,
    issued_before: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO token_cutoffs (kind, id, issued_before, except_sid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, id) DO UPDATE
           SET issued_before = excluded.issued_before, except_sid = excluded.except_sid
           WHERE excluded.issued_before >= token_cutoffs.issued_before",
        &[
            &kind.as_str(),
            &id,
            &to_db(issued_before, "cut-off time")?,
            &except_sid,
        ],
    )?;
    Ok(())
}

fn insert_row<C: Target>(
    c: &mut Cached<'_, C>,
    token_hash: &[u8],
    row: &RefreshRow,
    now: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO refresh_tokens
           (token_hash, family_id, user_id, client_id, scope, created_at, expires_at, amr,
            generation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &token_hash,
            &row.family_id,
            &row.user_id,
            &row.client_id,
            &row.scope,
            &to_db(now, "refresh created_at")?,
            &to_db(row.expires_at, "refresh expires_at")?,
            &row.amr,
            &to_db(row.generation, "refresh generation")?,
        ],
    )?;
    Ok(())
}

/// Whether `guard` holds for `user_id`, run in the transaction that stores
/// the session. The row is locked `FOR SHARE`: a cut-off in flight (which
/// updates or locks the user's row first) is waited for and its result
/// seen (PostgreSQL re-reads a row it waited for); one that comes after
/// waits for this transaction, and then its own statements see the session
/// to end.
pub(super) fn guard_holds<C: Target>(
    c: &mut Cached<'_, C>,
    user_id: &str,
    guard: &SessionGuard,
) -> Result<bool, StoreError> {
    let user = c.query_opt(
        "SELECT 1 FROM users WHERE id = $1 AND password_hash = $2
           AND disabled_at IS NULL AND tokens_not_before = $3 FOR SHARE",
        &[
            &user_id,
            &guard.password_hash,
            &to_db(guard.tokens_not_before, "tokens_not_before")?,
        ],
    )?;
    Ok(user.is_some())
}

/// Whether no revoked grant has the id `family_id`, in the same
/// transaction, locked as [`guard_holds`] locks the user (a code replay
/// locks the grant first). Selected by id alone, so that a replay in
/// flight, which has not yet committed its `revoked_at`, is waited for: a
/// row the snapshot shows not matching would be passed over unlocked.
fn grant_stands<C: Target>(c: &mut Cached<'_, C>, family_id: &str) -> Result<bool, StoreError> {
    let grant = c.query_opt(
        "SELECT revoked_at FROM grants WHERE family_id = $1 FOR SHARE",
        &[&family_id],
    )?;
    Ok(match grant {
        Some(row) => row.try_get::<_, Option<i64>>(0)?.is_none(),
        None => true,
    })
}

/// Revokes a family's refresh tokens and the grant of that id, if any.
pub(super) fn revoke_family_rows<C: Target>(
    c: &mut Cached<'_, C>,
    family_id: &str,
    now: u64,
) -> Result<(), StoreError> {
    let now = to_db(now, "revocation time")?;
    c.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[&family_id, &now],
    )?;
    c.execute(
        "UPDATE grants SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[&family_id, &now],
    )?;
    Ok(())
}

/// Reads `family_id, user_id, client_id, scope, expires_at, amr,
/// generation`, the first seven columns of every refresh-token query.
fn refresh_row(r: &Row) -> Result<RefreshRow, StoreError> {
    Ok(RefreshRow {
        family_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        scope: r.try_get(3)?,
        expires_at: from_db(r.try_get(4)?, "refresh expires_at")?,
        amr: r.try_get(5)?,
        generation: from_db(r.try_get(6)?, "refresh generation")?,
    })
}

/// The row of the family a presented token names, locked: by family when
/// it claims one, by digest (current or last legacy) when it does not.
fn find_family<C: Target>(
    c: &mut Cached<'_, C>,
    p: &PresentedRefresh,
) -> Result<Option<Found>, StoreError> {
    const COLUMNS: &str = "family_id, user_id, client_id, scope, expires_at, amr, generation,
                           token_hash, legacy_hash, revoked_at";
    let row = match &p.claimed {
        Some(claimed) => c.query_opt(
            &format!("SELECT {COLUMNS} FROM refresh_tokens WHERE family_id = $1 FOR UPDATE"),
            &[&claimed.family_id],
        )?,
        None => c.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM refresh_tokens
                 WHERE token_hash = $1 OR legacy_hash = $1 FOR UPDATE"
            ),
            &[&p.token_hash],
        )?,
    };
    row.map(|r| {
        Ok(Found {
            row: refresh_row(&r)?,
            token_hash: r.try_get(7)?,
            legacy_hash: r.try_get(8)?,
            revoked_at: optional_time(&r, 9, "refresh revoked_at")?,
        })
    })
    .transpose()
}

/// A nullable time column.
pub(super) fn optional_time(
    r: &Row,
    index: usize,
    what: &'static str,
) -> Result<Option<u64>, StoreError> {
    r.try_get::<_, Option<i64>>(index)?
        .map(|t| from_db(t, what))
        .transpose()
}

impl RefreshTokens for PgConn {
    fn insert_refresh(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
    ) -> Result<(), StoreError> {
        insert_row(&mut self.db(), token_hash, row, now)
    }

    fn insert_refresh_guarded(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
        guard: &SessionGuard,
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        if !guard_holds(&mut tx, &row.user_id, guard)? || !grant_stands(&mut tx, &row.family_id)? {
            return Ok(false);
        }
        insert_row(&mut tx, token_hash, row, now)?;
        tx.commit()?;
        Ok(true)
    }

    fn use_refresh(&mut self, p: &PresentedRefresh) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.transaction()?;
        let found = find_family(&mut tx, p)?;
        let outcome = match decide(found, p) {
            Decision::Answer(outcome) => outcome,
            Decision::RevokeFamily(family_id) => {
                revoke_family_rows(&mut tx, &family_id, p.now)?;
                RefreshOutcome::Reused { family_id }
            }
            Decision::Rotate(successor) => {
                // A token without a generation stays recognisable as reuse.
                let legacy = p.claimed.is_none().then_some(&p.token_hash);
                tx.execute(
                    "UPDATE refresh_tokens
                     SET token_hash = $2, generation = $3, expires_at = $4,
                         legacy_hash = COALESCE($5, legacy_hash)
                     WHERE family_id = $1",
                    &[
                        &successor.family_id,
                        &p.successor_hash,
                        &to_db(successor.generation, "refresh generation")?,
                        &to_db(successor.expires_at, "refresh expires_at")?,
                        &legacy,
                    ],
                )?;
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
        self.db()
            .query_opt(
                "SELECT family_id, user_id, client_id, scope, expires_at, amr, generation
                 FROM refresh_tokens
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
                &[&token_hash, &to_db(now, "now")?],
            )?
            .map(|r| refresh_row(&r))
            .transpose()
    }

    fn revoke_family(&mut self, family_id: &str, now: u64) -> Result<(), StoreError> {
        let mut tx = self.transaction()?;
        revoke_family_rows(&mut tx, family_id, now)?;
        tx.commit()
    }

    fn sessions_revoked_since(&mut self, since: u64) -> Result<Vec<EndedSession>, StoreError> {
        self.db()
            .query(
                "SELECT family_id, MAX(revoked_at) FROM (
                 SELECT family_id, revoked_at FROM refresh_tokens WHERE revoked_at > $1
                 UNION ALL
                 SELECT family_id, revoked_at FROM grants WHERE revoked_at > $1
             ) AS ended GROUP BY family_id",
                &[&to_db(since, "since")?],
            )?
            .iter()
            .map(|r| {
                Ok(EndedSession {
                    family_id: r.try_get(0)?,
                    revoked_at: from_db(r.try_get(1)?, "session revoked_at")?,
                })
            })
            .collect()
    }
}

impl RevokedTokens for PgConn {
    fn revoke_access_token(&mut self, jti: &str, exp: u64, now: u64) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
             ON CONFLICT (jti) DO NOTHING",
            &[
                &jti,
                &to_db(exp, "token exp")?,
                &to_db(now, "revocation time")?,
            ],
        )?;
        Ok(())
    }

    fn live_revocations(&mut self, now: u64) -> Result<Vec<RevokedToken>, StoreError> {
        self.db()
            .query(
                "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1
                 ORDER BY expires_at",
                &[&to_db(now, "now")?],
            )?
            .iter()
            .map(|r| {
                Ok(RevokedToken {
                    jti: r.try_get(0)?,
                    exp: from_db(r.try_get(1)?, "token exp")?,
                })
            })
            .collect()
    }

    fn cutoffs_since(&mut self, since: u64) -> Result<Vec<TokenCutoff>, StoreError> {
        let since = to_db(since, "since")?;
        self.db()
            .query(
                "SELECT kind, id, issued_before, except_sid FROM token_cutoffs
                 WHERE issued_before > $1 ORDER BY issued_before, kind, id COLLATE \"C\"",
                &[&since],
            )?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                Ok(TokenCutoff {
                    kind: CutoffKind::parse(&kind)
                        .ok_or(StoreError::OutOfRange("token cut-off kind"))?,
                    id: r.try_get(1)?,
                    issued_before: from_db(r.try_get(2)?, "cut-off time")?,
                    except_sid: r.try_get(3)?,
                })
            })
            .collect()
    }
}
