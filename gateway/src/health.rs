//! Health: `GET /health` (database, providers, memory, uptime; 503 when degraded), `GET /healthz`
//! (liveness: the process answers) and `GET /readyz` (readiness, with a tri-state check per
//! provider). No authentication, so they show the operator's own providers (the default
//! organization's, where config-declared ones live) and nothing of any other organization: not
//! its providers' names, nor whether they work. One organization's broken provider cannot take a
//! replica out of its load balancer.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::Gateway;
use crate::directory::{CircuitState, Upstream};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer or every enabled provider's
    /// circuit is open.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    /// `ok` or `error`.
    pub database: &'static str,
    /// `ok` or `error`, when budgets and rate limits are kept in Redis (`storage.redis_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
    /// Resident memory of the process, when the platform tells it.
    pub memory_rss_bytes: Option<u64>,
    /// The operator's providers' circuit breakers and load (other organizations' are theirs to
    /// see, through the admin API).
    pub providers: Vec<ProviderHealth>,
    /// The usage pipeline since start: failed batch writes (each retried) and records dropped.
    pub usage_pipeline: UsagePipeline,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePipeline {
    pub write_failures: u64,
    pub dropped_records: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderHealth {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    pub keys: usize,
    pub in_flight: u32,
}

/// The gateway's health: database, providers, memory, uptime.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "Degraded: the database or Redis does not answer, or every enabled provider's circuit is open", body = Health),
    )
)]
pub async fn health(State(gateway): State<Gateway>) -> (StatusCode, Json<Health>) {
    let database = database_answers(&gateway).await;
    let redis = gateway.redis_answers().await;
    let directory = gateway.directory();
    let providers: Vec<ProviderHealth> = operators(&gateway, &directory)
        .map(|u| ProviderHealth {
            id: u.provider.id,
            name: u.provider.name.clone(),
            kind: u.provider.kind.as_str(),
            enabled: u.provider.enabled,
            circuit: u.breaker.state().as_str(),
            keys: u.keys.len(),
            in_flight: u.keys.iter().map(|k| k.in_flight()).sum(),
        })
        .collect();
    let mut enabled = operators(&gateway, &directory).filter(|u| u.provider.enabled).peekable();
    let all_open =
        enabled.peek().is_some() && enabled.all(|u| u.breaker.state() == CircuitState::Open);
    let degraded = !database || redis == Some(false) || all_open;
    let status = if degraded { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let health = Health {
        status: if degraded { "degraded" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: gateway.uptime().as_secs(),
        database: if database { "ok" } else { "error" },
        redis: redis.map(|up| if up { "ok" } else { "error" }),
        memory_rss_bytes: resident_memory_bytes(),
        providers,
        usage_pipeline: {
            let (write_failures, dropped_records) = gateway.inner.metrics.usage_pipeline();
            UsagePipeline { write_failures, dropped_records }
        },
    };
    (status, Json(health))
}

async fn database_answers(gateway: &Gateway) -> bool {
    let ping = sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(gateway.store().pool());
    matches!(tokio::time::timeout(std::time::Duration::from_secs(2), ping).await, Ok(Ok(1)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Alive {
    /// Always `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "Alive", body = Alive))
)]
pub async fn healthz() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `database`: `ok` or `down`; `redis` too, when the counters are kept there.
    /// `provider/<name>` for each enabled provider: `ok` (circuit
    /// closed), `reachable` (no key configured yet: it works once one is added), `down` (its
    /// circuit is open or half-open after consecutive failures).
    pub checks: BTreeMap<String, &'static str>,
}

/// Readiness, tri-state per provider (as in seed 002): 503 when the database (or Redis, where the
/// counters are kept) does not answer or an enabled provider is `down`; `reachable` providers do
/// not count as failures. A replica that lost Redis refuses requests, so it is not ready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    )
)]
pub async fn readyz(State(gateway): State<Gateway>) -> (StatusCode, Json<Readiness>) {
    let mut checks = BTreeMap::new();
    let database = database_answers(&gateway).await;
    checks.insert("database".to_owned(), if database { "ok" } else { "down" });
    let redis = gateway.redis_answers().await;
    if let Some(up) = redis {
        checks.insert("redis".to_owned(), if up { "ok" } else { "down" });
    }
    let directory = gateway.directory();
    let mut any_down = false;
    for upstream in operators(&gateway, &directory).filter(|u| u.provider.enabled) {
        let state = provider_state(upstream);
        any_down |= state == "down";
        // Two organizations may name a provider alike: the second gets its id appended.
        let mut key = format!("provider/{}", upstream.provider.name);
        if checks.contains_key(&key) {
            key = format!("{key}#{}", upstream.provider.id);
        }
        checks.insert(key, state);
    }
    let ready = database && redis != Some(false) && !any_down;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { status: if ready { "ready" } else { "not_ready" }, checks }))
}

/// The providers of the operator's own organization.
fn operators<'a>(
    gateway: &Gateway,
    directory: &'a crate::directory::Directory,
) -> impl Iterator<Item = &'a Arc<Upstream>> {
    let org = gateway.default_org();
    directory.all_upstreams().filter(move |u| u.provider.org_id == org)
}

fn provider_state(upstream: &Upstream) -> &'static str {
    match upstream.breaker.state() {
        CircuitState::Open | CircuitState::HalfOpen => "down",
        CircuitState::Closed if upstream.keys.is_empty() => "reachable",
        CircuitState::Closed => "ok",
    }
}

/// Reads `VmRSS` from `/proc/self/status`; `None` where there is no procfs.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::Gateway;

    #[tokio::test]
    async fn health_answers_ok_with_version_uptime_and_a_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage::testing::open(dir.path()).await;
        let gateway = Gateway::open(&Default::default(), dir.path(), &storage).await.unwrap();
        let response = gateway
            .router()
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
        assert!(json["uptime_seconds"].is_u64());
        assert!(json["memory_rss_bytes"].as_u64().unwrap() > 0);
    }
}
