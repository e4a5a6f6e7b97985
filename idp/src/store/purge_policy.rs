//! Which rows count as expired, decided once for every backend.
//!
//! Each [`Expiring`] kind names a table, the column (or columns) that pick
//! a row, and the condition under which a row is no longer needed, against
//! one of the [`PurgeHorizon`]'s times. The backends turn a spec into one
//! bounded statement, `DELETE ... WHERE key IN (SELECT key ... WHERE
//! condition LIMIT n)`, so a purge never holds its locks for long.

use super::rows::{Expiring, PurgeHorizon};

/// How to find the expired rows of one kind. In `condition`, `:t` stands
/// for the horizon's time and `:now` for now; the backends put in their
/// own placeholders.
#[derive(Debug, Clone, Copy)]
pub struct PurgeSpec {
    /// The table.
    pub table: &'static str,
    /// The column or row value that names a row.
    pub key: &'static str,
    /// When a row may go.
    pub condition: &'static str,
    /// Which of the horizon's times `:t` is.
    pub horizon: fn(&PurgeHorizon) -> u64,
}

fn now(h: &PurgeHorizon) -> u64 {
    h.now
}

fn ended_before(h: &PurgeHorizon) -> u64 {
    h.ended_before
}

fn trusted_since(h: &PurgeHorizon) -> u64 {
    h.trusted_since
}

/// The spec of `kind`.
pub fn spec(kind: Expiring) -> PurgeSpec {
    let (table, key, condition, horizon): (_, _, _, fn(&PurgeHorizon) -> u64) = match kind {
        // A session past its expiry is refused whatever its row says; an
        // ended one is in the revocation log, which outlives it as needed.
        Expiring::RefreshSessions => ("refresh_tokens", "token_hash", "expires_at <= :t", now),
        Expiring::DpopBindings => (
            "dpop_sessions",
            "family_id",
            "NOT EXISTS (SELECT 1 FROM refresh_tokens r
                 WHERE r.family_id = dpop_sessions.family_id
                   AND r.expires_at > :t AND r.revoked_at IS NULL)",
            now,
        ),
        Expiring::RevokedTokens => ("revoked_tokens", "jti", "expires_at <= :t", now),
        // Tokens expire at their `exp`; sessions and cut-offs cover access
        // tokens issued before `at`, all expired by `ended_before`.
        Expiring::RevocationLog => (
            "revocation_log",
            "position",
            "(kind = 'token' AND at <= :now) OR (kind <> 'token' AND at <= :t)",
            ended_before,
        ),
        Expiring::Cutoffs => (
            "token_cutoffs",
            "(kind, id)",
            "issued_before <= :t",
            ended_before,
        ),
        Expiring::Grants => (
            "grants",
            "family_id",
            "expires_at <= :t AND NOT EXISTS
                 (SELECT 1 FROM refresh_tokens r WHERE r.family_id = grants.family_id)",
            now,
        ),
        Expiring::BrowserSessions => (
            "browser_sessions",
            "id",
            "expires_at <= :t OR ended_at IS NOT NULL",
            now,
        ),
        Expiring::AccountTokens => ("account_tokens", "token_hash", "expires_at <= :t", now),
        Expiring::ThrottleSlots => ("throttle_slots", "slot", "ends_at <= :t", now),
        Expiring::TrustedSignIns => ("trusted_sign_ins", "key", "last_at < :t", trusted_since),
    };
    PurgeSpec {
        table,
        key,
        condition,
        horizon,
    }
}

impl PurgeSpec {
    /// The bounded delete, with `t`, `now` and `limit` as the dialect
    /// writes parameters 1, 2 and 3; `lock` is appended to the inner
    /// select (PostgreSQL skips rows another purge holds). Returns the
    /// deleted rows' `key`, so the log can record how far it purged.
    pub fn delete_sql(&self, params: [&str; 3], lock: &str) -> String {
        let [t, now, limit] = params;
        let condition = self.condition.replace(":now", now).replace(":t", t);
        format!(
            "DELETE FROM {table} WHERE {key} IN
               (SELECT {columns} FROM {table} WHERE {condition} LIMIT {limit}{lock})
             RETURNING {returning}",
            table = self.table,
            key = self.key,
            columns = self.key.trim_start_matches('(').trim_end_matches(')'),
            returning = if self.table == "revocation_log" {
                "position"
            } else {
                "0"
            },
        )
    }

    /// Whether the condition reads `:now` besides `:t`.
    pub fn uses_now(&self) -> bool {
        self.condition.contains(":now")
    }

    /// Counts the table's rows, expired or not.
    pub fn count_sql(&self) -> String {
        format!("SELECT count(*) FROM {}", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_bounded_delete_with_its_placeholders() {
        for kind in Expiring::ALL {
            let sql = spec(kind).delete_sql(["?1", "?2", "?3"], "");
            assert!(sql.contains("LIMIT ?3"), "{kind:?}: {sql}");
            assert!(
                !sql.contains(":t") && !sql.contains(":now"),
                "{kind:?}: {sql}"
            );
        }
        let log = spec(Expiring::RevocationLog).delete_sql(["$1", "$2", "$3"], " FOR UPDATE");
        assert!(
            log.contains("at <= $2")
                && log.contains("at <= $1")
                && log.contains("RETURNING position")
        );
    }
}
