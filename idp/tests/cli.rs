//! The `idp` command line, run as an operator would.

use std::path::Path;
use std::process::{Command, Output};

fn idp(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .output()
        .expect("idp runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn states(db: &Path) -> Vec<(String, String)> {
    let out = idp(db, &["keys", "list"]);
    assert!(out.status.success());
    stdout(&out)
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let mut cols = l.split_whitespace();
            (
                cols.next().expect("kid").to_owned(),
                cols.next().expect("state").to_owned(),
            )
        })
        .collect()
}

#[test]
fn rotate_needs_force_while_next_is_young_and_prune_waits_for_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    // A mistyped --db is an error, never a new database rotated in place.
    for command in [
        &["keys", "list"][..],
        &["keys", "rotate", "--force"],
        &["users", "list"],
        &["revocations", "renew-feed"],
    ] {
        let missing = idp(&db, command);
        assert!(!missing.status.success(), "{command:?}");
        let message = String::from_utf8_lossy(&missing.stderr);
        assert!(message.contains("no database at"), "{command:?}: {message}");
        assert!(!db.exists(), "{command:?} created nothing");
    }
    // Nor is an empty file, or another program's database, taken over.
    let foreign = dir.path().join("other.db");
    std::fs::write(&foreign, b"").expect("empty file");
    for command in [&["keys", "list"][..], &["users", "list"]] {
        let refused = idp(&foreign, command);
        assert!(!refused.status.success(), "{command:?}");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(
            message.contains("is not a database of this IdP"),
            "{command:?}: {message}"
        );
        assert_eq!(std::fs::metadata(&foreign).expect("kept").len(), 0);
    }
    // Registering a client may start one, as `idp serve` does.
    assert!(idp(&db, &["clients", "create", "--id", "seed"])
        .status
        .success());
    let renewed = idp(&db, &["revocations", "renew-feed"]);
    assert!(renewed.status.success());
    assert!(
        stdout(&renewed).starts_with("the revocation feed is now "),
        "{}",
        stdout(&renewed)
    );
    let initial = states(&db);
    assert_eq!(initial.len(), 2);

    let schedule = stdout(&idp(&db, &["keys", "list"]));
    assert!(schedule.contains("no rotation schedule"), "{schedule}");
    let schedule = stdout(&idp(&db, &["keys", "list", "--rotate-every", "30d"]));
    let due = schedule
        .lines()
        .find_map(|l| l.strip_prefix("next scheduled rotation: "))
        .expect("the next rotation is shown");
    assert!(due.ends_with("(every 30days)"), "{due}");
    assert!(due.starts_with("20"), "an RFC 3339 date: {due}");

    let refused = idp(&db, &["keys", "rotate"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("--force"), "{message}");
    assert_eq!(states(&db), initial, "a refused rotation changes nothing");
    // Forced, it says that the key it promotes is younger than the
    // max-age; in a copy, to keep this database's key set as it is.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&db, &copy).expect("copy");
    let forced = idp(&copy, &["keys", "rotate", "--force"]);
    assert!(forced.status.success());
    let warning = String::from_utf8_lossy(&forced.stderr);
    assert!(
        warning.contains("less than the /jwks max-age (300s)"),
        "{warning}"
    );

    let lifetimes = [
        "--access-ttl",
        "3",
        "--jwks-max-age",
        "0",
        "--prune-margin",
        "1",
    ];
    let rotate: Vec<&str> = ["keys", "rotate"].into_iter().chain(lifetimes).collect();
    let rotating = std::time::Instant::now();
    assert!(idp(&db, &rotate).status.success());
    let rotated = std::time::Instant::now();
    let after = states(&db);
    let state_of = |kid: &str| {
        after
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, s)| s.as_str())
    };
    let old_current = &initial
        .iter()
        .find(|(_, s)| s == "current")
        .expect("current")
        .0;
    let old_next = &initial.iter().find(|(_, s)| s == "next").expect("next").0;
    assert_eq!(state_of(old_current), Some("retired"));
    assert_eq!(state_of(old_next), Some("current"));
    assert_eq!(after.len(), 3);

    // Grace = access ttl 3 s + max-age 0 + margin 1 = 4 s from the
    // retirement (a whole second, taken while the rotation ran): nothing
    // to prune yet. Only checked with time to spare, as a loaded machine
    // may have taken seconds over the commands above.
    let grace = std::time::Duration::from_secs(4);
    let prune: Vec<&str> = ["keys", "prune"].into_iter().chain(lifetimes).collect();
    if rotating.elapsed() < grace - std::time::Duration::from_secs(2) {
        let early = idp(&db, &prune);
        assert!(
            stdout(&early).contains("nothing to prune"),
            "{}",
            stdout(&early)
        );
        assert_eq!(states(&db).len(), 3);
    }

    std::thread::sleep(
        (grace + std::time::Duration::from_millis(100)).saturating_sub(rotated.elapsed()),
    );
    let late = idp(&db, &prune);
    assert!(
        stdout(&late).contains(&format!("pruned {old_current}")),
        "{}",
        stdout(&late)
    );
    let remaining = states(&db);
    assert_eq!(remaining.len(), 2);
    assert!(remaining
        .iter()
        .any(|(k, s)| k == old_next && s == "current"));
    assert!(remaining.iter().any(|(_, s)| s == "next"));
}

#[test]
fn clients_create_prints_the_secret_once_and_delete_removes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let created = idp(
        &db,
        &[
            "clients", "create", "--id", "billing", "--scope", "api:read", "--admin",
        ],
    );
    assert!(created.status.success());
    let text = stdout(&created);
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret line");
    assert!(secret.len() >= 43, "256 bits of base64url");
    assert!(text.contains("scope: api:read admin"));

    let listed = stdout(&idp(&db, &["clients", "list"]));
    assert!(
        listed.contains("billing") && !listed.contains(secret),
        "{listed}"
    );

    let again = idp(&db, &["clients", "create", "--id", "billing"]);
    assert!(!again.status.success());
    assert!(idp(&db, &["clients", "delete", "--id", "billing"])
        .status
        .success());
    assert!(!idp(&db, &["clients", "delete", "--id", "billing"])
        .status
        .success());
}

#[test]
fn browser_clients_are_created_with_redirect_uris_and_listed_with_their_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let spa = idp(
        &db,
        &[
            "clients",
            "create",
            "--id",
            "spa",
            "--public",
            "--consent",
            "--redirect-uri",
            "https://spa.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "https://spa.example/",
        ],
    );
    assert!(
        spa.status.success(),
        "{}",
        String::from_utf8_lossy(&spa.stderr)
    );
    let text = stdout(&spa);
    assert!(
        !text.contains("client_secret"),
        "a public client has no secret: {text}"
    );
    assert!(text.contains("redirect_uri: http://127.0.0.1/cb"), "{text}");
    let listed = stdout(&idp(&db, &["clients", "list"]));
    assert!(
        listed.contains("auth=none")
            && listed.contains("consent=true")
            && listed.contains("redirect_uris=https://spa.example/cb,http://127.0.0.1/cb")
            && listed.contains("post_logout_redirect_uris=https://spa.example/"),
        "{listed}"
    );
    for (bad, why) in [
        (
            &["--redirect-uri", "https://app.example/cb#frag"][..],
            "fragment",
        ),
        (
            &["--redirect-uri", "http://app.example/cb"][..],
            "plain http off loopback",
        ),
        (
            &["--redirect-uri", "javascript:alert(1)"][..],
            "a dangerous scheme",
        ),
        (&["--public"][..], "a public client without a redirect URI"),
    ] {
        let mut args = vec!["clients", "create", "--id", "bad"];
        args.extend_from_slice(bad);
        let out = idp(&db, &args);
        assert!(!out.status.success(), "{why} was accepted");
        assert!(
            !String::from_utf8_lossy(&out.stderr).is_empty(),
            "{why}: says why"
        );
    }
}

/// Runs `idp` with exactly `args`, `--db` among them, and no database or
/// key from the environment.
fn idp_raw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args)
        .env_remove("IDP_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
        .env_remove("IDP_DB")
        .output()
        .expect("idp runs")
}

#[test]
fn an_unreachable_postgres_database_is_a_clear_error_without_the_password() {
    // Nothing listens on port 1: the connection is refused at once.
    let url = "postgres://idp:s3cret-pw@127.0.0.1:1/idp";
    for command in [
        &["keys", "list"][..],
        &["clients", "list"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let args: Vec<&str> = command.iter().copied().chain(["--db", url]).collect();
        let out = idp_raw(&args);
        assert!(!out.status.success(), "{command:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("postgres://***@127.0.0.1:1/idp") && err.contains("connect"),
            "{command:?}: {err}"
        );
        assert!(!err.contains("s3cret-pw"), "password leaked: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret-pw"));
    }
}

#[test]
fn a_postgres_url_with_a_missing_ca_file_is_refused_clearly() {
    let out = idp_raw(&[
        "keys",
        "list",
        "--db",
        "postgresql://idp:s3cret-pw@127.0.0.1:1/idp?sslmode=verify-full&sslrootcert=/no/ca.pem",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sslrootcert /no/ca.pem") && !err.contains("s3cret-pw"),
        "{err}"
    );
}

#[tokio::test]
async fn users_are_listed_shown_disabled_enabled_signed_out_and_deleted() {
    use idp::store::{CutoffKind, RefreshRow, Store, UserRow};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let path = db.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&path.into()))
        .await
        .expect("task")
        .expect("store");
    let session = |family: &'static str| RefreshRow {
        family_id: family.into(),
        user_id: "u-ann".into(),
        client_id: "login".into(),
        scope: "profile".into(),
        expires_at: u64::MAX / 4,
        amr: "pwd".into(),
        generation: 0,
    };
    store
        .run(move |r| {
            r.insert_user(&UserRow::new(
                "u-ann".into(),
                "ann@example.com".into(),
                "Ann".into(),
                "$2b$04$x".into(),
                1,
            ))?;
            r.insert_refresh(b"t1", &session("s1"), 1)
        })
        .await
        .expect("seeded");
    let ok = |args: &[&str]| {
        let out = idp(&db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let listed = ok(&["users", "list"]);
    assert!(
        listed.contains("u-ann\tann@example.com\tenabled\tunverified"),
        "{listed}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["users", "show", "--email", "ANN@example.com"])).expect("json");
    assert_eq!(
        (shown["id"].as_str(), shown["disabled"].as_bool()),
        (Some("u-ann"), Some(false))
    );
    assert!(!shown.to_string().contains("$2b$"), "no hash shown");

    ok(&[
        "users",
        "grant",
        "--email",
        "ann@example.com",
        "--scope",
        "reports",
    ]);
    ok(&["users", "disable", "--email", "ann@example.com"]);
    let ann = store
        .run(|r| r.user_by_id("u-ann"))
        .await
        .expect("get")
        .expect("found");
    assert!(ann.disabled_at.is_some() && ann.scope == "reports");
    assert!(
        store
            .run(|r| r.refresh_family(b"t1", 2))
            .await
            .expect("find")
            .is_none(),
        "sessions ended"
    );
    assert!(ok(&["users", "list"]).contains("\tdisabled\t"));
    ok(&["users", "enable", "--email", "ann@example.com"]);
    let ann = store
        .run(|r| r.user_by_id("u-ann"))
        .await
        .expect("get")
        .expect("found");
    assert!(ann.disabled_at.is_none());

    store
        .run(move |r| r.insert_refresh(b"t2", &session("s2"), 2))
        .await
        .expect("session");
    ok(&["users", "revoke-sessions", "--email", "ann@example.com"]);
    assert!(store
        .run(|r| r.refresh_family(b"t2", 3))
        .await
        .expect("find")
        .is_none());

    ok(&["users", "delete", "--email", "ann@example.com"]);
    assert!(store
        .run(|r| r.user_by_id("u-ann"))
        .await
        .expect("get")
        .is_none());
    let cutoffs = store.run(|r| r.cutoffs_since(0)).await.expect("cutoffs");
    assert!(cutoffs
        .iter()
        .any(|c| c.kind == CutoffKind::Subject && c.id == "u-ann"));
    for command in ["show", "disable", "enable", "delete", "revoke-sessions"] {
        let out = idp(&db, &["users", command, "--email", "ann@example.com"]);
        assert!(!out.status.success(), "{command}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no user"),
            "{command}"
        );
    }
}

/// Keys stored before an encryption key was configured are encrypted in
/// place at the first start with one, once: from then on the key is needed.
#[test]
fn keys_stored_before_the_encryption_key_are_sealed_at_the_next_start() {
    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    assert!(idp(&db, &["clients", "create", "--id", "seed"])
        .status
        .success());
    let before = states(&db);
    assert_eq!(before.len(), 2, "keys stored without encryption");
    let with_key = || {
        Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["keys", "list", "--db"])
            .arg(&db)
            .env("IDP_KEY_ENCRYPTION_KEY", KEY)
            .env("IDP_LOG", "info")
            .env("IDP_LOG_FORMAT", "text")
            .output()
            .expect("idp runs")
    };
    let plaintext = |path: &Path| {
        std::fs::read(path)
            .map(|bytes| bytes.windows(11).any(|w| w == b"PRIVATE KEY"))
            .unwrap_or(false)
    };
    let wal = dir.path().join("idp.db-wal");
    assert!(
        plaintext(&db) || plaintext(&wal),
        "the PEMs are stored in clear"
    );
    let first = with_key();
    assert!(first.status.success());
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(log.contains("are now encrypted"), "{log}");
    assert!(log.contains("sealed=2"), "{log}");
    assert!(
        !plaintext(&db) && !plaintext(&wal),
        "no copy left in the file's free pages or its WAL"
    );
    let again = with_key();
    assert!(again.status.success());
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("now encrypted"),
        "sealed once"
    );
    let without = idp(&db, &["keys", "list"]);
    assert!(!without.status.success(), "the key is needed now");
    let message = String::from_utf8_lossy(&without.stderr);
    assert!(message.contains("IDP_KEY_ENCRYPTION_KEY"), "{message}");
    let listed = stdout(&again);
    assert!(
        before.iter().all(|(kid, _)| listed.contains(kid.as_str())),
        "the same keys: {listed}"
    );
}

/// `idp` commands read the previous encryption key too: with both keys
/// set, keys sealed with the old one are listed and resealed under the
/// new one, after which the new key alone opens them and the old one
/// alone does not.
#[test]
fn keys_list_reads_the_previous_encryption_key_and_reseals() {
    const OLD: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const NEW: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("idp.db");
    let list = |current: Option<&str>, previous: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
        command
            .args(["keys", "list", "--db"])
            .arg(&db)
            .env_remove("IDP_KEY_ENCRYPTION_KEY")
            .env_remove("IDP_PREVIOUS_KEY_ENCRYPTION_KEY")
            .env("IDP_LOG", "info")
            .env("IDP_LOG_FORMAT", "text");
        if let Some(key) = current {
            command.env("IDP_KEY_ENCRYPTION_KEY", key);
        }
        if let Some(key) = previous {
            command.env("IDP_PREVIOUS_KEY_ENCRYPTION_KEY", key);
        }
        command.output().expect("idp runs")
    };
    assert!(idp(&db, &["clients", "create", "--id", "seed"])
        .status
        .success());
    let first = list(Some(OLD), None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let kids = stdout(&first);

    let rotating = list(Some(NEW), Some(OLD));
    let log = String::from_utf8_lossy(&rotating.stderr);
    assert!(rotating.status.success(), "{log}");
    assert_eq!(stdout(&rotating), kids, "the same keys");
    assert!(log.contains("resealed=2"), "{log}");
    assert!(!log.contains(OLD) && !log.contains(NEW), "{log}");

    let new_only = list(Some(NEW), None);
    assert!(new_only.status.success());
    assert_eq!(stdout(&new_only), kids);
    let old_only = list(Some(OLD), None);
    assert!(
        !old_only.status.success(),
        "resealed: the old key is not enough"
    );
    let message = String::from_utf8_lossy(&old_only.stderr);
    assert!(message.contains("cannot be decrypted"), "{message}");

    let previous_only = list(None, Some(OLD));
    assert!(!previous_only.status.success());
    let message = String::from_utf8_lossy(&previous_only.stderr);
    assert!(
        message.contains("IDP_PREVIOUS_KEY_ENCRYPTION_KEY is set without IDP_KEY_ENCRYPTION_KEY"),
        "{message}"
    );
    let malformed = list(Some(NEW), Some("not-32-bytes"));
    assert!(!malformed.status.success());
    let message = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        message.contains("IDP_PREVIOUS_KEY_ENCRYPTION_KEY must be 32 bytes"),
        "{message}"
    );
    assert!(!message.contains("not-32-bytes"), "{message}");
}

/// A reader that stops early (`idp openapi | head`) ends the command
/// quietly: no panic, no backtrace, success. The document is larger than
/// a pipe's buffer, so the write meets the closed pipe whatever the timing.
#[test]
fn output_to_a_closed_pipe_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("idp runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("idp ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
