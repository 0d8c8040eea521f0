//! Alerts: a budget crossing 80% or 100% of its day or month, a provider's circuit opening, an
//! organization's error rate and a tenant's cost spiking over a window. Each episode is one row
//! of `alerts` — a condition that holds (circuit, error rate, cost spike) has at most one open
//! row per kind and subject, whichever replica saw it first (a partial unique index), until it is
//! resolved — and is sent once, by the process that stored it, to every webhook of
//! `[gateway.alerts]` that takes its kind: Slack's incoming-webhook JSON, or the alert as JSON
//! signed with HMAC-SHA256. An alert carries names and numbers, never a key or a request's
//! content.
//!
//! Budget crossings come from the usage writer as they are settled (the budgets report each
//! once, across replicas). Circuits are looked at in this process's directory, error rates and
//! costs in the shared `usage` table, every `check_every_secs`.

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use crate::Gateway;
use crate::admin::{Caller, Page, Paged, Params, iso};
use crate::budget::{Crossing, Scope};
use crate::directory::CircuitState;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::settings::{AlertSettings, WebhookFormat, WebhookSettings};
use crate::store::{Store, StoreError, now_ms};

/// Every kind of alert.
pub const KINDS: [&str; 4] = ["budget", "circuit_open", "error_rate", "cost_spike"];

/// How long a tenant's usual cost (the day before the window) is kept before it is summed again.
const BASELINE_FOR: Duration = Duration::from_secs(600);

/// An alert as stored, listed and sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub org_id: i64,
    /// `budget`, `circuit_open`, `error_rate` or `cost_spike`.
    pub kind: String,
    /// What it is about: `tenant:5:daily:2026-12-04:0.8`, `provider:3`, `org:1`, `tenant:5`.
    pub subject: String,
    /// `warning` or `critical`.
    pub severity: String,
    pub title: String,
    /// The names and numbers behind the title.
    #[schema(value_type = Object)]
    pub detail: Value,
    pub created_at: String,
    /// When the condition ended; a budget crossing, an event, ends as it is raised.
    pub resolved_at: Option<String>,
}

/// An alert to raise.
struct Raised {
    org_id: i64,
    kind: &'static str,
    subject: String,
    severity: &'static str,
    title: String,
    detail: Value,
    /// An event (a budget crossing) rather than a condition that holds until resolved.
    event: bool,
}

/// Raises, stores and sends alerts.
#[derive(Debug)]
pub struct Alerts {
    store: Store,
    metrics: Arc<Metrics>,
    settings: AlertSettings,
    http: reqwest::Client,
    /// Providers whose circuit this process last saw open.
    open_circuits: Mutex<HashMap<i64, bool>>,
    /// Each tenant's cost over the day before the window, and when it was summed.
    baselines: Mutex<Option<(Instant, HashMap<i64, f64>)>>,
}

impl Alerts {
    /// `http` is the gateway's operator client (no redirects followed); each webhook call gets
    /// ten seconds.
    pub(crate) fn new(
        store: Store,
        metrics: Arc<Metrics>,
        settings: AlertSettings,
        http: reqwest::Client,
    ) -> Alerts {
        Alerts {
            store,
            metrics,
            settings,
            http,
            open_circuits: Mutex::default(),
            baselines: Mutex::default(),
        }
    }

    /// Stores `raised` unless its condition is already open, and sends what was stored.
    async fn raise(self: &Arc<Self>, raised: Raised) {
        let now = now_ms();
        let stored = sqlx::query(
            "INSERT INTO alerts (org_id, kind, subject, severity, title, detail, created_at, \
             resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING \
             RETURNING id",
        )
        .bind(raised.org_id)
        .bind(raised.kind)
        .bind(raised.subject.as_str())
        .bind(raised.severity)
        .bind(raised.title.as_str())
        .bind(raised.detail.to_string())
        .bind(now)
        .bind(raised.event.then_some(now))
        .fetch_optional(self.store.pool())
        .await;
        let id: i64 = match stored {
            Ok(Some(row)) => row.get("id"),
            Ok(None) => return, // open already: the same episode
            Err(e) => {
                tracing::error!(kind = raised.kind, error = %e, "cannot store an alert");
                return;
            }
        };
        tracing::warn!(kind = raised.kind, subject = raised.subject, "{}", raised.title);
        self.metrics.alert(raised.kind);
        let alert = Alert {
            id,
            org_id: raised.org_id,
            kind: raised.kind.to_owned(),
            subject: raised.subject,
            severity: raised.severity.to_owned(),
            title: raised.title,
            detail: raised.detail,
            created_at: iso(now),
            resolved_at: raised.event.then(|| iso(now)),
        };
        let this = Arc::clone(self);
        tokio::spawn(async move { this.send(&alert).await });
    }

    /// Ends the open episode of `kind` about `subject`, if there is one.
    async fn resolve(&self, kind: &str, subject: &str) {
        let ended = sqlx::query(
            "UPDATE alerts SET resolved_at = $1 WHERE kind = $2 AND subject = $3 \
             AND resolved_at IS NULL",
        )
        .bind(now_ms())
        .bind(kind)
        .bind(subject)
        .execute(self.store.pool())
        .await;
        match ended {
            Ok(done) if done.rows_affected() > 0 => tracing::info!(kind, subject, "resolved"),
            Ok(_) => {}
            Err(e) => tracing::warn!(kind, error = %e, "cannot resolve an alert"),
        }
    }

    /// The subjects of the open episodes of `kind`.
    async fn open(&self, kind: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT subject FROM alerts WHERE kind = $1 AND resolved_at IS NULL")
            .bind(kind)
            .fetch_all(self.store.pool())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(kind, error = %e, "cannot read the open alerts");
                Vec::new()
            })
    }

    /// Sends `alert` to every webhook that takes its kind, each tried up to three times.
    async fn send(&self, alert: &Alert) {
        let hooks = self.settings.webhooks.iter();
        for hook in hooks.filter(|h| h.kinds.is_empty() || h.kinds.contains(&alert.kind)) {
            let mut outcome = "failed";
            for attempt in 1..=3u64 {
                match self.post(hook, alert).await {
                    Ok(()) => {
                        outcome = "sent";
                        break;
                    }
                    Err(why) => {
                        tracing::warn!(alert = alert.id, attempt, "an alert's webhook: {why}");
                        if attempt < 3 {
                            tokio::time::sleep(Duration::from_secs(attempt * 2)).await;
                        }
                    }
                }
            }
            let format = match hook.format {
                WebhookFormat::Slack => "slack",
                WebhookFormat::Json => "json",
            };
            self.metrics.alert_delivery(format, outcome);
        }
    }

    async fn post(&self, hook: &WebhookSettings, alert: &Alert) -> Result<(), String> {
        let mut request = self
            .http
            .post(&hook.url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json");
        let body = match hook.format {
            WebhookFormat::Slack => {
                let mark = if alert.severity == "critical" { ":red_circle:" } else { ":warning:" };
                json!({ "text": format!("{mark} *AgentWatch* {}", alert.title) }).to_string()
            }
            WebhookFormat::Json => serde_json::to_string(alert).map_err(|e| e.to_string())?,
        };
        if let Some(secret) = &hook.secret {
            let timestamp = (now_ms() / 1000).to_string();
            request = request
                .header("x-agentwatch-timestamp", &timestamp)
                .header("x-agentwatch-signature", signature(secret.expose(), &timestamp, &body));
        }
        let response = request.body(body).send().await.map_err(|e| e.to_string())?;
        match response.status().is_success() {
            true => Ok(()),
            false => Err(format!("answered {}", response.status())),
        }
    }

    /// A budget crossed a threshold: an alert per crossing.
    pub(crate) async fn budget(self: &Arc<Self>, org_id: i64, crossing: &Crossing) {
        let (scope, id, table) = match crossing.scope {
            Scope::Tenant(id) => ("tenant", id, "tenants"),
            Scope::Team(id) => ("team", id, "teams"),
        };
        let name = self.name(table, id).await;
        let period = crossing.period.as_str();
        let today = iso(now_ms());
        // The episode: this budget, this day or month, this threshold.
        let when = if period == "daily" { &today[..10] } else { &today[..7] };
        let percent = (crossing.threshold * 100.0).round();
        let title = format!(
            "{scope} {name} has spent {percent}% of its {period} budget: ${:.2} of ${:.2}",
            crossing.spent, crossing.budget
        );
        self.raise(Raised {
            org_id,
            kind: "budget",
            subject: format!("{scope}:{id}:{period}:{when}:{}", crossing.threshold),
            severity: if crossing.threshold >= 1.0 { "critical" } else { "warning" },
            title,
            detail: json!({
                "scope": scope, "id": id, "name": name, "period": period,
                "threshold": crossing.threshold, "spent_usd": crossing.spent,
                "budget_usd": crossing.budget,
            }),
            event: true,
        })
        .await;
    }

    async fn name(&self, table: &'static str, id: i64) -> String {
        // Audited: `table` is one of this module's constants.
        let sql = format!("SELECT name FROM {table} WHERE id = $1");
        let name: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await
            .ok()
            .flatten();
        name.unwrap_or_else(|| format!("#{id}"))
    }

    /// One look at circuits, error rates and costs.
    async fn check(self: &Arc<Self>, gateway: &Gateway) {
        self.check_circuits(gateway).await;
        if let Err(e) = self.check_error_rates().await {
            tracing::warn!(error = %e, "cannot check error rates");
        }
        if let Err(e) = self.check_costs().await {
            tracing::warn!(error = %e, "cannot check costs");
        }
    }

    /// A provider whose circuit this process sees open is alerted on; its episode ends when this
    /// process sees it closed again.
    async fn check_circuits(self: &Arc<Self>, gateway: &Gateway) {
        let directory = gateway.directory();
        let mut changed = Vec::new();
        {
            let mut seen = self.open_circuits.lock().expect("circuits lock");
            for upstream in directory.all_upstreams() {
                let open = upstream.breaker.state() != CircuitState::Closed;
                let was = seen.insert(upstream.provider.id, open).unwrap_or(false);
                if open != was {
                    changed.push((Arc::clone(upstream), open));
                }
            }
        }
        let failures = gateway.inner.limits.breaker.failures;
        for (upstream, open) in changed {
            let provider = &upstream.provider;
            let subject = format!("provider:{}", provider.id);
            if !open {
                self.resolve("circuit_open", &subject).await;
                continue;
            }
            let title = format!(
                "provider {}'s circuit opened after {failures} failures in a row: its requests \
                 go to other providers until a trial request succeeds",
                provider.name
            );
            self.raise(Raised {
                org_id: provider.org_id,
                kind: "circuit_open",
                subject,
                severity: "critical",
                title,
                detail: json!({
                    "provider_id": provider.id, "provider": provider.name,
                    "kind": provider.kind.as_str(), "failures": failures,
                }),
                event: false,
            })
            .await;
        }
    }

    /// Each organization's share of requests answered 5xx over the window.
    async fn check_error_rates(self: &Arc<Self>) -> Result<(), StoreError> {
        let window = self.settings.window_secs as i64 * 1000;
        let rows = sqlx::query(
            "SELECT u.org_id AS org_id, o.name AS name, CAST(COUNT(*) AS BIGINT) AS requests, \
             CAST(SUM(CASE WHEN u.status >= 500 THEN 1 ELSE 0 END) AS BIGINT) AS errors \
             FROM usage u JOIN orgs o ON o.id = u.org_id \
             WHERE u.created_at >= $1 AND u.tool IS NULL GROUP BY u.org_id, o.name",
        )
        .bind(now_ms() - window)
        .fetch_all(self.store.pool())
        .await?;
        let open = self.open("error_rate").await;
        let (threshold, least) = (self.settings.error_rate, self.settings.min_requests as i64);
        let minutes = self.settings.window_secs as f64 / 60.0;
        let mut seen = Vec::new();
        for row in rows {
            let (org_id, name): (i64, String) = (row.get("org_id"), row.get("name"));
            let (requests, errors): (i64, i64) = (row.get("requests"), row.get("errors"));
            let rate = errors as f64 / requests.max(1) as f64;
            let subject = format!("org:{org_id}");
            if requests >= least && rate >= threshold {
                let title = format!(
                    "{:.0}% of organization {name}'s requests failed in the last {minutes:.0} \
                     minutes ({errors} of {requests})",
                    rate * 100.0
                );
                let detail = json!({
                    "org": name, "requests": requests, "errors": errors, "rate": rate,
                    "threshold": threshold, "window_secs": self.settings.window_secs,
                });
                let raised = Raised {
                    org_id,
                    kind: "error_rate",
                    subject: subject.clone(),
                    severity: "warning",
                    title,
                    detail,
                    event: false,
                };
                self.raise(raised).await;
                seen.push(subject);
            } else if rate >= threshold / 2.0 && requests >= least {
                seen.push(subject); // between the two: the episode goes on as it is
            }
        }
        for subject in open.iter().filter(|s| !seen.contains(s)) {
            self.resolve("error_rate", subject).await;
        }
        Ok(())
    }

    /// Each tenant's cost over the window against its usual window over the day before.
    async fn check_costs(self: &Arc<Self>) -> Result<(), StoreError> {
        let window = self.settings.window_secs as i64 * 1000;
        let now = now_ms();
        let usual = self.baselines(now, window).await?;
        let rows = sqlx::query(
            "SELECT u.tenant_id AS tenant_id, t.name AS name, t.org_id AS org_id, \
             COALESCE(SUM(u.cost_usd), 0.0) AS cost \
             FROM usage u JOIN tenants t ON t.id = u.tenant_id \
             WHERE u.created_at >= $1 GROUP BY u.tenant_id, t.name, t.org_id",
        )
        .bind(now - window)
        .fetch_all(self.store.pool())
        .await?;
        let open = self.open("cost_spike").await;
        let (factor, least) = (self.settings.cost_spike_factor, self.settings.cost_spike_min_usd);
        let minutes = self.settings.window_secs as f64 / 60.0;
        let mut seen = Vec::new();
        for row in rows {
            let (tenant_id, name, org_id): (i64, String, i64) =
                (row.get("tenant_id"), row.get("name"), row.get("org_id"));
            let cost: f64 = row.get("cost");
            let baseline = usual.get(&tenant_id).copied().unwrap_or(0.0);
            let subject = format!("tenant:{tenant_id}");
            if cost >= least && cost >= factor * baseline {
                let title = format!(
                    "tenant {name} spent ${cost:.2} in the last {minutes:.0} minutes, against \
                     ${baseline:.2} in a usual {minutes:.0} minutes of the day before"
                );
                let detail = json!({
                    "tenant_id": tenant_id, "tenant": name, "cost_usd": cost,
                    "usual_usd": baseline, "factor": factor,
                    "window_secs": self.settings.window_secs,
                });
                let raised = Raised {
                    org_id,
                    kind: "cost_spike",
                    subject: subject.clone(),
                    severity: "warning",
                    title,
                    detail,
                    event: false,
                };
                self.raise(raised).await;
                seen.push(subject);
            }
        }
        for subject in open.iter().filter(|s| !seen.contains(s)) {
            self.resolve("cost_spike", subject).await;
        }
        Ok(())
    }

    /// Each tenant's cost in an average window of the day before the window, summed again every
    /// ten minutes.
    async fn baselines(&self, now: i64, window: i64) -> Result<HashMap<i64, f64>, StoreError> {
        if let Some((at, usual)) = &*self.baselines.lock().expect("baselines lock")
            && at.elapsed() < BASELINE_FOR
        {
            return Ok(usual.clone());
        }
        const DAY: i64 = 86_400_000;
        let rows: Vec<(i64, f64)> = sqlx::query_as(
            "SELECT tenant_id, COALESCE(SUM(cost_usd), 0.0) FROM usage_totals \
             WHERE created_at >= $1 AND created_at < $2 AND tenant_id IS NOT NULL \
             GROUP BY tenant_id",
        )
        .bind(now - window - DAY)
        .bind(now - window)
        .fetch_all(self.store.pool())
        .await?;
        let share = window as f64 / DAY as f64;
        let usual: HashMap<i64, f64> = rows.into_iter().map(|(t, c)| (t, c * share)).collect();
        *self.baselines.lock().expect("baselines lock") = Some((Instant::now(), usual.clone()));
        Ok(usual)
    }
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the `X-AgentWatch-Signature` of a body.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Gateway {
    /// Looks at circuits, error rates and costs every `check_every_secs`.
    pub(crate) fn keep_alerting(&self) {
        let gateway = self.clone();
        let every = Duration::from_secs(gateway.inner.alerts.settings.check_every_secs);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let alerts = Arc::clone(&gateway.inner.alerts);
                alerts.check(&gateway).await;
            }
        });
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertQuery {
    /// Only the episodes still open (`true`), or every alert (default).
    open: Option<bool>,
    /// `budget`, `circuit_open`, `error_rate` or `cost_spike`.
    kind: Option<String>,
    page: Option<i64>,
    limit: Option<i64>,
}

/// The organization's alerts, newest first.
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "alerts",
    params(AlertQuery),
    responses(
        (status = 200, description = "A page of alerts", body = Paged<Alert>),
        (status = 400, description = "A parameter is invalid; `param` names it", body = crate::admin::ErrorBody),
    )
)]
pub(crate) async fn list_alerts(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(query): Params<AlertQuery>,
) -> Result<Json<Paged<Alert>>, ApiError> {
    let page = Page::new(query.page, query.limit)?;
    if let Some(kind) = &query.kind
        && !KINDS.contains(&kind.as_str())
    {
        let message = format!("unknown kind {kind:?}: one of {}", KINDS.join(", "));
        return Err(ApiError::invalid("kind", &message));
    }
    let filter = |select: &str| {
        let mut sql: sqlx::QueryBuilder<sqlx::Any> = sqlx::QueryBuilder::new(select);
        sql.push(" FROM alerts WHERE org_id = ").push_bind(caller.org_id);
        if query.open == Some(true) {
            sql.push(" AND resolved_at IS NULL");
        }
        if let Some(kind) = &query.kind {
            sql.push(" AND kind = ").push_bind(kind.clone());
        }
        sql
    };
    let mut count = filter("SELECT COUNT(*)");
    let mut rows = filter(
        "SELECT id, org_id, kind, subject, severity, title, detail, created_at, resolved_at",
    );
    rows.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit);
    rows.push(" OFFSET ").push_bind(page.offset());
    let (backend, pool) = (gateway.store().backend(), gateway.store().pool());
    let sql = |e| ApiError::internal("cannot read the alerts", e);
    let total: i64 =
        storage::query_scalar(backend, &mut count).fetch_one(pool).await.map_err(sql)?;
    let data = storage::query(backend, &mut rows)
        .fetch_all(pool)
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| Alert {
            id: r.get("id"),
            org_id: r.get("org_id"),
            kind: r.get("kind"),
            subject: r.get("subject"),
            severity: r.get("severity"),
            title: r.get("title"),
            detail: serde_json::from_str(&r.get::<String, _>("detail")).unwrap_or_default(),
            created_at: iso(r.get("created_at")),
            resolved_at: r.get::<Option<i64>, _>("resolved_at").map(iso),
        })
        .collect();
    Ok(Json(Paged::new(data, page, total)))
}
