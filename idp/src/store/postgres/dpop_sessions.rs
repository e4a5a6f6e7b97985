//! Login sessions bound to a DPoP key, on PostgreSQL.

use super::conn::PgConn;
use super::to_db;
use crate::store::contract::DpopSessions;
use crate::store::error::StoreError;

/// Bindings of sessions without a live refresh token, dropped per call.
const PRUNE_BATCH: i64 = 64;

impl DpopSessions for PgConn {
    fn bind_session(&mut self, family_id: &str, jkt: &str, now: u64) -> Result<(), StoreError> {
        let now = to_db(now, "binding time")?;
        self.db().execute(
            "DELETE FROM dpop_sessions WHERE family_id IN (
                 SELECT d.family_id FROM dpop_sessions d
                 WHERE NOT EXISTS (
                     SELECT 1 FROM refresh_tokens r
                     WHERE r.family_id = d.family_id
                       AND r.expires_at > $1 AND r.revoked_at IS NULL)
                 LIMIT $2)",
            &[&now, &PRUNE_BATCH],
        )?;
        self.db().execute(
            "INSERT INTO dpop_sessions (family_id, jkt, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (family_id) DO NOTHING",
            &[&family_id, &jkt, &now],
        )?;
        Ok(())
    }

    fn session_binding(&mut self, family_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db()
            .query_opt(
                "SELECT jkt FROM dpop_sessions WHERE family_id = $1",
                &[&family_id],
            )?
            .map(|row| row.try_get(0))
            .transpose()?)
    }
}
