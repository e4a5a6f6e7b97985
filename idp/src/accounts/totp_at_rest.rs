//! TOTP secrets at rest: the label each is sealed under (with
//! `IDP_KEY_ENCRYPTION_KEY`, see [`Vault`]), and sealing in place the ones
//! stored before that key was configured. Below the application state, so
//! that opening it can call this.

use crate::store::{Store, StoreError};
use crate::vault::{Opened, Vault};

/// The label a user's TOTP secret is sealed under: the AEAD's associated
/// data, so that a sealed secret cannot be moved to another user.
pub fn label(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// Encrypts, in place, the TOTP secrets stored before an encryption key was
/// configured (at start, when `vault` has one), and reseals under the
/// current key those only the previous one opens; how many were sealed
/// (not counting the resealed ones).
pub async fn seal_stored(store: &Store, vault: &Vault) -> Result<usize, StoreError> {
    if !vault.encrypts() {
        return Ok(0);
    }
    let resealed = reseal_previous(store, vault).await?;
    let unsealed = store.run(|db| db.unsealed_totp()).await?;
    let mut sealed_now = 0;
    for (user_id, secret) in unsealed {
        let (sealed, encrypted) = vault.seal(&label(&user_id), &secret);
        if encrypted && store.run(move |db| db.seal_totp(&user_id, &sealed)).await? {
            sealed_now += 1;
        }
    }
    if sealed_now > 0 {
        tracing::info!(
            sealed = sealed_now,
            "TOTP secrets stored before IDP_KEY_ENCRYPTION_KEY was set are now encrypted"
        );
    }
    if sealed_now + resealed > 0 {
        store.run(|db| db.scrub()).await?;
    }
    Ok(sealed_now)
}

/// Reseals under the current key the sealed TOTP secrets that only
/// `IDP_PREVIOUS_KEY_ENCRYPTION_KEY` opens; how many. One that neither
/// opens is left for the sign-in that needs it to report.
async fn reseal_previous(store: &Store, vault: &Vault) -> Result<usize, StoreError> {
    if !vault.rotating() {
        return Ok(0);
    }
    let sealed = store.run(|db| db.sealed_totp()).await?;
    let mut resealed = 0;
    for (user_id, old) in sealed {
        let label = label(&user_id);
        let Ok((secret, Opened::Previous)) = vault.open_detailed(&label, &old, true) else {
            continue;
        };
        let (new, _) = vault.seal(&label, &secret);
        if store
            .run(move |db| db.reseal_totp(&user_id, &old, &new))
            .await?
        {
            resealed += 1;
        }
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            "TOTP secrets sealed with IDP_PREVIOUS_KEY_ENCRYPTION_KEY are now sealed with IDP_KEY_ENCRYPTION_KEY"
        );
    }
    Ok(resealed)
}
