//! The revocation log on SQLite. Triggers append to it (migration 0008);
//! this reads it. The head is read before the entries, and entries are
//! read only up to it, so a page never holds a position past the head it
//! reports.

use rusqlite::{params, Connection, Row};

use crate::store::contract::RevocationLog;
use crate::store::error::StoreError;
use crate::store::rows::{LogEntry, LogHead, LogKind, LogPage};

/// Reads `position, kind, id, at, except_sid`.
fn entry(r: &Row<'_>) -> rusqlite::Result<(i64, String, String, u64, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl RevocationLog for Connection {
    fn revocations_after(&mut self, after: Option<i64>, limit: u32) -> Result<LogPage, StoreError> {
        let tx = self.transaction()?;
        let head = tx
            .prepare_cached(
                "SELECT f.epoch, c.value, f.purged_through
                 FROM revocation_feed f, change_counters c
                 WHERE f.id = 1 AND c.name = 'revocations'",
            )?
            .query_row([], |r| {
                Ok(LogHead {
                    epoch: r.get(0)?,
                    position: r.get(1)?,
                    purged_through: r.get(2)?,
                })
            })?;
        let entries = tx
            .prepare_cached(
                "SELECT position, kind, id, at, except_sid FROM revocation_log
                 WHERE position > ?1 AND position <= ?2 ORDER BY position LIMIT ?3",
            )?
            .query_map(
                params![after.unwrap_or(i64::MIN), head.position, limit],
                entry,
            )?
            .map(|row| {
                let (position, kind, id, at, except_sid) = row?;
                Ok(LogEntry {
                    position,
                    kind: LogKind::parse(&kind).ok_or(StoreError::OutOfRange("log kind"))?,
                    id,
                    at,
                    except_sid,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit()?;
        Ok(LogPage { head, entries })
    }

    fn renew_feed(&mut self, epoch: &str) -> Result<(), StoreError> {
        self.prepare_cached("UPDATE revocation_feed SET epoch = ?1 WHERE id = 1")?
            .execute([epoch])?;
        Ok(())
    }
}
