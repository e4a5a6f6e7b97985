//! Endpoints a logged-in user calls with their bearer token: `/userinfo`
//! (OpenID Connect Core §5.3) and `/logout`.
//!
//! `/userinfo` answers tokens with scope `openid` (the authorization code
//! flow) or `profile` (`/login` sessions): always `sub`, and the claims the
//! token's scopes disclose (`disclosure.rs`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use resource_server::{AuthError, Claims};

use crate::disclosure::disclose;
use serde_json::{json, Value};

use crate::error::Error;
use crate::state::AppState;

/// Routes that need a valid bearer token; the caller adds the layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/logout", post(logout))
}

/// The user's profile, read from the database (not the token), so a
/// changed name shows at once.
async fn userinfo(State(state): State<AppState>, claims: Claims) -> Result<Response, Error> {
    if !(claims.has_scope("openid") || claims.has_scope("profile")) {
        return Ok(AuthError::InsufficientScope {
            scope: "openid".into(),
        }
        .into_response_with_realm(&state.settings().issuer));
    }
    let sub = claims.sub.clone();
    let user = state.store().run(move |db| db.user_by_id(&sub)).await?;
    let Some(user) = user else {
        return Err(Error::NotFound("the token's subject is not a user"));
    };
    let disclosed = disclose(&user, &claims.scope, &claims.client_id);
    let mut body = json!({"sub": user.id});
    if let Some(email) = disclosed.email {
        body["email"] = json!(email);
        body["email_verified"] = json!(disclosed.email_verified);
    }
    if let Some(name) = disclosed.name {
        body["name"] = json!(name);
    }
    Ok(Json(body).into_response())
}

/// Revokes the presented access token everywhere (through the revocation
/// feed) and ends its login session, so its refresh token stops working.
async fn logout(State(state): State<AppState>, claims: Claims) -> Result<Json<Value>, Error> {
    state
        .revocations()
        .revoke(claims.jti.clone(), claims.exp)
        .await?;
    crate::metrics::inc(&state.metrics().revocations);
    if let Some(session) = claims.sid.clone() {
        state.revocations().end_session(session).await?;
    }
    tracing::info!(sub = %claims.sub, "logged out");
    Ok(Json(json!({"logged_out": true})))
}
