//! Creating an account.
//!
//! Every signup counts against its client address's rate (the per-address
//! limit of logins, `accounts::limits::admit_request`), so one address
//! cannot flood the hashing pool.
//!
//! By default signup answers `201` with the new user, or `409 email_taken`:
//! a taken address is looked up and refused before any bcrypt work, which
//! reveals nothing the `409` does not already say. With
//! `--require-email-verification` it answers the same way whatever the
//! address: a new one gets an account (unverified, unable to sign in until
//! the mailed link is followed), a taken one gets nothing but a mail to its
//! owner saying someone tried, so signup no longer tells a stranger which
//! addresses are registered. There the password is hashed before anything
//! is looked up, on both paths: skipping the hash for taken addresses would
//! make them answer a bcrypt-time faster, which is exactly what the mode
//! hides. Both paths leave the mail to the background.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::limits;

use super::email::send_verification_later;
use super::sign_in::MAX_EMAIL;
use crate::error::Error;
use crate::mail::Outgoing;
use crate::passwords::validate_password;
use crate::state::AppState;
use crate::store::{StoreError, UserRow};

/// Longest accepted display name, in characters.
pub const MAX_NAME: usize = 200;

/// A display name as stored: trimmed, 1 to [`MAX_NAME`] characters, no
/// control characters; `400 invalid_request` otherwise.
pub fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name must be 1 to 200 characters, without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Replaces the display name of the user `user_id` (what `/userinfo` and
/// ID tokens with scope `profile` say from then on).
pub async fn rename(state: &AppState, user_id: &str, name: &str) -> Result<(), Error> {
    let name = checked_name(name)?;
    let id = user_id.to_owned();
    if !state
        .store()
        .run(move |db| db.set_user_name(&id, &name))
        .await?
    {
        return Err(Error::NotFound("no such user"));
    }
    tracing::info!(user = %user_id, "display name changed");
    Ok(())
}

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

/// Creates an account for `email`, `name` and `password` at `now`, asked
/// from `address`.
pub async fn sign_up(
    state: &AppState,
    address: Option<IpAddr>,
    email: &str,
    name: &str,
    password: Zeroizing<String>,
    now: u64,
) -> Result<SignUp, Error> {
    let email = email.trim().to_owned();
    if email.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(&email) {
        return Err(Error::invalid_request("email is not a valid address"));
    }
    let name = checked_name(name)?;
    validate_password(&password).map_err(Error::invalid_request)?;
    limits::admit_request(state, address).await?;
    let quiet = state.settings().sign_in.require_email_verification;
    if !quiet {
        // The answer says "taken" anyway: say it without hashing. (Two
        // signups racing for a new address are still told apart by the
        // insert below.)
        let lookup = email.clone();
        if state
            .store()
            .run(move |db| db.user_by_email(&lookup))
            .await?
            .is_some()
        {
            return Err(Error::EmailTaken);
        }
    }
    crate::metrics::inc(&state.metrics().password_hashes);
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
