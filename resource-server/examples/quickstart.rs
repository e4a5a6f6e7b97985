//! The smallest service: one issuer found by discovery, one API audience,
//! a route for any valid token and one for a scope.
//!
//! `cargo run -p resource-server --example quickstart -- https://idp.example.com https://api.example.com`

use axum::{routing::get, Router};
use resource_server::{require_scope, BearerAuthLayer, Claims, Issuer, Validator};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let audience = args.next().unwrap_or_else(|| issuer.clone());

    let validator = Validator::with_issuer(Issuer::discover(issuer)?)
        .audience(audience)
        .build();
    let app = Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.sub.to_string() }),
        )
        .route(
            "/reports",
            get(|| async { "quarterly numbers" }).route_layer(require_scope("reports:read")),
        )
        .route_layer(BearerAuthLayer::new(validator));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
