//! The gateway: an OpenAI-compatible LLM proxy and the admin API, served on port 8787.
//!
//! Invariant: never depends on `indexer`, `scanner` or `mcp-server`; the knowledge server draws
//! on the gateway, not the other way round.

pub mod health;
pub mod telemetry;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;

/// What the gateway's handlers share.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
}

impl Gateway {
    pub fn new() -> Gateway {
        Gateway { inner: Arc::new(Inner { started: Instant::now() }) }
    }

    /// The gateway's HTTP routes, with request ids and tracing.
    pub fn router(&self) -> Router {
        let routes = Router::new().route("/health", get(health::health)).with_state(self.clone());
        telemetry::observe(routes)
    }

    fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway::new()
    }
}
