//! DPoP proof verification (RFC 9449 §4.3), for resource servers and for
//! the IdP's token endpoint alike.
//!
//! A DPoP proof is a JWT the client signs with a private key of its own for
//! every request: header `typ` `dpop+jwt`, an asymmetric `alg` and the
//! public `jwk`; claims `jti` (unique), `htm` and `htu` (this request's
//! method and URL), `iat`, and with an access token `ath` (its SHA-256).
//! An access token bound to the key carries the key's RFC 7638 thumbprint
//! in `cnf.jkt`, so a stolen token is useless without the private key.
//!
//! [`DpopVerifier::verify`] checks, in this order: size and shape; `typ`,
//! `alg` (one this verifier allows; never `none` nor HMAC) and a public
//! `jwk` whose type fits `alg`; the signature with that `jwk`; the claims:
//! `htm` exactly, `htu` ignoring query and fragment (RFC 3986 normalized:
//! scheme and host case, default port), `iat` within the window (older than
//! [`DEFAULT_MAX_AGE`] is stale, more than the leeway ahead is refused),
//! `ath` when a token is presented, the server's nonce when nonces are
//! required, the thumbprint against the token's `cnf.jkt`; and last, that
//! the `jti` was never accepted before (a bounded replay cache, see
//! `replay.rs`). Only a proof that passed everything else is remembered, so
//! forged proofs cannot fill the cache.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::alg::Algorithms;
use crate::error::AuthError;
use crate::jose;
use crate::keyset::VerifyingKey;
use crate::nonce::Nonces;
use crate::replay::{Refused, ReplayCache};

/// Proofs issued longer ago than this are stale (RFC 9449 §11.1).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// How far in the future a proof's `iat` may be (clock skew).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Proofs remembered for replay detection, at most.
pub const DEFAULT_REPLAY_CAPACITY: usize = 20_000;
/// The largest proof read.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 512;

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, compared exactly with `htm`.
    pub method: &'a str,
    /// The request's URL without query; `htu` must name the same resource.
    pub url: &'a str,
    /// Whether `http` and `https` count as the same scheme: for a server
    /// that does not know the URL clients see (behind a TLS proxy, with no
    /// public URL configured), the host and path still have to match.
    pub any_scheme: bool,
    /// The access token the proof comes with; `ath` must be its hash.
    pub access_token: Option<&'a str>,
    /// The thumbprint the token is bound to (`cnf.jkt`), if any.
    pub jkt: Option<&'a str>,
}

/// What a verified proof says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key: the `jkt` to
    /// bind tokens to.
    pub jkt: String,
    /// When the client made the proof, Unix seconds.
    pub iat: u64,
}

/// The claims of a proof, as read.
#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    /// A NumericDate, fractions allowed (RFC 7519 §2), read to the second.
    #[serde(default, deserialize_with = "crate::claims::numeric_date")]
    iat: Option<u64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Verifies DPoP proofs; cheap to clone (clones share the replay cache).
///
/// ```
/// use resource_server::dpop::{DpopVerifier, ProofRequest};
///
/// let verifier = DpopVerifier::builder().build();
/// let request = ProofRequest {
///     method: "POST",
///     url: "https://idp.example.com/token",
///     any_scheme: false,
///     access_token: None,
///     jkt: None,
/// };
/// // A header value that is no proof at all:
/// assert!(verifier.verify("not-a-proof", &request, 1_900_000_000).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct DpopVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    algorithms: Algorithms,
    max_age: u64,
    leeway: u64,
    replay: ReplayCache,
    nonces: Option<Nonces>,
}

impl Default for DpopVerifier {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl DpopVerifier {
    /// Configure a verifier.
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder {
            algorithms: Algorithms::DPOP,
            max_age: DEFAULT_MAX_AGE,
            leeway: DEFAULT_LEEWAY,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            nonces: None,
        }
    }

    /// The algorithms proofs may use.
    pub fn algorithms(&self) -> Algorithms {
        self.inner.algorithms
    }

    /// A fresh nonce for a `DPoP-Nonce` header, when nonces are required.
    pub fn nonce(&self, now: u64) -> Option<String> {
        self.inner.nonces.as_ref().map(|n| n.issue(now))
    }

    /// Verifies `proof` (the `DPoP` header's value) for `request` at `now`
    /// (Unix seconds); see the module docs for what is checked.
    pub fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        now: u64,
    ) -> Result<VerifiedProof, AuthError> {
        const MALFORMED: AuthError = AuthError::InvalidDpopProof("the DPoP proof is malformed");
        let inner = &*self.inner;
        if proof.len() > MAX_PROOF_BYTES {
            return Err(AuthError::InvalidDpopProof("the DPoP proof is too large"));
        }
        let parts = jose::split(proof).ok_or(MALFORMED)?;
        let header_json = jose::decode(parts.header).ok_or(MALFORMED)?;
        let header = jose::header(&header_json).ok_or(MALFORMED)?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| jose::media_type_is(typ, "dpop+jwt"))
        {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof's typ is not dpop+jwt",
            ));
        }
        let alg = header
            .algorithm()
            .filter(|alg| inner.algorithms.contains(*alg))
            .ok_or(AuthError::InvalidDpopProof(
                "the DPoP proof's algorithm is not accepted",
            ))?;
        if header.crit {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof has critical header parameters that are not understood",
            ));
        }
        let jwk = header
            .jwk
            .as_deref()
            .ok_or(AuthError::InvalidDpopProof("the DPoP proof carries no jwk"))?;
        if jwk.private {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof's jwk holds a private key",
            ));
        }
        let key = VerifyingKey::from_public_jwk(jwk, "")
            .map_err(|_| AuthError::InvalidDpopProof("the DPoP proof's jwk is not usable"))?;
        if !key.allows(alg) {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof's algorithm does not fit its key",
            ));
        }
        let signature = jose::decode(parts.signature).ok_or(MALFORMED)?;
        if !key.verify(alg, parts.signing_input.as_bytes(), &signature) {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof's signature is invalid",
            ));
        }

        let payload = jose::decode(parts.payload).ok_or(MALFORMED)?;
        let claims: ProofClaims = jose::object(&payload).ok_or(MALFORMED)?;
        let (Some(jti), Some(htm), Some(htu), Some(iat)) =
            (claims.jti, claims.htm, claims.htu, claims.iat)
        else {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof lacks jti, htm, htu or iat",
            ));
        };
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(MALFORMED);
        }
        if htm != request.method {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof is for another HTTP method",
            ));
        }
        if !same_resource(&htu, request.url, request.any_scheme) {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof is for another URL",
            ));
        }
        if iat.saturating_add(inner.max_age) < now {
            return Err(AuthError::InvalidDpopProof("the DPoP proof is stale"));
        }
        if iat > now.saturating_add(inner.leeway) {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof is issued in the future",
            ));
        }
        if let Some(token) = request.access_token {
            let Some(ath) = claims.ath else {
                return Err(AuthError::InvalidDpopProof(
                    "the DPoP proof lacks ath, the access token's hash",
                ));
            };
            if ath != access_token_hash(token) {
                return Err(AuthError::InvalidDpopProof(
                    "the DPoP proof's ath does not match the access token",
                ));
            }
        }
        if let Some(nonces) = &inner.nonces {
            if !claims.nonce.is_some_and(|nonce| nonces.check(&nonce, now)) {
                return Err(AuthError::UseDpopNonce {
                    nonce: nonces.issue(now),
                });
            }
        }
        let jkt = jwk.thumbprint().ok_or(AuthError::InvalidDpopProof(
            "the DPoP proof's jwk is not usable",
        ))?;
        if request.jkt.is_some_and(|bound| bound != jkt) {
            return Err(AuthError::InvalidDpopProof(
                "the DPoP proof's key is not the one the token is bound to",
            ));
        }
        let expires = iat.saturating_add(inner.max_age).max(now) + inner.leeway;
        inner
            .replay
            .accept(&jkt, &jti, iat, expires, now)
            .map_err(|refused| match refused {
                Refused::Replayed => AuthError::InvalidDpopProof("the DPoP proof was used before"),
                Refused::Evicted => AuthError::InvalidDpopProof(
                    "the DPoP proof is too old for the server's replay window",
                ),
            })?;
        Ok(VerifiedProof { jkt, iat })
    }
}

/// Configures a [`DpopVerifier`].
#[derive(Debug)]
#[must_use = "call .build() to get the verifier"]
pub struct DpopVerifierBuilder {
    algorithms: Algorithms,
    max_age: Duration,
    leeway: Duration,
    replay_capacity: usize,
    nonces: Option<Nonces>,
}

impl DpopVerifierBuilder {
    /// The algorithms proofs may use (default [`Algorithms::DPOP`]: RS256,
    /// PS256, ES256 and EdDSA; [`Algorithms::ALL`] adds the SHA-384 and
    /// SHA-512 RSA variants and ES384).
    pub fn algorithms(mut self, algorithms: impl Into<Algorithms>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    /// How old a proof may be (default [`DEFAULT_MAX_AGE`], five minutes).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead a proof's `iat` may be (default [`DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How many proofs the replay cache remembers at most (default
    /// [`DEFAULT_REPLAY_CAPACITY`]); see `replay.rs` for what happens when
    /// it is full.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Require server-provided nonces (RFC 9449 §9), each good for one to
    /// two `period`s, under a key made now: a proof without a current nonce
    /// is answered `401 use_dpop_nonce` with one in `DPoP-Nonce`.
    pub fn require_nonce(mut self, period: Duration) -> Self {
        self.nonces = Some(Nonces::random(period.as_secs()));
        self
    }

    /// [`require_nonce`](Self::require_nonce) with a key shared by several
    /// instances, so that each accepts the others' nonces.
    pub fn require_nonce_with_key(mut self, period: Duration, key: &[u8]) -> Self {
        self.nonces = Some(Nonces::with_key(key, period.as_secs()));
        self
    }

    /// The verifier.
    pub fn build(self) -> DpopVerifier {
        DpopVerifier {
            inner: Arc::new(Inner {
                algorithms: self.algorithms,
                max_age: self.max_age.as_secs(),
                leeway: self.leeway.as_secs(),
                replay: ReplayCache::new(self.replay_capacity),
                nonces: self.nonces,
            }),
        }
    }
}

/// `ath`: base64url of the SHA-256 of the access token (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Whether `htu` and `expected` name the same resource, ignoring query and
/// fragment (RFC 9449 §4.3), after RFC 3986 normalization.
fn same_resource(htu: &str, expected: &str, any_scheme: bool) -> bool {
    let (Ok(htu), Ok(expected)) = (Url::parse(htu), Url::parse(expected)) else {
        return false;
    };
    let web = |url: &Url| matches!(url.scheme(), "http" | "https");
    if !web(&htu) || !web(&expected) {
        return false;
    }
    let scheme_ok = any_scheme || htu.scheme() == expected.scheme();
    let port = |url: &Url| {
        if any_scheme {
            url.port()
        } else {
            url.port_or_known_default()
        }
    };
    scheme_ok
        && htu.host_str() == expected.host_str()
        && port(&htu) == port(&expected)
        && htu.path() == expected.path()
        && htu.username().is_empty()
        && htu.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_comparison() {
        let same = |a, b| same_resource(a, b, false);
        assert!(same("https://api.example/x", "https://api.example/x"));
        assert!(same(
            "https://API.example:443/x?q=1#f",
            "https://api.example/x"
        ));
        assert!(same("HTTPS://api.example/x", "https://api.example/x"));
        assert!(!same("https://api.example/x/", "https://api.example/x"));
        assert!(!same("https://api.example/y", "https://api.example/x"));
        assert!(!same("http://api.example/x", "https://api.example/x"));
        assert!(!same("https://api.example:8443/x", "https://api.example/x"));
        assert!(!same("https://other.example/x", "https://api.example/x"));
        assert!(!same("https://u:p@api.example/x", "https://api.example/x"));
        assert!(!same("/x", "https://api.example/x"));
        assert!(!same("ftp://api.example/x", "ftp://api.example/x"));
        assert!(same_resource(
            "https://api.example:8081/x",
            "http://api.example:8081/x",
            true
        ));
        assert!(!same_resource(
            "https://api.example/x",
            "http://api.example:8081/x",
            true
        ));
    }

    #[test]
    fn ath_is_the_sha256_of_the_token() {
        // RFC 9449 §7.1's example token and ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
