//! OAuth 2.0 clients on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::sessions::record_cutoff;
use crate::store::contract::Clients;
use crate::store::error::StoreError;
use crate::store::rows::{join_uris, split_uris, ClientRow, CutoffKind};

/// The columns every query of this table reads, in `from_row`'s order
/// (a macro, so that the statements around it are `concat!`ed at
/// compile time and `prepare_cached` never formats SQL per call).
macro_rules! columns {
    () => {
        "client_id, secret_hash, scope, admin, created_at, \
                       redirect_uris, public, consent, post_logout_redirect_uris"
    };
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        client_id: r.get(0)?,
        secret_hash: r.get(1)?,
        scope: r.get(2)?,
        admin: r.get(3)?,
        created_at: r.get(4)?,
        redirect_uris: split_uris(&r.get::<_, String>(5)?),
        public: r.get(6)?,
        consent: r.get(7)?,
        post_logout_redirect_uris: split_uris(&r.get::<_, String>(8)?),
    })
}

impl Clients for Connection {
    fn insert_client(&mut self, client: &ClientRow) -> Result<(), StoreError> {
        self.execute(
            concat!(
                "INSERT INTO clients (",
                columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                client.client_id,
                client.secret_hash,
                client.scope,
                client.admin,
                client.created_at,
                join_uris(&client.redirect_uris),
                client.public,
                client.consent,
                join_uris(&client.post_logout_redirect_uris),
            ],
        )?;
        Ok(())
    }

    fn client(&mut self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        Ok(self
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM clients WHERE client_id = ?1"
            ))?
            .query_row([client_id], from_row)
            .optional()?)
    }

    fn list_clients(&mut self) -> Result<Vec<ClientRow>, StoreError> {
        let mut stmt = self.prepare(concat!(
            "SELECT ",
            columns!(),
            " FROM clients ORDER BY client_id"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_client(&mut self, client_id: &str, issued_before: u64) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute("DELETE FROM clients WHERE client_id = ?1", [client_id])? == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM refresh_tokens WHERE client_id = ?1",
            [client_id],
        )?;
        record_cutoff(&tx, CutoffKind::Client, client_id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }
}
