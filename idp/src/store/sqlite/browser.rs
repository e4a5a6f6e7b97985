//! Browser sessions, authorization grants and consents on SQLite.
//!
//! Redeeming a code opens its transaction with `BEGIN IMMEDIATE`, which
//! takes the write lock before the read, so two uses of one code are
//! serialized and the second sees the first's `code_used_at`. Ending a
//! session revokes its grants and their refresh tokens in the same
//! transaction. A user's sessions also end, all but one, with every change
//! that cuts off their tokens ([`end_user_browser_sessions`]).

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::sessions::{guard_holds, revoke_family_rows};
use crate::store::code_policy::{decide_code, CodeDecision, FoundCode, PresentedCode};
use crate::store::contract::{BrowserSessions, Grants};
use crate::store::error::StoreError;
use crate::store::rows::{BrowserSessionRow, CodeOutcome, GrantRow, SessionGuard};

fn session_row(r: &Row<'_>) -> rusqlite::Result<BrowserSessionRow> {
    Ok(BrowserSessionRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        auth_time: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        amr: r.get(5)?,
    })
}

/// Ends every live browser session of `user_id` but `except` at `at`,
/// inside the caller's transaction: the changes that cut off a user's
/// tokens (password change or reset, disabling, signing out everywhere)
/// sign their browsers out too, and revoke the grants made in them: a
/// code not yet redeemed would otherwise still buy tokens after the
/// cut-off. Tokens the grants issued fall under the cut-off recorded
/// beside it.
pub(super) fn end_user_browser_sessions(
    conn: &Connection,
    user_id: &str,
    except: Option<&str>,
    at: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE browser_sessions SET ended_at = ?3
         WHERE user_id = ?1 AND ended_at IS NULL AND (?2 IS NULL OR id <> ?2)",
    )?
    .execute(params![user_id, except, at])?;
    conn.prepare_cached(
        "UPDATE grants SET revoked_at = ?3
         WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR session_id <> ?2)",
    )?
    .execute(params![user_id, except, at])?;
    Ok(())
}

impl BrowserSessions for Connection {
    fn insert_browser_session(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
    ) -> Result<(), StoreError> {
        insert_browser_row(self, s, cookie_hash)
    }

    fn insert_browser_session_guarded(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
        guard: &SessionGuard,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !guard_holds(&tx, &s.user_id, guard)? {
            return Ok(false);
        }
        insert_browser_row(&tx, s, cookie_hash)?;
        tx.commit()?;
        Ok(true)
    }

    fn browser_session(
        &mut self,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<Option<BrowserSessionRow>, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT id, user_id, auth_time, created_at, expires_at, amr FROM browser_sessions
                 WHERE cookie_hash = ?1 AND ended_at IS NULL AND expires_at > ?2",
            )?
            .query_row(params![cookie_hash, now], session_row)
            .optional()?)
    }

    fn renew_browser_session(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .prepare_cached(
                "UPDATE browser_sessions SET cookie_hash = ?2, auth_time = ?3, expires_at = ?4, amr = ?6
                 WHERE id = ?1 AND ended_at IS NULL AND expires_at > ?5",
            )?
            .execute(params![s.id, cookie_hash, s.auth_time, s.expires_at, now, s.amr])?
            == 1)
    }

    fn end_browser_session(&mut self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ended = tx.execute(
            "UPDATE browser_sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
            params![session_id, now],
        )? == 1;
        let families: Vec<String> = tx
            .prepare_cached("SELECT family_id FROM grants WHERE session_id = ?1")?
            .query_map([session_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for family in &families {
            revoke_family_rows(&tx, family, now)?;
        }
        tx.commit()?;
        Ok(ended)
    }
}

/// The columns every query of this table reads, in `grant_row`'s order
/// (a macro, so that the statements around it are `concat!`ed at
/// compile time and `prepare_cached` never formats SQL per call).
macro_rules! grant_columns {
    () => {
        "family_id, client_id, redirect_uri, user_id, scope, code_challenge, \
     nonce, session_id, auth_time, created_at, code_expires_at, expires_at, amr, resource"
    };
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        family_id: r.get(0)?,
        client_id: r.get(1)?,
        redirect_uri: r.get(2)?,
        user_id: r.get(3)?,
        scope: r.get(4)?,
        code_challenge: r.get(5)?,
        nonce: r.get(6)?,
        session_id: r.get(7)?,
        auth_time: r.get(8)?,
        created_at: r.get(9)?,
        code_expires_at: r.get(10)?,
        expires_at: r.get(11)?,
        amr: r.get(12)?,
        resource: r.get(13)?,
    })
}

impl Grants for Connection {
    fn insert_grant(&mut self, g: &GrantRow, code_hash: &[u8]) -> Result<(), StoreError> {
        self.prepare_cached(concat!(
            "INSERT INTO grants (",
            grant_columns!(),
            ", code_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))?
        .execute(params![
            g.family_id,
            g.client_id,
            g.redirect_uri,
            g.user_id,
            g.scope,
            g.code_challenge,
            g.nonce,
            g.session_id,
            g.auth_time,
            g.created_at,
            g.code_expires_at,
            g.expires_at,
            g.amr,
            g.resource,
            code_hash,
        ])?;
        Ok(())
    }

    fn redeem_code(&mut self, p: &PresentedCode) -> Result<CodeOutcome, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = tx
            .prepare_cached(concat!(
                "SELECT ",
                grant_columns!(),
                ", code_used_at, revoked_at FROM grants WHERE code_hash = ?1"
            ))?
            .query_row([&p.code_hash], |r| {
                Ok(FoundCode {
                    row: grant_row(r)?,
                    used_at: r.get(14)?,
                    revoked_at: r.get(15)?,
                })
            })
            .optional()?;
        let outcome = match decide_code(found, p) {
            CodeDecision::Answer(outcome) => outcome,
            CodeDecision::RevokeGrant(family_id) => {
                revoke_family_rows(&tx, &family_id, p.now)?;
                CodeOutcome::Replayed { family_id }
            }
            CodeDecision::Redeem(grant) => {
                tx.prepare_cached("UPDATE grants SET code_used_at = ?2 WHERE family_id = ?1")?
                    .execute(params![grant.family_id, p.now])?;
                CodeOutcome::Redeemed(grant)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn grant_resource(&mut self, family_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .prepare_cached("SELECT resource FROM grants WHERE family_id = ?1")?
            .query_row([family_id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    fn consents_of(&mut self, user_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .prepare_cached(
                "SELECT client_id, scope FROM consents WHERE user_id = ?1 ORDER BY client_id, scope",
            )?
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(String, String)>, _>>()?;
        Ok(crate::store::rows::merge_consents(rows))
    }

    fn withdraw_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let withdrawn = tx
            .prepare_cached("DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2")?
            .execute(params![user_id, client_id])?
            > 0;
        tx.prepare_cached(
            "UPDATE refresh_tokens SET revoked_at = ?3
             WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        )?
        .execute(params![user_id, client_id, now])?;
        tx.prepare_cached(
            "UPDATE grants SET revoked_at = ?3
             WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        )?
        .execute(params![user_id, client_id, now])?;
        tx.commit()?;
        Ok(withdrawn)
    }

    fn has_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT 1 FROM consents WHERE user_id = ?1 AND client_id = ?2 AND scope = ?3",
            )?
            .query_row(params![user_id, client_id, scope], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn remember_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.prepare_cached(
            "INSERT OR IGNORE INTO consents (user_id, client_id, scope, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![user_id, client_id, scope, now])?;
        Ok(())
    }
}

fn insert_browser_row(
    conn: &Connection,
    s: &BrowserSessionRow,
    cookie_hash: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO browser_sessions
           (id, cookie_hash, user_id, auth_time, created_at, expires_at, amr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        s.id,
        cookie_hash,
        s.user_id,
        s.auth_time,
        s.created_at,
        s.expires_at,
        s.amr
    ])?;
    Ok(())
}
