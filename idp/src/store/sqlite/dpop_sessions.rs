//! Login sessions bound to a DPoP key, on SQLite.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::contract::DpopSessions;
use crate::store::error::StoreError;

/// Bindings of sessions without a live refresh token, dropped per call.
const PRUNE_BATCH: i64 = 64;

impl DpopSessions for Connection {
    fn bind_session(&mut self, family_id: &str, jkt: &str, now: u64) -> Result<(), StoreError> {
        self.prepare_cached(
            "DELETE FROM dpop_sessions WHERE family_id IN (
                 SELECT d.family_id FROM dpop_sessions d
                 WHERE NOT EXISTS (
                     SELECT 1 FROM refresh_tokens r
                     WHERE r.family_id = d.family_id
                       AND r.expires_at > ?1 AND r.revoked_at IS NULL)
                 LIMIT ?2)",
        )?
        .execute(params![now, PRUNE_BATCH])?;
        self.prepare_cached(
            "INSERT INTO dpop_sessions (family_id, jkt, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (family_id) DO NOTHING",
        )?
        .execute(params![family_id, jkt, now])?;
        Ok(())
    }

    fn session_binding(&mut self, family_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .prepare_cached("SELECT jkt FROM dpop_sessions WHERE family_id = ?1")?
            .query_row([family_id], |r| r.get(0))
            .optional()?)
    }
}
