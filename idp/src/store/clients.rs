//! OAuth 2.0 clients. Only a SHA-256 digest of each secret is stored.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::postgres::clients as pg;
use super::{conflict_on_unique, Backend, Store, StoreError};

/// A registered client.
#[derive(Clone)]
pub struct ClientRow {
    /// The client's id.
    pub client_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Scopes the client may request, space-separated.
    pub scope: String,
    /// Whether the client may manage the registry and keys.
    pub admin: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        client_id: r.get(0)?,
        secret_hash: r.get(1)?,
        scope: r.get(2)?,
        admin: r.get(3)?,
        created_at: r.get(4)?,
    })
}

impl Store {
    /// Registers a client; [`StoreError::Conflict`] if the id is taken.
    pub async fn insert_client(&self, client: ClientRow) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| insert_client(c, &client)).await,
            Backend::Postgres(db) => db.call(move |c| pg::insert_client(c, &client)).await,
        }
    }

    /// Looks a client up by id.
    pub async fn client(&self, client_id: String) -> Result<Option<ClientRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| client(c, &client_id)).await,
            Backend::Postgres(db) => db.call(move |c| pg::client(c, &client_id)).await,
        }
    }

    /// Every client, by id.
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|c| list_clients(c)).await,
            Backend::Postgres(db) => db.call(pg::list_clients).await,
        }
    }

    /// Removes a client; returns whether it existed.
    pub async fn delete_client(&self, client_id: String) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |c| delete_client(c, &client_id)).await,
            Backend::Postgres(db) => db.call(move |c| pg::delete_client(c, &client_id)).await,
        }
    }
}

fn insert_client(c: &Connection, client: &ClientRow) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO clients (client_id, secret_hash, scope, admin, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            client.client_id,
            client.secret_hash,
            client.scope,
            client.admin,
            client.created_at
        ],
    )
    .map_err(conflict_on_unique)?;
    Ok(())
}

fn client(c: &Connection, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT client_id, secret_hash, scope, admin, created_at FROM clients WHERE client_id = ?1",
    )?
    .query_row([client_id], from_row)
    .optional()?)
}

fn list_clients(c: &Connection) -> Result<Vec<ClientRow>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT client_id, secret_hash, scope, admin, created_at FROM clients ORDER BY client_id",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn delete_client(c: &Connection, client_id: &str) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM clients WHERE client_id = ?1", [client_id])? == 1)
}
