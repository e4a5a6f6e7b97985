//! Strong ETags for bodies the IdP serializes once and serves many times
//! (`/jwks`, `/revocations`), so that pollers revalidate for a 304.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// A strong ETag for a response body: 128 bits of its SHA-256, quoted, as
/// the header value every answer sends (built once per body).
pub fn strong_etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let tag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    // Quotes around base64url are visible ASCII: always a valid value.
    HeaderValue::try_from(tag).expect("a quoted base64url tag is a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bodies_share_a_tag_and_different_ones_do_not() {
        let tag = strong_etag(b"{\"keys\":[]}");
        let text = tag.to_str().expect("ASCII");
        assert!(text.starts_with('"') && text.ends_with('"'));
        assert_eq!(
            text.len(),
            24,
            "22 characters of base64url for 128 bits, quoted"
        );
        assert_eq!(tag, strong_etag(b"{\"keys\":[]}"));
        assert_ne!(tag, strong_etag(b"{\"keys\":[1]}"));
    }
}
