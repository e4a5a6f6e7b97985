//! OAuth 2.0 clients on PostgreSQL.

use postgres::Row;

use super::conn::PgConn;
use super::sessions::record_cutoff;
use super::{from_db, to_db};
use crate::store::contract::Clients;
use crate::store::error::StoreError;
use crate::store::rows::{
    join_uris, split_uris, ClientRow, CutoffKind, PreviousSecret, SecretRotation,
};

const COLUMNS: &str = "client_id, secret_hash, scope, admin, created_at, \
                       redirect_uris, public, consent, post_logout_redirect_uris, \
                       previous_secret_hash, previous_secret_expires_at";

fn from_row(r: &Row) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        client_id: r.try_get(0)?,
        secret_hash: r.try_get(1)?,
        scope: r.try_get(2)?,
        admin: r.try_get(3)?,
        created_at: from_db(r.try_get(4)?, "client created_at")?,
        redirect_uris: split_uris(r.try_get(5)?),
        public: r.try_get(6)?,
        consent: r.try_get(7)?,
        post_logout_redirect_uris: split_uris(r.try_get(8)?),
        previous_secret: match (
            r.try_get::<_, Option<Vec<u8>>>(9)?,
            r.try_get::<_, Option<i64>>(10)?,
        ) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret {
                hash,
                expires_at: from_db(expires_at, "client previous_secret_expires_at")?,
            }),
            _ => None,
        },
    })
}

impl Clients for PgConn {
    fn insert_client(&mut self, client: &ClientRow) -> Result<(), StoreError> {
        self.db().execute(
            &format!("INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[
                &client.client_id,
                &client.secret_hash,
                &client.scope,
                &client.admin,
                &to_db(client.created_at, "client created_at")?,
                &join_uris(&client.redirect_uris),
                &client.public,
                &client.consent,
                &join_uris(&client.post_logout_redirect_uris),
                &client.previous_secret.as_ref().map(|p| p.hash.as_slice()),
                &client
                    .previous_secret
                    .as_ref()
                    .map(|p| to_db(p.expires_at, "client previous_secret_expires_at"))
                    .transpose()?,
            ],
        )?;
        Ok(())
    }

    fn client(&mut self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        self.db()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM clients WHERE client_id = $1"),
                &[&client_id],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Ordered byte-wise (`COLLATE "C"`), as SQLite orders text.
    fn list_clients(&mut self) -> Result<Vec<ClientRow>, StoreError> {
        self.db()
            .query(
                &format!("SELECT {COLUMNS} FROM clients ORDER BY client_id COLLATE \"C\""),
                &[],
            )?
            .iter()
            .map(from_row)
            .collect()
    }

    fn delete_client(&mut self, client_id: &str, issued_before: u64) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        if tx.execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])? == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM refresh_tokens WHERE client_id = $1",
            &[&client_id],
        )?;
        record_cutoff(&mut tx, CutoffKind::Client, client_id, None, issued_before)?;
        tx.commit()?;
        Ok(true)
    }

    fn rotate_client_secret(
        &mut self,
        client_id: &str,
        secret_hash: &[u8],
        how: SecretRotation,
    ) -> Result<bool, StoreError> {
        let keep_until = match how {
            SecretRotation::Overlap { until } => Some(to_db(until, "previous secret expiry")?),
            SecretRotation::Replace | SecretRotation::Revoke { .. } => None,
        };
        let mut tx = self.transaction()?;
        // The right-hand sides read the row as it was: the old secret
        // becomes the previous one.
        let changed = tx.execute(
            "UPDATE clients
             SET secret_hash = $2,
                 previous_secret_hash = CASE WHEN $3::BIGINT IS NULL THEN NULL ELSE secret_hash END,
                 previous_secret_expires_at = $3
             WHERE client_id = $1 AND NOT public",
            &[&client_id, &secret_hash, &keep_until],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        if let SecretRotation::Revoke { issued_before } = how {
            tx.execute(
                "DELETE FROM refresh_tokens WHERE client_id = $1",
                &[&client_id],
            )?;
            record_cutoff(&mut tx, CutoffKind::Client, client_id, None, issued_before)?;
        }
        tx.commit()?;
        Ok(true)
    }
}
