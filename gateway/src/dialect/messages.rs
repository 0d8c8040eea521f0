//! For clients of Anthropic's Messages API served by a provider that speaks another API: the
//! Anthropic request as an OpenAI chat request (which `google` takes on to Gemini), and OpenAI
//! answers and chunks back as Anthropic messages and events.
//!
//! `system` becomes a system message; text, image and PDF blocks become content parts; `tool_use`
//! blocks become tool calls and `tool_result` blocks tool messages; `tools` become functions.
//! What has no counterpart is left out: thinking blocks (no provider but Anthropic takes them
//! back), `cache_control` (other providers cache without being asked), `top_k`.

use serde_json::{Map, Value, json};

use super::{StreamTranslator, arguments_object, tokens_of};
use crate::pricing::Tokens;

/// The OpenAI chat request for a Messages request (its model left out: the caller sets the
/// provider's).
pub fn request(anthropic: &Map<String, Value>, stream: bool) -> Map<String, Value> {
    let mut messages = Vec::new();
    let system = match anthropic.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => joined_text(blocks),
        _ => String::new(),
    };
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in anthropic.get("messages").and_then(Value::as_array).into_iter().flatten() {
        let content = &message["content"];
        match (message["role"].as_str(), content) {
            (Some("assistant"), Value::String(text)) => {
                messages.push(json!({"role": "assistant", "content": text}));
            }
            (Some("assistant"), Value::Array(blocks)) => messages.push(assistant(blocks)),
            (_, Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
            (_, Value::Array(blocks)) => user(blocks, &mut messages),
            _ => {}
        }
    }

    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = anthropic.get("max_tokens") {
        out.insert("max_completion_tokens".into(), max.clone());
    }
    for field in ["temperature", "top_p"] {
        if let Some(v) = anthropic.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    if let Some(stop) = anthropic.get("stop_sequences").filter(|s| s.is_array()) {
        out.insert("stop".into(), stop.clone());
    }
    if let Some(user) =
        anthropic.get("metadata").and_then(|m| m.get("user_id")).filter(|u| u.is_string())
    {
        out.insert("user".into(), user.clone());
    }
    let tools: Vec<Value> = anthropic
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // Anthropic's own server tools (web search, code execution) have no input schema.
        .filter(|t| t.get("input_schema").is_some())
        .map(|t| {
            let mut function = json!({"name": t["name"], "parameters": t["input_schema"]});
            if let Some(description) = t.get("description") {
                function["description"] = description.clone();
            }
            json!({"type": "function", "function": function})
        })
        .collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = anthropic.get("tool_choice") {
            let (choice, parallel) = tool_choice(choice);
            out.insert("tool_choice".into(), choice);
            if !parallel {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    out
}

/// OpenAI's `tool_choice`, and whether parallel calls stay allowed.
fn tool_choice(choice: &Value) -> (Value, bool) {
    let parallel = choice.get("disable_parallel_tool_use") != Some(&Value::Bool(true));
    let choice = match choice["type"].as_str() {
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
        _ => json!("auto"),
    };
    (choice, parallel)
}

fn joined_text(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// An assistant turn: its text, and its tool calls (thinking is Anthropic's alone).
fn assistant(blocks: &[Value]) -> Value {
    let text: String =
        blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
    let calls: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| {
            json!({
                "id": b["id"],
                "type": "function",
                "function": {"name": b["name"], "arguments": b["input"].to_string()},
            })
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// A user turn: its tool results as tool messages (first, answering the calls before them), the
/// rest as one user message of parts.
fn user(blocks: &[Value], messages: &mut Vec<Value>) {
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("tool_result") => {
                let content = match &block["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(inner) => joined_text(inner),
                    _ => String::new(),
                };
                let content = if block["is_error"] == json!(true) {
                    format!("Error: {content}")
                } else {
                    content
                };
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": block["tool_use_id"],
                    "content": content,
                }));
            }
            Some("text") => parts.push(json!({"type": "text", "text": block["text"]})),
            Some("image") => {
                if let Some(url) = source_url(&block["source"]) {
                    parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                }
            }
            Some("document") => match block.pointer("/source/type").and_then(Value::as_str) {
                Some("text") => {
                    parts.push(json!({"type": "text", "text": block["source"]["data"]}));
                }
                _ => {
                    if let Some(url) = source_url(&block["source"]) {
                        let name = block["title"].as_str().unwrap_or("document.pdf");
                        parts.push(json!({
                            "type": "file",
                            "file": {"file_data": url, "filename": name},
                        }));
                    }
                }
            },
            _ => {}
        }
    }
    if !parts.is_empty() {
        messages.push(json!({"role": "user", "content": parts}));
    }
}

/// A block source as a URL: a data URL for base64, the URL itself for a link.
fn source_url(source: &Value) -> Option<String> {
    match source["type"].as_str()? {
        "base64" => Some(format!(
            "data:{};base64,{}",
            source["media_type"].as_str()?,
            source["data"].as_str()?
        )),
        "url" => source["url"].as_str().map(str::to_owned),
        _ => None,
    }
}

/// Anthropic's `stop_reason` for OpenAI's `finish_reason`.
fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's `usage`: its `input_tokens` leave out what the cache read and wrote.
pub(crate) fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.prompt.saturating_sub(tokens.cache_read + tokens.cache_write),
        "output_tokens": tokens.completion,
        "cache_read_input_tokens": tokens.cache_read,
        "cache_creation_input_tokens": tokens.cache_write,
    })
}

/// An id in Anthropic's style for one that is not.
fn message_id(id: Option<&str>) -> String {
    match id {
        Some(id) if id.starts_with("msg_") => id.to_owned(),
        Some(id) if !id.is_empty() => format!("msg_{id}"),
        _ => format!("msg_{:016x}", rand_u64()),
    }
}

fn rand_u64() -> u64 {
    getrandom::u64().expect("the system's random source")
}

/// The Messages answer for an OpenAI `chat.completion`.
pub fn response(openai: &Value, model: &str) -> Value {
    let choice = &openai["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": arguments_object(call["function"].get("arguments")),
        }));
    }
    if content.is_empty() {
        content.push(json!({"type": "text", "text": ""}));
    }
    let tokens = openai.get("usage").and_then(tokens_of).unwrap_or_default();
    json!({
        "id": message_id(openai["id"].as_str()),
        "type": "message",
        "role": "assistant",
        "model": openai["model"].as_str().unwrap_or(model),
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": usage(&tokens),
    })
}

/// Turns a stream of OpenAI chunks into Anthropic's events: `message_start` at the first chunk,
/// a text block for the text, a `tool_use` block per tool call (its arguments as
/// `input_json_delta`s), and, once the provider's stream ends after a finish reason,
/// `message_delta` with the stop reason and usage, and `message_stop`.
#[derive(Debug)]
pub struct Stream {
    model: String,
    started: bool,
    /// The open content block: its index, and the OpenAI tool-call index it streams (`None`: text).
    open: Option<(u64, Option<u64>)>,
    blocks: u64,
    finish: Option<String>,
    tokens: Tokens,
    stopped: bool,
}

impl Stream {
    pub fn new(model: &str) -> Stream {
        Stream {
            model: model.to_owned(),
            started: false,
            open: None,
            blocks: 0,
            finish: None,
            tokens: Tokens::default(),
            stopped: false,
        }
    }

    /// Opens a block, closing the one before: the events.
    fn open(&mut self, streams: Option<u64>, block: Value, out: &mut Vec<Value>) {
        self.close(out);
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some((index, streams));
        out.push(json!({"type": "content_block_start", "index": index, "content_block": block}));
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if let Some((index, _)) = self.open.take() {
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<Value>) {
        if !self.started {
            self.started = true;
            out.push(json!({
                "type": "message_start",
                "message": {
                    "id": message_id(chunk["id"].as_str()),
                    "type": "message",
                    "role": "assistant",
                    "model": chunk["model"].as_str().unwrap_or(&self.model),
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage(&Tokens::default()),
                },
            }));
        }
        if let Some(tokens) = chunk.get("usage").and_then(tokens_of) {
            self.tokens = tokens;
        }
        let Some(choice) = chunk["choices"].get(0) else { return };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some((_, None))) {
                self.open(None, json!({"type": "text", "text": ""}), out);
            }
            let index = self.open.map_or(0, |(i, _)| i);
            out.push(json!({
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }));
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let call_index = call["index"].as_u64().unwrap_or(0);
            if self.open.and_then(|(_, c)| c) != Some(call_index) {
                let block = json!({
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "input": {},
                });
                self.open(Some(call_index), block, out);
            }
            let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
            if !arguments.is_empty() {
                let index = self.open.map_or(0, |(i, _)| i);
                out.push(json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": arguments},
                }));
            }
        }
        if let Some(finish) = choice["finish_reason"].as_str() {
            self.close(out);
            self.finish = Some(finish.to_owned());
        }
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, data: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(error) = data.get("error") {
            out.push(json!({
                "type": "error",
                "error": {"type": "api_error", "message": error["message"]},
            }));
        } else {
            self.chunk(data, &mut out);
        }
        out.into_iter().map(|e| e.to_string()).collect()
    }

    /// The message's end, once the provider's stream ended after a finish reason (its usage
    /// chunk comes after that). A stream that ended without one is owed nothing: the relay tells
    /// the client it broke off.
    fn finish(&mut self) -> Vec<String> {
        let Some(finish) = self.finish.take().filter(|_| !self.stopped) else { return Vec::new() };
        self.stopped = true;
        vec![
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(Some(&finish)), "stop_sequence": null},
                "usage": usage(&self.tokens),
            })
            .to_string(),
            json!({"type": "message_stop"}).to_string(),
        ]
    }
}

/// Two translators in a row: a provider's events into OpenAI chunks, and those into another
/// API's events (Gemini's stream for a Messages client).
#[derive(Debug)]
pub struct Chain<A, B>(pub A, pub B);

impl<A: StreamTranslator, B: StreamTranslator> StreamTranslator for Chain<A, B> {
    fn event(&mut self, data: &Value) -> Vec<String> {
        let middle = self.0.event(data);
        self.feed(middle)
    }

    fn finish(&mut self) -> Vec<String> {
        let middle = self.0.finish();
        let mut out = self.feed(middle);
        out.extend(self.1.finish());
        out
    }
}

impl<A: StreamTranslator, B: StreamTranslator> Chain<A, B> {
    fn feed(&mut self, payloads: Vec<String>) -> Vec<String> {
        payloads
            .iter()
            .filter_map(|p| serde_json::from_str::<Value>(p).ok())
            .flat_map(|v| self.1.event(&v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_loop_in_anthropics_shape_becomes_openais() {
        let request = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 512,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "use the tool", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "text", "text": "and tomorrow?"},
                ]},
            ],
        });
        let openai = Value::Object(super::request(request.as_object().unwrap(), false));
        assert_eq!(
            openai["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
                {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]},
            ])
        );
        assert_eq!(openai["tools"][0]["function"]["parameters"], json!({"type": "object"}));
        assert_eq!(openai["tool_choice"], "required");
        assert_eq!(openai["parallel_tool_calls"], false);
        assert_eq!(openai["max_completion_tokens"], 512);
    }

    #[test]
    fn an_openai_stream_with_text_and_a_tool_call_becomes_anthropics_events() {
        let chunks = [
            json!({"id": "chatcmpl-9", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {"content": "Let me check."}}]}),
            json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]}),
            json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}}]}),
            json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"id": "chatcmpl-9", "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20,
                   "prompt_tokens_details": {"cached_tokens": 64}}}),
        ];
        let mut stream = Stream::new("gpt-4o");
        let mut events: Vec<Value> = Vec::new();
        for chunk in &chunks {
            events.extend(
                stream.event(chunk).iter().map(|e| serde_json::from_str::<Value>(e).unwrap()),
            );
        }
        events.extend(stream.finish().iter().map(|e| serde_json::from_str::<Value>(e).unwrap()));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(events[0]["message"]["id"], "msg_chatcmpl-9");
        assert_eq!(events[4]["content_block"]["name"], "get_weather");
        assert_eq!(events[4]["index"], 1);
        let arguments: String =
            events[5..7].iter().map(|e| e["delta"]["partial_json"].as_str().unwrap()).collect();
        assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), json!({"city": "Paris"}));
        assert_eq!(events[8]["delta"]["stop_reason"], "tool_use");
        assert_eq!(
            events[8]["usage"],
            json!({"input_tokens": 36, "output_tokens": 20, "cache_read_input_tokens": 64,
                   "cache_creation_input_tokens": 0})
        );
        // A stream that broke off before its finish reason is owed no end.
        let mut broken = Stream::new("gpt-4o");
        broken.event(&chunks[1]);
        assert!(broken.finish().is_empty());
    }

    #[test]
    fn an_openai_answer_becomes_a_message() {
        let answer = json!({
            "id": "chatcmpl-1", "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": "It is"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        });
        let message = response(&answer, "gpt-4o");
        assert_eq!(message["content"], json!([{"type": "text", "text": "It is"}]));
        assert_eq!(message["stop_reason"], "max_tokens");
        assert_eq!(message["usage"]["input_tokens"], 10);
        assert_eq!(message["type"], "message");
    }
}
