//! An API that takes only DPoP-bound tokens (RFC 9449), publishes its RFC
//! 9728 metadata, and asks for a second factor on one route (RFC 9470).
//!
//! Clients send `Authorization: DPoP <token>` and a `DPoP` proof signed
//! with the key the token is bound to; the proof names this request's
//! method and URL under the public URL below. A token whose `amr` lacks
//! `otp` gets `401 insufficient_user_authentication` at `/payouts`.
//!
//! `cargo run -p resource-server --example dpop_step_up`

use std::time::Duration;

use axum::{routing::get, Router};
use resource_server::dpop::DpopVerifier;
use resource_server::{
    require_amr, require_scope, BearerAuthLayer, Issuer, ProtectedResourceMetadata, Validator,
};

const ISSUER: &str = "http://127.0.0.1:8080";
const PUBLIC_URL: &str = "https://payments.example.com";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let validator = Validator::with_issuer(Issuer::discover(ISSUER)?)
        .audience(PUBLIC_URL)
        .build();
    let metadata = ProtectedResourceMetadata::new(PUBLIC_URL)
        .authorization_server(ISSUER)
        .scopes(["payments:read", "payments:write"])
        .dpop_required(true);
    let layer = BearerAuthLayer::new(validator)
        .require_dpop(true)
        .public_url(PUBLIC_URL)
        .resource_metadata(metadata.url_at(PUBLIC_URL))
        // Server nonces (RFC 9449 §9) bound how long a proof made in
        // advance stays usable.
        .dpop(
            DpopVerifier::builder()
                .require_nonce(Duration::from_secs(60))
                .build(),
        );

    let app = Router::new()
        .route(
            "/balance",
            get(|| async { "42.00" }).route_layer(require_scope("payments:read")),
        )
        .route(
            "/payouts",
            get(|| async { "sent" }).route_layer(require_amr("otp")),
        )
        .route_layer(layer)
        .merge(metadata.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
