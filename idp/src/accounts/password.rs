//! Passwords: changing one (the current password required; the user's
//! other sessions end, the calling one goes on) and resetting a forgotten
//! one by a mailed link (single-use, valid [`RESET_TTL`] seconds, stored as
//! a SHA-256 digest; every session ends).
//!
//! A reset request answers the same, in the same time, whether or not the
//! address has an account: the lookup, the token and the mail all happen
//! after the answer, in the background.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::{limits, mail_link, user_of_token, MailedLink};
use crate::error::Error;
use crate::mail::Outgoing;
use crate::passwords::validate_password;
use crate::revocations::cutoff_for;
use crate::secret::digest;
use crate::state::AppState;
use crate::store::{AccountTokenPurpose, UserRow};

/// How long a reset link works, seconds.
pub const RESET_TTL: u64 = 15 * 60;
/// At most one reset mail per account this often, seconds (a stranger
/// cannot flood someone's inbox).
pub const RESET_MAIL_INTERVAL: u64 = 60;
/// Where reset links point (the token in `?token=`).
pub const RESET_PATH: &str = "/account/password/reset/confirm";

/// Checks that `current` is `user`'s password, before a change only its
/// owner may make; counted like a login attempt (`400 invalid_grant` when
/// wrong, `429` when throttled).
pub async fn check_current(
    state: &AppState,
    address: Option<IpAddr>,
    user: &UserRow,
    current: Zeroizing<String>,
) -> Result<(), Error> {
    let attempt = limits::admit(state, address, &user.email).await?;
    let verified = state
        .passwords()
        .verify(current, Some(user.password_hash.clone()))
        .await;
    let verified = match verified {
        Ok(verified) => {
            crate::metrics::inc(&state.metrics().password_checks);
            verified
        }
        Err(e) => {
            attempt.abandoned(state).await;
            return Err(e.into());
        }
    };
    if !verified {
        attempt.failed(state);
        return Err(Error::invalid_grant("the current password is incorrect"));
    }
    attempt.succeeded(state, false).await?;
    Ok(())
}

/// Changes the password of the token's user: `current` must be right
/// (`400 invalid_grant` otherwise, counted like a wrong login). Every other
/// session of the user ends; `keep_session` (the caller's) goes on.
pub async fn change(
    state: &AppState,
    address: Option<IpAddr>,
    user_id: &str,
    keep_session: Option<&str>,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    now: u64,
) -> Result<(), Error> {
    validate_password(&new).map_err(Error::invalid_request)?;
    let user = user_of_token(state, user_id).await?;
    check_current(state, address, &user, current).await?;
    crate::metrics::inc(&state.metrics().password_hashes);
    let hash = state.passwords().hash(new).await?;
    let (id, keep) = (user.id.clone(), keep_session.map(str::to_owned));
    state
        .store()
        .run(move |db| db.set_password(&id, &hash, keep.as_deref(), cutoff_for(now)))
        .await?;
    state.revocations().catch_up().await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    state
        .mailer()
        .send_later(&user.email, Outgoing::password_changed(false));
    Ok(())
}

/// Asks for a reset link for `email`. Returns at once, the same way for
/// every address: if an account has it, a link is mailed in the background.
pub fn request_reset(state: &AppState, email: &str, now: u64) {
    let (state, email) = (state.clone(), email.trim().to_owned());
    tokio::spawn(async move {
        if let Err(e) = mail_reset_link(&state, &email, now).await {
            tracing::warn!(error = %e, "password reset not sent");
        }
    });
}

async fn mail_reset_link(state: &AppState, email: &str, now: u64) -> Result<(), Error> {
    let lookup = email.to_owned();
    let Some(user) = state
        .store()
        .run(move |db| db.user_by_email(&lookup))
        .await?
    else {
        return Ok(());
    };
    let what = MailedLink {
        purpose: AccountTokenPurpose::PasswordReset,
        ttl: RESET_TTL,
        min_interval: RESET_MAIL_INTERVAL,
        path: RESET_PATH,
        message: |url| Outgoing::password_reset(url, RESET_TTL / 60),
    };
    if !mail_link(state, &user, now, what).await? {
        tracing::info!(user = %user.id, "a reset link was mailed moments ago; not again");
    }
    Ok(())
}

/// Sets a new password with a mailed reset token: once, within
/// [`RESET_TTL`]; every session of the user ends. A used, expired or
/// unknown token is `400 invalid_grant`.
pub async fn confirm_reset(
    state: &AppState,
    token: &str,
    new: Zeroizing<String>,
    now: u64,
) -> Result<(), Error> {
    let invalid = || Error::invalid_grant("the reset link is invalid, expired or already used");
    validate_password(&new).map_err(Error::invalid_request)?;
    let hash = digest(token);
    let lookup = hash.clone();
    // Looked at first, so that a dead link costs no bcrypt work.
    if state
        .store()
        .run(move |db| db.account_token(&lookup, AccountTokenPurpose::PasswordReset, now))
        .await?
        .is_none()
    {
        return Err(invalid());
    }
    crate::metrics::inc(&state.metrics().password_hashes);
    let password_hash = state.passwords().hash(new).await?;
    let user = state
        .store()
        .run(move |db| db.reset_password(&hash, &password_hash, now, cutoff_for(now)))
        .await?
        .ok_or_else(invalid)?;
    state.revocations().catch_up().await?;
    tracing::info!(%user, "password reset; every session ended");
    // Told where the link went: the owner of the address hears of it even
    // when the mailbox, not the password, was what someone else had.
    match state.store().run(move |db| db.user_by_id(&user)).await {
        Ok(Some(row)) => state
            .mailer()
            .send_later(&row.email, Outgoing::password_changed(true)),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "password-changed notice not sent"),
    }
    Ok(())
}
