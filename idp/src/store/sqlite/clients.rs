//! OAuth 2.0 clients on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::sessions::record_cutoff;
use crate::store::contract::Clients;
use crate::store::error::StoreError;
use crate::store::rows::{
    join_uris, split_uris, ClientRow, CutoffKind, PreviousSecret, SecretRotation,
};

/// The columns every query of this table reads, in `from_row`'s order
/// (a macro, so that the statements around it are `concat!`ed at
/// compile time and `prepare_cached` never formats SQL per call).
macro_rules! columns {
    () => {
        "client_id, secret_hash, scope, admin, created_at, \
                       redirect_uris, public, consent, post_logout_redirect_uris, \
                       previous_secret_hash, previous_secret_expires_at"
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
        previous_secret: match (r.get(9)?, r.get(10)?) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret { hash, expires_at }),
            _ => None,
        },
    })
}

impl Clients for Connection {
    fn insert_client(&mut self, client: &ClientRow) -> Result<(), StoreError> {
        self.execute(
            concat!(
                "INSERT INTO clients (",
                columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
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
                client.previous_secret.as_ref().map(|p| &p.hash),
                client.previous_secret.as_ref().map(|p| p.expires_at),
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

    fn rotate_client_secret(
        &mut self,
        client_id: &str,
        secret_hash: &[u8],
        how: SecretRotation,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The right-hand sides read the row as it was: the old secret
        // becomes the previous one.
        let keep_until = match how {
            SecretRotation::Overlap { until } => Some(until),
            SecretRotation::Replace | SecretRotation::Revoke { .. } => None,
        };
        let changed = tx.execute(
            "UPDATE clients
             SET secret_hash = ?2,
                 previous_secret_hash = CASE WHEN ?3 IS NULL THEN NULL ELSE secret_hash END,
                 previous_secret_expires_at = ?3
             WHERE client_id = ?1 AND NOT public",
            params![client_id, secret_hash, keep_until],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        if let SecretRotation::Revoke { issued_before } = how {
            tx.execute(
                "DELETE FROM refresh_tokens WHERE client_id = ?1",
                [client_id],
            )?;
            record_cutoff(&tx, CutoffKind::Client, client_id, None, issued_before)?;
        }
        tx.commit()?;
        Ok(true)
    }
}
