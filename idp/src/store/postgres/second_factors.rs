//! TOTP factors and recovery codes on PostgreSQL. A code is accepted by a
//! conditional `UPDATE` that moves `last_step` forward, so a code (or an
//! older one) can never be accepted twice, even by two instances at once.

use zeroize::Zeroizing;

use super::conn::PgConn;
use super::{from_db, to_db};
use crate::store::contract::{SecondFactors, UnsealedSecret};
use crate::store::error::StoreError;
use crate::store::rows::TotpRow;

impl SecondFactors for PgConn {
    fn start_totp(
        &mut self,
        user_id: &str,
        secret: &[u8],
        encrypted: bool,
        now: u64,
    ) -> Result<bool, StoreError> {
        let changed = self.db().execute(
            "INSERT INTO totp_factors (user_id, secret, encrypted, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE
               SET secret = excluded.secret, encrypted = excluded.encrypted,
                   created_at = excluded.created_at, last_step = 0
               WHERE totp_factors.confirmed_at IS NULL",
            &[&user_id, &secret, &encrypted, &to_db(now, "now")?],
        )?;
        Ok(changed == 1)
    }

    fn totp_factor(&mut self, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
        self.db()
            .query_opt(
                "SELECT secret, encrypted, confirmed_at IS NOT NULL, last_step
                 FROM totp_factors WHERE user_id = $1",
                &[&user_id],
            )?
            .map(|r| -> Result<TotpRow, StoreError> {
                Ok(TotpRow {
                    secret: Zeroizing::new(r.try_get(0)?),
                    encrypted: r.try_get(1)?,
                    confirmed: r.try_get(2)?,
                    last_step: from_db(r.try_get(3)?, "totp last_step")?,
                })
            })
            .transpose()
    }

    fn confirm_totp(
        &mut self,
        user_id: &str,
        step: u64,
        recovery_code_hashes: &[Vec<u8>],
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        let confirmed = tx.execute(
            "UPDATE totp_factors SET confirmed_at = $3, last_step = $2
             WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $2",
            &[&user_id, &to_db(step, "totp step")?, &to_db(now, "now")?],
        )?;
        if confirmed == 0 {
            return Ok(false);
        }
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])?;
        for hash in recovery_code_hashes {
            tx.execute(
                "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                &[&user_id, hash],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        recovery_code_hashes: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        // The factor's row is locked: a removal waits, or went first.
        let confirmed = tx
            .query_opt(
                "SELECT 1 FROM totp_factors
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE",
                &[&user_id],
            )?
            .is_some();
        if !confirmed {
            return Ok(false);
        }
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])?;
        for hash in recovery_code_hashes {
            tx.execute(
                "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                &[&user_id, hash],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn recovery_codes_left(&mut self, user_id: &str) -> Result<u32, StoreError> {
        let count: i64 = self
            .db()
            .query_one(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                &[&user_id],
            )?
            .try_get(0)?;
        u32::try_from(count).map_err(|_| StoreError::OutOfRange("recovery code count"))
    }

    fn use_totp_step(&mut self, user_id: &str, step: u64) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "UPDATE totp_factors SET last_step = $2
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
            &[&user_id, &to_db(step, "totp step")?],
        )? == 1)
    }

    fn use_recovery_code(
        &mut self,
        user_id: &str,
        code_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "UPDATE recovery_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[&user_id, &code_hash, &to_db(now, "now")?],
        )? == 1)
    }

    fn remove_totp(&mut self, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.transaction()?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])?;
        let removed = tx.execute("DELETE FROM totp_factors WHERE user_id = $1", &[&user_id])?;
        tx.commit()?;
        Ok(removed == 1)
    }

    fn unsealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError> {
        self.db()
            .query(
                "SELECT user_id, secret FROM totp_factors WHERE NOT encrypted",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, Zeroizing::new(r.try_get(1)?))))
            .collect()
    }

    fn sealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError> {
        self.db()
            .query(
                "SELECT user_id, secret FROM totp_factors WHERE encrypted",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, Zeroizing::new(r.try_get(1)?))))
            .collect()
    }

    fn reseal_totp(&mut self, user_id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let changed = self.db().execute(
            "UPDATE totp_factors SET secret = $3
             WHERE user_id = $1 AND encrypted AND secret = $2",
            &[&user_id, &old, &new],
        )?;
        Ok(changed > 0)
    }

    fn seal_totp(&mut self, user_id: &str, sealed: &[u8]) -> Result<bool, StoreError> {
        let changed = self.db().execute(
            "UPDATE totp_factors SET secret = $2, encrypted = TRUE
             WHERE user_id = $1 AND NOT encrypted",
            &[&user_id, &sealed],
        )?;
        Ok(changed > 0)
    }
}
