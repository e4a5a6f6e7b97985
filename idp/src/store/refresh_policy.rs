//! What presenting a refresh token means, decided once for every backend.
//!
//! A login opens a family. Each use of a refresh token marks it used and
//! issues its successor in the same family; presenting a used token again
//! means it was stolen or replayed, so the whole family is revoked. A token
//! presented by another client than its own is left as it is, so nobody can
//! burn (and so revoke) a session that is not theirs.
//!
//! The backends only read the token's row under a write lock and carry out
//! the [`Decision`]; the rules live here.

use super::rows::{RefreshOutcome, RefreshRow};

/// A refresh token as presented to the token endpoint, with the successor
/// to store if it is good.
#[derive(Clone)]
pub struct PresentedRefresh {
    /// SHA-256 of the presented token.
    pub token_hash: Vec<u8>,
    /// The client presenting it.
    pub client_id: String,
    /// SHA-256 of the successor token.
    pub successor_hash: Vec<u8>,
    /// Unix seconds.
    pub now: u64,
    /// When the successor expires, Unix seconds.
    pub successor_expires_at: u64,
}

/// Digests only; still nothing worth printing.
impl std::fmt::Debug for PresentedRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedRefresh")
            .field("client_id", &self.client_id)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a token's row says.
#[derive(Debug)]
pub struct Found {
    /// The session it belongs to.
    pub row: RefreshRow,
    /// When it was used, if it was.
    pub used_at: Option<u64>,
    /// When its family was revoked, if it was.
    pub revoked_at: Option<u64>,
}

/// What to do with a presented token.
#[derive(Debug)]
pub enum Decision {
    /// Answer with this outcome and change nothing.
    Answer(RefreshOutcome),
    /// A used token came back: revoke its family.
    RevokeFamily(String),
    /// Good: mark it used and store this successor.
    Rotate(RefreshRow),
}

/// The decision for `presented`, given its row (if any).
pub fn decide(found: Option<Found>, presented: &PresentedRefresh) -> Decision {
    let Some(found) = found else {
        return Decision::Answer(RefreshOutcome::Invalid);
    };
    if found.row.client_id != presented.client_id {
        return Decision::Answer(RefreshOutcome::WrongClient);
    }
    match (found.used_at, found.revoked_at) {
        (_, Some(_)) => Decision::Answer(RefreshOutcome::Invalid),
        (Some(_), None) => Decision::RevokeFamily(found.row.family_id),
        (None, None) if found.row.expires_at <= presented.now => {
            Decision::Answer(RefreshOutcome::Invalid)
        }
        (None, None) => Decision::Rotate(RefreshRow {
            expires_at: presented.successor_expires_at,
            ..found.row
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(client: &str, now: u64) -> PresentedRefresh {
        PresentedRefresh {
            token_hash: vec![1],
            client_id: client.into(),
            successor_hash: vec![2],
            now,
            successor_expires_at: now + 100,
        }
    }

    fn found(used_at: Option<u64>, revoked_at: Option<u64>, expires_at: u64) -> Found {
        Found {
            row: RefreshRow {
                family_id: "f".into(),
                user_id: "u".into(),
                client_id: "web".into(),
                scope: "profile".into(),
                expires_at,
                amr: "pwd otp".into(),
            },
            used_at,
            revoked_at,
        }
    }

    #[test]
    fn a_fresh_token_rotates_with_the_new_expiry() {
        match decide(Some(found(None, None, 50)), &presented("web", 10)) {
            Decision::Rotate(row) => {
                assert_eq!((row.family_id.as_str(), row.expires_at), ("f", 110))
            }
            other => panic!("expected a rotation, got {other:?}"),
        }
    }

    #[test]
    fn reuse_revokes_the_family_and_other_clients_touch_nothing() {
        assert!(matches!(
            decide(Some(found(Some(5), None, 50)), &presented("web", 10)),
            Decision::RevokeFamily(f) if f == "f"
        ));
        assert!(matches!(
            decide(Some(found(Some(5), None, 50)), &presented("other", 10)),
            Decision::Answer(RefreshOutcome::WrongClient)
        ));
    }

    #[test]
    fn unknown_expired_and_revoked_tokens_are_invalid() {
        for (row, now) in [
            (None, 10),
            (Some(found(None, None, 10)), 10),
            (Some(found(None, Some(3), 50)), 10),
            (Some(found(Some(2), Some(3), 50)), 10),
        ] {
            assert!(matches!(
                decide(row, &presented("web", now)),
                Decision::Answer(RefreshOutcome::Invalid)
            ));
        }
    }
}
