//! Attempt limits on PostgreSQL, shared by every instance on the database.
//! A reservation runs in one transaction: each slot is taken by a
//! conditional upsert (which locks its row, so concurrent attempts queue
//! on it), slots in ascending order so two reservations cannot deadlock,
//! and one full slot rolls the whole set back.

use super::conn::PgConn;
use super::{from_db, to_db};
use crate::store::contract::Throttle;
use crate::store::error::StoreError;
use crate::store::rows::{Reservation, ThrottleCharge};

impl Throttle for PgConn {
    fn throttle_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.db().execute(
            "INSERT INTO throttle_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&candidate],
        )?;
        Ok(self
            .db()
            .query_one("SELECT secret FROM throttle_secret WHERE id = 1", &[])?
            .try_get(0)?)
    }

    fn reserve_attempt(
        &mut self,
        charges: &[ThrottleCharge],
        now: u64,
    ) -> Result<Reservation, StoreError> {
        let mut order: Vec<usize> = (0..charges.len()).collect();
        order.sort_by_key(|&i| charges[i].slot);
        let mut ends = vec![0; charges.len()];
        let now_db = to_db(now, "now")?;
        let mut tx = self.transaction()?;
        for i in order {
            let charge = charges[i];
            let slot = to_db(charge.slot, "throttle slot")?;
            let taken = tx.query_opt(
                "INSERT INTO throttle_slots (slot, ends_at, used) VALUES ($1, $2::BIGINT + $3::BIGINT, 1)
                 ON CONFLICT (slot) DO UPDATE SET
                   used = CASE WHEN throttle_slots.ends_at <= $2 THEN 1
                               ELSE throttle_slots.used + 1 END,
                   ends_at = CASE WHEN throttle_slots.ends_at <= $2 THEN excluded.ends_at
                                  ELSE throttle_slots.ends_at END
                 WHERE throttle_slots.ends_at <= $2 OR throttle_slots.used < $4
                 RETURNING ends_at",
                &[
                    &slot,
                    &now_db,
                    &to_db(charge.window, "throttle window")?,
                    &i32::try_from(charge.limit).unwrap_or(i32::MAX),
                ],
            )?;
            match taken {
                Some(row) => ends[i] = from_db(row.try_get(0)?, "throttle window end")?,
                None => {
                    let end: i64 = tx
                        .query_one(
                            "SELECT ends_at FROM throttle_slots WHERE slot = $1",
                            &[&slot],
                        )?
                        .try_get(0)?;
                    // Dropping `tx` rolls back the uses already taken.
                    return Ok(Reservation::Refused {
                        retry_after: from_db(end, "throttle window end")?
                            .saturating_sub(now)
                            .max(1),
                    });
                }
            }
        }
        tx.commit()?;
        Ok(Reservation::Admitted(ends))
    }

    fn refund_attempt(&mut self, slot: u64, ends_at: u64) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE throttle_slots SET used = used - 1
             WHERE slot = $1 AND ends_at = $2 AND used > 0",
            &[
                &to_db(slot, "throttle slot")?,
                &to_db(ends_at, "throttle window end")?,
            ],
        )?;
        Ok(())
    }

    fn note_sign_in(&mut self, key: &[u8], now: u64) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO trusted_sign_ins (key, last_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE
               SET last_at = GREATEST(trusted_sign_ins.last_at, excluded.last_at)",
            &[&key, &to_db(now, "now")?],
        )?;
        Ok(())
    }

    fn signed_in_since(&mut self, key: &[u8], since: u64) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .query_opt(
                "SELECT 1 FROM trusted_sign_ins WHERE key = $1 AND last_at >= $2",
                &[&key, &to_db(since, "since")?],
            )?
            .is_some())
    }

    fn throttle_rows(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self
            .db()
            .query_one("SELECT count(*) FROM throttle_slots", &[])?
            .try_get(0)?;
        from_db(n, "row count")
    }
}
