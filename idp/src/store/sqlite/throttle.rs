//! Attempt limits on SQLite. A reservation runs in one `BEGIN IMMEDIATE`
//! transaction: every slot is taken by a conditional upsert, and one full
//! slot rolls the whole set back, so concurrent attempts can never take
//! more uses than a slot allows.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::store::contract::Throttle;
use crate::store::error::StoreError;
use crate::store::rows::{Reservation, ThrottleCharge};

impl Throttle for Connection {
    fn throttle_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.prepare_cached(
            "INSERT INTO throttle_secret (id, secret) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
        )?
        .execute([candidate])?;
        Ok(self
            .prepare_cached("SELECT secret FROM throttle_secret WHERE id = 1")?
            .query_row([], |r| r.get(0))?)
    }

    fn reserve_attempt(
        &mut self,
        charges: &[ThrottleCharge],
        now: u64,
    ) -> Result<Reservation, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ends = Vec::with_capacity(charges.len());
        for charge in charges {
            let taken: Option<u64> = tx
                .prepare_cached(
                    "INSERT INTO throttle_slots (slot, ends_at, used) VALUES (?1, ?2 + ?3, 1)
                     ON CONFLICT (slot) DO UPDATE SET
                       used = CASE WHEN throttle_slots.ends_at <= ?2 THEN 1
                                   ELSE throttle_slots.used + 1 END,
                       ends_at = CASE WHEN throttle_slots.ends_at <= ?2 THEN excluded.ends_at
                                      ELSE throttle_slots.ends_at END
                     WHERE throttle_slots.ends_at <= ?2 OR throttle_slots.used < ?4
                     RETURNING ends_at",
                )?
                .query_row(
                    params![charge.slot, now, charge.window, charge.limit],
                    |r| r.get(0),
                )
                .optional()?;
            match taken {
                Some(end) => ends.push(end),
                None => {
                    let end: u64 = tx
                        .prepare_cached("SELECT ends_at FROM throttle_slots WHERE slot = ?1")?
                        .query_row([charge.slot], |r| r.get(0))?;
                    // Dropping `tx` rolls back the uses already taken.
                    return Ok(Reservation::Refused {
                        retry_after: end.saturating_sub(now).max(1),
                    });
                }
            }
        }
        tx.commit()?;
        Ok(Reservation::Admitted(ends))
    }

    fn refund_attempt(&mut self, slot: u64, ends_at: u64) -> Result<(), StoreError> {
        self.prepare_cached(
            "UPDATE throttle_slots SET used = used - 1
             WHERE slot = ?1 AND ends_at = ?2 AND used > 0",
        )?
        .execute(params![slot, ends_at])?;
        Ok(())
    }

    fn note_sign_in(&mut self, key: &[u8], now: u64) -> Result<(), StoreError> {
        self.prepare_cached(
            "INSERT INTO trusted_sign_ins (key, last_at) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET last_at = max(last_at, excluded.last_at)",
        )?
        .execute(params![key, now])?;
        Ok(())
    }

    fn signed_in_since(&mut self, key: &[u8], since: u64) -> Result<bool, StoreError> {
        Ok(self
            .prepare_cached("SELECT 1 FROM trusted_sign_ins WHERE key = ?1 AND last_at >= ?2")?
            .query_row(params![key, since], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn throttle_rows(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .prepare_cached("SELECT count(*) FROM throttle_slots")?
            .query_row([], |r| r.get(0))?)
    }
}
