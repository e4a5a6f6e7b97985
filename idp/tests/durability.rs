//! The real `idp` binary as an operator runs it: killed with SIGKILL right
//! after answering, and told to reload its keys with SIGHUP.

mod common;

use std::time::{Duration, Instant};

use common::spawn_idp;
use serde_json::json;

#[tokio::test]
async fn a_signup_answered_201_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let http = reqwest::Client::new();

    let (mut idp, base) = spawn_idp(&db, &[]);
    let mut emails = Vec::new();
    for i in 0..5 {
        let email = format!("user{i}@example.com");
        let response = http
            .post(format!("{base}/user"))
            .json(&json!({"email": email, "name": "Durable", "password": "correct horse battery"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(response.status(), 201);
        emails.push(email);
    }
    // SIGKILL: no destructors, no flush, no graceful anything.
    idp.kill().expect("kill -9");
    idp.wait().expect("reaped");

    let (mut idp, base) = spawn_idp(&db, &[]);
    for email in &emails {
        let login = http
            .post(format!("{base}/login"))
            .json(&json!({"email": email, "password": "correct horse battery"}))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), 200, "{email} lost after kill -9");
    }
    idp.kill().expect("kill");
    idp.wait().expect("reaped");
}

#[tokio::test]
async fn sighup_reloads_a_rotation_made_by_another_process_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let http = reqwest::Client::new();
    // Polling every 300 s: only the signal can explain a prompt switch.
    let (mut idp, base) = spawn_idp(&db, &["--key-poll", "300"]);
    let signing_kid = || async {
        let ready: serde_json::Value = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        ready["signing_kid"].as_str().expect("kid").to_owned()
    };
    let before = signing_kid().await;
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["keys", "rotate", "--force", "--db"])
        .arg(&db)
        .output()
        .expect("rotate");
    assert!(rotated.status.success());
    assert_eq!(signing_kid().await, before, "no reload without the signal");

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &idp.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let sent = Instant::now();
    while signing_kid().await == before {
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "SIGHUP did not reload the keys"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    idp.kill().expect("kill");
    idp.wait().expect("reaped");
}
