//! `/v1/chat/completions`, `/v1/embeddings` and `/v1/models`: authenticate the tenant, route the
//! model to its providers, try them in priority order (other keys, other providers, retries with
//! jitter, all within the request's deadline), and relay the answer — streamed as it arrives —
//! while the usage record is made off the response path.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Gateway;
use crate::dialect::{StreamTranslator, anthropic, google};
use crate::directory::{Breaker, Endpoint, KeyLease, Upstream};
use crate::error::ApiError;
use crate::pricing::Tokens;
use crate::screen;
use crate::secrets::hash_api_key;
use crate::settings::ProviderKind;
use crate::store::{Tenant, UsageRecord, now_ms};
use crate::stream::{Relay, Restore, StreamContext, Wire};
use crate::usage::tokens;

/// The completion tokens reserved for (and allowed to) a request that sets no `max_tokens`.
const DEFAULT_MAX_OUTPUT: u64 = 16_384;

/// The tokens an image, audio clip or file part is reserved at (a high-detail image is ~1,100).
pub(crate) const MEDIA_TOKENS: u64 = 1_600;

/// An upper bound of a chat request's prompt tokens: its messages counted with `o200k_base`,
/// everything else it sends (tools, schemas, predictions) as text, each media part at
/// [`MEDIA_TOKENS`].
fn prompt_bound(request: &Value) -> u64 {
    let messages = &request["messages"];
    let mut rest = request.clone();
    if let Some(rest) = rest.as_object_mut() {
        rest.remove("messages");
    }
    let media = messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|part| part["type"].as_str().is_some_and(|t| t != "text"))
        .count() as u64;
    tokens::count_messages(messages) + tokens::count_text(&rest.to_string()) + media * MEDIA_TOKENS
}

/// Everything a request's usage record needs besides its outcome.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub request_id: String,
    pub tenant: Arc<Tenant>,
    pub endpoint: &'static str,
    pub model: String,
    pub started: Instant,
    pub created_at_ms: i64,
    /// What is learnt about the request on its way, shared by every copy of the context, so
    /// that whichever record ends it (the answer's, or the 499 of a client that left) carries it.
    pub learnt: Arc<Mutex<Learnt>>,
    /// The request body's size in bytes.
    pub body_len: usize,
    /// The request's span in the GenAI semantic conventions (`gen_ai.*`), a child of the HTTP
    /// request's; it ends when the last of the context's copies and the usage record is done.
    pub span: tracing::Span,
}

/// What DLP did to a request, and the budget reservation its usage record settles.
#[derive(Debug, Default)]
pub(crate) struct Learnt {
    pub dlp_events: u32,
    pub dlp: Option<String>,
    pub reservation: Option<u64>,
}

impl RequestContext {
    fn new(headers: &HeaderMap, tenant: Arc<Tenant>, endpoint: &'static str, model: &str) -> Self {
        let operation = if endpoint == "embeddings" { "embeddings" } else { "chat" };
        let span = tracing::info_span!(
            "gen_ai",
            otel.name = %format!("{operation} {model}"),
            gen_ai.operation.name = operation,
            gen_ai.request.model = model,
            gen_ai.system = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            agentwatch.endpoint = endpoint,
            agentwatch.tenant_id = tenant.id,
            agentwatch.provider = tracing::field::Empty,
            agentwatch.cost_usd = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        RequestContext {
            span,
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
            learnt: Arc::default(),
            body_len: 0,
        }
    }

    /// The usage record of this request answered by `upstream` after `attempts`, its tokens
    /// still to come.
    pub fn answered_by(&self, upstream: &Upstream, attempts: u32) -> UsageRecord {
        let mut record = self.record(200);
        self.span.record("gen_ai.system", upstream.provider.kind.as_str());
        record.provider_id = Some(upstream.provider.id);
        record.provider = Some(upstream.provider.name.clone());
        record.attempts = attempts;
        record
    }

    /// A usage record of this request with no tokens yet.
    pub fn record(&self, status: u16) -> UsageRecord {
        let learnt = self.learnt.lock().expect("request context lock");
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
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            tokens_source: "provider",
            cost_usd: 0.0,
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: None,
            status,
            error: None,
            streamed: false,
            attempts: 0,
            dlp_events: learnt.dlp_events,
            dlp: learnt.dlp.clone(),
            tool: None,
            result_bytes: None,
            reservation: learnt.reservation,
            trace: crate::store::Trace(Some(self.span.clone())),
            created_at_ms: self.created_at_ms,
        }
    }
}

pub(crate) async fn chat_completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = async |ctx, request| complete_chat(&gateway, ctx, request).await;
    governed(&gateway, &headers, &body, "chat.completions", Shape::OpenAI, handle).await
}

/// The API whose error shape a refusal takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    OpenAI,
    Anthropic,
}

impl Shape {
    pub(crate) fn error(self, error: ApiError) -> Response {
        match self {
            Shape::OpenAI => error.into_response(),
            Shape::Anthropic => error.into_anthropic_response(),
        }
    }
}

/// What every `/v1` request goes through before its own handling (`handle`): the tenant's key,
/// its rate limit — whose headers go on every answer to the tenant, a refusal of a malformed
/// request too — a JSON body naming a model, and the record of a client that leaves before the
/// answer. Refusals come in `shape`.
pub(crate) async fn governed(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: &'static str,
    shape: Shape,
    handle: impl AsyncFnOnce(RequestContext, Map<String, Value>) -> Response,
) -> Response {
    let tenant = match gateway.authenticate(headers) {
        Ok(t) => t,
        Err(e) => return shape.error(e),
    };
    let limit = match gateway.take_token(&tenant).await {
        Ok(limit) => limit,
        Err(e) => return shape.error(e),
    };
    let mut response = match gateway.admit(tenant, headers, body, endpoint) {
        Err(e) => shape.error(e),
        Ok((ctx, _)) if !limit.allowed => {
            let refusal = limit.refusal();
            gateway.record_refusal(&ctx, &refusal);
            shape.error(refusal)
        }
        Ok((ctx, request)) => {
            let unanswered = Unanswered::watch(gateway, &ctx);
            let response = handle(ctx, request).await;
            unanswered.answered();
            response
        }
    };
    limit.apply(response.headers_mut());
    response
}

/// The response that relays a provider's stream to the client as `streaming` says, making the
/// usage record when it ends.
pub(crate) fn relayed(
    gateway: &Gateway,
    ctx: RequestContext,
    sent: Sent,
    streaming: Streaming,
) -> Response {
    let Streaming { wire, translator, client_wants_usage, prompt, restoring } = streaming;
    let relay = Relay::new(
        sent.response,
        translator,
        StreamContext {
            ctx,
            wire,
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
            restoring,
        },
    );
    let mut response = Response::new(relay.into_body());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    provider_headers(h, &sent.upstream, sent.attempts);
    response
}

/// How a stream is relayed: in which API, translated by what, with what to count and restore.
pub(crate) struct Streaming {
    pub wire: Wire,
    pub translator: Option<Box<dyn StreamTranslator>>,
    /// Whether the client asked for the usage chunk (chat completions' `include_usage`).
    pub client_wants_usage: bool,
    /// The request's messages, to count prompt tokens if the provider reports none.
    pub prompt: Value,
    pub restoring: Option<Restore>,
}

/// A provider's whole answer: its bytes, and their JSON. `Err`: the body broke off (counted
/// against the provider) or is not JSON.
pub(crate) async fn whole_answer(
    response: reqwest::Response,
    deadline: tokio::time::Instant,
    upstream: &Upstream,
) -> Result<(Bytes, Value), ApiError> {
    let body = read_body(response, deadline).await.inspect_err(|_| {
        upstream.breaker.record_failure();
    })?;
    let parsed = serde_json::from_slice(&body).map_err(|_| {
        let name = &upstream.provider.name;
        ApiError::bad_gateway(format!("provider {name} answered with a body that is not JSON"))
    })?;
    Ok((body, parsed))
}

/// A whole JSON answer from `upstream`, after `attempts`.
pub(crate) fn answered(body: Bytes, upstream: &Upstream, attempts: u32) -> Response {
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    provider_headers(h, upstream, attempts);
    response
}

/// A chat request, from its first check to its answer.
async fn complete_chat(
    gateway: &Gateway,
    mut ctx: RequestContext,
    mut request: Map<String, Value>,
) -> Response {
    let model = ctx.model.clone();
    if request.get("messages").and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
        return gateway.refuse(
            &ctx,
            ApiError::invalid("messages", "`messages` must be a non-empty array of messages"),
        );
    }
    if let Err((field, message)) = crate::dialect::output_limit(&request) {
        return gateway.refuse(&ctx, ApiError::invalid(field, message));
    }
    if let Some(n) = request.get("n")
        && n.as_u64().is_none_or(|n| n < 1)
    {
        let message =
            format!("`n` must be a whole number of choices, at least 1, or left out; got {n}");
        return gateway.refuse(&ctx, ApiError::invalid("n", message));
    }
    let screened;
    (request, screened) = screen::off_thread(&ctx, request, screen::chat).await;
    let masks = match gateway.screened(&mut ctx, screened) {
        Ok(masks) => masks,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    if let Err(e) = gateway.reserve(&mut ctx, &mut request, Endpoint::ChatCompletions).await {
        return gateway.refuse(&ctx, e);
    }
    // Sent as `WithModel`: the provider's model name first, then the rest as the client wrote it.
    request.remove("model");
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
            let http = gateway.client_for(upstream);
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
                _ => openai_compatible(http, upstream, "/chat/completions", model, &key.secret)
                    .json(&WithModel { model, rest: &request }),
            }
        })
        .await;
    let sent = match attempt {
        Ok(sent) => sent,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    // Usage and cost are the model the provider served (an alias resolved).
    ctx.model = sent.model.clone();

    let kind = sent.upstream.provider.kind;
    if stream {
        let prompt = request.remove("messages").unwrap_or(Value::Null);
        let translator: Option<Box<dyn StreamTranslator>> = match kind {
            ProviderKind::Anthropic => Some(Box::new(anthropic::Stream::new(&model))),
            ProviderKind::Google => Some(Box::new(google::Stream::new(&model))),
            _ => None,
        };
        let streaming = Streaming {
            wire: Wire::Chat,
            translator,
            client_wants_usage,
            prompt,
            restoring: masks.map(|m| Restore::Chat(screen::Restoring::new(m))),
        };
        return relayed(gateway, ctx, sent, streaming);
    }

    let (body, parsed) = match whole_answer(sent.response, sent.deadline, &sent.upstream).await {
        Ok(answer) => answer,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    drop(sent.lease);
    let mut parsed = match kind {
        ProviderKind::Anthropic => anthropic::response(&parsed, &model),
        ProviderKind::Google => google::response(&parsed, &model),
        _ => parsed,
    };
    let record = ctx.answered_by(&sent.upstream, sent.attempts);
    gateway.inner.usage.settle(
        record,
        usage_of(&parsed),
        request.remove("messages").unwrap_or(Value::Null),
        completion_text(&parsed),
        &gateway.inner.prices,
    );

    // An OpenAI-compatible provider's answer goes out byte for byte; a translated one, or one
    // with masked values to put back, as built.
    let body = match masks {
        Some(masks) => {
            screen::restore_answer(&masks, &mut parsed);
            Bytes::from(parsed.to_string())
        }
        None if kind.is_openai_compatible() => body,
        None => Bytes::from(parsed.to_string()),
    };
    answered(body, &sent.upstream, sent.attempts)
}

pub(crate) async fn embeddings(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = async |ctx, request| complete_embeddings(&gateway, ctx, request).await;
    governed(&gateway, &headers, &body, "embeddings", Shape::OpenAI, handle).await
}

/// An embeddings request, from its first check to its answer.
async fn complete_embeddings(
    gateway: &Gateway,
    mut ctx: RequestContext,
    mut request: Map<String, Value>,
) -> Response {
    if !request.get("input").is_some_and(|i| i.is_string() || i.is_array()) {
        return gateway
            .refuse(&ctx, ApiError::invalid("input", "`input` must be a string or an array"));
    }
    let screened;
    (request, screened) = screen::off_thread(&ctx, request, screen::embeddings).await;
    if let Err(e) = gateway.screened(&mut ctx, screened) {
        return gateway.refuse(&ctx, e);
    }
    if let Err(e) = gateway.reserve(&mut ctx, &mut request, Endpoint::Embeddings).await {
        return gateway.refuse(&ctx, e);
    }
    request.remove("model");
    let sent = match gateway
        .send_with_failover(&ctx, Endpoint::Embeddings, |upstream, model, key| {
            let http = gateway.client_for(upstream);
            openai_compatible(http, upstream, "/embeddings", model, &key.secret)
                .json(&WithModel { model, rest: &request })
        })
        .await
    {
        Ok(sent) => sent,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    ctx.model = sent.model.clone();
    let body = match read_body(sent.response, sent.deadline).await {
        Ok(b) => b,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut record = ctx.answered_by(&sent.upstream, sent.attempts);
    match usage_of(&parsed) {
        Some(tokens) => record.prompt_tokens = tokens.prompt,
        None => {
            record.prompt_tokens = tokens::count_input(&request["input"]);
            record.tokens_source = "tokenizer";
        }
    }
    record.cost_usd = gateway.inner.prices.cost(&ctx.model, &Tokens::new(record.prompt_tokens, 0));
    gateway.inner.usage.record(record);
    answered(body, &sent.upstream, sent.attempts)
}

/// `GET /v1/models`: the models of the tenant's organization, from every enabled provider —
/// its model list and aliases, or, for a provider without a list, its own `/models` — cached
/// for 30 seconds.
pub(crate) async fn models(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let tenant = match gateway.authenticate(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let limit = match gateway.take_token(&tenant).await {
        Ok(limit) => limit,
        Err(e) => return e.into_response(),
    };
    let mut response = if limit.allowed {
        list_models(&gateway, tenant.org_id).await
    } else {
        limit.refusal().into_response()
    };
    limit.apply(response.headers_mut());
    response
}

/// The models an organization's providers serve, from the cache when it is fresh.
async fn list_models(gateway: &Gateway, org: i64) -> Response {
    let cached = gateway.inner.models.lock().expect("models cache lock").get(&org).cloned();
    if let Some((at, list)) = cached
        && at.elapsed() < Duration::from_secs(30)
    {
        gateway.inner.metrics.models_cache("hit");
        return axum::Json(list.as_ref().clone()).into_response();
    }
    gateway.inner.metrics.models_cache("miss");
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

/// An OpenAI request body with the provider's model name, serialized without copying the rest.
#[derive(serde::Serialize)]
pub(crate) struct WithModel<'a> {
    pub model: &'a str,
    #[serde(flatten)]
    pub rest: &'a Map<String, Value>,
}

/// Records a request whose client left before it was answered (the handler's future dropped),
/// so that no request goes unaccounted.
pub(crate) struct Unanswered {
    pending: Option<(RequestContext, crate::usage::UsageSink)>,
}

impl Unanswered {
    pub(crate) fn watch(gateway: &Gateway, ctx: &RequestContext) -> Unanswered {
        Unanswered { pending: Some((ctx.clone(), gateway.inner.usage.clone())) }
    }

    pub(crate) fn answered(mut self) {
        self.pending = None;
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((ctx, usage)) = self.pending.take() {
            // Built now, so that it carries what was learnt since (its budget reservation).
            let mut record = ctx.record(499);
            record.error = Some("the client left before the answer".to_owned());
            usage.record(record);
        }
    }
}

/// A response from the provider that will answer, with what it took to get it.
pub(crate) struct Sent {
    pub response: reqwest::Response,
    pub upstream: Arc<Upstream>,
    /// The model the provider was asked for (an alias resolved).
    pub model: String,
    pub lease: KeyLease,
    pub attempts: u32,
    pub deadline: tokio::time::Instant,
}

/// Why one attempt failed, and what to try next.
enum Failure {
    /// The provider is down or slow: it counts against its breaker; the next provider is tried.
    Down(String),
    /// This key is rate-limited or refused: the provider's next key, then the next provider.
    /// Carries what the client gets if nothing else answers.
    Key(String, Option<ApiError>),
    /// The provider does not know the model: the next provider.
    NotFound(ApiError),
    /// The request itself is at fault: the client gets the provider's answer.
    Final(ApiError),
}

impl Gateway {
    /// A `/v1` request's tenant, body and model; errors here are not any tenant's usage.
    pub(crate) fn admit(
        &self,
        tenant: Arc<Tenant>,
        headers: &HeaderMap,
        body: &[u8],
        endpoint: &'static str,
    ) -> Result<(RequestContext, Map<String, Value>), ApiError> {
        let request = json_object(body)?;
        let model = required_model(&request)?;
        let mut ctx = RequestContext::new(headers, tenant, endpoint, &model);
        ctx.body_len = body.len();
        Ok((ctx, request))
    }

    /// Takes one request from the tenant's rate limits: the decision, whose headers go on the
    /// answer whatever it is (`Err`: the limits are in Redis and it does not answer).
    pub(crate) async fn take_token(
        &self,
        tenant: &Tenant,
    ) -> Result<crate::ratelimit::Decision, ApiError> {
        let bucket = crate::ratelimit::Bucket {
            burst: tenant.rate_burst.map_or(self.inner.bucket.burst, f64::from),
            refill_per_sec: tenant.rate_refill.unwrap_or(self.inner.bucket.refill_per_sec),
        };
        self.inner.rates.check(tenant.id, bucket, tenant.rate_limit).await
    }

    /// A key of `upstream` under its limits, skipping `tried`, counted where the gateway keeps
    /// its counters. `Err` when shared counters do not answer.
    async fn lease_key(
        &self,
        upstream: &Upstream,
        tried: &[i64],
    ) -> Result<Option<KeyLease>, ApiError> {
        upstream.lease_key(tried, &self.inner.counters, self.inner.limits.hold_for()).await
    }

    /// Reserves the request's largest possible cost against its tenant's and team's budgets
    /// (none to reserve when they have none): the prompt's tokens (counted with `o200k_base`,
    /// plus a margin for providers whose tokenizers count more), the most it may generate
    /// (`max_completion_tokens` or `max_tokens`, else [`DEFAULT_MAX_OUTPUT`], times `n`), at the
    /// dearest price among the providers that could serve it.
    pub(crate) async fn reserve(
        &self,
        ctx: &mut RequestContext,
        request: &mut Map<String, Value>,
        endpoint: Endpoint,
    ) -> Result<(), ApiError> {
        let limits = crate::budget::Limits::of(&ctx.tenant);
        if limits.is_empty() {
            return Ok(());
        }
        let (prompt, completion) = match endpoint {
            Endpoint::ChatCompletions => {
                let whole = Value::Object(request.clone());
                let prompt = tokio::task::spawn_blocking(move || prompt_bound(&whole))
                    .await
                    .map_err(|e| ApiError::internal("cannot count the prompt's tokens", e))?;
                let asked = crate::dialect::max_tokens(request);
                // Without a limit of its own the request gets the one it was reserved for, so
                // that its cost cannot outgrow the reservation.
                let max = asked.unwrap_or_else(|| {
                    request.insert("max_completion_tokens".into(), json!(DEFAULT_MAX_OUTPUT));
                    DEFAULT_MAX_OUTPUT
                });
                let n = request.get("n").and_then(Value::as_u64).unwrap_or(1).max(1);
                (prompt, max.saturating_mul(n))
            }
            Endpoint::Messages | Endpoint::CountTokens => {
                let whole = Value::Object(request.clone());
                let prompt =
                    tokio::task::spawn_blocking(move || crate::messages::prompt_bound(&whole))
                        .await
                        .map_err(|e| ApiError::internal("cannot count the prompt's tokens", e))?;
                // Anthropic requires `max_tokens` (checked on arrival); thinking is within it.
                (prompt, request.get("max_tokens").and_then(Value::as_u64).unwrap_or(0))
            }
            Endpoint::Responses | Endpoint::ResponsesNative => {
                let whole = Value::Object(request.clone());
                let prompt =
                    tokio::task::spawn_blocking(move || crate::messages::prompt_bound(&whole))
                        .await
                        .map_err(|e| ApiError::internal("cannot count the prompt's tokens", e))?;
                let asked = request.get("max_output_tokens").and_then(Value::as_u64);
                let max = asked.unwrap_or_else(|| {
                    request.insert("max_output_tokens".into(), json!(DEFAULT_MAX_OUTPUT));
                    DEFAULT_MAX_OUTPUT
                });
                (prompt, max)
            }
            Endpoint::Embeddings => {
                let input = request.get("input").cloned().unwrap_or(Value::Null);
                let prompt = tokio::task::spawn_blocking(move || tokens::count_input(&input))
                    .await
                    .map_err(|e| ApiError::internal("cannot count the input's tokens", e))?;
                (prompt, 0)
            }
        };
        // Other vendors' tokenizers count differently: a quarter more, and a little for overhead.
        let prompt = prompt + prompt / 4 + 32;
        let prices = &self.inner.prices;
        let candidates = self.directory().candidates(ctx.tenant.org_id, &ctx.model, endpoint);
        if let Some((_, unpriced)) =
            candidates.iter().find(|(_, served)| prices.get(served).is_none())
        {
            // A cost that cannot be counted cannot be held to a budget.
            return Err(ApiError::unpriced(unpriced));
        }
        let cost = candidates
            .iter()
            .map(|(_, served)| prices.most(served, prompt, completion))
            .fold(0.0, f64::max);
        let reservation = self.inner.budgets.reserve(&limits, cost).await?;
        ctx.learnt.lock().expect("request context lock").reservation = reservation;
        Ok(())
    }

    /// Takes what DLP did to a request into its context and metrics: the 400 when a blocked
    /// type was in it, or else the masks to put back into the answer, if any.
    pub(crate) fn screened(
        &self,
        ctx: &mut RequestContext,
        outcome: crate::dlp::guard::Outcome,
    ) -> Result<Option<crate::dlp::guard::Masks>, ApiError> {
        for ((kind, action), n) in &outcome.events {
            self.inner.metrics.dlp(*kind, *action, *n);
        }
        let mut learnt = ctx.learnt.lock().expect("request context lock");
        learnt.dlp_events = outcome.count();
        learnt.dlp = outcome.detail();
        drop(learnt);
        if let Some(error) = screen::blocked(&outcome) {
            return Err(error);
        }
        Ok((!outcome.masks.is_empty()).then_some(outcome.masks))
    }

    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Tenant>, ApiError> {
        let key = crate::secrets::presented(headers).ok_or_else(|| {
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
    pub(crate) fn refuse(&self, ctx: &RequestContext, error: ApiError) -> Response {
        self.record_refusal(ctx, &error);
        error.into_response()
    }

    /// Records a request that ends in `error`.
    pub(crate) fn record_refusal(&self, ctx: &RequestContext, error: &ApiError) {
        let mut record = ctx.record(error.status.as_u16());
        record.error = Some(error.message.clone());
        self.inner.usage.record(record);
    }

    /// Sends the request to the providers that serve its model, in priority order. A provider
    /// that is down (connection failure, timeout, 5xx) counts against its breaker and the next
    /// provider is tried; a key that is rate-limited or refused gives way to the provider's next
    /// key; a provider that does not know the model gives way to the next provider. Once each was
    /// tried, the round starts over after a jittered backoff, within `max_attempts` and the
    /// deadline.
    pub(crate) async fn send_with_failover(
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
        // What the client gets if every attempt fails: the last refusal that is not an outage.
        let mut verdict: Option<ApiError> = None;
        let mut saturated = false;
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
                let name = &upstream.provider.name;
                let mut tried_keys = Vec::new();
                loop {
                    if attempts >= limits.max_attempts {
                        break 'rounds;
                    }
                    let Some(permit) = Permit::take(&upstream.breaker) else {
                        failures.push(format!("{name}: circuit open"));
                        break;
                    };
                    let Some(lease) = self.lease_key(upstream, &tried_keys).await? else {
                        if tried_keys.is_empty() {
                            saturated |= !upstream.keys.is_empty();
                            failures.push(if upstream.keys.is_empty() {
                                format!("{name}: no API key configured")
                            } else {
                                format!("{name}: every key is at its limit")
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
                    let attempt = tracing::info_span!(
                        parent: &ctx.span,
                        "provider attempt",
                        otel.name = %format!("{} {model}", endpoint.operation()),
                        otel.kind = "client",
                        gen_ai.operation.name = endpoint.operation(),
                        gen_ai.system = upstream.provider.kind.as_str(),
                        gen_ai.request.model = model.as_str(),
                        agentwatch.provider = name.as_str(),
                        agentwatch.attempt = attempts,
                        error.type = tracing::field::Empty,
                    );
                    let request = crate::telemetry::with_trace_context(
                        build(upstream, model, lease.key()),
                        &attempt,
                    );
                    let sent = tracing::Instrument::instrument(request.send(), attempt.clone());
                    let outcome = match tokio::time::timeout(wait, sent).await {
                        Err(_) => {
                            Err(Failure::Down(format!("no answer within {} s", wait.as_secs_f32())))
                        }
                        Ok(Err(e)) => Err(Failure::Down(describe(&e))),
                        Ok(Ok(response)) => classify(response, deadline).await,
                    };
                    match outcome {
                        Ok(response) => {
                            permit.success();
                            return Ok(Sent {
                                response,
                                upstream: Arc::clone(upstream),
                                model: model.clone(),
                                lease,
                                attempts,
                                deadline,
                            });
                        }
                        Err(Failure::Final(error)) => {
                            permit.success();
                            return Err(error);
                        }
                        Err(Failure::Down(detail)) => {
                            attempt.record("error.type", "provider_down");
                            permit.failure();
                            tracing::warn!(provider = %name, %detail, "provider failed; trying the next");
                            failures.push(format!("{name}: {detail}"));
                            verdict = None;
                            break;
                        }
                        Err(Failure::NotFound(error)) => {
                            permit.success();
                            failures.push(format!("{name}: {}", error.message));
                            verdict = Some(error);
                            break;
                        }
                        Err(Failure::Key(detail, error)) => {
                            drop(permit);
                            tracing::warn!(
                                provider = %name,
                                key = %lease.key().hint,
                                %detail,
                                "key refused; trying the next key or provider"
                            );
                            failures.push(format!("{name}: {detail}"));
                            verdict = error;
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let detail = summarize(&failures);
        Err(match verdict {
            Some(error) => error,
            None if attempts == 0 && saturated => ApiError::saturated(&detail),
            None => ApiError::bad_gateway(format!(
                "no provider could answer after {attempts} attempt(s): {detail}"
            )),
        })
    }

    /// The model ids a provider lists at its `/models`.
    pub(crate) async fn provider_models(&self, upstream: &Upstream) -> Result<Vec<String>, String> {
        let key = &upstream.keys.first().ok_or("no API key configured")?.key.secret;
        let base = &upstream.provider.base_url;
        let http = self.client_for(upstream);
        let request = match upstream.provider.kind {
            ProviderKind::Anthropic => http
                .get(format!("{base}/v1/models"))
                .header("x-api-key", key)
                .header("anthropic-version", anthropic::VERSION),
            ProviderKind::Google => {
                http.get(format!("{base}/v1beta/models")).header("x-goog-api-key", key)
            }
            ProviderKind::Azure if upstream.provider.azure_deployments() => {
                // The deployments API lists no deployments: its models are the config's.
                return Err(
                    "an Azure deployments provider lists its deployments in `models`".into()
                );
            }
            ProviderKind::Azure => http.get(format!("{base}/models")).header("api-key", key),
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

/// The Azure OpenAI API version its deployments API is asked for: the latest GA one.
pub(crate) const AZURE_API_VERSION: &str = "2024-10-21";

/// A POST to an OpenAI-compatible provider's `path` (`/chat/completions`, `/embeddings`) for
/// `model`, with `key`. Azure's deployments API takes the model as the deployment in the URL,
/// with its API version, and the key as `api-key`; its v1 API (a base URL ending in
/// `/openai/v1`) takes OpenAI's URLs and `api-key`; every other provider OpenAI's URLs and a
/// bearer token.
pub(crate) fn openai_compatible(
    http: &reqwest::Client,
    upstream: &Upstream,
    path: &str,
    model: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    let base = &upstream.provider.base_url;
    match upstream.provider.kind {
        // `Upstream::serves` lets only a model safe in a URL path reach here.
        ProviderKind::Azure if upstream.provider.azure_deployments() => http
            .post(format!(
                "{base}/openai/deployments/{model}{path}?api-version={AZURE_API_VERSION}"
            ))
            .header("api-key", key),
        ProviderKind::Azure => http.post(format!("{base}{path}")).header("api-key", key),
        _ => http.post(format!("{base}{path}")).bearer_auth(key),
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

/// Sorts a provider's answer into success, a reason to try another key or provider, or the
/// client's own error (whose body is read within the deadline).
async fn classify(
    response: reqwest::Response,
    deadline: tokio::time::Instant,
) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("error");
    if code == 408 || code >= 500 {
        return Err(Failure::Down(format!("{code} {reason}")));
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| s.ceil() as u64);
    let body = match tokio::time::timeout_at(deadline, response.bytes()).await {
        Ok(Ok(body)) => body,
        _ => Bytes::new(),
    };
    let message = provider_message(&body);
    Err(match code {
        429 => Failure::Key(
            format!("{code} {reason}"),
            Some(ApiError::upstream_rate_limited(retry_after, &message)),
        ),
        401 | 403 => {
            Failure::Key(format!("{code} {reason}: the provider refused the gateway's key"), None)
        }
        404 => Failure::NotFound(ApiError::refused_by_provider(status, &message)),
        _ => Failure::Final(ApiError::refused_by_provider(status, &message)),
    })
}

/// The `error.message` of a provider's error body (OpenAI, Anthropic and Gemini all use it), or
/// the start of the body.
fn provider_message(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect())
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
pub(crate) async fn read_body(
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

/// The tokens in the `usage` of an OpenAI-shaped answer or chunk, cache reads and writes included.
pub(crate) fn usage_of(value: &Value) -> Option<Tokens> {
    crate::dialect::tokens_of(value.get("usage")?)
}

pub(crate) fn provider_headers(headers: &mut HeaderMap, upstream: &Upstream, attempts: u32) {
    if let Ok(name) = HeaderValue::from_str(&upstream.provider.name) {
        headers.insert("x-agentwatch-provider", name);
    }
    headers.insert("x-agentwatch-attempts", HeaderValue::from(attempts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_whose_client_left_is_recorded_as_499() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage::testing::open(dir.path()).await;
        let gateway = Gateway::open(&Default::default(), dir.path(), &storage).await.unwrap();
        let tenant = Arc::new(Tenant {
            id: 7,
            org_id: 1,
            team_id: None,
            name: "t".into(),
            status: "active".into(),
            daily_budget: None,
            monthly_budget: None,
            rate_limit: None,
            team_budgets: (None, None),
            rate_burst: None,
            rate_refill: None,
            dlp_policy: None,
            dlp: Arc::new(crate::dlp::policy::Policy::builtin()),
        });
        let ctx = RequestContext::new(&HeaderMap::new(), tenant, "chat.completions", "gpt-4o");
        let answered = Unanswered::watch(&gateway, &ctx);
        answered.answered();
        // The handler's future is dropped mid-request: its guard goes with it — and its record
        // carries what the request learnt after the guard was set, so its budget reservation is
        // settled, not leaked.
        let guard = Unanswered::watch(&gateway, &ctx);
        let limits = crate::budget::Limits {
            limits: vec![(crate::budget::Scope::Tenant(7), crate::budget::Period::Daily, 1.0)],
        };
        let reservation = gateway.inner.budgets.reserve(&limits, 0.75).await.unwrap();
        ctx.learnt.lock().unwrap().reservation = reservation;
        drop(guard);
        gateway.shutdown().await;

        let usage = gateway.store().recent_usage(10).await.unwrap();
        assert_eq!(usage.len(), 1, "an answered request is recorded by its handler, not the guard");
        assert_eq!((usage[0].status, usage[0].tenant_id), (499, Some(7)));
        let held = gateway
            .inner
            .budgets
            .position(crate::budget::Scope::Tenant(7), crate::budget::Period::Daily)
            .await
            .unwrap();
        assert_eq!(held, (0.0, 0.0), "the reservation was released");
    }
}
