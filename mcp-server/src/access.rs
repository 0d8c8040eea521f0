//! Who calls the knowledge server, what they see, and what they are charged: the knowledge
//! server draws on the gateway for identity (tenant API keys and admin session tokens), rate
//! limits, metering and DLP.
//!
//! - A **member** of an organization (a tenant or a logged-in user) sees that organization's
//!   repositories only, and what it indexes belongs to it. The `default` organization (the one
//!   config tenants and the first admin belong to) owns the repositories indexed locally.
//! - The **local** user — stdio MCP, the command line, a client presenting `knowledge.token`, or
//!   any client on loopback when no token is set — sees every repository.
//!
//! Whatever the caller, code that leaves the server is screened by DLP: a member's by its
//! tenant's or organization's policy, the local user's by the gateway's default.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway::Gateway;
use gateway::access::{Principal, Surface, ToolCall, Who};
use gateway::admin::Role;
use gateway::dlp::guard::Outcome;
use gateway::dlp::policy::{Action, Policy};
use gateway::ratelimit::Decision;
use indexer::{IndexError, Indexer, RepoRecord, Source};

use crate::config::Secret;
use crate::knowledge::ApiError;
use crate::remote::RemoteGateway;

/// One caller of the knowledge server.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None`: the local user.
    pub principal: Option<Principal>,
    /// The owner of the repositories a member sees and indexes (`None`: the default
    /// organization's).
    owner: Option<i64>,
    /// What is returned to the caller is screened by this policy.
    pub dlp: Arc<Policy>,
    /// A member's credential (a tenant API key or a session token), as presented: what the
    /// knowledge server shows the gateway on the member's behalf (a remote gateway's checks and
    /// records, `ask_codebase` for a tenant, which is billed).
    credential: Option<Secret>,
}

impl Caller {
    pub fn local(policy: Arc<Policy>) -> Caller {
        Caller { principal: None, owner: None, dlp: policy, credential: None }
    }

    /// The tenant API key the caller presented, if it is a tenant.
    pub fn tenant_key(&self) -> Option<&Secret> {
        self.principal.as_ref()?.tenant_id()?;
        self.credential.as_ref()
    }

    /// Whether the caller may change what the server holds or spend its organization's money:
    /// index, scan, remove, ask. Tenants, members, admins and the local user may; a viewer
    /// reads, as on the admin API.
    pub fn may_change(&self) -> Result<(), String> {
        match self.principal.as_ref().map(|p| &p.who) {
            Some(Who::User { role: Role::Viewer, .. }) => Err(
                "a viewer reads only: indexing, scans, removal and ask_codebase need the member or \
                 admin role; ask an admin of your organization"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }

    /// Whether the caller may see `repo`.
    pub fn sees(&self, repo: &RepoRecord) -> bool {
        self.principal.is_none() || repo.owner == self.owner
    }

    /// Who a repository the caller indexes belongs to.
    pub fn owner(&self) -> Option<i64> {
        self.owner
    }

    /// Whether the caller may index `source`: a git URL, anyone; a folder on this machine, only
    /// its local user (a tenant must not read the server's own files).
    pub fn may_index(&self, source: &Source) -> Result<(), String> {
        if source.is_remote() || self.principal.is_none() {
            return Ok(());
        }
        Err(format!(
            "{} is a folder on the server's machine, which only its local user may index (stdio \
             MCP, the command line, or knowledge.token); send an https git URL",
            source.location()
        ))
    }

    /// A repository by id, name, URL or path, among those the caller sees; the others are
    /// unknown to it, as if they did not exist.
    pub async fn find(&self, indexer: &Indexer, key: &str) -> Result<RepoRecord, IndexError> {
        indexer.find_among(key, |r| self.sees(r)).await
    }

    /// The stored repositories the caller sees, by name.
    pub async fn repos(&self, indexer: &Indexer) -> Result<Vec<RepoRecord>, IndexError> {
        let mut repos = indexer.store().repos().await?;
        repos.retain(|r| self.sees(r));
        Ok(repos)
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
        Caller::local(Arc::clone(&self.local_policy))
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
        Ok(Caller {
            owner: (!default_org).then_some(principal.org_id),
            dlp: Arc::clone(&principal.dlp),
            principal: Some(principal),
            credential: Some(credential),
        })
    }

    /// Takes one call from the caller's rate limit: `Err` is the 429 to answer, and the refused
    /// `call` is metered as such.
    pub async fn admit(
        &self,
        caller: &Caller,
        call: &ToolCall,
    ) -> Result<Option<Decision>, Refused> {
        let (Some(principal), Some(credential)) = (&caller.principal, &caller.credential) else {
            return Ok(None);
        };
        let admitted = match &self.link {
            Link::None => Ok(None),
            Link::Local(gateway) => gateway
                .admit_call(principal)
                .map_err(|decision| Refused { message: decision.refusal().message, decision }),
            Link::Remote(remote) => remote.admit(credential).await,
        };
        if let Err(refused) = &admitted {
            self.meter(caller, call.refused(&refused.message));
        }
        admitted
    }

    /// Records a finished call of a member in the gateway's usage and metrics (off the caller's
    /// path, for a remote gateway).
    pub fn meter(&self, caller: &Caller, call: ToolCall) {
        let (Some(principal), Some(credential)) = (&caller.principal, &caller.credential) else {
            return;
        };
        match &self.link {
            Link::None => {}
            Link::Local(gateway) => gateway.meter(principal, call),
            Link::Remote(remote) => remote.report(credential, call),
        }
    }
}

/// A call over its tenant's rate limit.
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub decision: Decision,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", self.message)
                .into_response();
        self.decision.apply(response.headers_mut());
        response.headers_mut().insert(header::RETRY_AFTER, self.decision.retry_after.into());
        response
    }
}

/// What DLP did to a result, as the caller reads it: `None` when nothing was redacted.
pub fn redaction_notice(outcome: &Outcome) -> Option<String> {
    let redacted: Vec<String> = outcome
        .events
        .iter()
        .filter(|((_, action), _)| *action == Action::Redact)
        .map(|((kind, _), n)| format!("{} × {n}", kind.as_str()))
        .collect();
    if redacted.is_empty() {
        return None;
    }
    Some(format!(
        "AgentWatch redacted secrets or personal data from this result under your \
         organization's DLP policy: {}. Each is shown as [REDACTED:TYPE].",
        redacted.join(", ")
    ))
}

/// The message of a result refused because it holds a type the caller's policy blocks.
pub fn blocked_message(outcome: &Outcome) -> Option<String> {
    if outcome.blocked.is_empty() {
        return None;
    }
    let kinds: Vec<&str> = outcome.blocked.iter().map(|k| k.as_str()).collect();
    Some(format!(
        "the result holds data your organization's DLP policy blocks ({}); ask for less (a \
         narrower search, other lines), or ask an administrator about the policy",
        kinds.join(", ")
    ))
}

/// The most a REST answer is read into memory to be screened.
const MAX_ANSWER: usize = 64 << 20;

/// Every REST call of an identified caller: admitted under its tenant's rate limit (429 and
/// `Retry-After` when over it, the `X-RateLimit-*` headers on every answer), its JSON answer
/// screened by DLP (redacted values in place, and a `redactions` field and an
/// `X-AgentWatch-Redacted` header saying so; a 403 `dlp_blocked` when it holds a blocked type),
/// then metered as the route it matched (`GET /api/knowledge/search`).
pub async fn govern_rest(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        let message = "the request reached the API unidentified";
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            .into_response();
    };
    let route =
        request.extensions().get::<MatchedPath>().map_or("(unmatched)", MatchedPath::as_str);
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok());
    // Names become metric labels: a method of HTTP's own, or OTHER.
    let method = request.method().as_str();
    let method =
        if gateway::access::KNOWLEDGE_METHODS.contains(&method) { method } else { "OTHER" };
    let tool = format!("{method} {route}");
    let mut call = ToolCall::new(Surface::Rest, tool, request_id.unwrap_or_default().to_owned());
    let decision = match access.admit(&caller, &call).await {
        Ok(decision) => decision,
        Err(refused) => return refused.into_response(),
    };
    // Every route that is not a read changes something, or spends (ask).
    if !request.method().is_safe()
        && let Err(message) = caller.may_change()
    {
        let mut refused =
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response();
        if let Some(decision) = decision {
            decision.apply(refused.headers_mut());
        }
        call.status = StatusCode::FORBIDDEN.as_u16();
        access.meter(&caller, call);
        return refused;
    }
    let (parts, body) = next.run(request).await.into_parts();
    let mut response = match axum::body::to_bytes(body, MAX_ANSWER).await {
        Ok(bytes) if parts.status.is_success() => {
            let mut outcome = Outcome::default();
            let response = screen_answer(&caller, parts, bytes, &mut outcome);
            call.dlp = Some(outcome);
            response
        }
        Ok(bytes) => {
            call.error = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned));
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => {
            let message = format!("the answer could not be read: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message).into_response()
        }
    };
    if let Some(decision) = decision {
        decision.apply(response.headers_mut());
    }
    call.status = response.status().as_u16();
    call.result_bytes = axum::body::HttpBody::size_hint(response.body()).exact().unwrap_or(0);
    access.meter(&caller, call);
    response
}

/// An answer with the caller's DLP policy applied: every string of a JSON answer (any other
/// answer as one text).
fn screen_answer(
    caller: &Caller,
    mut parts: axum::http::response::Parts,
    bytes: axum::body::Bytes,
    outcome: &mut Outcome,
) -> Response {
    let parsed = serde_json::from_slice::<serde_json::Value>(&bytes);
    let json = parsed.is_ok();
    let mut value = parsed.unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into());
    gateway::access::screen_output(&caller.dlp, &mut value, outcome);
    if let Some(message) = blocked_message(outcome) {
        return ApiError::new(StatusCode::FORBIDDEN, "dlp_blocked", message).into_response();
    }
    if outcome.count() == 0 {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    if let Some(notice) = redaction_notice(outcome) {
        let redacted = outcome.events.iter().filter(|((_, action), _)| *action == Action::Redact);
        let by_type: serde_json::Map<String, serde_json::Value> = redacted
            .clone()
            .map(|((kind, _), n)| (kind.as_str().to_owned(), (*n).into()))
            .collect();
        let count: u32 = redacted.map(|(_, n)| n).sum();
        parts.headers.insert("x-agentwatch-redacted", count.into());
        if let serde_json::Value::Object(fields) = &mut value {
            let redactions =
                serde_json::json!({ "count": count, "by_type": by_type, "notice": notice });
            fields.insert("redactions".to_owned(), redactions);
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = match value {
        serde_json::Value::String(text) if !json => text.into_bytes(),
        value => serde_json::to_vec(&value).expect("a JSON value serializes"),
    };
    Response::from_parts(parts, axum::body::Body::from(body))
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
    let code = match error.status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        status if status.is_server_error() => "internal",
        _ => "invalid_request",
    };
    ApiError::new(error.status, code, error.message)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}
