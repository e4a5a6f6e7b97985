//! The one way this crate talks to the IdP: a bounded GET.
//!
//! Every fetch (discovery, JWKS, revocation feed) goes through [`get`], which
//! enforces a whole-request timeout and a body size limit, so a hanging or
//! hostile server costs at most that much time and memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::StatusCode;
use reqwest::Url;

use crate::error::Error;

/// The longest fetch timeout a builder takes (configured durations are
/// capped, so that no clock arithmetic can overflow), and the client
/// timeout of [`https_client_trusting`], whose callers bound each fetch.
pub(crate) const LONGEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// A successful (or not-modified) response.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Bytes,
    pub(crate) cache_control: Option<String>,
    pub(crate) etag: Option<String>,
    /// `304 Not Modified` in answer to `If-None-Match`.
    pub(crate) not_modified: bool,
}

/// The HTTP client used when none is supplied: rustls on aws-lc-rs (the
/// library that verifies the tokens) with the Mozilla roots of
/// `webpki-roots`, TLS 1.2 and 1.3, a connect timeout, at most three
/// redirects and only within the origin (see [`same_origin_redirects`]).
pub(crate) fn default_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    client(timeout, Vec::new())
}

/// The client [`JwksCache`](crate::JwksCache) and
/// [`RevocationPoller`](crate::RevocationPoller) build by default, trusting
/// the certificates of the PEM bundle `pem` too: for an issuer whose
/// certificate a private CA signed. Hand it to their builders'
/// `http_client`; their fetch timeouts bound each fetch (the client itself
/// gives up on a connection after 5 s). Fails when the bundle holds no
/// certificate or one that does not parse.
pub fn https_client_trusting(pem: &[u8]) -> Result<reqwest::Client, Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;

    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(untrusted)?;
    if certificates.is_empty() {
        return Err(untrusted("no PEM certificate found"));
    }
    client(LONGEST_TIMEOUT, certificates)
}

/// A PEM bundle given to trust that cannot be.
fn untrusted(reason: impl std::fmt::Display) -> Error {
    Error::HttpClient(format!("trusted certificates: {reason}"))
}

fn client(
    timeout: Duration,
    trusted: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<reqwest::Client, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for certificate in trusted {
        roots.add(certificate).map_err(untrusted)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::HttpClient(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(same_origin_redirects())
        .user_agent(concat!("resource-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::HttpClient(e.to_string()))
}

/// Follows at most three redirects, each to the same scheme, host and port
/// as the URL first asked for. The JWKS and the revocation list are
/// trusted for where they are fetched from: a redirect elsewhere (an open
/// redirect on the IdP's host, an https page sent to http) would let
/// another server choose the keys.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if attempt.previous().len() > 3 {
            attempt.error("more than 3 redirects")
        } else if same_origin {
            attempt.follow()
        } else {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(format!("redirect to another origin ({to}) refused"))
        }
    })
}

/// An error and its causes, outermost first: reqwest's own message ("error
/// sending request") says nothing of a refused certificate or a refused
/// connection; its sources do.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Parses a configured URL; only `http` and `https` are accepted.
pub(crate) fn parse_url(url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url).map_err(|e| Error::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: "only http and https are supported".into(),
        });
    }
    Ok(parsed)
}

/// GET `url` within `timeout`, reading at most `limit` bytes of body.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
    limit: usize,
    if_none_match: Option<&str>,
) -> Result<Fetched, Error> {
    match tokio::time::timeout(timeout, get_inner(client, url, limit, if_none_match)).await {
        Ok(result) => result,
        Err(elapsed) => Err(Error::Fetch {
            url: url.to_string(),
            reason: format!("timed out after {timeout:?}"),
            source: Some(Box::new(elapsed)),
        }),
    }
}

async fn get_inner(
    client: &reqwest::Client,
    url: &Url,
    limit: usize,
    if_none_match: Option<&str>,
) -> Result<Fetched, Error> {
    let fetch_error = |e: reqwest::Error| {
        let e = e.without_url();
        Error::Fetch {
            url: url.to_string(),
            reason: with_causes(&e),
            source: Some(Box::new(e)),
        }
    };
    let mut request = client.get(url.clone()).header(ACCEPT, "application/json");
    if let Some(etag) = if_none_match {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await.map_err(fetch_error)?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cache_control = header(CACHE_CONTROL);
    let etag = header(ETAG);
    if response.status() == StatusCode::NOT_MODIFIED && if_none_match.is_some() {
        return Ok(Fetched {
            body: Bytes::new(),
            cache_control,
            etag,
            not_modified: true,
        });
    }
    if !response.status().is_success() {
        return Err(Error::Status {
            url: url.to_string(),
            status: response.status().as_u16(),
        });
    }
    let too_large = || Error::TooLarge {
        url: url.to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        body: body.freeze(),
        cache_control,
        etag,
        not_modified: false,
    })
}
