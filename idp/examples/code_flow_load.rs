//! A load generator for the complete browser sign-in: `GET /authorize`
//! (the sign-in page), `POST /signin` (email and password), the redirect's
//! code, and `POST /token` with the PKCE verifier. Every flow is a fresh
//! browser (no session cookie), so each one signs in.
//!
//! `scripts/bench.sh` runs it against an IdP started with
//! `--bcrypt-cost 4 --login-rate 0`, so that the figure measures the flow
//! itself rather than bcrypt or the per-address throttle:
//!
//! ```sh
//! cargo run --release -p idp --example code_flow_load -- \
//!     ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI EMAIL PASSWORD [SECONDS] [CONCURRENCY]
//! ```
//!
//! It prints flows per second and HTTP requests per second (three per flow).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

struct Target {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    email: String,
    password: String,
}

/// The value of `name="csrf_token" value="..."` in the sign-in page.
fn csrf_field(html: &str) -> Option<&str> {
    let start = html.find(r#"name="csrf_token" value=""#)? + r#"name="csrf_token" value=""#.len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len])
}

/// The `idp_csrf` cookie the page set.
fn csrf_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("idp_csrf="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// One complete flow.
async fn flow(http: &reqwest::Client, t: &Target) -> anyhow::Result<()> {
    let verifier = idp::secret::random_secret().expose().to_owned();
    let challenge = idp::pkce::challenge_of(&verifier);
    let request = [
        ("response_type", "code"),
        ("client_id", &t.client_id),
        ("redirect_uri", &t.redirect_uri),
        ("scope", "openid profile"),
        ("state", "load"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let page = http
        .get(format!("{}/authorize", t.issuer))
        .query(&request)
        .send()
        .await?;
    if page.status() != 200 {
        bail!("/authorize answered {}", page.status());
    }
    let cookie = csrf_cookie(&page).context("no CSRF cookie")?;
    let html = page.text().await?;
    let token = csrf_field(&html).context("no CSRF field")?;
    let mut form = request.to_vec();
    form.extend([
        ("csrf_token", token),
        ("email", &t.email),
        ("password", &t.password),
    ]);
    let signed_in = http
        .post(format!("{}/signin", t.issuer))
        .header(reqwest::header::COOKIE, format!("idp_csrf={cookie}"))
        .form(&form)
        .send()
        .await?;
    let location = signed_in
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("sign-in did not redirect")?;
    let code = url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the redirect")?;
    let tokens = http
        .post(format!("{}/token", t.issuer))
        .basic_auth(&t.client_id, Some(&t.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &t.redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if tokens.status() != 200 {
        bail!("/token answered {}", tokens.status());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        bail!("usage: code_flow_load ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI EMAIL PASSWORD [SECONDS] [CONCURRENCY]");
    }
    let seconds: u64 = args.get(6).map_or(Ok(5), |s| s.parse())?;
    let concurrency: usize = args.get(7).map_or(Ok(16), |s| s.parse())?;
    let target = Arc::new(Target {
        issuer: args[0].trim_end_matches('/').to_owned(),
        client_id: args[1].clone(),
        client_secret: args[2].clone(),
        redirect_uri: args[3].clone(),
        email: args[4].clone(),
        password: args[5].clone(),
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // One flow first: a misconfiguration fails loudly, not as zero flows/s.
    flow(&http, &target)
        .await
        .context("the first flow failed")?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, target, done, failed) = (
                http.clone(),
                Arc::clone(&target),
                Arc::clone(&done),
                Arc::clone(&failed),
            );
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match flow(&http, &target).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let flows = done.load(Ordering::Relaxed);
    let failures = failed.load(Ordering::Relaxed);
    println!(
        "code flows: {flows} in {elapsed:.1} s, {:.1} flows/s ({:.1} requests/s), {failures} failed",
        flows as f64 / elapsed,
        3.0 * flows as f64 / elapsed
    );
    if failures > 0 {
        bail!("{failures} flows failed");
    }
    Ok(())
}
