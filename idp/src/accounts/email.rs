//! Email verification: a single-use link (valid [`VERIFY_TTL`] seconds,
//! stored as a SHA-256 digest) mailed at signup; following it marks the
//! address verified, which `/userinfo` (and ID tokens) report as
//! `email_verified`, and which `--require-email-verification` makes a
//! condition of signing in.

use super::{mail_link, MailedLink};
use crate::error::Error;
use crate::mail::Outgoing;
use crate::secret::digest;
use crate::state::AppState;
use crate::store::{AccountTokenPurpose, UserRow};

/// How long a verification link works, seconds.
pub const VERIFY_TTL: u64 = 24 * 3600;
/// At most one verification mail per account this often, seconds.
pub const VERIFY_MAIL_INTERVAL: u64 = 60;
/// Where verification links point (the token in `?token=`).
pub const VERIFY_PATH: &str = "/account/email/verify";

/// Mails `user` a verification link, in the background.
pub fn send_verification_later(state: &AppState, user: &UserRow, now: u64) {
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        if let Err(e) = send_verification(&state, &user, now).await {
            tracing::warn!(error = %e, "verification link not sent");
        }
    });
}

/// Mails `user` a verification link now (unless one went out within
/// [`VERIFY_MAIL_INTERVAL`]); whether one was sent.
pub async fn send_verification(state: &AppState, user: &UserRow, now: u64) -> Result<bool, Error> {
    let what = MailedLink {
        purpose: AccountTokenPurpose::EmailVerification,
        ttl: VERIFY_TTL,
        min_interval: VERIFY_MAIL_INTERVAL,
        path: VERIFY_PATH,
        message: Outgoing::email_verification,
    };
    mail_link(state, user, now, what).await
}

/// Follows a verification link: once, within [`VERIFY_TTL`]. A used,
/// expired or unknown token is `400 invalid_grant`.
pub async fn verify(state: &AppState, token: &str, now: u64) -> Result<(), Error> {
    let hash = digest(token);
    let user = state
        .store()
        .run(move |db| db.verify_email(&hash, now))
        .await?
        .ok_or_else(|| {
            Error::invalid_grant("the verification link is invalid, expired or already used")
        })?;
    tracing::info!(%user, "email verified");
    Ok(())
}
