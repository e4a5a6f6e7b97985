//! A small SMTP server for tests: it speaks enough of RFC 5321 for a real
//! client (lettre, as the IdP runs it) to deliver mail, and keeps every
//! message it receives for the test to read. Loopback only; with
//! [`SmtpSink::start_tls`] it offers STARTTLS (RFC 3207) with a
//! certificate from a CA made for the test, and refuses mail before the
//! upgrade.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// One received message: who it was for, its text (headers and body), and
/// whether it came over TLS.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
    pub over_tls: bool,
}

#[derive(Debug, Default)]
struct Inbox {
    messages: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// A running sink; it stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    pub port: u16,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
    /// The CA that signed the STARTTLS certificate, where there is one.
    ca_file: Option<tempfile::NamedTempFile>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// A plain sink (no TLS offered).
    pub async fn start() -> Self {
        Self::listen(None, None).await
    }

    /// A sink that offers STARTTLS for 127.0.0.1 and takes mail only after it.
    pub async fn start_tls() -> Self {
        let (ca, cert, key) = super::test_pki(&["127.0.0.1"]);
        use rustls::pki_types::pem::PemObject as _;
        let certs = vec![
            rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes())
                .expect("certificate"),
        ];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let ca_file = tempfile::NamedTempFile::new().expect("CA file");
        std::fs::write(ca_file.path(), ca).expect("CA written");
        Self::listen(Some(TlsAcceptor::from(Arc::new(config))), Some(ca_file)).await
    }

    async fn listen(tls: Option<TlsAcceptor>, ca_file: Option<tempfile::NamedTempFile>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inbox = Arc::new(Inbox::default());
        let shared = Arc::clone(&inbox);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, Arc::clone(&shared), tls.clone()));
            }
        });
        Self {
            port,
            inbox,
            task,
            ca_file,
        }
    }

    /// The URL the IdP sends through: plain SMTP for a plain sink (this is
    /// loopback), the default (STARTTLS required) trusting the test CA for
    /// a TLS one.
    pub fn url(&self) -> String {
        match &self.ca_file {
            None => format!("smtp://127.0.0.1:{}?tls=none", self.port),
            Some(ca) => format!("smtp://127.0.0.1:{}?ca={}", self.port, ca.path().display()),
        }
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Received> {
        self.inbox.messages.lock().expect("inbox").clone()
    }

    /// Waits until `count` messages with this subject have arrived (10 s at
    /// most); returns those, in the order they came.
    pub async fn wait_for_subject(&self, subject: &str, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let messages: Vec<Received> = self
                .messages()
                .into_iter()
                .filter(|m| m.subject() == subject)
                .collect();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "{} message(s) {subject:?} arrived, {count} expected",
                    messages.len()
                );
            }
        }
    }

    /// Waits until `count` messages have arrived (10 s at most); returns
    /// them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} message(s) arrived, {count} expected", messages.len());
            }
        }
    }
}

impl Received {
    /// The text of the body, decoded from quoted-printable when the
    /// message says it is (RFC 2045 §6.7: `=XX` escapes, `=` soft breaks).
    pub fn body(&self) -> String {
        let (headers, body) = self.data.split_once("\n\n").unwrap_or(("", &self.data));
        if !headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            return body.to_owned();
        }
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (other, _) => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("UTF-8 body")
    }

    /// The `token` query parameter of the first link in the message to
    /// `path` (an absolute URL ending in `path?token=...`).
    pub fn token_for(&self, path: &str) -> String {
        let body = self.body();
        let marker = format!("{path}?token=");
        let start = body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {marker} link in {body}"))
            + marker.len();
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '%')
            .collect()
    }

    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }
}

/// One connection: a conversation in the clear, and after STARTTLS a new
/// one over TLS (RFC 3207).
async fn session(tcp: tokio::net::TcpStream, inbox: Arc<Inbox>, tls: Option<TlsAcceptor>) {
    let mut tcp = tcp;
    if tcp.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    let Some(tcp) = conversation(tcp, &inbox, tls.is_some(), false).await else {
        return;
    };
    let Some(acceptor) = tls else { return };
    if let Ok(secure) = acceptor.accept(tcp).await {
        conversation(secure, &inbox, false, true).await;
    }
}

/// Commands until QUIT or the connection ends; the stream back when the
/// client asked for STARTTLS (and `offer_tls`), to be upgraded.
async fn conversation<S>(stream: S, inbox: &Inbox, offer_tls: bool, over_tls: bool) -> Option<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let verb = command.get(..4).unwrap_or(&command).to_ascii_uppercase();
        let answer: String = match verb.as_str() {
            "EHLO" if offer_tls => "250-sink\r\n250-STARTTLS\r\n250 8BITMIME\r\n".into(),
            "EHLO" => "250-sink\r\n250 8BITMIME\r\n".into(),
            "STAR" if offer_tls => {
                stream.write_all(b"220 go ahead\r\n").await.ok()?;
                return Some(stream.into_inner());
            }
            "MAIL" | "RCPT" | "DATA" if offer_tls => "530 must issue STARTTLS first\r\n".into(),
            "HELO" | "MAIL" | "RSET" | "NOOP" => "250 OK\r\n".into(),
            "RCPT" => {
                let address = command
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned())
                    .unwrap_or_default();
                to.push(address);
                "250 OK\r\n".into()
            }
            "DATA" => {
                stream.write_all(b"354 go ahead\r\n").await.ok()?;
                let mut data = String::new();
                loop {
                    line.clear();
                    match stream.read_line(&mut line).await {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 §4.5.2).
                    data.push_str(
                        text.strip_prefix('.')
                            .filter(|_| text.starts_with(".."))
                            .unwrap_or(text),
                    );
                    data.push('\n');
                }
                inbox.messages.lock().expect("inbox").push(Received {
                    to: std::mem::take(&mut to),
                    data,
                    over_tls,
                });
                inbox.arrived.notify_waiters();
                "250 OK queued\r\n".into()
            }
            "QUIT" => {
                let _ = stream.write_all(b"221 bye\r\n").await;
                return None;
            }
            _ => "502 not implemented\r\n".into(),
        };
        stream.write_all(answer.as_bytes()).await.ok()?;
    }
}
