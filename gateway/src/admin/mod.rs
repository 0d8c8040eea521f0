//! The admin API under `/api/*`: people log in for a session token (JWT), then manage their
//! organization's providers, provider keys, teams, tenants and users, and read its usage and
//! audit log. Every row belongs to an organization, and every query is scoped to the caller's:
//! another organization's id answers 404, exactly as an id that does not exist.
//!
//! Roles, each including the one before: `viewer` reads; `member` also manages teams and tenants
//! and tests providers; `admin` also manages providers, their keys and users, and reads the audit
//! log.

mod audit;
mod auth;
mod orgs;
mod providers;
mod tenants;
mod usage;
mod users;

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Gateway;
use crate::error::ApiError;

pub use auth::Auth;
pub(crate) use auth::live_session;
pub use users::{CreateUser, create_user};

/// The admin routes (under `/api`), `/openapi.json`, `/docs`, `/dashboard`, and the OpenAPI
/// document.
pub(crate) fn router() -> Router<Gateway> {
    let api = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list_users, users::create_user_route))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::unlock_user))
        .routes(routes!(providers::list_providers, providers::create_provider))
        .routes(routes!(
            providers::get_provider,
            providers::update_provider,
            providers::delete_provider
        ))
        .routes(routes!(providers::test_provider))
        .routes(routes!(providers::list_keys, providers::add_key))
        .routes(routes!(providers::delete_key))
        .routes(routes!(tenants::list_teams, tenants::create_team))
        .routes(routes!(tenants::update_team, tenants::delete_team))
        .routes(routes!(tenants::list_tenants, tenants::create_tenant))
        .routes(routes!(tenants::get_tenant, tenants::update_tenant))
        .routes(routes!(tenants::suspend_tenant))
        .routes(routes!(tenants::activate_tenant))
        .routes(routes!(tenants::rotate_tenant_key))
        .routes(routes!(usage::list_usage))
        .routes(routes!(usage::usage_summary))
        .routes(routes!(usage::usage_breakdown))
        .routes(routes!(usage::usage_series))
        .routes(routes!(usage::usage_latency))
        .routes(routes!(usage::usage_dlp))
        .routes(routes!(audit::list_audit))
        .routes(routes!(crate::alerts::list_alerts))
        .routes(routes!(orgs::get_org, orgs::update_org))
        .routes(routes!(crate::access::identify_route))
        .routes(routes!(crate::access::admit_route))
        .routes(routes!(crate::access::calls_route));
    let (router, mut openapi) = OpenApiRouter::with_openapi(Document::openapi())
        .nest("/api", api)
        .routes(routes!(crate::health::health))
        .routes(routes!(crate::health::healthz))
        .routes(routes!(crate::health::readyz))
        .split_for_parts();
    SessionToken.modify(&mut openapi);
    // Admin bodies are small: a megabyte, not the 64 MiB the LLM API allows.
    router
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .route("/openapi.json", axum::routing::get(move || async move { Json(openapi) }))
        .merge(crate::docs::router())
        .merge(crate::dashboard::router())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentWatch gateway",
        description = "The admin API of the AgentWatch LLM gateway. Log in with POST /api/auth/login and send the token as `Authorization: Bearer <token>`. The OpenAI-compatible API (/v1/chat/completions, /v1/embeddings, /v1/models) takes tenant API keys and follows OpenAI's own reference. Errors are JSON: {\"error\": {\"message\", \"type\", \"param\", \"code\"}}; `param` names the field at fault.",
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "users", description = "The people of an organization and their roles"),
        (name = "providers", description = "LLM providers and their API keys (sealed at rest, shown masked)"),
        (name = "orgs", description = "Your organization and its DLP policy"),
        (name = "access", description = "For a knowledge server in another process: who its caller is (a tenant key or a session token), the caller's rate limit, and a record of each call"),
        (name = "tenants", description = "API consumers, their keys, budgets and teams"),
        (name = "usage", description = "Requests, tokens and cost"),
        (name = "audit", description = "Who did what, when, from where"),
        (name = "alerts", description = "Budget crossings, open circuits, error-rate and cost spikes: one per episode"),
        (name = "health", description = "Liveness, readiness and health"),
    )
)]
struct Document;

/// Declares the session token on every `/api` route but login, with the 401 that answers a
/// request without a valid one.
struct SessionToken;

impl Modify for SessionToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some("The token from POST /api/auth/login, valid 24 hours".into());
        components.add_security_scheme("session", SecurityScheme::Http(scheme));
        for (path, item) in &mut openapi.paths.paths {
            if !path.starts_with("/api/") || path == "/api/auth/login" {
                continue;
            }
            let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.security =
                    Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                        "session",
                        Vec::<String>::new(),
                    )]);
                let responses = &mut operation.responses.responses;
                for (status, description) in [
                    ("401", "No token, or one that expired or was revoked"),
                    ("403", "The caller's role may not do this"),
                ] {
                    let response = utoipa::openapi::ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            utoipa::openapi::Content::new(Some(
                                utoipa::openapi::Ref::from_schema_name("ErrorBody"),
                            )),
                        )
                        .build();
                    responses.entry(status.to_owned()).or_insert(response.into());
                }
            }
        }
    }
}

/// Every error's body.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes `ApiError::body` for the OpenAPI document.
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    message: String,
    #[serde(rename = "type")]
    kind: String,
    /// The request field at fault, if one is.
    param: Option<String>,
    code: String,
}

/// A role, each including the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "viewer" => Role::Viewer,
            "member" => Role::Member,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// The logged-in person making a request: its session is live and its account enabled, checked
/// against the database on every request, so a logout, a disabled account or a changed role
/// takes effect at once.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user_id: i64,
    pub org_id: i64,
    pub email: String,
    pub role: Role,
    pub session: String,
    pub ip: Option<String>,
}

impl Caller {
    /// 403 unless the caller's role is `role` or above.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "this needs the {} role or higher; you are {}",
            role.as_str(),
            self.role.as_str()
        )))
    }
}

impl FromRequestParts<Gateway> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Caller, ApiError> {
        let token = crate::secrets::bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthenticated(
                "no session token: log in with POST /api/auth/login and send the token as \
                 `Authorization: Bearer <token>`",
            )
        })?;
        let claims = gateway.inner.auth.verify(token)?;
        let session = live_session(gateway, &claims.jti).await?;
        Ok(Caller {
            user_id: session.user_id,
            org_id: session.org_id,
            email: session.email,
            role: session.role,
            session: claims.jti,
            ip: client_ip(parts),
        })
    }
}

/// A [`Caller`] with the `member` role or above; 403 before the body is read otherwise.
#[derive(Debug)]
pub(crate) struct Member(pub Caller);

/// A [`Caller`] with the `admin` role; 403 before the body is read otherwise.
#[derive(Debug)]
pub(crate) struct Admin(pub Caller);

impl FromRequestParts<Gateway> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Member, ApiError> {
        let caller = Caller::from_request_parts(parts, gateway).await?;
        caller.require(Role::Member)?;
        Ok(Member(caller))
    }
}

impl FromRequestParts<Gateway> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Admin, ApiError> {
        let caller = Caller::from_request_parts(parts, gateway).await?;
        caller.require(Role::Admin)?;
        Ok(Admin(caller))
    }
}

/// The peer's address, as the audit log records it.
pub(crate) fn client_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// The request's peer address, for handlers without a [`Caller`] (login).
#[derive(Debug)]
pub(crate) struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// A JSON body whose errors are the gateway's error JSON, naming the field at fault.
#[derive(Debug)]
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(invalid_body(&rejection)),
        }
    }
}

/// A body that cannot be read: 415 without a JSON content type, 413 when too large, and 400 for
/// the rest — malformed JSON, or a field missing or of the wrong type (axum says 422 there; the
/// contract's validation errors are 400 on both ports).
fn invalid_body(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let mut error = ApiError::invalid_field(None, rejection.body_text());
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        error.message = "send the body as JSON with `Content-Type: application/json`".to_owned();
    }
    if status != StatusCode::UNPROCESSABLE_ENTITY {
        error.status = status;
    }
    error
}

/// A query string whose errors are the gateway's error JSON, naming the parameter at fault.
#[derive(Debug)]
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(invalid_query(&rejection)),
        }
    }
}

fn invalid_query(rejection: &QueryRejection) -> ApiError {
    ApiError::invalid_field(None, rejection.body_text())
}

/// For a PATCH field that cannot be `null`: absent is `None`, `null` is refused (naming it).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// For a PATCH field that can be set to `null`: absent is `None`, `null` is `Some(None)`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A page of a list: `page` from 1, `limit` up to 1,000 (default 50).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    /// Most records one page holds.
    pub const MAX_LIMIT: i64 = 1000;

    /// Page `page` (from 1) of `limit` records (default 50). A `limit` outside 1 to
    /// [`Page::MAX_LIMIT`] is clamped into it, as on every list of both ports; the answer's
    /// `limit` says what was used.
    pub fn new(page: Option<i64>, limit: Option<i64>) -> Result<Page, ApiError> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(50).clamp(1, Page::MAX_LIMIT);
        if page < 1 {
            return Err(ApiError::invalid("page", "page counts from 1"));
        }
        if (page - 1).checked_mul(limit).is_none() {
            return Err(ApiError::invalid("page", "page is past any possible result"));
        }
        Ok(Page { page, limit })
    }

    pub fn offset(self) -> i64 {
        (self.page - 1) * self.limit
    }
}

/// Which page of a list to answer.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// From 1.
    pub page: Option<i64>,
    /// Records per page: 50 by default, at most 1,000 (more is clamped).
    pub limit: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Page::new(self.page, self.limit)
    }
}

/// One page of results, with where it is in the whole.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Paged<T> {
    pub data: Vec<T>,
    pub page: i64,
    pub limit: i64,
    /// How many match, over every page.
    pub total: i64,
    pub has_more: bool,
}

impl<T> Paged<T> {
    pub fn new(data: Vec<T>, page: Page, total: i64) -> Paged<T> {
        Paged {
            has_more: page.offset() + (data.len() as i64) < total,
            data,
            page: page.page,
            limit: page.limit,
            total,
        }
    }
}

/// A stored time (Unix milliseconds) as RFC 3339 UTC.
pub(crate) fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What is left of one budget.
#[derive(Debug)]
pub(crate) struct BudgetLeft {
    /// `tenant` or `team`.
    pub scope: &'static str,
    pub id: i64,
    /// `daily` or `monthly`.
    pub period: &'static str,
    /// Never below zero.
    pub remaining_usd: f64,
}

/// Every tenant's and team's budgets, less what their usage so far this day and month cost.
pub(crate) async fn budgets_remaining(gateway: &Gateway) -> Result<Vec<BudgetLeft>, sqlx::Error> {
    let (day, month) = crate::budget::period_starts();
    let mut left = Vec::new();
    for (scope, table, column) in [("tenant", "tenants", "tenant_id"), ("team", "teams", "team_id")]
    {
        let sql = format!(
            "SELECT b.id, b.daily_budget, b.monthly_budget, \
             (SELECT COALESCE(SUM(u.cost_usd), 0.0) FROM usage_totals u \
              WHERE u.{column} = b.id AND u.created_at >= $1) AS day_cost, \
             (SELECT COALESCE(SUM(u.cost_usd), 0.0) FROM usage_totals u \
              WHERE u.{column} = b.id AND u.created_at >= $2) AS month_cost \
             FROM {table} b WHERE b.daily_budget IS NOT NULL OR b.monthly_budget IS NOT NULL"
        );
        // Audited: the table and column names are the constants above.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(day)
            .bind(month)
            .fetch_all(gateway.store().pool())
            .await?;
        for row in rows {
            use sqlx::Row;
            let id: i64 = row.get("id");
            let periods = [
                ("daily", row.get::<Option<f64>, _>("daily_budget"), row.get::<f64, _>("day_cost")),
                ("monthly", row.get("monthly_budget"), row.get("month_cost")),
            ];
            for (period, budget, spent) in periods {
                if let Some(budget) = budget {
                    left.push(BudgetLeft {
                        scope,
                        id,
                        period,
                        remaining_usd: (budget - spent).max(0.0),
                    });
                }
            }
        }
    }
    Ok(left)
}

/// A date parameter: `2026-11-30` (the start of that day, or with `end`, the start of the next:
/// an end date is inclusive) or an RFC 3339 time.
pub(crate) fn parse_date(param: &'static str, value: &str, end: bool) -> Result<i64, ApiError> {
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end { date.succ_opt().unwrap_or(date) } else { date };
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(value).map(|t| t.timestamp_millis()).map_err(|_| {
        ApiError::invalid(
            param,
            format!("{param} {value:?} is not a date: use 2026-11-30 or 2026-11-30T12:00:00Z"),
        )
    })
}

/// Checks an email address well enough to catch typos: one `@`, something on each side, a dot in
/// the domain, no spaces.
pub fn check_email(email: &str) -> Result<(), String> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace)
        && email.len() <= 254;
    if ok { Ok(()) } else { Err(format!("{email:?} is not an email address")) }
}

/// Passwords: at least 12 characters (NIST SP 800-63B asks for 8 at least; we ask for more),
/// at most 1,024.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 12 {
        return Err("a password has at least 12 characters".to_owned());
    }
    if n > 1024 {
        return Err("a password has at most 1,024 characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_dates_include_their_whole_day() {
        let start = parse_date("start_date", "2026-11-30", false).unwrap();
        let end = parse_date("end_date", "2026-11-30", true).unwrap();
        assert_eq!(end - start, 86_400_000);
        assert_eq!(iso(start), "2026-11-30T00:00:00.000Z");
        let precise = parse_date("start_date", "2026-11-30T12:00:00+01:00", false).unwrap();
        assert_eq!(iso(precise), "2026-11-30T11:00:00.000Z");
        let error = parse_date("end_date", "yesterday", true).unwrap_err();
        assert_eq!(error.param, Some("end_date"));
    }

    #[test]
    fn emails_and_passwords_are_checked_with_reasons() {
        assert!(check_email("ada@example.com").is_ok());
        for bad in ["ada", "ada@", "@example.com", "ada@example", "a da@example.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("short").unwrap_err().contains("12"));
    }

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin > Role::Member && Role::Member > Role::Viewer);
        assert_eq!(Role::parse("member"), Some(Role::Member));
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(Page::new(None, None).unwrap().limit, 50);
        assert_eq!(Page::new(Some(3), Some(10)).unwrap().offset(), 20);
        assert_eq!(Page::new(None, Some(1001)).unwrap().limit, 1000, "clamped");
        assert_eq!(Page::new(None, Some(0)).unwrap().limit, 1, "clamped");
        assert_eq!(Page::new(Some(0), None).unwrap_err().param, Some("page"));
        assert_eq!(Page::new(Some(i64::MAX), None).unwrap_err().param, Some("page"));
    }
}
