//! The client registry: who may use the client_credentials grant, with
//! which scopes, and how a presented secret is checked; and, for browser
//! sign-in, where a client's users may be sent back (`redirect_uris.rs`
//! says which URIs may be registered), whether it is public (no secret:
//! PKCE alone) and whether its users must approve its scopes (consent).
//!
//! Secrets are generated here (256 random bits), shown once, and stored as
//! SHA-256. A fast digest is right for secrets of that entropy (no dictionary
//! to search), and keeps the token endpoint from being bcrypt-bound; the
//! comparison is constant-time. A secret is replaced by
//! [`rotate_secret`]: at once, with an overlap during which the old one
//! keeps working (a routine rotation), or with every token the client holds
//! cut off (a leaked secret).

use subtle::ConstantTimeEq;

use crate::redirect_uris::{self, UriError};
use crate::scope::parse_scope;
use crate::secret::{digest, random_secret, Secret};
use crate::store::{ClientRow, SecretRotation, Store, StoreError};

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
    /// A redirect URI cannot be registered.
    #[error("redirect URI {index}: {why}")]
    BadRedirectUri {
        /// Its position in the list, from 1.
        index: usize,
        /// Why.
        why: UriError,
    },
    /// A post-logout redirect URI cannot be registered.
    #[error("post-logout redirect URI {index}: {why}")]
    BadPostLogoutUri {
        /// Its position in the list, from 1.
        index: usize,
        /// Why.
        why: UriError,
    },
    /// A public client with nothing to redirect to could never be used.
    #[error("a public client needs at least one redirect URI")]
    PublicWithoutRedirect,
    /// A public client cannot hold the `admin` scope: it has no secret.
    #[error("a public client cannot be an admin client")]
    PublicAdmin,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

/// What a client is registered with.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// The client id.
    pub client_id: String,
    /// Scopes it may request, space-separated.
    pub scope: String,
    /// Whether it manages the registry and keys (adds `admin`).
    pub admin: bool,
    /// Exact redirect URIs for the authorization code flow.
    pub redirect_uris: Vec<String>,
    /// No secret: PKCE alone (`token_endpoint_auth_method: none`).
    pub public: bool,
    /// Users approve its scopes once (a third-party client).
    pub consent: bool,
    /// Where `/end_session` may send the browser back.
    pub post_logout_redirect_uris: Vec<String>,
}

/// A registration, with the secret that is shown this once (its `Debug`
/// does not show it); public clients have none.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The stored client (only the secret's digest).
    pub client: ClientRow,
    /// The secret, in clear, for the caller to hand over; `None` for a
    /// public client.
    pub client_secret: Option<Secret>,
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

/// Registers a confidential service client at `now` (no browser
/// settings). `admin` adds the `admin` scope.
pub async fn register(
    store: &Store,
    client_id: &str,
    scope: &str,
    admin: bool,
    now: u64,
) -> Result<Registered, RegistryError> {
    let spec = ClientSpec {
        client_id: client_id.to_owned(),
        scope: scope.to_owned(),
        admin,
        ..ClientSpec::default()
    };
    let secret = random_secret();
    let client = insert(store, &spec, Some(&secret), now).await?;
    Ok(Registered {
        client_id: client.client_id,
        client_secret: secret,
        scope: client.scope,
        admin: client.admin,
    })
}

/// Registers a client as `spec` describes, at `now`: a secret is made for
/// a confidential client, none for a public one.
pub async fn register_client(
    store: &Store,
    spec: &ClientSpec,
    now: u64,
) -> Result<RegisteredClient, RegistryError> {
    let secret = (!spec.public).then(random_secret);
    let client = insert(store, spec, secret.as_ref(), now).await?;
    Ok(RegisteredClient {
        client,
        client_secret: secret,
    })
}

/// Checks `spec` and stores it with the digest of `secret` (an empty
/// digest, which no secret matches, for a public client).
async fn insert(
    store: &Store,
    spec: &ClientSpec,
    secret: Option<&Secret>,
    now: u64,
) -> Result<ClientRow, RegistryError> {
    if !valid_client_id(&spec.client_id) {
        return Err(RegistryError::BadId);
    }
    let mut scopes = parse_scope(&spec.scope).map_err(|_| RegistryError::BadScope)?;
    let admin = spec.admin || scopes.iter().any(|s| s == ADMIN_SCOPE);
    if admin && !scopes.iter().any(|s| s == ADMIN_SCOPE) {
        scopes.push(ADMIN_SCOPE.to_owned());
    }
    if spec.public && admin {
        return Err(RegistryError::PublicAdmin);
    }
    if spec.public && spec.redirect_uris.is_empty() {
        return Err(RegistryError::PublicWithoutRedirect);
    }
    let redirect_uris = checked_uris(&spec.redirect_uris)
        .map_err(|(index, why)| RegistryError::BadRedirectUri { index, why })?;
    let post_logout_redirect_uris = checked_uris(&spec.post_logout_redirect_uris)
        .map_err(|(index, why)| RegistryError::BadPostLogoutUri { index, why })?;
    let row = ClientRow {
        client_id: spec.client_id.clone(),
        secret_hash: secret.map(|s| digest(s.expose())).unwrap_or_default(),
        scope: scopes.join(" "),
        admin,
        created_at: now,
        redirect_uris,
        public: spec.public,
        consent: spec.consent,
        post_logout_redirect_uris,
        previous_secret: None,
    };
    let stored = row.clone();
    store
        .run(move |db| db.insert_client(&stored))
        .await
        .map_err(|e| match e {
            StoreError::Conflict => RegistryError::Taken,
            other => RegistryError::Store(other),
        })?;
    Ok(row)
}

/// Validated URIs, duplicates dropped, order kept; or the first bad one's
/// position (from 1) and why.
fn checked_uris(uris: &[String]) -> Result<Vec<String>, (usize, UriError)> {
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for (i, uri) in uris.iter().enumerate() {
        redirect_uris::validate(uri).map_err(|why| (i + 1, why))?;
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    Ok(out)
}

/// `token_endpoint_auth_method` of a client, as RFC 7591 names it.
pub fn auth_method(client: &ClientRow) -> &'static str {
    if client.public {
        "none"
    } else {
        "client_secret_basic"
    }
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

/// Whether `secret` is the client's secret at `now`, or the one it
/// replaced while that still works (constant-time). A public client has no
/// secret, and nothing matches.
pub fn secret_matches(client: &ClientRow, secret: &str, now: u64) -> bool {
    if client.public {
        return false;
    }
    let presented = digest(secret);
    let current = presented.ct_eq(&client.secret_hash);
    let previous = match &client.previous_secret {
        Some(p) => presented.ct_eq(&p.hash) & subtle::Choice::from(u8::from(now < p.expires_at)),
        None => subtle::Choice::from(0),
    };
    bool::from(current | previous)
}

/// The longest a replaced secret may keep working: 30 days.
pub const MAX_SECRET_OVERLAP: u64 = 30 * 86_400;

/// Why a secret was not rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateSecretError {
    /// No client has this id.
    #[error("no such client")]
    NotFound,
    /// A public client has no secret.
    #[error("a public client has no secret to rotate")]
    Public,
    /// The overlap asked for is longer than [`MAX_SECRET_OVERLAP`].
    #[error("the old secret may keep working for at most 30 days")]
    OverlapTooLong,
    /// Keeping the old secret working and cutting off its tokens at once
    /// contradict each other.
    #[error("the old secret cannot both keep working and have its tokens revoked")]
    OverlapAndRevoke,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to replace a secret: the old one's overlap in seconds (0: it stops
/// working at once), and whether the client's tokens are cut off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotateSecret {
    /// Seconds the old secret keeps working.
    pub keep_old: u64,
    /// Cut off every token and refresh token the client holds.
    pub revoke_tokens: bool,
}

/// A rotated secret: the new one (shown this once) and until when the old
/// one works, if at all.
#[derive(Debug)]
pub struct RotatedSecret {
    /// The new secret.
    pub secret: Secret,
    /// Unix seconds; the old secret works until then.
    pub previous_expires_at: Option<u64>,
}

/// Gives a confidential client a new secret at `now`, as `how` says.
pub async fn rotate_secret(
    store: &Store,
    client_id: &str,
    how: RotateSecret,
    now: u64,
) -> Result<RotatedSecret, RotateSecretError> {
    if how.keep_old > MAX_SECRET_OVERLAP {
        return Err(RotateSecretError::OverlapTooLong);
    }
    let rotation = match how {
        RotateSecret {
            keep_old: 1..,
            revoke_tokens: true,
        } => return Err(RotateSecretError::OverlapAndRevoke),
        RotateSecret {
            revoke_tokens: true,
            ..
        } => SecretRotation::Revoke {
            issued_before: crate::revocations::cutoff_for(now),
        },
        RotateSecret { keep_old: 0, .. } => SecretRotation::Replace,
        RotateSecret { keep_old, .. } => SecretRotation::Overlap {
            until: now.saturating_add(keep_old),
        },
    };
    let id = client_id.to_owned();
    let client = store
        .run(move |db| db.client(&id))
        .await?
        .ok_or(RotateSecretError::NotFound)?;
    if client.public {
        return Err(RotateSecretError::Public);
    }
    let secret = random_secret();
    let hash = digest(secret.expose());
    let id = client_id.to_owned();
    if !store
        .run(move |db| db.rotate_client_secret(&id, &hash, rotation))
        .await?
    {
        // Deleted (or made public) meanwhile.
        return Err(RotateSecretError::NotFound);
    }
    Ok(RotatedSecret {
        secret,
        previous_expires_at: match rotation {
            SecretRotation::Overlap { until } => Some(until),
            _ => None,
        },
    })
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
            redirect_uris: Vec::new(),
            public: false,
            consent: false,
            post_logout_redirect_uris: Vec::new(),
            previous_secret: None,
        };
        assert!(secret_matches(&client, secret, 0));
        assert!(!secret_matches(&client, random_secret().expose(), 0));
        assert!(!secret_matches(&client, "", 0));
    }

    #[test]
    fn a_replaced_secret_matches_only_until_its_expiry() {
        let (old, new) = (random_secret(), random_secret());
        let client = ClientRow {
            client_id: "c".into(),
            secret_hash: digest(new.expose()),
            scope: String::new(),
            admin: false,
            created_at: 0,
            redirect_uris: Vec::new(),
            public: false,
            consent: false,
            post_logout_redirect_uris: Vec::new(),
            previous_secret: Some(crate::store::PreviousSecret {
                hash: digest(old.expose()),
                expires_at: 1000,
            }),
        };
        assert!(secret_matches(&client, new.expose(), 999));
        assert!(secret_matches(&client, old.expose(), 999));
        assert!(!secret_matches(&client, old.expose(), 1000));
        assert!(secret_matches(&client, new.expose(), 1000));
        let public = ClientRow {
            public: true,
            ..client
        };
        assert!(!secret_matches(&public, old.expose(), 0));
    }
}
