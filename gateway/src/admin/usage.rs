//! Usage: every request through `/v1/*` (tenant, team, provider, model, tokens, cost, latency,
//! time to first token, status, DLP events) and every call to the knowledge server's tools (MCP
//! and REST: tool, latency, result size, status, DLP events), listed by page, summed for a
//! period, and broken down by model, provider, tenant, team, tool or day.

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, QueryBuilder, Row};
use storage::{Backend, IntColumns};
use utoipa::{IntoParams, ToSchema};

use super::{Caller, PageQuery, Paged, Params, iso, parse_date};
use crate::Gateway;
use crate::budget::period_starts;
use crate::error::ApiError;

/// The filters every usage endpoint takes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageFilter {
    /// From this date (`2026-11-30`, UTC) or time (RFC 3339).
    start_date: Option<String>,
    /// To this date, inclusive, or time.
    end_date: Option<String>,
    tenant_id: Option<i64>,
    team_id: Option<i64>,
    /// Only this model (as served).
    model: Option<String>,
    /// Only this endpoint: `chat.completions`, `embeddings`, `messages`,
    /// `messages.count_tokens`, or the knowledge server's `mcp` and
    /// `rest`.
    endpoint: Option<String>,
    /// Only calls to this knowledge tool (`search_code`) or route (`GET /api/knowledge/search`).
    tool: Option<String>,
}

/// A filter with its dates parsed (Unix ms, end exclusive).
struct Scope<'a> {
    org_id: i64,
    start: Option<i64>,
    end: Option<i64>,
    filter: &'a UsageFilter,
}

impl<'a> Scope<'a> {
    fn new(caller: &Caller, filter: &'a UsageFilter) -> Result<Scope<'a>, ApiError> {
        let start = filter.start_date.as_deref().map(|d| parse_date("start_date", d, false));
        let end = filter.end_date.as_deref().map(|d| parse_date("end_date", d, true));
        let scope = Scope {
            org_id: caller.org_id,
            start: start.transpose()?,
            end: end.transpose()?,
            filter,
        };
        if let (Some(start), Some(end)) = (scope.start, scope.end)
            && end <= start
        {
            return Err(ApiError::invalid("end_date", "end_date is before start_date"));
        }
        Ok(scope)
    }

    /// No dates given: the current calendar month (UTC), for summaries.
    fn this_month_by_default(mut self) -> Self {
        if self.start.is_none() && self.end.is_none() {
            self.start = Some(period_starts().1);
        }
        self
    }

    /// `WHERE …` over the `usage` table aliased `u`.
    fn push_where(&self, sql: &mut QueryBuilder<Any>) {
        sql.push(" WHERE u.org_id = ").push_bind(self.org_id);
        if let Some(start) = self.start {
            sql.push(" AND u.created_at >= ").push_bind(start);
        }
        if let Some(end) = self.end {
            sql.push(" AND u.created_at < ").push_bind(end);
        }
        if let Some(tenant) = self.filter.tenant_id {
            sql.push(" AND u.tenant_id = ").push_bind(tenant);
        }
        if let Some(team) = self.filter.team_id {
            sql.push(" AND u.team_id = ").push_bind(team);
        }
        if let Some(model) = &self.filter.model {
            sql.push(" AND u.model = ").push_bind(model.as_str());
        }
        if let Some(endpoint) = &self.filter.endpoint {
            sql.push(" AND u.endpoint = ").push_bind(endpoint.as_str());
        }
        if let Some(tool) = &self.filter.tool {
            sql.push(" AND u.tool = ").push_bind(tool.as_str());
        }
    }
}

/// Sums cast back to integers: Postgres sums `BIGINT`s as `NUMERIC`.
/// Totals over `usage_totals`: the raw rows and the days retention rolled up, as one.
const TOTALS: &str = "CAST(COALESCE(SUM(u.requests), 0) AS BIGINT) AS requests, \
     CAST(COALESCE(SUM(u.errors), 0) AS BIGINT) AS errors, \
     CAST(COALESCE(SUM(u.prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
     CAST(COALESCE(SUM(u.completion_tokens), 0) AS BIGINT) AS completion_tokens, \
     CAST(COALESCE(SUM(u.cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens, \
     CAST(COALESCE(SUM(u.cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens, \
     COALESCE(SUM(u.cost_usd), 0.0) AS cost_usd, \
     CAST(COALESCE(SUM(u.dlp_events), 0) AS BIGINT) AS dlp_events, \
     CAST(SUM(u.latency_ms) AS DOUBLE PRECISION) / NULLIF(SUM(u.requests), 0) AS avg_latency_ms";

/// Requests, tokens and cost, summed.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct Totals {
    requests: i64,
    /// Requests answered with a status of 400 or more (499: the client left).
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    /// Of the prompt tokens, those read from providers' prompt caches…
    cache_read_tokens: i64,
    /// …and those written to them.
    cache_write_tokens: i64,
    cost_usd: f64,
    dlp_events: i64,
    avg_latency_ms: Option<f64>,
}

impl Totals {
    /// Adds `other`'s, the average latency weighted by requests.
    fn add(&mut self, other: &Totals) {
        let latency = |t: &Totals| t.avg_latency_ms.unwrap_or(0.0) * t.requests as f64;
        let latency = latency(self) + latency(other);
        self.requests += other.requests;
        self.errors += other.errors;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_usd += other.cost_usd;
        self.dlp_events += other.dlp_events;
        self.avg_latency_ms = (self.requests > 0).then(|| latency / self.requests as f64);
    }
}

fn totals(row: &sqlx::any::AnyRow) -> Totals {
    let prompt: i64 = row.get("prompt_tokens");
    let completion: i64 = row.get("completion_tokens");
    Totals {
        requests: row.get("requests"),
        errors: row.get("errors"),
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cache_read_tokens: row.get("cache_read_tokens"),
        cache_write_tokens: row.get("cache_write_tokens"),
        cost_usd: row.get("cost_usd"),
        dlp_events: row.get("dlp_events"),
        avg_latency_ms: row.get("avg_latency_ms"),
    }
}

/// One request's usage.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsageRecord {
    id: i64,
    request_id: String,
    tenant_id: Option<i64>,
    team_id: Option<i64>,
    /// `chat.completions`, `embeddings`, `messages` or `messages.count_tokens`; `mcp` or `rest`
    /// for a knowledge server call.
    endpoint: String,
    provider: Option<String>,
    /// The model served (an alias is recorded as its target); empty for a knowledge call.
    model: String,
    /// The knowledge tool (`search_code`) or route (`GET /api/knowledge/search`) called.
    tool: Option<String>,
    /// The size in bytes of what that call returned.
    result_bytes: Option<i64>,
    /// Every input token, cached ones included.
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    /// Of the prompt tokens, those read from the provider's prompt cache (priced at its cache
    /// read price)…
    cache_read_tokens: i64,
    /// …and those written to it (at its cache write price).
    cache_write_tokens: i64,
    /// `provider` when the provider reported the counts, `tokenizer` when the gateway counted.
    tokens_source: String,
    cost_usd: f64,
    latency_ms: i64,
    /// Time to the first streamed token.
    ttft_ms: Option<i64>,
    status: i64,
    error: Option<String>,
    streamed: bool,
    attempts: i64,
    dlp_events: i64,
    /// What DLP did, by type and action: `{"email": {"redact": 2}}`.
    #[schema(value_type = Option<Object>)]
    dlp: Option<Value>,
    created_at: String,
}

/// Usage records, newest first, by page.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "usage",
    params(UsageFilter, PageQuery),
    responses(
        (status = 200, description = "A page of usage records", body = Paged<UsageRecord>),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn list_usage(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(filter): Params<UsageFilter>,
    Params(paging): Params<PageQuery>,
) -> Result<Json<Paged<UsageRecord>>, ApiError> {
    let page = paging.page()?;
    let scope = Scope::new(&caller, &filter)?;
    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM usage u");
    scope.push_where(&mut count);
    let mut rows = QueryBuilder::new(
        "SELECT u.id, u.request_id, u.tenant_id, u.team_id, u.endpoint, u.provider, u.model, \
         u.prompt_tokens, u.completion_tokens, u.cache_read_tokens, u.cache_write_tokens, \
         u.tokens_source, u.cost_usd, u.latency_ms, \
         u.ttft_ms, u.status, u.error, u.streamed, u.attempts, u.dlp_events, u.dlp, u.tool, \
         u.result_bytes, u.created_at \
         FROM usage u",
    );
    scope.push_where(&mut rows);
    rows.push(" ORDER BY u.created_at DESC, u.id DESC LIMIT ").push_bind(page.limit);
    rows.push(" OFFSET ").push_bind(page.offset());
    let pool = gateway.store().pool();
    let sql = |e| ApiError::internal("cannot read usage", e);
    let total: i64 = storage::query_scalar(gateway.store().backend(), &mut count)
        .fetch_one(pool)
        .await
        .map_err(sql)?;
    let data = storage::query(gateway.store().backend(), &mut rows)
        .fetch_all(pool)
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| {
            let prompt: i64 = r.get("prompt_tokens");
            let completion: i64 = r.get("completion_tokens");
            UsageRecord {
                id: r.get("id"),
                request_id: r.get("request_id"),
                tenant_id: r.get("tenant_id"),
                team_id: r.get("team_id"),
                endpoint: r.get("endpoint"),
                provider: r.get("provider"),
                model: r.get("model"),
                tool: r.get("tool"),
                result_bytes: r.get("result_bytes"),
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                cache_read_tokens: r.get("cache_read_tokens"),
                cache_write_tokens: r.get("cache_write_tokens"),
                tokens_source: r.get("tokens_source"),
                cost_usd: r.get("cost_usd"),
                latency_ms: r.get("latency_ms"),
                ttft_ms: r.get("ttft_ms"),
                status: r.get("status"),
                error: r.get("error"),
                streamed: r.int("streamed"),
                attempts: r.get("attempts"),
                dlp_events: r.get("dlp_events"),
                dlp: r.get::<Option<String>, _>("dlp").and_then(|d| serde_json::from_str(&d).ok()),
                created_at: iso(r.get("created_at")),
            }
        })
        .collect();
    Ok(Json(Paged::new(data, page, total)))
}

/// Totals for a period.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Summary {
    /// The period's start (the current month's, when no dates were given).
    start_date: Option<String>,
    /// The period's end, exclusive; `null`: now.
    end_date: Option<String>,
    #[serde(flatten)]
    totals: Totals,
}

/// Totals — requests, errors, tokens, cost, DLP events, average latency — for the period
/// (default: the current calendar month, UTC).
#[utoipa::path(
    get,
    path = "/usage/summary",
    tag = "usage",
    params(UsageFilter),
    responses(
        (status = 200, description = "The period's totals", body = Summary),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn usage_summary(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(filter): Params<UsageFilter>,
) -> Result<Json<Summary>, ApiError> {
    let scope = Scope::new(&caller, &filter)?.this_month_by_default();
    let mut sql = QueryBuilder::new(format!("SELECT {TOTALS} FROM usage_totals u"));
    scope.push_where(&mut sql);
    let row = storage::query(gateway.store().backend(), &mut sql)
        .fetch_one(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot read usage", e))?;
    Ok(Json(Summary {
        start_date: scope.start.map(iso),
        end_date: scope.end.map(iso),
        totals: totals(&row),
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GroupBy {
    Model,
    Provider,
    Tenant,
    Team,
    Tool,
    Day,
}

impl GroupBy {
    /// The group's key and name as SQL over `usage_totals u`, and the join the name needs.
    fn sql(self, backend: Backend) -> (&'static str, &'static str, &'static str) {
        match self {
            GroupBy::Model => ("u.model", "NULL", ""),
            GroupBy::Provider => ("u.provider", "NULL", ""),
            GroupBy::Tenant => (
                "CAST(u.tenant_id AS TEXT)",
                "t.name",
                " LEFT JOIN tenants t ON t.id = u.tenant_id",
            ),
            GroupBy::Team => {
                ("CAST(u.team_id AS TEXT)", "t.name", " LEFT JOIN teams t ON t.id = u.team_id")
            }
            GroupBy::Tool => ("u.tool", "NULL", ""),
            GroupBy::Day => match backend {
                Backend::Sqlite => {
                    ("strftime('%Y-%m-%d', u.created_at / 1000, 'unixepoch')", "NULL", "")
                }
                Backend::Postgres => (
                    "to_char(to_timestamp(u.created_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                    "NULL",
                    "",
                ),
            },
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BreakdownQuery {
    /// What to group by.
    group_by: GroupBy,
}

/// One group's totals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Group {
    /// The model, the provider's name, the tenant's or team's id, the tool, or the day
    /// (`2026-11-30`); `null` for requests without one (no tenant, no team, never routed, not a
    /// tool call).
    key: Option<String>,
    /// The tenant's or team's name.
    name: Option<String>,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Breakdown {
    group_by: GroupBy,
    start_date: Option<String>,
    end_date: Option<String>,
    /// By cost, highest first; by day, in date order.
    groups: Vec<Group>,
}

/// Totals grouped by model, provider, tenant, team, tool or day, for the period (default: the current
/// calendar month, UTC).
#[utoipa::path(
    get,
    path = "/usage/breakdown",
    tag = "usage",
    params(BreakdownQuery, UsageFilter),
    responses(
        (status = 200, description = "Totals by group", body = Breakdown),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn usage_breakdown(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(query): Params<BreakdownQuery>,
    Params(filter): Params<UsageFilter>,
) -> Result<Json<Breakdown>, ApiError> {
    let scope = Scope::new(&caller, &filter)?.this_month_by_default();
    let (key, name, join) = query.group_by.sql(gateway.store().backend());
    let order = match query.group_by {
        GroupBy::Day => "key",
        GroupBy::Tool => "requests DESC, key",
        _ => "cost_usd DESC, key",
    };
    let mut sql = QueryBuilder::new(format!(
        "SELECT {key} AS key, {name} AS name, {TOTALS} FROM usage_totals u{join}"
    ));
    scope.push_where(&mut sql);
    sql.push(format!(" GROUP BY 1, 2 ORDER BY {order}"));
    let groups = storage::query(gateway.store().backend(), &mut sql)
        .fetch_all(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot read usage", e))?
        .iter()
        .map(|r| Group { key: r.get("key"), name: r.get("name"), totals: totals(r) })
        .collect();
    Ok(Json(Breakdown {
        group_by: query.group_by,
        start_date: scope.start.map(iso),
        end_date: scope.end.map(iso),
        groups,
    }))
}

/// How long one point of a time series spans.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Bucket {
    Hour,
    #[default]
    Day,
}

impl Bucket {
    fn ms(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SeriesQuery {
    /// `hour` or `day` (the default), in UTC.
    #[serde(default)]
    bucket: Bucket,
    /// One series per model, provider, tenant, team or tool; default: a single series.
    split_by: Option<GroupBy>,
    /// At most this many series, those that cost the most over the period (then the most
    /// requests); the others are summed into one series marked `other`. Default 10, at most 100.
    top: Option<usize>,
}

/// One bucket of one series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Point {
    /// The bucket's start (RFC 3339, UTC).
    at: String,
    /// The series: the model, provider, tenant's or team's id, or tool (`null` without `split_by`,
    /// or for requests without one).
    key: Option<String>,
    /// The tenant's or team's name.
    name: Option<String>,
    /// The sum of the series past `top` (`key` and `name` are then `null`).
    other: bool,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Series {
    bucket: Bucket,
    split_by: Option<GroupBy>,
    start_date: Option<String>,
    end_date: Option<String>,
    /// In time order, in a bucket the costliest series first and `other` last; a bucket without
    /// requests has no point. Days that retention rolled up count at their first hour.
    points: Vec<Point>,
}

/// Requests, errors, tokens and cost over time, by hour or day, optionally one series per model,
/// provider, tenant, team or tool (default period: the current calendar month, UTC).
#[utoipa::path(
    get,
    path = "/usage/series",
    tag = "usage",
    params(SeriesQuery, UsageFilter),
    responses(
        (status = 200, description = "The points, in time order", body = Series),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn usage_series(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(query): Params<SeriesQuery>,
    Params(filter): Params<UsageFilter>,
) -> Result<Json<Series>, ApiError> {
    let scope = Scope::new(&caller, &filter)?.this_month_by_default();
    let (key, name, join) = match query.split_by {
        Some(GroupBy::Day) => {
            return Err(ApiError::invalid(
                "split_by",
                "the points are already by time: split by model, provider, tenant, team or tool",
            ));
        }
        Some(split) => split.sql(gateway.store().backend()),
        None => ("NULL", "NULL", ""),
    };
    let step = query.bucket.ms();
    let mut sql = QueryBuilder::new(format!(
        "SELECT (u.created_at / {step}) * {step} AS at, {key} AS key, {name} AS name, {TOTALS} \
         FROM usage_totals u{join}"
    ));
    scope.push_where(&mut sql);
    sql.push(" GROUP BY 1, 2, 3 ORDER BY 1, cost_usd DESC, 2");
    let rows: Vec<(i64, Option<String>, Option<String>, Totals)> =
        storage::query(gateway.store().backend(), &mut sql)
            .fetch_all(gateway.store().pool())
            .await
            .map_err(|e| ApiError::internal("cannot read usage", e))?
            .iter()
            .map(|r| (r.get("at"), r.get("key"), r.get("name"), totals(r)))
            .collect();
    // The `top` series by cost over the period, then by requests; the rest summed per bucket.
    let mut overall = std::collections::HashMap::<&Option<String>, (f64, i64)>::new();
    for (_, key, _, t) in &rows {
        let sum = overall.entry(key).or_default();
        *sum = (sum.0 + t.cost_usd, sum.1 + t.requests);
    }
    let mut ranked: Vec<_> = overall.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(b.1.1.cmp(&a.1.1)).then(a.0.cmp(b.0)));
    let top = query.top.unwrap_or(10).clamp(1, 100);
    let kept: std::collections::HashSet<Option<String>> =
        ranked.into_iter().take(top).map(|(key, _)| key.clone()).collect();
    let mut others = std::collections::BTreeMap::<i64, Totals>::new();
    let mut points = Vec::with_capacity(rows.len());
    for (at, key, name, totals) in rows {
        if kept.contains(&key) {
            points.push((at, Point { at: iso(at), key, name, other: false, totals }));
        } else {
            others.entry(at).or_default().add(&totals);
        }
    }
    points.extend(others.into_iter().map(|(at, totals)| {
        (at, Point { at: iso(at), key: None, name: None, other: true, totals })
    }));
    // Stable: within a bucket, the order of the query (costliest first), then `other`.
    points.sort_by_key(|(at, _)| *at);
    let points = points.into_iter().map(|(_, point)| point).collect();
    Ok(Json(Series {
        bucket: query.bucket,
        split_by: query.split_by,
        start_date: scope.start.map(iso),
        end_date: scope.end.map(iso),
        points,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LatencyQuery {
    /// `hour` or `day` (the default), in UTC.
    #[serde(default)]
    bucket: Bucket,
}

/// The 50th, 95th and 99th percentiles (nearest rank), in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Percentiles {
    p50: i64,
    p95: i64,
    p99: i64,
}

impl Percentiles {
    /// The columns `<prefix>_p50`, `_p95` and `_p99` of `row`, when the bucket had values.
    fn read(row: &sqlx::any::AnyRow, prefix: &str) -> Option<Percentiles> {
        let p = |n: u32| row.get::<Option<i64>, _>(format!("{prefix}_p{n}").as_str());
        Some(Percentiles { p50: p(50)?, p95: p(95)?, p99: p(99)? })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LatencyPoint {
    at: String,
    requests: i64,
    errors: i64,
    /// From the request to the last byte of the answer.
    latency_ms: Option<Percentiles>,
    /// To the first streamed token, over streamed requests only.
    ttft_ms: Option<Percentiles>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Latency {
    bucket: Bucket,
    start_date: Option<String>,
    end_date: Option<String>,
    points: Vec<LatencyPoint>,
}

/// Latency and time-to-first-token percentiles and error counts, by hour or day (default period:
/// the current calendar month, UTC). Read from the request rows themselves, so days that
/// retention rolled up have no point.
#[utoipa::path(
    get,
    path = "/usage/latency",
    tag = "usage",
    params(LatencyQuery, UsageFilter),
    responses(
        (status = 200, description = "Percentiles per bucket, in time order", body = Latency),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn usage_latency(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(query): Params<LatencyQuery>,
    Params(filter): Params<UsageFilter>,
) -> Result<Json<Latency>, ApiError> {
    let scope = Scope::new(&caller, &filter)?.this_month_by_default();
    // The database ranks each bucket's values (ttft's apart from the requests without one) and
    // keeps the value at each nearest rank, ceil(p% of n): only a row per bucket comes back.
    let step = query.bucket.ms();
    let bucket = format!("u.created_at / {step}");
    let mut sql = QueryBuilder::new(format!(
        "WITH ranked AS (SELECT {bucket} AS b, u.latency_ms, u.ttft_ms, \
         CASE WHEN u.status >= 400 THEN 1 ELSE 0 END AS failed, \
         ROW_NUMBER() OVER (PARTITION BY {bucket} ORDER BY u.latency_ms) AS k, \
         COUNT(*) OVER (PARTITION BY {bucket}) AS n, \
         ROW_NUMBER() OVER (PARTITION BY {bucket}, u.ttft_ms IS NULL ORDER BY u.ttft_ms) AS tk, \
         COUNT(u.ttft_ms) OVER (PARTITION BY {bucket}) AS tn \
         FROM usage u"
    ));
    scope.push_where(&mut sql);
    let mut ranks = String::new();
    for p in [50, 95, 99] {
        ranks.push_str(&format!(
            ", MIN(CASE WHEN k >= ({p} * n + 99) / 100 THEN latency_ms END) AS latency_p{p}\
             , MIN(CASE WHEN ttft_ms IS NOT NULL AND tk >= ({p} * tn + 99) / 100 \
             THEN ttft_ms END) AS ttft_p{p}"
        ));
    }
    sql.push(format!(
        ") SELECT b * {step} AS at, CAST(COUNT(*) AS BIGINT) AS requests, \
         CAST(SUM(failed) AS BIGINT) AS errors{ranks} FROM ranked GROUP BY b ORDER BY b"
    ));
    let points = storage::query(gateway.store().backend(), &mut sql)
        .fetch_all(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot read usage", e))?
        .iter()
        .map(|r| LatencyPoint {
            at: iso(r.get("at")),
            requests: r.get("requests"),
            errors: r.get("errors"),
            latency_ms: Percentiles::read(r, "latency"),
            ttft_ms: Percentiles::read(r, "ttft"),
        })
        .collect();
    Ok(Json(Latency {
        bucket: query.bucket,
        start_date: scope.start.map(iso),
        end_date: scope.end.map(iso),
        points,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DlpCounts {
    start_date: Option<String>,
    end_date: Option<String>,
    /// By type, then by action: `{"email": {"redact": 2}, "aws_access_key": {"block": 1}}`.
    #[schema(value_type = Object)]
    by_type: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
}

/// What DLP found in the period (default: the current calendar month, UTC), by type and action.
/// Read from the request rows themselves: days that retention rolled up keep their count of DLP
/// events, not their types.
#[utoipa::path(
    get,
    path = "/usage/dlp",
    tag = "usage",
    params(UsageFilter),
    responses(
        (status = 200, description = "Detections by type and action", body = DlpCounts),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn usage_dlp(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(filter): Params<UsageFilter>,
) -> Result<Json<DlpCounts>, ApiError> {
    use futures::TryStreamExt;

    let scope = Scope::new(&caller, &filter)?.this_month_by_default();
    let mut sql = QueryBuilder::new("SELECT u.dlp FROM usage u");
    scope.push_where(&mut sql);
    sql.push(" AND u.dlp_events > 0");
    let mut by_type =
        std::collections::BTreeMap::<String, std::collections::BTreeMap<String, i64>>::new();
    let backend = gateway.store().backend();
    let mut rows = storage::query(backend, &mut sql).fetch(gateway.store().pool());
    while let Some(row) =
        rows.try_next().await.map_err(|e| ApiError::internal("cannot read usage", e))?
    {
        let Some(dlp) = row.get::<Option<String>, _>("dlp") else { continue };
        let Ok(found) = serde_json::from_str::<
            std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
        >(&dlp) else {
            continue;
        };
        for (kind, actions) in found {
            let counts = by_type.entry(kind).or_default();
            for (action, n) in actions {
                *counts.entry(action).or_default() += n;
            }
        }
    }
    Ok(Json(DlpCounts { start_date: scope.start.map(iso), end_date: scope.end.map(iso), by_type }))
}
