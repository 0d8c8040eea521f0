//! Anthropic's Messages API, `POST /v1/messages` and `POST /v1/messages/count_tokens`: what
//! Claude Code and the Anthropic SDKs speak. The tenant's key comes as `x-api-key` (or a bearer
//! token). An Anthropic provider gets the request as it was sent — `cache_control`, thinking
//! blocks, tools, images, documents and beta features intact, with the client's
//! `anthropic-version` and `anthropic-beta` headers; any other provider gets it translated
//! (`dialect::messages`, and on to Gemini's API), and its answer or stream is translated back.
//! Either way it is governed as chat completions are: the tenant's rate limit, DLP on every text
//! field (masked values put back into the answer, streamed or not), budget reservation and
//! settlement, failover across providers and keys (of any kind), and a usage record priced with
//! the model's cache prices. Errors come in Anthropic's error shape.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::Gateway;
use crate::dialect::messages::Chain;
use crate::dialect::{StreamTranslator, anthropic, google, messages as translate};
use crate::directory::{Endpoint, Upstream};
use crate::error::ApiError;
use crate::proxy::{
    MEDIA_TOKENS, RequestContext, Shape, Streaming, WithModel, answered, governed,
    openai_compatible, relayed, whole_answer,
};
use crate::screen::{self, RestoringMessages};
use crate::settings::ProviderKind;
use crate::store::ProviderKey;
use crate::stream::{Restore, Wire};
use crate::usage::tokens;

/// The headers of the client's request that go on to the provider: the API version it was
/// written for, and the beta features it opts into.
const PASSED_ON: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// `POST /v1/messages`.
pub(crate) async fn messages(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = async |ctx, request| complete(&gateway, ctx, request, &headers).await;
    governed(&gateway, &headers, &body, "messages", Shape::Anthropic, handle).await
}

/// `POST /v1/messages/count_tokens`: the provider's count of a request's input tokens, after
/// DLP (what would be sent is what is counted). Free: recorded with no cost, never reserved.
pub(crate) async fn count_tokens(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = async |ctx, request| count(&gateway, ctx, request, &headers).await;
    governed(&gateway, &headers, &body, "messages.count_tokens", Shape::Anthropic, handle).await
}

/// Records a request that ends in `error`, and answers it in Anthropic's shape.
fn refuse(gateway: &Gateway, ctx: &RequestContext, error: ApiError) -> Response {
    gateway.record_refusal(ctx, &error);
    error.into_anthropic_response()
}

/// The checks Anthropic makes, made before anything is spent: `messages` a non-empty array, and
/// for a message `max_tokens` a whole number of at least 1.
fn check(request: &Map<String, Value>, needs_max_tokens: bool) -> Result<(), ApiError> {
    if request.get("messages").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must be a non-empty array of `{\"role\", \"content\"}` messages",
        ));
    }
    if needs_max_tokens {
        match request.get("max_tokens") {
            Some(n) if n.as_u64().is_some_and(|n| n >= 1) => {}
            Some(n) => {
                let message =
                    format!("`max_tokens` must be a whole number of tokens, at least 1; got {n}");
                return Err(ApiError::invalid("max_tokens", message));
            }
            None => {
                return Err(ApiError::invalid(
                    "max_tokens",
                    "`max_tokens` is required: the most tokens the answer may have, at least 1",
                ));
            }
        }
    }
    Ok(())
}

/// The request to each provider: for an Anthropic one, `native` at `path` (`/v1/messages`…) with
/// the provider's model name and key and the client's version and beta headers; for the others,
/// `translated` (the OpenAI chat request) as chat completions, or on to Gemini.
fn upstream_request(
    gateway: &Gateway,
    client: &HeaderMap,
    path: &str,
    native: Map<String, Value>,
    translated: Map<String, Value>,
) -> impl Fn(&Upstream, &str, &ProviderKey) -> reqwest::RequestBuilder {
    let passed: Vec<(&'static str, HeaderValue)> =
        PASSED_ON.iter().filter_map(|name| Some((*name, client.get(*name)?.clone()))).collect();
    let stream = translated.get("stream") == Some(&Value::Bool(true));
    let path = path.to_owned();
    let gateway = gateway.clone();
    move |upstream, model, key| {
        let http = gateway.client_for(upstream);
        let base = &upstream.provider.base_url;
        match upstream.provider.kind {
            ProviderKind::Anthropic => {
                let mut builder =
                    http.post(format!("{base}{path}")).header("x-api-key", &key.secret);
                if !passed.iter().any(|(name, _)| *name == "anthropic-version") {
                    builder = builder.header("anthropic-version", anthropic::VERSION);
                }
                for (name, value) in &passed {
                    builder = builder.header(*name, value.clone());
                }
                builder.json(&WithModel { model, rest: &native })
            }
            ProviderKind::Google => http
                .post(format!("{base}{}", google::path(model, stream)))
                .header("x-goog-api-key", &key.secret)
                .json(&google::request(&translated)),
            _ => openai_compatible(http, upstream, "/chat/completions", model, &key.secret)
                .json(&WithModel { model, rest: &translated }),
        }
    }
}

/// A message, from its first check to its answer.
async fn complete(
    gateway: &Gateway,
    mut ctx: RequestContext,
    mut request: Map<String, Value>,
    headers: &HeaderMap,
) -> Response {
    if let Err(e) = check(&request, true) {
        return refuse(gateway, &ctx, e);
    }
    let screened;
    (request, screened) = screen::off_thread(&ctx, request, screen::messages).await;
    let masks = match gateway.screened(&mut ctx, screened) {
        Ok(masks) => masks,
        Err(e) => return refuse(gateway, &ctx, e),
    };
    if let Err(e) = gateway.reserve(&mut ctx, &mut request, Endpoint::Messages).await {
        return refuse(gateway, &ctx, e);
    }
    // Sent as `WithModel`: the provider's model name first, then the rest as the client wrote it.
    request.remove("model");
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let translated = translate::request(&request, stream);
    let prompt = translated.get("messages").cloned().unwrap_or(Value::Null);
    let build = upstream_request(gateway, headers, "/v1/messages", request, translated);
    let sent = match gateway.send_with_failover(&ctx, Endpoint::Messages, build).await {
        Ok(sent) => sent,
        Err(e) => return refuse(gateway, &ctx, e),
    };
    // Usage and cost are the model the provider served (an alias resolved).
    ctx.model = sent.model.clone();
    let model = ctx.model.clone();
    let kind = sent.upstream.provider.kind;

    if stream {
        let translator: Option<Box<dyn StreamTranslator>> = match kind {
            ProviderKind::Anthropic => None,
            ProviderKind::Google => {
                Some(Box::new(Chain(google::Stream::new(&model), translate::Stream::new(&model))))
            }
            _ => Some(Box::new(translate::Stream::new(&model))),
        };
        let streaming = Streaming {
            wire: Wire::Messages,
            translator,
            client_wants_usage: true,
            prompt,
            restoring: masks.map(|m| Restore::Messages(RestoringMessages::new(m))),
        };
        return relayed(gateway, ctx, sent, streaming);
    }

    let (body, parsed) = match whole_answer(sent.response, sent.deadline, &sent.upstream).await {
        Ok(answer) => answer,
        Err(e) => return refuse(gateway, &ctx, e),
    };
    drop(sent.lease);
    let (mut answer, reported) = match kind {
        ProviderKind::Anthropic => {
            let reported = parsed.get("usage").map(anthropic::tokens);
            (parsed, reported)
        }
        _ => {
            let openai = match kind {
                ProviderKind::Google => google::response(&parsed, &model),
                _ => parsed,
            };
            let reported = crate::proxy::usage_of(&openai);
            (translate::response(&openai, &model), reported)
        }
    };
    let record = ctx.answered_by(&sent.upstream, sent.attempts);
    gateway.inner.usage.settle(
        record,
        reported,
        prompt,
        answer_text(&answer),
        &gateway.inner.prices,
    );
    // An Anthropic provider's answer goes out byte for byte; a translated one, or one with
    // masked values to put back, as built.
    let body = match masks {
        Some(masks) => {
            screen::restore_message(&masks, &mut answer);
            Bytes::from(answer.to_string())
        }
        None if kind == ProviderKind::Anthropic => body,
        None => Bytes::from(answer.to_string()),
    };
    answered(body, &sent.upstream, sent.attempts)
}

/// A count of a message's input tokens, by the provider that would serve it.
async fn count(
    gateway: &Gateway,
    mut ctx: RequestContext,
    mut request: Map<String, Value>,
    headers: &HeaderMap,
) -> Response {
    if let Err(e) = check(&request, false) {
        return refuse(gateway, &ctx, e);
    }
    let screened;
    (request, screened) = screen::off_thread(&ctx, request, screen::messages).await;
    if let Err(e) = gateway.screened(&mut ctx, screened) {
        return refuse(gateway, &ctx, e);
    }
    request.remove("model");
    let (org, directory) = (ctx.tenant.org_id, gateway.directory());
    if directory.candidates(org, &ctx.model, Endpoint::CountTokens).is_empty() {
        if directory.candidates(org, &ctx.model, Endpoint::Messages).is_empty() {
            return refuse(gateway, &ctx, ApiError::model_not_found(&ctx.model));
        }
        return count_here(gateway, &ctx, &request).await;
    }
    let translated = translate::request(&request, false);
    let build =
        upstream_request(gateway, headers, "/v1/messages/count_tokens", request, translated);
    let sent = match gateway.send_with_failover(&ctx, Endpoint::CountTokens, build).await {
        Ok(sent) => sent,
        Err(e) => return refuse(gateway, &ctx, e),
    };
    ctx.model = sent.model.clone();
    let (body, parsed) = match whole_answer(sent.response, sent.deadline, &sent.upstream).await {
        Ok(answer) => answer,
        Err(e) => return refuse(gateway, &ctx, e),
    };
    let counted = parsed.get("input_tokens").and_then(Value::as_u64);
    let Some(input_tokens) = counted else {
        let message = format!(
            "provider {} answered count_tokens without `input_tokens`",
            sent.upstream.provider.name
        );
        return refuse(gateway, &ctx, ApiError::bad_gateway(message));
    };
    let mut record = ctx.answered_by(&sent.upstream, sent.attempts);
    record.prompt_tokens = input_tokens;
    gateway.inner.usage.record(record);
    answered(body, &sent.upstream, sent.attempts)
}

/// The gateway's own count, for a model no Anthropic provider serves: the request as the
/// provider would get it, its messages counted with `o200k_base` as the gateway counts chat
/// usage, its tools as text, each image or file at [`MEDIA_TOKENS`].
async fn count_here(
    gateway: &Gateway,
    ctx: &RequestContext,
    request: &Map<String, Value>,
) -> Response {
    let mut translated = translate::request(request, false);
    let counted = tokio::task::spawn_blocking(move || {
        let media = strip_images(&mut translated["messages"]);
        let tools = translated.get("tools").map_or(0, |t| tokens::count_text(&t.to_string()));
        tokens::count_messages(&translated["messages"]) + tools + media * MEDIA_TOKENS
    })
    .await;
    let input_tokens = match counted {
        Ok(n) => n,
        Err(e) => {
            return refuse(gateway, ctx, ApiError::internal("cannot count the tokens", e));
        }
    };
    let mut record = ctx.record(200);
    record.prompt_tokens = input_tokens;
    record.tokens_source = "tokenizer";
    gateway.inner.usage.record(record);
    let mut response =
        Response::new(Body::from(json!({ "input_tokens": input_tokens }).to_string()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The text of a Messages answer, to count if the provider reports no usage: its text, its
/// thinking, and its tool calls.
fn answer_text(answer: &Value) -> String {
    let mut text = String::new();
    for block in answer["content"].as_array().into_iter().flatten() {
        for field in ["text", "thinking", "name"] {
            text.push_str(block.get(field).and_then(Value::as_str).unwrap_or_default());
        }
        if let Some(input) = block.get("input") {
            text.push_str(&input.to_string());
        }
    }
    text
}

/// An upper bound of a Messages (or Responses) request's prompt tokens: everything it sends, as
/// text, with each inline or linked image at [`MEDIA_TOKENS`] (a document's data is counted as
/// the text it is sent as, which bounds what its pages cost).
pub(crate) fn prompt_bound(request: &Value) -> u64 {
    let mut request = request.clone();
    let images = strip_images(&mut request);
    tokens::count_text(&request.to_string()) + images * MEDIA_TOKENS
}

/// Empties the images in `value` (Anthropic's image blocks, OpenAI's image and file parts): how
/// many there were.
fn strip_images(value: &mut Value) -> u64 {
    match value {
        Value::Object(map) => {
            let kind = map.get("type").and_then(Value::as_str);
            if matches!(kind, Some("image" | "image_url" | "input_image" | "file")) {
                map.retain(|k, _| k == "type");
                return 1;
            }
            map.values_mut().map(strip_images).sum()
        }
        Value::Array(items) => items.iter_mut().map(strip_images).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_image_is_reserved_at_a_fixed_count_however_large_its_data() {
        let image = |data: &str| {
            json!({"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                {"type": "text", "text": "what is in this picture?"},
            ]}]})
        };
        let small = prompt_bound(&image("iVBORw0KGgo="));
        let large = prompt_bound(&image(&"A".repeat(400_000)));
        assert_eq!(small, large);
        assert!(small >= MEDIA_TOKENS, "{small}");
    }

    #[test]
    fn a_message_without_max_tokens_is_refused_as_anthropic_would() {
        let request =
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]});
        let error = check(request.as_object().unwrap(), true).unwrap_err();
        assert_eq!(error.param, Some("max_tokens"));
        assert!(check(request.as_object().unwrap(), false).is_ok(), "count_tokens needs none");
        let empty = json!({"model": "m", "max_tokens": 10, "messages": []});
        assert_eq!(check(empty.as_object().unwrap(), true).unwrap_err().param, Some("messages"));
    }
}
