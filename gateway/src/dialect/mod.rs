//! Translation between OpenAI's Chat Completions and the providers that speak another API:
//! Anthropic's Messages API and Google's Gemini `generateContent`. Requests go out in the
//! provider's shape; answers, stream events, tool calls, finish reasons and usage come back in
//! OpenAI's. OpenAI-compatible providers need none of this: their traffic passes through.

pub mod anthropic;
pub mod google;
pub mod messages;
pub mod responses;

use serde_json::{Map, Value, json};

use crate::pricing::Tokens;

/// Turns one provider stream event into OpenAI chunk payloads (`data:` values, `[DONE]`
/// included).
pub trait StreamTranslator: Send {
    /// One event's `data`, already parsed.
    fn event(&mut self, data: &Value) -> Vec<String>;
    /// The provider's stream ended; what is still owed to the client.
    fn finish(&mut self) -> Vec<String>;
}

/// What every chunk of one translated stream carries: its id, model and creation time.
#[derive(Debug)]
pub(crate) struct Chunks {
    pub id: String,
    pub model: String,
    created: i64,
}

impl Chunks {
    pub fn new(id: String, model: &str) -> Chunks {
        Chunks { id, model: model.to_owned(), created: now_secs() }
    }

    /// A `chat.completion.chunk` with one choice.
    pub fn delta(&self, delta: Value, finish: Option<&str>) -> String {
        self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": finish}]), None)
    }

    /// The usage-only last chunk that `stream_options.include_usage` asks for.
    pub fn usage(&self, tokens: &Tokens) -> String {
        self.chunk(json!([]), Some(usage(tokens)))
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        chunk.to_string()
    }
}

/// OpenAI's `usage` object. Cache reads are `prompt_tokens_details.cached_tokens`, as OpenAI
/// reports them; cache writes, which OpenAI has no field for, `cache_creation_input_tokens` (as
/// LiteLLM reports them).
pub(crate) fn usage(tokens: &Tokens) -> Value {
    let mut usage = json!({
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.completion,
        "total_tokens": tokens.prompt + tokens.completion,
    });
    if tokens.cache_read > 0 {
        usage["prompt_tokens_details"] = json!({"cached_tokens": tokens.cache_read});
    }
    if tokens.cache_write > 0 {
        usage["cache_creation_input_tokens"] = json!(tokens.cache_write);
    }
    usage
}

/// The tokens of an OpenAI-shaped `usage` object: what [`usage`] writes, and what
/// OpenAI-compatible providers send.
pub(crate) fn tokens_of(usage: &Value) -> Option<Tokens> {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Some(Tokens {
        prompt: usage.get("prompt_tokens")?.as_u64()?,
        completion: count("/completion_tokens"),
        cache_read: count("/prompt_tokens_details/cached_tokens"),
        cache_write: count("/cache_creation_input_tokens"),
    })
}

/// The text of an OpenAI message's `content`: a string, or the text of its parts.
pub(crate) fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `stop` as a list: OpenAI takes a string or an array.
pub(crate) fn stop_sequences(request: &Map<String, Value>) -> Option<Value> {
    match request.get("stop")? {
        Value::String(s) => Some(json!([s])),
        Value::Array(a) if !a.is_empty() => Some(Value::Array(a.clone())),
        _ => None,
    }
}

/// The most a chat request may generate: `max_completion_tokens`, or the older `max_tokens`.
/// The one reading of it, for the budget's reservation and for every provider's translation, so
/// that a request is never allowed more than it was reserved for. Checked on arrival
/// ([`output_limit`]), so this cannot meet a malformed one.
pub(crate) fn max_tokens(request: &Map<String, Value>) -> Option<u64> {
    output_limit(request).ok().flatten()
}

/// `max_completion_tokens` or `max_tokens`, each a whole number of at least 1 when present;
/// both present must agree. `Err` names the field and what is wrong with it.
pub(crate) fn output_limit(
    request: &Map<String, Value>,
) -> Result<Option<u64>, (&'static str, String)> {
    let mut limit = None;
    for field in ["max_completion_tokens", "max_tokens"] {
        let Some(value) = request.get(field) else { continue };
        let tokens = value.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            (field, format!("`{field}` must be a whole number of tokens, at least 1, or left out; got {value}"))
        })?;
        match limit {
            Some(other) if other != tokens => {
                return Err((
                    field,
                    format!(
                        "`max_completion_tokens` ({other}) and `max_tokens` ({tokens}) disagree: \
                         send one of them"
                    ),
                ));
            }
            _ => limit = Some(tokens),
        }
    }
    Ok(limit)
}

/// A tool call's arguments, as the JSON object providers other than OpenAI want.
pub(crate) fn arguments_object(arguments: Option<&Value>) -> Value {
    match arguments {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

pub(crate) fn now_secs() -> i64 {
    crate::store::now_ms() / 1000
}
