//! What a service that draws on the gateway asks of it — the knowledge server: who presents a
//! credential (a tenant API key or an admin session token), whether a tenant may make one more
//! call under its rate limit, the DLP policy what the service returns to it is screened by, and a
//! usage record of each call, beside the tenant's LLM requests in `/api/usage` and `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::Gateway;
use crate::admin::{Role, live_session};
use crate::dlp::guard::Outcome;
use crate::dlp::policy::{Action, Policy};
use crate::error::ApiError;
use crate::ratelimit::Decision;
use crate::secrets::hash_api_key;
use crate::store::{Tenant, UsageRecord, now_ms};

/// Who a credential belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: i64,
    pub who: Who,
    /// What is returned to it is screened by this policy.
    pub dlp: Arc<Policy>,
}

#[derive(Debug, Clone)]
pub enum Who {
    /// A program with a tenant API key: metered and rate-limited as the tenant.
    Tenant(Arc<Tenant>),
    /// A person logged in to the admin API, with a session token.
    User { user_id: i64, email: String, role: Role },
}

impl Principal {
    pub fn tenant(&self) -> Option<&Arc<Tenant>> {
        match &self.who {
            Who::Tenant(tenant) => Some(tenant),
            Who::User { .. } => None,
        }
    }

    /// For logs: `tenant 3 (ci-bot)` or `user ada@example.com`.
    pub fn describe(&self) -> String {
        match &self.who {
            Who::Tenant(tenant) => format!("tenant {} ({})", tenant.id, tenant.name),
            Who::User { email, .. } => format!("user {email}"),
        }
    }
}

/// The surface a knowledge call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Gateway {
    /// Who presents the credential in `headers` (`Authorization: Bearer …` or `X-Api-Key`): a
    /// tenant API key (an active tenant) or a session token from `POST /api/auth/login` (a live
    /// session of an enabled account).
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let credential = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
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
                who: Who::Tenant(Arc::clone(tenant)),
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

    /// Takes one call from a tenant's rate limit (the same bucket and window as its LLM
    /// requests). A person's calls are not rate-limited. `Err` carries the 429 and the decision
    /// whose headers go with it.
    pub fn admit_call(&self, principal: &Principal) -> Result<Option<Decision>, (ApiError, Decision)> {
        let Some(tenant) = principal.tenant() else { return Ok(None) };
        let decision = self.take_token(tenant);
        if decision.allowed { Ok(Some(decision)) } else { Err((decision.refusal(), decision)) }
    }

    /// The DLP policy of an organization: its own over the gateway's default, or the default.
    pub fn org_policy(&self, org_id: i64) -> Arc<Policy> {
        self.directory()
            .org_policy(org_id)
            .map_or_else(|| Arc::clone(&self.inner.dlp), Arc::clone)
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
        let tenant = principal.tenant();
        self.inner.usage.record(UsageRecord {
            request_id: call.request_id,
            org_id: principal.org_id,
            tenant_id: tenant.map(|t| t.id),
            team_id: tenant.and_then(|t| t.team_id),
            endpoint: match call.surface {
                Surface::Mcp => "mcp",
                Surface::Rest => "rest",
            },
            provider_id: None,
            provider: None,
            model: String::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
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
            created_at_ms: now_ms() - call.started.elapsed().as_millis() as i64,
        });
    }
}

/// Screens what a service returns: every string in `value` is scanned and the policy applied.
/// There is no answer to restore masked values into, so `mask_and_restore` redacts; `block`
/// leaves the text and records the type in `outcome.blocked`, for the caller to refuse the
/// result.
pub fn screen_output(policy: &Policy, value: &mut Value, outcome: &mut Outcome) {
    let policy = without_masks(policy);
    walk(&policy, value, outcome);
}

/// Screens one text, as [`screen_output`] does each string.
pub fn screen_text(policy: &Policy, text: &mut String, outcome: &mut Outcome) {
    let policy = without_masks(policy);
    if let Some(screened) = outcome.guard(&policy, text) {
        *text = screened;
    }
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
        let key = "AKIAZ7Q3XK2M5N8P4R6T";
        let mut result = json!({
            "results": [{ "path": "config.py", "snippet": format!("AWS_KEY = \"{key}\"") }],
            "total": 1,
        });
        let mut outcome = Outcome::default();
        screen_output(&Policy::builtin(), &mut result, &mut outcome);
        let snippet = result["results"][0]["snippet"].as_str().unwrap();
        assert!(!snippet.contains(key), "{snippet}");
        assert!(snippet.contains("[REDACTED:"), "{snippet}");
        assert_eq!(outcome.count(), 1);
        assert_eq!(result["total"], 1, "numbers are left alone");
    }

    #[test]
    fn mask_and_restore_redacts_output_since_nothing_comes_back_to_restore() {
        let policy = Policy { secrets: Some(Action::MaskAndRestore), ..Policy::builtin() };
        let mut text = "token = ghp_R8x2Kq7LmN4pT9vW3yZ6bC1dF5gH0jA2sE4u".to_owned();
        let mut outcome = Outcome::default();
        screen_text(&policy, &mut text, &mut outcome);
        assert!(text.contains("[REDACTED:"), "{text}");
        assert!(outcome.masks.is_empty());
    }

    #[test]
    fn a_blocked_type_is_reported_for_the_caller_to_refuse() {
        let policy = Policy { secrets: Some(Action::Block), ..Policy::builtin() };
        let mut text = "token = ghp_R8x2Kq7LmN4pT9vW3yZ6bC1dF5gH0jA2sE4u".to_owned();
        let mut outcome = Outcome::default();
        screen_text(&policy, &mut text, &mut outcome);
        assert!(!outcome.blocked.is_empty());
    }
}
