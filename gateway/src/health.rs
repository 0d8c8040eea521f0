//! `GET /health`: is the gateway up, and how is it doing. No authentication.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::Gateway;

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    /// Resident memory of the process, when the platform tells it.
    pub memory_rss_bytes: Option<u64>,
    /// Every provider's circuit breaker and load.
    pub providers: Vec<ProviderHealth>,
}

#[derive(Debug, Serialize)]
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

pub async fn health(State(gateway): State<Gateway>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: gateway.uptime().as_secs(),
        memory_rss_bytes: resident_memory_bytes(),
        providers: gateway
            .directory()
            .all_upstreams()
            .map(|u| ProviderHealth {
                id: u.provider.id,
                name: u.provider.name.clone(),
                kind: u.provider.kind.as_str(),
                enabled: u.provider.enabled,
                circuit: u.breaker.state().as_str(),
                keys: u.keys.len(),
                in_flight: u.keys.iter().map(|k| k.in_flight()).sum(),
            })
            .collect(),
    })
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
        let gateway = Gateway::open(&Default::default(), dir.path()).await.unwrap();
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
