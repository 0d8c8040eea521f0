//! A gateway in another process (`knowledge.gateway_url`), asked over HTTP what the gateway of
//! this process is asked in memory: who a credential is (`/api/access/identify`), one call under
//! a tenant's rate limit (`/api/access/admit`), and a record of each call (`/api/access/calls`).
//! Every request carries the caller's own credential, so this server holds no secret of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use gateway::access::{CallReport, PrincipalView, ToolCall};
use gateway::ratelimit::Decision;
use knowledge::Code;
use serde_json::Value;

use crate::access::Refused;
use crate::config::Secret;
use crate::knowledge::ApiError;

#[derive(Debug)]
pub struct RemoteGateway {
    http: reqwest::Client,
    base: String,
}

impl RemoteGateway {
    /// The gateway at `base` (`http://gateway.internal:8787`).
    pub fn new(base: &str) -> anyhow::Result<RemoteGateway> {
        gateway::install_tls();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(RemoteGateway { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// Who `credential` belongs to, or the gateway's refusal (401, 403) as this server's error.
    pub async fn identify(&self, credential: &Secret) -> Result<PrincipalView, ApiError> {
        let response = self.post("identify", credential).send().await.map_err(|e| self.down(e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_value(body).map_err(|e| {
            let message = format!("the gateway at {} answered identify oddly: {e}", self.base);
            ApiError::new(StatusCode::BAD_GATEWAY, Code::Unavailable, message)
        })
    }

    /// One call under the credential's tenant's rate limit.
    pub async fn admit(&self, credential: &Secret) -> Result<Option<Decision>, Refused> {
        let response = match self.post("admit", credential).send().await {
            Ok(response) => response,
            Err(e) => {
                // Unreachable now, though it identified the caller a moment ago: let the call
                // through rather than fail every agent at once; identification still guards.
                tracing::warn!(error = %e, gateway = %self.base, "cannot reach the gateway to admit a call");
                return Ok(None);
            }
        };
        let status = response.status();
        let decision = decision(response.headers(), status != StatusCode::TOO_MANY_REQUESTS);
        if status.is_success() {
            return Ok(decision);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = |otherwise: &str| {
            body.pointer("/error/message").and_then(Value::as_str).unwrap_or(otherwise).to_owned()
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            let message = message("over the rate limit");
            return Err(Refused::Limited { message, decision: decision.unwrap_or(OVER) });
        }
        // It answered, and did not admit the call (its counters are out of reach, say).
        Err(Refused::Unavailable(message(&format!(
            "the gateway at {} did not admit the call ({status})",
            self.base
        ))))
    }

    /// Records a finished call, off the caller's path; a failure is logged.
    pub fn report(&self, credential: &Secret, call: ToolCall) {
        let mut dlp: BTreeMap<_, BTreeMap<_, u32>> = BTreeMap::new();
        if let Some(outcome) = &call.dlp {
            for ((kind, action), n) in &outcome.events {
                dlp.entry(*kind).or_default().insert(*action, *n);
            }
        }
        let report = CallReport {
            surface: call.surface,
            tool: call.tool,
            request_id: call.request_id,
            latency_ms: call.started.elapsed().as_millis() as u64,
            status: call.status,
            error: call.error,
            result_bytes: call.result_bytes,
            dlp,
        };
        let request = self.post("calls", credential).json(&report);
        let base = self.base.clone();
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => tracing::error!(
                    status = %response.status(), gateway = %base, tool = %report.tool,
                    "the gateway refused a call record"
                ),
                Err(e) => tracing::error!(
                    error = %e, gateway = %base, tool = %report.tool,
                    "cannot send a call record to the gateway"
                ),
            }
        });
    }

    fn post(&self, what: &str, credential: &Secret) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/api/access/{what}", self.base)).bearer_auth(credential.expose())
    }

    fn down(&self, error: reqwest::Error) -> ApiError {
        let message =
            format!("the gateway at {} cannot be reached ({error}); try again shortly", self.base);
        ApiError::new(StatusCode::BAD_GATEWAY, Code::Unavailable, message)
    }
}

/// What a refusal would say when the gateway sent no rate-limit headers.
const OVER: Decision =
    Decision { allowed: false, limit: 0, remaining: 0, reset: 60, retry_after: 60 };

/// The rate-limit decision the gateway's headers describe, if it sent them.
fn decision(headers: &reqwest::header::HeaderMap, allowed: bool) -> Option<Decision> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.parse::<u64>().ok();
    let limit = number("x-ratelimit-limit")?;
    Some(Decision {
        allowed,
        limit,
        remaining: number("x-ratelimit-remaining").unwrap_or(0),
        reset: number("x-ratelimit-reset").unwrap_or(0),
        retry_after: number("retry-after").unwrap_or(0),
    })
}

/// The gateway's refusal of a credential, as this server says it.
fn refusal(status: StatusCode, body: &Value) -> ApiError {
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the gateway refused the credential")
        .to_owned();
    match status {
        StatusCode::UNAUTHORIZED => ApiError::new(status, Code::Unauthorized, message),
        StatusCode::FORBIDDEN => ApiError::new(status, Code::Forbidden, message),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            Code::Unavailable,
            format!("the gateway answered {status}: {message}"),
        ),
    }
}
