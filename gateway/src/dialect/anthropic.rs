//! Anthropic's Messages API (`POST {base_url}/v1/messages`, `x-api-key`,
//! `anthropic-version: 2023-06-01`).
//!
//! System messages become `system`; tool results become `tool_result` blocks in a user turn
//! (consecutive turns of one role are merged, as Anthropic wants them alternating); assistant
//! tool calls become `tool_use` blocks; `max_tokens`, which Anthropic requires, defaults to 4096.

use serde_json::{Map, Value, json};

use super::{
    Chunks, StreamTranslator, arguments_object, max_tokens, now_secs, stop_sequences, text_of,
    usage,
};
use crate::pricing::Tokens;

pub const VERSION: &str = "2023-06-01";
/// `max_tokens` when the client sets none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The Messages API request for an OpenAI chat request.
pub fn request(openai: &Map<String, Value>, model: &str, stream: bool) -> Value {
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for message in openai.get("messages").and_then(Value::as_array).into_iter().flatten() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("user");
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.push(text_of(message.get("content")));
                continue;
            }
            "assistant" => ("assistant", assistant_blocks(message)),
            "tool" => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id").cloned().unwrap_or(Value::Null),
                    "content": text_of(message.get("content")),
                })],
            ),
            _ => ("user", content_blocks(message.get("content"))),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                last["content"].as_array_mut().expect("content is an array").extend(blocks);
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }

    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    out.insert("max_tokens".into(), json!(max_tokens(openai).unwrap_or(DEFAULT_MAX_TOKENS)));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "top_p")] {
        if let Some(v) = openai.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if let Some(stop) = stop_sequences(openai) {
        out.insert("stop_sequences".into(), stop);
    }
    if let Some(user) = openai.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(tools) = openai.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                json!({
                    "name": f["name"],
                    "description": f.get("description").cloned().unwrap_or(json!("")),
                    "input_schema": f.get("parameters").cloned()
                        .unwrap_or(json!({"type": "object", "properties": {}})),
                })
            })
            .collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
            let mut choice = match openai.get("tool_choice") {
                Some(Value::String(s)) if s == "required" => json!({"type": "any"}),
                Some(Value::String(s)) if s == "none" => json!({"type": "none"}),
                Some(Value::Object(c)) => match c.get("function").and_then(|f| f.get("name")) {
                    Some(name) => json!({"type": "tool", "name": name}),
                    None => json!({"type": "auto"}),
                },
                _ => json!({"type": "auto"}),
            };
            if openai.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
                choice["disable_parallel_tool_use"] = json!(true);
            }
            out.insert("tool_choice".into(), choice);
        }
    }
    if stream {
        out.insert("stream".into(), json!(true));
    }
    Value::Object(out)
}

fn assistant_blocks(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    let text = text_of(message.get("content"));
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
        blocks.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": arguments_object(call["function"].get("arguments")),
        }));
    }
    blocks
}

/// A user message's content: text parts as text blocks, images (data or http URLs) as image
/// blocks.
fn content_blocks(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Some(json!({"type": "text", "text": p["text"]})),
                Some("image_url") => {
                    let url = p.pointer("/image_url/url").and_then(Value::as_str)?;
                    Some(match data_url(url) {
                        Some((media_type, data)) => json!({
                            "type": "image",
                            "source": {"type": "base64", "media_type": media_type, "data": data},
                        }),
                        None => json!({"type": "image", "source": {"type": "url", "url": url}}),
                    })
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `data:<media type>;base64,<data>`.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`.
fn finish_reason(stop_reason: Option<&str>) -> Option<&'static str> {
    Some(match stop_reason? {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    })
}

/// A Messages API `usage` in OpenAI's reading: Anthropic's `input_tokens` leave out the tokens
/// read from and written to the prompt cache, OpenAI's `prompt_tokens` count them.
pub(crate) fn tokens(usage: &Value) -> Tokens {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (cache_read, cache_write) =
        (count("cache_read_input_tokens"), count("cache_creation_input_tokens"));
    Tokens {
        prompt: count("input_tokens") + cache_read + cache_write,
        completion: count("output_tokens"),
        cache_read,
        cache_write,
    }
}

/// Takes a `message_delta` event's `usage` into a stream's counts: the final output count, and
/// the input ones only when Anthropic sends them again.
pub(crate) fn update(counts: &mut Tokens, usage: &Value) {
    let last = tokens(usage);
    if usage.get("output_tokens").is_some() {
        counts.completion = last.completion;
    }
    if last.prompt > 0 {
        *counts = Tokens { completion: counts.completion, ..last };
    }
}

/// The OpenAI `chat.completion` for a Messages API answer.
pub fn response(anthropic: &Value, model: &str) -> Value {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in anthropic["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => tool_calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            _ => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) },
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let u = &anthropic["usage"];
    json!({
        "id": anthropic["id"],
        "object": "chat.completion",
        "created": now_secs(),
        "model": anthropic.get("model").and_then(Value::as_str).unwrap_or(model),
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(anthropic["stop_reason"].as_str()),
        }],
        "usage": usage(&tokens(u)),
    })
}

/// Translates a Messages API event stream.
#[derive(Debug)]
pub struct Stream {
    chunks: Chunks,
    tokens: Tokens,
    /// OpenAI tool-call index by Anthropic content-block index.
    tools: Vec<(u64, usize)>,
}

impl Stream {
    pub fn new(model: &str) -> Stream {
        Stream {
            chunks: Chunks::new(String::new(), model),
            tokens: Tokens::default(),
            tools: Vec::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        self.chunks.delta(delta, finish)
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, data: &Value) -> Vec<String> {
        match data["type"].as_str() {
            Some("message_start") => {
                let message = &data["message"];
                self.chunks.id = message["id"].as_str().unwrap_or_default().to_owned();
                if let Some(model) = message["model"].as_str() {
                    self.chunks.model = model.to_owned();
                }
                self.tokens = tokens(&message["usage"]);
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            Some("content_block_start") if data["content_block"]["type"] == "tool_use" => {
                let index = self.tools.len();
                self.tools.push((data["index"].as_u64().unwrap_or(0), index));
                let block = &data["content_block"];
                vec![self.chunk(
                    json!({"tool_calls": [{
                        "index": index,
                        "id": block["id"],
                        "type": "function",
                        "function": {"name": block["name"], "arguments": ""},
                    }]}),
                    None,
                )]
            }
            Some("content_block_delta") => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        vec![self.chunk(json!({"content": delta["text"]}), None)]
                    }
                    Some("input_json_delta") => {
                        let block = data["index"].as_u64().unwrap_or(0);
                        let index =
                            self.tools.iter().find(|(b, _)| *b == block).map_or(0, |(_, i)| *i);
                        vec![self.chunk(
                            json!({"tool_calls": [{
                                "index": index,
                                "function": {"arguments": delta["partial_json"]},
                            }]}),
                            None,
                        )]
                    }
                    _ => Vec::new(),
                }
            }
            Some("message_delta") => {
                update(&mut self.tokens, &data["usage"]);
                match finish_reason(data["delta"]["stop_reason"].as_str()) {
                    Some(reason) => vec![self.chunk(json!({}), Some(reason))],
                    None => Vec::new(),
                }
            }
            Some("message_stop") => vec![self.chunks.usage(&self.tokens), "[DONE]".to_owned()],
            Some("error") => vec![
                json!({"error": {
                    "message": data["error"]["message"],
                    "type": data["error"]["type"],
                    "param": null,
                    "code": "provider_error",
                }})
                .to_string(),
            ],
            _ => Vec::new(),
        }
    }

    fn finish(&mut self) -> Vec<String> {
        Vec::new()
    }
}
