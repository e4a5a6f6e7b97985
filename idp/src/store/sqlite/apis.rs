//! APIs (RFC 8707 resources) on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::contract::Apis;
use crate::store::error::StoreError;
use crate::store::rows::ApiRow;

const COLUMNS: &str = "resource, scope, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ApiRow> {
    Ok(ApiRow {
        resource: r.get(0)?,
        scope: r.get(1)?,
        created_at: r.get(2)?,
    })
}

impl Apis for Connection {
    fn insert_api(&mut self, api: &ApiRow) -> Result<(), StoreError> {
        self.execute(
            &format!("INSERT INTO apis ({COLUMNS}) VALUES (?1, ?2, ?3)"),
            params![api.resource, api.scope, api.created_at],
        )?;
        Ok(())
    }

    fn api(&mut self, resource: &str) -> Result<Option<ApiRow>, StoreError> {
        Ok(self
            .prepare_cached(&format!("SELECT {COLUMNS} FROM apis WHERE resource = ?1"))?
            .query_row([resource], from_row)
            .optional()?)
    }

    fn list_apis(&mut self) -> Result<Vec<ApiRow>, StoreError> {
        let mut stmt = self.prepare(&format!("SELECT {COLUMNS} FROM apis ORDER BY resource"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_api(&mut self, resource: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM apis WHERE resource = ?1", [resource])? == 1)
    }
}
