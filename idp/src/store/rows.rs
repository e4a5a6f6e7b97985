//! The rows the storage contract reads and writes, the same for every
//! backend. Times are Unix seconds as `u64`; each backend converts to its
//! own column type and back, so no caller ever sees a database's integer.

use keys::rotation::{KeyRecord, RotationError, RotationPlan};
use zeroize::Zeroizing;

/// A stored user.
#[derive(Clone)]
pub struct UserRow {
    /// Opaque id, the `sub` of the user's tokens.
    pub id: String,
    /// Email as given at signup.
    pub email: String,
    /// Display name.
    pub name: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Extra scopes granted to this user (space-separated), besides `profile`.
    pub scope: String,
    /// Unix seconds.
    pub created_at: u64,
    /// When the account was disabled, Unix seconds; `None` while enabled.
    pub disabled_at: Option<u64>,
    /// Whether the owner proved the email address theirs (a mailed link).
    pub email_verified: bool,
    /// The user's tokens are issued with an `iat` no earlier than this
    /// (the latest cut-off of their tokens), Unix seconds.
    pub tokens_not_before: u64,
}

impl UserRow {
    /// A new, enabled, unverified account.
    pub fn new(id: String, email: String, name: String, password_hash: String, now: u64) -> Self {
        Self {
            id,
            email,
            name,
            password_hash,
            scope: String::new(),
            created_at: now,
            disabled_at: None,
            email_verified: false,
            tokens_not_before: 0,
        }
    }
}

/// Where a page of [`list_users`](super::Users::list_users) starts: after
/// the user created at `created_at` with this `id` (users are listed by
/// creation, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCursor {
    /// The last listed user's creation time.
    pub created_at: u64,
    /// The last listed user's id.
    pub id: String,
}

/// The id and email only: the hash, name and scopes stay out of logs.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A registered OAuth 2.0 client. Only a SHA-256 digest of its secret is
/// stored.
#[derive(Clone)]
pub struct ClientRow {
    /// The client's id.
    pub client_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Scopes the client may request, space-separated.
    pub scope: String,
    /// Whether the client may manage the registry and keys.
    pub admin: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// Where `/authorize` may send a browser back, exactly as registered.
    pub redirect_uris: Vec<String>,
    /// A public client (SPA, native app): no secret, PKCE alone
    /// (`token_endpoint_auth_method: none`).
    pub public: bool,
    /// A third-party client: users approve its scopes once.
    pub consent: bool,
    /// Where `/end_session` may send a browser back.
    pub post_logout_redirect_uris: Vec<String>,
    /// The secret this one replaced, while it keeps working (a rotation
    /// with an overlap).
    pub previous_secret: Option<PreviousSecret>,
}

/// A replaced client secret that keeps working for a while.
#[derive(Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// SHA-256 of the replaced secret.
    pub hash: Vec<u8>,
    /// Unix seconds; from then on it no longer works.
    pub expires_at: u64,
}

/// When it expires; never the digest.
impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a client's secret is replaced (see
/// [`Clients::rotate_client_secret`](super::contract::Clients::rotate_client_secret)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRotation {
    /// The old secret stops working at once.
    Replace,
    /// The old secret keeps working until this time (Unix seconds).
    Overlap {
        /// When the old secret stops working.
        until: u64,
    },
    /// The old secret stops working at once, and every token the client
    /// holds is cut off (issued before this time: refused) with its refresh
    /// tokens deleted, as for a leaked secret.
    Revoke {
        /// The cut-off.
        issued_before: u64,
    },
}

/// Everything but the secret's digest.
impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("admin", &self.admin)
            .field("redirect_uris", &self.redirect_uris)
            .field("public", &self.public)
            .field("consent", &self.consent)
            .field(
                "previous_secret_expires_at",
                &self.previous_secret.as_ref().map(|p| p.expires_at),
            )
            .finish_non_exhaustive()
    }
}

/// An API (resource server) clients may name with `resource=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRow {
    /// The resource identifier: an absolute URI, the `aud` of its tokens.
    pub resource: String,
    /// Scopes the API offers, space-separated; empty means any.
    pub scope: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// A signing key as stored. `private_key` is a PEM, or an AEAD ciphertext of
/// one when `encrypted` is set.
#[derive(Clone)]
pub struct StoredKey {
    /// Metadata the rotation rules work on.
    pub record: KeyRecord,
    /// PEM or ciphertext; wiped on drop.
    pub private_key: Zeroizing<Vec<u8>>,
    /// Whether `private_key` is encrypted.
    pub encrypted: bool,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// Modulus size.
    pub bits: u32,
}

/// Metadata only: no key material.
impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("record", &self.record)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

/// What a rotation did to the key set.
#[derive(Debug)]
pub enum KeyChange {
    /// A rotation was applied.
    Rotated(RotationPlan),
    /// Rotation was refused.
    Refused(RotationError),
}

/// What a sign-in verified, which must still hold when its session is
/// stored: the check and the insert share one transaction, so a password
/// change or reset, a disabling or a "sign out everywhere" committed while
/// the password was being checked refuses the session instead of missing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGuard {
    /// The user's password hash as verified.
    pub password_hash: String,
    /// The user's `tokens_not_before` as read with it: any cut-off since
    /// raised it.
    pub tokens_not_before: u64,
}

impl SessionGuard {
    /// The guard of a sign-in that read `user`.
    pub fn of(user: &UserRow) -> Self {
        Self {
            password_hash: user.password_hash.clone(),
            tokens_not_before: user.tokens_not_before,
        }
    }

    /// Whether `user` (read again) is still the account the sign-in
    /// checked: the rule the stores apply in SQL when a session is stored.
    pub fn holds_for(&self, user: &UserRow) -> bool {
        user.disabled_at.is_none()
            && user.password_hash == self.password_hash
            && user.tokens_not_before == self.tokens_not_before
    }
}

/// The session a refresh token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// The login session.
    pub family_id: String,
    /// The user.
    pub user_id: String,
    /// The client the session was opened through.
    pub client_id: String,
    /// Granted scopes.
    pub scope: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// How the session was authenticated: the `amr` of its tokens,
    /// space-separated (`pwd`, `pwd otp`).
    pub amr: String,
    /// The generation of the session's current refresh token: 0 for the
    /// first, one more at each rotation.
    pub generation: u64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now used, and its successor was stored.
    Rotated(RefreshRow),
    /// It had been used before: its family is now revoked.
    Reused {
        /// The revoked family.
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Issued to another client than the one presenting it; left untouched.
    WrongClient,
}

/// A revoked access token, until its own expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`, Unix seconds.
    pub exp: u64,
}

/// A session (refresh family) that was ended, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    /// The family id, the `sid` of the session's access tokens.
    pub family_id: String,
    /// The latest time one of its refresh tokens was revoked, Unix seconds.
    pub revoked_at: u64,
}

/// A signed-in browser: the server side of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSessionRow {
    /// Public session id: the `sid` of the ID tokens issued in it.
    pub id: String,
    /// The signed-in user.
    pub user_id: String,
    /// When the user last signed in (a password, a second factor),
    /// Unix seconds.
    pub auth_time: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// When the session ends on its own, Unix seconds.
    pub expires_at: u64,
    /// How the user signed in: the `amr` of the tokens issued in the
    /// session, space-separated (`pwd`, `pwd otp`).
    pub amr: String,
}

/// One authorization: the code's bindings, and the grant its tokens belong
/// to. Only the code's SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// The grant id: the `sid` of its access tokens and the family of its
    /// refresh tokens.
    pub family_id: String,
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request, exactly.
    pub redirect_uri: String,
    /// The user.
    pub user_id: String,
    /// Granted scopes.
    pub scope: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The request's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// The browser session the user approved in.
    pub session_id: String,
    /// When the user authenticated, Unix seconds.
    pub auth_time: u64,
    /// How the user authenticated (the session's `amr` when the code was
    /// issued), space-separated.
    pub amr: String,
    /// Unix seconds.
    pub created_at: u64,
    /// When the code stops being redeemable, Unix seconds.
    pub code_expires_at: u64,
    /// When the row may be forgotten (its access tokens have expired),
    /// unless refresh tokens of the family remain.
    pub expires_at: u64,
    /// The API (RFC 8707 `resource`) the authorization was requested for.
    pub resource: Option<String>,
}

/// What presenting an authorization code led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Valid: it is now used.
    Redeemed(Box<GrantRow>),
    /// It had been used before: the grant and every token issued from it
    /// are now revoked.
    Replayed {
        /// The revoked grant.
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Issued to another client; left untouched.
    WrongClient,
    /// The `redirect_uri` differs from the authorization request's; left
    /// untouched.
    RedirectMismatch,
    /// The PKCE verifier does not match the challenge; left untouched.
    VerifierMismatch,
    /// The token request names another API than the authorization request
    /// did; left untouched.
    ResourceMismatch,
}

/// URIs as one column: space-separated (a valid URI holds no space).
pub(super) fn join_uris(uris: &[String]) -> String {
    uris.join(" ")
}

/// The URIs of a column written by [`join_uris`].
pub(super) fn split_uris(column: &str) -> Vec<String> {
    column.split_ascii_whitespace().map(str::to_owned).collect()
}

/// Whose tokens a cut-off is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutoffKind {
    /// A client, by `client_id` (it was deleted).
    Client,
    /// A subject, by `sub`: a user id.
    Subject,
}

impl CutoffKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Subject => "subject",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client" => Some(Self::Client),
            "subject" => Some(Self::Subject),
            _ => None,
        }
    }
}

/// Every token of a client or subject issued before a time is refused,
/// except those of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCutoff {
    /// Client or subject.
    pub kind: CutoffKind,
    /// The `client_id` or `sub`.
    pub id: String,
    /// Tokens with an `iat` before this are refused, Unix seconds.
    pub issued_before: u64,
    /// The session whose tokens are spared.
    pub except_sid: Option<String>,
}

/// What a single-use account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTokenPurpose {
    /// A mailed password-reset link.
    PasswordReset,
    /// A mailed email-verification link.
    EmailVerification,
    /// The step between a right password and a second factor at login.
    Mfa,
}

impl AccountTokenPurpose {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::Mfa => "mfa",
        }
    }
}

/// A live (unexpired, unused) account token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTokenRow {
    /// Whose it is.
    pub user_id: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// Wrong answers given with it so far.
    pub failures: u32,
}

/// A user's TOTP factor. The secret is sealed when `encrypted` is set.
#[derive(Clone)]
pub struct TotpRow {
    /// The shared secret, or its ciphertext; wiped on drop.
    pub secret: Zeroizing<Vec<u8>>,
    /// Whether `secret` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// Whether a first code confirmed it (until then it does not guard
    /// login).
    pub confirmed: bool,
    /// The latest time step a code was accepted for; 0 for none.
    pub last_step: u64,
}

/// No secret.
impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("encrypted", &self.encrypted)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// One use to reserve in a throttle slot (see `accounts::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleCharge {
    /// The slot, `0..cap`.
    pub slot: u64,
    /// Uses allowed per window.
    pub limit: u32,
    /// The window's length in seconds, from its first use.
    pub window: u64,
}

/// What reserving a set of charges led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every charge was taken: the end of each one's window, in the order
    /// given (a refund names it, so that it never lands in a later window).
    Admitted(Vec<u64>),
    /// One slot was full: nothing was taken; retry in this many seconds.
    Refused {
        /// Seconds until the fullest window ends.
        retry_after: u64,
    },
}

/// The form of an email that accounts (and their limits) are unique by:
/// trimmed and lower-cased by Unicode's rules, the same on every backend,
/// so `ÄNN@example.com` and `änn@example.com` are one address.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The `email_key` of each existing user when the column is introduced:
/// `users` as (id, email) in order of creation. Where two accounts fold to
/// one key (possible before, on SQLite, for non-ASCII letters), the older
/// keeps it and the newer gets none: it can no longer be found by email,
/// only by id, and is named so an operator can merge or delete it.
pub fn initial_email_keys(users: Vec<(String, String)>) -> Vec<(String, Option<String>)> {
    let mut seen = std::collections::HashSet::new();
    users
        .into_iter()
        .map(|(id, email)| {
            let key = email_key(&email);
            if seen.insert(key.clone()) {
                (id, Some(key))
            } else {
                tracing::warn!(
                    user = %id,
                    "an older account has the same email once case is folded; \
                     this one can be found by id only (merge or delete it)"
                );
                (id, None)
            }
        })
        .collect()
}

/// What a revocation-log entry revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// One access token, by `jti`; `at` is its `exp`.
    Token,
    /// A session, by `sid`; `at` is when it ended.
    Session,
    /// A client's earlier tokens; `at` is the cut-off.
    Client,
    /// A subject's earlier tokens; `at` is the cut-off.
    Subject,
}

impl LogKind {
    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "token" => Some(Self::Token),
            "session" => Some(Self::Session),
            "client" => Some(Self::Client),
            "subject" => Some(Self::Subject),
            _ => None,
        }
    }
}

/// One revocation as the log recorded it, at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Where it stands in the log: positions grow in commit order.
    pub position: i64,
    /// What it revokes.
    pub kind: LogKind,
    /// The `jti`, `sid`, `client_id` or `sub`.
    pub id: String,
    /// See [`LogKind`]: an expiry, an end or a cut-off, Unix seconds.
    pub at: u64,
    /// For a subject cut-off: the session it spares.
    pub except_sid: Option<String>,
}

/// Where the revocation log stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Names the database the positions belong to.
    pub epoch: String,
    /// The last position recorded.
    pub position: i64,
    /// The highest position purged: a reader at an earlier position may
    /// have missed entries.
    pub purged_through: i64,
}

/// Entries read from the log, and where it stood when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// The log's head, read before the entries.
    pub head: LogHead,
    /// Entries after the position asked for, at most to `head.position`,
    /// in order.
    pub entries: Vec<LogEntry>,
}

/// The kinds of rows that expire, each purged on its own (see
/// [`Purge`](super::contract::Purge)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiring {
    /// Refresh sessions past their expiry, live or ended.
    RefreshSessions,
    /// DPoP bindings of sessions without a live refresh token.
    DpopBindings,
    /// Revoked access tokens past their `exp`.
    RevokedTokens,
    /// Revocation-log entries no token depends on any more.
    RevocationLog,
    /// Client and subject cut-offs whose tokens have all expired.
    Cutoffs,
    /// Authorization grants past their expiry whose session has no refresh
    /// token left (codes expire long before).
    Grants,
    /// Browser sessions expired or ended.
    BrowserSessions,
    /// Mailed-link and sign-in-step tokens past their expiry.
    AccountTokens,
    /// Throttle slots whose window ended.
    ThrottleSlots,
    /// Remembered sign-ins older than the trust period.
    TrustedSignIns,
}

impl Expiring {
    /// Every kind, in the order a purge pass takes them.
    pub const ALL: [Self; 10] = [
        Self::RefreshSessions,
        Self::DpopBindings,
        Self::RevokedTokens,
        Self::RevocationLog,
        Self::Cutoffs,
        Self::Grants,
        Self::BrowserSessions,
        Self::AccountTokens,
        Self::ThrottleSlots,
        Self::TrustedSignIns,
    ];
}

/// When rows of each kind count as expired, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeHorizon {
    /// Now: rows with an expiry at or before this go.
    pub now: u64,
    /// Ended sessions and cut-offs at or before this go: every access token
    /// they cover has expired (one access-token lifetime and the grace).
    pub ended_before: u64,
    /// Remembered sign-ins older than this go.
    pub trusted_since: u64,
}

/// Consent rows `(client_id, scope)` in client order, one entry per client
/// with the union of its approved scopes, sorted.
pub(crate) fn merge_consents(rows: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (client, scope) in rows {
        if out.last().is_none_or(|(c, _)| *c != client) {
            out.push((client, Vec::new()));
        }
        if let Some((_, scopes)) = out.last_mut() {
            for s in scope.split_ascii_whitespace() {
                if !scopes.iter().any(|t| t == s) {
                    scopes.push(s.to_owned());
                }
            }
        }
    }
    out.into_iter()
        .map(|(client, mut scopes)| {
            scopes.sort_unstable();
            (client, scopes.join(" "))
        })
        .collect()
}
