//! The log output of both servers: one `tracing` subscriber, writing to
//! stderr as human text or as one JSON object per line.
//!
//! JSON is what log shippers (Vector, Fluent Bit, Loki's promtail) read
//! without a parser of their own; text is what a person at a terminal
//! reads. [`LogFormat::detect`] picks text when stderr is a terminal and
//! JSON otherwise, so `idp serve` in a shell is readable and the same
//! command under systemd or in a container is machine-readable.

use std::io::IsTerminal as _;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), and `span`/`spans` holding the request's
    /// `request_id`, `method` and `route`.
    Json,
    /// Human-readable lines, coloured on a terminal.
    Text,
}

impl LogFormat {
    /// Text when stderr is a terminal, JSON otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Text
        } else {
            Self::Json
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            other => Err(format!("unknown log format {other:?}: use json or text")),
        }
    }
}

/// The filter named by the environment variable `var` (`RUST_LOG` syntax:
/// `info`, `warn,idp=debug`, ...), or `default` when it is unset. A value
/// that does not parse is an error to report, never silently replaced.
///
/// ```
/// let filter = serve::log_filter("EXAMPLE_LOG_UNSET", "info").expect("default");
/// assert_eq!(filter.to_string(), "info");
/// ```
pub fn log_filter(var: &str, default: &str) -> Result<EnvFilter, String> {
    match std::env::var(var) {
        Ok(text) => EnvFilter::try_new(&text).map_err(|e| format!("{var}={text:?}: {e}")),
        Err(std::env::VarError::NotPresent) => Ok(EnvFilter::new(default)),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{var} is not UTF-8")),
    }
}

/// Installs the global subscriber: `filter` decides what is logged,
/// `format` (or [`LogFormat::detect`] when `None`) how.
///
/// ```no_run
/// use tracing_subscriber::EnvFilter;
///
/// serve::init_logging(Some(serve::LogFormat::Json), EnvFilter::new("info"));
/// tracing::info!("one JSON line on stderr");
/// ```
pub fn init_logging(format: Option<LogFormat>, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_filter_that_does_not_parse_is_an_error() {
        assert!(EnvFilter::try_new("[[[").is_err());
        assert!(EnvFilter::try_new("warn,idp=debug").is_ok());
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("TEXT".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml"
            .parse::<LogFormat>()
            .expect_err("refused")
            .contains("json or text"));
    }
}
