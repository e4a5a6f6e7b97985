//! What presenting a refresh token means, decided once for every backend.
//!
//! A login opens a family, which keeps one row whatever it does: the
//! digest of its current token and that token's generation. Each use of
//! the current token replaces them with its successor's (the next
//! generation). A token of an earlier generation coming back means it was
//! stolen or replayed, so the whole family is revoked. Earlier generations
//! are not stored: a token carries its family and generation with a MAC
//! the IdP checks before the store is asked (see `refresh_token.rs`), so a
//! presented earlier generation is proven genuine, and a forged one never
//! reaches this. A token presented by another client than its own is left
//! as it is, so nobody can burn (and so revoke) a session that is not
//! theirs.
//!
//! Tokens issued before families kept one row carry no generation: they
//! are found by digest, the current one (`token_hash`) or, once rotated,
//! the last one (`legacy_hash`), which counts as reuse.
//!
//! The backends only read the family's row under a write lock and carry
//! out the [`Decision`]; the rules live here.

use super::rows::{RefreshOutcome, RefreshRow};

/// The family and generation a presented token claims, its MAC already
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedGeneration {
    /// The family (login session).
    pub family_id: String,
    /// The generation of the presented token.
    pub generation: u64,
}

/// A refresh token as presented to the token endpoint, with the successor
/// to store if it is good.
#[derive(Clone)]
pub struct PresentedRefresh {
    /// SHA-256 of the presented token's secret part (of the whole token for
    /// one without a generation).
    pub token_hash: Vec<u8>,
    /// Its family and generation; `None` for a token issued before tokens
    /// carried them.
    pub claimed: Option<ClaimedGeneration>,
    /// The client presenting it.
    pub client_id: String,
    /// SHA-256 of the successor token's secret part.
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
            .field("claimed", &self.claimed)
            .field("client_id", &self.client_id)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a family's row says.
#[derive(Debug)]
pub struct Found {
    /// The session, with its current generation.
    pub row: RefreshRow,
    /// Digest of the current token.
    pub token_hash: Vec<u8>,
    /// Digest of the last token without a generation, once rotated.
    pub legacy_hash: Option<Vec<u8>>,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<u64>,
}

/// What to do with a presented token.
#[derive(Debug)]
pub enum Decision {
    /// Answer with this outcome and change nothing.
    Answer(RefreshOutcome),
    /// An earlier token came back: revoke its family.
    RevokeFamily(String),
    /// Good: replace the family's row with this successor (whose
    /// `generation` is the next one).
    Rotate(RefreshRow),
}

/// The decision for `presented`, given its family's row (if any).
pub fn decide(found: Option<Found>, presented: &PresentedRefresh) -> Decision {
    let Some(found) = found else {
        return Decision::Answer(RefreshOutcome::Invalid);
    };
    let same_hash = found.token_hash == presented.token_hash;
    let (current, earlier) = match &presented.claimed {
        Some(claimed) => (
            same_hash && claimed.generation == found.row.generation,
            claimed.generation < found.row.generation,
        ),
        None => (
            same_hash,
            found.legacy_hash.as_deref() == Some(presented.token_hash.as_slice()),
        ),
    };
    if !current && !earlier {
        return Decision::Answer(RefreshOutcome::Invalid);
    }
    if found.row.client_id != presented.client_id {
        return Decision::Answer(RefreshOutcome::WrongClient);
    }
    if found.revoked_at.is_some() {
        return Decision::Answer(RefreshOutcome::Invalid);
    }
    if earlier {
        return Decision::RevokeFamily(found.row.family_id);
    }
    if found.row.expires_at <= presented.now {
        return Decision::Answer(RefreshOutcome::Invalid);
    }
    Decision::Rotate(RefreshRow {
        expires_at: presented.successor_expires_at,
        generation: found.row.generation.saturating_add(1),
        ..found.row
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(client: &str, now: u64, claimed: Option<u64>) -> PresentedRefresh {
        PresentedRefresh {
            token_hash: vec![1],
            claimed: claimed.map(|generation| ClaimedGeneration {
                family_id: "f".into(),
                generation,
            }),
            client_id: client.into(),
            successor_hash: vec![2],
            now,
            successor_expires_at: now + 100,
        }
    }

    fn found(generation: u64, hash: u8, revoked_at: Option<u64>, expires_at: u64) -> Found {
        Found {
            row: RefreshRow {
                family_id: "f".into(),
                user_id: "u".into(),
                client_id: "web".into(),
                scope: "profile".into(),
                expires_at,
                amr: "pwd otp".into(),
                generation,
            },
            token_hash: vec![hash],
            legacy_hash: None,
            revoked_at,
        }
    }

    #[test]
    fn the_current_token_rotates_to_the_next_generation_with_the_new_expiry() {
        for claimed in [Some(3), None] {
            match decide(Some(found(3, 1, None, 50)), &presented("web", 10, claimed)) {
                Decision::Rotate(row) => assert_eq!(
                    (row.family_id.as_str(), row.expires_at, row.generation),
                    ("f", 110, 4)
                ),
                other => panic!("expected a rotation, got {other:?}"),
            }
        }
    }

    #[test]
    fn any_earlier_generation_revokes_the_family_and_other_clients_touch_nothing() {
        for generation in [0, 1, 6] {
            assert!(matches!(
                decide(Some(found(7, 9, None, 50)), &presented("web", 10, Some(generation))),
                Decision::RevokeFamily(f) if f == "f"
            ));
        }
        assert!(matches!(
            decide(
                Some(found(7, 9, None, 50)),
                &presented("other", 10, Some(2))
            ),
            Decision::Answer(RefreshOutcome::WrongClient)
        ));
    }

    #[test]
    fn a_token_without_generation_is_reuse_once_its_family_rotated_past_it() {
        let mut rotated = found(1, 9, None, 50);
        rotated.legacy_hash = Some(vec![1]);
        assert!(matches!(
            decide(Some(rotated), &presented("web", 10, None)),
            Decision::RevokeFamily(_)
        ));
    }

    #[test]
    fn unknown_expired_revoked_and_later_tokens_are_invalid() {
        for (row, now, claimed) in [
            (None, 10, Some(0)),
            (Some(found(0, 1, None, 10)), 10, Some(0)),
            (Some(found(0, 1, Some(3), 50)), 10, Some(0)),
            (Some(found(2, 1, Some(3), 50)), 10, Some(1)),
            (Some(found(2, 1, None, 50)), 10, Some(3)),
            (Some(found(2, 9, None, 50)), 10, Some(2)),
            (Some(found(2, 9, None, 50)), 10, None),
        ] {
            assert!(matches!(
                decide(row, &presented("web", now, claimed)),
                Decision::Answer(RefreshOutcome::Invalid)
            ));
        }
    }
}
