//! The revocation feed's cursor, driven in-process (`idp::app` with
//! `oneshot`): a full fetch names its position, `?since=` answers only what
//! came after it, and publishing one revocation costs one log row read and
//! one entry served however large the feed is.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt as _;

/// The router over a fresh SQLite database, with its state.
async fn router() -> (Router, idp::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = idp::Config {
        db: dir.path().join("idp.db").into(),
        bcrypt_cost: 4,
        ..idp::Config::default()
    };
    let state = idp::AppState::open(&config, "http://idp.test".into())
        .await
        .expect("state opens");
    (idp::app(state.clone()), state, dir)
}

/// Status, body size and JSON body of a GET.
async fn get(app: &Router, path: &str) -> (StatusCode, usize, Value) {
    let request = Request::get(path).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes).expect("JSON body");
    (status, bytes.len(), value)
}

fn cursor(document: &Value) -> String {
    document["cursor"].as_str().expect("cursor").to_owned()
}

#[tokio::test]
async fn publishing_a_revocation_reads_one_row_and_is_polled_as_one_entry_whatever_the_feed_size() {
    let (app, state, _dir) = router().await;
    let exp = idp::unix_now() + 3600;
    const FEED: u32 = 20_000;
    state
        .store()
        .run(move |db| {
            for i in 0..FEED {
                db.revoke_access_token(&format!("jti-{i:05}"), exp, exp - 3600)?;
            }
            Ok(())
        })
        .await
        .expect("fill");
    let revocations = state.revocations();
    revocations.catch_up().await.expect("catch up");
    let (status, full_size, full) = get(&app, "/revocations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        full["revoked"].as_array().expect("revoked").len(),
        FEED as usize
    );
    let before = cursor(&full);

    let read = revocations.entries_read();
    revocations
        .revoke("one-more".into(), exp)
        .await
        .expect("revoke");
    assert_eq!(
        revocations.entries_read() - read,
        1,
        "one log row read to publish it"
    );
    assert!(revocations.list().is_revoked("one-more"));

    let (status, delta_size, delta) = get(&app, &format!("/revocations?since={before}")).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = delta["revoked"].as_array().expect("revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["jti"], "one-more");
    assert!(delta.get("sessions").is_none() && delta.get("subjects").is_none());
    assert!(
        delta_size * 1000 < full_size,
        "{delta_size} B against {full_size} B"
    );
    let after = cursor(&delta);
    assert_ne!(after, before);

    // Nothing new: an empty document with the same cursor.
    let (status, _, empty) = get(&app, &format!("/revocations?since={after}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, serde_json::json!({ "cursor": after }));
    // The full feed has it too, with the same cursor.
    let (_, _, full) = get(&app, "/revocations").await;
    assert_eq!(cursor(&full), after);
    assert_eq!(
        full["revoked"].as_array().expect("revoked").len(),
        FEED as usize + 1
    );
}

#[tokio::test]
async fn malformed_cursors_are_400_and_foreign_or_purged_ones_410() {
    let (app, state, _dir) = router().await;
    for bad in [
        "nonsense",
        "0123456789abcdef-x",
        "0123456789abcdef-1&since=0123456789abcdef-1",
    ] {
        let (status, _, body) = get(&app, &format!("/revocations?since={bad}")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
    }
    let (_, _, full) = get(&app, "/revocations").await;
    let ours = cursor(&full);
    let (epoch, _) = ours.split_once('-').expect("epoch-position");
    let foreign = if epoch == "0000000000000000" {
        "1111111111111111-0"
    } else {
        "0000000000000000-0"
    };
    let (status, _, body) = get(&app, &format!("/revocations?since={foreign}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("cursor_expired"))
    );
    let ahead = format!("{epoch}-999999");
    let (status, _, _) = get(&app, &format!("/revocations?since={ahead}")).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "a position this database never reached"
    );

    // Two entries; the first expires and is purged: a cursor before it
    // can no longer be answered, one after it still can.
    let now = idp::unix_now();
    state
        .revocations()
        .revoke("soon".into(), now + 1)
        .await
        .expect("revoke");
    let (_, _, middle) = get(&app, "/revocations").await;
    state
        .revocations()
        .revoke("later".into(), now + 3600)
        .await
        .expect("revoke");
    idp::tasks::purge_once(&state, now + 2)
        .await
        .expect("purge");
    let (status, _, body) = get(&app, &format!("/revocations?since={ours}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("cursor_expired"))
    );
    let (status, _, body) = get(&app, &format!("/revocations?since={}", cursor(&middle))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["revoked"][0]["jti"], "later");

    // Renewed (`idp revocations renew-feed`, after a restore): every
    // cursor of before is refused, and a full read starts the new one,
    // holding what the database holds.
    let before = cursor(&body);
    state
        .store()
        .run(|db| db.renew_feed("feedfeedfeedfeed"))
        .await
        .expect("renew");
    // What a running IdP does every few seconds (and at start).
    state.revocations().catch_up().await.expect("catch up");
    let (status, _, body) = get(&app, &format!("/revocations?since={before}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("cursor_expired"))
    );
    let (_, _, full) = get(&app, "/revocations").await;
    assert!(cursor(&full).starts_with("feedfeedfeedfeed-"), "{full}");
    assert_eq!(full["revoked"][0]["jti"], "later", "the entries stay");
}
