//! DPoP at the IdP (RFC 9449): binding the tokens it issues to a client's
//! key, and checking the proofs that come with them.
//!
//! A client that sends a `DPoP` proof with a token request (`/token`,
//! `/login`) gets an access token bound to the proof's key: `cnf.jkt` is
//! the key's RFC 7638 thumbprint and the answer says `token_type: DPoP`.
//! Refresh tokens of public sessions (the IdP's own login sessions, which
//! refresh without client credentials) are bound too (RFC 9449 §5): the
//! session remembers the thumbprint, and a refresh is accepted only with a
//! proof made with that key, whose access token is bound to it again.
//! Refresh tokens of confidential clients stay unbound: the client's secret
//! already sender-constrains them, and each access token they mint is bound
//! to whatever key that request's proof shows.
//!
//! Proofs are verified by the resource-server crate's verifier, the one the
//! IdP's own bearer endpoints use, with one replay cache per process: a
//! proof's `htu` must be the endpoint under the issuer URL, `htm` `POST`,
//! its `iat` within five minutes. Several instances behind one issuer do
//! not share replay caches; a replayed proof reaching another instance
//! within its five minutes yields a token bound to the same key, which
//! only the key's holder can use.

use resource_server::dpop::{DpopVerifier, ProofRequest};

use crate::error::Error;

/// The thumbprint of the key `proof` (the request's `DPoP` header, if any)
/// was made with, for a `POST` to `endpoint` (a path such as `/token`)
/// under `issuer`, at `now`; `None` without a proof.
pub fn proof_key(
    verifier: &DpopVerifier,
    issuer: &str,
    endpoint: &str,
    proof: Option<&str>,
    now: u64,
) -> Result<Option<String>, Error> {
    let Some(proof) = proof else {
        return Ok(None);
    };
    let url = format!("{}{endpoint}", issuer.trim_end_matches('/'));
    let request = ProofRequest {
        method: "POST",
        url: &url,
        any_scheme: false,
        access_token: None,
        jkt: None,
    };
    Ok(Some(verifier.verify(proof, &request, now)?.jkt))
}

/// The key a refresh's new tokens are bound to, or why the refresh is
/// refused: a bound session needs a proof by its key; an unbound one binds
/// the access token to the proof's key, if any.
pub fn refresh_binding(
    bound: Option<&str>,
    proof_jkt: Option<&str>,
) -> Result<Option<String>, Error> {
    match (bound, proof_jkt) {
        (Some(bound), Some(jkt)) if bound == jkt => Ok(Some(jkt.to_owned())),
        (Some(_), Some(_)) => Err(Error::InvalidDpopProof(
            "the DPoP proof's key is not the one this refresh token is bound to".into(),
        )),
        (Some(_), None) => Err(Error::InvalidDpopProof(
            "this refresh token is bound to a DPoP key: send a DPoP proof made with it".into(),
        )),
        (None, jkt) => Ok(jkt.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_sessions_need_their_key() {
        assert_eq!(refresh_binding(None, None).expect("unbound"), None);
        assert_eq!(
            refresh_binding(None, Some("k")).expect("newly bound"),
            Some("k".into())
        );
        assert_eq!(
            refresh_binding(Some("k"), Some("k")).expect("same key"),
            Some("k".into())
        );
        for (bound, proof) in [(Some("k"), None), (Some("k"), Some("other"))] {
            let error = refresh_binding(bound, proof).expect_err("refused");
            assert_eq!(error.code(), "invalid_dpop_proof");
        }
    }

    #[test]
    fn proofs_are_checked_for_the_endpoint() {
        let verifier = DpopVerifier::default();
        assert_eq!(
            proof_key(&verifier, "https://idp", "/token", None, 1).expect("no proof"),
            None
        );
        let error =
            proof_key(&verifier, "https://idp", "/token", Some("x.y.z"), 1).expect_err("garbage");
        assert_eq!(error.code(), "invalid_dpop_proof");
    }
}
