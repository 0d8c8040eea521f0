//! `/v1/chat/completions`, `/v1/embeddings` and `/v1/models`: authenticate the tenant, route the
//! model to its providers, try them in priority order (other keys, other providers, retries with
//! jitter, all within the request's deadline), and relay the answer — streamed as it arrives —
//! while the usage record is made off the response path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Gateway;
use crate::dialect::{StreamTranslator, anthropic, google};
use crate::directory::{Breaker, Endpoint, KeyLease, Upstream};
use crate::error::ApiError;
use crate::secrets::hash_api_key;
use crate::settings::ProviderKind;
use crate::store::{Tenant, UsageRecord, now_ms};
use crate::stream::{Relay, StreamContext};
use crate::usage::tokens;

/// Everything a request's usage record needs besides its outcome.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub request_id: String,
    pub tenant: Arc<Tenant>,
    pub endpoint: &'static str,
    pub model: String,
    pub started: Instant,
    pub created_at_ms: i64,
}

impl RequestContext {
    fn new(headers: &HeaderMap, tenant: Arc<Tenant>, endpoint: &'static str, model: &str) -> Self {
        RequestContext {
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            tenant,
            endpoint,
            model: model.to_owned(),
            started: Instant::now(),
            created_at_ms: now_ms(),
        }
    }

    /// A usage record of this request with no tokens yet.
    pub fn record(&self, status: u16) -> UsageRecord {
        UsageRecord {
            request_id: self.request_id.clone(),
            org_id: self.tenant.org_id,
            tenant_id: Some(self.tenant.id),
            team_id: self.tenant.team_id,
            endpoint: self.endpoint,
            provider_id: None,
            provider: None,
            model: self.model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_source: "provider",
            cost_usd: 0.0,
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: None,
            status,
            error: None,
            streamed: false,
            attempts: 0,
            dlp_events: 0,
            created_at_ms: self.created_at_ms,
        }
    }
}

pub(crate) async fn chat_completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match gateway.authenticate(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let mut request = match json_object(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let model = match required_model(&request) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let ctx = RequestContext::new(&headers, tenant, "chat.completions", &model);
    if request.get("messages").and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
        return gateway.refuse(
            &ctx,
            ApiError::invalid("messages", "`messages` must be a non-empty array of messages"),
        );
    }
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let client_wants_usage = stream
        && request.get("stream_options").and_then(|o| o.get("include_usage"))
            == Some(&Value::Bool(true));
    if stream {
        // Ask for usage in the stream's last chunk; the client gets that chunk only if it asked.
        let options = request.entry("stream_options").or_insert_with(|| json!({}));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }

    let attempt = gateway
        .send_with_failover(&ctx, Endpoint::ChatCompletions, |upstream, model, key| {
            let http = &gateway.inner.http;
            let base = &upstream.provider.base_url;
            match upstream.provider.kind {
                ProviderKind::Anthropic => http
                    .post(format!("{base}/v1/messages"))
                    .header("x-api-key", &key.secret)
                    .header("anthropic-version", anthropic::VERSION)
                    .json(&anthropic::request(&request, model, stream)),
                ProviderKind::Google => http
                    .post(format!("{base}{}", google::path(model, stream)))
                    .header("x-goog-api-key", &key.secret)
                    .json(&google::request(&request)),
                _ => {
                    let mut body = request.clone();
                    body.insert("model".into(), Value::String(model.to_owned()));
                    http.post(format!("{base}/chat/completions"))
                        .bearer_auth(&key.secret)
                        .json(&body)
                }
            }
        })
        .await;
    let sent = match attempt {
        Ok(sent) => sent,
        Err(e) => return gateway.refuse(&ctx, e),
    };

    let kind = sent.upstream.provider.kind;
    if stream {
        let prompt = request.remove("messages").unwrap_or(Value::Null);
        let translator: Option<Box<dyn StreamTranslator>> = match kind {
            ProviderKind::Anthropic => Some(Box::new(anthropic::Stream::new(&model))),
            ProviderKind::Google => Some(Box::new(google::Stream::new(&model))),
            _ => None,
        };
        let relay = Relay::new(
            sent.response,
            translator,
            StreamContext {
                ctx,
                provider_id: sent.upstream.provider.id,
                provider: sent.upstream.provider.name.clone(),
                breaker: Arc::clone(&sent.upstream.breaker),
                lease: sent.lease,
                attempts: sent.attempts,
                client_wants_usage,
                prompt,
                deadline: sent.deadline,
                usage: gateway.inner.usage.clone(),
                prices: gateway.inner.prices.clone(),
            },
        );
        let mut response = Response::new(Body::from_stream(relay.into_stream()));
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        provider_headers(h, &sent.upstream, sent.attempts);
        return response;
    }

    let body = match read_body(sent.response, sent.deadline).await {
        Ok(b) => b,
        Err(e) => {
            sent.upstream.breaker.record_failure();
            return gateway.refuse(&ctx, e);
        }
    };
    drop(sent.lease);
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => match kind {
            ProviderKind::Anthropic => anthropic::response(&v, &model),
            ProviderKind::Google => google::response(&v, &model),
            _ => v,
        },
        Err(_) => {
            return gateway.refuse(
                &ctx,
                ApiError::bad_gateway(format!(
                    "provider {} answered with a body that is not JSON",
                    sent.upstream.provider.name
                )),
            );
        }
    };
    let mut record = ctx.record(200);
    record.provider_id = Some(sent.upstream.provider.id);
    record.provider = Some(sent.upstream.provider.name.clone());
    record.attempts = sent.attempts;
    match usage_of(&parsed) {
        Some((p, c)) => {
            record.prompt_tokens = p;
            record.completion_tokens = c;
            record.cost_usd = gateway.inner.prices.cost(&ctx.model, p, c);
            gateway.inner.usage.record(record);
        }
        None => gateway.inner.usage.record_counting(
            record,
            request.remove("messages").unwrap_or(Value::Null),
            completion_text(&parsed),
            gateway.inner.prices.clone(),
        ),
    }

    // An OpenAI-compatible provider's answer goes out byte for byte; a translated one as built.
    let body = if kind.is_openai_compatible() { body } else { Bytes::from(parsed.to_string()) };
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    provider_headers(h, &sent.upstream, sent.attempts);
    response
}

pub(crate) async fn embeddings(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match gateway.authenticate(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let request = match json_object(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let model = match required_model(&request) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let ctx = RequestContext::new(&headers, tenant, "embeddings", &model);
    if !request.get("input").is_some_and(|i| i.is_string() || i.is_array()) {
        return gateway
            .refuse(&ctx, ApiError::invalid("input", "`input` must be a string or an array"));
    }
    let sent = match gateway
        .send_with_failover(&ctx, Endpoint::Embeddings, |upstream, model, key| {
            let mut body = request.clone();
            body.insert("model".into(), Value::String(model.to_owned()));
            gateway
                .inner
                .http
                .post(format!("{}/embeddings", upstream.provider.base_url))
                .bearer_auth(&key.secret)
                .json(&body)
        })
        .await
    {
        Ok(sent) => sent,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    let body = match read_body(sent.response, sent.deadline).await {
        Ok(b) => b,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut record = ctx.record(200);
    match usage_of(&parsed) {
        Some((p, _)) => record.prompt_tokens = p,
        None => {
            record.prompt_tokens = tokens::count_input(&request["input"]);
            record.tokens_source = "tokenizer";
        }
    }
    record.cost_usd = gateway.inner.prices.cost(&ctx.model, record.prompt_tokens, 0);
    record.provider_id = Some(sent.upstream.provider.id);
    record.provider = Some(sent.upstream.provider.name.clone());
    record.attempts = sent.attempts;
    gateway.inner.usage.record(record);

    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    provider_headers(h, &sent.upstream, sent.attempts);
    response
}

/// `GET /v1/models`: the models of the tenant's organization, from every enabled provider —
/// its model list and aliases, or, for a provider without a list, its own `/models` — cached
/// for 30 seconds.
pub(crate) async fn models(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let tenant = match gateway.authenticate(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let org = tenant.org_id;
    let cached = gateway.inner.models.lock().expect("models cache lock").get(&org).cloned();
    if let Some((at, list)) = cached
        && at.elapsed() < Duration::from_secs(30)
    {
        return axum::Json(list.as_ref().clone()).into_response();
    }
    let directory = gateway.directory();
    let mut data: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for upstream in directory.upstreams(org) {
        let owner = upstream.provider.name.as_str();
        let mut ids: Vec<String> = upstream.provider.aliases.keys().cloned().collect();
        match &upstream.provider.models {
            Some(models) => {
                ids.extend(models.iter().filter(|m| !m.ends_with('*')).cloned());
            }
            None => match gateway.provider_models(upstream).await {
                Ok(listed) => ids.extend(listed),
                Err(e) => tracing::warn!(provider = owner, error = %e, "cannot list models"),
            },
        }
        for id in ids {
            if seen.insert(id.clone()) {
                data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}));
            }
        }
    }
    let list = Arc::new(json!({"object": "list", "data": data}));
    gateway
        .inner
        .models
        .lock()
        .expect("models cache lock")
        .insert(org, (Instant::now(), Arc::clone(&list)));
    axum::Json(list.as_ref().clone()).into_response()
}

/// A response from the provider that will answer, with what it took to get it.
pub(crate) struct Sent {
    pub response: reqwest::Response,
    pub upstream: Arc<Upstream>,
    pub lease: KeyLease,
    pub attempts: u32,
    pub deadline: tokio::time::Instant,
}

/// Why one attempt failed, and whether another provider or key may succeed.
enum Failure {
    /// Try another: the provider is down, slow, or refused this key.
    Retry { detail: String, breaker: bool, retry_after: Option<u64>, rate_limited: bool },
    /// The request itself is at fault: the client gets the provider's answer.
    Final(Response),
}

impl Gateway {
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Tenant>, ApiError> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "no API key: send your tenant key as `Authorization: Bearer <key>` or \
                     `X-Api-Key: <key>`",
                )
            })?;
        let directory = self.directory();
        let tenant = directory
            .tenant(&hash_api_key(key))
            .ok_or_else(|| ApiError::unauthorized("this API key matches no tenant"))?;
        if tenant.status != "active" {
            return Err(ApiError::tenant_not_active(&tenant.status));
        }
        Ok(Arc::clone(tenant))
    }

    /// Records a request that ends in an error, and answers it.
    fn refuse(&self, ctx: &RequestContext, error: ApiError) -> Response {
        let mut record = ctx.record(error.status.as_u16());
        record.error = Some(error.message.clone());
        self.inner.usage.record(record);
        error.into_response()
    }

    /// Sends the request to the providers that serve its model, in priority order: on a
    /// connection failure, a timeout, a 5xx, a 429 or a refused key the next key or provider is
    /// tried; once each was tried, the round starts over after a jittered backoff — as long as
    /// attempts and the deadline allow.
    async fn send_with_failover(
        &self,
        ctx: &RequestContext,
        endpoint: Endpoint,
        build: impl Fn(&Upstream, &str, &crate::store::ProviderKey) -> reqwest::RequestBuilder,
    ) -> Result<Sent, ApiError> {
        let limits = self.inner.limits;
        let deadline = tokio::time::Instant::from_std(ctx.started + limits.request_timeout);
        let candidates = self.directory().candidates(ctx.tenant.org_id, &ctx.model, endpoint);
        if candidates.is_empty() {
            return Err(ApiError::model_not_found(&ctx.model));
        }
        let mut attempts = 0u32;
        let mut failures: Vec<String> = Vec::new();
        let mut last_rate_limit: Option<Option<u64>> = None;
        let mut round = 0u32;
        'rounds: while attempts < limits.max_attempts {
            if round > 0 {
                let backoff = backoff(round);
                if tokio::time::Instant::now() + backoff >= deadline {
                    break;
                }
                tokio::time::sleep(backoff).await;
            }
            round += 1;
            let mut progressed = false;
            for (upstream, model) in &candidates {
                let mut tried_keys = Vec::new();
                loop {
                    if attempts >= limits.max_attempts {
                        break 'rounds;
                    }
                    let Some(permit) = Permit::take(&upstream.breaker) else {
                        failures.push(format!("{}: circuit open", upstream.provider.name));
                        break;
                    };
                    let Some(lease) = upstream.acquire_key(&tried_keys) else {
                        if tried_keys.is_empty() {
                            failures.push(if upstream.keys.is_empty() {
                                format!("{}: no API key configured", upstream.provider.name)
                            } else {
                                format!("{}: every key is at its limit", upstream.provider.name)
                            });
                        }
                        break;
                    };
                    tried_keys.push(lease.key().id);
                    attempts += 1;
                    progressed = true;
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        break 'rounds;
                    }
                    let wait = limits.attempt_timeout.min(deadline - now);
                    let request = build(upstream, model, lease.key());
                    let outcome = match tokio::time::timeout(wait, request.send()).await {
                        Err(_) => Err(Failure::Retry {
                            detail: format!("no answer within {} s", wait.as_secs_f32()),
                            breaker: true,
                            retry_after: None,
                            rate_limited: false,
                        }),
                        Ok(Err(e)) => Err(Failure::Retry {
                            detail: describe(&e),
                            breaker: true,
                            retry_after: None,
                            rate_limited: false,
                        }),
                        Ok(Ok(response)) => classify(response).await,
                    };
                    match outcome {
                        Ok(response) => {
                            permit.success();
                            return Ok(Sent {
                                response,
                                upstream: Arc::clone(upstream),
                                lease,
                                attempts,
                                deadline,
                            });
                        }
                        Err(Failure::Final(response)) => {
                            permit.success();
                            return Err(ApiError::passthrough(response).await);
                        }
                        Err(Failure::Retry { detail, breaker, retry_after, rate_limited }) => {
                            if breaker {
                                permit.failure();
                            }
                            tracing::warn!(
                                provider = %upstream.provider.name,
                                key = %lease.key().hint,
                                %detail,
                                "attempt failed; trying the next key or provider"
                            );
                            last_rate_limit = rate_limited.then_some(retry_after);
                            failures.push(format!("{}: {detail}", upstream.provider.name));
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let detail = summarize(&failures);
        Err(match last_rate_limit {
            Some(retry_after) => ApiError::upstream_rate_limited(retry_after, &detail),
            None => ApiError::bad_gateway(format!(
                "no provider could answer after {attempts} attempt(s): {detail}"
            )),
        })
    }

    /// The model ids a provider lists at its `/models`.
    async fn provider_models(&self, upstream: &Upstream) -> Result<Vec<String>, String> {
        let key = &upstream.keys.first().ok_or("no API key configured")?.key.secret;
        let base = &upstream.provider.base_url;
        let http = &self.inner.http;
        let request = match upstream.provider.kind {
            ProviderKind::Anthropic => http
                .get(format!("{base}/v1/models"))
                .header("x-api-key", key)
                .header("anthropic-version", anthropic::VERSION),
            ProviderKind::Google => {
                http.get(format!("{base}/v1beta/models")).header("x-goog-api-key", key)
            }
            _ => http.get(format!("{base}/models")).bearer_auth(key),
        };
        let response =
            request.timeout(Duration::from_secs(10)).send().await.map_err(|e| describe(&e))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let list: Value = response.json().await.map_err(|e| e.to_string())?;
        let ids = match upstream.provider.kind {
            ProviderKind::Google => list["models"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["name"].as_str())
                .map(|n| n.strip_prefix("models/").unwrap_or(n).to_owned())
                .collect(),
            _ => list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect(),
        };
        Ok(ids)
    }
}

/// A breaker's go-ahead for one attempt. Dropped without a verdict (the client went away), it
/// gives a half-open breaker's trial back.
struct Permit<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl<'a> Permit<'a> {
    fn take(breaker: &'a Breaker) -> Option<Permit<'a>> {
        breaker.allow().then_some(Permit { breaker, settled: false })
    }

    fn success(mut self) {
        self.settled = true;
        self.breaker.record_success();
    }

    fn failure(mut self) {
        self.settled = true;
        self.breaker.record_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release_trial();
        }
    }
}

/// Sorts a provider's answer into success, a reason to try another, or the client's own error.
async fn classify(response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| s.ceil() as u64);
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("error");
    match code {
        429 => Err(Failure::Retry {
            detail: format!("{code} {reason}"),
            breaker: false,
            retry_after,
            rate_limited: true,
        }),
        401 | 403 => Err(Failure::Retry {
            detail: format!("{code} {reason}: the provider refused the gateway's key"),
            breaker: false,
            retry_after: None,
            rate_limited: false,
        }),
        408 | 500..=599 => Err(Failure::Retry {
            detail: format!("{code} {reason}"),
            breaker: true,
            retry_after: None,
            rate_limited: false,
        }),
        _ => Err(Failure::Final(
            Response::builder()
                .status(code)
                .body(Body::from(response.bytes().await.unwrap_or_default()))
                .expect("a status and a body make a response"),
        )),
    }
}

impl ApiError {
    /// The provider's own 4xx for a malformed request, kept when it is OpenAI-shaped.
    async fn passthrough(response: Response) -> ApiError {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = parsed
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(500).collect());
        let mut error =
            ApiError::invalid("", format!("the provider refused the request: {message}"));
        error.param = None;
        error.status = status;
        if status == StatusCode::NOT_FOUND {
            error.code = "model_not_found";
        }
        error
    }
}

/// 100 ms doubled each round, up to 2 s, with ±50% jitter.
fn backoff(round: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << round.min(5)).min(2000) / 2;
    let jitter = u64::from(u16::from_le_bytes(crate::secrets::random_bytes::<2>())) % base.max(1);
    Duration::from_millis(base + jitter)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        format!("request failed: {e}")
    }
}

fn summarize(failures: &[String]) -> String {
    if failures.is_empty() {
        return "no provider was available".to_owned();
    }
    failures.join("; ")
}

/// Reads a non-streamed body within the request's deadline.
async fn read_body(
    response: reqwest::Response,
    deadline: tokio::time::Instant,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout_at(deadline, response.bytes()).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ApiError::bad_gateway(format!("the provider's answer broke off: {e}"))),
        Err(_) => Err(ApiError::bad_gateway("the provider's answer did not finish in time")),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("", "the request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid("", format!("the request body is not valid JSON: {e}"))),
    }
}

fn required_model(request: &Map<String, Value>) -> Result<String, ApiError> {
    match request.get("model").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => Ok(m.to_owned()),
        _ => Err(ApiError::invalid("model", "`model` is required: a model id such as \"gpt-4o\"")),
    }
}

/// The text and tool-call arguments of every choice of a `chat.completion`, to count.
fn completion_text(completion: &Value) -> String {
    let mut text = String::new();
    for choice in completion["choices"].as_array().into_iter().flatten() {
        let message = &choice["message"];
        text.push_str(message["content"].as_str().unwrap_or_default());
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            text.push_str(call["function"]["name"].as_str().unwrap_or_default());
            text.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    text
}

/// `usage.prompt_tokens` and `usage.completion_tokens` of an OpenAI-shaped answer.
pub(crate) fn usage_of(value: &Value) -> Option<(u64, u64)> {
    let usage = value.get("usage")?;
    let prompt = usage.get("prompt_tokens")?.as_u64()?;
    let completion = usage.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0);
    Some((prompt, completion))
}

fn provider_headers(headers: &mut HeaderMap, upstream: &Upstream, attempts: u32) {
    if let Ok(name) = HeaderValue::from_str(&upstream.provider.name) {
        headers.insert("x-agentwatch-provider", name);
    }
    headers.insert("x-agentwatch-attempts", HeaderValue::from(attempts));
}
