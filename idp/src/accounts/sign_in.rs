//! Signing in: the one decision whether a user may ([`may_sign_in`]), the
//! password step, and the second-factor step that follows it for accounts
//! with TOTP. `/login`, `/login/mfa`, the refresh grant and the hosted
//! sign-in form all go through here.
//!
//! A disabled (or, under `--require-email-verification`, unverified)
//! account is told so only after the right password: with a wrong one it
//! gets the same `401 invalid_credentials` as anyone, so the answer reveals
//! nothing to someone who does not know the password.

use std::net::IpAddr;

use zeroize::Zeroizing;

pub use super::policy::{may_sign_in, SignInPolicy};

use super::limits;
use super::second_factor;
use crate::error::Error;
use crate::secret::{digest, random_secret};
use crate::sessions;
use crate::state::AppState;
use crate::store::{AccountTokenPurpose, SessionGuard, UserRow};
use crate::tokens::{AuthMethods, TokenResponse};

/// Longest accepted email (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// How long the step between password and second factor may take.
pub const MFA_TOKEN_TTL: u64 = 300;
/// Wrong codes one `mfa_token` may carry before it is spent.
pub const MFA_TOKEN_MAX_FAILURES: u32 = 5;

/// What a right password leads to.
#[derive(Debug)]
pub enum PasswordSignIn {
    /// A session: the account has no second factor.
    SignedIn(TokenResponse),
    /// The account has a second factor: send a code with this token to
    /// [`with_second_factor`].
    SecondFactorRequired {
        /// Single-use, short-lived.
        mfa_token: crate::secret::Secret,
    },
}

/// Checks `email` and `password` from `address` against the throttle and
/// the stored hash, and whether the account may sign in: the password step
/// every path shares (`/login`, the hosted sign-in form). An unknown email
/// costs the same bcrypt work as a wrong password and gets the same answer;
/// a disabled (or unverified, where that is required) account is told so
/// only after the right password.
pub async fn check_password(
    state: &AppState,
    address: Option<IpAddr>,
    email: &str,
    password: Zeroizing<String>,
) -> Result<UserRow, Error> {
    let attempt = limits::admit(state, address, email).await?;
    let checked = async {
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
        // Counted once bcrypt ran: a check the full pool turned away is not one.
        crate::metrics::inc(&state.metrics().password_checks);
        Ok::<_, Error>((user, matches))
    }
    .await;
    let (user, matches) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            attempt.abandoned(state).await;
            return Err(e);
        }
    };
    let Some(user) = user.filter(|_| matches) else {
        attempt.failed(state);
        tracing::info!("login refused");
        return Err(Error::InvalidCredentials {
            realm: state.settings().issuer.clone(),
        });
    };
    // A right password is not a guess: its reservation is given back, and
    // without a second factor to come, the address is now the owner's.
    let signed_in = !second_factor::is_enrolled(state, &user.id).await?;
    attempt.succeeded(state, signed_in).await?;
    may_sign_in(&user, state.settings().sign_in)?;
    Ok(user)
}

/// The password step of `/login`, from `address`: a session, or a token
/// for the second step when the account has a second factor.
pub async fn with_password(
    state: &AppState,
    address: Option<IpAddr>,
    email: &str,
    password: Zeroizing<String>,
    now: u64,
    dpop_jkt: Option<String>,
) -> Result<PasswordSignIn, Error> {
    let user = check_password(state, address, email, password).await?;
    if second_factor::is_enrolled(state, &user.id).await? {
        let mfa_token = start_second_step(state, &user, now).await?;
        return Ok(PasswordSignIn::SecondFactorRequired { mfa_token });
    }
    let tokens = sessions::open_bound(state, &user, AuthMethods::Password, now, dpop_jkt).await?;
    crate::metrics::inc(&state.metrics().logins);
    tracing::info!(user = %user.id, "user logged in");
    Ok(PasswordSignIn::SignedIn(tokens))
}

/// Opens the step between a right password and the second factor for
/// `user` at `now`: a single-use token, live [`MFA_TOKEN_TTL`] seconds,
/// that [`check_second_factor`] takes with a code. Only its digest is
/// stored; the password is never needed again.
pub async fn start_second_step(
    state: &AppState,
    user: &UserRow,
    now: u64,
) -> Result<crate::secret::Secret, Error> {
    let mfa_token = random_secret();
    let (hash, user_id) = (digest(mfa_token.expose()), user.id.clone());
    state
        .store()
        .run(move |db| {
            db.insert_account_token(
                &hash,
                AccountTokenPurpose::Mfa,
                &user_id,
                now,
                now.saturating_add(MFA_TOKEN_TTL),
                0,
            )
        })
        .await?;
    // A cut-off committed while the password was checked: the account is no
    // longer as checked (one committed later dates the token out, below).
    if !sessions::still_holds(state, &user.id, &SessionGuard::of(user)).await? {
        return Err(sessions::changed_while_signing_in());
    }
    tracing::info!(user = %user.id, "password accepted; second factor required");
    Ok(mfa_token)
}

/// The user a live `mfa_token` was opened for, at `now`; `None` when the
/// token is unknown, expired, used or has had its share of wrong codes.
pub async fn second_step_user(
    state: &AppState,
    mfa_token: &str,
    now: u64,
) -> Result<Option<UserRow>, Error> {
    let hash = digest(mfa_token);
    let Some(pending) = state
        .store()
        .run(move |db| db.account_token(&hash, AccountTokenPurpose::Mfa, now))
        .await?
    else {
        return Ok(None);
    };
    if pending.failures >= MFA_TOKEN_MAX_FAILURES {
        return Ok(None);
    }
    let user_id = pending.user_id;
    let user = state.store().run(move |db| db.user_by_id(&user_id)).await?;
    // A password change or reset, a disabling or "sign out everywhere" in a
    // later second than the password step ends the sign-in it started, as it
    // ends sessions (a cut-off is the second after its event; one in the
    // same second as the password step is left to that step's own check).
    let opened = pending.expires_at.saturating_sub(MFA_TOKEN_TTL);
    Ok(user.filter(|u| opened.saturating_add(1) >= u.tokens_not_before))
}

/// The second step every path shares (`/login/mfa`, the hosted sign-in's
/// code page): the `mfa_token` of [`start_second_step`] and a TOTP code or
/// a recovery code from `address`. The user, once the code is right (the
/// token is then spent). A wrong code is `401 invalid_code` and counts
/// against the account like a wrong password, and against the token: after
/// [`MFA_TOKEN_MAX_FAILURES`] the token is spent. A spent, expired or
/// unknown `mfa_token` is `400 invalid_grant` (start again).
pub async fn check_second_factor(
    state: &AppState,
    address: Option<IpAddr>,
    mfa_token: &str,
    code: &str,
    now: u64,
) -> Result<UserRow, Error> {
    let spent = || Error::invalid_grant("the mfa_token is invalid, expired or used: log in again");
    let Some(user) = second_step_user(state, mfa_token, now).await? else {
        return Err(spent());
    };
    let hash = digest(mfa_token);
    if let Err(wrong) = second_factor::check_attempt(state, address, &user, code, now).await {
        if !matches!(wrong, Error::InvalidCode) {
            return Err(wrong);
        }
        let failed = hash.clone();
        state
            .store()
            .run(move |db| db.note_account_token_failure(&failed))
            .await?;
        return Err(wrong);
    }
    let used = state
        .store()
        .run(move |db| db.use_account_token(&hash, AccountTokenPurpose::Mfa, now))
        .await?;
    if used.is_none() {
        return Err(spent());
    }
    may_sign_in(&user, state.settings().sign_in)?;
    Ok(user)
}

/// `/login/mfa`: [`check_second_factor`], then a session whose tokens say
/// `amr ["pwd","otp"]`, `acr aal2`.
pub async fn with_second_factor(
    state: &AppState,
    address: Option<IpAddr>,
    mfa_token: &str,
    code: &str,
    now: u64,
    dpop_jkt: Option<String>,
) -> Result<TokenResponse, Error> {
    let user = check_second_factor(state, address, mfa_token, code, now).await?;
    let tokens =
        sessions::open_bound(state, &user, AuthMethods::PasswordAndOtp, now, dpop_jkt).await?;
    crate::metrics::inc(&state.metrics().logins);
    tracing::info!(user = %user.id, "user logged in with a second factor");
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(disabled: bool, verified: bool) -> UserRow {
        UserRow {
            disabled_at: disabled.then_some(1),
            email_verified: verified,
            ..UserRow::new("u".into(), "a@b.c".into(), "A".into(), "h".into(), 0)
        }
    }

    #[test]
    fn disabled_accounts_never_sign_in_and_unverified_ones_only_when_allowed() {
        let lax = SignInPolicy::default();
        let strict = SignInPolicy {
            require_email_verification: true,
        };
        assert!(may_sign_in(&user(false, false), lax).is_ok());
        assert!(matches!(
            may_sign_in(&user(true, true), lax),
            Err(Error::AccountDisabled)
        ));
        assert!(matches!(
            may_sign_in(&user(false, false), strict),
            Err(Error::EmailNotVerified)
        ));
        assert!(may_sign_in(&user(false, true), strict).is_ok());
        assert!(matches!(
            may_sign_in(&user(true, false), strict),
            Err(Error::AccountDisabled)
        ));
    }
}
