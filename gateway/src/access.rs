//! What a service that draws on the gateway asks of it — the knowledge server: who presents a
//! credential (a tenant API key or an admin session token), whether a tenant may make one more
//! call under its rate limit, the DLP policy what the service returns to it is screened by, and a
//! usage record of each call, beside the tenant's LLM requests in `/api/usage` and `/metrics`.
//!
//! In this process these are methods of [`Gateway`]; a knowledge server in another process asks
//! the same over HTTP (`/api/access/*`), always with its caller's own credential, so it needs no
//! trust of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Gateway;
use crate::admin::{Role, live_session};
use crate::dlp::Kind;
use crate::dlp::guard::Outcome;
use crate::dlp::policy::{Action, Policy};
use crate::error::ApiError;
use crate::ratelimit::Decision;
use crate::secrets::hash_api_key;
use crate::store::{UsageRecord, now_ms};

/// Reports owed to one principal at most: a service that stops reporting cannot bank more.
const MAX_OWED_REPORTS: u32 = 10_000;

/// Whom a rate limit or a ledger entry is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Tenant(i64),
    User(i64),
}

impl Subject {
    fn of(principal: &Principal) -> Subject {
        match &principal.who {
            Who::Tenant { tenant_id, .. } => Subject::Tenant(*tenant_id),
            Who::User { user_id, .. } => Subject::User(*user_id),
        }
    }
}

/// Who a credential belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: i64,
    pub who: Who,
    /// What is returned to it is screened by this policy.
    pub dlp: Arc<Policy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Who {
    /// A program with a tenant API key: metered and rate-limited as the tenant.
    Tenant { tenant_id: i64, team_id: Option<i64>, name: String },
    /// A person logged in to the admin API, with a session token.
    User { user_id: i64, email: String, role: Role },
}

impl Principal {
    /// The tenant's id, when the principal is one.
    pub fn tenant_id(&self) -> Option<i64> {
        match &self.who {
            Who::Tenant { tenant_id, .. } => Some(*tenant_id),
            Who::User { .. } => None,
        }
    }
}

/// A [`Principal`] as `/api/access/identify` and `/api/access/admit` answer it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrincipalView {
    pub org_id: i64,
    /// Whether that is the `default` organization (the config's tenants and the first admin).
    pub default_org: bool,
    pub who: Who,
    /// The DLP policy in force for it: its own over its organization's over the default.
    #[schema(value_type = Object)]
    pub dlp_policy: Policy,
}

impl PrincipalView {
    fn of(gateway: &Gateway, p: &Principal) -> PrincipalView {
        PrincipalView {
            org_id: p.org_id,
            default_org: p.org_id == gateway.default_org(),
            who: p.who.clone(),
            dlp_policy: p.dlp.as_ref().clone(),
        }
    }
}

impl From<PrincipalView> for Principal {
    fn from(view: PrincipalView) -> Principal {
        Principal { org_id: view.org_id, who: view.who, dlp: Arc::new(view.dlp_policy) }
    }
}

/// A finished call as `POST /api/access/calls` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallReport {
    /// `mcp` or `rest`.
    pub surface: Surface,
    /// The MCP tool or REST route called (at most 200 characters).
    pub tool: String,
    #[serde(default)]
    pub request_id: String,
    pub latency_ms: u64,
    pub status: u16,
    #[serde(default)]
    pub error: Option<String>,
    pub result_bytes: u64,
    /// What DLP did to the result, by type and action: `{"aws_access_key": {"redact": 1}}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub dlp: BTreeMap<Kind, BTreeMap<Action, u32>>,
}

/// The knowledge server's MCP tools (and resource lists and reads): with [`KNOWLEDGE_ROUTES`], the only
/// names a call is metered under, so that no caller can add label values to `/metrics`. The
/// knowledge server's tests check that these are exactly its own.
pub const KNOWLEDGE_TOOLS: &[&str] = &[
    "index_repository",
    "refresh_repository",
    "get_index_status",
    "list_repositories",
    "remove_repository",
    "search_code",
    "find_relevant_code",
    "find_symbol",
    "get_symbol",
    "get_file_outline",
    "read_file",
    "find_references",
    "get_callers",
    "get_callees",
    "get_dependencies",
    "get_dependents",
    "analyze_impact",
    "ask_codebase",
    "get_repo_map",
    "run_security_scan",
    "get_scan_findings",
    "list_resources",
    "read_resource",
    // A tool the server does not have, asked for by name.
    "(unknown)",
];

/// The knowledge server's REST routes, metered as `METHOD route` with one of
/// [`KNOWLEDGE_METHODS`].
pub const KNOWLEDGE_ROUTES: &[&str] = &[
    "/api/knowledge/repositories",
    "/api/knowledge/repositories/{id}",
    "/api/knowledge/repositories/{id}/status",
    "/api/knowledge/repositories/{id}/refresh",
    "/api/knowledge/repositories/{id}/settings",
    "/api/knowledge/repositories/{id}/scan",
    "/api/knowledge/repositories/{id}/findings",
    "/api/knowledge/repositories/{id}/symbols",
    "/api/knowledge/repositories/{id}/symbol",
    "/api/knowledge/repositories/{id}/callers",
    "/api/knowledge/repositories/{id}/callees",
    "/api/knowledge/repositories/{id}/references",
    "/api/knowledge/repositories/{id}/impact",
    "/api/knowledge/repositories/{id}/outline",
    "/api/knowledge/repositories/{id}/file",
    "/api/knowledge/repositories/{id}/dependencies",
    "/api/knowledge/repositories/{id}/dependents",
    "/api/knowledge/repositories/{id}/map",
    "/api/knowledge/scans/{scan_id}",
    "/api/knowledge/search",
    "/api/knowledge/locate",
    "/api/knowledge/ask",
];

/// The methods a REST call is metered with; any other is metered as `OTHER`.
pub const KNOWLEDGE_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"];

/// Whether `tool` is a name a call through `surface` is metered under.
pub fn is_metered_name(surface: Surface, tool: &str) -> bool {
    match surface {
        Surface::Mcp => KNOWLEDGE_TOOLS.contains(&tool),
        Surface::Rest => tool.split_once(' ').is_some_and(|(method, route)| {
            KNOWLEDGE_METHODS.contains(&method) && KNOWLEDGE_ROUTES.contains(&route)
        }),
    }
}

/// The surface a knowledge call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    Mcp,
    Rest,
}

/// One finished call to a service drawing on the gateway.
#[derive(Debug)]
pub struct ToolCall {
    pub surface: Surface,
    /// The MCP tool (`search_code`) or the REST route (`GET /api/knowledge/search`).
    pub tool: String,
    pub request_id: String,
    pub started: Instant,
    /// The HTTP status, or for MCP: 200, 400 for a tool error, 429 when refused.
    pub status: u16,
    pub error: Option<String>,
    pub result_bytes: u64,
    /// What DLP did to the result.
    pub dlp: Option<Outcome>,
}

impl ToolCall {
    /// A call starting now, answered 200 unless told otherwise.
    pub fn new(surface: Surface, tool: String, request_id: String) -> ToolCall {
        ToolCall {
            surface,
            tool,
            request_id,
            started: Instant::now(),
            status: 200,
            error: None,
            result_bytes: 0,
            dlp: None,
        }
    }

    /// This call, refused under its tenant's rate limit.
    pub fn refused(&self, message: &str) -> ToolCall {
        ToolCall {
            status: 429,
            error: Some(message.to_owned()),
            ..ToolCall::new(self.surface, self.tool.clone(), self.request_id.clone())
        }
    }
}

impl Gateway {
    /// Who presents the credential in `headers` (`Authorization: Bearer …` or `X-Api-Key`): a
    /// tenant API key (an active tenant) or a session token from `POST /api/auth/login` (a live
    /// session of an enabled account).
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let credential = crate::secrets::presented(headers).ok_or_else(|| {
            ApiError::unauthenticated(
                "no credential: send a tenant API key, or a session token from the gateway's \
                     POST /api/auth/login, as `Authorization: Bearer <credential>`",
            )
        })?;
        if let Some(tenant) = self.directory().tenant(&hash_api_key(credential)) {
            if tenant.status != "active" {
                return Err(ApiError::tenant_not_active(&tenant.status));
            }
            return Ok(Principal {
                org_id: tenant.org_id,
                dlp: Arc::clone(&tenant.dlp),
                who: Who::Tenant {
                    tenant_id: tenant.id,
                    team_id: tenant.team_id,
                    name: tenant.name.clone(),
                },
            });
        }
        // A JWT is three base64url parts; anything else is a key that matches no tenant.
        if credential.split('.').count() != 3 {
            return Err(ApiError::unauthorized("this API key matches no tenant"));
        }
        let claims = self.inner.auth.verify(credential)?;
        let session = live_session(self, &claims.jti).await?;
        Ok(Principal {
            org_id: session.org_id,
            dlp: self.org_policy(session.org_id),
            who: Who::User { user_id: session.user_id, email: session.email, role: session.role },
        })
    }

    /// Takes one call from the principal's rate limit: a tenant's is the same bucket and window
    /// as its LLM requests; a person's is a bucket of its own with the gateway's defaults
    /// (`rate_burst`, `rate_refill_per_sec`).
    pub async fn admit_call(&self, principal: &Principal) -> Result<Option<Decision>, Refused> {
        let decision = match &principal.who {
            Who::Tenant { tenant_id, .. } => {
                // A tenant removed since it was identified has no bucket left to take from.
                let Some(tenant) = self.directory().tenant_by_id(*tenant_id).cloned() else {
                    return Ok(None);
                };
                self.take_token(&tenant).await
            }
            Who::User { user_id, .. } => {
                self.inner.people.check(*user_id, self.inner.bucket, None).await
            }
        };
        match decision {
            Ok(decision) if decision.allowed => Ok(Some(decision)),
            Ok(decision) => Err(Refused::Limited(decision)),
            Err(error) => Err(Refused::Unavailable(error)),
        }
    }

    /// Owes the principal one call report: its call was admitted (or refused) here, and the
    /// service that asked will report it.
    fn owe_report(&self, principal: &Principal) {
        let mut owed = self.inner.reports_owed.lock().expect("reports lock");
        let n = owed.entry(Subject::of(principal)).or_default();
        *n = (*n + 1).min(MAX_OWED_REPORTS);
    }

    /// Takes one owed report of the principal's, if there is one.
    fn redeem_admission(&self, principal: &Principal) -> bool {
        let mut owed = self.inner.reports_owed.lock().expect("reports lock");
        let subject = Subject::of(principal);
        match owed.get_mut(&subject) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                owed.remove(&subject);
                true
            }
            None => false,
        }
    }

    /// The DLP policy of an organization: its own over the gateway's default, or the default.
    pub fn org_policy(&self, org_id: i64) -> Arc<Policy> {
        self.directory().org_policy(org_id).map_or_else(|| Arc::clone(&self.inner.dlp), Arc::clone)
    }

    /// The gateway's default DLP policy (`gateway.dlp` over the built-in one): for callers the
    /// gateway does not know, such as the local user of `agentwatch mcp`.
    pub fn default_policy(&self) -> Arc<Policy> {
        Arc::clone(&self.inner.dlp)
    }

    /// Records a finished call in `usage` and `/metrics`, off the caller's path.
    pub fn meter(&self, principal: &Principal, call: ToolCall) {
        if let Some(outcome) = &call.dlp {
            for ((kind, action), n) in &outcome.events {
                self.inner.metrics.dlp(*kind, *action, *n);
            }
        }
        let team_id = match &principal.who {
            Who::Tenant { team_id, .. } => *team_id,
            Who::User { .. } => None,
        };
        self.inner.usage.record(UsageRecord {
            request_id: call.request_id,
            org_id: principal.org_id,
            tenant_id: principal.tenant_id(),
            team_id,
            endpoint: match call.surface {
                Surface::Mcp => "mcp",
                Surface::Rest => "rest",
            },
            provider_id: None,
            provider: None,
            model: String::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            tokens_source: "provider",
            cost_usd: 0.0,
            latency_ms: call.started.elapsed().as_millis() as u64,
            ttft_ms: None,
            status: call.status,
            error: call.error,
            streamed: false,
            attempts: 0,
            dlp_events: call.dlp.as_ref().map_or(0, Outcome::count),
            dlp: call.dlp.as_ref().and_then(Outcome::detail),
            tool: Some(call.tool),
            result_bytes: Some(call.result_bytes),
            reservation: None,
            trace: Default::default(),
            created_at_ms: now_ms() - call.started.elapsed().as_millis() as i64,
        });
    }
}

/// Who the credential of this request belongs to: a tenant API key or a session token, sent as
/// `Authorization: Bearer …` or `X-Api-Key`. For a knowledge server in another process, which
/// forwards its caller's credential.
#[utoipa::path(
    post,
    path = "/access/identify",
    tag = "access",
    responses(
        (status = 200, description = "The credential's principal and DLP policy", body = PrincipalView),
        (status = 401, description = "Neither a tenant key nor a live session token", body = crate::admin::ErrorBody),
        (status = 403, description = "The tenant is suspended or inactive", body = crate::admin::ErrorBody),
    )
)]
pub(crate) async fn identify_route(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Json<PrincipalView>, ApiError> {
    let principal = gateway.identify(&headers).await?;
    Ok(Json(PrincipalView::of(&gateway, &principal)))
}

/// A call [`Gateway::admit_call`] does not let through.
#[derive(Debug)]
pub enum Refused {
    /// Over the rate limit: the decision's `refusal()` is the 429, its headers go with it.
    Limited(Decision),
    /// The limits are in Redis, and it does not answer: a 503.
    Unavailable(ApiError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Limited(decision) => {
                let mut response = decision.refusal().into_response();
                decision.apply(response.headers_mut());
                response
            }
            Refused::Unavailable(error) => error.into_response(),
        }
    }
}

/// As `/access/identify`, and takes one call from the tenant's rate limit: 429 with
/// `Retry-After` when it is spent. The `X-RateLimit-*` headers say what is left.
#[utoipa::path(
    post,
    path = "/access/admit",
    tag = "access",
    responses(
        (status = 200, description = "Admitted: the principal and its DLP policy", body = PrincipalView),
        (status = 401, description = "Neither a tenant key nor a live session token", body = crate::admin::ErrorBody),
        (status = 429, description = "Over the tenant's rate limit", body = crate::admin::ErrorBody),
        (status = 503, description = "Redis, where the rate limits are kept, does not answer", body = crate::admin::ErrorBody),
    )
)]
pub(crate) async fn admit_route(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = gateway.identify(&headers).await?;
    gateway.owe_report(&principal);
    Ok(match gateway.admit_call(&principal).await {
        Ok(decision) => {
            let mut response = Json(PrincipalView::of(&gateway, &principal)).into_response();
            if let Some(decision) = decision {
                decision.apply(response.headers_mut());
            }
            response
        }
        Err(refused) => refused.into_response(),
    })
}

/// Records a finished call of the credential's principal in usage and metrics.
#[utoipa::path(
    post,
    path = "/access/calls",
    tag = "access",
    request_body = CallReport,
    responses(
        (status = 202, description = "Recorded"),
        (status = 400, description = "The report is invalid: a tool or route that is not the knowledge server's, or a status out of range", body = crate::admin::ErrorBody),
        (status = 401, description = "Neither a tenant key nor a live session token", body = crate::admin::ErrorBody),
        (status = 429, description = "More reports than admitted calls, over the caller's rate limit", body = crate::admin::ErrorBody),
    )
)]
pub(crate) async fn calls_route(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    crate::admin::Body(report): crate::admin::Body<CallReport>,
) -> Result<Response, ApiError> {
    let principal = gateway.identify(&headers).await?;
    if !is_metered_name(report.surface, &report.tool) {
        let known = match report.surface {
            Surface::Mcp => KNOWLEDGE_TOOLS.join(", "),
            Surface::Rest => format!(
                "`METHOD route`, with a method of {} and a route of {}",
                KNOWLEDGE_METHODS.join(", "),
                KNOWLEDGE_ROUTES.join(", ")
            ),
        };
        return Err(ApiError::invalid(
            "tool",
            format!("{:?} is not a knowledge server call: expected {known}", report.tool),
        ));
    }
    if !(200..=599).contains(&report.status) {
        return Err(ApiError::invalid("status", "status is an HTTP status from 200 to 599"));
    }
    // As many reports as calls admitted (`/access/admit`); beyond that, each one takes from the
    // caller's rate limit like a call.
    if !gateway.redeem_admission(&principal)
        && let Err(refused) = gateway.admit_call(&principal).await
    {
        return Ok(refused.into_response());
    }
    let mut outcome = Outcome::default();
    for (kind, actions) in &report.dlp {
        for (action, n) in actions {
            outcome.events.insert((*kind, *action), *n);
        }
    }
    let started = Instant::now()
        .checked_sub(Duration::from_millis(report.latency_ms))
        .unwrap_or_else(Instant::now);
    gateway.meter(
        &principal,
        ToolCall {
            surface: report.surface,
            tool: report.tool,
            request_id: report.request_id,
            started,
            status: report.status,
            error: report.error,
            result_bytes: report.result_bytes,
            dlp: (!outcome.events.is_empty()).then_some(outcome),
        },
    );
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Screens what a service returns: every string in `value` is scanned and the policy applied.
/// There is no answer to restore masked values into, so `mask_and_restore` redacts; `block`
/// leaves the text and records the type in `outcome.blocked`, for the caller to refuse the
/// result.
pub fn screen_output(policy: &Policy, value: &mut Value, outcome: &mut Outcome) {
    let policy = without_masks(policy);
    walk(&policy, value, outcome);
}

fn without_masks(policy: &Policy) -> Policy {
    let redact = |a: Action| if a == Action::MaskAndRestore { Action::Redact } else { a };
    Policy {
        secrets: policy.secrets.map(redact),
        personal_data: policy.personal_data.map(redact),
        actions: policy.actions.iter().map(|(k, a)| (*k, redact(*a))).collect(),
        ..policy.clone()
    }
}

fn walk(policy: &Policy, value: &mut Value, outcome: &mut Outcome) {
    match value {
        Value::String(text) => {
            if let Some(screened) = outcome.guard(policy, text) {
                *text = screened;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(policy, v, outcome)),
        Value::Object(fields) => fields.values_mut().for_each(|v| walk(policy, v, outcome)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_secret_anywhere_in_a_result_is_redacted_and_counted() {
        // Written in two pieces, so that this file itself holds no key (see tests/dlp.rs).
        let key = format!("AKIA{}", "Z7Q3XK2M5N8P4R6T");
        let mut result = json!({
            "results": [{ "path": "config.py", "snippet": format!("AWS_KEY = \"{key}\"") }],
            "total": 1,
        });
        let mut outcome = Outcome::default();
        screen_output(&Policy::builtin(), &mut result, &mut outcome);
        let snippet = result["results"][0]["snippet"].as_str().unwrap();
        assert!(!snippet.contains(&key), "{snippet}");
        assert!(snippet.contains("[REDACTED:"), "{snippet}");
        assert_eq!(outcome.count(), 1);
        assert_eq!(result["total"], 1, "numbers are left alone");
    }

    #[test]
    fn mask_and_restore_redacts_output_since_nothing_comes_back_to_restore() {
        let policy = Policy { secrets: Some(Action::MaskAndRestore), ..Policy::builtin() };
        let mut text = json!(format!("token = ghp_{}", "R8x2Kq7LmN4pT9vW3yZ6bC1dF5gH0jA2sE4u"));
        let mut outcome = Outcome::default();
        screen_output(&policy, &mut text, &mut outcome);
        assert!(text.as_str().unwrap().contains("[REDACTED:"), "{text}");
        assert!(outcome.masks.is_empty());
    }

    #[test]
    fn a_blocked_type_is_reported_for_the_caller_to_refuse() {
        let policy = Policy { secrets: Some(Action::Block), ..Policy::builtin() };
        let mut text = json!(format!("token = ghp_{}", "R8x2Kq7LmN4pT9vW3yZ6bC1dF5gH0jA2sE4u"));
        let mut outcome = Outcome::default();
        screen_output(&policy, &mut text, &mut outcome);
        assert!(!outcome.blocked.is_empty());
    }
}
