//! `--rotate-every` across a fleet: the schedule lives in the database
//! (when the current key was activated), so instances sharing it rotate
//! once per period between them, and restarts neither skip nor repeat.

use std::path::Path;
use std::time::Duration;

use idp::store::Store;

/// An IdP on `db` rotating every `every`, polling often.
async fn instance(db: &Path, every: Duration) -> idp::Server {
    let config = idp::Config {
        db: db.into(),
        jwks_max_age: 0,
        rotate_every: Some(every),
        key_poll: Duration::from_millis(200),
        bcrypt_cost: 4,
        mail: idp::mail::MailConfig {
            outbox: db.with_file_name("outbox"),
            ..idp::mail::MailConfig::default()
        },
        ..idp::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    idp::start(config, listener).await.expect("idp starts")
}

async fn stop(mut server: idp::Server) {
    server.shutdown();
    server.stopped().await;
}

/// When each key that ever signed was activated, in order.
async fn activations(db: &Path) -> Vec<u64> {
    let location = idp::DbLocation::Sqlite(db.to_owned());
    let store = tokio::task::spawn_blocking(move || Store::open(&location))
        .await
        .expect("task")
        .expect("open");
    let mut times: Vec<u64> = store
        .run(|r| r.list_keys())
        .await
        .expect("keys")
        .into_iter()
        .filter_map(|k| k.record.activated_at)
        .collect();
    times.sort_unstable();
    times
}

/// Every rotation came at least a period after the one before it.
fn assert_spaced(times: &[u64], period: u64) {
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= period,
            "two rotations within one period of {period}s: {times:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_rotate_once_per_period_between_them_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let every = Duration::from_secs(2);
    let a = instance(&db, every).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let b = instance(&db, every).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A restart of either changes nothing.
    stop(a).await;
    let a = instance(&db, every).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop(a).await;
    stop(b).await;

    let times = activations(&db).await;
    assert_spaced(&times, 2);
    // About 10.7 s at one rotation per 2 s (5), less a late one on a loaded
    // machine; never more.
    let rotations = times.len() - 1;
    assert!(
        (3..=5).contains(&rotations),
        "{rotations} rotations in 10.7 s at one per 2 s: {times:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_restarted_more_often_than_its_period_still_rotates_on_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let every = Duration::from_secs(3);
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let server = instance(&db, every).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop(server).await;
    }
    let times = activations(&db).await;
    assert_spaced(&times, 3);
    let rotations = times.len() - 1;
    assert!(
        (2..=3).contains(&rotations),
        "{rotations} rotations in about 10.5 s at one per 3 s: {times:?}"
    );
}
