//! [`AppState`]: everything a handler needs, assembled once at start-up
//! from a [`Config`] and cheap to clone (one `Arc` inside).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::accounts::policy::SignInPolicy;
use crate::config::Config;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::passwords::Passwords;
use crate::revocations::Revocations;
use crate::signer;
use crate::signing_keys::KeyManager;
use crate::store::Store;
use crate::throttle::ThrottlePolicy;
use crate::tokens::TokenIssuer;
use crate::vault::Vault;

/// Settings handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of every token, exactly as configured.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl: u64,
    /// Browser sign-in session lifetime.
    pub session_ttl: u64,
    /// `/jwks`'s `Cache-Control` (`public, max-age=<--jwks-max-age>`),
    /// built once.
    pub jwks_cache_control: http::HeaderValue,
    /// Who may sign in (`--require-email-verification`).
    pub sign_in: SignInPolicy,
}

/// Shared state of all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: Settings,
    store: Store,
    keys: Arc<KeyManager>,
    tokens: TokenIssuer,
    passwords: Passwords,
    revocations: Arc<Revocations>,
    /// The IdP's own keys, handed to its validator in-process.
    local_keys: resource_server::LocalKeys,
    validator: resource_server::Validator,
    /// Validates tokens for any audience this IdP issues (registered APIs
    /// included), for `/introspect` and `/revoke`.
    introspector: resource_server::Validator,
    /// Verifies DPoP proofs, with one replay cache for the token endpoint
    /// and the bearer endpoints.
    dpop: resource_server::dpop::DpopVerifier,
    metrics: Metrics,
    throttle: ThrottlePolicy,
    throttle_secret: tokio::sync::OnceCell<Vec<u8>>,
    trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    mailer: Mailer,
    /// Seals TOTP secrets at rest, as it seals private keys.
    vault: Vault,
}

impl AppState {
    /// Opens the database and key set described by `config`, for an IdP
    /// reachable at `issuer`.
    pub async fn open(config: &Config, issuer: String) -> anyhow::Result<Self> {
        signer::install();
        let vault = Vault::from_secrets(
            config.key_encryption_key.as_deref(),
            config.previous_key_encryption_key.as_deref(),
        )?;
        let (location, options) = (config.db.clone(), config.store);
        let store = tokio::task::spawn_blocking(move || Store::open_with(&location, &options))
            .await
            .context("opening the database")?
            .with_context(|| format!("opening the database {}", config.db))?;
        tracing::info!(db = %config.db, "database opened");
        let mailer = Mailer::new(&config.mail).context("setting up mail")?;
        crate::accounts::totp_at_rest::seal_stored(&store, &vault)
            .await
            .context("encrypting stored TOTP secrets")?;
        let keys = Arc::new(
            KeyManager::start_signing(
                store.clone(),
                vault.clone(),
                config.key_bits,
                config.rotation_policy(),
            )
            .await
            .context("loading signing keys")?,
        );
        let cost = config.bcrypt_cost;
        let workers = config.hash_workers.max(1);
        let passwords = tokio::task::spawn_blocking(move || {
            Passwords::new(cost, workers, 8 * workers, Duration::from_secs(10))
        })
        .await
        .context("preparing the password hasher")??;
        let audience = config.audience.clone().unwrap_or_else(|| issuer.clone());
        let revocations = Arc::new(Revocations::load(store.clone(), config.access_ttl).await?);
        let tokens = TokenIssuer::new(
            issuer.clone(),
            audience.clone(),
            config.access_ttl,
            Arc::clone(&keys),
            revocations.list().clone(),
        );
        let local_keys = resource_server::LocalKeys::new();
        local_keys
            .set_json(&keys.ring().jwks_body)
            .context("publishing keys to the in-process validator")?;
        let own_tokens = || {
            resource_server::Validator::builder(issuer.clone(), local_keys.clone())
                .require(resource_server::RequiredClaim::Jti)
                .require(resource_server::RequiredClaim::ClientId)
                .revocations(revocations.list().clone())
        };
        let validator = own_tokens().audience(audience.clone()).build();
        let introspector = own_tokens().any_audience().build();
        Ok(Self(Arc::new(Inner {
            settings: Settings {
                issuer,
                audience,
                access_ttl: config.access_ttl,
                refresh_ttl: config.refresh_ttl,
                session_ttl: config.session_ttl,
                jwks_cache_control: http::HeaderValue::try_from(format!(
                    "public, max-age={}",
                    config.jwks_max_age
                ))
                .expect("ASCII text and digits are a header value"),
                sign_in: SignInPolicy {
                    require_email_verification: config.require_email_verification,
                },
            },
            store,
            keys,
            tokens,
            passwords,
            revocations,
            local_keys,
            validator,
            introspector,
            dpop: resource_server::dpop::DpopVerifier::default(),
            metrics: Metrics::default(),
            throttle: ThrottlePolicy {
                address_rate: config.login_rate,
                slots: config.throttle_slots.max(1),
            },
            throttle_secret: tokio::sync::OnceCell::new(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            mailer,
            vault,
        })))
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }
    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyManager> {
        &self.0.keys
    }
    /// The token issuer.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.0.tokens
    }
    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }
    /// Revoked access tokens.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.0.revocations
    }
    /// Limits on `/login` attempts.
    pub fn throttle_policy(&self) -> ThrottlePolicy {
        self.0.throttle
    }

    /// Proxies whose forwarding headers name the client address.
    pub fn trusted_proxies(&self) -> &Arc<Vec<ipnet::IpNet>> {
        &self.0.trusted_proxies
    }

    /// The deployment's throttle secret, once read from the database.
    pub fn throttle_secret(&self) -> &tokio::sync::OnceCell<Vec<u8>> {
        &self.0.throttle_secret
    }
    /// Outgoing mail.
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }
    /// Seals secrets at rest (`IDP_KEY_ENCRYPTION_KEY`).
    pub fn vault(&self) -> &Vault {
        &self.0.vault
    }
    /// Counters for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    /// Validates this IdP's access tokens in-process.
    pub fn validator(&self) -> &resource_server::Validator {
        &self.0.validator
    }
    /// Validates this IdP's access tokens for any audience it issues.
    pub fn introspector(&self) -> &resource_server::Validator {
        &self.0.introspector
    }
    /// Verifies DPoP proofs (token endpoint and bearer endpoints).
    pub fn dpop(&self) -> &resource_server::dpop::DpopVerifier {
        &self.0.dpop
    }
    /// The key set the in-process validator trusts.
    pub fn local_keys(&self) -> &resource_server::LocalKeys {
        &self.0.local_keys
    }
}
