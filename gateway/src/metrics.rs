//! `GET /metrics`: Prometheus text format, through `prometheus-client`. Request outcomes are
//! counted from usage records (so they are counted exactly once, off the response path);
//! provider circuit states and load are read from the directory at scrape time.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::Gateway;
use crate::store::UsageRecord;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    model: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    tenant: String,
    model: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    tenant: String,
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    /// `tenant` or `team`.
    scope: &'static str,
    id: String,
    /// `daily` or `monthly`.
    period: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DlpLabels {
    r#type: &'static str,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolCallLabels {
    tenant: String,
    /// `mcp` or `rest`.
    surface: &'static str,
    tool: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ModelLabels, Histogram>,
    ttft: Family<ModelLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    attempts: Family<ProviderLabels, Counter>,
    circuit: Family<ProviderLabels, Gauge>,
    in_flight: Family<ProviderLabels, Gauge>,
    models_cache: Family<OutcomeLabels, Counter>,
    logins: Family<OutcomeLabels, Counter>,
    budget_remaining: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    dlp: Family<DlpLabels, Counter>,
    tool_calls: Family<ToolCallLabels, Counter>,
    tool_latency: Family<ToolLabels, Histogram>,
    tool_result_bytes: Family<ToolLabels, Counter>,
    usage_write_failures: Counter,
    usage_dropped: Counter,
    rolled_up: Family<TableLabels, Counter>,
    alerts: Family<KindLabels, Counter>,
    alert_deliveries: Family<DeliveryLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    format: &'static str,
    outcome: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 5 ms to about 82 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("agentwatch_gateway");
        let requests = Family::default();
        let latency = Family::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let ttft = Family::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let tokens = Family::default();
        let cost = Family::default();
        let attempts = Family::default();
        let circuit = Family::default();
        let in_flight = Family::default();
        registry.register(
            "requests",
            "Requests by tenant, model and status (499: the client left)",
            requests.clone(),
        );
        registry.register("request_duration_seconds", "Request latency by model", latency.clone());
        registry.register(
            "time_to_first_token_seconds",
            "Time to the first streamed token by model",
            ttft.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by tenant, model and kind (prompt, completion; cache_read and cache_write \
             are the parts of prompt read from and written to providers' prompt caches)",
            tokens.clone(),
        );
        registry.register("cost_usd", "Cost in USD by tenant and model", cost.clone());
        registry.register(
            "provider_answers",
            "Requests answered by each provider (retries included)",
            attempts.clone(),
        );
        registry.register(
            "provider_circuit_state",
            "Each provider's circuit breaker: 0 closed, 1 half-open, 2 open",
            circuit.clone(),
        );
        registry.register(
            "provider_in_flight",
            "Requests in flight to each provider",
            in_flight.clone(),
        );
        let models_cache = Family::default();
        registry.register(
            "models_cache",
            "GET /v1/models answers from the 30-second cache (hit) or built afresh (miss)",
            models_cache.clone(),
        );
        let logins = Family::default();
        registry.register(
            "admin_logins",
            "Admin logins by outcome: ok, failed, locked (this failure locked the account), \
             disabled",
            logins.clone(),
        );
        let budget_remaining = Family::default();
        registry.register(
            "budget_remaining_usd",
            "USD left in each tenant's and team's daily and monthly budget (UTC day, calendar \
             month), from the usage recorded so far",
            budget_remaining.clone(),
        );
        let dlp = Family::default();
        registry.register(
            "dlp_detections",
            "Detections acted on by DLP, by detector type and action",
            dlp.clone(),
        );
        let tool_calls = Family::default();
        registry.register(
            "knowledge_calls",
            "Calls to the knowledge server's tools (MCP) and routes (REST) by tenant, surface, \
             tool and status",
            tool_calls.clone(),
        );
        let tool_latency = Family::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register(
            "knowledge_call_duration_seconds",
            "Knowledge call latency by tool",
            tool_latency.clone(),
        );
        let tool_result_bytes = Family::default();
        registry.register(
            "knowledge_result_bytes",
            "Bytes returned by knowledge calls, by tool",
            tool_result_bytes.clone(),
        );
        let usage_write_failures = Counter::default();
        registry.register(
            "usage_write_failures",
            "Attempts to store a batch of usage records that failed (each is retried, up to five \
             times)",
            usage_write_failures.clone(),
        );
        let usage_dropped = Counter::default();
        registry.register(
            "usage_records_dropped",
            "Usage records that could not be stored after five attempts (logged with their \
             request ids), or that came after shutdown",
            usage_dropped.clone(),
        );
        let rolled_up = Family::default();
        registry.register(
            "retention_rolled_up_rows",
            "Usage and audit rows that retention summed into daily rows and deleted, by table",
            rolled_up.clone(),
        );
        let alerts = Family::default();
        registry.register(
            "alerts",
            "Alert episodes this process raised, by kind (budget, circuit_open, error_rate, \
             cost_spike)",
            alerts.clone(),
        );
        let alert_deliveries = Family::default();
        registry.register(
            "alert_deliveries",
            "Alerts sent to a webhook, by format (slack, json) and outcome (sent, failed after \
             three attempts)",
            alert_deliveries.clone(),
        );
        Metrics {
            registry,
            alerts,
            alert_deliveries,
            usage_write_failures,
            usage_dropped,
            rolled_up,
            tool_calls,
            tool_latency,
            tool_result_bytes,
            requests,
            latency,
            ttft,
            tokens,
            cost,
            attempts,
            circuit,
            in_flight,
            models_cache,
            logins,
            budget_remaining,
            dlp,
        }
    }
}

impl Metrics {
    /// Counts an answer of `/v1/models`: `hit` from the cache, `miss` built afresh.
    pub fn models_cache(&self, outcome: &'static str) {
        self.models_cache.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts what DLP did.
    pub fn dlp(&self, kind: crate::dlp::Kind, action: crate::dlp::policy::Action, n: u32) {
        let labels = DlpLabels { r#type: kind.as_str(), action: action.as_str() };
        self.dlp.get_or_create(&labels).inc_by(u64::from(n));
    }

    /// Counts a failed attempt to store a batch of usage records.
    pub fn usage_write_failed(&self) {
        self.usage_write_failures.inc();
    }

    /// Counts usage records given up on.
    pub fn usage_dropped(&self, n: usize) {
        self.usage_dropped.inc_by(n as u64);
    }

    /// Counts an alert episode raised here.
    pub fn alert(&self, kind: &'static str) {
        self.alerts.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts an alert's delivery to one webhook.
    pub fn alert_delivery(&self, format: &'static str, outcome: &'static str) {
        self.alert_deliveries.get_or_create(&DeliveryLabels { format, outcome }).inc();
    }

    /// Counts rows retention rolled up.
    pub fn rolled_up(&self, table: &'static str, rows: u64) {
        self.rolled_up.get_or_create(&TableLabels { table }).inc_by(rows);
    }

    /// The usage pipeline's health: failed batch writes, and records dropped.
    pub fn usage_pipeline(&self) -> (u64, u64) {
        (self.usage_write_failures.get(), self.usage_dropped.get())
    }

    /// Counts an admin login attempt.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts one finished request.
    pub fn observe(&self, record: &UsageRecord) {
        let tenant = record.tenant_id.map_or_else(String::new, |t| t.to_string());
        if let Some(tool) = &record.tool {
            // The knowledge server names only its own tools and routes: a bounded set.
            let surface = if record.endpoint == "rest" { "rest" } else { "mcp" };
            let status = record.status.to_string();
            let labels = ToolCallLabels { tenant, surface, tool: tool.clone(), status };
            self.tool_calls.get_or_create(&labels).inc();
            let by_tool = ToolLabels { tool: tool.clone() };
            self.tool_latency.get_or_create(&by_tool).observe(record.latency_ms as f64 / 1000.0);
            if let Some(bytes) = record.result_bytes {
                self.tool_result_bytes.get_or_create(&by_tool).inc_by(bytes);
            }
            return;
        }
        // Only routed models become label values: a client cannot grow /metrics with made-up
        // model names.
        let model = match &record.provider {
            Some(_) => record.model.clone(),
            None => "(unrouted)".to_owned(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                tenant: tenant.clone(),
                model: model.clone(),
                status: record.status.to_string(),
            })
            .inc();
        let by_model = ModelLabels { model: model.clone() };
        self.latency.get_or_create(&by_model).observe(record.latency_ms as f64 / 1000.0);
        if let Some(ttft) = record.ttft_ms {
            self.ttft.get_or_create(&by_model).observe(ttft as f64 / 1000.0);
        }
        let kinds = [
            ("prompt", record.prompt_tokens),
            ("completion", record.completion_tokens),
            ("cache_read", record.cache_read_tokens),
            ("cache_write", record.cache_write_tokens),
        ];
        for (kind, n) in kinds {
            if n > 0 {
                let labels = TokenLabels { tenant: tenant.clone(), model: model.clone(), kind };
                self.tokens.get_or_create(&labels).inc_by(n);
            }
        }
        if record.cost_usd > 0.0 {
            self.cost.get_or_create(&CostLabels { tenant, model }).inc_by(record.cost_usd);
        }
        if let Some(provider) = &record.provider {
            self.attempts.get_or_create(&ProviderLabels { provider: provider.clone() }).inc();
        }
    }
}

pub(crate) async fn metrics(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if let Some(token) = &gateway.inner.metrics_token {
        let presented = crate::secrets::bearer(&headers).unwrap_or_default();
        if !crate::secrets::constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
            return crate::error::ApiError::unauthorized(
                "/metrics needs the gateway.metrics_token as `Authorization: Bearer <token>`",
            )
            .into_response();
        }
    }
    let metrics = &gateway.inner.metrics;
    for upstream in gateway.directory().all_upstreams() {
        let labels = ProviderLabels { provider: upstream.provider.name.clone() };
        let state = match upstream.breaker.state() {
            crate::directory::CircuitState::Closed => 0,
            crate::directory::CircuitState::HalfOpen => 1,
            crate::directory::CircuitState::Open => 2,
        };
        metrics.circuit.get_or_create(&labels).set(state);
        let in_flight: u32 = upstream.keys.iter().map(|k| k.in_flight()).sum();
        metrics.in_flight.get_or_create(&labels).set(i64::from(in_flight));
    }
    match crate::admin::budgets_remaining(&gateway).await {
        Ok(budgets) => {
            // Budgets removed since the last scrape disappear from it.
            metrics.budget_remaining.clear();
            for b in budgets {
                let labels =
                    BudgetLabels { scope: b.scope, id: b.id.to_string(), period: b.period };
                metrics.budget_remaining.get_or_create(&labels).set(b.remaining_usd);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read budgets for /metrics"),
    }
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &metrics.registry) {
        return crate::error::ApiError::internal("cannot encode the metrics", e).into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}
