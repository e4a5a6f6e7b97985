//! The command line of the `resource-server` binary, and the settings it
//! implies where a flag is left out (audience, revocation feed, JWKS URL).

/// Command line of the `resource-server` binary; every flag also reads an
/// environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "resource-server",
    version,
    about = "Demo API that validates the IdP's RS256 access tokens locally"
)]
pub struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "RS_BIND", default_value = "127.0.0.1:8081")]
    pub bind: std::net::SocketAddr,
    /// The IdP's issuer URL; tokens must carry exactly this `iss`.
    #[arg(long, env = "RS_ISSUER", default_value = "http://127.0.0.1:8080")]
    pub issuer: String,
    /// JWKS URL [default: discovered from the issuer's
    /// /.well-known/openid-configuration].
    #[arg(long, env = "RS_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Required token audience [default: the issuer URL, the IdP's default
    /// audience].
    #[arg(long, env = "RS_AUDIENCE")]
    pub audience: Option<String>,
    /// PEM file of certificates to trust, besides the Mozilla roots, for
    /// HTTPS to the issuer (discovery, JWKS, revocation feed): for an IdP
    /// whose certificate a private CA signed.
    #[arg(long, env = "RS_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Revocation feed URL [default: {issuer}/revocations]; `off` disables
    /// revocation checks.
    #[arg(long, env = "RS_REVOCATIONS_URL")]
    pub revocations_url: Option<String>,
    /// Seconds between two polls of the revocation feed, at most 3600; `0`
    /// disables it.
    #[arg(long, env = "RS_REVOCATION_POLL", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub revocation_poll: u64,
    /// Fail closed: when the revocation feed has not been fetched
    /// successfully for this many seconds, refuse every token with 503
    /// instead of trusting a list that may be missing revocations. Must
    /// exceed --revocation-poll. Off by default (the last good list is used).
    #[arg(long, env = "RS_REVOCATION_MAX_STALENESS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub revocation_max_staleness: Option<u64>,
    /// Shortest time a fetched JWKS is kept, seconds, whatever max-age the
    /// IdP sends.
    #[arg(long, env = "RS_JWKS_MIN_TTL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub jwks_min_ttl: u64,
    /// Seconds between two refetches caused by tokens with unknown kids.
    #[arg(long, env = "RS_JWKS_REFETCH_COOLDOWN", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub jwks_refetch_cooldown: u64,
    /// Connections held at once; past it a new connection is closed at once.
    /// Lowered to fit under the open-file limit (raised to its hard limit).
    #[arg(long, env = "RS_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Tokens the verified-token cache holds (about 0.6 KiB each); a token
    /// seen again within its lifetime skips the RSA verification. `0`
    /// verifies every request.
    #[arg(long, env = "RS_TOKEN_CACHE", default_value_t = resource_server::DEFAULT_CACHE_CAPACITY, value_parser = parse_cache_capacity)]
    pub token_cache: usize,
    /// Accept only DPoP-bound tokens with valid proofs (RFC 9449) on the
    /// protected routes; bearer tokens are refused.
    #[arg(long, env = "RS_REQUIRE_DPOP")]
    pub require_dpop: bool,
    /// The URL clients reach this API at, e.g. `https://api.example.com`:
    /// DPoP proofs must name it (followed by the path), and challenges
    /// point at the metadata under it [default: DPoP proofs may name any
    /// host the request was sent to; metadata under http://<bound address>].
    #[arg(long, env = "RS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Serve `/metrics` on this address alone (say, a port only the
    /// monitoring network reaches) instead of beside the API.
    #[arg(long, env = "RS_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Log lines as `json` (one object per line) or `text` [default: text
    /// when stderr is a terminal, json otherwise].
    #[arg(long, env = "RS_LOG_FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<serve::LogFormat>,
}

/// `--token-cache`: `0`, or from 2 to 10,000,000 tokens (the cache keeps
/// two generations, so it holds at least two).
fn parse_cache_capacity(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(0) => Ok(0),
        Ok(n) if (2..=10_000_000).contains(&n) => Ok(n),
        _ => Err("expected 0 (no cache) or a number of tokens from 2 to 10000000".into()),
    }
}

/// `--log-format`: `json` or `text`.
fn parse_log_format(value: &str) -> Result<serve::LogFormat, String> {
    value.parse()
}

impl Args {
    fn non_empty(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// The revocation feed to poll, if any.
    pub fn revocation_feed(&self) -> Option<String> {
        if self.revocation_poll == 0 {
            return None;
        }
        match Self::non_empty(&self.revocations_url) {
            Some(off)
                if ["off", "none", "false", "0"].contains(&off.to_ascii_lowercase().as_str()) =>
            {
                None
            }
            Some(url) => Some(url.to_owned()),
            None if self.revocations_url.is_some() => None,
            None => Some(format!("{}/revocations", self.issuer.trim_end_matches('/'))),
        }
    }

    /// The longest the revocation list may go unconfirmed before tokens are
    /// refused, if failing closed was asked for and a feed is polled.
    pub fn revocation_max_staleness(&self) -> Option<std::time::Duration> {
        self.revocation_feed()?;
        self.revocation_max_staleness
            .map(std::time::Duration::from_secs)
    }

    /// Checks what clap cannot: a maximum staleness must leave room for
    /// the poll interval, or every token would be refused between polls.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = self.explicit_public_url() {
            let parsed: axum::http::Uri = url
                .parse()
                .map_err(|e| format!("--public-url {url:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme_str(), Some("https" | "http")) || parsed.host().is_none() {
                return Err(format!(
                    "--public-url {url:?} must be an http(s) URL with a host"
                ));
            }
            // DPoP's `htu` is this URL and a path, compared without query
            // or fragment (RFC 9449 §4.3).
            if parsed.query().is_some() || url.contains('#') {
                return Err(format!(
                    "--public-url {url:?} must not have a query or fragment"
                ));
            }
        }
        match self.revocation_max_staleness {
            Some(max) if self.revocation_feed().is_some() && max <= self.revocation_poll => {
                Err(format!(
                    "--revocation-max-staleness ({max} s) must exceed --revocation-poll ({} s)",
                    self.revocation_poll
                ))
            }
            _ => Ok(()),
        }
    }

    /// The JWKS URL, if one is given rather than discovered.
    pub fn explicit_jwks_url(&self) -> Option<&str> {
        Self::non_empty(&self.jwks_url)
    }

    /// The public URL, if one is given.
    pub fn explicit_public_url(&self) -> Option<&str> {
        Self::non_empty(&self.public_url)
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> String {
        Self::non_empty(&self.audience)
            .unwrap_or(&self.issuer)
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["resource-server", "--issuer", "http://idp:8080/"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("parses")
    }

    #[test]
    fn revocation_feed_defaults_and_switches() {
        assert_eq!(
            args(&[]).revocation_feed().as_deref(),
            Some("http://idp:8080/revocations")
        );
        assert_eq!(args(&["--revocations-url", "off"]).revocation_feed(), None);
        assert_eq!(args(&["--revocations-url", ""]).revocation_feed(), None);
        assert_eq!(args(&["--revocation-poll", "0"]).revocation_feed(), None);
        assert_eq!(
            args(&["--revocations-url", "http://x/r"])
                .revocation_feed()
                .as_deref(),
            Some("http://x/r")
        );
    }

    #[test]
    fn a_public_url_must_be_an_http_url_with_a_host() {
        assert!(args(&["--public-url", "https://api.example.com"])
            .validate()
            .is_ok());
        for bad in [
            "notaurl",
            "api.example.com",
            "ftp://api.example.com",
            "https://api.example.com/?q=1",
            "https://api.example.com/#f",
        ] {
            assert!(args(&["--public-url", bad]).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn bind_and_poll_are_checked_when_read() {
        use clap::Parser;
        for bad in [
            &["--bind", "x"][..],
            &["--bind", ":0"],
            &["--revocation-poll", "3601"],
            &["--revocation-poll", "18446744073709551615"],
        ] {
            let mut argv = vec!["resource-server"];
            argv.extend_from_slice(bad);
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?}");
        }
        assert_eq!(args(&["--bind", "127.0.0.1:0"]).bind.port(), 0);
    }

    #[test]
    fn max_staleness_is_off_by_default_and_must_exceed_the_poll_interval() {
        assert_eq!(args(&[]).revocation_max_staleness(), None);
        let strict = args(&["--revocation-max-staleness", "30"]);
        assert_eq!(
            strict.revocation_max_staleness(),
            Some(std::time::Duration::from_secs(30))
        );
        assert!(strict.validate().is_ok());
        let too_tight = args(&["--revocation-max-staleness", "5", "--revocation-poll", "5"]);
        assert!(too_tight
            .validate()
            .expect_err("refused")
            .contains("must exceed"));
        let no_feed = args(&[
            "--revocation-max-staleness",
            "5",
            "--revocations-url",
            "off",
        ]);
        assert!(no_feed.validate().is_ok());
        assert_eq!(no_feed.revocation_max_staleness(), None);
    }

    #[test]
    fn token_cache_defaults_to_the_library_and_takes_zero_or_two_and_up() {
        assert_eq!(
            args(&[]).token_cache,
            resource_server::DEFAULT_CACHE_CAPACITY
        );
        assert_eq!(args(&["--token-cache", "0"]).token_cache, 0);
        assert_eq!(args(&["--token-cache", "2"]).token_cache, 2);
        assert_eq!(args(&["--token-cache", "50000"]).token_cache, 50_000);
        for bad in ["1", "-1", "many", "", "10000001"] {
            let refused = Args::try_parse_from(["resource-server", "--token-cache", bad]);
            assert!(refused.is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn audience_defaults_to_issuer() {
        assert_eq!(args(&[]).audience(), "http://idp:8080/");
        assert_eq!(args(&["--audience", "api"]).audience(), "api");
    }
}
