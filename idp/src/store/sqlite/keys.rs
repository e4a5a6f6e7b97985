//! Signing keys on SQLite. Rotation, pruning and the initial key set each
//! run in one `BEGIN IMMEDIATE` transaction, which takes the database's
//! write lock before reading the set: two processes rotating at once take
//! turns, and the second sees the first's result.

use keys::rotation::{KeyRecord, KeyState, Lifetimes, RotationPolicy, RotationTrigger};
use rusqlite::{params, Connection, Row, TransactionBehavior};
use zeroize::Zeroizing;

use crate::store::contract::SigningKeys;
use crate::store::error::StoreError;
use crate::store::rows::{KeyChange, StoredKey};

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let state: String = r.get(1)?;
    let state = state.parse::<KeyState>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(StoredKey {
        record: KeyRecord {
            kid: r.get(0)?,
            state,
            created_at: r.get(5)?,
            activated_at: r.get(6)?,
            retired_at: r.get(7)?,
            signed_with: Lifetimes {
                access_ttl: r.get(9)?,
                jwks_max_age: r.get(10)?,
            },
        },
        private_key: Zeroizing::new(r.get(2)?),
        encrypted: r.get(3)?,
        public_jwk: r.get(4)?,
        bits: r.get(8)?,
    })
}

fn list(conn: &Connection) -> Result<Vec<StoredKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kid, state, private_key, encrypted, public_jwk, created_at, activated_at, retired_at, bits,
                declared_access_ttl, declared_jwks_max_age
         FROM signing_keys ORDER BY created_at, kid",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn insert(conn: &Connection, key: &StoredKey) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO signing_keys
           (kid, state, private_key, encrypted, public_jwk, bits, created_at, activated_at, retired_at,
            declared_access_ttl, declared_jwks_max_age)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key.record.kid,
            key.record.state.as_str(),
            &key.private_key[..],
            key.encrypted,
            key.public_jwk,
            key.bits,
            key.record.created_at,
            key.record.activated_at,
            key.record.retired_at,
            key.record.signed_with.access_ttl,
            key.record.signed_with.jwks_max_age,
        ],
    )?;
    Ok(())
}

fn records(conn: &Connection) -> Result<Vec<KeyRecord>, StoreError> {
    Ok(list(conn)?.into_iter().map(|k| k.record).collect())
}

impl SigningKeys for Connection {
    fn list_keys(&mut self) -> Result<Vec<StoredKey>, StoreError> {
        list(self)
    }

    fn seal_key(&mut self, kid: &str, sealed: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .prepare_cached(
                "UPDATE signing_keys SET private_key = ?2, encrypted = 1
                 WHERE kid = ?1 AND encrypted = 0",
            )?
            .execute(params![kid, sealed])?;
        Ok(changed > 0)
    }

    fn declare_key_lifetimes(
        &mut self,
        kids: &[String],
        lifetimes: Lifetimes,
    ) -> Result<usize, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        for kid in kids {
            changed += tx
                .prepare_cached(
                    "UPDATE signing_keys
                     SET declared_access_ttl = max(declared_access_ttl, ?2),
                         declared_jwks_max_age = max(declared_jwks_max_age, ?3)
                     WHERE kid = ?1 AND (declared_access_ttl < ?2 OR declared_jwks_max_age < ?3)",
                )?
                .execute(params![kid, lifetimes.access_ttl, lifetimes.jwks_max_age])?;
        }
        tx.commit()?;
        Ok(changed)
    }

    fn reseal_key(&mut self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .prepare_cached(
                "UPDATE signing_keys SET private_key = ?3
                 WHERE kid = ?1 AND encrypted = 1 AND private_key = ?2",
            )?
            .execute(params![kid, old, new])?;
        Ok(changed > 0)
    }

    fn ensure_keys(&mut self, current: &StoredKey, next: &StoredKey) -> Result<usize, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = records(&tx)?;
        let has = |s| existing.iter().any(|k| k.state == s);
        let mut stored = 0;
        if !has(KeyState::Current) {
            insert(&tx, current)?;
            stored += 1;
        }
        if !has(KeyState::Next) {
            insert(&tx, next)?;
            stored += 1;
        }
        tx.commit()?;
        Ok(stored)
    }

    fn rotate_keys(
        &mut self,
        policy: RotationPolicy,
        now: u64,
        trigger: RotationTrigger,
        new_next: &StoredKey,
    ) -> Result<KeyChange, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let plan = match policy.plan_rotation(&records(&tx)?, now, trigger) {
            Ok(plan) => plan,
            Err(refused) => return Ok(KeyChange::Refused(refused)),
        };
        if let Some(old) = &plan.retire {
            tx.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at = ?2 WHERE kid = ?1",
                params![old, now],
            )?;
        }
        tx.execute(
            "UPDATE signing_keys SET state = 'current', activated_at = ?2 WHERE kid = ?1",
            params![plan.promote, now],
        )?;
        insert(&tx, new_next)?;
        tx.commit()?;
        Ok(KeyChange::Rotated(plan))
    }

    fn prune_keys(&mut self, policy: RotationPolicy, now: u64) -> Result<Vec<String>, StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let kids = policy.prunable_kids(&records(&tx)?, now);
        for kid in &kids {
            tx.execute(
                "DELETE FROM signing_keys WHERE kid = ?1 AND state = 'retired'",
                [kid],
            )?;
        }
        tx.commit()?;
        Ok(kids)
    }
}
