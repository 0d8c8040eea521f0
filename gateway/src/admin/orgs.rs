//! The caller's organization, and its DLP policy: what every tenant's requests and every answer
//! of the knowledge server to the organization are screened by, unless a tenant has its own.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use utoipa::ToSchema;

use super::{Admin, Body, Caller, audit, iso, nullable};
use crate::Gateway;
use crate::dlp::policy::Policy;
use crate::error::ApiError;

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Org {
    id: i64,
    name: String,
    /// Its own DLP policy, over the gateway's default; `null`: the default alone. A tenant's own
    /// policy applies over this one.
    #[schema(value_type = Option<Object>)]
    dlp_policy: Option<Policy>,
    /// The policy in force for the organization: its own over the gateway's default.
    #[schema(value_type = Object)]
    effective_dlp_policy: Policy,
    created_at: String,
}

async fn find(gateway: &Gateway, org_id: i64) -> Result<Org, ApiError> {
    let row = sqlx::query("SELECT id, name, dlp_policy, created_at FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_one(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot read the organization", e))?;
    let own: Option<Policy> =
        row.get::<Option<String>, _>("dlp_policy").and_then(|p| serde_json::from_str(&p).ok());
    Ok(Org {
        id: row.get("id"),
        name: row.get("name"),
        effective_dlp_policy: gateway.org_policy(org_id).as_ref().clone(),
        dlp_policy: own,
        created_at: iso(row.get("created_at")),
    })
}

/// The caller's organization and its DLP policy.
#[utoipa::path(
    get,
    path = "/org",
    tag = "orgs",
    responses((status = 200, description = "Your organization", body = Org))
)]
pub(crate) async fn get_org(
    State(gateway): State<Gateway>,
    caller: Caller,
) -> Result<Json<Org>, ApiError> {
    Ok(Json(find(&gateway, caller.org_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgUpdate {
    /// The organization's DLP policy (`secrets`, `personal_data`, `actions`, `allowlist`,
    /// `min_confidence`); `null`: the gateway's default alone.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    dlp_policy: Option<Option<Policy>>,
}

/// Sets the organization's DLP policy. Admins only. It applies at once to the organization's
/// LLM requests (under tenants' own policies) and to what the knowledge server returns to it.
#[utoipa::path(
    patch,
    path = "/org",
    tag = "orgs",
    request_body = OrgUpdate,
    responses(
        (status = 200, description = "Updated", body = Org),
        (status = 400, description = "The policy is invalid; the message says how", body = super::ErrorBody),
    )
)]
pub(crate) async fn update_org(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Body(update): Body<OrgUpdate>,
) -> Result<Json<Org>, ApiError> {
    if let Some(policy) = update.dlp_policy {
        if let Some(Err(e)) = policy.as_ref().map(Policy::validate) {
            return Err(ApiError::invalid("dlp_policy", format!("dlp_policy: {e}")));
        }
        let stored = policy.as_ref().map(|p| serde_json::to_string(p).expect("a policy"));
        sqlx::query("UPDATE orgs SET dlp_policy = $1 WHERE id = $2")
            .bind(stored)
            .bind(caller.org_id)
            .execute(gateway.store().pool())
            .await
            .map_err(|e| ApiError::internal("cannot update the organization", e))?;
        let detail = json!({ "dlp_policy": policy });
        audit::record(&gateway, &caller, "org.update", "org", caller.org_id, detail).await;
        gateway.changed().await.map_err(|e| ApiError::internal("cannot reload policies", e))?;
    }
    Ok(Json(find(&gateway, caller.org_id).await?))
}
