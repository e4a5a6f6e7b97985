//! Creating an account.
//!
//! By default signup answers `201` with the new user, or `409 email_taken`.
//! With `--require-email-verification` it answers the same way whatever
//! the address: a new one gets an account (unverified, unable to sign in
//! until the mailed link is followed), a taken one gets nothing but a mail
//! to its owner saying someone tried, so signup no longer tells a stranger
//! which addresses are registered. Both paths do the same bcrypt work and
//! leave the mail to the background, so their timing matches too.

use zeroize::Zeroizing;

use super::email::send_verification_later;
use super::sign_in::MAX_EMAIL;
use crate::error::Error;
use crate::mail::Outgoing;
use crate::passwords::validate_password;
use crate::state::AppState;
use crate::store::{StoreError, UserRow};

/// Longest accepted display name, in characters.
pub const MAX_NAME: usize = 200;

/// What a signup led to.
#[derive(Debug)]
pub enum SignUp {
    /// The account exists (and a verification link is on its way).
    Created(UserRow),
    /// `--require-email-verification`: whatever happened (an account
    /// created, or the owner of a taken address told), the caller is told
    /// only to look for a mail.
    CheckYourMail,
}

/// Creates an account for `email`, `name` and `password` at `now`.
pub async fn sign_up(
    state: &AppState,
    email: &str,
    name: &str,
    password: Zeroizing<String>,
    now: u64,
) -> Result<SignUp, Error> {
    let email = email.trim().to_owned();
    if email.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(&email) {
        return Err(Error::invalid_request("email is not a valid address"));
    }
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name must be 1 to 200 characters, without control characters",
        ));
    }
    validate_password(&password).map_err(Error::invalid_request)?;
    let quiet = state.settings().sign_in.require_email_verification;
    // Hashed before anything is looked up, so a taken address costs the
    // same as a new one.
    let password_hash = state.passwords().hash(password).await?;
    let user = UserRow::new(
        uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash,
        now,
    );
    let row = user.clone();
    match state.store().run(move |db| db.insert_user(&row)).await {
        Ok(()) => {}
        Err(StoreError::Conflict) if quiet => {
            state
                .mailer()
                .send_later(&user.email, Outgoing::signup_with_existing_address());
            tracing::info!("signup with a taken address: its owner was told");
            return Ok(SignUp::CheckYourMail);
        }
        Err(StoreError::Conflict) => return Err(Error::EmailTaken),
        Err(e) => return Err(e.into()),
    }
    crate::metrics::inc(&state.metrics().signups);
    tracing::info!(user = %user.id, "user signed up");
    send_verification_later(state, &user, now);
    Ok(if quiet {
        SignUp::CheckYourMail
    } else {
        SignUp::Created(user)
    })
}
