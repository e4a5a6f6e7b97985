//! The storage contract: every query the IdP makes of its database.
//!
//! Each trait covers one group of tables; [`Repository`] is all of them,
//! and is what [`Store::run`](super::Store::run) hands to its closure. Both
//! backends implement every trait on their connection type, in their own
//! folder (`sqlite/`, `postgres/`), one file per group. Every method is one
//! atomic step: where it reads before it writes, it takes the backend's
//! write lock first, so two IdP processes on one database cannot interleave
//! inside it. Times are Unix seconds.
//!
//! `idp/tests/store.rs` runs one suite, written against these traits,
//! on every backend.

use keys::rotation::{RotationPolicy, RotationTrigger};

use super::error::StoreError;
use super::refresh_policy::PresentedRefresh;
use super::rows::{
    ApiRow, ClientRow, EndedSession, KeyChange, RefreshOutcome, RefreshRow, RevokedToken,
    StoredKey, UserRow,
};

/// Users who sign up and log in.
pub trait Users {
    /// Stores a new user; [`StoreError::Conflict`] if the email is taken,
    /// whatever its case.
    fn insert_user(&mut self, user: &UserRow) -> Result<(), StoreError>;
    /// The user with this email, ignoring case.
    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>, StoreError>;
    /// The user with this id.
    fn user_by_id(&mut self, id: &str) -> Result<Option<UserRow>, StoreError>;
    /// Replaces the extra scopes of the user with this email; whether one
    /// was found.
    fn set_user_scope(&mut self, email: &str, scope: &str) -> Result<bool, StoreError>;
}

/// Registered OAuth 2.0 clients.
pub trait Clients {
    /// Registers a client; [`StoreError::Conflict`] if the id is taken.
    fn insert_client(&mut self, client: &ClientRow) -> Result<(), StoreError>;
    /// The client with this id.
    fn client(&mut self, client_id: &str) -> Result<Option<ClientRow>, StoreError>;
    /// Every client, ordered by id byte-wise.
    fn list_clients(&mut self) -> Result<Vec<ClientRow>, StoreError>;
    /// Removes a client; whether it existed.
    fn delete_client(&mut self, client_id: &str) -> Result<bool, StoreError>;
}

/// APIs (resource servers) clients may name with `resource=` (RFC 8707).
pub trait Apis {
    /// Registers an API; [`StoreError::Conflict`] if the resource is taken.
    fn insert_api(&mut self, api: &ApiRow) -> Result<(), StoreError>;
    /// The API with this exact resource identifier.
    fn api(&mut self, resource: &str) -> Result<Option<ApiRow>, StoreError>;
    /// Every API, ordered by resource byte-wise.
    fn list_apis(&mut self) -> Result<Vec<ApiRow>, StoreError>;
    /// Removes an API; whether it existed.
    fn delete_api(&mut self, resource: &str) -> Result<bool, StoreError>;
}

/// Login sessions bound to a DPoP key (RFC 9449 §5).
pub trait DpopSessions {
    /// Binds the session `family_id` to the key thumbprint `jkt`; a
    /// session already bound keeps its key. Bindings of sessions without a
    /// live refresh token are dropped on the way, a bounded number per call,
    /// so the table holds little more than the live bound sessions.
    fn bind_session(&mut self, family_id: &str, jkt: &str, now: u64) -> Result<(), StoreError>;
    /// The thumbprint the session is bound to, if it is.
    fn session_binding(&mut self, family_id: &str) -> Result<Option<String>, StoreError>;
}

/// Signing keys. The changes run under a lock on the key set, so two
/// processes rotating at once cannot both promote.
pub trait SigningKeys {
    /// Every stored key, oldest first (ties by kid, byte-wise).
    fn list_keys(&mut self) -> Result<Vec<StoredKey>, StoreError>;
    /// Fills in the initial key set where it is missing: `current` if there
    /// is no current key, `next` if there is no next key. The candidates
    /// are generated beforehand; the ones not needed are dropped. Returns
    /// how many were stored.
    fn ensure_keys(&mut self, current: &StoredKey, next: &StoredKey) -> Result<usize, StoreError>;
    /// Rotates as `policy` allows for `trigger` at `now`, deciding on the
    /// key set as it stands under the lock: `next` → `current`, `current` →
    /// `retired`, `new_next` becomes the next key. Of several scheduled
    /// rotations racing, one rotates and the others find it not due.
    fn rotate_keys(
        &mut self,
        policy: RotationPolicy,
        now: u64,
        trigger: RotationTrigger,
        new_next: &StoredKey,
    ) -> Result<KeyChange, StoreError>;
    /// Deletes retired keys past their grace period; returns their kids.
    fn prune_keys(&mut self, policy: RotationPolicy, now: u64) -> Result<Vec<String>, StoreError>;
}

/// Refresh-token families: one per login session. Only SHA-256 digests of
/// tokens are stored.
pub trait RefreshTokens {
    /// Stores a new refresh token.
    fn insert_refresh(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
    ) -> Result<(), StoreError>;
    /// Uses a presented refresh token as
    /// [`refresh_policy::decide`](super::refresh_policy::decide) says, in one
    /// transaction: two concurrent uses of one token give one `Rotated` and
    /// one `Reused`.
    fn use_refresh(&mut self, presented: &PresentedRefresh) -> Result<RefreshOutcome, StoreError>;
    /// The live session of a refresh token, without using it.
    fn refresh_family(
        &mut self,
        token_hash: &[u8],
        now: u64,
    ) -> Result<Option<RefreshRow>, StoreError>;
    /// Revokes every refresh token of a session.
    fn revoke_family(&mut self, family_id: &str, now: u64) -> Result<(), StoreError>;
    /// Sessions revoked after `since`, each with its latest revocation time.
    fn sessions_revoked_since(&mut self, since: u64) -> Result<Vec<EndedSession>, StoreError>;
}

/// Revoked access tokens, kept until they would have expired anyway.
pub trait RevokedTokens {
    /// Records an access token as revoked until `exp`; a repeat is ignored.
    fn revoke_access_token(&mut self, jti: &str, exp: u64, now: u64) -> Result<(), StoreError>;
    /// Revoked access tokens not yet expired, by expiry; expired entries and
    /// dead refresh tokens are deleted on the way.
    fn live_revocations(&mut self, now: u64) -> Result<Vec<RevokedToken>, StoreError>;
}

/// What running instances poll.
pub trait Health {
    /// Checks that the database answers.
    fn ping(&mut self) -> Result<(), StoreError>;
    /// The value of a change counter (`signing_keys`, `revocations`), which
    /// every write to those tables bumps, in any process.
    fn change_counter(&mut self, name: &str) -> Result<i64, StoreError>;
}

/// The whole contract: what a backend's connection implements.
pub trait Repository:
    Users + Clients + Apis + DpopSessions + SigningKeys + RefreshTokens + RevokedTokens + Health + Send
{
}

impl<T> Repository for T where
    T: Users
        + Clients
        + Apis
        + DpopSessions
        + SigningKeys
        + RefreshTokens
        + RevokedTokens
        + Health
        + Send
{
}
