//! The one place account attempts meet the throttle: password checks at
//! login and on password change, signups, reset requests, and second-factor
//! codes all count against the same per-email and per-address limits as
//! `/login` (`crate::throttle`), so guessing a code is no cheaper than
//! guessing a password.

use std::net::IpAddr;
use std::time::Instant;

use crate::error::Error;
use crate::state::AppState;

/// An admitted attempt: report a wrong answer with [`Attempt::failed`].
#[derive(Debug)]
pub struct Attempt {
    started: Instant,
    email: String,
}

/// Admits an attempt from `address` about the account `email`, or answers
/// `429 too_many_attempts`.
pub fn admit(state: &AppState, address: Option<IpAddr>, email: &str) -> Result<Attempt, Error> {
    let started = Instant::now();
    if let Err(wait) = state.login_throttle().admit(address, email, started) {
        crate::metrics::inc(&state.metrics().login_failures);
        return Err(Error::TooManyAttempts {
            retry_after: wait.as_secs().max(1),
        });
    }
    Ok(Attempt {
        started,
        email: email.to_owned(),
    })
}

impl Attempt {
    /// The answer was wrong: it counts against the email's budget.
    pub fn failed(&self, state: &AppState) {
        crate::metrics::inc(&state.metrics().login_failures);
        state.login_throttle().failed(&self.email, self.started);
    }
}
