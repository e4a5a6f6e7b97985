//! TOTP factors and recovery codes on SQLite. A code is accepted by a
//! conditional `UPDATE` that moves `last_step` forward, so a code (or an
//! older one) can never be accepted twice, even by two requests at once.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

use crate::store::contract::{SecondFactors, UnsealedSecret};
use crate::store::error::StoreError;
use crate::store::rows::TotpRow;

impl SecondFactors for Connection {
    fn start_totp(
        &mut self,
        user_id: &str,
        secret: &[u8],
        encrypted: bool,
        now: u64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .prepare_cached(
                "INSERT INTO totp_factors (user_id, secret, encrypted, created_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE
                   SET secret = excluded.secret, encrypted = excluded.encrypted,
                       created_at = excluded.created_at, last_step = 0
                   WHERE totp_factors.confirmed_at IS NULL",
            )?
            .execute(params![user_id, secret, encrypted, now])?;
        Ok(changed == 1)
    }

    fn totp_factor(&mut self, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT secret, encrypted, confirmed_at IS NOT NULL, last_step
                 FROM totp_factors WHERE user_id = ?1",
            )?
            .query_row([user_id], |r| {
                Ok(TotpRow {
                    secret: Zeroizing::new(r.get(0)?),
                    encrypted: r.get(1)?,
                    confirmed: r.get(2)?,
                    last_step: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn confirm_totp(
        &mut self,
        user_id: &str,
        step: u64,
        recovery_code_hashes: &[Vec<u8>],
        now: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let confirmed = tx.execute(
            "UPDATE totp_factors SET confirmed_at = ?3, last_step = ?2
             WHERE user_id = ?1 AND confirmed_at IS NULL AND last_step < ?2",
            params![user_id, step, now],
        )?;
        if confirmed == 0 {
            return Ok(false);
        }
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
        for hash in recovery_code_hashes {
            tx.prepare_cached("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?
                .execute(params![user_id, hash])?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        recovery_code_hashes: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let confirmed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM totp_factors
                            WHERE user_id = ?1 AND confirmed_at IS NOT NULL)",
            [user_id],
            |r| r.get(0),
        )?;
        if !confirmed {
            return Ok(false);
        }
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
        for hash in recovery_code_hashes {
            tx.prepare_cached("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?
                .execute(params![user_id, hash])?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn recovery_codes_left(&mut self, user_id: &str) -> Result<u32, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            )?
            .query_row([user_id], |r| r.get(0))?)
    }

    fn use_totp_step(&mut self, user_id: &str, step: u64) -> Result<bool, StoreError> {
        Ok(self
            .prepare_cached(
                "UPDATE totp_factors SET last_step = ?2
                 WHERE user_id = ?1 AND confirmed_at IS NOT NULL AND last_step < ?2",
            )?
            .execute(params![user_id, step])?
            == 1)
    }

    fn use_recovery_code(
        &mut self,
        user_id: &str,
        code_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .prepare_cached(
                "UPDATE recovery_codes SET used_at = ?3
                 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
            )?
            .execute(params![user_id, code_hash, now])?
            == 1)
    }

    fn remove_totp(&mut self, user_id: &str) -> Result<bool, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
        let removed = tx.execute("DELETE FROM totp_factors WHERE user_id = ?1", [user_id])?;
        tx.commit()?;
        Ok(removed == 1)
    }

    fn unsealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError> {
        let mut statement =
            self.prepare_cached("SELECT user_id, secret FROM totp_factors WHERE encrypted = 0")?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, Zeroizing::new(r.get(1)?))))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn sealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError> {
        let mut statement =
            self.prepare_cached("SELECT user_id, secret FROM totp_factors WHERE encrypted = 1")?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, Zeroizing::new(r.get(1)?))))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn reseal_totp(&mut self, user_id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .prepare_cached(
                "UPDATE totp_factors SET secret = ?3
                 WHERE user_id = ?1 AND encrypted = 1 AND secret = ?2",
            )?
            .execute(params![user_id, old, new])?;
        Ok(changed > 0)
    }

    fn seal_totp(&mut self, user_id: &str, sealed: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .prepare_cached(
                "UPDATE totp_factors SET secret = ?2, encrypted = 1
                 WHERE user_id = ?1 AND encrypted = 0",
            )?
            .execute(params![user_id, sealed])?;
        Ok(changed > 0)
    }
}
