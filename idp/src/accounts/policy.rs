//! Who may sign in at all, as configured: the one decision every path
//! (`/login`, `/login/mfa`, the refresh grant, the hosted sign-in form, the
//! code grant) asks before it lets a user in. Pure, so the application
//! state and the session code can hold and ask it without depending on
//! the sign-in flows.

use crate::error::Error;
use crate::store::UserRow;

/// Who may sign in, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInPolicy {
    /// Accounts must have verified their email first.
    pub require_email_verification: bool,
}

/// Whether `user` may sign in (by any path): not when disabled, nor,
/// where the policy requires it, before their email is verified.
pub fn may_sign_in(user: &UserRow, policy: SignInPolicy) -> Result<(), Error> {
    if user.disabled_at.is_some() {
        return Err(Error::AccountDisabled);
    }
    if policy.require_email_verification && !user.email_verified {
        return Err(Error::EmailNotVerified);
    }
    Ok(())
}
