//! `scripts/up.sh`, run as a newcomer runs it: on free ports in a temporary
//! directory, with the admin credentials it prints used for a real token
//! that the demo resource server accepts, stopped with SIGINT, and started
//! again on the same data (same signing key).
//!
//! The script builds release binaries unless `UP_BIN_DIR` names a directory
//! that holds them; here it points at the binaries cargo built for this
//! test run, so `cargo test --workspace` compiles nothing twice.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::jwt_part;

/// Where cargo put `idp`; `resource-server` is built beside it by
/// `cargo test --workspace` (the demo package's own tests need it).
fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_idp"))
        .parent()
        .expect("binary directory")
        .to_owned();
    assert!(
        dir.join("resource-server").is_file(),
        "no resource-server binary in {}: run `cargo build -p resource-server-demo` \
         first, or `cargo test --workspace`",
        dir.display()
    );
    dir
}

/// Two distinct ports free this instant for up.sh to listen on: both are
/// held until both are known, so the kernel cannot hand out one twice.
fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = |l: &std::net::TcpListener| l.local_addr().expect("addr").port();
    let (first, second) = (bind(), bind());
    (port(&first), port(&second))
}

/// A running `scripts/up.sh`: its stdout, line by line, and what it printed
/// before "pids:".
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    banner: Vec<String>,
    stderr: PathBuf,
}

impl Up {
    fn start(work: &Path, idp_port: u16, rs_port: u16) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/up.sh");
        let stderr = work.join(format!("up-{}.err", std::process::id()));
        let stderr_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .expect("stderr file");
        // As a terminal runs it: SIGINT at its default. A shell that started
        // this test in the background may have ignored SIGINT, and bash
        // cannot trap a signal ignored when it starts.
        let mut child = Command::new("env")
            .args(["--default-signal=INT", "bash"])
            .arg(script)
            .args(["--data-dir", "data", "--idp-bind"])
            .arg(format!("127.0.0.1:{idp_port}"))
            .arg("--rs-bind")
            .arg(format!("127.0.0.1:{rs_port}"))
            .current_dir(work)
            .env("UP_BIN_DIR", bin_dir())
            .env("IDP_BCRYPT_COST", "4")
            .env_remove("IDP_DB")
            .env_remove("IDP_ISSUER")
            .env_remove("IDP_KEY_ENCRYPTION_KEY")
            .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file)
            .spawn()
            .expect("up.sh starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut up = Up {
            child,
            lines,
            banner: Vec::new(),
            stderr,
        };
        loop {
            let line = up.next_line();
            let done = line.starts_with("pids:");
            up.banner.push(line);
            if done {
                break up;
            }
        }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "up.sh stopped printing; stderr:\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                )
            })
    }

    /// The value after `label` on the banner line that starts with it.
    fn field(&self, label: &str) -> Option<String> {
        self.banner.iter().find_map(|line| {
            line.trim_start()
                .strip_prefix(label)
                .map(|rest| rest.trim().to_owned())
        })
    }

    fn pids(&self) -> Vec<String> {
        let line = self.field("pids:").expect("pids line");
        line.split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Sends SIGINT as Ctrl-C would; returns the script's exit status and
    /// the rest of its output.
    fn interrupt(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) {
            rest.push(line);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("up.sh status") {
                return (status, rest);
            }
            if Instant::now() > deadline {
                // Leave nothing running behind the failure.
                for pid in self.pids() {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                }
                let _ = self.child.kill();
                panic!("up.sh did not stop on SIGINT; it printed {rest:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .expect("kill runs")
        .success()
}

async fn admin_token(http: &reqwest::Client, issuer: &str, secret: &str) -> String {
    let response = http
        .post(format!("{issuer}/token"))
        .basic_auth("admin", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn up_runs_the_stack_prints_admin_credentials_stops_on_sigint_and_keeps_its_keys() {
    let work = tempfile::tempdir().expect("tempdir");
    let (idp_port, rs_port) = free_ports();
    // No pooled connections: the second run listens on the same ports, and
    // a connection kept from the first would be dead.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    let up = Up::start(work.path(), idp_port, rs_port);
    let issuer = up.field("issuer:").expect("issuer printed");
    assert_eq!(issuer, format!("http://127.0.0.1:{idp_port}"));
    assert_eq!(
        up.field("discovery:").as_deref(),
        Some(format!("{issuer}/.well-known/openid-configuration").as_str())
    );
    assert_eq!(
        up.field("JWKS:").as_deref(),
        Some(format!("{issuer}/jwks").as_str())
    );
    assert!(up
        .field("sign-in:")
        .is_some_and(|s| s.starts_with(&format!("{issuer}/authorize?"))));
    let api = format!("http://127.0.0.1:{rs_port}");
    assert!(up
        .field("demo API:")
        .is_some_and(|s| s.contains(&format!("{api}/api/private-scoped"))));
    assert_eq!(up.field("client_id:").as_deref(), Some("admin"));
    let secret = up.field("client_secret:").expect("secret printed once");

    let token = admin_token(&http, &issuer, &secret).await;
    let kid = jwt_part(&token, 0)["kid"].as_str().expect("kid").to_owned();
    let response = http
        .get(format!("{api}/api/private-scoped"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("API call");
    assert_eq!(
        response.status(),
        200,
        "the resource server takes the token"
    );

    let pids = up.pids();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let (status, rest) = up.interrupt();
    assert!(status.success(), "up.sh exits 0 after SIGINT: {status:?}");
    assert!(
        rest.iter()
            .any(|l| l == "up: idp exited 0, resource-server exited 0"),
        "{rest:?}"
    );
    assert!(pids.iter().all(|pid| !alive(pid)), "both servers are gone");

    // Again, on the same data: no new secret, the same signing key.
    let again = Up::start(work.path(), idp_port, rs_port);
    assert!(
        again.field("client_secret:").is_none(),
        "{:?}",
        again.banner
    );
    assert!(again
        .banner
        .iter()
        .any(|l| l.starts_with("admin client: admin exists")));
    let token = admin_token(&http, &issuer, &secret).await;
    assert_eq!(jwt_part(&token, 0)["kid"], kid.as_str());
    let response = http
        .get(format!("{api}/api/private"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("API call");
    assert_eq!(response.status(), 200);
    let (status, _) = again.interrupt();
    assert!(status.success(), "{status:?}");
}
