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

use keys::rotation::{Lifetimes, RotationPolicy, RotationTrigger};
use zeroize::Zeroizing;

use super::code_policy::PresentedCode;
use super::error::StoreError;
use super::refresh_policy::PresentedRefresh;
use super::rows::{
    AccountTokenPurpose, AccountTokenRow, ApiRow, BrowserSessionRow, ClientRow, CodeOutcome,
    EndedSession, Expiring, GrantRow, KeyChange, LogPage, PurgeHorizon, RefreshOutcome, RefreshRow,
    Reservation, RevokedToken, SecretRotation, SessionGuard, StoredKey, ThrottleCharge,
    TokenCutoff, TotpRow, UserCursor, UserRow,
};

/// Attempt limits shared by every process on the database: a fixed number
/// of counting slots, and the (email, address) pairs that signed in
/// recently. Keys arrive as slot numbers and fixed-size digests, never as
/// the emails themselves.
pub trait Throttle {
    /// The deployment's throttle key: the stored one, or `candidate`,
    /// stored now, if there is none yet.
    fn throttle_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Takes one use of every charge at `now`, all or none: a slot whose
    /// window has ended starts a new one; a slot at its limit refuses the
    /// whole set.
    fn reserve_attempt(
        &mut self,
        charges: &[ThrottleCharge],
        now: u64,
    ) -> Result<Reservation, StoreError>;
    /// Gives back one use of `slot` if its window still ends at `ends_at`.
    fn refund_attempt(&mut self, slot: u64, ends_at: u64) -> Result<(), StoreError>;
    /// Records that the pair digested as `key` signed in at `now`.
    fn note_sign_in(&mut self, key: &[u8], now: u64) -> Result<(), StoreError>;
    /// Whether the pair digested as `key` signed in at `since` or later.
    fn signed_in_since(&mut self, key: &[u8], since: u64) -> Result<bool, StoreError>;
    /// Slots in use (for tests and `/metrics`).
    fn throttle_rows(&mut self) -> Result<u64, StoreError>;
}

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
    /// Replaces the name of the user with this id; whether one was found.
    fn set_user_name(&mut self, id: &str, name: &str) -> Result<bool, StoreError>;
    /// Up to `limit` users in order of creation (then id), after `after`.
    fn list_users(
        &mut self,
        after: Option<&UserCursor>,
        limit: u32,
    ) -> Result<Vec<UserRow>, StoreError>;

    // Every change below that ends a user's sessions does three things in
    // one transaction: deletes the refresh tokens concerned, records the
    // subject cut-off `issued_before` (tokens with an earlier `iat` are
    // refused; a later cut-off replaces an earlier one), and raises the
    // user's `tokens_not_before` to it. Each says whether the user exists.

    /// Disables the user at `now` and ends all their sessions.
    fn disable_user(&mut self, id: &str, now: u64, issued_before: u64) -> Result<bool, StoreError>;
    /// Enables the user again (their ended sessions stay ended).
    fn enable_user(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Deletes the user and everything they hold (sessions, factors, account
    /// tokens), keeping only the cut-off of their tokens, by opaque id.
    fn delete_user(&mut self, id: &str, issued_before: u64) -> Result<bool, StoreError>;
    /// Ends every session of the user but `except_sid`.
    fn end_user_sessions(
        &mut self,
        id: &str,
        except_sid: Option<&str>,
        issued_before: u64,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash and ends every session but `except_sid`.
    fn set_password(
        &mut self,
        id: &str,
        password_hash: &str,
        except_sid: Option<&str>,
        issued_before: u64,
    ) -> Result<bool, StoreError>;
}

/// Single-use tokens handed to users: mailed links (password reset, email
/// verification) and the step between password and second factor. Only
/// SHA-256 digests are stored.
pub trait AccountTokens {
    /// Stores a token for `user_id`, live until `expires_at`, unless one of
    /// the same purpose was made for that user less than `min_interval`
    /// seconds ago (returns `false` then: a mail-bombing guard). Expired
    /// tokens are deleted on the way.
    #[allow(clippy::too_many_arguments)]
    fn insert_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        user_id: &str,
        now: u64,
        expires_at: u64,
        min_interval: u64,
    ) -> Result<bool, StoreError>;
    /// The live (unexpired, unused) token with this digest and purpose.
    fn account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<AccountTokenRow>, StoreError>;
    /// Uses a live token: marks it used and returns its user, once.
    fn use_account_token(
        &mut self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: u64,
    ) -> Result<Option<String>, StoreError>;
    /// Counts a wrong answer given with the token; the count so far.
    fn note_account_token_failure(&mut self, token_hash: &[u8]) -> Result<u32, StoreError>;
    /// Uses a live password-reset token and sets the new password hash,
    /// ending every session of its user (as
    /// [`Users::set_password`] does); the user, once.
    fn reset_password(
        &mut self,
        token_hash: &[u8],
        password_hash: &str,
        now: u64,
        issued_before: u64,
    ) -> Result<Option<String>, StoreError>;
    /// Uses a live email-verification token and marks its user's email
    /// verified; the user, once.
    fn verify_email(&mut self, token_hash: &[u8], now: u64) -> Result<Option<String>, StoreError>;
}

/// A user id and a TOTP secret stored unencrypted.
pub type UnsealedSecret = (String, Zeroizing<Vec<u8>>);

/// TOTP second factors and their recovery codes (digests only).
pub trait SecondFactors {
    /// Stores a new, unconfirmed TOTP secret for the user, replacing an
    /// unconfirmed one; `false` when a confirmed factor exists.
    fn start_totp(
        &mut self,
        user_id: &str,
        secret: &[u8],
        encrypted: bool,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// The user's TOTP factor, confirmed or not.
    fn totp_factor(&mut self, user_id: &str) -> Result<Option<TotpRow>, StoreError>;
    /// Confirms the unconfirmed factor with a code of time step `step`
    /// (which is then used up) and replaces the recovery codes; `false`
    /// when there is no unconfirmed factor or the step was used.
    fn confirm_totp(
        &mut self,
        user_id: &str,
        step: u64,
        recovery_code_hashes: &[Vec<u8>],
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Accepts a code of time step `step` for a confirmed factor, once:
    /// `false` when that step or a later one was already used.
    fn use_totp_step(&mut self, user_id: &str, step: u64) -> Result<bool, StoreError>;
    /// Uses a recovery code, once.
    fn use_recovery_code(
        &mut self,
        user_id: &str,
        code_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Removes the factor and its recovery codes; whether there was one.
    fn remove_totp(&mut self, user_id: &str) -> Result<bool, StoreError>;
    /// Replaces every recovery code of a confirmed factor (used or not)
    /// with these; `false` when the user has no confirmed factor.
    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        recovery_code_hashes: &[Vec<u8>],
    ) -> Result<bool, StoreError>;
    /// How many of the user's recovery codes are still unused.
    fn recovery_codes_left(&mut self, user_id: &str) -> Result<u32, StoreError>;
    /// The users whose TOTP secret is stored unencrypted, with the secret
    /// (stored before an encryption key was configured).
    fn unsealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError>;
    /// Replaces the user's unencrypted TOTP secret with `sealed`; whether
    /// it was still unencrypted.
    fn seal_totp(&mut self, user_id: &str, sealed: &[u8]) -> Result<bool, StoreError>;
    /// The users whose TOTP secret is stored sealed, with the ciphertext.
    fn sealed_totp(&mut self) -> Result<Vec<UnsealedSecret>, StoreError>;
    /// Replaces the user's sealed TOTP secret, if it is still `old`, with
    /// `new` (sealed under another encryption key); whether it was.
    fn reseal_totp(&mut self, user_id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;
}

/// Registered OAuth 2.0 clients.
pub trait Clients {
    /// Registers a client; [`StoreError::Conflict`] if the id is taken.
    fn insert_client(&mut self, client: &ClientRow) -> Result<(), StoreError>;
    /// The client with this id.
    fn client(&mut self, client_id: &str) -> Result<Option<ClientRow>, StoreError>;
    /// Every client, ordered by id byte-wise.
    fn list_clients(&mut self) -> Result<Vec<ClientRow>, StoreError>;
    /// Removes a client and its refresh tokens, and records the client
    /// cut-off `issued_before` (its tokens with an earlier `iat` are
    /// refused), in one transaction; whether it existed.
    fn delete_client(&mut self, client_id: &str, issued_before: u64) -> Result<bool, StoreError>;
    /// Replaces the secret of a confidential client with the one whose
    /// digest is `secret_hash`, as `how` says, in one transaction; whether
    /// such a client existed (a public one has no secret to replace).
    fn rotate_client_secret(
        &mut self,
        client_id: &str,
        secret_hash: &[u8],
        how: SecretRotation,
    ) -> Result<bool, StoreError>;
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
    /// Replaces the unencrypted private key of `kid` with `sealed`, its
    /// encrypted form; whether it was still unencrypted (another instance
    /// may have sealed it first).
    fn seal_key(&mut self, kid: &str, sealed: &[u8]) -> Result<bool, StoreError>;
    /// Replaces the sealed private key of `kid`, if it is still `old`,
    /// with `new` (sealed under another encryption key); whether it was.
    fn reseal_key(&mut self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;
    /// Records on each of `kids` that an instance serving with `lifetimes`
    /// signs (or is about to sign) with it: each declared lifetime is raised
    /// to `lifetimes`' where it is shorter, never lowered. Returns how many
    /// keys changed.
    fn declare_key_lifetimes(
        &mut self,
        kids: &[String],
        lifetimes: Lifetimes,
    ) -> Result<usize, StoreError>;
}

/// Refresh-token families: one per login session, and one row per family
/// whatever it does: the current token's SHA-256 digest and its
/// generation. Earlier generations are not stored; the caller proves a
/// presented one genuine (its MAC) before asking (see
/// [`refresh_policy`](super::refresh_policy)).
pub trait RefreshTokens {
    /// Stores a new family with its first token (generation `row.generation`).
    fn insert_refresh(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
    ) -> Result<(), StoreError>;
    /// [`insert_refresh`](Self::insert_refresh) for a sign-in, in one
    /// transaction with the checks that `guard` still holds for
    /// `row.user_id` and that no revoked grant has the id `row.family_id`
    /// (a code grant's family, which a replayed code revokes; a `/login`
    /// session has no grant); whether it was stored.
    fn insert_refresh_guarded(
        &mut self,
        token_hash: &[u8],
        row: &RefreshRow,
        now: u64,
        guard: &SessionGuard,
    ) -> Result<bool, StoreError>;
    /// Uses a presented refresh token as
    /// [`refresh_policy::decide`](super::refresh_policy::decide) says, in one
    /// transaction: two concurrent uses of one token give one `Rotated` and
    /// one `Reused`. Rotating replaces the family's row in place.
    fn use_refresh(&mut self, presented: &PresentedRefresh) -> Result<RefreshOutcome, StoreError>;
    /// The live session of a refresh token, without using it.
    fn refresh_family(
        &mut self,
        token_hash: &[u8],
        now: u64,
    ) -> Result<Option<RefreshRow>, StoreError>;
    /// Revokes a session (one row), and the grant of that id if the
    /// session came from an authorization code.
    fn revoke_family(&mut self, family_id: &str, now: u64) -> Result<(), StoreError>;
    /// Sessions (refresh families and grants) revoked after `since`, each
    /// with its latest revocation time.
    fn sessions_revoked_since(&mut self, since: u64) -> Result<Vec<EndedSession>, StoreError>;
}

/// Signed-in browsers (the session cookie's server side). Only SHA-256
/// digests of cookies are stored.
pub trait BrowserSessions {
    /// Stores a new session named by the cookie whose digest is `cookie_hash`.
    fn insert_browser_session(
        &mut self,
        session: &BrowserSessionRow,
        cookie_hash: &[u8],
    ) -> Result<(), StoreError>;
    /// [`insert_browser_session`](Self::insert_browser_session) for a
    /// sign-in, in one transaction with the check that `guard` still holds
    /// for the session's user; whether it was stored.
    fn insert_browser_session_guarded(
        &mut self,
        session: &BrowserSessionRow,
        cookie_hash: &[u8],
        guard: &SessionGuard,
    ) -> Result<bool, StoreError>;
    /// The live session (not ended, not expired at `now`) of a cookie.
    fn browser_session(
        &mut self,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<Option<BrowserSessionRow>, StoreError>;
    /// The user signed in again in a live session: a new cookie, a new
    /// `auth_time` and expiry. Whether the session was live.
    fn renew_browser_session(
        &mut self,
        session: &BrowserSessionRow,
        cookie_hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Ends a session, in one transaction with revoking every grant made in
    /// it and their refresh tokens (so the revocation feed carries them).
    /// Whether it was live.
    fn end_browser_session(&mut self, session_id: &str, now: u64) -> Result<bool, StoreError>;
}

/// Authorizations: codes and the grants their tokens belong to, and the
/// consents users gave.
pub trait Grants {
    /// Stores a grant with its code's digest.
    fn insert_grant(&mut self, grant: &GrantRow, code_hash: &[u8]) -> Result<(), StoreError>;
    /// Redeems a presented code as
    /// [`code_policy::decide_code`](super::code_policy::decide_code) says,
    /// in one transaction: two concurrent uses of one code give one
    /// `Redeemed` and one `Replayed`.
    fn redeem_code(&mut self, presented: &PresentedCode) -> Result<CodeOutcome, StoreError>;
    /// The API the grant `family_id` was requested for; `None` for no API,
    /// or when no grant has that id (a `/login` session).
    fn grant_resource(&mut self, family_id: &str) -> Result<Option<String>, StoreError>;
    /// The applications the user approved, by client id, each with the
    /// scopes of its approvals (sorted, space-separated).
    fn consents_of(&mut self, user_id: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Withdraws the user's approvals for the client and, in the same
    /// transaction, revokes every grant and refresh token the client holds
    /// for the user (published to the revocation feed); whether there was
    /// an approval.
    fn withdraw_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Whether the user approved exactly this (sorted) scope set for the client.
    fn has_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<bool, StoreError>;
    /// Remembers an approval; a repeat is ignored.
    fn remember_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StoreError>;
}

/// Revoked access tokens, kept until they would have expired anyway.
pub trait RevokedTokens {
    /// Records an access token as revoked until `exp`; a repeat is ignored.
    fn revoke_access_token(&mut self, jti: &str, exp: u64, now: u64) -> Result<(), StoreError>;
    /// Revoked access tokens not yet expired at `now`, by expiry.
    fn live_revocations(&mut self, now: u64) -> Result<Vec<RevokedToken>, StoreError>;
    /// Client and subject cut-offs later than `since`.
    fn cutoffs_since(&mut self, since: u64) -> Result<Vec<TokenCutoff>, StoreError>;
}

/// The revocation log: every revocation (token, session, client or subject
/// cut-off) appended at the next position, in commit order, by the
/// database's triggers, whichever table recorded it. The feed and every
/// instance read it from a position on.
pub trait RevocationLog {
    /// The log's head, then up to `limit` entries after position `after`
    /// (all entries held when `None`) up to that head, in order. The caller
    /// compares `after` with the head's `purged_through` and `epoch` to know
    /// whether entries it needs were purged.
    fn revocations_after(&mut self, after: Option<i64>, limit: u32) -> Result<LogPage, StoreError>;
    /// Gives the feed the identity `epoch` (after a restore): every cursor
    /// of the old one is then refused.
    fn renew_feed(&mut self, epoch: &str) -> Result<(), StoreError>;
}

/// Deleting expired rows, a bounded batch at a time (see
/// [`purge_policy`](super::purge_policy)).
pub trait Purge {
    /// Deletes up to `batch` rows of `kind` expired at `horizon`; how many
    /// went. Purging the revocation log records the highest position gone.
    fn purge_expired(
        &mut self,
        kind: Expiring,
        horizon: &PurgeHorizon,
        batch: u32,
    ) -> Result<u64, StoreError>;
    /// Rows of `kind`'s table, expired or not (for tests and `/metrics`).
    fn count_rows(&mut self, kind: Expiring) -> Result<u64, StoreError>;
    /// Rewrites the secrets' tables (SQLite: the whole file, and empties
    /// its WAL) so that replaced contents are gone from the files, after
    /// secrets were encrypted in place.
    fn scrub(&mut self) -> Result<(), StoreError>;
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
    Users
    + Clients
    + Apis
    + DpopSessions
    + SigningKeys
    + RefreshTokens
    + BrowserSessions
    + Grants
    + RevokedTokens
    + RevocationLog
    + Purge
    + AccountTokens
    + SecondFactors
    + Throttle
    + Health
    + Send
{
}

impl<T> Repository for T where
    T: Users
        + Clients
        + Apis
        + DpopSessions
        + SigningKeys
        + RefreshTokens
        + BrowserSessions
        + Grants
        + RevokedTokens
        + RevocationLog
        + Purge
        + AccountTokens
        + SecondFactors
        + Throttle
        + Health
        + Send
{
}
