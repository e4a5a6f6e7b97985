//! Signing keys on PostgreSQL.
//!
//! Every transaction that reads the key set in order to change it first
//! locks the `signing_keys` row of `change_counters` (`FOR UPDATE`). Writers
//! on any instance take turns there, and each reads the set only once it
//! holds the lock, so it sees the previous writer's result: two rotations
//! at once promote once and then refuse (or rotate again, if forced), and
//! two instances starting on an empty database generate one key set. The
//! partial unique indexes (one `current`, one `next`) stay as a backstop.

use keys::rotation::{KeyRecord, KeyState, Lifetimes, RotationPolicy, RotationTrigger};
use postgres::{Row, Transaction};
use zeroize::Zeroizing;

use super::conn::{Cached, PgConn, Target};
use super::{from_db, to_db};
use crate::store::contract::SigningKeys;
use crate::store::error::StoreError;
use crate::store::rows::{KeyChange, StoredKey};

fn from_row(r: &Row) -> Result<StoredKey, StoreError> {
    let state: String = r.try_get(1)?;
    let state = state
        .parse::<KeyState>()
        .map_err(|_| StoreError::OutOfRange("key state"))?;
    let optional_time = |index: usize, what| -> Result<Option<u64>, StoreError> {
        r.try_get::<_, Option<i64>>(index)?
            .map(|t| from_db(t, what))
            .transpose()
    };
    Ok(StoredKey {
        record: KeyRecord {
            kid: r.try_get(0)?,
            state,
            created_at: from_db(r.try_get(5)?, "key created_at")?,
            activated_at: optional_time(6, "key activated_at")?,
            retired_at: optional_time(7, "key retired_at")?,
            signed_with: Lifetimes {
                access_ttl: from_db(r.try_get(9)?, "key declared_access_ttl")?,
                jwks_max_age: from_db(r.try_get(10)?, "key declared_jwks_max_age")?,
            },
        },
        private_key: Zeroizing::new(r.try_get(2)?),
        encrypted: r.try_get(3)?,
        public_jwk: r.try_get(4)?,
        bits: u32::try_from(r.try_get::<_, i32>(8)?)
            .map_err(|_| StoreError::OutOfRange("key bits"))?,
    })
}

/// Oldest first; kids compare byte-wise (`COLLATE "C"`), as in SQLite.
fn list<C: Target>(c: &mut Cached<'_, C>) -> Result<Vec<StoredKey>, StoreError> {
    c.query(
        "SELECT kid, state, private_key, encrypted, public_jwk, created_at, activated_at, retired_at, bits,
                declared_access_ttl, declared_jwks_max_age
         FROM signing_keys ORDER BY created_at, kid COLLATE \"C\"",
        &[],
    )?
    .iter()
    .map(from_row)
    .collect()
}

fn insert(tx: &mut Cached<'_, Transaction<'_>>, key: &StoredKey) -> Result<(), StoreError> {
    let bits = i32::try_from(key.bits).map_err(|_| StoreError::OutOfRange("key bits"))?;
    let activated_at = key
        .record
        .activated_at
        .map(|t| to_db(t, "key activated_at"))
        .transpose()?;
    let retired_at = key
        .record
        .retired_at
        .map(|t| to_db(t, "key retired_at"))
        .transpose()?;
    tx.execute(
        "INSERT INTO signing_keys
           (kid, state, private_key, encrypted, public_jwk, bits, created_at, activated_at, retired_at,
            declared_access_ttl, declared_jwks_max_age)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &key.record.kid,
            &key.record.state.as_str(),
            &&key.private_key[..],
            &key.encrypted,
            &key.public_jwk,
            &bits,
            &to_db(key.record.created_at, "key created_at")?,
            &activated_at,
            &retired_at,
            &to_db(key.record.signed_with.access_ttl, "key declared_access_ttl")?,
            &to_db(key.record.signed_with.jwks_max_age, "key declared_jwks_max_age")?,
        ],
    )?;
    Ok(())
}

/// Makes other key writers wait until this transaction ends.
fn lock_key_set(tx: &mut Cached<'_, Transaction<'_>>) -> Result<(), StoreError> {
    tx.execute(
        "SELECT value FROM change_counters WHERE name = 'signing_keys' FOR UPDATE",
        &[],
    )?;
    Ok(())
}

impl SigningKeys for PgConn {
    fn list_keys(&mut self) -> Result<Vec<StoredKey>, StoreError> {
        list(&mut self.db())
    }

    fn seal_key(&mut self, kid: &str, sealed: &[u8]) -> Result<bool, StoreError> {
        let changed = self.db().execute(
            "UPDATE signing_keys SET private_key = $2, encrypted = TRUE
             WHERE kid = $1 AND NOT encrypted",
            &[&kid, &sealed],
        )?;
        Ok(changed > 0)
    }

    fn declare_key_lifetimes(
        &mut self,
        kids: &[String],
        lifetimes: Lifetimes,
    ) -> Result<usize, StoreError> {
        let access_ttl = to_db(lifetimes.access_ttl, "declared access ttl")?;
        let jwks_max_age = to_db(lifetimes.jwks_max_age, "declared jwks max-age")?;
        let mut tx = self.transaction()?;
        let mut changed = 0;
        for kid in kids {
            changed += tx.execute(
                "UPDATE signing_keys
                 SET declared_access_ttl = GREATEST(declared_access_ttl, $2),
                     declared_jwks_max_age = GREATEST(declared_jwks_max_age, $3)
                 WHERE kid = $1 AND (declared_access_ttl < $2 OR declared_jwks_max_age < $3)",
                &[kid, &access_ttl, &jwks_max_age],
            )?;
        }
        tx.commit()?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn reseal_key(&mut self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let changed = self.db().execute(
            "UPDATE signing_keys SET private_key = $3
             WHERE kid = $1 AND encrypted AND private_key = $2",
            &[&kid, &old, &new],
        )?;
        Ok(changed > 0)
    }

    fn ensure_keys(&mut self, current: &StoredKey, next: &StoredKey) -> Result<usize, StoreError> {
        let mut tx = self.transaction()?;
        lock_key_set(&mut tx)?;
        let existing = list(&mut tx)?;
        let has = |s| existing.iter().any(|k| k.record.state == s);
        let (has_current, has_next) = (has(KeyState::Current), has(KeyState::Next));
        let mut stored = 0;
        if !has_current {
            insert(&mut tx, current)?;
            stored += 1;
        }
        if !has_next {
            insert(&mut tx, next)?;
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
        let mut tx = self.transaction()?;
        lock_key_set(&mut tx)?;
        let records: Vec<KeyRecord> = list(&mut tx)?.into_iter().map(|k| k.record).collect();
        let plan = match policy.plan_rotation(&records, now, trigger) {
            Ok(plan) => plan,
            // Dropping the transaction rolls it back and releases the lock.
            Err(refused) => return Ok(KeyChange::Refused(refused)),
        };
        let now_db = to_db(now, "rotation time")?;
        if let Some(old) = &plan.retire {
            tx.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE kid = $1",
                &[old, &now_db],
            )?;
        }
        tx.execute(
            "UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE kid = $1",
            &[&plan.promote, &now_db],
        )?;
        insert(&mut tx, new_next)?;
        tx.commit()?;
        Ok(KeyChange::Rotated(plan))
    }

    fn prune_keys(&mut self, policy: RotationPolicy, now: u64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.transaction()?;
        lock_key_set(&mut tx)?;
        let records: Vec<KeyRecord> = list(&mut tx)?.into_iter().map(|k| k.record).collect();
        let kids = policy.prunable_kids(&records, now);
        for kid in &kids {
            tx.execute(
                "DELETE FROM signing_keys WHERE kid = $1 AND state = 'retired'",
                &[kid],
            )?;
        }
        tx.commit()?;
        Ok(kids)
    }
}
