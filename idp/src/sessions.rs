//! Login sessions: an access token plus a refresh-token family.
//!
//! Refresh tokens are 256-bit random strings handed out once; only their
//! SHA-256 digest is stored, so a copy of the database cannot be replayed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::db_seconds;
use crate::store::{RefreshRow, UserRow};
use crate::tokens::{Subject, TokenResponse};
use crate::AppState;

/// The `client_id` of tokens issued by `/login` (the IdP's own first-party
/// login, not a registered client).
pub const LOGIN_CLIENT_ID: &str = "login";

/// A fresh opaque secret (refresh token, client secret): 32 random bytes,
/// base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a high-entropy secret, as stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The scopes a user's tokens carry: `profile` plus what they were granted.
pub fn user_scope(user: &UserRow) -> String {
    let mut scopes = vec!["profile"];
    for s in user.scope.split_ascii_whitespace() {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes.join(" ")
}

/// Opens a session for `user`: a new refresh-token family and its first
/// access token.
pub async fn open(state: &AppState, user: &UserRow, now: u64) -> Result<TokenResponse, ApiError> {
    let family_id = uuid::Uuid::new_v4().to_string();
    let scope = user_scope(user);
    let refresh = random_secret();
    let now_i = db_seconds(now);
    let ttl = db_seconds(state.settings().refresh_ttl);
    state
        .store()
        .insert_refresh(
            digest(&refresh),
            RefreshRow {
                family_id: family_id.clone(),
                user_id: user.id.clone(),
                client_id: LOGIN_CLIENT_ID.to_owned(),
                scope: scope.clone(),
                expires_at: now_i.saturating_add(ttl),
            },
            now_i,
        )
        .await?;
    let issued = state
        .tokens()
        .issue(subject(user, family_id), LOGIN_CLIENT_ID, &scope, now)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(TokenResponse::new(
        &issued,
        state.tokens().ttl(),
        Some(refresh),
    ))
}

/// The token subject for a user in a session.
pub fn subject(user: &UserRow, session: String) -> Subject {
    Subject::User {
        id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        session,
    }
}
