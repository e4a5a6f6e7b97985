//! Purging expired rows on PostgreSQL, one bounded statement per call, as
//! `store::purge_policy` specifies for each kind. Rows another instance's
//! purge holds are skipped (`SKIP LOCKED`), so purges on several instances
//! never wait on each other.

use super::conn::PgConn;
use super::{from_db, to_db};
use crate::store::contract::Purge;
use crate::store::error::StoreError;
use crate::store::purge_policy::spec;
use crate::store::rows::{Expiring, PurgeHorizon};

impl Purge for PgConn {
    fn purge_expired(
        &mut self,
        kind: Expiring,
        horizon: &PurgeHorizon,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let spec = spec(kind);
        let t = to_db((spec.horizon)(horizon), "purge horizon")?;
        let now = to_db(horizon.now, "now")?;
        let batch = i64::from(batch);
        let mut tx = self.transaction()?;
        // PostgreSQL cannot type a parameter the statement does not use, so
        // `now` is passed only where the condition names it.
        let lock = " FOR UPDATE SKIP LOCKED";
        let returned = if spec.uses_now() {
            tx.query(
                &spec.delete_sql(["$1", "$2", "$3"], lock),
                &[&t, &now, &batch],
            )?
        } else {
            tx.query(&spec.delete_sql(["$1", "", "$2"], lock), &[&t, &batch])?
        };
        if kind == Expiring::RevocationLog {
            let highest = returned
                .iter()
                .map(|r| r.try_get::<_, i64>(0))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .max();
            if let Some(highest) = highest {
                tx.execute(
                    "UPDATE revocation_feed SET purged_through = GREATEST(purged_through, $1)
                     WHERE id = 1",
                    &[&highest],
                )?;
            }
        }
        tx.commit()?;
        Ok(returned.len() as u64)
    }

    fn count_rows(&mut self, kind: Expiring) -> Result<u64, StoreError> {
        let n: i64 = self
            .db()
            .query_one(&spec(kind).count_sql(), &[])?
            .try_get(0)?;
        from_db(n, "row count")
    }

    fn scrub(&mut self) -> Result<(), StoreError> {
        self.db()
            .execute("VACUUM FULL signing_keys, totp_factors", &[])?;
        Ok(())
    }
}
