//! What an administrator does to an account, from the CLI (`idp users`) or
//! over HTTP (`/admin/users`): list, show, disable, enable, delete, sign
//! out everywhere. These work on the store alone, so the CLI can run them
//! against the database of a running fleet: every change that ends
//! sessions records a subject cut-off in the same transaction, and running
//! instances publish it within `--key-poll` seconds (the HTTP handlers
//! publish at once).
//!
//! Deleting removes the row and with it everything personal (email, name,
//! password hash, factors, sessions); what remains is the cut-off, naming
//! only the opaque user id, until the last token it covers has expired.
//! An account's owner deletes it too ([`delete_own`]: with the password,
//! from the account page or `POST /account/delete`).

use std::net::IpAddr;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::mail::Outgoing;
use crate::revocations::cutoff_for;
use crate::state::AppState;
use crate::store::{Store, StoreError, UserCursor, UserRow};

/// The largest page of users one listing returns.
pub const MAX_PAGE: u32 = 200;

/// A user as administrators see it (no password hash).
pub fn describe(user: &UserRow) -> UserView {
    UserView {
        id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        scope: user.scope.clone(),
        email_verified: user.email_verified,
        disabled: user.disabled_at.is_some(),
        disabled_at: user.disabled_at,
        created_at: user.created_at,
    }
}

/// What [`describe`] shows of a user: the CLI's `idp users show` and the
/// `/admin/users` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The opaque user id (`sub` of the user's tokens).
    pub id: String,
    pub email: String,
    pub name: String,
    /// Extra scopes the user's login tokens carry.
    pub scope: String,
    pub email_verified: bool,
    pub disabled: bool,
    /// Unix seconds.
    pub disabled_at: Option<u64>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A page of users after `after`, and the cursor of the next page (`None`
/// on the last one).
pub async fn list(
    store: &Store,
    after: Option<UserCursor>,
    limit: u32,
) -> Result<(Vec<UserRow>, Option<UserCursor>), StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    // One more than asked says whether a next page exists.
    let mut users = store
        .run(move |db| db.list_users(after.as_ref(), limit + 1))
        .await?;
    let next = if users.len() > limit as usize {
        users.truncate(limit as usize);
        users.last().map(|u| UserCursor {
            created_at: u.created_at,
            id: u.id.clone(),
        })
    } else {
        None
    };
    Ok((users, next))
}

/// Disables the user and ends everything they hold; whether they exist.
pub async fn disable(store: &Store, user_id: &str, now: u64) -> Result<bool, StoreError> {
    let id = user_id.to_owned();
    store
        .run(move |db| db.disable_user(&id, now, cutoff_for(now)))
        .await
}

/// Lets a disabled user sign in again (with a new login).
pub async fn enable(store: &Store, user_id: &str) -> Result<bool, StoreError> {
    let id = user_id.to_owned();
    store.run(move |db| db.enable_user(&id)).await
}

/// Deletes the user and everything personal; their tokens are cut off.
pub async fn delete(store: &Store, user_id: &str, now: u64) -> Result<bool, StoreError> {
    let id = user_id.to_owned();
    store
        .run(move |db| db.delete_user(&id, cutoff_for(now)))
        .await
}

/// Deletes the account of `user` at their own request: `current` must be
/// their password (counted like a login attempt). Everything personal
/// goes, every token is cut off (published to the revocation feed before
/// this returns), and the address is told.
pub async fn delete_own(
    state: &AppState,
    address: Option<IpAddr>,
    user: &UserRow,
    current: Zeroizing<String>,
    now: u64,
) -> Result<(), Error> {
    super::password::check_current(state, address, user, current).await?;
    if !delete(state.store(), &user.id, now).await? {
        return Err(Error::NotFound("no such user"));
    }
    state.revocations().catch_up().await?;
    tracing::info!(user = %user.id, "account deleted by its owner");
    state
        .mailer()
        .send_later(&user.email, Outgoing::account_deleted());
    Ok(())
}

/// Signs the user out everywhere: every session and access token ends.
pub async fn sign_out_everywhere(
    store: &Store,
    user_id: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let id = user_id.to_owned();
    store
        .run(move |db| db.end_user_sessions(&id, None, cutoff_for(now)))
        .await
}
