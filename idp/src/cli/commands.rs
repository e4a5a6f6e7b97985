//! What each `idp` subcommand does.

use std::sync::Arc;

use anyhow::Context as _;
use keys::rotation::RotationTrigger;

use super::args::{
    ApisCommand, ClientsCommand, Command, DbArgs, KeysCommand, LifetimeArgs, UsersCommand,
};
use crate::server;
use crate::signing_keys::KeyManager;
use crate::store::Store;
use crate::unix_now;
use crate::vault::Vault;
use crate::{apis, clients};

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
            println!(
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
            println!(
                "rotated: {} is now current{}",
                plan.promote,
                plan.retire
                    .map(|k| format!(", {k} retired"))
                    .unwrap_or_default()
            );
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
                println!("nothing to prune");
            }
            for kid in pruned {
                println!("pruned {kid}");
            }
            Ok(())
        }
        Command::Clients(ClientsCommand::Create {
            id,
            scope,
            admin,
            db,
        }) => {
            let store = open_store(&db).await?;
            let registered = clients::register(&store, &id, &scope, admin, unix_now()).await?;
            println!("client_id: {}", registered.client_id);
            println!("client_secret: {}", registered.client_secret.expose());
            println!("scope: {}", registered.scope);
            eprintln!("the secret is shown only this once: store it now");
            Ok(())
        }
        Command::Clients(ClientsCommand::Delete { id, db }) => {
            let store = open_store(&db).await?;
            let client_id = id.clone();
            if !store.run(move |db| db.delete_client(&client_id)).await? {
                anyhow::bail!("no client {id:?}");
            }
            println!("deleted {id}");
            Ok(())
        }
        Command::Clients(ClientsCommand::List { db }) => {
            let store = open_store(&db).await?;
            for c in store.run(|db| db.list_clients()).await? {
                println!("{}\tadmin={}\tscope={}", c.client_id, c.admin, c.scope);
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
            println!("resource: {}", api.resource);
            println!(
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
            let store = open_store(&db).await?;
            let wanted = resource.clone();
            if !store.run(move |db| db.delete_api(&wanted)).await? {
                anyhow::bail!("no API {resource:?}");
            }
            println!("deleted {resource}");
            Ok(())
        }
        Command::Apis(ApisCommand::List { db }) => {
            let store = open_store(&db).await?;
            for api in store.run(|db| db.list_apis()).await? {
                println!("{}\tscope={}", api.resource, api.scope);
            }
            Ok(())
        }
        Command::Users(UsersCommand::Grant { email, scope, db }) => {
            let store = open_store(&db).await?;
            let scope = crate::scope::parse_scope(&scope)?.join(" ");
            let (user, granted) = (email.clone(), scope.clone());
            if !store
                .run(move |db| db.set_user_scope(&user, &granted))
                .await?
            {
                anyhow::bail!("no user {email:?}");
            }
            println!("{email}: profile {scope}");
            Ok(())
        }
    }
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
    let store = open_store(db).await?;
    let vault = Vault::from_secret(db.key_encryption_key.as_deref())?;
    Ok(Arc::new(
        KeyManager::start(store, vault, bits, lifetimes.policy()).await?,
    ))
}

async fn print_keys(keys: &KeyManager, lifetimes: &LifetimeArgs) -> anyhow::Result<()> {
    let policy = keys.policy();
    let now = unix_now();
    println!(
        "{:<44}  {:<8}  {:>5}  {:<20}  {:<20}  {:<20}  prunable",
        "kid", "state", "bits", "created", "activated", "retired"
    );
    for key in keys.stored_keys().await? {
        let r = &key.record;
        println!(
            "{:<44}  {:<8}  {:>5}  {:<20}  {:<20}  {:<20}  {}",
            r.kid,
            r.state.as_str(),
            key.bits,
            time(Some(r.created_at)),
            time(r.activated_at),
            time(r.retired_at),
            if policy.prunable(r, now) { "yes" } else { "no" }
        );
    }
    println!();
    println!(
        "retired keys are pruned {}s after retirement (access ttl {}s + jwks max-age {}s + margin {}s)",
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
        println!("no rotation schedule (--rotate-every / IDP_ROTATE_EVERY is not set)");
        return;
    };
    let period = humantime::format_duration(every);
    match keys.ring().rotation_due_at(every.as_secs()) {
        Some(due) if due > unix_now() => println!(
            "next scheduled rotation: {} (every {period})",
            time(Some(due))
        ),
        _ => println!("next scheduled rotation: due now (every {period})"),
    }
}

/// RFC 3339 UTC, or `-`.
fn time(t: Option<u64>) -> String {
    let Some(t) = t else { return "-".into() };
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
        .to_string()
}
