//! APIs (RFC 8707 resources) on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::contract::Apis;
use crate::store::error::StoreError;
use crate::store::rows::ApiRow;

/// The columns every query of this table reads, in `from_row`'s order
/// (a macro, so that the statements around it are `concat!`ed at
/// compile time and `prepare_cached` never formats SQL per call).
macro_rules! columns {
    () => {
        "resource, scope, created_at"
    };
}

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
            concat!("INSERT INTO apis (", columns!(), ") VALUES (?1, ?2, ?3)"),
            params![api.resource, api.scope, api.created_at],
        )?;
        Ok(())
    }

    fn api(&mut self, resource: &str) -> Result<Option<ApiRow>, StoreError> {
        Ok(self
            .prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM apis WHERE resource = ?1"
            ))?
            .query_row([resource], from_row)
            .optional()?)
    }

    fn list_apis(&mut self) -> Result<Vec<ApiRow>, StoreError> {
        let mut stmt = self.prepare(concat!(
            "SELECT ",
            columns!(),
            " FROM apis ORDER BY resource"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_api(&mut self, resource: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM apis WHERE resource = ?1", [resource])? == 1)
    }
}
