//! Endpoints a logged-in user calls with their bearer token: `/userinfo`
//! (OpenID Connect Core §5.3) and `/logout`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use resource_server::{require_scope, Claims};
use serde_json::{json, Value};

use crate::error::Error;
use crate::state::AppState;

/// Routes that need a valid bearer token; the caller adds the layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/userinfo",
            get(userinfo)
                .post(userinfo)
                .route_layer(require_scope("profile")),
        )
        .route("/logout", post(logout))
}

/// The user's profile, read from the database (not the token), so a
/// changed name shows at once.
async fn userinfo(State(state): State<AppState>, claims: Claims) -> Result<Json<Value>, Error> {
    let sub = claims.sub.clone();
    let user = state.store().run(move |db| db.user_by_id(&sub)).await?;
    let Some(user) = user else {
        return Err(Error::NotFound("the token's subject is not a user"));
    };
    Ok(Json(json!({
        "sub": user.id,
        "email": user.email,
        "name": user.name,
    })))
}

/// Revokes the presented access token everywhere (through the revocation
/// feed) and ends its login session, so its refresh token stops working.
async fn logout(State(state): State<AppState>, claims: Claims) -> Result<Json<Value>, Error> {
    // The IdP's own validator requires `jti` of every token.
    if let Some(jti) = claims.jti.clone() {
        state.revocations().revoke(jti, claims.exp).await?;
    }
    crate::metrics::inc(&state.metrics().revocations);
    if let Some(session) = claims.sid.clone() {
        state.revocations().end_session(session).await?;
    }
    tracing::info!(sub = %claims.sub, "logged out");
    Ok(Json(json!({"logged_out": true})))
}
