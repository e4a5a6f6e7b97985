//! What the IdP knows about a token it is shown: used by `/introspect`
//! (RFC 7662) and `/revoke` (RFC 7009).
//!
//! Access tokens are checked with the keys and revocations that guard the
//! IdP's own bearer endpoints, for any audience the IdP issues (an API's
//! token is the IdP's to describe too); refresh tokens by their digest in
//! the database.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::clients::LOGIN_CLIENT_ID;
use crate::error::Error;
use crate::sessions;
use crate::state::AppState;

/// The claims of `token` if it is an access token this IdP issued and that
/// is currently valid (signature, time, issuer, not revoked), whichever
/// audience it was issued for.
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
    now: u64,
) -> Option<Arc<resource_server::Claims>> {
    state.introspector().validate(token, now).await.ok()
}

/// RFC 7662 answer for `token`. Anything not currently valid is
/// `{"active": false}`, with nothing else said about it.
pub async fn introspect(state: &AppState, token: &str, now: u64) -> Result<Value, Error> {
    // Validation allows 30 s of clock skew past `exp`; an introspection
    // answer is the IdP's own clock, and an expired token is not active
    // (RFC 7662 §2.2).
    if let Some(claims) = verify_access_token(state, token, now)
        .await
        .filter(|claims| claims.exp > now)
    {
        // A token of a deleted client is no longer honoured.
        let client_id = claims.client_id.clone().unwrap_or_default();
        let client_live = client_id == LOGIN_CLIENT_ID
            || state
                .store()
                .run(move |db| db.client(&client_id))
                .await?
                .is_some();
        if client_live {
            let mut answer = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "username": claims.email,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "nbf": claims.nbf,
                "jti": claims.jti,
            });
            // RFC 9449 §6.2: a bound token says so, and names its key.
            if let Some(jkt) = claims.dpop_jkt() {
                answer["token_type"] = json!("DPoP");
                answer["cnf"] = json!({"jkt": jkt});
            }
            return Ok(answer);
        }
    }
    if let Some(session) = sessions::find(state, token, now).await? {
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": session.scope,
            "client_id": session.client_id,
            "sub": session.user_id,
            "exp": session.expires_at,
            "iss": state.settings().issuer,
        }));
    }
    Ok(json!({"active": false}))
}
