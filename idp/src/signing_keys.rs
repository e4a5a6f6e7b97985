//! The signing keys of a running IdP.
//!
//! Which keys exist: exactly one `current` key signs every token; one `next`
//! key is already published in `/jwks` so validators know it before it
//! signs; `retired` keys stay published until their tokens have expired.
//! Who reads them: the token issuer (the current key, parsed once per
//! change), the `/jwks` handler (the public set, serialized once per change,
//! with its ETag), and the IdP's own bearer-token layer.
//! When they change: on `idp keys rotate`/`prune` from any process sharing
//! the database, on `POST /admin/keys/rotate`, or on the `--rotate-every`
//! schedule. Every instance polls a change counter every few seconds (and
//! reloads at once on SIGHUP), then swaps in a new [`KeyRing`] atomically:
//! requests in flight keep the snapshot they started with.
//! A serving instance records its access-token lifetime and JWKS max-age on
//! the current and next keys before a snapshot that signs with them is
//! swapped in, so that whoever prunes keeps a retired key published until
//! the longest-lived of its tokens has expired, whatever the pruner's own
//! flags say.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::EncodingKey;
use keys::rotation::{
    KeyRecord, KeyState, Lifetimes, RotationError, RotationPlan, RotationPolicy, RotationTrigger,
};
use keys::{Jwks, PublicJwk, SigningKey};
use tokio::sync::watch;

use crate::etag::strong_etag;
use crate::store::{KeyChange, Store, StoreError, StoredKey};
use crate::unix_now;
use crate::vault::{Opened, Vault, VaultError};

/// Errors managing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A private key could not be decrypted.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Key material is unusable.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// The stored key set is unusable (no current key, bad JWK).
    #[error("the stored key set is unusable: {0}")]
    Corrupt(String),
    /// A rotation was refused.
    #[error(transparent)]
    Rotation(#[from] RotationError),
}

/// One consistent snapshot of the key set.
pub struct KeyRing {
    /// The kid of the signing key.
    pub current_kid: String,
    /// The signing key, parsed once.
    pub encoding_key: EncodingKey,
    /// The published set.
    pub jwks: Jwks,
    /// `/jwks` body, serialized once per change.
    pub jwks_body: bytes::Bytes,
    /// Strong ETag of `jwks_body`.
    pub etag: http::HeaderValue,
    /// The database change counter this snapshot reflects.
    pub version: i64,
    /// Every stored key's state and dates, oldest first.
    pub records: Vec<KeyRecord>,
}

impl KeyRing {
    /// When a schedule of one rotation `every` seconds wants the next one,
    /// as the database says (not as this process remembers): restarts
    /// neither skip nor repeat a rotation.
    pub fn rotation_due_at(&self, every: u64) -> Option<u64> {
        RotationPolicy::rotation_due_at(&self.records, every)
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current_kid", &self.current_kid)
            .field("published", &self.jwks.keys.len())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Loads, caches, rotates and prunes signing keys.
#[derive(Debug)]
pub struct KeyManager {
    store: Store,
    vault: Vault,
    bits: u32,
    policy: RotationPolicy,
    /// Whether this process signs with the keys (and so declares its
    /// lifetimes on them); command-line tools only read and rotate.
    signs: bool,
    ring: ArcSwap<KeyRing>,
    changes: watch::Sender<Arc<KeyRing>>,
}

impl KeyManager {
    /// Opens the key set, generating the initial `current` and `next` keys
    /// if the database has none, and loads it, for a process that signs
    /// tokens living `policy.access_ttl`: its lifetimes are declared on the
    /// keys it signs with.
    pub async fn start_signing(
        store: Store,
        vault: Vault,
        bits: u32,
        policy: RotationPolicy,
    ) -> Result<Self, KeyManagerError> {
        Self::open(store, vault, bits, policy, true).await
    }

    /// Opens the key set, generating the initial keys if there are none,
    /// for a process that does not sign (the command-line tools).
    pub async fn start(
        store: Store,
        vault: Vault,
        bits: u32,
        policy: RotationPolicy,
    ) -> Result<Self, KeyManagerError> {
        Self::open(store, vault, bits, policy, false).await
    }

    async fn open(
        store: Store,
        vault: Vault,
        bits: u32,
        policy: RotationPolicy,
        signs: bool,
    ) -> Result<Self, KeyManagerError> {
        let existing = store.run(|db| db.list_keys()).await?;
        if vault.encrypts() {
            seal_stored(&store, &vault, &existing).await?;
        }
        let has = |s| existing.iter().any(|k: &StoredKey| k.record.state == s);
        if !has(KeyState::Current) || !has(KeyState::Next) {
            let now = unix_now();
            let current = generate(&vault, bits, KeyState::Current, now).await?;
            let next = generate(&vault, bits, KeyState::Next, now).await?;
            let stored = store.run(move |db| db.ensure_keys(&current, &next)).await?;
            tracing::info!(stored, "generated initial signing keys");
        }
        let declare = signs.then(|| policy.lifetimes());
        let ring = load(&store, &vault, declare).await?;
        let ring = Arc::new(ring);
        let (changes, _) = watch::channel(Arc::clone(&ring));
        Ok(Self {
            store,
            vault,
            bits,
            policy,
            signs,
            ring: ArcSwap::new(ring),
            changes,
        })
    }

    /// The current snapshot.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// Subscribes to key-set changes (each new snapshot is sent).
    pub fn subscribe(&self) -> watch::Receiver<Arc<KeyRing>> {
        self.changes.subscribe()
    }

    /// Every stored key (metadata and sealed private key), oldest first.
    pub async fn stored_keys(&self) -> Result<Vec<StoredKey>, KeyManagerError> {
        Ok(self.store.run(|db| db.list_keys()).await?)
    }

    /// The rotation policy in force.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// Reloads if another process changed the key set. Returns whether it did.
    pub async fn reload_if_changed(&self) -> Result<bool, KeyManagerError> {
        let version = self
            .store
            .run(|db| db.change_counter("signing_keys"))
            .await?;
        if version == self.ring.load().version {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Reloads unconditionally.
    pub async fn reload(&self) -> Result<(), KeyManagerError> {
        let declare = self.signs.then(|| self.policy.lifetimes());
        let ring = Arc::new(load(&self.store, &self.vault, declare).await?);
        let previous = self.ring.swap(Arc::clone(&ring));
        if previous.current_kid != ring.current_kid {
            tracing::info!(kid = %ring.current_kid, "now signing with a new key");
        }
        self.changes.send_replace(ring);
        Ok(())
    }

    /// Rotates: `next` → `current` → `retired`, plus a fresh `next`, if
    /// the rules allow it for `trigger`.
    pub async fn rotate(&self, trigger: RotationTrigger) -> Result<RotationPlan, KeyManagerError> {
        let now = unix_now();
        let new_next = generate(&self.vault, self.bits, KeyState::Next, now).await?;
        let policy = self.policy;
        match self
            .store
            .run(move |db| db.rotate_keys(policy, now, trigger, &new_next))
            .await?
        {
            KeyChange::Rotated(plan) => {
                self.reload().await?;
                tracing::info!(promoted = %plan.promote, retired = ?plan.retire, "rotated signing keys");
                Ok(plan)
            }
            KeyChange::Refused(why) => Err(why.into()),
        }
    }

    /// Removes retired keys past their grace period.
    pub async fn prune(&self) -> Result<Vec<String>, KeyManagerError> {
        let (policy, now) = (self.policy, unix_now());
        let pruned = self.store.run(move |db| db.prune_keys(policy, now)).await?;
        if !pruned.is_empty() {
            self.reload().await?;
            tracing::info!(?pruned, "pruned retired signing keys");
        }
        Ok(pruned)
    }

    /// Watches for changes made by other processes: polls every `interval`,
    /// and reloads at once on SIGHUP. Runs until the task is dropped.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.reload_if_changed().await {
                        tracing::warn!(error = %e, "checking the key set failed; keeping the current one");
                    }
                }
                _ = hup => {
                    tracing::info!("SIGHUP: reloading the key set");
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "reloading the key set failed; keeping the current one");
                    }
                }
            }
        }
    }
}

/// Generates a key on the blocking pool and seals it for storage.
pub async fn generate(
    vault: &Vault,
    bits: u32,
    state: KeyState,
    now: u64,
) -> Result<StoredKey, KeyManagerError> {
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(bits))
        .await
        .map_err(|_| KeyManagerError::Corrupt("key generation task failed".into()))??;
    let (private_key, encrypted) = vault.seal(key.kid(), key.private_pem());
    let public_jwk = serde_json::to_string(key.public_jwk())
        .map_err(|e| KeyManagerError::Corrupt(e.to_string()))?;
    Ok(StoredKey {
        record: keys::KeyRecord {
            kid: key.kid().to_owned(),
            state,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
            signed_with: Lifetimes::default(),
        },
        private_key,
        encrypted,
        public_jwk,
        bits: key.bits(),
    })
}

/// Encrypts, in place, the private keys of `stored` that were stored before
/// an encryption key was configured, and reseals under the current key
/// those that only the previous one opens.
async fn seal_stored(
    store: &Store,
    vault: &Vault,
    stored: &[StoredKey],
) -> Result<(), KeyManagerError> {
    let mut sealed_now = 0;
    for key in stored.iter().filter(|k| !k.encrypted) {
        let (sealed, encrypted) = vault.seal(&key.record.kid, &key.private_key);
        if !encrypted {
            continue;
        }
        let kid = key.record.kid.clone();
        if store.run(move |db| db.seal_key(&kid, &sealed)).await? {
            sealed_now += 1;
        }
    }
    let resealed_now = reseal_previous(store, vault, stored).await?;
    if sealed_now > 0 {
        tracing::info!(
            sealed = sealed_now,
            "signing keys stored before IDP_KEY_ENCRYPTION_KEY was set are now encrypted"
        );
    }
    if sealed_now + resealed_now > 0 {
        store.run(|db| db.scrub()).await?;
    }
    Ok(())
}

/// Reseals under the current encryption key the private keys of `stored`
/// that only `IDP_PREVIOUS_KEY_ENCRYPTION_KEY` opens (each only if no other
/// instance changed it meanwhile); how many.
async fn reseal_previous(
    store: &Store,
    vault: &Vault,
    stored: &[StoredKey],
) -> Result<usize, KeyManagerError> {
    if !vault.rotating() {
        return Ok(0);
    }
    let mut resealed = 0;
    for key in stored.iter().filter(|k| k.encrypted) {
        let kid = key.record.kid.clone();
        let (pem, opened) = vault.open_detailed(&kid, &key.private_key, true)?;
        if opened != Opened::Previous {
            continue;
        }
        let (new, _) = vault.seal(&kid, &pem);
        let old = key.private_key.clone();
        if store.run(move |db| db.reseal_key(&kid, &old, &new)).await? {
            resealed += 1;
        }
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            "signing keys sealed with IDP_PREVIOUS_KEY_ENCRYPTION_KEY are now sealed with IDP_KEY_ENCRYPTION_KEY"
        );
    }
    Ok(resealed)
}

/// How many times a load declares lifetimes on keys that a concurrent
/// rotation keeps replacing before it gives up (and warns).
const DECLARE_ATTEMPTS: usize = 3;

/// Reads the key set and builds a snapshot. Every encrypted key is opened,
/// so a wrong encryption key is noticed at start-up, not at first rotation.
/// With `declare`, those lifetimes are first recorded on the current and
/// next keys that lack them, and the set read again, until the snapshot's
/// signing key carries them.
async fn load(
    store: &Store,
    vault: &Vault,
    declare: Option<Lifetimes>,
) -> Result<KeyRing, KeyManagerError> {
    // Read the counter first: a change racing with this load is then seen
    // again on the next poll rather than lost.
    let read = || store.run(|db| Ok((db.change_counter("signing_keys")?, db.list_keys()?)));
    let (mut version, mut stored) = read().await?;
    // A key sealed meanwhile by an instance still on the previous
    // encryption key: resealed under the current one, and the database
    // rewritten so that its old ciphertext does not stay in the files.
    if reseal_previous(store, vault, &stored).await? > 0 {
        if let Err(e) = store.run(|db| db.scrub()).await {
            tracing::warn!(
                error = %e,
                "rewriting the database after resealing failed; the ciphertext under \
                 IDP_PREVIOUS_KEY_ENCRYPTION_KEY may stay in its files until it is rewritten"
            );
        }
        (version, stored) = read().await?;
    }
    if let Some(lifetimes) = declare {
        for attempt in 1.. {
            let short: Vec<String> = stored
                .iter()
                .map(|k| &k.record)
                .filter(|r| matches!(r.state, KeyState::Current | KeyState::Next))
                .filter(|r| !r.signed_with.covers(&lifetimes))
                .map(|r| r.kid.clone())
                .collect();
            if short.is_empty() {
                break;
            }
            if attempt > DECLARE_ATTEMPTS {
                tracing::warn!(
                    keys = ?short,
                    "could not record this instance's token lifetime on the keys it signs with \
                     (rotated meanwhile); a prune with shorter lifetimes than this instance's \
                     may remove their keys early"
                );
                break;
            }
            store
                .run(move |db| db.declare_key_lifetimes(&short, lifetimes))
                .await?;
            (version, stored) = read().await?;
        }
    }
    let mut published = Vec::with_capacity(stored.len());
    let mut current = None;
    for key in &stored {
        let pem = vault.open(&key.record.kid, &key.private_key, key.encrypted)?;
        let jwk: PublicJwk = serde_json::from_str(&key.public_jwk).map_err(|e| {
            KeyManagerError::Corrupt(format!("public JWK of {}: {e}", key.record.kid))
        })?;
        if key.record.state == KeyState::Current {
            let encoding_key = EncodingKey::from_rsa_pem(&pem)
                .map_err(|_| KeyManagerError::Corrupt(format!("private key {}", key.record.kid)))?;
            current = Some((key.record.kid.clone(), encoding_key));
        }
        published.push(jwk);
    }
    let (current_kid, encoding_key) =
        current.ok_or_else(|| KeyManagerError::Corrupt("no current key".into()))?;
    // Newest first: validators that scan linearly find the signing key early.
    published.reverse();
    let jwks = Jwks { keys: published };
    let body = serde_json::to_vec(&jwks).map_err(|e| KeyManagerError::Corrupt(e.to_string()))?;
    let etag = strong_etag(&body);
    Ok(KeyRing {
        current_kid,
        encoding_key,
        jwks,
        jwks_body: body.into(),
        etag,
        version,
        records: stored.into_iter().map(|k| k.record).collect(),
    })
}
