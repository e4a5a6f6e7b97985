//! The real `idp` binary, killed with SIGKILL right after answering.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

/// Starts `idp serve` on a free port and returns it with its base URL.
fn spawn_idp(db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--db",
        ])
        .arg(db)
        .env("IDP_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("idp starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("startup line");
    let addr = line
        .strip_prefix("idp listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();
    (child, format!("http://{addr}"))
}

#[tokio::test]
async fn a_signup_answered_201_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let http = reqwest::Client::new();

    let (mut idp, base) = spawn_idp(&db);
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

    let (mut idp, base) = spawn_idp(&db);
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
