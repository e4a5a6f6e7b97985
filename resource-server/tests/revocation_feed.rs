//! The revocation poller against a stub feed on 127.0.0.1:0: it fetches the
//! whole feed once, then only what changed after its cursor (`?since=`),
//! falls back to the whole feed when the IdP answers `410 Gone`, and keeps
//! working with an IdP that has no cursors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use resource_server::{RevocationList, RevocationPoller};
use serde_json::{json, Value};

/// What the stub serves and what it was asked.
#[derive(Default)]
struct Feed {
    /// `(position, jti)`, in order.
    entries: Vec<(i64, String)>,
    /// Cursors below this are answered 410 (entries after them were purged).
    floor: i64,
    /// Whether it knows cursors at all (an older IdP does not).
    cursors: bool,
    /// The `since` of every request, in order.
    asked: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Feed>>;

fn exp() -> u64 {
    resource_server::unix_now() + 3600
}

async fn feed(State(feed): State<Shared>, RawQuery(query): RawQuery) -> Response {
    // The poller's cursors are `e-<n>`: nothing to unescape.
    let since = query.and_then(|q| q.strip_prefix("since=").map(str::to_owned));
    let mut feed = feed.lock().expect("lock");
    feed.asked.push(since.clone());
    let head = feed.entries.last().map_or(0, |(p, _)| *p);
    let after = match (&since, feed.cursors) {
        (Some(since), true) => {
            let Some(position) = since.strip_prefix("e-").and_then(|p| p.parse::<i64>().ok())
            else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            if position < feed.floor {
                let body = json!({"error": "cursor_expired", "error_description": "purged"});
                return (StatusCode::GONE, Json(body)).into_response();
            }
            position
        }
        _ => i64::MIN,
    };
    let revoked: Vec<Value> = feed
        .entries
        .iter()
        .filter(|(p, _)| *p > after)
        .map(|(_, jti)| json!({"jti": jti, "exp": exp()}))
        .collect();
    let mut body = json!({ "revoked": revoked });
    if feed.cursors {
        body["cursor"] = json!(format!("e-{head}"));
    }
    Json(body).into_response()
}

async fn start(cursors: bool, entries: &[&str]) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Feed {
        entries: entries
            .iter()
            .enumerate()
            .map(|(i, jti)| (i as i64 + 1, jti.to_string()))
            .collect(),
        cursors,
        ..Feed::default()
    }));
    let app = Router::new()
        .route("/revocations", get(feed))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/revocations",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

fn poll(url: &str, list: &RevocationList) -> RevocationPoller {
    // Polled often, but each fetch given time: a fetch that timed out
    // would be retried from the start, without the cursor.
    RevocationPoller::builder(url)
        .interval(Duration::from_millis(20))
        .fetch_timeout(Duration::from_secs(5))
        .spawn(list)
        .expect("poller")
}

/// Waits (up to 5 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

fn push(feed: &Shared, jti: &str) {
    let mut feed = feed.lock().expect("lock");
    let next = feed.entries.last().map_or(1, |(p, _)| p + 1);
    feed.entries.push((next, jti.to_owned()));
}

fn asked(feed: &Shared) -> Vec<Option<String>> {
    feed.lock().expect("lock").asked.clone()
}

#[tokio::test]
async fn after_one_full_fetch_only_changes_are_fetched_and_applied() {
    let (url, feed) = start(true, &["j1", "j2"]).await;
    let list = RevocationList::new();
    let poller = poll(&url, &list);
    assert!(until(|| list.is_revoked("j2")).await);
    push(&feed, "j3");
    assert!(until(|| list.is_revoked("j3")).await);
    // The delta held j3 only; j1 and j2 stay from the full fetch.
    assert!(list.is_revoked("j1") && list.is_revoked("j2"));
    // The next poll asks from the cursor the delta carried.
    assert!(until(|| asked(&feed).contains(&Some("e-3".into()))).await);
    let asked = asked(&feed);
    assert_eq!(asked[0], None, "the first fetch is the full feed");
    assert!(asked[1..].iter().all(|s| s.is_some()), "{asked:?}");
    assert!(asked.contains(&Some("e-2".into())) && asked.contains(&Some("e-3".into())));
    poller.stop();
}

#[tokio::test]
async fn a_gone_cursor_makes_the_poller_fetch_the_whole_feed_again() {
    let (url, feed) = start(true, &["j1"]).await;
    let list = RevocationList::new();
    let poller = poll(&url, &list);
    assert!(until(|| asked(&feed).len() >= 2).await);
    {
        // j1 was purged with everything up to position 5; j6 is new.
        let mut feed = feed.lock().expect("lock");
        feed.entries = vec![(6, "j6".into())];
        feed.floor = 5;
    }
    assert!(until(|| list.is_revoked("j6")).await);
    assert!(!list.is_revoked("j1"), "the full feed replaced the list");
    let asked = asked(&feed);
    let gone = asked
        .iter()
        .position(|s| s.as_deref() == Some("e-1"))
        .expect("asked with the old cursor");
    assert!(
        asked[gone..].contains(&None),
        "then fetched everything: {asked:?}"
    );
    poller.stop();
}

#[tokio::test]
async fn an_idp_without_cursors_is_polled_in_full_as_before() {
    let (url, feed) = start(false, &["j1"]).await;
    let list = RevocationList::new();
    let poller = poll(&url, &list);
    assert!(until(|| list.is_revoked("j1")).await);
    push(&feed, "j2");
    assert!(until(|| list.is_revoked("j2")).await);
    assert!(asked(&feed).iter().all(Option::is_none));
    poller.stop();
}
