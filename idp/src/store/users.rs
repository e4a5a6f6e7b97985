//! Users: signup and lookup.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::postgres::users as pg;
use super::{conflict_on_unique, Backend, Store, StoreError};

/// A stored user.
#[derive(Clone)]
pub struct UserRow {
    /// Opaque id, the `sub` of the user's tokens.
    pub id: String,
    /// Email as given at signup.
    pub email: String,
    /// Display name.
    pub name: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Extra scopes granted to this user (space-separated), besides `profile`.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

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

impl Store {
    /// Stores a new user; [`StoreError::Conflict`] if the email is taken
    /// (whatever its case).
    pub async fn insert_user(&self, user: UserRow) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| insert_user(c, &user)).await,
            Backend::Postgres(db) => db.call(move |c| pg::insert_user(c, &user)).await,
        }
    }

    /// Finds a user by email, ignoring case.
    pub async fn user_by_email(&self, email: String) -> Result<Option<UserRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| user_by_email(c, &email)).await,
            Backend::Postgres(db) => db.call(move |c| pg::user_by_email(c, &email)).await,
        }
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, id: String) -> Result<Option<UserRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| user_by_id(c, &id)).await,
            Backend::Postgres(db) => db.call(move |c| pg::user_by_id(c, &id)).await,
        }
    }

    /// Replaces the extra scopes granted to the user with this email.
    /// Returns whether a user was found.
    pub async fn set_user_scope(&self, email: String, scope: String) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| set_user_scope(c, &email, &scope)).await,
            Backend::Postgres(db) => {
                db.call(move |c| pg::set_user_scope(c, &email, &scope))
                    .await
            }
        }
    }
}

fn insert_user(c: &Connection, user: &UserRow) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO users (id, email, name, password_hash, scope, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            user.id,
            user.email,
            user.name,
            user.password_hash,
            user.scope,
            user.created_at
        ],
    )
    .map_err(conflict_on_unique)?;
    Ok(())
}

/// The `email` column collates NOCASE, so `=` ignores case.
fn user_by_email(c: &Connection, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
        [email],
        from_row,
    )
    .optional()?)
}

fn user_by_id(c: &Connection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?)
}

fn set_user_scope(c: &Connection, email: &str, scope: &str) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE users SET scope = ?2 WHERE email = ?1",
        params![email, scope],
    )? == 1)
}
