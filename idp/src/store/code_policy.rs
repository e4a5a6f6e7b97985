//! What presenting an authorization code means, decided once for every
//! backend (as `refresh_policy.rs` decides for refresh tokens).
//!
//! A code is good once, within its lifetime, for the client it was issued
//! to, with the redirect URI and PKCE verifier of its request. A code
//! presented again means it leaked: RFC 6749 §4.1.2 says to revoke what it
//! issued, so the whole grant is revoked. A code presented by another
//! client, or with the wrong redirect URI or verifier, is left as it is, so
//! nobody can burn (and so revoke) a grant that is not theirs; and so is
//! one presented naming another API (`resource`) than its authorization
//! request did, so that a client's mistake does not cost it the code.

use subtle::ConstantTimeEq as _;

use super::rows::{CodeOutcome, GrantRow};

/// An authorization code as presented to the token endpoint.
#[derive(Clone)]
pub struct PresentedCode {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The client presenting it.
    pub client_id: String,
    /// The `redirect_uri` parameter.
    pub redirect_uri: String,
    /// The S256 challenge computed from the presented `code_verifier`.
    pub challenge: String,
    /// The API the token request names (`resource`), if any.
    pub resource: Option<String>,
    /// Unix seconds.
    pub now: u64,
}

/// Digests only; still nothing worth printing.
impl std::fmt::Debug for PresentedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCode")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a code's row says.
#[derive(Debug)]
pub struct FoundCode {
    /// The grant.
    pub row: GrantRow,
    /// When the code was redeemed, if it was.
    pub used_at: Option<u64>,
    /// When the grant was revoked, if it was.
    pub revoked_at: Option<u64>,
}

/// What to do with a presented code.
#[derive(Debug)]
pub enum CodeDecision {
    /// Answer with this outcome and change nothing.
    Answer(CodeOutcome),
    /// A used code came back: revoke the grant and its tokens.
    RevokeGrant(String),
    /// Good: mark it used.
    Redeem(Box<GrantRow>),
}

/// The decision for `presented`, given its row (if any).
pub fn decide_code(found: Option<FoundCode>, presented: &PresentedCode) -> CodeDecision {
    let Some(found) = found else {
        return CodeDecision::Answer(CodeOutcome::Invalid);
    };
    if found.row.client_id != presented.client_id {
        return CodeDecision::Answer(CodeOutcome::WrongClient);
    }
    match (found.used_at, found.revoked_at) {
        (_, Some(_)) => CodeDecision::Answer(CodeOutcome::Invalid),
        (Some(_), None) => CodeDecision::RevokeGrant(found.row.family_id),
        (None, None) if found.row.code_expires_at <= presented.now => {
            CodeDecision::Answer(CodeOutcome::Invalid)
        }
        (None, None) if found.row.redirect_uri != presented.redirect_uri => {
            CodeDecision::Answer(CodeOutcome::RedirectMismatch)
        }
        (None, None)
            if !bool::from(
                found
                    .row
                    .code_challenge
                    .as_bytes()
                    .ct_eq(presented.challenge.as_bytes()),
            ) =>
        {
            CodeDecision::Answer(CodeOutcome::VerifierMismatch)
        }
        (None, None)
            if found.row.resource.is_some()
                && presented.resource.is_some()
                && found.row.resource != presented.resource =>
        {
            CodeDecision::Answer(CodeOutcome::ResourceMismatch)
        }
        (None, None) => CodeDecision::Redeem(Box::new(found.row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(client: &str, redirect: &str, challenge: &str, now: u64) -> PresentedCode {
        PresentedCode {
            code_hash: vec![1],
            client_id: client.into(),
            redirect_uri: redirect.into(),
            challenge: challenge.into(),
            resource: None,
            now,
        }
    }

    fn found(used_at: Option<u64>, revoked_at: Option<u64>) -> FoundCode {
        FoundCode {
            row: GrantRow {
                family_id: "g".into(),
                client_id: "web".into(),
                redirect_uri: "https://app.example/cb".into(),
                user_id: "u".into(),
                scope: "openid".into(),
                code_challenge: "chal".into(),
                nonce: None,
                session_id: "s".into(),
                auth_time: 0,
                amr: "pwd".into(),
                created_at: 0,
                code_expires_at: 60,
                expires_at: 1000,
                resource: None,
            },
            used_at,
            revoked_at,
        }
    }

    const CB: &str = "https://app.example/cb";

    #[test]
    fn a_fresh_code_with_its_bindings_is_redeemed() {
        assert!(matches!(
            decide_code(Some(found(None, None)), &presented("web", CB, "chal", 10)),
            CodeDecision::Redeem(row) if row.family_id == "g"
        ));
    }

    #[test]
    fn a_replay_revokes_the_grant_and_strangers_touch_nothing() {
        assert!(matches!(
            decide_code(Some(found(Some(5), None)), &presented("web", CB, "chal", 10)),
            CodeDecision::RevokeGrant(g) if g == "g"
        ));
        assert!(matches!(
            decide_code(
                Some(found(Some(5), None)),
                &presented("evil", CB, "chal", 10)
            ),
            CodeDecision::Answer(CodeOutcome::WrongClient)
        ));
    }

    #[test]
    fn expired_unknown_revoked_and_mismatched_codes_are_refused() {
        let cases = [
            (None, presented("web", CB, "chal", 10), CodeOutcome::Invalid),
            (
                Some(found(None, None)),
                presented("web", CB, "chal", 60),
                CodeOutcome::Invalid,
            ),
            (
                Some(found(Some(1), Some(2))),
                presented("web", CB, "chal", 10),
                CodeOutcome::Invalid,
            ),
            (
                Some(found(None, None)),
                presented("web", "https://app.example/cb/", "chal", 10),
                CodeOutcome::RedirectMismatch,
            ),
            (
                Some(found(None, None)),
                presented("web", CB, "other", 10),
                CodeOutcome::VerifierMismatch,
            ),
        ];
        for (row, p, expected) in cases {
            match decide_code(row, &p) {
                CodeDecision::Answer(outcome) => assert_eq!(outcome, expected),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_code_requested_for_an_api_is_redeemed_for_that_api_alone() {
        const API: &str = "https://api.example.com";
        let for_api = || {
            let mut row = found(None, None);
            row.row.resource = Some(API.into());
            Some(row)
        };
        let naming = |resource: Option<&str>| PresentedCode {
            resource: resource.map(str::to_owned),
            ..presented("web", CB, "chal", 10)
        };
        assert!(matches!(
            decide_code(for_api(), &naming(Some("https://other.example.com"))),
            CodeDecision::Answer(CodeOutcome::ResourceMismatch)
        ));
        for same in [None, Some(API)] {
            assert!(matches!(
                decide_code(for_api(), &naming(same)),
                CodeDecision::Redeem(row) if row.resource.as_deref() == Some(API)
            ));
        }
        // Requested for no API: the token request may name one.
        assert!(matches!(
            decide_code(Some(found(None, None)), &naming(Some(API))),
            CodeDecision::Redeem(_)
        ));
    }
}
