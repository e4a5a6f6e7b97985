//! The revocation log on PostgreSQL. Triggers append to it under the
//! 'revocations' counter's row lock (migration 0008), so positions become
//! visible in commit order. This reads it: the head first, then entries up
//! to that head only. At READ COMMITTED the head read sees a position only
//! once its transaction committed, and every earlier position committed
//! before it (the lock), so no entry at or below the head is still to
//! come.

use super::conn::PgConn;
use super::from_db;
use crate::store::contract::RevocationLog;
use crate::store::error::StoreError;
use crate::store::rows::{LogEntry, LogHead, LogKind, LogPage};

impl RevocationLog for PgConn {
    fn revocations_after(&mut self, after: Option<i64>, limit: u32) -> Result<LogPage, StoreError> {
        let head = self.db().query_one(
            "SELECT f.epoch, c.value, f.purged_through
             FROM revocation_feed f, change_counters c
             WHERE f.id = 1 AND c.name = 'revocations'",
            &[],
        )?;
        let head = LogHead {
            epoch: head.try_get(0)?,
            position: head.try_get(1)?,
            purged_through: head.try_get(2)?,
        };
        let entries = self
            .db()
            .query(
                "SELECT position, kind, id, at, except_sid FROM revocation_log
                 WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
                &[
                    &after.unwrap_or(i64::MIN),
                    &head.position,
                    &i64::from(limit),
                ],
            )?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(LogEntry {
                    position: r.try_get(0)?,
                    kind: LogKind::parse(&kind).ok_or(StoreError::OutOfRange("log kind"))?,
                    id: r.try_get(2)?,
                    at: from_db(r.try_get(3)?, "log time")?,
                    except_sid: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(LogPage { head, entries })
    }

    fn renew_feed(&mut self, epoch: &str) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE revocation_feed SET epoch = $1 WHERE id = 1",
            &[&epoch],
        )?;
        Ok(())
    }
}
