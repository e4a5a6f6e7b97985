//! Accounts that can be managed: what a user, an administrator and the
//! sign-in pages can do with an account, as domain functions the HTTP API,
//! the CLI and the hosted pages all call.
//!
//! | module | what |
//! |---|---|
//! | [`sign_in`] | the one decision "may this user sign in", password login, the second step |
//! | [`signup`] | creating an account, alike for new and taken addresses when verification is required |
//! | [`lifecycle`] | disable, enable, delete, sign out everywhere: each ends the user's tokens everywhere |
//! | [`password`] | change (other sessions end) and reset by a mailed, single-use link (every session ends) |
//! | [`email`] | verification links |
//! | [`second_factor`] | TOTP enrolment, confirmation, recovery codes, checking a code |
//! | [`totp`] | RFC 6238 itself: codes, time steps, secrets, `otpauth://` URIs, QR codes |
//! | [`totp_at_rest`] | the label TOTP secrets are sealed under; sealing in place those stored before the encryption key |
//! | [`limits`] | the one place attempts are throttled (passwords and codes alike) |
//!
//! Everything that ends a user's sessions also cuts off their access
//! tokens, here and at every resource server (see [`crate::revocations`]).

pub mod email;
pub mod lifecycle;
pub mod limits;
pub mod password;
pub mod policy;
pub mod second_factor;
pub mod sign_in;
pub mod signup;
pub mod totp;
pub mod totp_at_rest;

use crate::error::Error;
use crate::mail::Outgoing;
use crate::secret::{digest, random_secret};
use crate::state::AppState;
use crate::store::{AccountTokenPurpose, UserRow};

/// Single-use links mailed to users carry their token in this query
/// parameter.
pub const LINK_TOKEN_PARAMETER: &str = "token";

/// The user a bearer token's subject names: a client token (or a deleted
/// user's) has none.
pub async fn user_of_token(state: &AppState, sub: &str) -> Result<UserRow, Error> {
    let sub = sub.to_owned();
    state
        .store()
        .run(move |db| db.user_by_id(&sub))
        .await?
        .ok_or(Error::NotFound("the token's subject is not a user"))
}

/// What a URL component may carry unescaped: RFC 3986's unreserved
/// characters (base64url tokens pass through as they are).
pub(crate) const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `{issuer}{path}?token=...`: the link a mail carries.
pub fn link(state: &AppState, path: &str, token: &str) -> String {
    format!(
        "{}{path}?{LINK_TOKEN_PARAMETER}={}",
        state.settings().issuer,
        percent_encoding::utf8_percent_encode(token, URL_COMPONENT)
    )
}

/// The account a mailed link's `token` for `purpose` belongs to, while
/// the link can still be used at `now` (unknown, used and expired ones
/// cannot): the link's page says so at once rather than after the form,
/// and names the address it is about.
pub async fn live_link_user(
    state: &AppState,
    token: &str,
    purpose: AccountTokenPurpose,
    now: u64,
) -> Result<Option<UserRow>, Error> {
    let hash = digest(token);
    let Some(found) = state
        .store()
        .run(move |db| db.account_token(&hash, purpose, now))
        .await?
    else {
        return Ok(None);
    };
    let id = found.user_id;
    Ok(state.store().run(move |db| db.user_by_id(&id)).await?)
}

/// A mailed single-use link: what it is for, how long it works, how often
/// one may be mailed, where it points, and the message that carries it.
struct MailedLink {
    purpose: AccountTokenPurpose,
    ttl: u64,
    min_interval: u64,
    path: &'static str,
    message: fn(&str) -> Outgoing,
}

/// Stores a new single-use token for `user` (its digest only) and mails
/// them the link, in the background; `false` when one was mailed less than
/// `min_interval` ago (nothing is sent then).
async fn mail_link(
    state: &AppState,
    user: &UserRow,
    now: u64,
    what: MailedLink,
) -> Result<bool, Error> {
    let token = random_secret();
    let (hash, id) = (digest(token.expose()), user.id.clone());
    let (purpose, expires_at, interval) = (
        what.purpose,
        now.saturating_add(what.ttl),
        what.min_interval,
    );
    let stored = state
        .store()
        .run(move |db| db.insert_account_token(&hash, purpose, &id, now, expires_at, interval))
        .await?;
    if stored {
        let url = link(state, what.path, token.expose());
        state.mailer().send_later(&user.email, (what.message)(&url));
    }
    Ok(stored)
}
