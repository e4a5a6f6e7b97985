//! Browser sessions: what the session cookie names, for single sign-on.
//!
//! Signing in on the sign-in page opens a session: a 256-bit random
//! cookie value (only its SHA-256 is stored) naming a server-side row with
//! the user, when they last signed in (`auth_time`, which `max_age` is
//! measured against) and how (`amr`: a password, or a password and a
//! second factor; the tokens issued in the session say so in `amr`/`acr`). A later `/authorize` from the same
//! browser skips the form while the session lives. It ends on
//! `/end_session`, when it expires (`--session-ttl`), or when another user
//! signs in on the same browser, or with a password change, a reset or
//! "sign out everywhere"; ending it revokes every grant made in it,
//! so resource servers refuse their tokens through the revocation feed.

use crate::error::Error;
use crate::secret::{digest, random_secret, Secret};
use crate::state::AppState;
use crate::store::{BrowserSessionRow, SessionGuard, UserRow};
use crate::tokens::AuthMethods;

/// The live session the cookie value `cookie` names, at `now`.
pub async fn find(
    state: &AppState,
    cookie: &str,
    now: u64,
) -> Result<Option<BrowserSessionRow>, Error> {
    let hash = digest(cookie);
    Ok(state
        .store()
        .run(move |db| db.browser_session(&hash, now))
        .await?)
}

/// `user` has just signed in with `auth` at `now`. The browser's
/// `current` session is renewed if it is theirs (a new cookie value, a new
/// `auth_time` and `amr`), ended if it is someone else's; otherwise a session is
/// opened. Returns the session and its new cookie value: the value always
/// changes at sign-in, so a value planted before it is worth nothing.
pub async fn sign_in(
    state: &AppState,
    user: &UserRow,
    current: Option<BrowserSessionRow>,
    auth: AuthMethods,
    now: u64,
) -> Result<(BrowserSessionRow, Secret), Error> {
    let cookie = random_secret();
    let hash = digest(cookie.expose());
    let expires_at = now.saturating_add(state.settings().session_ttl);
    if let Some(current) = current {
        if current.user_id == user.id {
            let renewed = BrowserSessionRow {
                auth_time: now,
                expires_at,
                amr: auth.as_stored().to_owned(),
                ..current
            };
            let (row, h) = (renewed.clone(), hash.clone());
            if state
                .store()
                .run(move |db| db.renew_browser_session(&row, &h, now))
                .await?
            {
                return Ok((renewed, cookie));
            }
        } else {
            end(state, &current.id, now).await?;
        }
    }
    let session = BrowserSessionRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at,
        amr: auth.as_stored().to_owned(),
    };
    let (row, guard) = (session.clone(), SessionGuard::of(user));
    // Stored only while the account is as the sign-in checked it: a reset,
    // a disabling or "sign out everywhere" committed meanwhile refuses it.
    let stored = state
        .store()
        .run(move |db| db.insert_browser_session_guarded(&row, &hash, &guard))
        .await?;
    if !stored {
        return Err(crate::sessions::changed_while_signing_in());
    }
    tracing::info!(user = %user.id, session = %session.id, amr = %session.amr, "browser signed in");
    Ok((session, cookie))
}

/// Ends a session and every grant made in it, and publishes that to the
/// revocation feed before returning.
pub async fn end(state: &AppState, session_id: &str, now: u64) -> Result<(), Error> {
    let id = session_id.to_owned();
    let ended = state
        .store()
        .run(move |db| db.end_browser_session(&id, now))
        .await?;
    state.revocations().catch_up().await?;
    if ended {
        tracing::info!(session = %session_id, "browser session ended");
    }
    Ok(())
}
