//! OAuth 2.0 clients on PostgreSQL: the queries of `store/clients.rs`.

use postgres::{Client, Row};

use super::conflict_on_unique;
use crate::store::{ClientRow, StoreError};

const COLUMNS: &str = "client_id, secret_hash, scope, admin, created_at";

fn from_row(r: &Row) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        client_id: r.try_get(0)?,
        secret_hash: r.try_get(1)?,
        scope: r.try_get(2)?,
        admin: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

pub(in crate::store) fn insert_client(
    c: &mut Client,
    client: &ClientRow,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO clients (client_id, secret_hash, scope, admin, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &client.client_id,
            &client.secret_hash,
            &client.scope,
            &client.admin,
            &client.created_at,
        ],
    )
    .map_err(conflict_on_unique)?;
    Ok(())
}

pub(in crate::store) fn client(
    c: &mut Client,
    client_id: &str,
) -> Result<Option<ClientRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {COLUMNS} FROM clients WHERE client_id = $1"),
        &[&client_id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Ordered byte-wise (`COLLATE "C"`), as SQLite orders text.
pub(in crate::store) fn list_clients(c: &mut Client) -> Result<Vec<ClientRow>, StoreError> {
    c.query(
        &format!("SELECT {COLUMNS} FROM clients ORDER BY client_id COLLATE \"C\""),
        &[],
    )?
    .iter()
    .map(from_row)
    .collect()
}

pub(in crate::store) fn delete_client(c: &mut Client, client_id: &str) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])? == 1)
}
