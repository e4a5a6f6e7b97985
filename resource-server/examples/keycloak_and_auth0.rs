//! One API, two identity providers: a Keycloak realm (found by discovery)
//! and an Auth0 tenant (JWKS URL given), each with its own audience and
//! algorithms, read through one claims type of the application's own.
//!
//! Keycloak puts roles under `realm_access` and the client in `azp`; Auth0
//! puts RBAC permissions in `permissions`. Both send `typ: JWT` rather than
//! RFC 9068's `at+jwt`, hence `accept_jwt_typ`.
//!
//! `cargo run -p resource-server --example keycloak_and_auth0`

use axum::{routing::get, Json, Router};
use resource_server::{
    require_scope, Algorithm, BearerAuthLayer, Claims, Issuer, JwksCache, Validator,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// What this API reads beyond the registered claims. Every field is
/// optional or defaulted, since each issuer sends only some of them.
#[derive(Debug, Clone, Default, Deserialize)]
struct OrderClaims {
    /// Keycloak: the client the token was issued to.
    azp: Option<String>,
    /// Keycloak: realm roles.
    #[serde(default)]
    realm_access: RealmAccess,
    /// Auth0: RBAC permissions.
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RealmAccess {
    #[serde(default)]
    roles: Vec<String>,
}

impl OrderClaims {
    fn may_refund(&self) -> bool {
        self.realm_access.roles.iter().any(|r| r == "order-admin")
            || self.permissions.iter().any(|p| p == "refund:orders")
    }
}

async fn orders(claims: Claims<OrderClaims>) -> Json<Value> {
    Json(json!({
        "issuer": claims.iss,
        "subject": claims.sub,
        "client": claims.azp,
        "may_refund": claims.may_refund(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keycloak = Issuer::discover("https://sso.example.com/realms/acme")?
        .audience("orders-api")
        .accept_jwt_typ(true);
    let auth0 = Issuer::new(
        "https://acme.eu.auth0.com/",
        JwksCache::from_url("https://acme.eu.auth0.com/.well-known/jwks.json").build()?,
    )
    .audience("https://orders.example.com")
    .algorithms([Algorithm::RS256, Algorithm::PS256])
    .accept_jwt_typ(true);

    let validator = Validator::with_issuer(keycloak)
        .issuer(auth0)
        .claims::<OrderClaims>()
        .build();
    let app = Router::new()
        .route("/orders", get(orders))
        .route(
            "/orders/export",
            get(|| async { "csv" }).route_layer(require_scope("orders:export")),
        )
        .route_layer(BearerAuthLayer::new(validator));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
