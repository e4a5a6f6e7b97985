//! Users on PostgreSQL. Email lookups compare `lower(email)`, served by the
//! unique index that also keeps two spellings of one address from signing
//! up twice.

use postgres::Row;

use super::conn::PgConn;
use super::{from_db, to_db};
use crate::store::contract::Users;
use crate::store::error::StoreError;
use crate::store::rows::UserRow;

const COLUMNS: &str = "id, email, name, password_hash, scope, created_at";

fn from_row(r: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        scope: r.try_get(4)?,
        created_at: from_db(r.try_get(5)?, "user created_at")?,
    })
}

impl Users for PgConn {
    fn insert_user(&mut self, user: &UserRow) -> Result<(), StoreError> {
        self.db().execute(
            &format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[
                &user.id,
                &user.email,
                &user.name,
                &user.password_hash,
                &user.scope,
                &to_db(user.created_at, "user created_at")?,
            ],
        )?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>, StoreError> {
        self.db()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)"),
                &[&email],
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
            "UPDATE users SET scope = $2 WHERE lower(email) = lower($1)",
            &[&email, &scope],
        )? == 1)
    }
}
