//! The audit log: every change made through the admin API, and logins and lockouts — who, what,
//! when, from where. Details never hold a secret (keys appear masked).

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, QueryBuilder, Row};
use utoipa::{IntoParams, ToSchema};

use super::{Admin, Caller, Page, Paged, Params, iso, parse_date};
use crate::Gateway;
use crate::error::ApiError;
use crate::store::now_ms;

/// One audited action.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub org_id: i64,
    /// Who did it (user id and email); `None` for the gateway itself (a lockout).
    pub actor: Option<(i64, &'a str)>,
    pub action: &'static str,
    /// What it was done to: a kind (`provider`, `tenant`, …) and an id.
    pub target: Option<(&'static str, i64)>,
    pub detail: Value,
    pub ip: Option<String>,
}

/// Writes an entry. An entry that cannot be written is logged as an error: the action it
/// records has already happened.
pub(crate) async fn write(gateway: &Gateway, entry: Entry<'_>) {
    let result = sqlx::query(
        "INSERT INTO audit_log (org_id, user_id, user_email, action, target_type, target_id, \
         detail, ip, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.org_id)
    .bind(entry.actor.map(|a| a.0))
    .bind(entry.actor.map(|a| a.1))
    .bind(entry.action)
    .bind(entry.target.map(|t| t.0))
    .bind(entry.target.map(|t| t.1))
    .bind(entry.detail.to_string())
    .bind(&entry.ip)
    .bind(now_ms())
    .execute(gateway.store().pool())
    .await;
    if let Err(error) = result {
        tracing::error!(%error, action = entry.action, "cannot write the audit log");
    }
}

/// Writes an entry for what `caller` did.
pub(crate) async fn record(
    gateway: &Gateway,
    caller: &Caller,
    action: &'static str,
    target_type: &'static str,
    target_id: i64,
    detail: Value,
) {
    let entry = Entry {
        org_id: caller.org_id,
        actor: Some((caller.user_id, &caller.email)),
        action,
        target: Some((target_type, target_id)),
        detail,
        ip: caller.ip.clone(),
    };
    write(gateway, entry).await;
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only this action, e.g. `provider.create`.
    action: Option<String>,
    /// Only what this user did.
    user_id: Option<i64>,
    /// From this date (`2026-11-30`) or time (RFC 3339).
    start_date: Option<String>,
    /// To this date, inclusive, or time.
    end_date: Option<String>,
    page: Option<i64>,
    /// Entries per page: 50 by default, at most 1,000 (more is clamped).
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    id: i64,
    user_id: Option<i64>,
    user_email: Option<String>,
    /// `auth.login`, `provider.create`, `tenant.rotate_key`, …
    action: String,
    target_type: Option<String>,
    target_id: Option<i64>,
    #[schema(value_type = Object)]
    detail: Value,
    ip: Option<String>,
    created_at: String,
}

/// The organization's audit log, newest first. Admins only.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of the audit log", body = Paged<AuditEntry>))
)]
pub(crate) async fn list_audit(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Params(query): Params<AuditQuery>,
) -> Result<Json<Paged<AuditEntry>>, ApiError> {
    let page = Page::new(query.page, query.limit)?;
    let filter = |select: &str| {
        let mut sql: QueryBuilder<Any> = QueryBuilder::new(select);
        sql.push(" FROM audit_log WHERE org_id = ").push_bind(caller.org_id);
        if let Some(action) = &query.action {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(user) = query.user_id {
            sql.push(" AND user_id = ").push_bind(user);
        }
        sql
    };
    let mut count = filter("SELECT COUNT(*)");
    let mut rows = filter(
        "SELECT id, user_id, user_email, action, target_type, target_id, detail, ip, created_at",
    );
    for sql in [&mut count, &mut rows] {
        if let Some(start) = &query.start_date {
            sql.push(" AND created_at >= ").push_bind(parse_date("start_date", start, false)?);
        }
        if let Some(end) = &query.end_date {
            sql.push(" AND created_at < ").push_bind(parse_date("end_date", end, true)?);
        }
    }
    rows.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit);
    rows.push(" OFFSET ").push_bind(page.offset());
    let pool = gateway.store().pool();
    let sql = |e| ApiError::internal("cannot read the audit log", e);
    let total: i64 = storage::query_scalar(gateway.store().backend(), &mut count)
        .fetch_one(pool)
        .await
        .map_err(sql)?;
    let data = storage::query(gateway.store().backend(), &mut rows)
        .fetch_all(pool)
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.get("id"),
            user_id: r.get("user_id"),
            user_email: r.get("user_email"),
            action: r.get("action"),
            target_type: r.get("target_type"),
            target_id: r.get("target_id"),
            detail: serde_json::from_str(r.get("detail")).unwrap_or(Value::Null),
            ip: r.get("ip"),
            created_at: iso(r.get("created_at")),
        })
        .collect();
    Ok(Json(Paged::new(data, page, total)))
}
