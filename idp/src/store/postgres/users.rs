//! Users on PostgreSQL. Emails are found and kept unique by `email_key`,
//! the address folded by the program's one rule ([`email_key`]), not by
//! the locale-dependent lower(), so two spellings of one address cannot
//! sign up twice and SQLite agrees. Changes that end a user's sessions lock the user's row and run
//! in one transaction with the cut-off they publish.

use postgres::Row;

use super::account_tokens::void_reset_links;
use super::browser::end_user_browser_sessions;
use super::conn::{Cached, PgConn, Target};
use super::sessions::{end_sessions, record_cutoff};
use super::{from_db, to_db};
use crate::store::contract::Users;
use crate::store::error::StoreError;
use crate::store::rows::email_key;
use crate::store::rows::{CutoffKind, UserCursor, UserRow};

const COLUMNS: &str = "id, email, name, password_hash, scope, created_at, disabled_at, \
                       email_verified, tokens_not_before";

fn from_row(r: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        scope: r.try_get(4)?,
        created_at: from_db(r.try_get(5)?, "user created_at")?,
        disabled_at: r
            .try_get::<_, Option<i64>>(6)?
            .map(|t| from_db(t, "user disabled_at"))
            .transpose()?,
        email_verified: r.try_get(7)?,
        tokens_not_before: from_db(r.try_get(8)?, "user tokens_not_before")?,
    })
}

/// Ends every session of `id` but `except_sid` and records the subject
/// cut-off, inside the caller's transaction.
fn cut_off<C: Target>(
    tx: &mut Cached<'_, C>,
    id: &str,
    except_sid: Option<&str>,
    issued_before: u64,
) -> Result<(), StoreError> {
    end_sessions(tx, id, except_sid)?;
    end_user_browser_sessions(tx, id, except_sid, issued_before)?;
    record_cutoff(tx, CutoffKind::Subject, id, except_sid, issued_before)?;
    tx.execute(
        "UPDATE users SET tokens_not_before = GREATEST(tokens_not_before, $2) WHERE id = $1",
        &[&id, &to_db(issued_before, "cut-off time")?],
    )?;
    Ok(())
}

/// Locks the user's row; whether it exists.
fn lock<C: Target>(tx: &mut Cached<'_, C>, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&id])?
        .is_some())
}

impl Users for PgConn {
    fn insert_user(&mut self, user: &UserRow) -> Result<(), StoreError> {
        let disabled_at = user
            .disabled_at
            .map(|t| to_db(t, "user disabled_at"))
            .transpose()?;
        self.db().execute(
            &format!(
                "INSERT INTO users ({COLUMNS}, email_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &user.id,
                &user.email,
                &user.name,
                &user.password_hash,
                &user.scope,
                &to_db(user.created_at, "user created_at")?,
                &disabled_at,
                &user.email_verified,
                &to_db(user.tokens_not_before, "user tokens_not_before")?,
                &email_key(&user.email),
            ],
        )?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>, StoreError> {
        self.db()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE email_key = $1"),
                &[&email_key(email)],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    fn user_by_id(&mut self, id: &str) -> Result<Option<UserRow>, StoreError> {
        self.db()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    fn set_user_scope(&mut self, email: &str, scope: &str) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "UPDATE users SET scope = $2 WHERE email_key = $1",
            &[&email_key(email), &scope],
        )? == 1)
    }

    fn set_user_name(&mut self, id: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .execute("UPDATE users SET name = $2 WHERE id = $1", &[&id, &name])?
            == 1)
    }

    /// Ids compare byte-wise (`COLLATE "C"`), as SQLite compares text.
    fn list_users(
        &mut self,
        after: Option<&UserCursor>,
        limit: u32,
    ) -> Result<Vec<UserRow>, StoreError> {
        let created_at = after.map(|c| to_db(c.created_at, "cursor")).transpose()?;
        let id = after.map_or("", |c| c.id.as_str());
        self.db()
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM users
                     WHERE $1::BIGINT IS NULL OR created_at > $1
                        OR (created_at = $1 AND id COLLATE \"C\" > $2)
                     ORDER BY created_at, id COLLATE \"C\" LIMIT $3"
                ),
                &[&created_at, &id, &i64::from(limit)],
            )?
            .iter()
            .map(from_row)
            .collect()
    }

    fn disable_user(&mut self, id: &str, now: u64, issued_before: u64) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        if !lock(&mut tx, id)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1",
            &[&id, &to_db(now, "disabled_at")?],
        )?;
        cut_off(&mut tx, id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn enable_user(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .execute("UPDATE users SET disabled_at = NULL WHERE id = $1", &[&id])?
            == 1)
    }

    fn delete_user(&mut self, id: &str, issued_before: u64) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        // Sessions, account tokens and second factors go with the row
        // (ON DELETE CASCADE); the cut-off stays, naming only the opaque id.
        if tx.execute("DELETE FROM users WHERE id = $1", &[&id])? == 0 {
            return Ok(false);
        }
        record_cutoff(&mut tx, CutoffKind::Subject, id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn end_user_sessions(
        &mut self,
        id: &str,
        except_sid: Option<&str>,
        issued_before: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        if !lock(&mut tx, id)? {
            return Ok(false);
        }
        cut_off(&mut tx, id, except_sid, issued_before)?;
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
        let mut tx = self.transaction()?;
        if tx.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            &[&id, &password_hash],
        )? == 0
        {
            return Ok(false);
        }
        cut_off(&mut tx, id, except_sid, issued_before)?;
        void_reset_links(&mut tx, id)?;
        tx.commit()?;
        Ok(true)
    }
}
