//! APIs (RFC 8707 resources) on PostgreSQL.

use postgres::Row;

use super::conn::PgConn;
use super::{from_db, to_db};
use crate::store::contract::Apis;
use crate::store::error::StoreError;
use crate::store::rows::ApiRow;

const COLUMNS: &str = "resource, scope, created_at";

fn from_row(r: &Row) -> Result<ApiRow, StoreError> {
    Ok(ApiRow {
        resource: r.try_get(0)?,
        scope: r.try_get(1)?,
        created_at: from_db(r.try_get(2)?, "api created_at")?,
    })
}

impl Apis for PgConn {
    fn insert_api(&mut self, api: &ApiRow) -> Result<(), StoreError> {
        self.db().execute(
            &format!("INSERT INTO apis ({COLUMNS}) VALUES ($1, $2, $3)"),
            &[
                &api.resource,
                &api.scope,
                &to_db(api.created_at, "api created_at")?,
            ],
        )?;
        Ok(())
    }

    fn api(&mut self, resource: &str) -> Result<Option<ApiRow>, StoreError> {
        self.db()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM apis WHERE resource = $1"),
                &[&resource],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Ordered byte-wise (`COLLATE "C"`), as SQLite orders text.
    fn list_apis(&mut self) -> Result<Vec<ApiRow>, StoreError> {
        self.db()
            .query(
                &format!("SELECT {COLUMNS} FROM apis ORDER BY resource COLLATE \"C\""),
                &[],
            )?
            .iter()
            .map(from_row)
            .collect()
    }

    fn delete_api(&mut self, resource: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .execute("DELETE FROM apis WHERE resource = $1", &[&resource])?
            == 1)
    }
}
