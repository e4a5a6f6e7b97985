//! Users on SQLite. The `email` column collates NOCASE, so `=` ignores case
//! and the unique index keeps two spellings of one address from signing up
//! twice.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::contract::Users;
use crate::store::error::StoreError;
use crate::store::rows::UserRow;

const COLUMNS: &str = "id, email, name, password_hash, scope, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        password_hash: r.get(3)?,
        scope: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl Users for Connection {
    fn insert_user(&mut self, user: &UserRow) -> Result<(), StoreError> {
        self.execute(
            &format!("INSERT INTO users ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                user.id,
                user.email,
                user.name,
                user.password_hash,
                user.scope,
                user.created_at
            ],
        )?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE email = ?1"))?
            .query_row([email], from_row)
            .optional()?)
    }

    fn user_by_id(&mut self, id: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
            .query_row([id], from_row)
            .optional()?)
    }

    fn set_user_scope(&mut self, email: &str, scope: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE users SET scope = ?2 WHERE email = ?1",
            params![email, scope],
        )? == 1)
    }
}
