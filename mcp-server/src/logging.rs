//! Logs go to stderr (stdout belongs to command output and to MCP over stdio), as readable lines
//! or as one JSON object per line.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Starts logging; `default_level` applies when neither `RUST_LOG` nor `log.level` is set.
pub fn init(config: &LogConfig, default_level: &str) {
    // `RUST_LOG` wins over the configured level, as Rust users expect; the configured level was
    // validated at start-up, so the fallback never applies to a user's typo.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(config.level.as_deref().unwrap_or(default_level)))
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_span_list(false).init(),
    }
}
