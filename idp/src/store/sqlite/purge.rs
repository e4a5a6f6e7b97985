//! Purging expired rows on SQLite, one bounded statement per call, as
//! `store::purge_policy` specifies for each kind.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::store::contract::Purge;
use crate::store::error::StoreError;
use crate::store::purge_policy::spec;
use crate::store::rows::{Expiring, PurgeHorizon};

impl Purge for Connection {
    fn purge_expired(
        &mut self,
        kind: Expiring,
        horizon: &PurgeHorizon,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let spec = spec(kind);
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let returned: Vec<i64> = tx
            .prepare_cached(&spec.delete_sql(["?1", "?2", "?3"], ""))?
            .query_map(params![(spec.horizon)(horizon), horizon.now, batch], |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        if kind == Expiring::RevocationLog {
            if let Some(highest) = returned.iter().max() {
                tx.prepare_cached(
                    "UPDATE revocation_feed SET purged_through = MAX(purged_through, ?1)
                     WHERE id = 1",
                )?
                .execute([highest])?;
            }
        }
        tx.commit()?;
        Ok(returned.len() as u64)
    }

    fn count_rows(&mut self, kind: Expiring) -> Result<u64, StoreError> {
        Ok(self
            .prepare_cached(&spec(kind).count_sql())?
            .query_row([], |r| r.get(0))?)
    }

    fn scrub(&mut self) -> Result<(), StoreError> {
        self.execute_batch("VACUUM")?;
        // Readers still on an old snapshot leave the WAL as it is (the
        // answer says so); at start-up there are none.
        self.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
