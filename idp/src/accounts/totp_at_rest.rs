//! TOTP secrets at rest: the label each is sealed under (with
//! `IDP_KEY_ENCRYPTION_KEY`, see [`Vault`]), and sealing in place the ones
//! stored before that key was configured. Below the application state, so
//! that opening it can call this.

use crate::store::{Store, StoreError};
use crate::vault::Vault;

/// The label a user's TOTP secret is sealed under: the AEAD's associated
/// data, so that a sealed secret cannot be moved to another user.
pub fn label(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// Encrypts, in place, the TOTP secrets stored before an encryption key was
/// configured (at start, when `vault` has one); how many.
pub async fn seal_stored(store: &Store, vault: &Vault) -> Result<usize, StoreError> {
    if !vault.encrypts() {
        return Ok(0);
    }
    let unsealed = store.run(|db| db.unsealed_totp()).await?;
    let mut sealed_now = 0;
    for (user_id, secret) in unsealed {
        let (sealed, encrypted) = vault.seal(&label(&user_id), &secret);
        if encrypted && store.run(move |db| db.seal_totp(&user_id, &sealed)).await? {
            sealed_now += 1;
        }
    }
    if sealed_now > 0 {
        store.run(|db| db.scrub()).await?;
        tracing::info!(
            sealed = sealed_now,
            "TOTP secrets stored before IDP_KEY_ENCRYPTION_KEY was set are now encrypted"
        );
    }
    Ok(sealed_now)
}
