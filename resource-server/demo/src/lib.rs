//! The demo API behind the `resource-server` binary: the library
//! `resource_server` wired up the way a real service would wire it, served
//! by `serve`.
//!
//! [`Args`] is the command line, [`demo_app`] the routes, and [`run`] the
//! wiring: a JWKS cache (discovered from the issuer or given), a revocation
//! poller, a validator, the RFC 9728 metadata of the API (its `resource` is
//! the audience), a listener, and `/metrics` (`telemetry.rs`) beside the
//! API or on its own listener (`--metrics-bind`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod app;
mod args;
mod telemetry;

use std::time::Duration;

use axum::Router;
use resource_server::{
    Error, JwksCache, ProtectedResourceMetadata, RevocationList, RevocationPoller, Validator,
};
use serve::{observe, serve, shutdown_signal, Metrics, ServeConfig};

pub use app::{demo_app, demo_app_with, DemoOptions};
pub use args::Args;

/// Runs the binary: builds the key cache, revocation poller and validator,
/// binds, prints `resource-server listening on ADDR`, serves until SIGTERM or
/// Ctrl-C. Never waits for the IdP: keys are fetched in the background and
/// on demand.
pub async fn run(args: Args) -> Result<(), Error> {
    let client = match &args.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::HttpClient(format!("reading --ca-file {}: {e}", path.display()))
            })?;
            tracing::info!(ca_file = %path.display(), "trusting its certificates too");
            Some(resource_server::https_client_trusting(&pem)?)
        }
        None => None,
    };
    let mut jwks = match args.explicit_jwks_url() {
        Some(url) => JwksCache::from_url(url),
        None => JwksCache::from_issuer(&args.issuer),
    };
    if let Some(client) = &client {
        jwks = jwks.http_client(client.clone());
    }
    let jwks = jwks
        .ttl_bounds(
            Duration::from_secs(args.jwks_min_ttl),
            Duration::from_secs(args.jwks_min_ttl.max(86_400)),
        )
        .unknown_kid_cooldown(Duration::from_secs(args.jwks_refetch_cooldown))
        .build()?;
    let audience = args.audience();
    let mut validator = Validator::builder(&args.issuer, jwks.clone())
        .audience(&audience)
        .cache_capacity(args.token_cache);
    let mut watched = None;
    let _poller = match args.revocation_feed() {
        Some(url) => {
            let revocations = RevocationList::new();
            watched = Some(revocations.clone());
            validator = validator.revocations(revocations.clone());
            let mut poller = RevocationPoller::builder(&url);
            if let Some(client) = &client {
                poller = poller.http_client(client.clone());
            }
            let poller = poller
                .interval(Duration::from_secs(args.revocation_poll))
                .spawn(&revocations)?;
            tracing::info!(%url, every_s = args.revocation_poll, "polling the revocation feed");
            if let Some(max) = args.revocation_max_staleness() {
                validator = validator.revocation_max_staleness(max);
                tracing::info!(
                    max_s = max.as_secs(),
                    "failing closed when the feed is stale"
                );
            }
            Some(poller)
        }
        None => {
            tracing::info!("revocation feed disabled");
            None
        }
    };
    let validator = validator.build();
    tracing::info!(issuer = %args.issuer, %audience, keys = ?validator.keys(), "validating tokens");

    let metrics = Metrics::new();
    let gauges = telemetry::Sources {
        metrics: metrics.clone(),
        jwks,
        revocations: watched,
        validator: validator.clone(),
    };
    gauges.describe();
    let scrape = metrics.router(move || gauges.read());
    let limits = ServeConfig {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        ..ServeConfig::default()
    };

    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    let base = args
        .explicit_public_url()
        .map_or_else(|| format!("http://{addr}"), str::to_owned);
    let metadata = ProtectedResourceMetadata::new(&audience)
        .authorization_server(&args.issuer)
        .scopes(["api:read", "profile"])
        .resource_name("resource-server demo API")
        .dpop_required(args.require_dpop);
    let metadata_url = metadata.url_at(&base);
    let options = DemoOptions {
        require_dpop: args.require_dpop,
        public_url: args.explicit_public_url().map(str::to_owned),
        metadata: Some((metadata, metadata_url)),
    };
    let metrics_listener = match args.metrics_bind {
        Some(bind) => Some(tokio::net::TcpListener::bind(bind).await?),
        None => None,
    };
    // Scripts wait for this line; keep its shape.
    println!("resource-server listening on {addr}");
    tracing::info!(%addr, require_dpop = args.require_dpop, "listening");
    if options.public_url.is_none() {
        tracing::warn!(
            "no --public-url: DPoP proofs are checked against the Host header each client \
             sends, so a proof made for another server sharing this audience is accepted too"
        );
    }
    match metrics_listener {
        None => {
            let app = observe(demo_app_with(validator, options).merge(scrape), &metrics);
            serve(listener, app, limits, shutdown_signal()).await?;
        }
        Some(metrics_listener) => {
            let metrics_addr = metrics_listener.local_addr()?;
            tracing::info!(addr = %metrics_addr, "serving /metrics");
            let app = observe(demo_app_with(validator, options), &metrics);
            let scrape: Router = observe(scrape, &metrics);
            tokio::try_join!(
                serve(listener, app, limits, shutdown_signal()),
                serve(metrics_listener, scrape, limits, shutdown_signal()),
            )?;
        }
    }
    Ok(())
}
