//! The storage contract, written once and run on every backend.
//!
//! Each test below is declared once inside `contract_tests!`, which makes
//! two of it: `sqlite::NAME` on a fresh SQLite file and `postgres::NAME` on
//! a fresh PostgreSQL database (skipped, saying so, where
//! `IDP_TEST_POSTGRES_URL` is unset; CI always sets it). A new table is
//! specified here once and tested on both.

mod common;

use common::postgres::PgDatabase;
use idp::store::{
    ApiRow, ClientRow, KeyChange, PresentedRefresh, RefreshOutcome, RefreshRow, Store, StoreError,
    StoredKey, UserRow,
};
use idp::DbLocation;
use keys::rotation::{KeyRecord, KeyState, RotationPolicy, RotationTrigger};
use zeroize::Zeroizing;

/// A database for one test: where it lives, and stores opened on it.
struct Db {
    location: DbLocation,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            location: dir.path().join("idp.db").into(),
            _dir: Some(dir),
            _pg: None,
        }
    }

    async fn postgres() -> Option<Self> {
        let pg = PgDatabase::create().await?;
        Some(Self {
            location: pg.location(),
            _dir: None,
            _pg: Some(pg),
        })
    }

    /// A store of its own on this database: its own connection (SQLite) or
    /// pool (PostgreSQL), as another process would have.
    async fn open(&self) -> Store {
        let location = self.location.clone();
        tokio::task::spawn_blocking(move || Store::open(&location))
            .await
            .expect("open task")
            .expect("store opens")
    }
}

/// Declares each test once; runs it on SQLite and on PostgreSQL.
macro_rules! contract_tests {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $db = Db::sqlite();
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($db) = Db::postgres().await else { return };
                    $body
                }
            )*
        }
    };
}

fn user(id: &str, email: &str) -> UserRow {
    UserRow {
        id: id.into(),
        email: email.into(),
        name: "Ann".into(),
        password_hash: "$2b$04$hash".into(),
        scope: String::new(),
        created_at: 1_700_000_000,
    }
}

fn client(id: &str) -> ClientRow {
    ClientRow {
        client_id: id.into(),
        secret_hash: vec![7; 32],
        scope: "api:read".into(),
        admin: false,
        created_at: 1_700_000_000,
    }
}

fn key(kid: &str, state: KeyState, created_at: u64) -> StoredKey {
    StoredKey {
        record: KeyRecord {
            kid: kid.into(),
            state,
            created_at,
            activated_at: (state == KeyState::Current).then_some(created_at),
            retired_at: None,
        },
        private_key: Zeroizing::new(format!("private {kid}").into_bytes()),
        encrypted: false,
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        bits: 2048,
    }
}

fn states(keys: &[StoredKey]) -> Vec<(String, KeyState)> {
    keys.iter()
        .map(|k| (k.record.kid.clone(), k.record.state))
        .collect()
}

const POLICY: RotationPolicy = RotationPolicy {
    access_ttl: 60,
    jwks_max_age: 300,
    margin: 0,
};
const MANUAL: RotationTrigger = RotationTrigger::Manual { force: false };

fn session(family: &str, user: &str, client: &str, expires_at: u64) -> RefreshRow {
    RefreshRow {
        family_id: family.into(),
        user_id: user.into(),
        client_id: client.into(),
        scope: "profile".into(),
        expires_at,
    }
}

fn presented(token: &[u8], client: &str, successor: &[u8], now: u64) -> PresentedRefresh {
    PresentedRefresh {
        token_hash: token.to_vec(),
        client_id: client.into(),
        successor_hash: successor.to_vec(),
        now,
        successor_expires_at: now + 1000,
    }
}

/// Runs the futures at once, each on its own task.
async fn all_at_once<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

contract_tests! {
    async fn users_are_unique_by_email_whatever_its_case(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "Ann@Example.com"))).await.expect("insert");
        let again = store.run(|r| r.insert_user(&user("u2", "ann@example.COM"))).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
        let found = store
            .run(|r| r.user_by_email("ANN@example.com"))
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!((found.id.as_str(), found.email.as_str()), ("u1", "Ann@Example.com"));
        assert_eq!(found.created_at, 1_700_000_000);
        assert!(store.run(|r| r.user_by_id("u1")).await.expect("by id").is_some());
        assert!(store.run(|r| r.user_by_id("u2")).await.expect("by id").is_none());
    }

    async fn a_user_scope_grant_replaces_the_previous_one(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("insert");
        assert!(store.run(|r| r.set_user_scope("ANN@example.com", "api:read")).await.expect("grant"));
        assert!(store.run(|r| r.set_user_scope("ann@example.com", "reports")).await.expect("grant"));
        assert!(!store.run(|r| r.set_user_scope("bob@example.com", "x")).await.expect("grant"));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("by id").expect("found");
        assert_eq!(ann.scope, "reports");
    }

    async fn clients_are_registered_listed_byte_wise_and_deleted(db) {
        let store = db.open().await;
        for id in ["beta", "Alpha", "alpha"] {
            store.run(move |r| r.insert_client(&client(id))).await.expect("insert");
        }
        let again = store.run(|r| r.insert_client(&client("beta"))).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
        let ids: Vec<String> = store
            .run(|r| r.list_clients())
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(ids, ["Alpha", "alpha", "beta"]);
        let beta = store.run(|r| r.client("beta")).await.expect("get").expect("found");
        assert_eq!((beta.secret_hash, beta.scope.as_str()), (vec![7; 32], "api:read"));
        assert!(store.run(|r| r.delete_client("beta")).await.expect("delete"));
        assert!(!store.run(|r| r.delete_client("beta")).await.expect("delete"));
        assert!(store.run(|r| r.client("beta")).await.expect("get").is_none());
    }

    async fn the_key_set_is_filled_rotated_and_pruned(db) {
        let store = db.open().await;
        let stored = store
            .run(|r| r.ensure_keys(&key("c1", KeyState::Current, 0), &key("n1", KeyState::Next, 0)))
            .await
            .expect("ensure");
        assert_eq!(stored, 2);
        let again = store
            .run(|r| r.ensure_keys(&key("c2", KeyState::Current, 0), &key("n2", KeyState::Next, 0)))
            .await
            .expect("ensure");
        assert_eq!(again, 0, "a complete set is left alone");

        // The next key is younger than the JWKS max-age: refused unless forced.
        let refused = store
            .run(|r| r.rotate_keys(POLICY, 100, MANUAL, &key("n3", KeyState::Next, 100)))
            .await
            .expect("rotate");
        assert!(matches!(refused, KeyChange::Refused(_)), "{refused:?}");
        let rotated = store
            .run(|r| r.rotate_keys(POLICY, 1000, MANUAL, &key("n3", KeyState::Next, 1000)))
            .await
            .expect("rotate");
        let KeyChange::Rotated(plan) = rotated else { panic!("expected a rotation") };
        assert_eq!((plan.promote.as_str(), plan.retire.as_deref()), ("n1", Some("c1")));
        let keys = store.run(|r| r.list_keys()).await.expect("list");
        assert_eq!(
            states(&keys),
            [
                ("c1".to_owned(), KeyState::Retired),
                ("n1".to_owned(), KeyState::Current),
                ("n3".to_owned(), KeyState::Next)
            ]
        );
        let c1 = &keys[0];
        assert_eq!((c1.record.retired_at, c1.bits), (Some(1000), 2048));
        assert_eq!(&c1.private_key[..], b"private c1");
        assert_eq!(keys[1].record.activated_at, Some(1000));

        let early = store.run(|r| r.prune_keys(POLICY, 1001)).await.expect("prune");
        assert!(early.is_empty(), "{early:?}");
        let pruned = store.run(|r| r.prune_keys(POLICY, 100_000)).await.expect("prune");
        assert_eq!(pruned, ["c1"]);
        assert_eq!(store.run(|r| r.list_keys()).await.expect("list").len(), 2);
    }

    async fn processes_racing_on_the_key_set_fill_rotate_and_prune_it_once(db) {
        // Separate stores, as separate processes have.
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(db.open().await);
        }
        let ensured = all_at_once(stores.iter().enumerate().map(|(i, store)| {
            let store = store.clone();
            async move {
                let current = key(&format!("current-{i}"), KeyState::Current, 0);
                let next = key(&format!("next-{i}"), KeyState::Next, 0);
                store.run(move |r| r.ensure_keys(&current, &next)).await.expect("ensure")
            }
        }))
        .await;
        assert_eq!(ensured.iter().sum::<usize>(), 2, "{ensured:?}");

        let changes = all_at_once((0..8).map(|i| {
            let store = stores[i % stores.len()].clone();
            async move {
                let next = key(&format!("new-{i}"), KeyState::Next, 1000);
                store
                    .run(move |r| r.rotate_keys(POLICY, 1000, MANUAL, &next))
                    .await
                    .expect("rotate")
            }
        }))
        .await;
        let rotated = changes.iter().filter(|c| matches!(c, KeyChange::Rotated(_))).count();
        assert_eq!(rotated, 1, "{changes:?}");

        let pruned = all_at_once(stores.iter().map(|store| {
            let store = store.clone();
            async move { store.run(|r| r.prune_keys(POLICY, 100_000)).await.expect("prune") }
        }))
        .await;
        assert_eq!(pruned.iter().map(Vec::len).sum::<usize>(), 1, "{pruned:?}");
        let keys = stores[1].run(|r| r.list_keys()).await.expect("list");
        let count = |s| keys.iter().filter(|k| k.record.state == s).count();
        assert_eq!((count(KeyState::Current), count(KeyState::Next)), (1, 1));
    }

    async fn refresh_tokens_rotate_and_a_replay_revokes_the_family(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "web", 500), 100))
            .await
            .expect("insert");
        let live = store.run(|r| r.refresh_family(b"t1", 100)).await.expect("find");
        assert_eq!(live, Some(session("fam", "u1", "web", 500)));
        assert_eq!(store.run(|r| r.refresh_family(b"t1", 500)).await.expect("find"), None, "expired");

        // Another client neither uses nor burns it.
        let wrong = store.run(|r| r.use_refresh(&presented(b"t1", "other", b"x", 110))).await;
        assert_eq!(wrong.expect("use"), RefreshOutcome::WrongClient);

        let rotated = store
            .run(|r| r.use_refresh(&presented(b"t1", "web", b"t2", 120)))
            .await
            .expect("use");
        assert_eq!(rotated, RefreshOutcome::Rotated(session("fam", "u1", "web", 1120)));
        assert!(store.run(|r| r.refresh_family(b"t1", 120)).await.expect("find").is_none(), "used");
        assert!(store.run(|r| r.refresh_family(b"t2", 120)).await.expect("find").is_some());
        assert!(store.run(|r| r.sessions_revoked_since(0)).await.expect("ended").is_empty());

        let replay = store
            .run(|r| r.use_refresh(&presented(b"t1", "web", b"t3", 130)))
            .await
            .expect("use");
        assert_eq!(replay, RefreshOutcome::Reused { family_id: "fam".into() });
        assert!(store.run(|r| r.refresh_family(b"t2", 130)).await.expect("find").is_none(), "revoked");
        let after = store
            .run(|r| r.use_refresh(&presented(b"t2", "web", b"t4", 140)))
            .await
            .expect("use");
        assert_eq!(after, RefreshOutcome::Invalid);
        let ended = store.run(|r| r.sessions_revoked_since(0)).await.expect("ended");
        assert_eq!(ended.len(), 1);
        assert_eq!((ended[0].family_id.as_str(), ended[0].revoked_at), ("fam", 130));
        assert!(store.run(|r| r.sessions_revoked_since(130)).await.expect("ended").is_empty());
        let unknown = store.run(|r| r.use_refresh(&presented(b"zz", "web", b"t5", 150))).await;
        assert_eq!(unknown.expect("use"), RefreshOutcome::Invalid);
    }

    async fn concurrent_uses_of_one_refresh_token_let_exactly_one_through(db) {
        let first = db.open().await;
        first.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        first
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "web", 5000), 100))
            .await
            .expect("insert");
        let mut stores = vec![first];
        stores.push(db.open().await);
        let outcomes = all_at_once((0..6u8).map(|i| {
            let store = stores[usize::from(i) % 2].clone();
            async move {
                store
                    .run(move |r| r.use_refresh(&presented(b"t1", "web", &[b's', i], 200)))
                    .await
                    .expect("use")
            }
        }))
        .await;
        let rotated = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Rotated(_))).count();
        assert_eq!(rotated, 1, "{outcomes:?}");
    }

    async fn revoked_access_tokens_stay_listed_until_they_expire(db) {
        let store = db.open().await;
        store.run(|r| r.revoke_access_token("j1", 300, 100)).await.expect("revoke");
        store.run(|r| r.revoke_access_token("j1", 300, 150)).await.expect("a repeat is ignored");
        store.run(|r| r.revoke_access_token("j2", 200, 100)).await.expect("revoke");
        let live = store.run(|r| r.live_revocations(150)).await.expect("live");
        let listed: Vec<(&str, u64)> = live.iter().map(|t| (t.jti.as_str(), t.exp)).collect();
        assert_eq!(listed, [("j2", 200), ("j1", 300)]);
        let later = store.run(|r| r.live_revocations(250)).await.expect("live");
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].jti, "j1");
    }

    async fn change_counters_move_with_keys_and_revocations(db) {
        let store = db.open().await;
        store.run(|r| r.ping()).await.expect("ping");
        let counters = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .run(|r| Ok((r.change_counter("signing_keys")?, r.change_counter("revocations")?)))
                    .await
                    .expect("counters")
            }
        };
        let (keys0, revoked0) = counters(&store).await;
        store
            .run(|r| r.ensure_keys(&key("c1", KeyState::Current, 0), &key("n1", KeyState::Next, 0)))
            .await
            .expect("ensure");
        let (keys1, revoked1) = counters(&store).await;
        assert!(keys1 > keys0 && revoked1 == revoked0, "{keys0}->{keys1}, {revoked0}->{revoked1}");
        store.run(|r| r.revoke_access_token("j1", 300, 100)).await.expect("revoke");
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "web", 500), 100))
            .await
            .expect("insert");
        let (_, revoked2) = counters(&store).await;
        assert!(revoked2 > revoked1);
        store.run(|r| r.revoke_family("fam", 120)).await.expect("end session");
        let (keys3, revoked3) = counters(&store).await;
        assert!(revoked3 > revoked2 && keys3 == keys1);
    }

    async fn apis_are_registered_once_listed_byte_wise_and_deleted(db) {
        let store = db.open().await;
        fn api(resource: &str, scope: &str) -> ApiRow {
            ApiRow { resource: resource.into(), scope: scope.into(), created_at: 100 }
        }
        for row in [api("https://b.example", "x y"), api("https://B.example", ""), api("urn:a", "z")] {
            store.run(move |r| r.insert_api(&row)).await.expect("insert");
        }
        let taken = store.run(|r| r.insert_api(&api("https://b.example", ""))).await;
        assert!(matches!(taken, Err(StoreError::Conflict)), "{taken:?}");
        assert_eq!(
            store.run(|r| r.api("https://b.example")).await.expect("api"),
            Some(api("https://b.example", "x y"))
        );
        assert_eq!(store.run(|r| r.api("https://b.example/")).await.expect("api"), None, "exact");
        let listed = store.run(|r| r.list_apis()).await.expect("list");
        let resources: Vec<&str> = listed.iter().map(|a| a.resource.as_str()).collect();
        assert_eq!(resources, ["https://B.example", "https://b.example", "urn:a"]);
        assert!(store.run(|r| r.delete_api("urn:a")).await.expect("delete"));
        assert!(!store.run(|r| r.delete_api("urn:a")).await.expect("delete"));
    }

    async fn a_session_keeps_its_first_dpop_key_and_dead_bindings_go(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_refresh(b"t1", &session("live", "u1", "login", 500), 100))
            .await
            .expect("insert");
        store
            .run(|r| r.insert_refresh(b"t2", &session("dies", "u1", "login", 150), 100))
            .await
            .expect("insert");
        store.run(|r| r.bind_session("live", "jkt-1", 100)).await.expect("bind");
        store.run(|r| r.bind_session("dies", "jkt-2", 100)).await.expect("bind");
        store.run(|r| r.bind_session("live", "jkt-other", 110)).await.expect("bind again");
        let binding = |family: &'static str| {
            let store = store.clone();
            async move { store.run(move |r| r.session_binding(family)).await.expect("binding") }
        };
        assert_eq!(binding("live").await.as_deref(), Some("jkt-1"), "the first key stays");
        assert_eq!(binding("dies").await.as_deref(), Some("jkt-2"));
        assert_eq!(binding("nobody").await, None);
        // Once "dies" has no live refresh token, the next binding drops it.
        store
            .run(|r| r.insert_refresh(b"t3", &session("new", "u1", "login", 900), 200))
            .await
            .expect("insert");
        store.run(|r| r.bind_session("new", "jkt-3", 200)).await.expect("bind");
        assert_eq!(binding("dies").await, None);
        assert_eq!(binding("live").await.as_deref(), Some("jkt-1"));
        assert_eq!(binding("new").await.as_deref(), Some("jkt-3"));
        // A revoked session's binding goes too.
        store.run(|r| r.revoke_family("live", 210)).await.expect("end");
        store.run(|r| r.bind_session("new", "jkt-3", 220)).await.expect("bind");
        assert_eq!(binding("live").await, None);
    }
}
