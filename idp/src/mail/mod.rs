//! Outgoing mail: password-reset and verification links, and the notice
//! an account's owner gets when someone signs up with their address.
//!
//! With `--smtp-url` set, messages go through that server with lettre:
//! `smtp://host[:587]` upgrades with STARTTLS (required unless the URL says
//! `?tls=opportunistic` or, for a relay on this machine, `?tls=none`),
//! `smtps://host[:465]` speaks TLS from the first byte; certificates are
//! checked against the system's roots, plus `?ca=/path/ca.pem` if given;
//! `smtp://user:password@host` logs in. Without it, every message is
//! written as an `.eml` file to the outbox directory (`--outbox`, created
//! owner-only), and start-up says so once, so the IdP runs with no mail
//! server at all.
//!
//! Sending happens in the background ([`Mailer::send_later`]), bounded, so
//! that an answer never waits on (or reveals by its timing) a mail server.
//! Message bodies carry single-use tokens: neither they nor the SMTP
//! password ever reach a log line or an error.

mod messages;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Semaphore;

pub use messages::Outgoing;

use crate::store::redact_url;

/// Messages being sent at once at most; more are dropped with a warning
/// (a flood of reset requests must not become a flood of tasks).
const MAX_IN_FLIGHT: usize = 64;
/// How long one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where mail goes and who it is from.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://` or `smtps://` URL of the relay; `None`: the outbox.
    pub smtp_url: Option<String>,
    /// The `From:` address.
    pub from: String,
    /// Where messages are written when no SMTP server is configured.
    pub outbox: PathBuf,
}

/// The URL without its credentials.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("from", &self.from)
            .field("outbox", &self.outbox)
            .finish()
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "idp <noreply@localhost>".into(),
            outbox: PathBuf::from("outbox"),
        }
    }
}

/// Why mail could not be set up or sent. Never holds a password or a
/// message body.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL is unusable.
    #[error("SMTP URL {url}: {reason}")]
    BadUrl {
        /// The URL, credentials redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An address does not parse.
    #[error("not a usable mail address: {0}")]
    BadAddress(String),
    /// The outbox directory cannot be used.
    #[error("outbox {path}: {source}")]
    Outbox {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Building or sending the message failed.
    #[error("sending mail failed: {0}")]
    Send(String),
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

/// Sends the IdP's mail. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    /// What the log calls the destination (credentials redacted).
    destination: Arc<str>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("destination", &self.destination)
            .finish()
    }
}

impl Mailer {
    /// A mailer for `config`: the SMTP relay it names, or the outbox
    /// (created owner-only), saying so in the log once.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::BadAddress(config.from.clone()))?;
        let (transport, destination) = match &config.smtp_url {
            Some(url) => {
                let transport = smtp_transport(url)?;
                tracing::info!(smtp = %redact_url(url), "mail goes through SMTP");
                (Transport::Smtp(transport), redact_url(url))
            }
            None => {
                create_outbox(&config.outbox)?;
                tracing::warn!(
                    outbox = %config.outbox.display(),
                    "no SMTP server configured (--smtp-url): mail is written to the outbox directory"
                );
                (
                    Transport::Outbox(AsyncFileTransport::new(&config.outbox)),
                    format!("outbox {}", config.outbox.display()),
                )
            }
        };
        Ok(Self {
            from,
            transport,
            destination: destination.into(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Sends `message` to `to` now.
    pub async fn send(&self, to: &str, message: Outgoing) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| MailError::BadAddress("the recipient".into()))?;
        // lettre picks the transfer encoding (quoted-printable for long
        // link lines), as mail clients expect.
        let body = Body::new(message.body());
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Send(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(email).await.map(drop).map_err(describe_smtp),
            Transport::Outbox(files) => files
                .send(email)
                .await
                .map(drop)
                .map_err(|e| MailError::Send(e.to_string())),
        }
    }

    /// Sends `message` to `to` in the background; failures are logged
    /// (without the message). Never waits: when too many messages are on
    /// their way already, this one is dropped with a warning.
    pub fn send_later(&self, to: &str, message: Outgoing) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            tracing::warn!(
                kind = message.kind(),
                "too much mail in flight: message dropped"
            );
            return;
        };
        let (this, to) = (self.clone(), to.to_owned());
        tokio::spawn(async move {
            let _permit = permit;
            let kind = message.kind();
            match this.send(&to, message).await {
                Ok(()) => tracing::info!(kind, via = %this.destination, "mail sent"),
                Err(e) => tracing::warn!(kind, error = %e, "mail not sent"),
            }
        });
    }
}

/// The SMTP error without the server's echo of anything we sent.
fn describe_smtp(e: lettre::transport::smtp::Error) -> MailError {
    MailError::Send(match e.status() {
        Some(code) => format!("the SMTP server refused with {code}"),
        None => e.to_string(),
    })
}

/// Creates the outbox directory, owner-only (messages carry reset links);
/// one that exists open to others is closed to them, with a warning, since
/// the messages are written with the process's umask.
fn create_outbox(dir: &Path) -> Result<(), MailError> {
    let failed = |source| MailError::Outbox {
        path: dir.to_owned(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(failed)?;
    crate::private_files::keep_to_owner(dir, 0o700, "the outbox").map_err(failed)
}

/// How `smtp://` connections are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartTls {
    Required,
    Opportunistic,
    Off,
}

/// A transport for `smtp://` or `smtps://` URLs (see the module docs).
fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let bad = |reason: &str| MailError::BadUrl {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|_| bad("not a URL"))?;
    let implicit_tls = match parsed.scheme() {
        "smtp" => false,
        "smtps" => true,
        _ => return Err(bad("the scheme must be smtp:// or smtps://")),
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let mut start_tls = StartTls::Required;
    let mut params = TlsParameters::builder(host.clone());
    for (name, value) in parsed.query_pairs() {
        match (&*name, &*value) {
            ("tls", "required") => start_tls = StartTls::Required,
            ("tls", "opportunistic") => start_tls = StartTls::Opportunistic,
            ("tls", "none") => start_tls = StartTls::Off,
            ("ca", path) => {
                let pem = std::fs::read(path).map_err(|_| bad("the ca file cannot be read"))?;
                let cert =
                    Certificate::from_pem(&pem).map_err(|_| bad("the ca file is not a PEM"))?;
                params = params.add_root_certificate(cert);
            }
            _ => return Err(bad("unknown parameter (use tls= and ca=)")),
        }
    }
    if implicit_tls && start_tls != StartTls::Required {
        return Err(bad("tls= applies to smtp:// only"));
    }
    let params = params.build_rustls().map_err(|_| bad("TLS setup failed"))?;
    let tls = match (implicit_tls, start_tls) {
        (true, _) => Tls::Wrapper(params),
        (false, StartTls::Required) => Tls::Required(params),
        (false, StartTls::Opportunistic) => Tls::Opportunistic(params),
        (false, StartTls::Off) => Tls::None,
    };
    let port = parsed
        .port()
        .unwrap_or(if implicit_tls { 465 } else { 587 });
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !parsed.username().is_empty() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| bad("the credentials are not UTF-8"))
        };
        builder = builder.credentials(Credentials::new(
            decode(parsed.username())?,
            decode(parsed.password().unwrap_or_default())?,
        ));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (lettre's connection pool needs a runtime to be built.)
    #[tokio::test]
    async fn smtp_urls_are_checked_and_never_echo_the_password() {
        for good in [
            "smtp://mail.example.com",
            "smtp://user:pw@mail.example.com:2525?tls=opportunistic",
            "smtp://127.0.0.1:2525?tls=none",
            "smtps://mail.example.com",
        ] {
            assert!(smtp_transport(good).is_ok(), "{good}");
        }
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtps://host?tls=none",
            "smtp://host?tls=maybe",
            "smtp://host?ca=/no/such/ca.pem",
            "smtp://user:hunter2@host?x=1",
        ] {
            let Err(err) = smtp_transport(bad) else {
                panic!("{bad} accepted");
            };
            let err = err.to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_outbox_is_owner_only_even_when_it_existed_open() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let fresh = root.path().join("fresh/outbox");
        create_outbox(&fresh).expect("created");
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create_outbox(&open).expect("taken over");
        assert_eq!(mode(&open), 0o700);
    }

    #[test]
    fn the_config_debug_hides_smtp_credentials() {
        let config = MailConfig {
            smtp_url: Some("smtp://idp:hunter2@mail.example.com".into()),
            ..MailConfig::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn without_smtp_mail_lands_in_an_owner_only_outbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = dir.path().join("outbox");
        let mailer = Mailer::new(&MailConfig {
            outbox: outbox.clone(),
            ..MailConfig::default()
        })
        .expect("mailer");
        mailer
            .send(
                "ann@example.com",
                Outgoing::email_verification("https://idp.test/account/email/verify?token=abc"),
            )
            .await
            .expect("written");
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .expect("outbox")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).expect("eml");
        // Quoted-printable, as lettre chose: soft breaks and `=3D` undone.
        let text = text.replace("=\r\n", "").replace("=3D", "=");
        assert!(text.contains("To: ann@example.com"), "{text}");
        assert!(
            text.contains("https://idp.test/account/email/verify?token=abc"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&outbox)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
