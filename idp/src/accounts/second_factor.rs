//! The TOTP second factor of an account: enrolment (a secret, shown once
//! as an `otpauth://` URI, in base32 and as a QR code), confirmation with a
//! first code (which then yields ten single-use recovery codes, stored as
//! SHA-256 digests), checking a code at login, and removal.
//!
//! Every code is accepted at most once: the store moves the factor's last
//! used time step forward atomically, so a code (or an older one) replayed,
//! even at once on another instance, is refused. Secrets are sealed at rest
//! with `IDP_KEY_ENCRYPTION_KEY` when it is set (the vault that seals
//! private keys, with the user id as associated data) and never logged.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::{limits, totp, totp_at_rest};
use crate::error::Error;
use crate::mail::Outgoing;
use crate::secret::{digest, random_secret, Secret};
use crate::state::AppState;
use crate::store::UserRow;

/// Recovery codes handed out at confirmation.
pub const RECOVERY_CODES: usize = 10;

/// What enrolment hands back, once. Its `Debug` shows none of it: the QR
/// code encodes the secret as much as the URI does. Serialized as
/// `POST /account/totp`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// `otpauth://totp/...` for authenticator apps.
    #[schema(value_type = String)]
    pub otpauth_uri: Secret,
    /// The secret in base32, to type in by hand.
    #[schema(value_type = String)]
    pub secret: Secret,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

/// How authenticator apps name this IdP: the issuer's host (and port), or
/// the issuer itself when it has none.
fn issuer_label(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| issuer.to_owned())
}

/// Whether the user has a confirmed factor (login then asks for a code).
pub async fn is_enrolled(state: &AppState, user_id: &str) -> Result<bool, Error> {
    let id = user_id.to_owned();
    Ok(state
        .store()
        .run(move |db| db.totp_factor(&id))
        .await?
        .is_some_and(|f| f.confirmed))
}

/// Starts enrolment: a new secret, replacing an unconfirmed one.
/// `409 totp_enrolled` when a confirmed factor exists already.
pub async fn enrol(state: &AppState, user: &UserRow, now: u64) -> Result<Enrolment, Error> {
    let secret = totp::new_secret();
    let (sealed, encrypted) = state.vault().seal(&totp_at_rest::label(&user.id), &secret);
    let id = user.id.clone();
    let started = state
        .store()
        .run(move |db| db.start_totp(&id, &sealed, encrypted, now))
        .await?;
    if !started {
        return Err(Error::TotpEnrolled);
    }
    tracing::info!(user = %user.id, "TOTP enrolment started");
    enrolment_of(state, user, &secret)
}

/// The enrolment waiting for its first code, shown again (the account
/// page's confirmation form after a mistyped code): the same secret, so
/// the app the user already set up stays right. `None` when there is none.
pub async fn pending(state: &AppState, user: &UserRow) -> Result<Option<Enrolment>, Error> {
    match factor(state, &user.id).await? {
        Some((secret, false)) => enrolment_of(state, user, &secret).map(Some),
        _ => Ok(None),
    }
}

/// What the user needs to set up an authenticator app with `secret`.
fn enrolment_of(state: &AppState, user: &UserRow, secret: &[u8]) -> Result<Enrolment, Error> {
    let uri = totp::otpauth_uri(&issuer_label(&state.settings().issuer), &user.email, secret);
    let qr_svg = totp::qr_svg(&uri).ok_or_else(|| Error::internal(&"QR code rendering failed"))?;
    Ok(Enrolment {
        otpauth_uri: Secret::new(uri.to_string()),
        secret: Secret::new(totp::base32(secret).to_string()),
        qr_svg,
    })
}

/// The user's factor's secret (opened), whether it is confirmed, and its
/// last used step.
async fn factor(
    state: &AppState,
    user_id: &str,
) -> Result<Option<(Zeroizing<Vec<u8>>, bool)>, Error> {
    let id = user_id.to_owned();
    let Some(row) = state.store().run(move |db| db.totp_factor(&id)).await? else {
        return Ok(None);
    };
    let secret = state
        .vault()
        .open(&totp_at_rest::label(user_id), &row.secret, row.encrypted)
        .map_err(|_| {
            Error::internal(&"a TOTP secret does not open with the configured encryption key")
        })?;
    Ok(Some((secret, row.confirmed)))
}

/// Confirms enrolment with a first `code` (consumed), counted like a
/// password attempt; returns the recovery codes, shown this once.
pub async fn confirm(
    state: &AppState,
    address: Option<IpAddr>,
    user: &UserRow,
    code: &str,
    now: u64,
) -> Result<Vec<Secret>, Error> {
    let Some((secret, false)) = factor(state, &user.id).await? else {
        return Err(Error::invalid_request(
            "no TOTP enrolment is waiting for confirmation: POST /account/totp first",
        ));
    };
    let attempt = limits::admit(state, address, &user.email).await?;
    let Some(step) = totp::matching_step(&secret, code.trim(), now) else {
        attempt.failed(state);
        return Err(Error::InvalidCode);
    };
    let (codes, hashes) = new_recovery_codes();
    let id = user.id.clone();
    let confirmed = state
        .store()
        .run(move |db| db.confirm_totp(&id, step, &hashes, now))
        .await?;
    if !confirmed {
        attempt.failed(state);
        return Err(Error::InvalidCode);
    }
    attempt.succeeded(state, false).await?;
    tracing::info!(user = %user.id, "TOTP enrolled");
    state
        .mailer()
        .send_later(&user.email, Outgoing::second_factor_changed(true));
    Ok(codes)
}

/// Checks a code at login: a TOTP code of the user's confirmed factor (its
/// step then used up), or one of their recovery codes (then used up).
/// `401 invalid_code` otherwise. Throttling is the caller's.
pub async fn check(state: &AppState, user: &UserRow, code: &str, now: u64) -> Result<(), Error> {
    let code = code.trim();
    let Some((secret, true)) = factor(state, &user.id).await? else {
        return Err(Error::InvalidCode);
    };
    let id = user.id.clone();
    let accepted = match totp::matching_step(&secret, code, now) {
        Some(step) => {
            state
                .store()
                .run(move |db| db.use_totp_step(&id, step))
                .await?
        }
        None => {
            let hash = digest(&normalize_recovery_code(code));
            let used = state
                .store()
                .run(move |db| db.use_recovery_code(&id, &hash, now))
                .await?;
            if used {
                tracing::info!(user = %user.id, "a recovery code was used");
                tell_of_recovery_code(state, user).await;
            }
            used
        }
    };
    if accepted {
        Ok(())
    } else {
        Err(Error::InvalidCode)
    }
}

/// [`check`], counted against the account like a password attempt from
/// `address`: a wrong code uses up some of its budget, and once that is
/// spent the answer is `429` whatever the code.
pub async fn check_attempt(
    state: &AppState,
    address: Option<IpAddr>,
    user: &UserRow,
    code: &str,
    now: u64,
) -> Result<(), Error> {
    let attempt = limits::admit(state, address, &user.email).await?;
    let checked = check(state, user, code, now).await;
    match &checked {
        Ok(()) => attempt.succeeded(state, true).await?,
        Err(Error::InvalidCode) => attempt.failed(state),
        Err(_) => attempt.abandoned(state).await,
    }
    checked
}

/// Mails the account's address that one of its recovery codes was used,
/// and how many are left.
async fn tell_of_recovery_code(state: &AppState, user: &UserRow) {
    let id = user.id.clone();
    match state
        .store()
        .run(move |db| db.recovery_codes_left(&id))
        .await
    {
        Ok(left) => state
            .mailer()
            .send_later(&user.email, Outgoing::recovery_code_used(left)),
        Err(e) => tracing::warn!(error = %e, "recovery-code notice not sent"),
    }
}

/// Ten fresh recovery codes and their digests.
fn new_recovery_codes() -> (Vec<Secret>, Vec<Vec<u8>>) {
    let codes: Vec<Secret> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes = codes
        .iter()
        .map(|c| digest(&normalize_recovery_code(c.expose())))
        .collect();
    (codes, hashes)
}

/// How many of the user's recovery codes are still unused.
pub async fn recovery_codes_left(state: &AppState, user_id: &str) -> Result<u32, Error> {
    let id = user_id.to_owned();
    Ok(state
        .store()
        .run(move |db| db.recovery_codes_left(&id))
        .await?)
}

/// Why recovery codes cannot be renewed: there is no confirmed factor
/// (none was set up, or it was removed meanwhile).
const NOT_ENROLLED: &str = "no authenticator app is set up: set one up first";

/// Replaces the user's recovery codes (the old ones stop working) once a
/// current code, or a recovery code, proves the app is in hand (counted
/// like a password attempt); the new ones, shown this once.
pub async fn renew_recovery_codes(
    state: &AppState,
    address: Option<IpAddr>,
    user: &UserRow,
    code: &str,
    now: u64,
) -> Result<Vec<Secret>, Error> {
    if !is_enrolled(state, &user.id).await? {
        return Err(Error::invalid_request(NOT_ENROLLED));
    }
    check_attempt(state, address, user, code, now).await?;
    let (codes, hashes) = new_recovery_codes();
    let id = user.id.clone();
    if !state
        .store()
        .run(move |db| db.replace_recovery_codes(&id, &hashes))
        .await?
    {
        return Err(Error::invalid_request(NOT_ENROLLED));
    }
    tracing::info!(user = %user.id, "recovery codes renewed");
    Ok(codes)
}

/// Removes the user's factor and recovery codes, and tells the account's
/// address; whether there was one.
pub async fn remove(state: &AppState, user: &UserRow) -> Result<bool, Error> {
    let id = user.id.clone();
    let removed = state.store().run(move |db| db.remove_totp(&id)).await?;
    if removed {
        state
            .mailer()
            .send_later(&user.email, Outgoing::second_factor_changed(false));
    }
    Ok(removed)
}

/// A recovery code: 80 random bits as 16 base32 letters and digits, in
/// groups of four (`abcd-efgh-ijkl-mnop`).
fn recovery_code() -> Secret {
    let raw = random_secret();
    let bytes = digest(raw.expose());
    let letters = data_encoding::BASE32_NOPAD
        .encode(&bytes[..10])
        .to_ascii_lowercase();
    let groups: Vec<&str> = (0..4).map(|i| &letters[i * 4..i * 4 + 4]).collect();
    Secret::new(groups.join("-"))
}

/// A recovery code as typed: case, dashes and spaces do not matter.
fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_apps_see_the_issuers_host() {
        assert_eq!(issuer_label("https://id.example.com"), "id.example.com");
        assert_eq!(issuer_label("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(issuer_label("not a url"), "not a url");
    }

    #[test]
    fn recovery_codes_are_grouped_random_and_typed_loosely() {
        let a = recovery_code();
        let b = recovery_code();
        assert_ne!(a, b);
        let text = a.expose();
        assert_eq!(text.len(), 19, "{text}");
        assert_eq!(text.matches('-').count(), 3);
        let loose = format!(" {} ", text.to_uppercase().replace('-', " "));
        assert_eq!(
            normalize_recovery_code(&loose),
            normalize_recovery_code(text)
        );
        assert_eq!(normalize_recovery_code(text).len(), 16);
    }
}
