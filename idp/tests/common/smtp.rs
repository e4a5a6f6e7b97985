//! A small SMTP server for tests: it speaks enough of RFC 5321 for a real
//! client (lettre, as the IdP runs it) to deliver mail, and keeps every
//! message it receives for the test to read. Loopback only, no TLS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One received message: who it was for, and its text (headers and body).
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
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
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inbox = Arc::new(Inbox::default());
        let shared = Arc::clone(&inbox);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, Arc::clone(&shared)));
            }
        });
        Self { port, inbox, task }
    }

    /// The URL the IdP sends through (plain SMTP: this is loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Received> {
        self.inbox.messages.lock().expect("inbox").clone()
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

async fn session(stream: tokio::net::TcpStream, inbox: Arc<Inbox>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let reply = |text: &'static str| text.as_bytes();
    if write
        .write_all(reply("220 sink ESMTP ready\r\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut to = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => reply("250-sink\r\n250 8BITMIME\r\n"),
            "HELO" | "MAIL" | "RSET" | "NOOP" => reply("250 OK\r\n"),
            "RCPT" => {
                let address = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned())
                    .unwrap_or_default();
                to.push(address);
                reply("250 OK\r\n")
            }
            "DATA" => {
                if write.write_all(reply("354 go ahead\r\n")).await.is_err() {
                    return;
                }
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 §4.5.2).
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                    data.push('\n');
                }
                inbox.messages.lock().expect("inbox").push(Received {
                    to: std::mem::take(&mut to),
                    data,
                });
                inbox.arrived.notify_waiters();
                reply("250 OK queued\r\n")
            }
            "QUIT" => {
                let _ = write.write_all(reply("221 bye\r\n")).await;
                return;
            }
            _ => reply("502 not implemented\r\n"),
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}
