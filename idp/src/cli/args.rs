//! The command line: flags and subcommands, parsed by clap. Every flag
//! reads an environment variable too, and every default works out of the
//! box: `idp serve` with no flags listens on 127.0.0.1:8080 with an SQLite
//! file in the working directory.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::mail::MailConfig;
use crate::store::{redact_url, DbLocation, StoreOptions};

/// RSA/JWKS identity provider.
#[derive(Debug, Parser)]
#[command(name = "idp", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as `json` (one object per line) or `text` [default: text
    /// when stderr is a terminal, json otherwise].
    #[arg(long, global = true, env = "IDP_LOG_FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<serve::LogFormat>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth 2.0 clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage the APIs clients may ask tokens for (RFC 8707 `resource`).
    #[command(subcommand)]
    Apis(ApisCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The revocation feed resource servers poll.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API (what
    /// `GET /openapi.json` serves) and exit.
    Openapi,
}

/// Where the data lives.
#[derive(Clone, Args)]
pub struct DbArgs {
    /// SQLite database file (created with owner-only permissions), or a
    /// PostgreSQL URL `postgres://user:password@host:port/dbname` shared by
    /// any number of IdP instances; `?sslmode=verify-full&sslrootcert=ca.pem`
    /// for TLS (rustls; `disable`, `prefer`, `require`, `verify-ca`, too).
    #[arg(long, env = "IDP_DB", default_value = "idp.db", hide_env_values = true)]
    pub db: String,
    /// Base64 of 32 random bytes; when set, private keys are stored
    /// encrypted with AES-256-GCM. Read from the environment only.
    #[arg(skip = std::env::var("IDP_KEY_ENCRYPTION_KEY").ok())]
    pub key_encryption_key: Option<String>,
    /// While rotating the encryption key: the key being replaced, which
    /// opens what it sealed (resealed under the new key at start). Read
    /// from the environment only.
    #[arg(skip = std::env::var("IDP_PREVIOUS_KEY_ENCRYPTION_KEY").ok())]
    pub previous_key_encryption_key: Option<String>,
}

/// Shows the URL without its password, and whether a key is set.
impl std::fmt::Debug for DbArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbArgs")
            .field("db", &redact_url(&self.db))
            .field("key_encryption_key", &self.key_encryption_key.is_some())
            .field(
                "previous_key_encryption_key",
                &self.previous_key_encryption_key.is_some(),
            )
            .finish()
    }
}

impl DbArgs {
    /// The database `--db` names: a PostgreSQL URL, or else an SQLite file.
    /// A malformed URL (or a CA file that cannot be read) is refused here,
    /// with its password redacted from the message.
    pub fn location(&self) -> anyhow::Result<DbLocation> {
        Ok(DbLocation::parse(&self.db)?)
    }
}

/// Token and cache lifetimes that key rotation must respect.
#[derive(Debug, Clone, Args)]
pub struct LifetimeArgs {
    /// Access-token lifetime, seconds.
    #[arg(long, env = "IDP_ACCESS_TTL", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub access_ttl: u64,
    /// `Cache-Control: max-age` of `/jwks`, seconds.
    #[arg(long, env = "IDP_JWKS_MAX_AGE", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub jwks_max_age: u64,
    /// Extra seconds a retired key stays published, for clock skew and
    /// validators that refresh late.
    #[arg(long, env = "IDP_PRUNE_MARGIN", default_value_t = keys::RotationPolicy::DEFAULT_MARGIN)]
    pub prune_margin: u64,
}

impl LifetimeArgs {
    /// The rotation policy these lifetimes imply.
    pub fn policy(&self) -> keys::RotationPolicy {
        keys::RotationPolicy {
            access_ttl: self.access_ttl,
            jwks_max_age: self.jwks_max_age,
            margin: self.prune_margin,
        }
    }
}

/// `idp serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "IDP_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Issuer URL (`iss` of every token): `https://` (or `http://`), a
    /// host, no query or fragment. Default: `http://` followed by the bound
    /// address.
    #[arg(long, env = "IDP_ISSUER", value_parser = parse_issuer)]
    pub issuer: Option<String>,
    /// Audience (`aud`) of access tokens. Default: the issuer.
    #[arg(long, env = "IDP_AUDIENCE", value_parser = parse_audience)]
    pub audience: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub lifetimes: LifetimeArgs,
    /// Refresh-token lifetime, seconds.
    #[arg(long, env = "IDP_REFRESH_TTL", default_value_t = 1_209_600, value_parser = clap::value_parser!(u64).range(60..))]
    pub refresh_ttl: u64,
    /// Browser sign-in session lifetime, seconds: how long single sign-on
    /// lasts before the sign-in page asks for the password again.
    #[arg(long, env = "IDP_SESSION_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..))]
    pub session_ttl: u64,
    /// Rotate keys on this schedule (e.g. `30d`, `12h`), pruning as well.
    #[arg(long, env = "IDP_ROTATE_EVERY", value_parser = parse_duration)]
    pub rotate_every: Option<Duration>,
    /// RSA modulus size for new keys.
    #[arg(long, env = "IDP_KEY_BITS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(2048..=8192))]
    pub key_bits: u32,
    /// bcrypt cost for new password hashes.
    #[arg(long, env = "IDP_BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
    /// Password hashes computed at once, each on a thread of its own; eight
    /// more per thread may wait, and beyond them logins are answered 503
    /// with `Retry-After` [default: one fewer than the cores, at least 1]
    #[arg(long, env = "IDP_HASH_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub hash_workers: Option<u16>,
    /// Login attempts per minute from one client address (burst of 30);
    /// 0 turns the per-address limit off (behind a proxy that hides client
    /// addresses, say). Failures per email are limited regardless.
    #[arg(long, env = "IDP_LOGIN_RATE", default_value_t = 60)]
    pub login_rate: u32,
    /// Counting slots of the attempt limits: the most rows they keep
    /// (about 40 bytes each), whatever is attempted.
    #[arg(long, env = "IDP_THROTTLE_SLOTS", default_value_t = crate::throttle::DEFAULT_SLOTS, value_parser = clap::value_parser!(u64).range(1..=(1 << 40)))]
    pub throttle_slots: u64,
    /// Reverse proxies (CIDRs, comma-separated) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client address for the limits;
    /// off by default (the peer address is the client).
    #[arg(long, env = "IDP_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PostgreSQL connections this instance keeps at most (SQLite uses one).
    #[arg(long, env = "IDP_DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// PostgreSQL: a statement running longer is cancelled (answered 503).
    #[arg(long, env = "IDP_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_timeout)]
    pub db_statement_timeout: Duration,
    /// PostgreSQL: a statement waiting longer for a row or table lock gives
    /// up (answered 503), so a stuck table fails only what needs it.
    #[arg(long, env = "IDP_DB_LOCK_TIMEOUT", default_value = "2s", value_parser = parse_timeout)]
    pub db_lock_timeout: Duration,
    /// Connections held at once; past it a new connection is closed at once.
    /// Lowered to fit under the open-file limit (raised to its hard limit).
    #[arg(long, env = "IDP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Serve `/metrics` on this address alone (say, a port only the
    /// monitoring network reaches) instead of beside the API.
    #[arg(long, env = "IDP_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// How often to check the database for key changes, seconds.
    #[arg(long, env = "IDP_KEY_POLL", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub key_poll: u64,
    #[command(flatten)]
    pub mail: MailArgs,
    /// Accounts sign in only after following the link mailed at signup, and
    /// signup answers 202 alike for new and taken addresses (the owner of a
    /// taken one is mailed instead).
    #[arg(long, env = "IDP_REQUIRE_EMAIL_VERIFICATION")]
    pub require_email_verification: bool,
}

/// Where mail goes.
#[derive(Clone, Args)]
pub struct MailArgs {
    /// SMTP relay: `smtp://[user:password@]host[:587]` (STARTTLS required;
    /// `?tls=opportunistic`, or `?tls=none` for a relay on this machine) or
    /// `smtps://host[:465]` (TLS); `&ca=/path/ca.pem` adds a trusted root.
    /// Unset: mail is written to --outbox.
    #[arg(long, env = "IDP_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From: address of the IdP's mail.
    #[arg(long, env = "IDP_MAIL_FROM", default_value = "idp <noreply@localhost>")]
    pub mail_from: String,
    /// Where mail is written (one .eml file per message, directory created
    /// owner-only) when no --smtp-url is set.
    #[arg(long, env = "IDP_OUTBOX", default_value = "outbox")]
    pub outbox: std::path::PathBuf,
}

/// The SMTP URL without its credentials.
impl std::fmt::Debug for MailArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailArgs")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("outbox", &self.outbox)
            .finish()
    }
}

impl ServeArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            db: self.db.location()?,
            key_encryption_key: self.db.key_encryption_key.clone(),
            previous_key_encryption_key: self.db.previous_key_encryption_key.clone(),
            access_ttl: self.lifetimes.access_ttl,
            refresh_ttl: self.refresh_ttl,
            session_ttl: self.session_ttl,
            jwks_max_age: self.lifetimes.jwks_max_age,
            prune_margin: self.lifetimes.prune_margin,
            rotate_every: self.rotate_every,
            key_bits: self.key_bits,
            bcrypt_cost: self.bcrypt_cost,
            hash_workers: self
                .hash_workers
                .map_or_else(crate::passwords::default_workers, usize::from),
            key_poll: Duration::from_secs(self.key_poll),
            login_rate: self.login_rate,
            throttle_slots: self.throttle_slots,
            trusted_proxies: self.trusted_proxies.clone(),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            store: StoreOptions {
                pool_size: self.db_pool_size,
                statement_timeout: self.db_statement_timeout,
                lock_timeout: self.db_lock_timeout,
            },
            mail: MailConfig {
                smtp_url: self
                    .mail
                    .smtp_url
                    .clone()
                    .filter(|url| !url.trim().is_empty()),
                from: self.mail.mail_from.clone(),
                outbox: self.mail.outbox.clone(),
            },
            require_email_verification: self.require_email_verification,
            metrics_bind: self.metrics_bind,
        })
    }
}

/// `idp keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Promote next -> current, current -> retired, and generate a new next.
    Rotate {
        /// Rotate even if the next key was published less than a JWKS max-age ago.
        #[arg(long)]
        force: bool,
        /// RSA modulus size for the new next key.
        #[arg(long, env = "IDP_KEY_BITS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(2048..=8192))]
        key_bits: u32,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        lifetimes: LifetimeArgs,
    },
    /// List every key with its state and dates, and when the schedule
    /// rotates next.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        lifetimes: LifetimeArgs,
        /// The schedule `idp serve --rotate-every` runs, to show when it
        /// rotates next (the same environment variable).
        #[arg(long, env = "IDP_ROTATE_EVERY", value_parser = parse_duration)]
        rotate_every: Option<Duration>,
    },
    /// Remove retired keys whose tokens have expired and caches refreshed.
    Prune {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        lifetimes: LifetimeArgs,
    },
}

/// What `idp clients create` registers.
#[derive(Debug, Clone, Args)]
pub struct NewClientArgs {
    /// Client id.
    #[arg(long)]
    pub id: String,
    /// Scopes the client may request, space-separated.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Allow the client to manage clients and keys (grants scope `admin`).
    #[arg(long)]
    pub admin: bool,
    /// A redirect URI for browser sign-in, matched exactly (repeat for
    /// several): https, http on loopback, or a reverse-domain scheme
    /// such as com.example.app:/cb for native apps.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A public client (single-page or native app): no secret, PKCE
    /// alone; its loopback redirect URIs match on any port.
    #[arg(long)]
    pub public: bool,
    /// A third-party client: users approve its scopes once.
    #[arg(long)]
    pub consent: bool,
    /// Where `/end_session` may send the browser back (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
}

impl From<NewClientArgs> for crate::clients::ClientSpec {
    fn from(a: NewClientArgs) -> Self {
        Self {
            client_id: a.id,
            scope: a.scope,
            admin: a.admin,
            redirect_uris: a.redirect_uris,
            public: a.public,
            consent: a.consent,
            post_logout_redirect_uris: a.post_logout_redirect_uris,
        }
    }
}

/// `idp clients ...`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its secret once.
    Create {
        #[command(flatten)]
        client: NewClientArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a client.
    Delete {
        /// Client id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List clients.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Give a confidential client a new secret; prints it once. The old
    /// secret stops working at once unless `--keep-old` gives it time.
    RotateSecret {
        /// Client id.
        #[arg(long)]
        id: String,
        /// How long the old secret keeps working beside the new one
        /// (`1h`, `7d`, plain seconds; at most 30 days), so that every
        /// instance of the client can be given the new one first.
        #[arg(long, value_parser = parse_overlap, conflicts_with = "revoke_tokens")]
        keep_old: Option<Duration>,
        /// Also end every token and refresh token the client holds (a
        /// leaked secret): refused here at once and, through the revocation
        /// feed, by resource servers.
        #[arg(long)]
        revoke_tokens: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `idp revocations ...`.
#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// Give the feed a new identity, after restoring a backup: the restored
    /// database would hand out again positions the old one had used for
    /// other revocations, and a resource server holding such a cursor would
    /// miss them. With a new identity every cursor is answered `410`, and
    /// each resource server reads the feed whole at its next poll.
    RenewFeed {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `idp apis ...`.
#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Register an API: a client's `resource=URI` then gets a token whose
    /// `aud` is that URI alone.
    Create {
        /// The API's identifier: an absolute URI without a fragment, the
        /// `aud` its resource server checks.
        #[arg(long)]
        resource: String,
        /// Scopes the API offers, space-separated; its tokens carry no
        /// other (default: any the client has).
        #[arg(long, default_value = "")]
        scope: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove an API.
    Delete {
        /// The API's identifier.
        #[arg(long)]
        resource: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List APIs.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `idp users ...`. Changes that end sessions are picked up by running
/// instances (and published in their revocation feed) within --key-poll.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users: id, email, state, scopes.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show one user.
    Show {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable a user: no sign-in by any path, every session and token ends.
    Disable {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a user and their personal data; every session and token ends.
    Delete {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set the scopes a user gets at login besides `profile`.
    Grant {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Scopes, space-separated (replaces the previous grant).
        #[arg(long)]
        scope: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Sign a user out everywhere: every session and access token ends.
    RevokeSessions {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a user's second factor (TOTP and recovery codes), for one
    /// who lost both: signing in then asks for the password alone, and the
    /// user can enrol again.
    RemoveTotp {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Parses a database timeout: `500ms`, `5s`, ... between 100 ms and 10 min.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&parsed) {
        return Err("must be between 100ms and 10m".into());
    }
    Ok(parsed)
}

/// Parses a CIDR (`10.0.0.0/8`) or a single address (a /32 or /128).
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR such as 10.0.0.0/8 or an address"))
}

/// Parses `30d`, `12h`, `90m`, `45s` or plain seconds: a rotation period
/// from one minute to ten years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if parsed < Duration::from_secs(60) {
        return Err("must be at least one minute".into());
    }
    if parsed > Duration::from_secs(10 * 366 * 86_400) {
        return Err("must be at most ten years".into());
    }
    Ok(parsed)
}

/// Parses how long a replaced client secret keeps working: `1h`, `7d` or
/// plain seconds, at most 30 days.
pub fn parse_overlap(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if parsed > Duration::from_secs(crate::clients::MAX_SECRET_OVERLAP) {
        return Err("must be at most 30 days".into());
    }
    Ok(parsed)
}

/// `--log-format`: `json` or `text`.
fn parse_log_format(value: &str) -> Result<serve::LogFormat, String> {
    value.parse()
}

/// An issuer identifier (OpenID Connect Discovery §3, RFC 8414 §2): an
/// `https` (or `http`) URL with a host and without query or fragment.
fn parse_issuer(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("the scheme must be https (or http)".into());
    }
    if url.host().is_none() {
        return Err("a host is needed".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("an issuer has no query or fragment".into());
    }
    Ok(value.to_owned())
}

/// A non-empty audience without surrounding blanks.
fn parse_audience(value: &str) -> Result<String, String> {
    if value.is_empty() || value.trim() != value {
        return Err("must be non-empty, without surrounding blanks".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_urls_with_a_host_and_audiences_are_not_blank() {
        for good in [
            "https://idp.example.com",
            "https://idp.example.com/realms/main",
            "http://127.0.0.1:8080",
        ] {
            assert_eq!(parse_issuer(good).as_deref(), Ok(good));
        }
        for bad in [
            "notaurl",
            "idp.example.com",
            "ftp://idp.example.com",
            "https://idp.example.com/?a=b",
            "https://idp.example.com/#x",
            "",
        ] {
            assert!(parse_issuer(bad).is_err(), "{bad}");
        }
        assert!(parse_audience("https://api.example.com").is_ok());
        for bad in ["", " ", " api"] {
            assert!(parse_audience(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("8000y").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
    }

    #[test]
    fn db_names_a_file_or_a_postgres_database() {
        let db = |text: &str| DbArgs {
            db: text.into(),
            key_encryption_key: None,
            previous_key_encryption_key: None,
        };
        assert_eq!(
            db("data/idp.db").location().expect("path"),
            DbLocation::Sqlite("data/idp.db".into())
        );
        for url in [
            "postgres://idp:hunter2@db/idp",
            "postgresql://idp@db:5433/idp",
        ] {
            assert!(db(url).location().expect(url).is_postgres());
        }
        let err = db("postgres://idp:hunter2@db/idp?sslmode=verify-full&sslrootcert=/none.pem")
            .location()
            .expect_err("a missing CA file is refused");
        let err = format!("{err:#}");
        assert!(
            err.contains("/none.pem") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let args = DbArgs {
            db: "postgres://idp:hunter2@db/idp".into(),
            key_encryption_key: Some("c2VjcmV0IGtleSBtYXRlcmlhbA==".into()),
            previous_key_encryption_key: Some("b2xkIGtleSBtYXRlcmlhbA==".into()),
        };
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("c2VjcmV0") && !shown.contains("b2xk"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_need_no_flags() {
        let cli = Cli::try_parse_from(["idp", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(args.lifetimes.access_ttl, 900);
        assert_eq!(args.bcrypt_cost, 12);
        let config = args.config().expect("config");
        assert_eq!(config.hash_workers, crate::passwords::default_workers());
    }

    #[test]
    fn hash_workers_are_at_least_one() {
        let parse = |n: &str| {
            Cli::try_parse_from(["idp", "serve", "--hash-workers", n]).map(|cli| {
                match cli.command {
                    Command::Serve(args) => args.config().expect("config").hash_workers,
                    _ => panic!("serve expected"),
                }
            })
        };
        assert_eq!(parse("3").expect("parses"), 3);
        assert!(parse("0").is_err());
        assert!(parse("many").is_err());
    }
}
