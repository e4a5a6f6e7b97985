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
    AccountTokenPurpose, ApiRow, BrowserSessionRow, ClaimedGeneration, ClientRow, CodeOutcome,
    CutoffKind, Expiring, GrantRow, KeyChange, LogKind, PresentedCode, PresentedRefresh,
    PreviousSecret, PurgeHorizon, RefreshOutcome, RefreshRow, Repository, Reservation,
    SecretRotation, SessionGuard, Store, StoreError, StoredKey, ThrottleCharge, TokenCutoff,
    UserCursor, UserRow,
};
use idp::DbLocation;
use keys::rotation::{KeyRecord, KeyState, Lifetimes, RotationPolicy, RotationTrigger};
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

/// A change to a user, as a test applies it.
type Change = fn(&mut dyn Repository) -> Result<bool, StoreError>;

fn user(id: &str, email: &str) -> UserRow {
    UserRow::new(
        id.into(),
        email.into(),
        "Ann".into(),
        "$2b$04$hash".into(),
        1_700_000_000,
    )
}

fn client(id: &str) -> ClientRow {
    ClientRow {
        client_id: id.into(),
        secret_hash: vec![7; 32],
        scope: "api:read".into(),
        admin: false,
        created_at: 1_700_000_000,
        redirect_uris: Vec::new(),
        public: false,
        consent: false,
        post_logout_redirect_uris: Vec::new(),
        previous_secret: None,
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
            signed_with: Lifetimes::default(),
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
        amr: "pwd".into(),
        generation: 0,
    }
}

fn presented(token: &[u8], client: &str, successor: &[u8], now: u64) -> PresentedRefresh {
    PresentedRefresh {
        token_hash: token.to_vec(),
        claimed: None,
        client_id: client.into(),
        successor_hash: successor.to_vec(),
        now,
        successor_expires_at: now + 1000,
    }
}

fn browser(id: &str, user: &str, expires_at: u64) -> BrowserSessionRow {
    BrowserSessionRow {
        id: id.into(),
        user_id: user.into(),
        auth_time: 100,
        created_at: 100,
        expires_at,
        amr: "pwd".into(),
    }
}

fn grant(family: &str, user: &str, session: &str) -> GrantRow {
    GrantRow {
        family_id: family.into(),
        client_id: "web".into(),
        redirect_uri: "https://app.example/cb".into(),
        user_id: user.into(),
        scope: "openid offline_access".into(),
        code_challenge: "challenge".into(),
        nonce: Some("n".into()),
        session_id: session.into(),
        auth_time: 100,
        created_at: 100,
        code_expires_at: 160,
        expires_at: 1000,
        amr: "pwd otp".into(),
        resource: Some(API.into()),
    }
}

/// The API the grants of these tests were requested for.
const API: &str = "https://api.example.com";

fn code(hash: &[u8], client: &str, challenge: &str, now: u64) -> PresentedCode {
    PresentedCode {
        code_hash: hash.to_vec(),
        client_id: client.into(),
        redirect_uri: "https://app.example/cb".into(),
        challenge: challenge.into(),
        resource: None,
        now,
    }
}

/// A purge horizon at `now`, with sessions and cut-offs ended by
/// `ended_before` expired.
fn horizon(now: u64, ended_before: u64) -> PurgeHorizon {
    PurgeHorizon {
        now,
        ended_before,
        trusted_since: 0,
    }
}

/// Purges every kind until nothing more goes.
async fn purge_all(store: &Store, horizon: PurgeHorizon) {
    for kind in Expiring::ALL {
        while store
            .run(move |r| r.purge_expired(kind, &horizon, 100))
            .await
            .expect("purge")
            > 0
        {}
    }
}

/// The ended sessions (families) the revocation feed would carry.
async fn ended(store: &Store, since: u64) -> Vec<String> {
    let mut ids: Vec<String> = store
        .run(move |r| r.sessions_revoked_since(since))
        .await
        .expect("ended")
        .into_iter()
        .map(|e| e.family_id)
        .collect();
    ids.sort();
    ids
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
        assert!(store.run(|r| r.set_user_name("u1", "Ann Lee")).await.expect("rename"));
        assert!(!store.run(|r| r.set_user_name("nobody", "X")).await.expect("rename"));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("by id").expect("found");
        assert_eq!((ann.name.as_str(), ann.email.as_str()), ("Ann Lee", "ann@example.com"));
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
        assert!(store.run(|r| r.delete_client("beta", 0)).await.expect("delete"));
        assert!(!store.run(|r| r.delete_client("beta", 0)).await.expect("delete"));
        assert!(store.run(|r| r.client("beta")).await.expect("get").is_none());
    }

    async fn a_stored_key_is_sealed_in_place_once(db) {
        let store = db.open().await;
        store
            .run(|r| r.ensure_keys(&key("c1", KeyState::Current, 0), &key("n1", KeyState::Next, 0)))
            .await
            .expect("ensure");
        assert!(store.run(|r| r.seal_key("c1", b"sealed c1")).await.expect("seal"));
        assert!(!store.run(|r| r.seal_key("c1", b"twice")).await.expect("seal"), "once");
        let keys = store.run(|r| r.list_keys()).await.expect("list");
        let c1 = keys.iter().find(|k| k.record.kid == "c1").expect("c1");
        assert!(c1.encrypted);
        assert_eq!(c1.private_key.as_slice(), b"sealed c1");
        assert!(!keys.iter().find(|k| k.record.kid == "n1").expect("n1").encrypted);
        store.run(|r| r.scrub()).await.expect("scrub");
        assert_eq!(store.run(|r| r.list_keys()).await.expect("list").len(), 2, "rows kept");
        // Resealed (another encryption key) only while it is as read.
        assert!(!store.run(|r| r.reseal_key("c1", b"not it", b"x")).await.expect("reseal"));
        assert!(store.run(|r| r.reseal_key("c1", b"sealed c1", b"resealed c1")).await.expect("reseal"));
        assert!(!store.run(|r| r.reseal_key("n1", b"private n1", b"x")).await.expect("reseal"), "not sealed");
        let keys = store.run(|r| r.list_keys()).await.expect("list");
        let c1 = keys.iter().find(|k| k.record.kid == "c1").expect("c1");
        assert_eq!(c1.private_key.as_slice(), b"resealed c1");
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

    async fn a_key_keeps_the_longest_lifetimes_declared_on_it_and_prune_honours_them(db) {
        let store = db.open().await;
        store
            .run(|r| r.ensure_keys(&key("c1", KeyState::Current, 0), &key("n1", KeyState::Next, 0)))
            .await
            .expect("ensure");
        let declare = |kids: &[&str], access_ttl, jwks_max_age| {
            let kids: Vec<String> = kids.iter().map(|k| (*k).to_owned()).collect();
            let store = store.clone();
            async move {
                let lifetimes = Lifetimes { access_ttl, jwks_max_age };
                store.run(move |r| r.declare_key_lifetimes(&kids, lifetimes)).await.expect("declare")
            }
        };
        let declared = |keys: &[StoredKey], kid: &str| {
            keys.iter().find(|k| k.record.kid == kid).expect("kid").record.signed_with
        };
        assert_eq!(declare(&["c1", "n1"], 3600, 60).await, 2);
        // Another instance with a shorter lifetime and a longer max-age: only
        // the max-age rises; the same again changes nothing.
        assert_eq!(declare(&["c1"], 900, 300).await, 1);
        assert_eq!(declare(&["c1"], 900, 300).await, 0);
        assert_eq!(declare(&["gone"], 99_999, 0).await, 0);
        let keys = store.run(|r| r.list_keys()).await.expect("list");
        assert_eq!(declared(&keys, "c1"), Lifetimes { access_ttl: 3600, jwks_max_age: 300 });
        assert_eq!(declared(&keys, "n1"), Lifetimes { access_ttl: 3600, jwks_max_age: 60 });

        // Retired at 1000 and pruned by a process whose own lifetimes (60 s,
        // max-age 300 s, no margin) would allow it from 1360: the declared
        // 3600 s keep it until 4900.
        let rotated = store
            .run(|r| r.rotate_keys(POLICY, 1000, MANUAL, &key("n2", KeyState::Next, 1000)))
            .await
            .expect("rotate");
        assert!(matches!(rotated, KeyChange::Rotated(_)), "{rotated:?}");
        let early = store.run(|r| r.prune_keys(POLICY, 4899)).await.expect("prune");
        assert!(early.is_empty(), "{early:?}");
        let pruned = store.run(|r| r.prune_keys(POLICY, 4900)).await.expect("prune");
        assert_eq!(pruned, ["c1"]);
        let keys = store.run(|r| r.list_keys()).await.expect("list");
        assert_eq!(declared(&keys, "n2"), Lifetimes::default(), "a new key starts undeclared");
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
        let next = RefreshRow { generation: 1, ..session("fam", "u1", "web", 1120) };
        assert_eq!(rotated, RefreshOutcome::Rotated(next));
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

    async fn a_session_keeps_one_row_through_ten_thousand_refreshes_and_any_earlier_token_is_reuse(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_refresh(b"other", &session("other", "u1", "web", 90_000), 100)).await.expect("insert");
        store.run(|r| r.insert_refresh(&0u64.to_be_bytes(), &session("fam", "u1", "web", 90_000), 100)).await.expect("insert");
        let rows = || store.run(|r| r.count_rows(Expiring::RefreshSessions));
        assert_eq!(rows().await.expect("rows"), 2);
        let claimed = |generation: u64, successor: u64, now: u64| PresentedRefresh {
            token_hash: generation.to_be_bytes().to_vec(),
            claimed: Some(ClaimedGeneration { family_id: "fam".into(), generation }),
            client_id: "web".into(),
            successor_hash: successor.to_be_bytes().to_vec(),
            now,
            successor_expires_at: now + 50_000,
        };
        // Ten thousand rotations, in batches of one connection's worth.
        const REFRESHES: u64 = 10_000;
        for batch in 0..REFRESHES / 500 {
            store
                .run(move |r| {
                    for generation in batch * 500..(batch + 1) * 500 {
                        match r.use_refresh(&claimed(generation, generation + 1, 200))? {
                            RefreshOutcome::Rotated(row) => assert_eq!(row.generation, generation + 1),
                            other => panic!("generation {generation}: {other:?}"),
                        }
                    }
                    Ok(())
                })
                .await
                .expect("rotate");
        }
        assert_eq!(rows().await.expect("rows"), 2, "one row per session, whatever it did");
        // The current token is live; an early one comes back: reuse.
        let current = REFRESHES.to_be_bytes();
        assert!(store.run(move |r| r.refresh_family(&current, 300)).await.expect("find").is_some());
        let replay = store.run(move |r| r.use_refresh(&claimed(5, 77_777, 300))).await.expect("use");
        assert_eq!(replay, RefreshOutcome::Reused { family_id: "fam".into() });
        assert!(store.run(move |r| r.refresh_family(&current, 300)).await.expect("find").is_none(), "revoked");
        assert_eq!(ended(&store, 0).await, ["fam"]);
        // A generation later than the current one was never issued.
        store.run(|r| r.insert_refresh(b"g0", &session("fam2", "u1", "web", 90_000), 100)).await.expect("insert");
        let mut later = claimed(3, 9, 300);
        later.token_hash = b"g0".to_vec();
        later.claimed = Some(ClaimedGeneration { family_id: "fam2".into(), generation: 3 });
        let outcome = store.run(move |r| r.use_refresh(&later)).await.expect("use");
        assert_eq!(outcome, RefreshOutcome::Invalid);
        assert!(store.run(|r| r.refresh_family(b"g0", 300)).await.expect("find").is_some(), "untouched");
    }

    async fn the_revocation_log_records_every_kind_in_order_and_its_purge_moves_the_floor(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        let start = store.run(|r| r.revocations_after(None, 100)).await.expect("log");
        assert!(start.entries.is_empty());
        assert_eq!((start.head.epoch.len(), start.head.purged_through), (16, 0));
        store.run(|r| r.revoke_access_token("j1", 300, 100)).await.expect("revoke");
        store.run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "web", 5000), 100)).await.expect("insert");
        store.run(|r| r.revoke_family("fam", 110)).await.expect("end");
        store.run(|r| r.revoke_family("fam", 120)).await.expect("a repeat records nothing");
        assert!(store.run(|r| r.disable_user("u1", 130, 131)).await.expect("disable"));
        let page = store.run(|r| r.revocations_after(None, 100)).await.expect("log");
        let kinds: Vec<(LogKind, &str, u64)> =
            page.entries.iter().map(|e| (e.kind, e.id.as_str(), e.at)).collect();
        assert_eq!(kinds, [(LogKind::Token, "j1", 300), (LogKind::Session, "fam", 110), (LogKind::Subject, "u1", 131)]);
        let positions: Vec<i64> = page.entries.iter().map(|e| e.position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(page.head.position, positions[2]);
        // From a position on, a page at a time.
        let after = positions[0];
        let rest = store.run(move |r| r.revocations_after(Some(after), 1)).await.expect("log");
        assert_eq!(rest.entries.len(), 1);
        assert_eq!(rest.entries[0].position, positions[1]);
        let head = page.head.position;
        assert!(store.run(move |r| r.revocations_after(Some(head), 10)).await.expect("log").entries.is_empty());
        // The token expired at 300; the session and the cut-off are needed
        // until `ended_before` passes them.
        let purge = |h: PurgeHorizon| move |r: &mut dyn Repository| r.purge_expired(Expiring::RevocationLog, &h, 10);
        assert_eq!(store.run(purge(horizon(300, 109))).await.expect("purge"), 1);
        let floor = store.run(|r| r.revocations_after(None, 10)).await.expect("log");
        assert_eq!((floor.entries.len(), floor.head.purged_through), (2, positions[0]));
        assert_eq!(store.run(purge(horizon(300, 200))).await.expect("purge"), 2);
        let empty = store.run(|r| r.revocations_after(None, 10)).await.expect("log");
        assert_eq!((empty.entries.len(), empty.head.purged_through, empty.head.position), (0, positions[2], head));
    }

    async fn the_purge_takes_expired_rows_of_every_kind_a_batch_at_a_time_and_leaves_live_ones(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        // Three expired and one live row of each kind, at now = 1000 and
        // ended_before = 500.
        for (i, expires) in [(1u8, 900u64), (2, 950), (3, 1000), (4, 5000)] {
            let (family, token) = (format!("f{i}"), [b't', i]);
            store.run(move |r| r.insert_refresh(&token, &session(&family, "u1", "web", expires), 100)).await.expect("refresh");
            let jti = format!("j{i}");
            store.run(move |r| r.revoke_access_token(&jti, expires, 100)).await.expect("revoke");
            let mut g = grant(&format!("g{i}"), "u1", "s");
            g.expires_at = expires;
            store.run(move |r| r.insert_grant(&g, &[b'c', i])).await.expect("grant");
            let b = browser(&format!("s{i}"), "u1", expires);
            store.run(move |r| r.insert_browser_session(&b, &[b'b', i])).await.expect("browser");
            store
                .run(move |r| r.insert_account_token(&[b'a', i], AccountTokenPurpose::PasswordReset, "u1", 100 + u64::from(i) * 100, expires, 0))
                .await
                .expect("account token");
            let charge = ThrottleCharge { slot: u64::from(i), limit: 5, window: expires - 100 };
            store.run(move |r| r.reserve_attempt(&[charge], 100)).await.expect("slot");
            store.run(move |r| r.note_sign_in(&[i; 32], expires - 400)).await.expect("sign-in");
            let family = format!("f{i}");
            store.run(move |r| r.bind_session(&family, "jkt", 100)).await.expect("bind");
        }
        // Cut-offs (in the log too): three before 500, one after.
        for (i, before) in [(1, 300u64), (2, 400), (3, 500), (4, 900)] {
            let id = format!("c{i}");
            store.run(move |r| r.insert_client(&client(&id))).await.expect("client");
            let id = format!("c{i}");
            assert!(store.run(move |r| r.delete_client(&id, before)).await.expect("cut-off"));
        }
        let mut h = horizon(1000, 500);
        h.trusted_since = 601;
        for kind in Expiring::ALL {
            let before = store.run(move |r| r.count_rows(kind)).await.expect("count");
            let mut batches = Vec::new();
            loop {
                let n = store.run(move |r| r.purge_expired(kind, &h, 2)).await.expect("purge");
                batches.push(n);
                if n < 2 {
                    break;
                }
            }
            assert!(batches.iter().all(|&n| n <= 2), "{kind:?}: {batches:?}");
            let after = store.run(move |r| r.count_rows(kind)).await.expect("count");
            assert_eq!(before - after, batches.iter().sum::<u64>(), "{kind:?}");
            assert!(before > after, "{kind:?}: something expired went ({before} -> {after})");
            assert!(after >= 1, "{kind:?}: the live row stays");
        }
        // What stayed is the live one of each kind.
        assert!(store.run(|r| r.refresh_family(&[b't', 4], 1000)).await.expect("find").is_some());
        assert!(store.run(|r| r.refresh_family(&[b't', 3], 999)).await.expect("find").is_none());
        assert_eq!(store.run(|r| r.live_revocations(0)).await.expect("live").len(), 1);
        assert!(store.run(|r| r.browser_session(&[b'b', 4], 1000)).await.expect("read").is_some());
        assert!(store.run(|r| r.account_token(&[b'a', 4], AccountTokenPurpose::PasswordReset, 1000)).await.expect("read").is_some());
        assert_eq!(store.run(|r| r.session_binding("f4")).await.expect("binding").as_deref(), Some("jkt"));
        assert_eq!(store.run(|r| r.session_binding("f1")).await.expect("binding"), None);
        assert_eq!(store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs").len(), 1);
        assert!(store.run(|r| r.signed_in_since(&[4; 32], 0)).await.expect("since"));
        assert!(!store.run(|r| r.signed_in_since(&[1; 32], 0)).await.expect("since"));
        let log = store.run(|r| r.revocations_after(None, 100)).await.expect("log");
        assert_eq!(log.entries.len(), 2, "the live token's and cut-off's entries: {:?}", log.entries);
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

    async fn a_client_secret_is_replaced_at_once_with_an_overlap_or_with_its_tokens_cut_off(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_client(&client("svc"))).await.expect("client");
        let spa = ClientRow { public: true, redirect_uris: vec!["http://127.0.0.1/cb".into()], ..client("spa") };
        store.run(move |r| r.insert_client(&spa)).await.expect("client");
        let read = |id: &'static str| {
            let store = store.clone();
            async move { store.run(move |r| r.client(id)).await.expect("read").expect("found") }
        };
        let rotate = |id: &'static str, hash: Vec<u8>, how| {
            let store = store.clone();
            async move { store.run(move |r| r.rotate_client_secret(id, &hash, how)).await.expect("rotate") }
        };

        // With an overlap, the old digest becomes the previous one.
        assert!(rotate("svc", vec![8; 32], SecretRotation::Overlap { until: 5000 }).await);
        let svc = read("svc").await;
        assert_eq!(svc.secret_hash, vec![8; 32]);
        assert_eq!(svc.previous_secret, Some(PreviousSecret { hash: vec![7; 32], expires_at: 5000 }));
        // Replaced at once: no previous secret, even the one kept above.
        assert!(rotate("svc", vec![9; 32], SecretRotation::Replace).await);
        let svc = read("svc").await;
        assert_eq!((svc.secret_hash, svc.previous_secret), (vec![9; 32], None));

        // Revoked: the client's refresh tokens go and a cut-off is logged.
        store.run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "svc", 9000), 100)).await.expect("refresh");
        assert!(rotate("svc", vec![10; 32], SecretRotation::Revoke { issued_before: 700 }).await);
        assert_eq!(read("svc").await.secret_hash, vec![10; 32]);
        assert!(store.run(|r| r.refresh_family(b"t1", 200)).await.expect("find").is_none());
        let page = store.run(|r| r.revocations_after(None, 100)).await.expect("log");
        let cut: Vec<(LogKind, &str, u64)> =
            page.entries.iter().map(|e| (e.kind, e.id.as_str(), e.at)).collect();
        assert_eq!(cut, [(LogKind::Client, "svc", 700)]);

        // A public client has no secret; an unknown one is not there.
        assert!(!rotate("spa", vec![1; 32], SecretRotation::Replace).await);
        assert_eq!(read("spa").await.secret_hash, vec![7; 32]);
        assert!(!rotate("nobody", vec![1; 32], SecretRotation::Replace).await);
    }

    async fn clients_keep_their_browser_settings(db) {
        let store = db.open().await;
        let spa = ClientRow {
            redirect_uris: vec!["https://spa.example/cb".into(), "http://127.0.0.1/cb".into()],
            public: true,
            consent: true,
            post_logout_redirect_uris: vec!["https://spa.example/bye".into()],
            ..client("spa")
        };
        let row = spa.clone();
        store.run(move |r| r.insert_client(&row)).await.expect("insert");
        let found = store.run(|r| r.client("spa")).await.expect("read").expect("found");
        assert_eq!(found.redirect_uris, spa.redirect_uris);
        assert_eq!(found.post_logout_redirect_uris, spa.post_logout_redirect_uris);
        assert!(found.public && found.consent);
        let listed = store.run(|r| r.list_clients()).await.expect("list");
        assert_eq!(listed[0].redirect_uris, spa.redirect_uris);
    }

    async fn browser_sessions_live_renew_and_end_with_their_grants(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_browser_session(&browser("s1", "u1", 500), b"cookie1"))
            .await
            .expect("session");
        let live = store.run(|r| r.browser_session(b"cookie1", 200)).await.expect("read");
        assert_eq!(live.map(|s| s.id).as_deref(), Some("s1"));
        assert!(store.run(|r| r.browser_session(b"cookie1", 500)).await.expect("read").is_none(), "expired");
        assert!(store.run(|r| r.browser_session(b"other", 200)).await.expect("read").is_none());
        // Signing in again: a new cookie, a new auth_time; the old cookie is dead.
        // (with a second factor this time: the session remembers how).
        let renewed = BrowserSessionRow {
            auth_time: 300,
            expires_at: 900,
            amr: "pwd otp".into(),
            ..browser("s1", "u1", 500)
        };
        assert!(store.run(move |r| r.renew_browser_session(&renewed, b"cookie2", 300)).await.expect("renew"));
        assert!(store.run(|r| r.browser_session(b"cookie1", 300)).await.expect("read").is_none());
        let s = store.run(|r| r.browser_session(b"cookie2", 300)).await.expect("read").expect("live");
        assert_eq!((s.auth_time, s.expires_at, s.amr.as_str()), (300, 900, "pwd otp"));
        // Two grants in the session, one with a refresh token; another session's grant.
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code1")).await.expect("grant");
        store.run(|r| r.insert_grant(&grant("g2", "u1", "s1"), b"code2")).await.expect("grant");
        store.run(|r| r.insert_grant(&grant("g3", "u1", "s9"), b"code3")).await.expect("grant");
        store
            .run(|r| r.insert_refresh(b"rt", &session("g1", "u1", "web", 5000), 300))
            .await
            .expect("refresh");
        assert!(ended(&store, 0).await.is_empty());
        assert!(store.run(|r| r.end_browser_session("s1", 400)).await.expect("end"));
        assert!(!store.run(|r| r.end_browser_session("s1", 401)).await.expect("end again"));
        assert!(store.run(|r| r.browser_session(b"cookie2", 400)).await.expect("read").is_none());
        assert_eq!(ended(&store, 0).await, ["g1", "g2"]);
        assert!(store.run(|r| r.refresh_family(b"rt", 400)).await.expect("read").is_none());
        // Renewing an ended session fails.
        let again = browser("s1", "u1", 900);
        assert!(!store.run(move |r| r.renew_browser_session(&again, b"c3", 410)).await.expect("renew"));
    }

    async fn changing_or_resetting_a_password_ends_the_users_other_browser_sessions(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_user(&user("u2", "bob@example.com"))).await.expect("user");
        for (id, who, cookie) in [("s1", "u1", b"c1"), ("s2", "u1", b"c2"), ("s3", "u2", b"c3")] {
            store
                .run(move |r| r.insert_browser_session(&browser(id, who, 5000), cookie))
                .await
                .expect("session");
        }
        // The browser that changed the password stays signed in.
        assert!(store.run(|r| r.set_password("u1", "$2b$new", Some("s1"), 301)).await.expect("set"));
        assert!(store.run(|r| r.browser_session(b"c1", 302)).await.expect("read").is_some());
        assert!(store.run(|r| r.browser_session(b"c2", 302)).await.expect("read").is_none());
        assert!(store.run(|r| r.browser_session(b"c3", 302)).await.expect("read").is_some(), "another user's");
        // A reset ends them all.
        store
            .run(|r| r.insert_account_token(b"r1", AccountTokenPurpose::PasswordReset, "u1", 300, 900, 0))
            .await
            .expect("token");
        assert!(store.run(|r| r.reset_password(b"r1", "$2b$reset", 303, 304)).await.expect("reset").is_some());
        assert!(store.run(|r| r.browser_session(b"c1", 305)).await.expect("read").is_none());
        assert!(store.run(|r| r.browser_session(b"c3", 305)).await.expect("read").is_some());
    }

    async fn a_password_change_voids_the_reset_links_mailed_before_it(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_account_token(b"r1", AccountTokenPurpose::PasswordReset, "u1", 300, 900, 0))
            .await
            .expect("token");
        assert!(store.run(|r| r.set_password("u1", "$2b$new", None, 301)).await.expect("set"));
        assert_eq!(
            store.run(|r| r.reset_password(b"r1", "$2b$reset", 302, 303)).await.expect("reset"),
            None,
            "the old link no longer sets a password"
        );
    }

    async fn renewing_the_feed_changes_its_epoch_and_keeps_its_log(db) {
        let store = db.open().await;
        store.run(|r| r.revoke_access_token("j1", 9000, 100)).await.expect("revoke");
        let before = store.run(|r| r.revocations_after(None, 10)).await.expect("log");
        store.run(|r| r.renew_feed("0123456789abcdef")).await.expect("renew");
        let after = store.run(|r| r.revocations_after(None, 10)).await.expect("log");
        assert_ne!(before.head.epoch, "0123456789abcdef");
        assert_eq!(after.head.epoch, "0123456789abcdef");
        assert_eq!(after.head.position, before.head.position);
        assert_eq!(after.entries, before.entries);
    }

    async fn a_code_is_redeemed_once_and_a_replay_revokes_its_grant(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("grant");
        // Strangers and wrong bindings touch nothing.
        let outcome = store.run(|r| r.redeem_code(&code(b"code", "evil", "challenge", 120))).await;
        assert_eq!(outcome.expect("redeem"), CodeOutcome::WrongClient);
        let outcome = store.run(|r| r.redeem_code(&code(b"code", "web", "wrong", 120))).await;
        assert_eq!(outcome.expect("redeem"), CodeOutcome::VerifierMismatch);
        let outcome = store.run(|r| r.redeem_code(&code(b"nope", "web", "challenge", 120))).await;
        assert_eq!(outcome.expect("redeem"), CodeOutcome::Invalid);
        let other_api = PresentedCode {
            resource: Some("https://other.example.com".into()),
            ..code(b"code", "web", "challenge", 120)
        };
        let outcome = store.run(move |r| r.redeem_code(&other_api)).await;
        assert_eq!(outcome.expect("redeem"), CodeOutcome::ResourceMismatch);
        let same_api = PresentedCode { resource: Some(API.into()), ..code(b"code", "web", "challenge", 120) };
        match store.run(move |r| r.redeem_code(&same_api)).await.expect("redeem") {
            CodeOutcome::Redeemed(g) => assert_eq!(*g, grant("g1", "u1", "s1")),
            other => panic!("expected a redemption, got {other:?}"),
        }
        assert_eq!(store.run(|r| r.grant_resource("g1")).await.expect("read").as_deref(), Some(API));
        assert_eq!(store.run(|r| r.grant_resource("nope")).await.expect("read"), None);
        store
            .run(|r| r.insert_refresh(b"rt", &session("g1", "u1", "web", 5000), 120))
            .await
            .expect("refresh");
        assert!(ended(&store, 0).await.is_empty());
        let replay = store.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 130))).await;
        assert_eq!(replay.expect("redeem"), CodeOutcome::Replayed { family_id: "g1".into() });
        assert_eq!(ended(&store, 0).await, ["g1"]);
        assert!(store.run(|r| r.refresh_family(b"rt", 130)).await.expect("read").is_none());
        let third = store.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 131))).await;
        assert_eq!(third.expect("redeem"), CodeOutcome::Invalid);
    }

    async fn an_expired_code_is_refused_and_expired_grants_are_forgotten(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("grant");
        let outcome = store.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 160))).await;
        assert_eq!(outcome.expect("redeem"), CodeOutcome::Invalid);
        store.run(|r| r.insert_browser_session(&browser("s1", "u1", 500), b"c")).await.expect("s");
        purge_all(&store, horizon(1000, 0)).await;
        // Forgotten: the code is unknown, the session is gone.
        assert!(store.run(|r| r.browser_session(b"c", 10)).await.expect("read").is_none());
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("id free again");
    }

    async fn concurrent_redemptions_of_one_code_let_exactly_one_through(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("grant");
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(db.open().await);
        }
        let outcomes = all_at_once(stores.into_iter().map(|s| async move {
            s.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 120))).await.expect("redeem")
        }))
        .await;
        let redeemed = outcomes.iter().filter(|o| matches!(o, CodeOutcome::Redeemed(_))).count();
        assert_eq!(redeemed, 1, "{outcomes:?}");
        assert!(outcomes.iter().any(|o| matches!(o, CodeOutcome::Replayed { .. })), "{outcomes:?}");
    }

    async fn a_sign_in_s_session_is_stored_only_while_the_account_is_as_it_checked(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        let read = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        let guard = SessionGuard::of(&read);
        // Each change a sign-in may race, committed after it read the user.
        let changes: [(&str, Change); 3] = [
            ("password", |r| r.set_password("u1", "$2b$04$other", None, 300)),
            ("signed out everywhere", |r| r.end_user_sessions("u1", None, 400)),
            ("disabled", |r| r.disable_user("u1", 500, 501)),
        ];
        for (i, (why, change)) in changes.into_iter().enumerate() {
            let before = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
            let fresh = SessionGuard::of(&before);
            let family = format!("before-{i}");
            let row = session(&family, "u1", "login", 5000);
            let stored = store
                .run(move |r| r.insert_refresh_guarded(family.as_bytes(), &row, 100, &fresh))
                .await
                .expect("insert");
            assert!(stored, "{why}: a guard read just before holds");
            assert!(store.run(move |r| change(r)).await.expect("change"), "{why}");
            let (stale, family) = (guard.clone(), format!("after-{i}"));
            let row = session(&family, "u1", "login", 5000);
            let stored = store
                .run(move |r| r.insert_refresh_guarded(family.as_bytes(), &row, 100, &stale))
                .await
                .expect("insert");
            assert!(!stored, "{why}: the session of a check before it is refused");
            let stale = guard.clone();
            let stored = store
                .run(move |r| {
                    r.insert_browser_session_guarded(&browser(&format!("b{i}"), "u1", 5000), b"c", &stale)
                })
                .await
                .expect("insert");
            assert!(!stored, "{why}: no browser session either");
        }
        assert!(store.run(|r| r.refresh_family(b"after-0", 100)).await.expect("read").is_none());
    }

    async fn a_replayed_code_s_grant_gets_no_refresh_token_however_late(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("grant");
        let redeemed = store.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 120))).await;
        assert!(matches!(redeemed.expect("redeem"), CodeOutcome::Redeemed(_)));
        let read = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        let guard = SessionGuard::of(&read);
        // The replay lands before the winner stores its refresh token.
        let replayed = store.run(|r| r.redeem_code(&code(b"code", "web", "challenge", 121))).await;
        assert!(matches!(replayed.expect("replay"), CodeOutcome::Replayed { .. }));
        let row = session("g1", "u1", "web", 5000);
        let stored = store
            .run(move |r| r.insert_refresh_guarded(b"t1", &row, 122, &guard))
            .await
            .expect("insert");
        assert!(!stored, "the revoked grant's family is not started");
        assert!(store.run(|r| r.refresh_family(b"t1", 122)).await.expect("read").is_none());
    }

    async fn withdrawing_consent_forgets_it_and_revokes_the_client_s_sessions(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.remember_consent("u1", "web", "email openid", 100)).await.expect("c1");
        store.run(|r| r.remember_consent("u1", "web", "offline_access openid", 101)).await.expect("c2");
        store.run(|r| r.remember_consent("u1", "other", "openid", 102)).await.expect("c3");
        let listed = store.run(|r| r.consents_of("u1")).await.expect("list");
        assert_eq!(
            listed,
            [
                ("other".to_owned(), "openid".to_owned()),
                ("web".to_owned(), "email offline_access openid".to_owned())
            ]
        );
        store.run(|r| r.insert_grant(&grant("g1", "u1", "s1"), b"code")).await.expect("grant");
        store.run(|r| r.insert_refresh(b"t1", &session("g1", "u1", "web", 5000), 100)).await.expect("web");
        store.run(|r| r.insert_refresh(b"t2", &session("f2", "u1", "other", 5000), 100)).await.expect("other");
        assert!(store.run(|r| r.withdraw_consent("u1", "web", 200)).await.expect("withdraw"));
        assert!(!store.run(|r| r.withdraw_consent("u1", "web", 201)).await.expect("again"));
        assert!(!store.run(|r| r.has_consent("u1", "web", "email openid")).await.expect("read"));
        assert!(store.run(|r| r.refresh_family(b"t1", 200)).await.expect("read").is_none());
        assert!(store.run(|r| r.refresh_family(b"t2", 200)).await.expect("read").is_some(), "other client kept");
        let sessions = store.run(|r| r.sessions_revoked_since(0)).await.expect("feed");
        assert!(sessions.iter().any(|s| s.family_id == "g1"), "{sessions:?}");
    }

    async fn consent_is_remembered_per_user_client_and_scope_set(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        assert!(!store.run(|r| r.has_consent("u1", "web", "email openid")).await.expect("read"));
        store.run(|r| r.remember_consent("u1", "web", "email openid", 100)).await.expect("remember");
        store.run(|r| r.remember_consent("u1", "web", "email openid", 101)).await.expect("repeat ignored");
        assert!(store.run(|r| r.has_consent("u1", "web", "email openid")).await.expect("read"));
        assert!(!store.run(|r| r.has_consent("u1", "web", "openid")).await.expect("read"));
        assert!(!store.run(|r| r.has_consent("u1", "other", "email openid")).await.expect("read"));
    }

    async fn users_are_listed_by_creation_in_pages(db) {
        let store = db.open().await;
        for (i, id) in ["c", "a", "b", "d"].iter().enumerate() {
            let mut row = user(id, &format!("{id}@example.com"));
            row.created_at = if i < 3 { 100 } else { 50 };
            store.run(move |r| r.insert_user(&row)).await.expect("insert");
        }
        let ids = |rows: Vec<UserRow>| rows.into_iter().map(|u| u.id).collect::<Vec<_>>();
        let first = store.run(|r| r.list_users(None, 2)).await.expect("list");
        assert_eq!(ids(first), ["d", "a"]);
        let cursor = UserCursor { created_at: 100, id: "a".into() };
        let rest = store.run(move |r| r.list_users(Some(&cursor), 10)).await.expect("list");
        assert_eq!(ids(rest), ["b", "c"]);
    }

    async fn disabling_ends_sessions_and_cuts_off_tokens_until_they_age_out(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "login", 5000), 100))
            .await
            .expect("session");
        let revoked_before = store.run(|r| r.change_counter("revocations")).await.expect("counter");
        assert!(store.run(|r| r.disable_user("u1", 200, 201)).await.expect("disable"));
        assert!(!store.run(|r| r.disable_user("nobody", 200, 201)).await.expect("disable"));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        assert_eq!((ann.disabled_at, ann.tokens_not_before), (Some(200), 201));
        assert!(store.run(|r| r.refresh_family(b"t1", 200)).await.expect("find").is_none());
        let after = store.run(|r| r.change_counter("revocations")).await.expect("counter");
        assert!(after > revoked_before, "running instances notice the cut-off");
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!(
            cutoffs,
            [TokenCutoff {
                kind: CutoffKind::Subject,
                id: "u1".into(),
                issued_before: 201,
                except_sid: None
            }]
        );
        assert!(store.run(|r| r.enable_user("u1")).await.expect("enable"));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        assert_eq!(ann.disabled_at, None);
        assert!(store.run(|r| r.refresh_family(b"t1", 200)).await.expect("find").is_none(), "ended sessions stay ended");
        // Entries whose tokens have all expired leave.
        assert!(store.run(|r| r.cutoffs_since(201)).await.expect("cutoffs").is_empty());
        purge_all(&store, horizon(300, 201)).await;
        assert!(store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs").is_empty());
    }

    async fn a_password_change_ends_the_other_sessions_only_and_cutoffs_only_move_forward(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        for (token, family) in [(b"t1", "keep"), (b"t2", "other")] {
            store
                .run(move |r| r.insert_refresh(token, &session(family, "u1", "login", 5000), 100))
                .await
                .expect("session");
        }
        assert!(store.run(|r| r.set_password("u1", "$2b$new", Some("keep"), 301)).await.expect("set"));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        assert_eq!((ann.password_hash.as_str(), ann.tokens_not_before), ("$2b$new", 301));
        assert!(store.run(|r| r.refresh_family(b"t1", 300)).await.expect("find").is_some());
        assert!(store.run(|r| r.refresh_family(b"t2", 300)).await.expect("find").is_none());
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!(cutoffs[0].except_sid.as_deref(), Some("keep"));
        // An older cut-off (another instance's clock behind) changes nothing.
        assert!(store.run(|r| r.end_user_sessions("u1", None, 250)).await.expect("end"));
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!((cutoffs[0].issued_before, cutoffs[0].except_sid.as_deref()), (301, Some("keep")));
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        assert_eq!(ann.tokens_not_before, 301);
        assert!(store.run(|r| r.refresh_family(b"t1", 300)).await.expect("find").is_none(), "but it ends every session");
        assert!(store.run(|r| r.end_user_sessions("u1", None, 400)).await.expect("end"));
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!((cutoffs[0].issued_before, cutoffs[0].except_sid.as_deref()), (400, None));
    }

    async fn deleting_a_user_leaves_nothing_but_the_cutoff(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "login", 5000), 100))
            .await
            .expect("session");
        store.run(|r| r.start_totp("u1", b"secret", false, 100)).await.expect("totp");
        store
            .run(|r| r.insert_account_token(b"a1", AccountTokenPurpose::PasswordReset, "u1", 100, 900, 0))
            .await
            .expect("token");
        assert!(store.run(|r| r.delete_user("u1", 201)).await.expect("delete"));
        assert!(!store.run(|r| r.delete_user("u1", 202)).await.expect("delete"));
        assert!(store.run(|r| r.user_by_email("ann@example.com")).await.expect("get").is_none());
        assert!(store.run(|r| r.refresh_family(b"t1", 150)).await.expect("find").is_none());
        assert!(store.run(|r| r.totp_factor("u1")).await.expect("totp").is_none());
        assert!(store
            .run(|r| r.account_token(b"a1", AccountTokenPurpose::PasswordReset, 150))
            .await
            .expect("token")
            .is_none());
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!((cutoffs.len(), cutoffs[0].id.as_str()), (1, "u1"));
        // The address is free again.
        store.run(|r| r.insert_user(&user("u2", "ann@example.com"))).await.expect("again");
    }

    async fn deleting_a_client_ends_its_sessions_and_cuts_off_its_tokens(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_client(&client("web"))).await.expect("client");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "web", 5000), 100))
            .await
            .expect("session");
        assert!(store.run(|r| r.delete_client("web", 201)).await.expect("delete"));
        assert!(!store.run(|r| r.delete_client("web", 202)).await.expect("delete"));
        assert!(store.run(|r| r.refresh_family(b"t1", 150)).await.expect("find").is_none());
        let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
        assert_eq!((cutoffs[0].kind, cutoffs[0].id.as_str(), cutoffs[0].issued_before), (CutoffKind::Client, "web", 201));
    }

    async fn account_tokens_work_once_expire_and_are_not_mailed_twice_a_minute(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        let reset = AccountTokenPurpose::PasswordReset;
        assert!(store.run(move |r| r.insert_account_token(b"r1", reset, "u1", 100, 1000, 60)).await.expect("insert"));
        assert!(!store.run(move |r| r.insert_account_token(b"r2", reset, "u1", 130, 1000, 60)).await.expect("insert"), "within the interval");
        assert!(store.run(move |r| r.insert_account_token(b"r3", reset, "u1", 161, 1000, 60)).await.expect("insert"));
        assert!(store.run(move |r| r.account_token(b"r1", AccountTokenPurpose::Mfa, 200)).await.expect("get").is_none(), "purpose matters");
        let live = store.run(move |r| r.account_token(b"r1", reset, 200)).await.expect("get").expect("live");
        assert_eq!((live.user_id.as_str(), live.failures), ("u1", 0));
        assert_eq!(store.run(|r| r.note_account_token_failure(b"r1")).await.expect("fail"), 1);
        assert!(store.run(move |r| r.account_token(b"r1", reset, 1000)).await.expect("get").is_none(), "expired");
        store
            .run(|r| r.insert_refresh(b"t1", &session("fam", "u1", "login", 5000), 100))
            .await
            .expect("session");
        let who = store.run(|r| r.reset_password(b"r1", "$2b$reset", 300, 301)).await.expect("reset");
        assert_eq!(who.as_deref(), Some("u1"));
        assert_eq!(store.run(|r| r.reset_password(b"r1", "$2b$again", 302, 303)).await.expect("reset"), None, "once");
        assert_eq!(store.run(|r| r.reset_password(b"r3", "$2b$again", 302, 303)).await.expect("reset"), None, "other links die with it");
        let ann = store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found");
        assert_eq!((ann.password_hash.as_str(), ann.tokens_not_before), ("$2b$reset", 301));
        assert!(store.run(|r| r.refresh_family(b"t1", 300)).await.expect("find").is_none());

        let verify = AccountTokenPurpose::EmailVerification;
        assert!(store.run(move |r| r.insert_account_token(b"v1", verify, "u1", 100, 1000, 0)).await.expect("insert"));
        assert_eq!(store.run(|r| r.verify_email(b"v1", 1000)).await.expect("verify"), None, "expired");
        assert!(store.run(move |r| r.insert_account_token(b"v2", verify, "u1", 900, 2000, 0)).await.expect("insert"));
        assert_eq!(store.run(|r| r.verify_email(b"v2", 1000)).await.expect("verify").as_deref(), Some("u1"));
        assert_eq!(store.run(|r| r.verify_email(b"v2", 1001)).await.expect("verify"), None, "once");
        assert!(store.run(|r| r.user_by_id("u1")).await.expect("get").expect("found").email_verified);
        let mfa = AccountTokenPurpose::Mfa;
        assert!(store.run(move |r| r.insert_account_token(b"m1", mfa, "u1", 900, 2000, 0)).await.expect("insert"));
        let uses = all_at_once((0..4).map(|_| {
            let store = store.clone();
            async move { store.run(move |r| r.use_account_token(b"m1", mfa, 1000)).await.expect("use") }
        }))
        .await;
        assert_eq!(uses.iter().filter(|u| u.is_some()).count(), 1, "{uses:?}");
    }

    async fn secrets_stored_before_an_encryption_key_are_sealed_in_place_once(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        store.run(|r| r.insert_user(&user("u2", "bob@example.com"))).await.expect("user");
        store.run(|r| r.start_totp("u1", b"plain secret", false, 100)).await.expect("totp");
        store.run(|r| r.start_totp("u2", b"sealed already", true, 100)).await.expect("totp");
        let vault = idp::vault::Vault::from_secret(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
            .expect("vault");
        let sealed = idp::accounts::totp_at_rest::seal_stored(&store, &vault).await.expect("seal");
        assert_eq!(sealed, 1, "only the unencrypted one");
        let row = store.run(|r| r.totp_factor("u1")).await.expect("read").expect("factor");
        assert!(row.encrypted);
        assert_ne!(row.secret.as_slice(), b"plain secret");
        let opened = vault.open("totp:u1", &row.secret, true).expect("opens");
        assert_eq!(opened.as_slice(), b"plain secret");
        let other = store.run(|r| r.totp_factor("u2")).await.expect("read").expect("factor");
        assert_eq!(other.secret.as_slice(), b"sealed already", "left alone");
        assert_eq!(idp::accounts::totp_at_rest::seal_stored(&store, &vault).await.expect("again"), 0);
        assert!(!store.run(|r| r.seal_totp("u1", b"x")).await.expect("seal"), "sealed once");
        // The sealed ones, resealed only while as read.
        let mut sealed: Vec<(String, Vec<u8>)> = store
            .run(|r| r.sealed_totp())
            .await
            .expect("sealed")
            .into_iter()
            .map(|(user, secret)| (user, secret.to_vec()))
            .collect();
        sealed.sort();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[1], ("u2".to_owned(), b"sealed already".to_vec()));
        assert!(!store.run(|r| r.reseal_totp("u2", b"stale", b"x")).await.expect("reseal"));
        assert!(store.run(|r| r.reseal_totp("u2", b"sealed already", b"resealed")).await.expect("reseal"));
        let other = store.run(|r| r.totp_factor("u2")).await.expect("read").expect("factor");
        assert_eq!(other.secret.as_slice(), b"resealed");
    }

    async fn totp_steps_and_recovery_codes_are_accepted_once(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ann@example.com"))).await.expect("user");
        assert!(store.run(|r| r.start_totp("u1", b"first", false, 100)).await.expect("start"));
        assert!(store.run(|r| r.start_totp("u1", b"second", true, 110)).await.expect("restart"));
        let pending = store.run(|r| r.totp_factor("u1")).await.expect("get").expect("found");
        assert_eq!((&pending.secret[..], pending.encrypted, pending.confirmed), (&b"second"[..], true, false));
        assert!(!store.run(|r| r.use_totp_step("u1", 5)).await.expect("use"), "not confirmed yet");
        let codes = vec![b"c1".to_vec(), b"c2".to_vec()];
        assert!(store.run(move |r| r.confirm_totp("u1", 10, &codes, 120)).await.expect("confirm"));
        assert!(!store.run(|r| r.confirm_totp("u1", 11, &[], 120)).await.expect("confirm"), "once");
        assert!(!store.run(|r| r.start_totp("u1", b"third", false, 130)).await.expect("start"), "confirmed factors stay");
        let factor = store.run(|r| r.totp_factor("u1")).await.expect("get").expect("found");
        assert_eq!((factor.confirmed, factor.last_step), (true, 10));
        assert!(!store.run(|r| r.use_totp_step("u1", 10)).await.expect("use"), "the confirming code is spent");
        assert!(!store.run(|r| r.use_totp_step("u1", 9)).await.expect("use"), "older steps too");
        let racing = all_at_once((0..4).map(|_| {
            let store = store.clone();
            async move { store.run(|r| r.use_totp_step("u1", 11)).await.expect("use") }
        }))
        .await;
        assert_eq!(racing.iter().filter(|ok| **ok).count(), 1, "{racing:?}");
        assert!(store.run(|r| r.use_recovery_code("u1", b"c1", 130)).await.expect("use"));
        assert!(!store.run(|r| r.use_recovery_code("u1", b"c1", 131)).await.expect("use"), "once");
        assert!(!store.run(|r| r.use_recovery_code("u1", b"zz", 131)).await.expect("use"));
        // Renewed: the codes left are the new ones, the old ones are gone.
        assert_eq!(store.run(|r| r.recovery_codes_left("u1")).await.expect("count"), 1);
        let renewed = vec![b"n1".to_vec(), b"n2".to_vec(), b"n3".to_vec()];
        assert!(store.run(move |r| r.replace_recovery_codes("u1", &renewed)).await.expect("renew"));
        assert_eq!(store.run(|r| r.recovery_codes_left("u1")).await.expect("count"), 3);
        assert!(!store.run(|r| r.use_recovery_code("u1", b"c2", 132)).await.expect("use"), "replaced");
        assert!(store.run(|r| r.use_recovery_code("u1", b"n1", 132)).await.expect("use"));
        assert_eq!(store.run(|r| r.recovery_codes_left("u1")).await.expect("count"), 2);
        assert!(store.run(|r| r.remove_totp("u1")).await.expect("remove"));
        assert!(!store.run(|r| r.replace_recovery_codes("u1", &[b"x".to_vec()])).await.expect("renew"), "no factor");
        assert_eq!(store.run(|r| r.recovery_codes_left("u1")).await.expect("count"), 0);
        assert!(!store.run(|r| r.use_recovery_code("u1", b"n2", 133)).await.expect("use"), "gone with the factor");
        assert!(store.run(|r| r.totp_factor("u1")).await.expect("get").is_none());
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
    async fn throttle_reservations_never_exceed_a_slot_whatever_the_concurrency(db) {
        let store = db.open().await;
        let email = ThrottleCharge { slot: 7, limit: 10, window: 900 };
        let racing = all_at_once((0..40).map(|_| {
            let store = store.clone();
            async move { store.run(move |r| r.reserve_attempt(&[email], 1000)).await.expect("reserve") }
        }))
        .await;
        let admitted = racing.iter().filter(|r| matches!(r, Reservation::Admitted(_))).count();
        assert_eq!(admitted, 10, "{racing:?}");
        assert!(racing.contains(&Reservation::Refused { retry_after: 900 }));
        // A refund (a right answer) gives one use back, in the same window only.
        store.run(|r| r.refund_attempt(7, 1900)).await.expect("refund");
        store.run(|r| r.refund_attempt(7, 1234)).await.expect("stale refund");
        assert_eq!(store.run(move |r| r.reserve_attempt(&[email], 1001)).await.expect("r"), Reservation::Admitted(vec![1900]));
        assert!(matches!(store.run(move |r| r.reserve_attempt(&[email], 1001)).await.expect("r"), Reservation::Refused { .. }));
        // The window ends: a fresh one starts.
        assert_eq!(store.run(move |r| r.reserve_attempt(&[email], 1900)).await.expect("r"), Reservation::Admitted(vec![2800]));
    }

    async fn a_full_slot_refuses_the_whole_set(db) {
        let store = db.open().await;
        let open = ThrottleCharge { slot: 1, limit: 5, window: 60 };
        let full = ThrottleCharge { slot: 2, limit: 1, window: 900 };
        assert!(matches!(store.run(move |r| r.reserve_attempt(&[full], 100)).await.expect("r"), Reservation::Admitted(_)));
        let refused = store.run(move |r| r.reserve_attempt(&[open, full], 110)).await.expect("r");
        assert_eq!(refused, Reservation::Refused { retry_after: 890 });
        // Nothing was taken from the open slot: five uses remain.
        for _ in 0..5 {
            assert!(matches!(store.run(move |r| r.reserve_attempt(&[open], 120)).await.expect("r"), Reservation::Admitted(_)));
        }
        assert!(matches!(store.run(move |r| r.reserve_attempt(&[open], 120)).await.expect("r"), Reservation::Refused { .. }));
        // Two charges on one slot count twice.
        let twice = ThrottleCharge { slot: 3, limit: 2, window: 60 };
        assert!(matches!(store.run(move |r| r.reserve_attempt(&[twice, twice], 100)).await.expect("r"), Reservation::Admitted(_)));
        assert!(matches!(store.run(move |r| r.reserve_attempt(&[twice], 100)).await.expect("r"), Reservation::Refused { .. }));
    }

    async fn the_throttle_secret_is_made_once_and_sign_ins_are_remembered_then_purged(db) {
        let store = db.open().await;
        let first = store.run(|r| r.throttle_secret(b"candidate one")).await.expect("secret");
        let second = store.run(|r| r.throttle_secret(b"candidate two")).await.expect("secret");
        assert_eq!((first.as_slice(), second.as_slice()), (&b"candidate one"[..], &b"candidate one"[..]));
        store.run(|r| r.note_sign_in(&[1; 32], 1000)).await.expect("note");
        store.run(|r| r.note_sign_in(&[1; 32], 900)).await.expect("an older note does not win");
        assert!(store.run(|r| r.signed_in_since(&[1; 32], 1000)).await.expect("since"));
        assert!(!store.run(|r| r.signed_in_since(&[1; 32], 1001)).await.expect("since"));
        assert!(!store.run(|r| r.signed_in_since(&[2; 32], 0)).await.expect("since"));
        for slot in 0..5 {
            let charge = ThrottleCharge { slot, limit: 1, window: 60 };
            store.run(move |r| r.reserve_attempt(&[charge], 100 + slot)).await.expect("r");
        }
        assert_eq!(store.run(|r| r.throttle_rows()).await.expect("rows"), 5);
        // Windows that ended by 162 (slots 0..=2), two at a time.
        let slots = |now| move |r: &mut dyn Repository| r.purge_expired(Expiring::ThrottleSlots, &horizon(now, 0), 2);
        assert_eq!(store.run(slots(162)).await.expect("purge"), 2);
        assert_eq!(store.run(slots(162)).await.expect("purge"), 1);
        assert_eq!(store.run(slots(162)).await.expect("purge"), 0);
        assert_eq!(store.run(|r| r.throttle_rows()).await.expect("rows"), 2);
        let mut old = horizon(0, 0);
        old.trusted_since = 1001;
        assert_eq!(store.run(move |r| r.purge_expired(Expiring::TrustedSignIns, &old, 10)).await.expect("purge"), 1);
        assert!(!store.run(|r| r.signed_in_since(&[1; 32], 0)).await.expect("since"));
    }

    async fn emails_fold_case_by_unicode_rules_on_every_backend(db) {
        let store = db.open().await;
        store.run(|r| r.insert_user(&user("u1", "ÄNN@Example.com"))).await.expect("insert");
        let again = store.run(|r| r.insert_user(&user("u2", "änn@example.com"))).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
        let found = store.run(|r| r.user_by_email(" äNN@EXAMPLE.COM ")).await.expect("lookup").expect("found");
        assert_eq!((found.id.as_str(), found.email.as_str()), ("u1", "ÄNN@Example.com"));
        assert!(store.run(|r| r.set_user_scope("änn@example.com", "admin")).await.expect("scope"));
    }
}

/// A database made before emails were folded by one rule, holding two
/// accounts SQLite's ASCII-only NOCASE let in as different: opening it
/// folds every email, the older account keeps the address and the newer
/// can be found by id only.
#[tokio::test]
async fn existing_sqlite_users_get_folded_email_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("idp.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_revoked_sessions.sql"),
            include_str!("../migrations/sqlite/0003_browser_sign_in.sql"),
            include_str!("../migrations/sqlite/0004_accounts.sql"),
        ] {
            conn.execute_batch(sql).expect("migration");
        }
        conn.pragma_update(None, "user_version", 4)
            .expect("version");
        for (id, email, at) in [
            ("old", "ÄNN@x.org", 1),
            ("new", "änn@x.org", 2),
            ("bob", "Bob@x.org", 3),
        ] {
            conn.execute(
                "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?1, ?2, 'N', 'h', ?3)",
                rusqlite::params![id, email, at],
            )
            .expect("insert");
        }
    }
    let location: DbLocation = path.into();
    let store = tokio::task::spawn_blocking(move || Store::open(&location))
        .await
        .expect("task")
        .expect("migrates");
    let found = store
        .run(|r| r.user_by_email("änn@X.org"))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, "old");
    let bob = store
        .run(|r| r.user_by_email("BOB@x.org"))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(bob.id, "bob");
    assert!(store
        .run(|r| r.user_by_id("new"))
        .await
        .expect("by id")
        .is_some());
    let taken = store.run(|r| r.insert_user(&user("u9", "ÄnN@x.org"))).await;
    assert!(matches!(taken, Err(StoreError::Conflict)), "{taken:?}");
}

/// A database from before sessions kept one row, its schema as migrations
/// 0001..0007 leave it (`users_email_key` made after 0007): a live
/// session's current token goes on working (and is recognised as reuse
/// once rotated), used tokens and ended sessions leave the table, and the
/// feed's log starts with what the feed held.
#[tokio::test]
async fn refresh_sessions_from_before_migration_8_keep_their_current_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("idp.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_revoked_sessions.sql"),
            include_str!("../migrations/sqlite/0003_browser_sign_in.sql"),
            include_str!("../migrations/sqlite/0004_accounts.sql"),
            include_str!("../migrations/sqlite/0005_apis_and_dpop.sql"),
            include_str!("../migrations/sqlite/0006_browser_session_amr.sql"),
            include_str!("../migrations/sqlite/0007_limits.sql"),
        ] {
            conn.execute_batch(sql).expect("migration");
        }
        // What `fill_email_keys` does after 0007 on a database without users.
        conn.execute_batch("CREATE UNIQUE INDEX users_email_key ON users (email_key)")
            .expect("index");
        conn.pragma_update(None, "user_version", 7)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO users (id, email, name, password_hash, created_at, email_key)
               VALUES ('u1', 'ann@x.org', 'Ann', 'h', 1, 'ann@x.org');
             INSERT INTO refresh_tokens
               (token_hash, family_id, user_id, client_id, scope, created_at, expires_at, used_at, revoked_at)
             VALUES (x'00', 'live', 'u1', 'web', 'profile', 100, 5000, 110, NULL),
                    (x'01', 'live', 'u1', 'web', 'profile', 110, 5000, NULL, NULL),
                    (x'02', 'ended', 'u1', 'web', 'profile', 100, 5000, 110, 120),
                    (x'03', 'ended', 'u1', 'web', 'profile', 110, 5000, NULL, 120);
             INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ('j1', 9000, 100);",
        )
        .expect("rows");
    }
    let location: DbLocation = path.into();
    let store = tokio::task::spawn_blocking(move || Store::open(&location))
        .await
        .expect("task")
        .expect("migrates");
    sessions_from_before_migration_8_were_kept(&store).await;
}

/// The same database on PostgreSQL, its schema made by migrations
/// 0001..0007 as `migrate()` leaves it (each version recorded in
/// `schema_migrations`, `users_email_key` made after 0007): upgraded by this
/// build, a live session's current token goes on working (and is recognised
/// as reuse once rotated), used tokens and ended sessions leave the table,
/// and the feed's log starts with what the feed held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refresh_sessions_from_before_migration_8_keep_their_current_token() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    // As `migrate()` records them: one row per version applied.
    let mut schema = String::from(
        "CREATE TABLE schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );\n",
    );
    for (version, sql) in (1..).zip([
        include_str!("../migrations/postgres/0001_init.sql"),
        include_str!("../migrations/postgres/0002_revoked_sessions.sql"),
        include_str!("../migrations/postgres/0003_browser_sign_in.sql"),
        include_str!("../migrations/postgres/0004_accounts.sql"),
        include_str!("../migrations/postgres/0005_apis_and_dpop.sql"),
        include_str!("../migrations/postgres/0006_browser_session_amr.sql"),
        include_str!("../migrations/postgres/0007_limits.sql"),
    ]) {
        schema.push_str(sql);
        if version == 7 {
            // What `fill_email_keys` does after 0007 on a database without users.
            schema.push_str("\nCREATE UNIQUE INDEX users_email_key ON users (email_key);");
        }
        schema.push_str(&format!(
            "\nINSERT INTO schema_migrations (version) VALUES ({version});\n"
        ));
    }
    db.execute(&schema).await;
    db.execute(
        r"INSERT INTO users (id, email, name, password_hash, created_at, email_key)
            VALUES ('u1', 'ann@x.org', 'Ann', 'h', 1, 'ann@x.org');
          INSERT INTO refresh_tokens
            (token_hash, family_id, user_id, client_id, scope, created_at, expires_at, used_at, revoked_at)
          VALUES ('\x00', 'live', 'u1', 'web', 'profile', 100, 5000, 110, NULL),
                 ('\x01', 'live', 'u1', 'web', 'profile', 110, 5000, NULL, NULL),
                 ('\x02', 'ended', 'u1', 'web', 'profile', 100, 5000, 110, 120),
                 ('\x03', 'ended', 'u1', 'web', 'profile', 110, 5000, NULL, 120);
          INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ('j1', 9000, 100);",
    )
    .await;
    let store = db.open_store().await.expect("migrates");
    // Every migration since ran, the newest included.
    let newest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations")
        .count();
    assert_eq!(
        db.value("SELECT MAX(version) FROM schema_migrations").await,
        newest.to_string()
    );
    sessions_from_before_migration_8_were_kept(&store).await;
}

/// What both tests above expect of the rows they wrote before migration 8:
/// the live session alone is left, the feed's log holds the ended session
/// then the revoked token, the used token is unknown, and the current one
/// rotates once and is then recognised as reuse.
async fn sessions_from_before_migration_8_were_kept(store: &Store) {
    assert_eq!(
        store
            .run(|r| r.count_rows(Expiring::RefreshSessions))
            .await
            .expect("rows"),
        1
    );
    let log = store
        .run(|r| r.revocations_after(None, 10))
        .await
        .expect("log");
    let logged: Vec<(LogKind, &str)> = log
        .entries
        .iter()
        .map(|e| (e.kind, e.id.as_str()))
        .collect();
    assert_eq!(
        logged,
        [(LogKind::Session, "ended"), (LogKind::Token, "j1")]
    );
    assert_eq!(log.head.position, log.entries[1].position);
    // The old used token is simply unknown now.
    let old = store
        .run(|r| r.use_refresh(&presented(b"\x00", "web", b"n0", 200)))
        .await;
    assert_eq!(old.expect("use"), RefreshOutcome::Invalid);
    let rotated = store
        .run(|r| r.use_refresh(&presented(b"\x01", "web", b"n1", 200)))
        .await;
    assert!(matches!(rotated.expect("use"), RefreshOutcome::Rotated(row) if row.generation == 1));
    let replay = store
        .run(|r| r.use_refresh(&presented(b"\x01", "web", b"n2", 210)))
        .await;
    assert_eq!(
        replay.expect("use"),
        RefreshOutcome::Reused {
            family_id: "live".into()
        }
    );
}
