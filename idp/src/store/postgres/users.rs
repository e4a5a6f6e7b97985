//! Users on PostgreSQL: the queries of `store/users.rs`. Email lookups
//! compare `lower(email)`, served by the unique index that also keeps two
//! spellings of one address from signing up twice.

use postgres::{Client, Row};

use super::conflict_on_unique;
use crate::store::{StoreError, UserRow};

const COLUMNS: &str = "id, email, name, password_hash, scope, created_at";

fn from_row(r: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        scope: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

pub(in crate::store) fn insert_user(c: &mut Client, user: &UserRow) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO users (id, email, name, password_hash, scope, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &user.id,
            &user.email,
            &user.name,
            &user.password_hash,
            &user.scope,
            &user.created_at,
        ],
    )
    .map_err(conflict_on_unique)?;
    Ok(())
}

pub(in crate::store) fn user_by_email(
    c: &mut Client,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)"),
        &[&email],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub(in crate::store) fn user_by_id(
    c: &mut Client,
    id: &str,
) -> Result<Option<UserRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub(in crate::store) fn set_user_scope(
    c: &mut Client,
    email: &str,
    scope: &str,
) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE users SET scope = $2 WHERE lower(email) = lower($1)",
        &[&email, &scope],
    )? == 1)
}
