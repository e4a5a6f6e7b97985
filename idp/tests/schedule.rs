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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Rotations `times` (activation times, the first the initial key's) up to
/// `end` happened once per `period`: never two within one period (no
/// instance repeats another's rotation) and never a gap of two periods (no
/// restart skipped one), up to the end. Counting rotations instead would
/// depend on how fast a loaded machine starts servers; these bounds don't.
fn assert_once_per_period(times: &[u64], end: u64, period: u64) {
    assert!(times.len() >= 2, "no rotation at all: {times:?}");
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= period,
            "two rotations within one period of {period}s: {times:?}"
        );
    }
    let mut marks = times.to_vec();
    marks.push(end);
    for pair in marks.windows(2) {
        assert!(
            pair[1] - pair[0] < 2 * period,
            "a rotation skipped (period {period}s, end {end}): {times:?}"
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
    let end = unix_now();
    stop(a).await;
    stop(b).await;

    let times = activations(&db).await;
    assert_once_per_period(&times, end, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_restarted_more_often_than_its_period_still_rotates_on_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let every = Duration::from_secs(3);
    let started = tokio::time::Instant::now();
    let mut end = unix_now();
    while started.elapsed() < Duration::from_secs(10) {
        let server = instance(&db, every).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        end = unix_now();
        stop(server).await;
    }
    let times = activations(&db).await;
    assert_once_per_period(&times, end, 3);
}
