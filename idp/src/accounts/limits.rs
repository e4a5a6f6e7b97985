//! The one place account attempts meet the throttle: password checks at
//! login and on password change and second-factor codes all count against
//! the same per-email and per-address limits (`crate::throttle`), so
//! guessing a code is no cheaper than guessing a password; reset requests
//! (and signups) count against the address only ([`admit_request`]).
//!
//! An attempt is reserved before any slow work (bcrypt, a code check) and
//! given back when the answer was right: a throttle that checked first and
//! charged after would let every concurrent guess through. The counters
//! live in the database, so all instances on one database share them.

use std::net::IpAddr;

use crate::error::Error;
use crate::secret::random_secret;
use crate::state::AppState;
use crate::store::{Reservation, ThrottleCharge};
use crate::throttle::{normalize_email, trust_key, TRUST_PERIOD};

/// An admitted attempt: report a wrong answer with [`Attempt::failed`], a
/// right one with [`Attempt::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    /// The slots to give back on success, with their windows' ends.
    refunds: Vec<(u64, u64)>,
    /// Where a sign-in of this email from this address is remembered.
    trust_key: Option<[u8; 32]>,
}

/// The deployment's throttle secret, read (or made) once per process. It
/// also keys refresh tokens' MACs (`refresh_token.rs`), under its own
/// message prefix.
pub(crate) async fn secret(state: &AppState) -> Result<&[u8], Error> {
    let secret = state
        .throttle_secret()
        .get_or_try_init(|| async {
            let candidate = crate::secret::digest(random_secret().expose());
            state
                .store()
                .run(move |db| db.throttle_secret(&candidate))
                .await
        })
        .await?;
    Ok(secret.as_slice())
}

/// Admits an attempt from `address` about the account `email`, reserving
/// it against every limit it counts towards, or answers
/// `429 too_many_attempts` with the seconds to wait.
pub async fn admit(
    state: &AppState,
    address: Option<IpAddr>,
    email: &str,
) -> Result<Attempt, Error> {
    let now = crate::unix_now();
    let secret = secret(state).await?;
    let email = normalize_email(email);
    let trust = address.map(|a| trust_key(secret, &email, a));
    let trusted = match trust {
        Some(key) => {
            let since = now.saturating_sub(TRUST_PERIOD);
            state
                .store()
                .run(move |db| db.signed_in_since(&key, since))
                .await?
        }
        None => false,
    };
    let charges = state
        .throttle_policy()
        .charges(secret, &email, address, trusted);
    let slots: Vec<ThrottleCharge> = charges.iter().map(|c| c.charge).collect();
    match state
        .store()
        .run(move |db| db.reserve_attempt(&slots, now))
        .await?
    {
        Reservation::Admitted(ends) => Ok(Attempt {
            refunds: charges
                .iter()
                .zip(ends)
                .filter(|(c, _)| c.refundable)
                .map(|(c, end)| (c.charge.slot, end))
                .collect(),
            trust_key: trust,
        }),
        Reservation::Refused { retry_after } => {
            crate::metrics::inc(&state.metrics().login_failures);
            Err(Error::TooManyAttempts { retry_after })
        }
    }
}

/// Admits a request that checks no secret of an account (a reset
/// request, a signup) from `address`: it counts against the address's
/// rate only, so requests about an email cannot spend its owner's budget.
/// `429 too_many_attempts` past it.
pub async fn admit_request(state: &AppState, address: Option<IpAddr>) -> Result<(), Error> {
    let now = crate::unix_now();
    let secret = secret(state).await?;
    let Some(charge) = state.throttle_policy().address_charge(secret, address) else {
        return Ok(());
    };
    match state
        .store()
        .run(move |db| db.reserve_attempt(&[charge], now))
        .await?
    {
        Reservation::Admitted(_) => Ok(()),
        Reservation::Refused { retry_after } => Err(Error::TooManyAttempts { retry_after }),
    }
}

impl Attempt {
    /// The answer was wrong: the reservation stays spent.
    pub fn failed(&self, state: &AppState) {
        crate::metrics::inc(&state.metrics().login_failures);
    }

    /// No answer was reached (the database failed, say): the email's
    /// reservations are given back, best effort, since nothing was guessed.
    pub async fn abandoned(self, state: &AppState) {
        let refunds = self.refunds;
        let given_back = state
            .store()
            .run(move |db| {
                for &(slot, ends_at) in &refunds {
                    db.refund_attempt(slot, ends_at)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = given_back {
            tracing::warn!(error = %e, "an unanswered attempt stays counted");
        }
    }

    /// The answer was right: the email's reservations are given back, and
    /// with `signed_in` (the user is now fully signed in) the address is
    /// remembered as one the account signs in from.
    pub async fn succeeded(self, state: &AppState, signed_in: bool) -> Result<(), Error> {
        let now = crate::unix_now();
        let (refunds, trust_key) = (self.refunds, self.trust_key.filter(|_| signed_in));
        state
            .store()
            .run(move |db| {
                for &(slot, ends_at) in &refunds {
                    db.refund_attempt(slot, ends_at)?;
                }
                if let Some(key) = trust_key {
                    db.note_sign_in(&key, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}
