//! Browser sessions, authorization grants and consents on PostgreSQL.
//!
//! A code's row is read `FOR UPDATE`: of two requests redeeming one code
//! at once, the second waits for the first to commit and then sees it used,
//! so it is detected as a replay. Ending a session revokes its grants and
//! their refresh tokens in the same transaction. A user's sessions also
//! end, all but one, with every change that cuts off their tokens
//! ([`end_user_browser_sessions`]).

use postgres::Row;

use super::conn::{Cached, PgConn, Target};
use super::sessions::{guard_holds, optional_time, revoke_family_rows};
use super::{from_db, to_db};
use crate::store::code_policy::{decide_code, CodeDecision, FoundCode, PresentedCode};
use crate::store::contract::{BrowserSessions, Grants};
use crate::store::error::StoreError;
use crate::store::rows::{BrowserSessionRow, CodeOutcome, GrantRow, SessionGuard};

fn session_row(r: &Row) -> Result<BrowserSessionRow, StoreError> {
    Ok(BrowserSessionRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        auth_time: from_db(r.try_get(2)?, "session auth_time")?,
        created_at: from_db(r.try_get(3)?, "session created_at")?,
        expires_at: from_db(r.try_get(4)?, "session expires_at")?,
        amr: r.try_get(5)?,
    })
}

/// Ends every live browser session of `user_id` but `except` at `at`,
/// inside the caller's transaction: the changes that cut off a user's
/// tokens (password change or reset, disabling, signing out everywhere)
/// sign their browsers out too, and revoke the grants made in them: a
/// code not yet redeemed would otherwise still buy tokens after the
/// cut-off. Tokens the grants issued fall under the cut-off recorded
/// beside it.
pub(super) fn end_user_browser_sessions<C: Target>(
    tx: &mut Cached<'_, C>,
    user_id: &str,
    except: Option<&str>,
    at: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE browser_sessions SET ended_at = $3
         WHERE user_id = $1 AND ended_at IS NULL AND ($2::TEXT IS NULL OR id <> $2)",
        &[&user_id, &except, &to_db(at, "session ended_at")?],
    )?;
    tx.execute(
        "UPDATE grants SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::TEXT IS NULL OR session_id <> $2)",
        &[&user_id, &except, &to_db(at, "grant revoked_at")?],
    )?;
    Ok(())
}

impl BrowserSessions for PgConn {
    fn insert_browser_session(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
    ) -> Result<(), StoreError> {
        insert_browser_row(&mut self.db(), s, cookie_hash)
    }

    fn insert_browser_session_guarded(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
        guard: &SessionGuard,
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        if !guard_holds(&mut tx, &s.user_id, guard)? {
            return Ok(false);
        }
        insert_browser_row(&mut tx, s, cookie_hash)?;
        tx.commit()?;
        Ok(true)
    }

    fn browser_session(
        &mut self,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<Option<BrowserSessionRow>, StoreError> {
        self.db()
            .query_opt(
                "SELECT id, user_id, auth_time, created_at, expires_at, amr FROM browser_sessions
                 WHERE cookie_hash = $1 AND ended_at IS NULL AND expires_at > $2",
                &[&cookie_hash, &to_db(now, "now")?],
            )?
            .as_ref()
            .map(session_row)
            .transpose()
    }

    fn renew_browser_session(
        &mut self,
        s: &BrowserSessionRow,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "UPDATE browser_sessions SET cookie_hash = $2, auth_time = $3, expires_at = $4, amr = $6
             WHERE id = $1 AND ended_at IS NULL AND expires_at > $5",
            &[
                &s.id,
                &cookie_hash,
                &to_db(s.auth_time, "session auth_time")?,
                &to_db(s.expires_at, "session expires_at")?,
                &to_db(now, "now")?,
                &s.amr,
            ],
        )? == 1)
    }

    fn end_browser_session(&mut self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        let ended = tx.execute(
            "UPDATE browser_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
            &[&session_id, &to_db(now, "session ended_at")?],
        )? == 1;
        let families = tx.query(
            "SELECT family_id FROM grants WHERE session_id = $1 FOR UPDATE",
            &[&session_id],
        )?;
        for family in &families {
            let family: String = family.try_get(0)?;
            revoke_family_rows(&mut tx, &family, now)?;
        }
        tx.commit()?;
        Ok(ended)
    }
}

const GRANT_COLUMNS: &str = "family_id, client_id, redirect_uri, user_id, scope, code_challenge, \
     nonce, session_id, auth_time, created_at, code_expires_at, expires_at, amr, resource";

fn grant_row(r: &Row) -> Result<GrantRow, StoreError> {
    Ok(GrantRow {
        family_id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        redirect_uri: r.try_get(2)?,
        user_id: r.try_get(3)?,
        scope: r.try_get(4)?,
        code_challenge: r.try_get(5)?,
        nonce: r.try_get(6)?,
        session_id: r.try_get(7)?,
        auth_time: from_db(r.try_get(8)?, "grant auth_time")?,
        created_at: from_db(r.try_get(9)?, "grant created_at")?,
        code_expires_at: from_db(r.try_get(10)?, "grant code_expires_at")?,
        expires_at: from_db(r.try_get(11)?, "grant expires_at")?,
        amr: r.try_get(12)?,
        resource: r.try_get(13)?,
    })
}

impl Grants for PgConn {
    fn insert_grant(&mut self, g: &GrantRow, code_hash: &[u8]) -> Result<(), StoreError> {
        self.db().execute(
            &format!(
                "INSERT INTO grants ({GRANT_COLUMNS}, code_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &[
                &g.family_id,
                &g.client_id,
                &g.redirect_uri,
                &g.user_id,
                &g.scope,
                &g.code_challenge,
                &g.nonce,
                &g.session_id,
                &to_db(g.auth_time, "grant auth_time")?,
                &to_db(g.created_at, "grant created_at")?,
                &to_db(g.code_expires_at, "grant code_expires_at")?,
                &to_db(g.expires_at, "grant expires_at")?,
                &g.amr,
                &g.resource,
                &code_hash,
            ],
        )?;
        Ok(())
    }

    fn redeem_code(&mut self, p: &PresentedCode) -> Result<CodeOutcome, StoreError> {
        let mut tx = self.transaction()?;
        let found = tx
            .query_opt(
                &format!(
                    "SELECT {GRANT_COLUMNS}, code_used_at, revoked_at FROM grants
                     WHERE code_hash = $1 FOR UPDATE"
                ),
                &[&p.code_hash],
            )?
            .map(|r| -> Result<FoundCode, StoreError> {
                Ok(FoundCode {
                    row: grant_row(&r)?,
                    used_at: optional_time(&r, 14, "grant code_used_at")?,
                    revoked_at: optional_time(&r, 15, "grant revoked_at")?,
                })
            })
            .transpose()?;
        let outcome = match decide_code(found, p) {
            CodeDecision::Answer(outcome) => outcome,
            CodeDecision::RevokeGrant(family_id) => {
                revoke_family_rows(&mut tx, &family_id, p.now)?;
                CodeOutcome::Replayed { family_id }
            }
            CodeDecision::Redeem(grant) => {
                tx.execute(
                    "UPDATE grants SET code_used_at = $2 WHERE family_id = $1",
                    &[&grant.family_id, &to_db(p.now, "grant code_used_at")?],
                )?;
                CodeOutcome::Redeemed(grant)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn grant_resource(&mut self, family_id: &str) -> Result<Option<String>, StoreError> {
        let row = self.db().query_opt(
            "SELECT resource FROM grants WHERE family_id = $1",
            &[&family_id],
        )?;
        Ok(match row {
            Some(row) => row.try_get::<_, Option<String>>(0)?,
            None => None,
        })
    }

    fn consents_of(&mut self, user_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .db()
            .query(
                "SELECT client_id, scope FROM consents WHERE user_id = $1 ORDER BY client_id, scope",
                &[&user_id],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, StoreError>>()?;
        Ok(crate::store::rows::merge_consents(rows))
    }

    fn withdraw_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let now = to_db(now, "revocation time")?;
        let mut tx = self.transaction()?;
        let withdrawn = tx.execute(
            "DELETE FROM consents WHERE user_id = $1 AND client_id = $2",
            &[&user_id, &client_id],
        )? > 0;
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = $3
             WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            &[&user_id, &client_id, &now],
        )?;
        tx.execute(
            "UPDATE grants SET revoked_at = $3
             WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            &[&user_id, &client_id, &now],
        )?;
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
            .db()
            .query_opt(
                "SELECT 1 FROM consents WHERE user_id = $1 AND client_id = $2 AND scope = $3",
                &[&user_id, &client_id, &scope],
            )?
            .is_some())
    }

    fn remember_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO consents (user_id, client_id, scope, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[
                &user_id,
                &client_id,
                &scope,
                &to_db(now, "consent created_at")?,
            ],
        )?;
        Ok(())
    }
}

fn insert_browser_row<C: Target>(
    c: &mut Cached<'_, C>,
    s: &BrowserSessionRow,
    cookie_hash: &[u8],
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO browser_sessions
           (id, cookie_hash, user_id, auth_time, created_at, expires_at, amr)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &s.id,
            &cookie_hash,
            &s.user_id,
            &to_db(s.auth_time, "session auth_time")?,
            &to_db(s.created_at, "session created_at")?,
            &to_db(s.expires_at, "session expires_at")?,
            &s.amr,
        ],
    )?;
    Ok(())
}
