//! The demo API of the `resource-server` binary, built from the library the
//! way any service would use it.
//!
//! | path | needs |
//! |---|---|
//! | GET `/api/public` | nothing |
//! | GET `/api/private` | any valid token |
//! | GET `/api/private-scoped` | scope `api:read` |
//! | GET `/user/profile` | scope `profile`; `{"user":{"sub","email","name"}}` |
//! | GET `/healthz` | nothing; liveness |
//! | GET `/readyz` | nothing; `200` once signing keys are loaded, else `503` |
//!
//! Everything answers JSON, unknown routes and methods included.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use serve::{json_error, serve, shutdown_signal, ServeConfig};

use crate::error::Error;
use crate::{require_scope, BearerAuthLayer, Claims, JwksCache, RevocationList};
use crate::{RevocationPoller, Validator};

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
    pub bind: String,
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
    /// Revocation feed URL [default: {issuer}/revocations]; `off` disables
    /// revocation checks.
    #[arg(long, env = "RS_REVOCATIONS_URL")]
    pub revocations_url: Option<String>,
    /// Seconds between two polls of the revocation feed; `0` disables it.
    #[arg(long, env = "RS_REVOCATION_POLL", default_value_t = 5)]
    pub revocation_poll: u64,
    /// Shortest time a fetched JWKS is kept, seconds, whatever max-age the
    /// IdP sends.
    #[arg(long, env = "RS_JWKS_MIN_TTL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub jwks_min_ttl: u64,
    /// Seconds between two refetches caused by tokens with unknown kids.
    #[arg(long, env = "RS_JWKS_REFETCH_COOLDOWN", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub jwks_refetch_cooldown: u64,
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

    /// The audience tokens must carry.
    pub fn audience(&self) -> String {
        Self::non_empty(&self.audience)
            .unwrap_or(&self.issuer)
            .to_owned()
    }
}

/// The demo API protected by `validator`.
pub fn demo_app(validator: Validator) -> Router {
    let ready_validator = validator.clone();
    let protected = Router::new()
        .route("/api/private", get(private))
        .route(
            "/api/private-scoped",
            get(private_scoped).route_layer(require_scope("api:read")),
        )
        .route(
            "/user/profile",
            get(profile).route_layer(require_scope("profile")),
        )
        .route_layer(BearerAuthLayer::new(validator));
    Router::new()
        .route("/api/public", get(public))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/readyz",
            get(move || {
                let loaded = ready_validator.keys().is_loaded();
                async move {
                    if loaded {
                        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
                    } else {
                        json_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not_ready",
                            "signing keys are not loaded yet",
                        )
                    }
                }
            }),
        )
        .merge(protected)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such resource") })
        .method_not_allowed_fallback(|| async {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this resource",
            )
        })
}

async fn public() -> Json<serde_json::Value> {
    Json(json!({"message": "public endpoint: no token needed"}))
}

async fn private(claims: Claims) -> Json<serde_json::Value> {
    Json(json!({
        "message": "private endpoint: any valid token",
        "sub": claims.sub,
        "client_id": claims.client_id,
    }))
}

async fn private_scoped(claims: Claims) -> Json<serde_json::Value> {
    Json(json!({
        "message": "scoped endpoint: token has api:read",
        "sub": claims.sub,
        "scope": claims.scope,
    }))
}

async fn profile(claims: Claims) -> Json<serde_json::Value> {
    Json(json!({
        "user": {"sub": claims.sub, "email": claims.email, "name": claims.name}
    }))
}

/// Runs the binary: builds the key cache, revocation poller and validator,
/// binds, prints `resource-server listening on ADDR`, serves until SIGTERM or
/// Ctrl-C. Never waits for the IdP: keys are fetched in the background and
/// on demand.
pub async fn run(args: Args) -> Result<(), Error> {
    let jwks = match Args::non_empty(&args.jwks_url) {
        Some(url) => JwksCache::from_url(url),
        None => JwksCache::from_issuer(&args.issuer),
    }
    .ttl_bounds(
        Duration::from_secs(args.jwks_min_ttl),
        Duration::from_secs(args.jwks_min_ttl.max(86_400)),
    )
    .unknown_kid_cooldown(Duration::from_secs(args.jwks_refetch_cooldown))
    .build()?;
    let audience = args.audience();
    let mut validator = Validator::builder(&args.issuer, jwks).audience(&audience);
    let _poller = match args.revocation_feed() {
        Some(url) => {
            let revocations = RevocationList::new();
            validator = validator.revocations(revocations.clone());
            let poller = RevocationPoller::builder(&url)
                .interval(Duration::from_secs(args.revocation_poll))
                .spawn(&revocations)?;
            tracing::info!(%url, every_s = args.revocation_poll, "polling the revocation feed");
            Some(poller)
        }
        None => {
            tracing::info!("revocation feed disabled");
            None
        }
    };
    let validator = validator.build();
    tracing::info!(issuer = %args.issuer, %audience, keys = ?validator.keys(), "validating tokens");

    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    println!("resource-server listening on {addr}");
    tracing::info!(%addr, "listening");
    serve(
        listener,
        demo_app(validator),
        ServeConfig::default(),
        shutdown_signal(),
    )
    .await?;
    Ok(())
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
    fn audience_defaults_to_issuer() {
        assert_eq!(args(&[]).audience(), "http://idp:8080/");
        assert_eq!(args(&["--audience", "api"]).audience(), "api");
    }
}
