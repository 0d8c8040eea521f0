//! Who calls the knowledge server: the knowledge server draws on the gateway for identity
//! (tenant API keys and admin session tokens), rate limits, metering and DLP, and hands the core
//! a [`knowledge::Caller`] whose account is the gateway's. What each caller may see and do is the
//! core's business (`knowledge::caller`).
//!
//! The **local** user — stdio MCP, the command line, a client presenting `knowledge.token`, or
//! any client on loopback when no token is set — sees every repository; what leaves the server
//! for it is screened by the gateway's default DLP policy, a member's by its own.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway::Gateway;
use gateway::access::{Principal, Surface, ToolCall, Who};
use gateway::admin::Role;
use gateway::dlp::Kind;
use gateway::dlp::guard::Outcome;
use gateway::dlp::policy::{Action, Policy};
use gateway::ratelimit::Decision;
use knowledge::caller::Pending;
use knowledge::{Account, Answer, Call, Caller, Face, KnowledgeError, RateLimit, Screening};

use crate::config::Secret;
use crate::knowledge::ApiError;
use crate::remote::RemoteGateway;

/// A caller's account at the gateway: its rate limit, its DLP policy and its usage record. The
/// local user's has only the policy.
#[derive(Debug)]
struct GatewayAccount {
    link: Link,
    /// A member, and the credential it presented (what this server shows the gateway on its
    /// behalf: a remote gateway's checks and records, `ask_codebase` for a tenant).
    member: Option<(Principal, Secret)>,
    policy: Arc<Policy>,
}

impl Account for GatewayAccount {
    fn admit(&self) -> Pending<'_, Result<Option<RateLimit>, KnowledgeError>> {
        Box::pin(async move {
            let Some((principal, credential)) = &self.member else { return Ok(None) };
            let decision = match &self.link {
                Link::None => return Ok(None),
                Link::Local(gateway) => {
                    gateway.admit_call(principal).await.map_err(|refused| match refused {
                        gateway::access::Refused::Limited(decision) => {
                            Refused::Limited { message: decision.refusal().message, decision }
                        }
                        gateway::access::Refused::Unavailable(error) => {
                            Refused::Unavailable(error.message)
                        }
                    })
                }
                Link::Remote(remote) => remote.admit(credential).await,
            };
            match decision {
                Ok(decision) => Ok(decision.as_ref().map(rate_limit)),
                Err(Refused::Limited { message, decision }) => {
                    Err(KnowledgeError::RateLimited { message, limit: Some(rate_limit(&decision)) })
                }
                Err(Refused::Unavailable(message)) => Err(KnowledgeError::Unavailable(message)),
            }
        })
    }

    fn screen(&self, value: &mut serde_json::Value) -> Screening {
        let mut outcome = Outcome::default();
        gateway::access::screen_output(&self.policy, value, &mut outcome);
        let mut screening = Screening::default();
        for ((kind, action), n) in &outcome.events {
            let actions = screening.events.entry(kind.as_str().to_owned()).or_default();
            actions.insert(action.as_str().to_owned(), *n);
        }
        screening.blocked = outcome.blocked.iter().map(|k| k.as_str().to_owned()).collect();
        screening
    }

    fn meter(&self, call: Call) {
        let Some((principal, credential)) = &self.member else { return };
        let mut outcome = Outcome::default();
        for (kind, actions) in call.screening.iter().flat_map(|s| &s.events) {
            for (action, n) in actions {
                if let (Some(kind), Some(action)) = (Kind::parse(kind), Action::parse(action)) {
                    outcome.events.insert((kind, action), *n);
                }
            }
        }
        let surface = match call.face {
            Face::Mcp => Surface::Mcp,
            Face::Rest => Surface::Rest,
        };
        let call = ToolCall {
            surface,
            tool: call.name,
            request_id: call.request_id,
            started: call.started,
            status: call.status,
            error: call.error,
            result_bytes: call.result_bytes,
            dlp: (!outcome.events.is_empty()).then_some(outcome),
        };
        match &self.link {
            Link::None => {}
            Link::Local(gateway) => gateway.meter(principal, call),
            Link::Remote(remote) => remote.report(credential, call),
        }
    }

    fn tenant_key(&self) -> Option<&str> {
        let (principal, credential) = self.member.as_ref()?;
        principal.tenant_id()?;
        Some(credential.expose())
    }
}

fn rate_limit(decision: &Decision) -> RateLimit {
    RateLimit {
        limit: decision.limit,
        remaining: decision.remaining,
        reset: decision.reset,
        retry_after: decision.retry_after,
    }
}

/// How callers are told apart: the gateway that knows tenants and sessions (in this process or
/// another), the static token of the local user, and whether a client with no credential is the
/// local user.
#[derive(Debug, Clone)]
pub struct Access {
    link: Link,
    token: Option<Secret>,
    anonymous: bool,
    local_policy: Arc<Policy>,
}

#[derive(Debug, Clone)]
enum Link {
    /// No gateway: only the local user (stdio MCP, the command line).
    None,
    /// The gateway of this process.
    Local(Gateway),
    /// A gateway in another process, asked with each caller's own credential.
    Remote(Arc<RemoteGateway>),
}

impl Access {
    /// Without a gateway, only the local user: `token` identifies it, and with `anonymous` so
    /// does no credential at all (stdio MCP and the command line are always the local user).
    pub fn new(policy: &Policy, token: Option<Secret>, anonymous: bool) -> Access {
        Access {
            link: Link::None,
            token,
            anonymous,
            local_policy: Arc::new(policy.over(&Policy::builtin())),
        }
    }

    /// Members of organizations identified by this process's `gateway` too, with the gateway's
    /// default policy for the local user.
    pub fn with_gateway(self, gateway: Gateway) -> Access {
        Access { local_policy: gateway.default_policy(), link: Link::Local(gateway), ..self }
    }

    /// Members identified by the gateway at `remote`.
    pub fn with_remote(self, remote: RemoteGateway) -> Access {
        Access { link: Link::Remote(Arc::new(remote)), ..self }
    }

    pub fn local_caller(&self) -> Caller {
        let account = GatewayAccount {
            link: Link::None,
            member: None,
            policy: Arc::clone(&self.local_policy),
        };
        Caller::local(Arc::new(account))
    }

    /// The caller presenting `headers`, or the 401 that says what to send.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let presented = gateway::secrets::presented(headers);
        let Some(presented) = presented else {
            if self.anonymous {
                return Ok(self.local_caller());
            }
            return Err(unauthorized(
                "send a tenant API key or a gateway session token (POST /api/auth/login on the \
                 gateway) as `Authorization: Bearer <credential>`",
            ));
        };
        if let Some(token) = &self.token
            && gateway::secrets::constant_time_eq(presented.as_bytes(), token.expose().as_bytes())
        {
            return Ok(self.local_caller());
        }
        let credential = Secret::new(presented);
        let (principal, default_org) = match &self.link {
            Link::None => return Err(unauthorized("the bearer token is not valid")),
            Link::Local(gateway) => {
                let principal = gateway.identify(headers).await.map_err(from_gateway)?;
                let default = principal.org_id == gateway.default_org();
                (principal, default)
            }
            Link::Remote(remote) => {
                let view = remote.identify(&credential).await?;
                let default = view.default_org;
                (Principal::from(view), default)
            }
        };
        let owner = (!default_org).then_some(principal.org_id);
        let viewer = matches!(principal.who, Who::User { role: Role::Viewer, .. });
        let account = GatewayAccount {
            link: self.link.clone(),
            policy: Arc::clone(&principal.dlp),
            member: Some((principal, credential)),
        };
        Ok(Caller::member(owner, viewer, Arc::new(account)))
    }
}

/// A call the gateway does not admit.
#[derive(Debug)]
pub enum Refused {
    /// Over its tenant's rate limit.
    Limited { message: String, decision: Decision },
    /// The gateway cannot check the limit now (its Redis does not answer): refused, not let
    /// through.
    Unavailable(String),
}

/// The most a REST answer is read into memory to be screened.
const MAX_ANSWER: usize = 64 << 20;

/// Every REST call of an identified caller, governed like every MCP call (`knowledge::govern`):
/// admitted under its tenant's rate limit (429 and `Retry-After` when over it, the
/// `X-RateLimit-*` headers on every answer), its JSON answer screened by DLP (redacted values in
/// place, and a `redactions` field and an `X-AgentWatch-Redacted` header saying so; a 403
/// `dlp_blocked` when it holds a blocked type), then metered as the route it matched
/// (`GET /api/knowledge/search`).
pub async fn govern_rest(request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        let message = "the request reached the API unidentified";
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            knowledge::Code::Internal,
            message,
        )
        .into_response();
    };
    let route =
        request.extensions().get::<MatchedPath>().map_or("(unmatched)", MatchedPath::as_str);
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok());
    // Names become metric labels: a method of HTTP's own, or OTHER.
    let method = request.method().as_str();
    let method =
        if gateway::access::KNOWLEDGE_METHODS.contains(&method) { method } else { "OTHER" };
    let call = Call::new(Face::Rest, format!("{method} {route}"), request_id.unwrap_or_default());
    let run = async {
        let (parts, body) = next.run(request).await.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER)
            .await
            .map_err(|e| KnowledgeError::Internal(format!("the answer could not be read: {e}")))?;
        Ok(RestAnswer { parts, bytes })
    };
    let governed = knowledge::govern(&caller, call, run).await;
    let mut response = match governed.answer {
        Ok(answer) => answer.into_response(),
        Err(error) => ApiError::from(error).into_response(),
    };
    if let Some(limit) = governed.limit {
        apply_limit(&limit, response.headers_mut());
    }
    response
}

/// Sets the `X-RateLimit-*` headers.
pub fn apply_limit(limit: &RateLimit, headers: &mut HeaderMap) {
    headers.insert("x-ratelimit-limit", limit.limit.into());
    headers.insert("x-ratelimit-remaining", limit.remaining.into());
    headers.insert("x-ratelimit-reset", limit.reset.into());
}

/// A REST handler's answer, read whole to be screened.
struct RestAnswer {
    parts: axum::http::response::Parts,
    bytes: axum::body::Bytes,
}

impl Answer for RestAnswer {
    /// Every string of a JSON answer (any other answer as one text); errors are not screened.
    fn screen(&mut self, account: &dyn Account) -> Screening {
        if !self.parts.status.is_success() {
            return Screening::default();
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(&self.bytes);
        let json = parsed.is_ok();
        let text = || String::from_utf8_lossy(&self.bytes).into_owned().into();
        let mut value = parsed.unwrap_or_else(|_| text());
        let screening = account.screen(&mut value);
        if screening.count() > 0 {
            let body = match value {
                serde_json::Value::String(text) if !json => text.into_bytes(),
                value => serde_json::to_vec(&value).expect("a JSON value serializes"),
            };
            self.bytes = body.into();
            self.parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        }
        screening
    }

    /// A `redactions` field in a JSON object's answer, and the `X-AgentWatch-Redacted` header.
    fn tell(&mut self, screening: &Screening) {
        let Some(notice) = screening.notice() else { return };
        let by_type = screening.redacted();
        let count: u32 = by_type.values().sum();
        self.parts.headers.insert("x-agentwatch-redacted", count.into());
        if let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&self.bytes) {
            let redactions =
                serde_json::json!({ "count": count, "by_type": by_type, "notice": notice });
            fields.insert("redactions".to_owned(), redactions);
            self.bytes = serde_json::to_vec(&fields).expect("a JSON object serializes").into();
        }
    }

    fn failure(&self) -> Option<(u16, String)> {
        if self.parts.status.is_success() {
            return None;
        }
        let message = serde_json::from_slice::<serde_json::Value>(&self.bytes)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned));
        Some((self.parts.status.as_u16(), message.unwrap_or_default()))
    }

    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl IntoResponse for RestAnswer {
    fn into_response(self) -> Response {
        Response::from_parts(self.parts, axum::body::Body::from(self.bytes))
    }
}

/// Identifies every request and puts its [`Caller`] in the request's extensions; 401 otherwise.
pub async fn authenticate(
    State(access): State<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    match access.caller(request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

fn from_gateway(error: gateway::error::ApiError) -> ApiError {
    use knowledge::Code;
    let code = match error.status {
        StatusCode::UNAUTHORIZED => Code::Unauthorized,
        StatusCode::FORBIDDEN => Code::Forbidden,
        status if status.is_server_error() => Code::Internal,
        _ => Code::InvalidRequest,
    };
    ApiError::new(error.status, code, error.message)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, knowledge::Code::Unauthorized, message)
}
