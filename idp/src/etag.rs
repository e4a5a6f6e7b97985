//! Strong ETags for bodies the IdP serializes once and serves many times
//! (`/jwks`, `/revocations`), so that pollers revalidate for a 304.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A strong ETag for a response body: 128 bits of its SHA-256, quoted.
pub fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bodies_share_a_tag_and_different_ones_do_not() {
        let tag = strong_etag(b"{\"keys\":[]}");
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_eq!(tag, strong_etag(b"{\"keys\":[]}"));
        assert_ne!(tag, strong_etag(b"{\"keys\":[1]}"));
    }
}
