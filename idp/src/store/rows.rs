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
}

/// Everything but the secret's digest.
impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("admin", &self.admin)
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
