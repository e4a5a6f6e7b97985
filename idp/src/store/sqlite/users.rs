//! Users on SQLite. Emails are found and kept unique by `email_key`, the
//! address folded by the program's one rule ([`email_key`]), so two
//! spellings of one address cannot sign up twice, whatever their letters. Changes that end a user's sessions run in one `BEGIN IMMEDIATE`
//! transaction with the cut-off they publish.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::account_tokens::void_reset_links;
use super::browser::end_user_browser_sessions;
use super::sessions::{end_sessions, record_cutoff};
use crate::store::contract::Users;
use crate::store::error::StoreError;
use crate::store::rows::{email_key, CutoffKind, UserCursor, UserRow};

/// The columns every query of this table reads, in `from_row`'s order
/// (a macro, so that the statements around it are `concat!`ed at
/// compile time and `prepare_cached` never formats SQL per call).
macro_rules! columns {
    () => {
        "id, email, name, password_hash, scope, created_at, disabled_at, \
                       email_verified, tokens_not_before"
    };
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        password_hash: r.get(3)?,
        scope: r.get(4)?,
        created_at: r.get(5)?,
        disabled_at: r.get(6)?,
        email_verified: r.get(7)?,
        tokens_not_before: r.get(8)?,
    })
}

/// Ends every session of `id` but `except_sid` and records the subject
/// cut-off, inside the caller's transaction.
fn cut_off(
    tx: &Connection,
    id: &str,
    except_sid: Option<&str>,
    issued_before: u64,
) -> Result<(), StoreError> {
    end_sessions(tx, id, except_sid)?;
    end_user_browser_sessions(tx, id, except_sid, issued_before)?;
    record_cutoff(tx, CutoffKind::Subject, id, except_sid, issued_before)?;
    tx.execute(
        "UPDATE users SET tokens_not_before = MAX(tokens_not_before, ?2) WHERE id = ?1",
        params![id, issued_before],
    )?;
    Ok(())
}

fn exists(tx: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

impl Users for Connection {
    fn insert_user(&mut self, user: &UserRow) -> Result<(), StoreError> {
        self.execute(
            concat!(
                "INSERT INTO users (",
                columns!(),
                ", email_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                user.id,
                user.email,
                user.name,
                user.password_hash,
                user.scope,
                user.created_at,
                user.disabled_at,
                user.email_verified,
                user.tokens_not_before,
                email_key(&user.email),
            ],
        )?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM users WHERE email_key = ?1"
            ))?
            .query_row([email_key(email)], from_row)
            .optional()?)
    }

    fn user_by_id(&mut self, id: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .prepare_cached(concat!("SELECT ", columns!(), " FROM users WHERE id = ?1"))?
            .query_row([id], from_row)
            .optional()?)
    }

    fn set_user_scope(&mut self, email: &str, scope: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE users SET scope = ?2 WHERE email_key = ?1",
            params![email_key(email), scope],
        )? == 1)
    }

    fn set_user_name(&mut self, id: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE users SET name = ?2 WHERE id = ?1",
            params![id, name],
        )? == 1)
    }

    fn list_users(
        &mut self,
        after: Option<&UserCursor>,
        limit: u32,
    ) -> Result<Vec<UserRow>, StoreError> {
        let (created_at, id) = after.map_or((None, ""), |c| (Some(c.created_at), c.id.as_str()));
        let mut stmt = self.prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM users
             WHERE ?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)
             ORDER BY created_at, id LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![created_at, id, limit], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn disable_user(&mut self, id: &str, now: u64, issued_before: u64) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !exists(&tx, id)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, ?2) WHERE id = ?1",
            params![id, now],
        )?;
        cut_off(&tx, id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn enable_user(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.execute("UPDATE users SET disabled_at = NULL WHERE id = ?1", [id])? == 1)
    }

    fn delete_user(&mut self, id: &str, issued_before: u64) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Sessions, account tokens and second factors go with the row
        // (ON DELETE CASCADE); the cut-off stays, naming only the opaque id.
        if tx.execute("DELETE FROM users WHERE id = ?1", [id])? == 0 {
            return Ok(false);
        }
        record_cutoff(&tx, CutoffKind::Subject, id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn end_user_sessions(
        &mut self,
        id: &str,
        except_sid: Option<&str>,
        issued_before: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !exists(&tx, id)? {
            return Ok(false);
        }
        cut_off(&tx, id, except_sid, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn set_password(
        &mut self,
        id: &str,
        password_hash: &str,
        except_sid: Option<&str>,
        issued_before: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id, password_hash],
        )? == 0
        {
            return Ok(false);
        }
        cut_off(&tx, id, except_sid, issued_before)?;
        void_reset_links(&tx, id)?;
        tx.commit()?;
        Ok(true)
    }
}
