//! Refresh tokens and revoked access tokens on PostgreSQL: the queries of
//! `store/sessions.rs`, deciding alike through `sessions::decide`.
//!
//! A refresh token's row is read `FOR UPDATE`: of two requests using one
//! token at once, the second waits for the first to commit and then reads
//! the row as the first left it (used), so it is detected as reuse.

use postgres::{Client, GenericClient};

use crate::store::sessions::{decide, Decision, Found, Presented};
use crate::store::{RefreshOutcome, RefreshRow, RevokedToken, StoreError};

fn insert_row(
    c: &mut impl GenericClient,
    token_hash: &[u8],
    row: &RefreshRow,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO refresh_tokens
           (token_hash, family_id, user_id, client_id, scope, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &token_hash,
            &row.family_id,
            &row.user_id,
            &row.client_id,
            &row.scope,
            &now,
            &row.expires_at,
        ],
    )?;
    Ok(())
}

fn revoke_family_rows(
    c: &mut impl GenericClient,
    family_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[&family_id, &now],
    )?;
    Ok(())
}

pub(in crate::store) fn insert_refresh(
    c: &mut Client,
    token_hash: &[u8],
    row: &RefreshRow,
    now: i64,
) -> Result<(), StoreError> {
    insert_row(c, token_hash, row, now)
}

pub(in crate::store) fn use_refresh(
    c: &mut Client,
    p: &Presented,
) -> Result<RefreshOutcome, StoreError> {
    let mut tx = c.transaction()?;
    let found = tx
        .query_opt(
            "SELECT family_id, user_id, client_id, scope, expires_at, used_at, revoked_at
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&p.token_hash],
        )?
        .map(|r| -> Result<Found, StoreError> {
            Ok(Found {
                row: refresh_row(&r)?,
                used_at: r.try_get(5)?,
                revoked_at: r.try_get(6)?,
            })
        })
        .transpose()?;
    let outcome = match decide(found, p) {
        Decision::Answer(outcome) => outcome,
        Decision::RevokeFamily(family_id) => {
            revoke_family_rows(&mut tx, &family_id, p.now)?;
            RefreshOutcome::Reused { family_id }
        }
        Decision::Rotate(successor) => {
            tx.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                &[&p.token_hash, &p.now],
            )?;
            insert_row(&mut tx, &p.successor_hash, &successor, p.now)?;
            RefreshOutcome::Rotated(successor)
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// Reads `family_id, user_id, client_id, scope, expires_at`, the first
/// five columns of every refresh-token query.
fn refresh_row(r: &postgres::Row) -> Result<RefreshRow, StoreError> {
    Ok(RefreshRow {
        family_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        scope: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    })
}

pub(in crate::store) fn refresh_family(
    c: &mut Client,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<RefreshRow>, StoreError> {
    c.query_opt(
        "SELECT family_id, user_id, client_id, scope, expires_at FROM refresh_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2",
        &[&token_hash, &now],
    )?
    .map(|r| refresh_row(&r))
    .transpose()
}

pub(in crate::store) fn revoke_family(
    c: &mut Client,
    family_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    revoke_family_rows(c, family_id, now)
}

pub(in crate::store) fn revoke_access_token(
    c: &mut Client,
    jti: &str,
    exp: i64,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING",
        &[&jti, &exp, &now],
    )?;
    Ok(())
}

pub(in crate::store) fn sessions_revoked_since(
    c: &mut Client,
    since: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    c.query(
        "SELECT family_id, MAX(revoked_at) FROM refresh_tokens
         WHERE revoked_at > $1 GROUP BY family_id",
        &[&since],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

pub(in crate::store) fn live_revocations(
    c: &mut Client,
    now: i64,
) -> Result<Vec<RevokedToken>, StoreError> {
    c.execute("DELETE FROM revoked_tokens WHERE expires_at <= $1", &[&now])?;
    c.execute("DELETE FROM refresh_tokens WHERE expires_at <= $1", &[&now])?;
    c.query(
        "SELECT jti, expires_at FROM revoked_tokens ORDER BY expires_at",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(RevokedToken {
            jti: r.try_get(0)?,
            exp: r.try_get(1)?,
        })
    })
    .collect()
}
