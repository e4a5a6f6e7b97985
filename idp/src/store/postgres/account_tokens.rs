//! Single-use account tokens on PostgreSQL: mailed links and the login step
//! between password and second factor. Using one is a conditional `UPDATE`
//! (live and unused), so two uses of one token, on any instances, let
//! exactly one through; a use that changes the account commits with the
//! change.

use super::browser::end_user_browser_sessions;
use super::conn::{Cached, PgConn, Target};
use super::sessions::{end_sessions, record_cutoff};
use super::{from_db, to_db};
use crate::store::contract::AccountTokens;
use crate::store::error::StoreError;
use crate::store::rows::{AccountTokenPurpose, AccountTokenRow, CutoffKind};

/// Deletes the reset links of `user_id` not yet used, inside the caller's
/// transaction: a link mailed before the password was set (by a reset or
/// a change) would otherwise set it again.
pub(super) fn void_reset_links<C: Target>(
    c: &mut Cached<'_, C>,
    user_id: &str,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        &[&user_id, &AccountTokenPurpose::PasswordReset.as_str()],
    )?;
    Ok(())
}

/// Marks a live token used; its user, if it was live.
fn consume<C: Target>(
    c: &mut Cached<'_, C>,
    token_hash: &[u8],
    purpose: AccountTokenPurpose,
    now: u64,
) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "UPDATE account_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
        &[&token_hash, &purpose.as_str(), &to_db(now, "now")?],
    )?
    .map(|r| r.try_get(0).map_err(StoreError::from))
    .transpose()
}

impl AccountTokens for PgConn {
    fn insert_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        user_id: &str,
        now: u64,
        expires_at: u64,
        min_interval: u64,
    ) -> Result<bool, StoreError> {
        let now_db = to_db(now, "now")?;
        let mut tx = self.transaction()?;
        tx.execute(
            "DELETE FROM account_tokens WHERE expires_at <= $1",
            &[&now_db],
        )?;
        // The user's row lock serializes two requests for one user, so the
        // interval check below cannot let both through.
        if tx
            .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user_id])?
            .is_none()
        {
            return Ok(false);
        }
        if min_interval > 0 {
            let since = to_db(now.saturating_sub(min_interval), "since")?;
            let recent = tx.query_opt(
                "SELECT 1 FROM account_tokens
                 WHERE user_id = $1 AND purpose = $2 AND created_at > $3 LIMIT 1",
                &[&user_id, &purpose.as_str(), &since],
            )?;
            if recent.is_some() {
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &token_hash,
                &purpose.as_str(),
                &user_id,
                &now_db,
                &to_db(expires_at, "expires_at")?,
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<AccountTokenRow>, StoreError> {
        self.db()
            .query_opt(
                "SELECT user_id, expires_at, failures FROM account_tokens
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                &[&token_hash, &purpose.as_str(), &to_db(now, "now")?],
            )?
            .map(|r| -> Result<AccountTokenRow, StoreError> {
                Ok(AccountTokenRow {
                    user_id: r.try_get(0)?,
                    expires_at: from_db(r.try_get(1)?, "account token expires_at")?,
                    failures: u32::try_from(r.try_get::<_, i32>(2)?).unwrap_or(u32::MAX),
                })
            })
            .transpose()
    }

    fn use_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        consume(&mut self.db(), token_hash, purpose, now)
    }

    fn note_account_token_failure(&mut self, token_hash: &[u8]) -> Result<u32, StoreError> {
        Ok(self
            .db()
            .query_opt(
                "UPDATE account_tokens SET failures = failures + 1 WHERE token_hash = $1
                 RETURNING failures",
                &[&token_hash],
            )?
            .map(|r| r.try_get::<_, i32>(0))
            .transpose()?
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    fn reset_password(
        &mut self,
        token_hash: &[u8],
        password_hash: &str,
        now: u64,
        issued_before: u64,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.transaction()?;
        let Some(user_id) = consume(&mut tx, token_hash, AccountTokenPurpose::PasswordReset, now)?
        else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE users SET password_hash = $2,
                              tokens_not_before = GREATEST(tokens_not_before, $3)
             WHERE id = $1",
            &[
                &user_id,
                &password_hash,
                &to_db(issued_before, "cut-off time")?,
            ],
        )?;
        // Other reset links mailed before this one die with it.
        void_reset_links(&mut tx, &user_id)?;
        end_sessions(&mut tx, &user_id, None)?;
        end_user_browser_sessions(&mut tx, &user_id, None, issued_before)?;
        record_cutoff(&mut tx, CutoffKind::Subject, &user_id, None, issued_before)?;
        tx.commit()?;
        Ok(Some(user_id))
    }

    fn verify_email(&mut self, token_hash: &[u8], now: u64) -> Result<Option<String>, StoreError> {
        let mut tx = self.transaction()?;
        let Some(user_id) = consume(
            &mut tx,
            token_hash,
            AccountTokenPurpose::EmailVerification,
            now,
        )?
        else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE users SET email_verified = TRUE WHERE id = $1",
            &[&user_id],
        )?;
        tx.commit()?;
        Ok(Some(user_id))
    }
}
