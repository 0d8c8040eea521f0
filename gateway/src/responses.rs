//! OpenAI's Responses API, `POST /v1/responses`: what Codex and newer OpenAI SDK apps speak. An
//! `openai` provider gets the request as sent (so `previous_response_id`, built-in tools and
//! reasoning items work where it keeps them); any other provider gets it translated to chat
//! (`dialect::responses`, and on to Anthropic's or Gemini's API) and its answer or stream is
//! translated back. What only a provider that keeps responses can serve goes only to one, or is
//! refused with a 400 saying so. Governed as chat completions are: rate limit, DLP on every text
//! field (masked values put back, streamed or not), budget reservation and settlement, failover,
//! and a usage record (`endpoint` `responses`) priced with cache prices.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::Gateway;
use crate::dialect::messages::Chain;
use crate::dialect::{StreamTranslator, anthropic, google, responses as translate};
use crate::directory::{Endpoint, Upstream};
use crate::error::ApiError;
use crate::proxy::{
    RequestContext, Shape, Streaming, WithModel, answered, governed, openai_compatible, relayed,
    whole_answer,
};
use crate::screen::{self, RestoringResponses};
use crate::settings::ProviderKind;
use crate::store::ProviderKey;
use crate::stream::{Restore, Wire};

/// `POST /v1/responses`.
pub(crate) async fn responses(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = async |ctx, request| complete(&gateway, ctx, request).await;
    governed(&gateway, &headers, &body, "responses", Shape::OpenAI, handle).await
}

/// `input` a string or an array of items, `max_output_tokens` a whole number of at least 1.
fn check(request: &Map<String, Value>) -> Result<(), ApiError> {
    match request.get("input") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Array(items)) if !items.is_empty() => {}
        _ => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a non-empty string or a non-empty array of input items",
            ));
        }
    }
    if let Some(n) = request.get("max_output_tokens").filter(|n| !n.is_null())
        && n.as_u64().is_none_or(|n| n < 1)
    {
        let message = format!(
            "`max_output_tokens` must be a whole number of tokens, at least 1, or left out; got {n}"
        );
        return Err(ApiError::invalid("max_output_tokens", message));
    }
    Ok(())
}

/// The request to each provider: the Responses request itself to an `openai` one, the chat
/// request to the others (in Anthropic's or Gemini's shape for theirs).
fn upstream_request(
    gateway: &Gateway,
    native: Map<String, Value>,
    chat: Option<Map<String, Value>>,
    stream: bool,
) -> impl Fn(&Upstream, &str, &ProviderKey) -> reqwest::RequestBuilder {
    let gateway = gateway.clone();
    move |upstream, model, key| {
        let http = gateway.client_for(upstream);
        let base = &upstream.provider.base_url;
        if upstream.provider.kind == ProviderKind::OpenAI {
            return http
                .post(format!("{base}/responses"))
                .bearer_auth(&key.secret)
                .json(&WithModel { model, rest: &native });
        }
        let chat = chat.as_ref().expect("only openai providers are asked without a chat request");
        match upstream.provider.kind {
            ProviderKind::Anthropic => http
                .post(format!("{base}/v1/messages"))
                .header("x-api-key", &key.secret)
                .header("anthropic-version", anthropic::VERSION)
                .json(&anthropic::request(chat, model, stream)),
            ProviderKind::Google => http
                .post(format!("{base}{}", google::path(model, stream)))
                .header("x-goog-api-key", &key.secret)
                .json(&google::request(chat)),
            _ => openai_compatible(http, upstream, "/chat/completions", model, &key.secret)
                .json(&WithModel { model, rest: chat }),
        }
    }
}

/// A response, from its first check to its answer.
async fn complete(
    gateway: &Gateway,
    mut ctx: RequestContext,
    mut request: Map<String, Value>,
) -> Response {
    if let Err(e) = check(&request) {
        return gateway.refuse(&ctx, e);
    }
    let screened;
    (request, screened) = screen::off_thread(&ctx, request, screen::responses).await;
    let masks = match gateway.screened(&mut ctx, screened) {
        Ok(masks) => masks,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    request.remove("model");
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    // What chat providers would be sent; a request only `openai` providers can serve goes to them.
    let (chat, endpoint) = match translate::request(&request, stream) {
        Ok(chat) => (Some(chat), Endpoint::Responses),
        Err((field, message)) => {
            let directory = gateway.directory();
            if directory
                .candidates(ctx.tenant.org_id, &ctx.model, Endpoint::ResponsesNative)
                .is_empty()
                && !directory
                    .candidates(ctx.tenant.org_id, &ctx.model, Endpoint::Responses)
                    .is_empty()
            {
                return gateway.refuse(&ctx, ApiError::invalid(field, message));
            }
            (None, Endpoint::ResponsesNative)
        }
    };
    if let Err(e) = gateway.reserve(&mut ctx, &mut request, endpoint).await {
        return gateway.refuse(&ctx, e);
    }
    // The reservation may have set `max_output_tokens`: the chat request gets it too.
    let chat = chat.and_then(|_| translate::request(&request, stream).ok());
    let prompt = chat.as_ref().and_then(|c| c.get("messages").cloned()).unwrap_or(Value::Null);
    let echo = request.clone();
    let build = upstream_request(gateway, request, chat, stream);
    let sent = match gateway.send_with_failover(&ctx, endpoint, build).await {
        Ok(sent) => sent,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    // Usage and cost are the model the provider served (an alias resolved).
    ctx.model = sent.model.clone();
    let model = ctx.model.clone();
    let kind = sent.upstream.provider.kind;

    if stream {
        let translator: Option<Box<dyn StreamTranslator>> = match kind {
            ProviderKind::OpenAI => None,
            ProviderKind::Anthropic => Some(Box::new(Chain(
                anthropic::Stream::new(&model),
                translate::Stream::new(&model, echo),
            ))),
            ProviderKind::Google => Some(Box::new(Chain(
                google::Stream::new(&model),
                translate::Stream::new(&model, echo),
            ))),
            _ => Some(Box::new(translate::Stream::new(&model, echo))),
        };
        let streaming = Streaming {
            wire: Wire::Responses,
            translator,
            client_wants_usage: true,
            prompt,
            restoring: masks.map(|m| Restore::Responses(RestoringResponses::new(m))),
        };
        return relayed(gateway, ctx, sent, streaming);
    }

    let (body, parsed) = match whole_answer(sent.response, sent.deadline, &sent.upstream).await {
        Ok(answer) => answer,
        Err(e) => return gateway.refuse(&ctx, e),
    };
    drop(sent.lease);
    let (mut answer, reported) = match kind {
        ProviderKind::OpenAI => {
            let reported = parsed.get("usage").and_then(translate::tokens);
            (parsed, reported)
        }
        _ => {
            let chat = match kind {
                ProviderKind::Anthropic => anthropic::response(&parsed, &model),
                ProviderKind::Google => google::response(&parsed, &model),
                _ => parsed,
            };
            let reported = crate::proxy::usage_of(&chat);
            (translate::response(&chat, &model, &echo), reported)
        }
    };
    let record = ctx.answered_by(&sent.upstream, sent.attempts);
    gateway.inner.usage.settle(
        record,
        reported,
        prompt,
        output_text(&answer),
        &gateway.inner.prices,
    );
    // An `openai` provider's answer goes out byte for byte; a translated one, or one with masked
    // values to put back, as built.
    let body = match masks {
        Some(masks) => {
            screen::restore_response(&masks, &mut answer);
            Bytes::from(answer.to_string())
        }
        None if kind == ProviderKind::OpenAI => body,
        None => Bytes::from(answer.to_string()),
    };
    answered(body, &sent.upstream, sent.attempts)
}

/// The text of a response's output, to count if the provider reports no usage.
fn output_text(response: &Value) -> String {
    let mut text = String::new();
    for item in response["output"].as_array().into_iter().flatten() {
        for part in item["content"].as_array().into_iter().flatten() {
            text.push_str(part["text"].as_str().unwrap_or_default());
        }
        for field in ["name", "arguments"] {
            text.push_str(item[field].as_str().unwrap_or_default());
        }
    }
    text
}
