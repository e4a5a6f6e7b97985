//! The client registry: who may use the client_credentials grant, with
//! which scopes, and how a presented secret is checked.
//!
//! Secrets are generated here (256 random bits), shown once, and stored as
//! SHA-256. A fast digest is right for secrets of that entropy (no dictionary
//! to search), and keeps the token endpoint from being bcrypt-bound; the
//! comparison is constant-time.

use subtle::ConstantTimeEq;

use crate::scope::parse_scope;
use crate::secret::{digest, random_secret, Secret};
use crate::store::{ClientRow, Store, StoreError};

/// The scope that grants the registry and key administration.
pub const ADMIN_SCOPE: &str = "admin";

/// The `client_id` of tokens issued by `/login` (the IdP's own first-party
/// login, not a registered client).
pub const LOGIN_CLIENT_ID: &str = "login";

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The client id is empty, too long, has characters outside
    /// `A-Z a-z 0-9 . _ : -`, or is the reserved id of the IdP's own login.
    #[error(
        "client_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -, and not `login` (reserved)"
    )]
    BadId,
    /// A scope token has characters RFC 6749 §3.3 forbids.
    #[error("scope must be space-separated tokens of printable ASCII without \" or \\")]
    BadScope,
    /// The id is taken.
    #[error("a client with this id already exists")]
    Taken,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// A registration, with the secret that is shown this once (its `Debug`
/// does not show it).
#[derive(Debug)]
pub struct Registered {
    /// The client id.
    pub client_id: String,
    /// The secret, in clear, for the caller to hand over.
    pub client_secret: Secret,
    /// Normalized scopes.
    pub scope: String,
    /// Admin flag.
    pub admin: bool,
}

/// Whether `id` is an acceptable client id. `login` is reserved: it names
/// the sessions opened by `/login`, and a registered client of that name
/// could otherwise refresh them.
pub fn valid_client_id(id: &str) -> bool {
    id != LOGIN_CLIENT_ID
        && (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Registers a client at `now`. `admin` adds the `admin` scope.
pub async fn register(
    store: &Store,
    client_id: &str,
    scope: &str,
    admin: bool,
    now: u64,
) -> Result<Registered, RegistryError> {
    if !valid_client_id(client_id) {
        return Err(RegistryError::BadId);
    }
    let mut scopes = parse_scope(scope).map_err(|_| RegistryError::BadScope)?;
    let admin = admin || scopes.iter().any(|s| s == ADMIN_SCOPE);
    if admin && !scopes.iter().any(|s| s == ADMIN_SCOPE) {
        scopes.push(ADMIN_SCOPE.to_owned());
    }
    let scope = scopes.join(" ");
    let secret = random_secret();
    let row = ClientRow {
        client_id: client_id.to_owned(),
        secret_hash: digest(secret.expose()),
        scope: scope.clone(),
        admin,
        created_at: now,
    };
    store
        .run(move |db| db.insert_client(&row))
        .await
        .map_err(|e| match e {
            StoreError::Conflict => RegistryError::Taken,
            other => RegistryError::Store(other),
        })?;
    Ok(Registered {
        client_id: client_id.to_owned(),
        client_secret: secret,
        scope,
        admin,
    })
}

/// Deletes a client at `now`: it can no longer obtain tokens, its refresh
/// tokens are gone, and every token it holds is cut off (refused here and,
/// through the revocation feed, at every resource server); whether it
/// existed.
pub async fn delete(store: &Store, client_id: &str, now: u64) -> Result<bool, StoreError> {
    let id = client_id.to_owned();
    store
        .run(move |db| db.delete_client(&id, crate::revocations::cutoff_for(now)))
        .await
}

/// Whether `secret` is the client's secret (constant-time).
pub fn secret_matches(client: &ClientRow, secret: &str) -> bool {
    let presented = digest(secret);
    bool::from(presented.ct_eq(&client.secret_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(valid_client_id("billing-service:prod_1.0"));
        for bad in [
            "",
            "login",
            "has space",
            "semi;colon",
            "ünï",
            &"x".repeat(129),
        ] {
            assert!(!valid_client_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_compared_by_digest() {
        let secret = random_secret();
        let secret = secret.expose();
        assert!(secret.len() >= 43, "256 bits in base64url");
        let client = ClientRow {
            client_id: "c".into(),
            secret_hash: digest(secret),
            scope: String::new(),
            admin: false,
            created_at: 0,
        };
        assert!(secret_matches(&client, secret));
        assert!(!secret_matches(&client, random_secret().expose()));
        assert!(!secret_matches(&client, ""));
    }
}
