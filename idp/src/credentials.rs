//! Checking an email and password: one path for `POST /login` and the
//! sign-in page, so the throttle and the bcrypt rules are the same for
//! both.
//!
//! The attempt is admitted by the `/login` throttle before any bcrypt work;
//! an unknown email is verified against a dummy hash, so it costs what a
//! wrong password costs, and both are answered alike
//! ([`Error::InvalidCredentials`]) and counted against the email.

use std::net::IpAddr;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::metrics;
use crate::state::AppState;
use crate::store::UserRow;

/// Longest accepted email (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// The user whose email and password these are; or
/// [`Error::TooManyAttempts`], [`Error::InvalidCredentials`] (the same for
/// an unknown email and a wrong password), or an unavailable service.
pub async fn check_password(
    state: &AppState,
    address: Option<IpAddr>,
    email: &str,
    password: Zeroizing<String>,
) -> Result<UserRow, Error> {
    let started = Instant::now();
    if let Err(wait) = state.login_throttle().admit(address, email, started) {
        metrics::inc(&state.metrics().login_failures);
        return Err(Error::TooManyAttempts {
            retry_after: wait.as_secs().max(1),
        });
    }
    let user = if email.len() <= MAX_EMAIL {
        let email = email.trim().to_owned();
        state
            .store()
            .run(move |db| db.user_by_email(&email))
            .await?
    } else {
        None
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state.passwords().verify(password, hash).await?;
    match user.filter(|_| matches) {
        Some(user) => Ok(user),
        None => {
            metrics::inc(&state.metrics().login_failures);
            state.login_throttle().failed(email, started);
            tracing::info!("login refused");
            Err(Error::InvalidCredentials {
                realm: state.settings().issuer.clone(),
            })
        }
    }
}
