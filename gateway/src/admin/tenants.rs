//! Teams and tenants. A tenant is an API consumer with its own key (shown once, stored as
//! SHA-256), budgets and rate limit; a team groups tenants. Changes are live at once: the
//! gateway's directory is rebuilt after each, so a suspended tenant's next request gets 403 and
//! a rotated key's old value gets 401.
//!
//! Tenants seeded from the config file are managed there: the API shows them but refuses to
//! change them (the next start would undo the change).

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Caller, Member, PageQuery, Paged, Params, Role, audit, iso, nullable, present};
use crate::Gateway;
use crate::budget::period_starts;
use crate::dlp::Kind;
use crate::dlp::policy::{Action, Policy};
use crate::error::ApiError;
use crate::secrets::{hash_api_key, key_prefix, new_api_key};
use crate::store::now_ms;

fn check_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid("name", "name is 1 to 100 characters"));
    }
    Ok(name)
}

fn check_budget(field: &'static str, value: Option<f64>) -> Result<(), ApiError> {
    if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(ApiError::invalid(field, format!("{field} is 0 or more USD")));
    }
    Ok(())
}

fn check_policy(policy: Option<&Policy>) -> Result<(), ApiError> {
    match policy.map(Policy::validate) {
        Some(Err(e)) => Err(ApiError::invalid("dlp_policy", format!("dlp_policy: {e}"))),
        _ => Ok(()),
    }
}

fn check_bucket(burst: Option<i64>, refill: Option<f64>) -> Result<(), ApiError> {
    if burst.is_some_and(|b| !(1..=i64::from(u32::MAX)).contains(&b)) {
        return Err(ApiError::invalid("rate_burst", "rate_burst is at least 1"));
    }
    if refill.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        return Err(ApiError::invalid("rate_refill_per_sec", "rate_refill_per_sec is more than 0"));
    }
    Ok(())
}

fn policy_json(policy: &Policy) -> String {
    serde_json::to_string(policy).expect("a policy serializes")
}

async fn reload(gateway: &Gateway) -> Result<(), ApiError> {
    gateway.changed().await.map_err(|e| ApiError::internal("cannot reload tenants", e))
}

fn sql_error(context: &'static str) -> impl Fn(sqlx::Error) -> ApiError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict("your organization already has one of that name")
        }
        _ => ApiError::internal(context, e),
    }
}

// ---- Teams ----

/// A team of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Team {
    id: i64,
    name: String,
    daily_budget: Option<f64>,
    monthly_budget: Option<f64>,
    /// Tenants in the team.
    tenants: i64,
    created_at: String,
}

async fn teams(gateway: &Gateway, org_id: i64, id: Option<i64>) -> Result<Vec<Team>, ApiError> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.daily_budget, t.monthly_budget, t.created_at, \
         (SELECT COUNT(*) FROM tenants n WHERE n.team_id = t.id) AS tenants \
         FROM teams t WHERE t.org_id = $1 AND ($2 IS NULL OR t.id = $3) ORDER BY t.id",
    )
    .bind(org_id)
    .bind(id)
    .bind(id)
    .fetch_all(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read teams", e))?;
    Ok(rows
        .into_iter()
        .map(|r| Team {
            id: r.get("id"),
            name: r.get("name"),
            daily_budget: r.get("daily_budget"),
            monthly_budget: r.get("monthly_budget"),
            tenants: r.get("tenants"),
            created_at: iso(r.get("created_at")),
        })
        .collect())
}

async fn team(gateway: &Gateway, caller: &Caller, id: i64) -> Result<Team, ApiError> {
    teams(gateway, caller.org_id, Some(id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("team", id))
}

/// The organization's teams.
#[utoipa::path(
    get,
    path = "/teams",
    tag = "tenants",
    responses((status = 200, description = "Teams", body = Vec<Team>))
)]
pub(crate) async fn list_teams(
    State(gateway): State<Gateway>,
    caller: Caller,
) -> Result<Json<Vec<Team>>, ApiError> {
    Ok(Json(teams(&gateway, caller.org_id, None).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTeam {
    name: String,
    /// USD per day for the whole team.
    daily_budget: Option<f64>,
    /// USD per calendar month for the whole team.
    monthly_budget: Option<f64>,
}

/// Creates a team. Members and admins.
#[utoipa::path(
    post,
    path = "/teams",
    tag = "tenants",
    request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 400, description = "A field is invalid; `param` names it", body = super::ErrorBody),
        (status = 409, description = "The name is taken", body = super::ErrorBody),
    )
)]
pub(crate) async fn create_team(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Body(new): Body<NewTeam>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    let name = check_name(&new.name)?;
    check_budget("daily_budget", new.daily_budget)?;
    check_budget("monthly_budget", new.monthly_budget)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO teams (org_id, name, daily_budget, monthly_budget, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .persistent(false)
    .bind(caller.org_id)
    .bind(name)
    .bind(new.daily_budget)
    .bind(new.monthly_budget)
    .bind(now_ms())
    .fetch_one(gateway.store().pool())
    .await
    .map_err(sql_error("cannot create the team"))?;
    let detail = json!({ "name": name, "daily_budget": new.daily_budget, "monthly_budget": new.monthly_budget });
    audit::record(&gateway, &caller, "team.create", "team", id, detail).await;
    Ok((StatusCode::CREATED, Json(team(&gateway, &caller, id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamUpdate {
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    /// `null` removes the budget.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    daily_budget: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    monthly_budget: Option<Option<f64>>,
}

/// Renames a team or changes its budgets. Members and admins.
#[utoipa::path(
    patch,
    path = "/teams/{id}",
    tag = "tenants",
    params(("id" = i64, Path, description = "The team's id")),
    request_body = TeamUpdate,
    responses(
        (status = 200, description = "Updated", body = Team),
        (status = 404, description = "No such team in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn update_team(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
    Body(update): Body<TeamUpdate>,
) -> Result<Json<Team>, ApiError> {
    let current = team(&gateway, &caller, id).await?;
    let name = update.name.as_deref().map(check_name).transpose()?;
    let daily = update.daily_budget.unwrap_or(current.daily_budget);
    let monthly = update.monthly_budget.unwrap_or(current.monthly_budget);
    check_budget("daily_budget", daily)?;
    check_budget("monthly_budget", monthly)?;
    sqlx::query(
        "UPDATE teams SET name = $1, daily_budget = $2, monthly_budget = $3 \
         WHERE id = $4 AND org_id = $5",
    )
    .persistent(false)
    .bind(name.unwrap_or(&current.name))
    .bind(daily)
    .bind(monthly)
    .bind(id)
    .bind(caller.org_id)
    .execute(gateway.store().pool())
    .await
    .map_err(sql_error("cannot update the team"))?;
    let detail = json!({ "name": name, "daily_budget": daily, "monthly_budget": monthly });
    audit::record(&gateway, &caller, "team.update", "team", id, detail).await;
    // Its tenants' next requests are held to the new budgets.
    reload(&gateway).await?;
    Ok(Json(team(&gateway, &caller, id).await?))
}

/// Deletes a team; its tenants stay, without a team. Members and admins.
#[utoipa::path(
    delete,
    path = "/teams/{id}",
    tag = "tenants",
    params(("id" = i64, Path, description = "The team's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such team in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn delete_team(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let current = team(&gateway, &caller, id).await?;
    sqlx::query("DELETE FROM teams WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(caller.org_id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot delete the team", e))?;
    audit::record(&gateway, &caller, "team.delete", "team", id, json!({ "name": current.name }))
        .await;
    reload(&gateway).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Tenants ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TenantStatus {
    Active,
    Inactive,
    Suspended,
}

impl TenantStatus {
    fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Inactive => "inactive",
            TenantStatus::Suspended => "suspended",
        }
    }

    fn parse(s: &str) -> TenantStatus {
        match s {
            "active" => TenantStatus::Active,
            "suspended" => TenantStatus::Suspended,
            _ => TenantStatus::Inactive,
        }
    }
}

/// A tenant's spending so far (UTC day and calendar month).
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub(crate) struct TenantUsage {
    requests_today: i64,
    cost_today_usd: f64,
    requests_this_month: i64,
    cost_this_month_usd: f64,
}

/// A tenant. Its key is never shown again after it is made: `key_prefix` tells keys apart.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Tenant {
    id: i64,
    name: String,
    team_id: Option<i64>,
    status: TenantStatus,
    key_prefix: String,
    daily_budget: Option<f64>,
    monthly_budget: Option<f64>,
    /// Requests per minute.
    rate_limit: Option<i64>,
    /// Its token bucket's size; `null`: the gateway's (`gateway.rate_burst`, 1,000).
    rate_burst: Option<i64>,
    /// Its bucket's refill per second; `null`: the gateway's (`gateway.rate_refill_per_sec`, 100).
    rate_refill_per_sec: Option<f64>,
    /// The tenant's own DLP policy, over the gateway's default (`gateway.dlp`); `null`: the
    /// default alone.
    #[schema(value_type = Option<Object>)]
    dlp_policy: Option<Policy>,
    /// `api`, or `config` when the config file manages it.
    source: String,
    usage: TenantUsage,
    created_at: String,
    updated_at: String,
}

/// A tenant just made, or given a new key: the only time the key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantWithKey {
    #[serde(flatten)]
    tenant: Tenant,
    /// The tenant's API key, for `Authorization: Bearer`. Store it now: it is not shown again.
    api_key: String,
}

const COLUMNS: &str = "id, name, team_id, status, key_prefix, daily_budget, monthly_budget, \
                       rate_limit, rate_burst, rate_refill, dlp_policy, source, created_at, \
                       updated_at";

fn tenant(row: &AnyRow, usage: &HashMap<i64, TenantUsage>) -> Tenant {
    let id: i64 = row.get("id");
    Tenant {
        id,
        name: row.get("name"),
        team_id: row.get("team_id"),
        status: TenantStatus::parse(row.get("status")),
        key_prefix: row.get("key_prefix"),
        daily_budget: row.get("daily_budget"),
        monthly_budget: row.get("monthly_budget"),
        rate_limit: row.get("rate_limit"),
        rate_burst: row.get("rate_burst"),
        rate_refill_per_sec: row.get("rate_refill"),
        dlp_policy: row
            .get::<Option<String>, _>("dlp_policy")
            .and_then(|p| serde_json::from_str(&p).ok()),
        source: row.get("source"),
        usage: usage.get(&id).cloned().unwrap_or_default(),
        created_at: iso(row.get("created_at")),
        updated_at: iso(row.get("updated_at")),
    }
}

/// Each tenant's requests and cost today and this month.
async fn spending(gateway: &Gateway, org_id: i64) -> Result<HashMap<i64, TenantUsage>, ApiError> {
    let (day_start, month_start) = period_starts();
    let rows = sqlx::query(
        "SELECT tenant_id, CAST(SUM(requests) AS BIGINT) AS requests, \
         COALESCE(SUM(cost_usd), 0.0) AS cost, \
         CAST(SUM(CASE WHEN created_at >= $1 THEN requests ELSE 0 END) AS BIGINT) AS requests_today, \
         COALESCE(SUM(CASE WHEN created_at >= $2 THEN cost_usd ELSE 0.0 END), 0.0) AS cost_today \
         FROM usage_totals WHERE org_id = $3 AND created_at >= $4 AND tenant_id IS NOT NULL \
         GROUP BY tenant_id",
    )
    .bind(day_start)
    .bind(day_start)
    .bind(org_id)
    .bind(month_start)
    .fetch_all(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read usage", e))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let usage = TenantUsage {
                requests_today: r.get("requests_today"),
                cost_today_usd: r.get("cost_today"),
                requests_this_month: r.get("requests"),
                cost_this_month_usd: r.get("cost"),
            };
            (r.get("tenant_id"), usage)
        })
        .collect())
}

async fn find(gateway: &Gateway, caller: &Caller, id: i64) -> Result<Tenant, ApiError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenants WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(caller.org_id)
    .fetch_optional(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read tenants", e))?
    .ok_or_else(|| ApiError::not_found("tenant", id))?;
    Ok(tenant(&row, &spending(gateway, caller.org_id).await?))
}

/// A tenant the API may change: not one the config file manages.
async fn find_changeable(gateway: &Gateway, caller: &Caller, id: i64) -> Result<Tenant, ApiError> {
    let current = find(gateway, caller, id).await?;
    if current.source == "config" {
        return Err(ApiError::conflict(format!(
            "tenant {:?} comes from the config file (gateway.tenants): change it there and restart",
            current.name
        )));
    }
    Ok(current)
}

async fn check_team(
    gateway: &Gateway,
    caller: &Caller,
    team_id: Option<i64>,
) -> Result<(), ApiError> {
    if let Some(id) = team_id
        && team(gateway, caller, id).await.is_err()
    {
        return Err(ApiError::invalid("team_id", format!("no team {id} in your organization")));
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TenantQuery {
    /// Only this team's tenants.
    team_id: Option<i64>,
    /// Only tenants in this state.
    status: Option<TenantStatus>,
}

/// The organization's tenants, oldest first, with their key prefixes and spending today and
/// this month, by page.
#[utoipa::path(
    get,
    path = "/tenants",
    tag = "tenants",
    params(TenantQuery, PageQuery),
    responses(
        (status = 200, description = "A page of tenants", body = Paged<Tenant>),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::ErrorBody),
    )
)]
pub(crate) async fn list_tenants(
    State(gateway): State<Gateway>,
    caller: Caller,
    Params(query): Params<TenantQuery>,
    Params(paging): Params<PageQuery>,
) -> Result<Json<Paged<Tenant>>, ApiError> {
    let page = paging.page()?;
    let status = query.status.map(TenantStatus::as_str);
    let filter = "FROM tenants WHERE org_id = $1 AND ($2 IS NULL OR team_id = $2) \
                  AND ($3 IS NULL OR status = $3)";
    let sql = |e| ApiError::internal("cannot read tenants", e);
    let pool = gateway.store().pool();
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
        .bind(caller.org_id)
        .bind(query.team_id)
        .bind(status)
        .fetch_one(pool)
        .await
        .map_err(sql)?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} {filter} ORDER BY id LIMIT $4 OFFSET $5"
    )))
    .bind(caller.org_id)
    .bind(query.team_id)
    .bind(status)
    .bind(page.limit)
    .bind(page.offset())
    .fetch_all(pool)
    .await
    .map_err(sql)?;
    let usage = spending(&gateway, caller.org_id).await?;
    let tenants = rows.iter().map(|r| tenant(r, &usage)).collect();
    Ok(Json(Paged::new(tenants, page, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    name: String,
    team_id: Option<i64>,
    /// USD per UTC day.
    daily_budget: Option<f64>,
    /// USD per calendar month.
    monthly_budget: Option<f64>,
    /// Requests per minute.
    rate_limit: Option<i64>,
    /// Its token bucket's size (default: the gateway's, 1,000).
    rate_burst: Option<i64>,
    /// Its bucket's refill per second (default: the gateway's, 100).
    rate_refill_per_sec: Option<f64>,
    /// Its own DLP policy: `{"secrets", "personal_data", "actions": {type: action},
    /// "allowlist", "min_confidence"}`, actions `block`, `redact`, `mask_and_restore`, `log`.
    #[schema(value_type = Option<Object>)]
    dlp_policy: Option<Policy>,
}

/// Creates a tenant with a new API key, returned once in `api_key`. Members and admins.
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created, with its API key", body = TenantWithKey),
        (status = 400, description = "A field is invalid; `param` names it", body = super::ErrorBody),
        (status = 409, description = "The name is taken", body = super::ErrorBody),
    )
)]
pub(crate) async fn create_tenant(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Body(new): Body<NewTenant>,
) -> Result<(StatusCode, Json<TenantWithKey>), ApiError> {
    let name = check_name(&new.name)?;
    check_budget("daily_budget", new.daily_budget)?;
    check_budget("monthly_budget", new.monthly_budget)?;
    if new.rate_limit.is_some_and(|r| r < 1) {
        return Err(ApiError::invalid("rate_limit", "rate_limit is at least 1 request per minute"));
    }
    check_team(&gateway, &caller, new.team_id).await?;
    check_policy(new.dlp_policy.as_ref())?;
    check_not_weaker(&gateway, &caller, new.dlp_policy.as_ref())?;
    check_bucket(new.rate_burst, new.rate_refill_per_sec)?;
    let key = new_api_key();
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (org_id, team_id, name, key_hash, key_prefix, daily_budget, \
         monthly_budget, rate_limit, rate_burst, rate_refill, dlp_policy, source, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'api', $12, $13) RETURNING id",
    )
    .persistent(false)
    .bind(caller.org_id)
    .bind(new.team_id)
    .bind(name)
    .bind(hash_api_key(&key))
    .bind(key_prefix(&key))
    .bind(new.daily_budget)
    .bind(new.monthly_budget)
    .bind(new.rate_limit)
    .bind(new.rate_burst)
    .bind(new.rate_refill_per_sec)
    .bind(new.dlp_policy.as_ref().map(policy_json))
    .bind(now)
    .bind(now)
    .fetch_one(gateway.store().pool())
    .await
    .map_err(sql_error("cannot create the tenant"))?;
    let detail = json!({
        "name": name, "team_id": new.team_id, "daily_budget": new.daily_budget,
        "monthly_budget": new.monthly_budget, "rate_limit": new.rate_limit,
        "key_prefix": key_prefix(&key),
    });
    audit::record(&gateway, &caller, "tenant.create", "tenant", id, detail).await;
    reload(&gateway).await?;
    let tenant = find(&gateway, &caller, id).await?;
    Ok((StatusCode::CREATED, Json(TenantWithKey { tenant, api_key: key })))
}

/// One tenant.
#[utoipa::path(
    get,
    path = "/tenants/{id}",
    tag = "tenants",
    params(("id" = i64, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 404, description = "No such tenant in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_tenant(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(find(&gateway, &caller, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantUpdate {
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    /// `null` takes the tenant out of its team.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    status: Option<TenantStatus>,
    /// `null` removes the budget.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    daily_budget: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    monthly_budget: Option<Option<f64>>,
    /// `null`: the default limit.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    rate_limit: Option<Option<i64>>,
    /// `null`: the gateway's bucket size.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    rate_burst: Option<Option<i64>>,
    /// `null`: the gateway's refill rate.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    rate_refill_per_sec: Option<Option<f64>>,
    /// `null`: the gateway's default policy alone.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    dlp_policy: Option<Option<Policy>>,
}

/// Changes a tenant; absent fields stay as they are. Members and admins.
#[utoipa::path(
    patch,
    path = "/tenants/{id}",
    tag = "tenants",
    params(("id" = i64, Path, description = "The tenant's id")),
    request_body = TenantUpdate,
    responses(
        (status = 200, description = "Updated", body = Tenant),
        (status = 404, description = "No such tenant in your organization", body = super::ErrorBody),
        (status = 409, description = "The config file manages it, or the name is taken", body = super::ErrorBody),
    )
)]
pub(crate) async fn update_tenant(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
    Body(update): Body<TenantUpdate>,
) -> Result<Json<Tenant>, ApiError> {
    let current = find_changeable(&gateway, &caller, id).await?;
    let name = update.name.as_deref().map(check_name).transpose()?;
    let team_id = update.team_id.unwrap_or(current.team_id);
    check_team(&gateway, &caller, team_id).await?;
    let daily = update.daily_budget.unwrap_or(current.daily_budget);
    let monthly = update.monthly_budget.unwrap_or(current.monthly_budget);
    check_budget("daily_budget", daily)?;
    check_budget("monthly_budget", monthly)?;
    let rate_limit = update.rate_limit.unwrap_or(current.rate_limit);
    if rate_limit.is_some_and(|r| r < 1) {
        return Err(ApiError::invalid("rate_limit", "rate_limit is at least 1 request per minute"));
    }
    let status = update.status.unwrap_or(current.status);
    let dlp_policy = update.dlp_policy.clone().unwrap_or(current.dlp_policy);
    check_policy(dlp_policy.as_ref())?;
    if update.dlp_policy.is_some() {
        check_not_weaker(&gateway, &caller, dlp_policy.as_ref())?;
    }
    let rate_burst = update.rate_burst.unwrap_or(current.rate_burst);
    let rate_refill = update.rate_refill_per_sec.unwrap_or(current.rate_refill_per_sec);
    check_bucket(rate_burst, rate_refill)?;
    sqlx::query(
        "UPDATE tenants SET name = $1, team_id = $2, status = $3, daily_budget = $4, \
         monthly_budget = $5, rate_limit = $6, rate_burst = $7, rate_refill = $8, dlp_policy = $9, \
         updated_at = $10 \
         WHERE id = $11 AND org_id = $12",
    )
    .persistent(false)
    .bind(name.unwrap_or(&current.name))
    .bind(team_id)
    .bind(status.as_str())
    .bind(daily)
    .bind(monthly)
    .bind(rate_limit)
    .bind(rate_burst)
    .bind(rate_refill)
    .bind(dlp_policy.as_ref().map(policy_json))
    .bind(now_ms())
    .bind(id)
    .bind(caller.org_id)
    .execute(gateway.store().pool())
    .await
    .map_err(sql_error("cannot update the tenant"))?;
    let detail = json!({
        "name": name, "team_id": update.team_id, "status": update.status,
        "daily_budget": update.daily_budget, "monthly_budget": update.monthly_budget,
        "rate_limit": update.rate_limit, "dlp_policy": update.dlp_policy,
    });
    audit::record(&gateway, &caller, "tenant.update", "tenant", id, detail).await;
    reload(&gateway).await?;
    Ok(Json(find(&gateway, &caller, id).await?))
}

async fn set_status(
    gateway: &Gateway,
    caller: &Caller,
    id: i64,
    status: TenantStatus,
    action: &'static str,
) -> Result<Json<Tenant>, ApiError> {
    find_changeable(gateway, caller, id).await?;
    sqlx::query("UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
        .bind(status.as_str())
        .bind(now_ms())
        .bind(id)
        .bind(caller.org_id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot update the tenant", e))?;
    audit::record(gateway, caller, action, "tenant", id, json!({ "status": status })).await;
    reload(gateway).await?;
    Ok(Json(find(gateway, caller, id).await?))
}

/// Suspends a tenant: its requests get 403 until it is activated. Members and admins.
#[utoipa::path(
    post,
    path = "/tenants/{id}/suspend",
    tag = "tenants",
    params(("id" = i64, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "Suspended", body = Tenant),
        (status = 404, description = "No such tenant in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn suspend_tenant(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
) -> Result<Json<Tenant>, ApiError> {
    set_status(&gateway, &caller, id, TenantStatus::Suspended, "tenant.suspend").await
}

/// Makes a suspended or inactive tenant active again. Members and admins.
#[utoipa::path(
    post,
    path = "/tenants/{id}/activate",
    tag = "tenants",
    params(("id" = i64, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "Active", body = Tenant),
        (status = 404, description = "No such tenant in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn activate_tenant(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
) -> Result<Json<Tenant>, ApiError> {
    set_status(&gateway, &caller, id, TenantStatus::Active, "tenant.activate").await
}

/// Gives a tenant a new API key, returned once in `api_key`; the old key stops working at once.
/// Members and admins.
#[utoipa::path(
    post,
    path = "/tenants/{id}/rotate-key",
    tag = "tenants",
    params(("id" = i64, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The new key", body = TenantWithKey),
        (status = 404, description = "No such tenant in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn rotate_tenant_key(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
) -> Result<Json<TenantWithKey>, ApiError> {
    find_changeable(&gateway, &caller, id).await?;
    let key = new_api_key();
    sqlx::query(
        "UPDATE tenants SET key_hash = $1, key_prefix = $2, updated_at = $3 \
         WHERE id = $4 AND org_id = $5",
    )
    .bind(hash_api_key(&key))
    .bind(key_prefix(&key))
    .bind(now_ms())
    .bind(id)
    .bind(caller.org_id)
    .execute(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot rotate the key", e))?;
    let detail = json!({ "key_prefix": key_prefix(&key) });
    audit::record(&gateway, &caller, "tenant.rotate_key", "tenant", id, detail).await;
    reload(&gateway).await?;
    let tenant = find(&gateway, &caller, id).await?;
    Ok(Json(TenantWithKey { tenant, api_key: key }))
}

/// A member may give a tenant a DLP policy that only tightens its organization's: no type acted
/// on less firmly (log < redact = mask and restore < block), no allowlist, no higher confidence
/// floor. An admin may set any.
fn check_not_weaker(
    gateway: &Gateway,
    caller: &Caller,
    own: Option<&Policy>,
) -> Result<(), ApiError> {
    let Some(own) = own else { return Ok(()) };
    if caller.role == Role::Admin {
        return Ok(());
    }
    let org = gateway.org_policy(caller.org_id);
    let effective = own.over(&org);
    let firmness = |action: Action| match action {
        Action::Log => 0,
        Action::Redact | Action::MaskAndRestore => 1,
        Action::Block => 2,
    };
    let weaker: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| firmness(effective.action_for(*k)) < firmness(org.action_for(*k)))
        .map(Kind::as_str)
        .collect();
    let refuse = |what: String| {
        Err(ApiError::forbidden(format!(
            "{what}: a member may only tighten the organization's DLP policy for a tenant; ask an \
             admin of your organization"
        )))
    };
    if !weaker.is_empty() {
        return refuse(format!("dlp_policy acts less firmly on {}", weaker.join(", ")));
    }
    if !own.allowlist.is_empty() {
        return refuse("dlp_policy has an allowlist".to_owned());
    }
    if effective.min_confidence.unwrap_or(0.0) > org.min_confidence.unwrap_or(0.0) {
        return refuse("dlp_policy raises min_confidence".to_owned());
    }
    Ok(())
}
