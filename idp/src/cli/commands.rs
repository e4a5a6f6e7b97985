//! What each `idp` subcommand does.

use std::sync::Arc;

use anyhow::Context as _;
use keys::rotation::RotationTrigger;

use super::args::{
    ApisCommand, ClientsCommand, Command, DbArgs, KeysCommand, LifetimeArgs, RevocationsCommand,
    UsersCommand,
};
use crate::accounts::lifecycle;
use crate::server;
use crate::signing_keys::KeyManager;
use crate::store::{DbLocation, Store};
use crate::unix_now;
use crate::vault::Vault;
use crate::{apis, clients};

/// `println!` for the commands' output. A reader that stopped reading (`|
/// head`) ends the command quietly, as it ends other Unix tools, rather
/// than with a panic; what the command did before stays done. Any other
/// failure to write is an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing the output: {e}");
            std::process::exit(1);
        }
    }};
}

/// Runs one subcommand to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let config = args.config()?;
            let listener = tokio::net::TcpListener::bind(args.bind)
                .await
                .with_context(|| format!("binding {}", args.bind))?;
            let server = server::start(config, listener).await?;
            // Scripts wait for this line; keep its shape.
            out!(
                "idp listening on {} (issuer {})",
                server.addr,
                server.state.settings().issuer
            );
            server.stopped().await;
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate {
            force,
            key_bits,
            db,
            lifetimes,
        }) => {
            let keys = key_manager(&db, &lifetimes, key_bits).await?;
            let plan = keys.rotate(RotationTrigger::Manual { force }).await?;
            out!(
                "rotated: {} is now current{}",
                plan.promote,
                plan.retire
                    .map(|k| format!(", {k} retired"))
                    .unwrap_or_default()
            );
            let published_for = keys
                .ring()
                .records
                .iter()
                .find(|r| r.kid == plan.promote)
                .map(|r| unix_now().saturating_sub(r.created_at));
            if let Some(age) = published_for.filter(|&age| age < lifetimes.jwks_max_age) {
                eprintln!(
                    "warning: {} was published {age}s ago, less than the /jwks max-age ({}s): \
                     validators that fetched the key set before then may refuse its tokens \
                     (unknown kid) until they fetch it again",
                    plan.promote, lifetimes.jwks_max_age
                );
            }
            print_keys(&keys, &lifetimes).await
        }
        Command::Keys(KeysCommand::List {
            db,
            lifetimes,
            rotate_every,
        }) => {
            let keys = key_manager(&db, &lifetimes, keys::MIN_RSA_BITS).await?;
            print_keys(&keys, &lifetimes).await?;
            print_schedule(&keys, rotate_every);
            Ok(())
        }
        Command::Keys(KeysCommand::Prune { db, lifetimes }) => {
            let keys = key_manager(&db, &lifetimes, keys::MIN_RSA_BITS).await?;
            let pruned = keys.prune().await?;
            if pruned.is_empty() {
                out!("nothing to prune");
            }
            for kid in pruned {
                out!("pruned {kid}");
            }
            Ok(())
        }
        Command::Clients(ClientsCommand::Create { client, db }) => {
            let store = open_store(&db).await?;
            let spec = clients::ClientSpec::from(client);
            let registered = clients::register_client(&store, &spec, unix_now()).await?;
            let client = &registered.client;
            out!("client_id: {}", client.client_id);
            match &registered.client_secret {
                Some(secret) => out!("client_secret: {}", secret.expose()),
                None => out!("token_endpoint_auth_method: none (public client, PKCE)"),
            }
            out!("scope: {}", client.scope);
            for uri in &client.redirect_uris {
                out!("redirect_uri: {uri}");
            }
            for uri in &client.post_logout_redirect_uris {
                out!("post_logout_redirect_uri: {uri}");
            }
            if client.consent {
                out!("consent: required");
            }
            if registered.client_secret.is_some() {
                eprintln!("the secret is shown only this once: store it now");
            }
            Ok(())
        }
        Command::Clients(ClientsCommand::Delete { id, db }) => {
            let store = open_existing_store(&db).await?;
            if !clients::delete(&store, &id, unix_now()).await? {
                anyhow::bail!("no client {id:?}");
            }
            out!("deleted {id}; its tokens are refused from now on");
            Ok(())
        }
        Command::Clients(ClientsCommand::RotateSecret {
            id,
            keep_old,
            revoke_tokens,
            db,
        }) => {
            let store = open_existing_store(&db).await?;
            let how = clients::RotateSecret {
                keep_old: keep_old.map_or(0, |d| d.as_secs()),
                revoke_tokens,
            };
            let rotated = clients::rotate_secret(&store, &id, how, unix_now())
                .await
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            out!("client_id: {id}");
            out!("client_secret: {}", rotated.secret.expose());
            match rotated.previous_expires_at {
                Some(until) => out!("the old secret works until {}", time(Some(until))),
                None if revoke_tokens => out!(
                    "the old secret no longer works; the client's tokens are refused from now on"
                ),
                None => out!("the old secret no longer works"),
            }
            Ok(())
        }
        Command::Clients(ClientsCommand::List { db }) => {
            let store = open_existing_store(&db).await?;
            for c in store.run(|db| db.list_clients()).await? {
                let uris = |list: &[String]| {
                    if list.is_empty() {
                        "-".to_owned()
                    } else {
                        list.join(",")
                    }
                };
                out!(
                    "{}\tadmin={}\tscope={}\tauth={}\tconsent={}\tredirect_uris={}\tpost_logout_redirect_uris={}",
                    c.client_id,
                    c.admin,
                    c.scope,
                    clients::auth_method(&c),
                    c.consent,
                    uris(&c.redirect_uris),
                    uris(&c.post_logout_redirect_uris),
                );
            }
            Ok(())
        }
        Command::Apis(ApisCommand::Create {
            resource,
            scope,
            db,
        }) => {
            let store = open_store(&db).await?;
            let api = apis::register(&store, &resource, &scope, unix_now()).await?;
            out!("resource: {}", api.resource);
            out!(
                "scope: {}",
                if api.scope.is_empty() {
                    "(any)"
                } else {
                    &api.scope
                }
            );
            Ok(())
        }
        Command::Apis(ApisCommand::Delete { resource, db }) => {
            let store = open_existing_store(&db).await?;
            let wanted = resource.clone();
            if !store.run(move |db| db.delete_api(&wanted)).await? {
                anyhow::bail!("no API {resource:?}");
            }
            out!("deleted {resource}");
            Ok(())
        }
        Command::Apis(ApisCommand::List { db }) => {
            let store = open_existing_store(&db).await?;
            for api in store.run(|db| db.list_apis()).await? {
                out!("{}\tscope={}", api.resource, api.scope);
            }
            Ok(())
        }
        Command::Users(command) => users(command).await,
        Command::Revocations(RevocationsCommand::RenewFeed { db }) => {
            let store = open_existing_store(&db).await?;
            // 64 random bits in hex, as the migration that made the feed.
            let epoch = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
            let shown = epoch.clone();
            store.run(move |db| db.renew_feed(&epoch)).await?;
            out!(
                "the revocation feed is now {shown}: every resource server reads it whole at its next poll"
            );
            Ok(())
        }
        Command::Openapi => {
            out!("{}", crate::http::openapi_json());
            Ok(())
        }
    }
}

/// `idp users ...`.
async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List { db } => {
            let store = open_existing_store(&db).await?;
            let mut after = None;
            loop {
                let (page, next) = lifecycle::list(&store, after, lifecycle::MAX_PAGE).await?;
                for user in &page {
                    out!(
                        "{}\t{}\t{}\t{}\tscope=profile {}",
                        user.id,
                        user.email,
                        if user.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "enabled"
                        },
                        if user.email_verified {
                            "verified"
                        } else {
                            "unverified"
                        },
                        user.scope
                    );
                }
                match next {
                    Some(cursor) => after = Some(cursor),
                    None => return Ok(()),
                }
            }
        }
        UsersCommand::Show { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            let shown = lifecycle::describe(&user);
            out!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        UsersCommand::Disable { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            lifecycle::disable(&store, &user.id, unix_now()).await?;
            out!("{email}: disabled; every session and token ended");
            Ok(())
        }
        UsersCommand::Enable { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            lifecycle::enable(&store, &user.id).await?;
            out!("{email}: enabled");
            Ok(())
        }
        UsersCommand::Delete { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            lifecycle::delete(&store, &user.id, unix_now()).await?;
            out!("{email}: deleted with its personal data; every session and token ended");
            Ok(())
        }
        UsersCommand::RevokeSessions { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            lifecycle::sign_out_everywhere(&store, &user.id, unix_now()).await?;
            out!("{email}: signed out everywhere");
            Ok(())
        }
        UsersCommand::RemoveTotp { email, db } => {
            let store = open_existing_store(&db).await?;
            let user = find_user(&store, &email).await?;
            let id = user.id.clone();
            if !store.run(move |db| db.remove_totp(&id)).await? {
                anyhow::bail!("{email} has no second factor");
            }
            out!("{email}: second factor removed; signing in asks for the password alone");
            Ok(())
        }
        UsersCommand::Grant { email, scope, db } => {
            let store = open_existing_store(&db).await?;
            let scope = crate::scope::parse_scope(&scope)?.join(" ");
            let (user, granted) = (email.clone(), scope.clone());
            if !store
                .run(move |db| db.set_user_scope(&user, &granted))
                .await?
            {
                anyhow::bail!("no user {email:?}");
            }
            out!("{email}: profile {scope}");
            Ok(())
        }
    }
}

/// The user with this email, or a clear error.
async fn find_user(store: &Store, email: &str) -> anyhow::Result<crate::store::UserRow> {
    let key = email.trim().to_owned();
    store
        .run(move |db| db.user_by_email(&key))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {email:?}"))
}

/// The database of a command that reads or changes what is in it (keys,
/// users, the registries' lists and deletions): an SQLite file must exist
/// already, so that a mistyped `--db` is an error rather than a new
/// database quietly created, changed and reported on. Creating a client or
/// an API may start a database, as `idp serve` does.
async fn open_existing_store(db: &DbArgs) -> anyhow::Result<Store> {
    if let DbLocation::Sqlite(path) = db.location()? {
        anyhow::ensure!(
            path.exists(),
            "no database at {}: check --db / IDP_DB (this command does not create one)",
            path.display()
        );
        // An empty file, or another program's SQLite database, would be
        // migrated (and given keys) by opening it as a store.
        let version = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)));
        anyhow::ensure!(
            !matches!(version, Ok(0)),
            "{} is not a database of this IdP (empty, or another program's): check --db / IDP_DB",
            path.display()
        );
    }
    open_store(db).await
}

async fn open_store(db: &DbArgs) -> anyhow::Result<Store> {
    let location = db.location()?;
    let shown = location.to_string();
    tokio::task::spawn_blocking(move || Store::open(&location))
        .await?
        .with_context(|| format!("opening the database {shown}"))
}

async fn key_manager(
    db: &DbArgs,
    lifetimes: &LifetimeArgs,
    bits: u32,
) -> anyhow::Result<Arc<KeyManager>> {
    let store = open_existing_store(db).await?;
    let vault = Vault::from_secrets(
        db.key_encryption_key.as_deref(),
        db.previous_key_encryption_key.as_deref(),
    )?;
    Ok(Arc::new(
        KeyManager::start(store, vault, bits, lifetimes.policy()).await?,
    ))
}

async fn print_keys(keys: &KeyManager, lifetimes: &LifetimeArgs) -> anyhow::Result<()> {
    let policy = keys.policy();
    let now = unix_now();
    out!(
        "{:<44}  {:<8}  {:>5}  {:<20}  {:<20}  {:<20}  {:>10}  prunable",
        "kid",
        "state",
        "bits",
        "created",
        "activated",
        "retired",
        "tokens"
    );
    for key in keys.stored_keys().await? {
        let r = &key.record;
        let prunable = match policy.prunable_at(r) {
            None => "no".to_owned(),
            Some(at) if at <= now => "yes".to_owned(),
            Some(at) => format!("from {}", time(Some(at))),
        };
        let declared = match r.signed_with.access_ttl {
            0 => "-".to_owned(),
            ttl => format!("{ttl}s"),
        };
        out!(
            "{:<44}  {:<8}  {:>5}  {:<20}  {:<20}  {:<20}  {:>10}  {}",
            r.kid,
            r.state.as_str(),
            key.bits,
            time(Some(r.created_at)),
            time(r.activated_at),
            time(r.retired_at),
            declared,
            prunable
        );
    }
    out!();
    out!(
        "retired keys are pruned {}s after retirement (access ttl {}s + jwks max-age {}s + margin {}s), \
         or later where an instance signing with the key serves longer lifetimes \
         (\"tokens\": the longest access-token lifetime declared on it)",
        policy.retirement_grace(),
        lifetimes.access_ttl,
        lifetimes.jwks_max_age,
        policy.margin
    );
    Ok(())
}

/// When the `--rotate-every` schedule rotates next, from the database.
fn print_schedule(keys: &KeyManager, rotate_every: Option<std::time::Duration>) {
    let Some(every) = rotate_every else {
        out!("no rotation schedule (--rotate-every / IDP_ROTATE_EVERY is not set)");
        return;
    };
    let period = humantime::format_duration(every);
    match keys.ring().rotation_due_at(every.as_secs()) {
        Some(due) if due > unix_now() => out!(
            "next scheduled rotation: {} (every {period})",
            time(Some(due))
        ),
        _ => out!("next scheduled rotation: due now (every {period})"),
    }
}

/// RFC 3339 UTC, or `-`; seconds since the epoch past the year 9999,
/// which RFC 3339 cannot write.
fn time(t: Option<u64>) -> String {
    use std::fmt::Write;
    let Some(t) = t else { return "-".into() };
    let mut out = String::new();
    let at = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(t));
    match at {
        Some(at) if write!(out, "{}", humantime::format_rfc3339_seconds(at)).is_ok() => out,
        _ => format!("{t} (seconds since 1970)"),
    }
}

#[cfg(test)]
mod tests {
    use super::time;

    #[test]
    fn times_past_year_9999_print_as_seconds_not_a_panic() {
        assert_eq!(time(None), "-");
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
        let far = 20_000 * 366 * 86_400;
        assert_eq!(time(Some(far)), format!("{far} (seconds since 1970)"));
        assert_eq!(
            time(Some(u64::MAX)),
            format!("{} (seconds since 1970)", u64::MAX)
        );
    }
}
