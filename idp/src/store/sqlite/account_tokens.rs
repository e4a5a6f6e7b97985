//! Single-use account tokens on SQLite: mailed links and the login step
//! between password and second factor. Using one is a conditional `UPDATE`
//! (live and unused), so two uses of one token let exactly one through;
//! a use that changes the account runs in the same `BEGIN IMMEDIATE`
//! transaction as the change.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::browser::end_user_browser_sessions;
use super::sessions::{end_sessions, record_cutoff};
use crate::store::contract::AccountTokens;
use crate::store::error::StoreError;
use crate::store::rows::{AccountTokenPurpose, AccountTokenRow, CutoffKind};

/// Deletes the reset links of `user_id` not yet used, inside the caller's
/// transaction: a link mailed before the password was set (by a reset or
/// a change) would otherwise set it again.
pub(super) fn void_reset_links(conn: &Connection, user_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM account_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
    )?
    .execute(params![
        user_id,
        AccountTokenPurpose::PasswordReset.as_str()
    ])?;
    Ok(())
}

/// Marks a live token used; its user, if it was live.
fn consume(
    conn: &Connection,
    token_hash: &[u8],
    purpose: AccountTokenPurpose,
    now: u64,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE account_tokens SET used_at = ?3
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING user_id",
        )?
        .query_row(params![token_hash, purpose.as_str(), now], |r| r.get(0))
        .optional()?)
}

impl AccountTokens for Connection {
    fn insert_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        user_id: &str,
        now: u64,
        expires_at: u64,
        min_interval: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM account_tokens WHERE expires_at <= ?1")?
            .execute([now])?;
        let recent = tx
            .prepare_cached(
                "SELECT 1 FROM account_tokens
                 WHERE user_id = ?1 AND purpose = ?2 AND created_at > ?3 LIMIT 1",
            )?
            .query_row(
                params![user_id, purpose.as_str(), now.saturating_sub(min_interval)],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if min_interval > 0 && recent {
            return Ok(false);
        }
        tx.prepare_cached(
            "INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            token_hash,
            purpose.as_str(),
            user_id,
            now,
            expires_at
        ])?;
        tx.commit()?;
        Ok(true)
    }

    fn account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<AccountTokenRow>, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT user_id, expires_at, failures FROM account_tokens
                 WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3",
            )?
            .query_row(params![token_hash, purpose.as_str(), now], |r| {
                Ok(AccountTokenRow {
                    user_id: r.get(0)?,
                    expires_at: r.get(1)?,
                    failures: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn use_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        consume(self, token_hash, purpose, now)
    }

    fn note_account_token_failure(&mut self, token_hash: &[u8]) -> Result<u32, StoreError> {
        Ok(self
            .prepare_cached(
                "UPDATE account_tokens SET failures = failures + 1 WHERE token_hash = ?1
                 RETURNING failures",
            )?
            .query_row([token_hash], |r| r.get(0))
            .optional()?
            .unwrap_or(u32::MAX))
    }

    fn reset_password(
        &mut self,
        token_hash: &[u8],
        password_hash: &str,
        now: u64,
        issued_before: u64,
    ) -> Result<Option<String>, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(user_id) = consume(&tx, token_hash, AccountTokenPurpose::PasswordReset, now)?
        else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE users SET password_hash = ?2, tokens_not_before = MAX(tokens_not_before, ?3)
             WHERE id = ?1",
            params![user_id, password_hash, issued_before],
        )?;
        // Other reset links mailed before this one die with it.
        void_reset_links(&tx, &user_id)?;
        end_sessions(&tx, &user_id, None)?;
        end_user_browser_sessions(&tx, &user_id, None, issued_before)?;
        record_cutoff(&tx, CutoffKind::Subject, &user_id, None, issued_before)?;
        tx.commit()?;
        Ok(Some(user_id))
    }

    fn verify_email(&mut self, token_hash: &[u8], now: u64) -> Result<Option<String>, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(user_id) = consume(&tx, token_hash, AccountTokenPurpose::EmailVerification, now)?
        else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE users SET email_verified = 1 WHERE id = ?1",
            [&user_id],
        )?;
        tx.commit()?;
        Ok(Some(user_id))
    }
}
