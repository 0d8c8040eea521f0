//! Google's Gemini API (`POST {base_url}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams; `x-goog-api-key`).
//!
//! System messages become `systemInstruction`; assistant turns are `model` turns, their tool calls
//! `functionCall` parts; tool results are `functionResponse` parts named after the call they
//! answer. Gemini gives calls no ids, so the gateway makes them (`call_<random hex>`).

use serde_json::{Map, Value, json};

use super::{
    Chunks, StreamTranslator, arguments_object, max_tokens, now_secs, stop_sequences, text_of,
    usage,
};
use crate::dialect::anthropic::data_url;
use crate::pricing::Tokens;

/// Whether a model name is safe in the request path: Gemini takes the model in the URL, so a
/// name with `/`, `?`, `%` or `..` could reach another endpoint with the organization's key.
pub fn is_safe_model(model: &str) -> bool {
    !model.is_empty()
        && !model.contains("..")
        && model.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The path of a model's endpoint under the base URL.
pub fn path(model: &str, stream: bool) -> String {
    if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    }
}

/// The `generateContent` request for an OpenAI chat request.
pub fn request(openai: &Map<String, Value>) -> Value {
    let messages: Vec<&Value> =
        openai.get("messages").and_then(Value::as_array).into_iter().flatten().collect();
    // A tool result names its call by id; Gemini wants the function's name.
    let call_names: Map<String, Value> = messages
        .iter()
        .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["function"]["name"].clone())))
        .collect();

    let mut system: Vec<String> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for message in messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("user");
        let (role, parts) = match role {
            "system" | "developer" => {
                system.push(text_of(message.get("content")));
                continue;
            }
            "assistant" => {
                let mut parts = Vec::new();
                let text = text_of(message.get("content"));
                if !text.is_empty() {
                    parts.push(json!({"text": text}));
                }
                for call in
                    message.get("tool_calls").and_then(Value::as_array).into_iter().flatten()
                {
                    let mut part = json!({"functionCall": {
                        "name": call["function"]["name"],
                        "args": arguments_object(call["function"].get("arguments")),
                    }});
                    let signature = call["id"].as_str().and_then(|id| id.split_once(':'));
                    if let Some((_, signature)) = signature {
                        part["thoughtSignature"] = json!(signature);
                    }
                    parts.push(part);
                }
                ("model", parts)
            }
            "tool" => {
                let id = message.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
                let content = text_of(message.get("content"));
                let response = match serde_json::from_str::<Value>(&content) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({"result": content}),
                };
                let name = call_names.get(id).cloned().unwrap_or(json!(id));
                ("user", vec![json!({"functionResponse": {"name": name, "response": response}})])
            }
            _ => ("user", user_parts(message.get("content"))),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                last["parts"].as_array_mut().expect("parts is an array").extend(parts);
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }

    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": [{"text": system.join("\n\n")}]}));
    }
    let mut config = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
    ] {
        if let Some(v) = openai.get(from).filter(|v| !v.is_null()) {
            config.insert(to.into(), v.clone());
        }
    }
    if let Some(max) = max_tokens(openai) {
        config.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(stop) = stop_sequences(openai) {
        config.insert("stopSequences".into(), stop);
    }
    match openai.get("response_format").and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("json_object") => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            config.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) =
                openai.get("response_format").and_then(|f| f.pointer("/json_schema/schema"))
            {
                config.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        _ => {}
    }
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    if let Some(tools) = openai.get("tools").and_then(Value::as_array) {
        let declarations: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut d = json!({"name": f["name"], "description": f.get("description").cloned().unwrap_or(json!(""))});
                // JSON Schema as OpenAI tools carry it (`additionalProperties`, `$defs`, type
                // lists), which Gemini's older `parameters` (an OpenAPI subset) refuses.
                if let Some(parameters) = f.get("parameters") {
                    d["parametersJsonSchema"] = parameters.clone();
                }
                d
            })
            .collect();
        if !declarations.is_empty() {
            out.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
            let config = match openai.get("tool_choice") {
                Some(Value::String(s)) if s == "required" => json!({"mode": "ANY"}),
                Some(Value::String(s)) if s == "none" => json!({"mode": "NONE"}),
                Some(Value::Object(c)) => match c.get("function").and_then(|f| f.get("name")) {
                    Some(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
                    None => json!({"mode": "AUTO"}),
                },
                _ => json!({"mode": "AUTO"}),
            };
            out.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
        }
    }
    Value::Object(out)
}

fn user_parts(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) => vec![json!({"text": s})],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Some(json!({"text": p["text"]})),
                Some("image_url") => {
                    let url = p.pointer("/image_url/url").and_then(Value::as_str)?;
                    Some(match data_url(url) {
                        Some((mime, data)) => {
                            json!({"inlineData": {"mimeType": mime, "data": data}})
                        }
                        None => json!({"fileData": {"fileUri": url}}),
                    })
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn finish_reason(reason: Option<&str>, called_tools: bool) -> Option<&'static str> {
    Some(match reason? {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    })
}

/// Gemini's `usageMetadata` in OpenAI's reading: thoughts are completion tokens, and cached
/// content is part of the prompt, as in OpenAI's.
fn token_counts(metadata: &Value) -> Option<Tokens> {
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64).unwrap_or(0);
    Some(Tokens {
        prompt: metadata.get("promptTokenCount")?.as_u64()?,
        completion: count("candidatesTokenCount") + count("thoughtsTokenCount"),
        cache_read: count("cachedContentTokenCount"),
        cache_write: 0,
    })
}

/// A tool-call id for a Gemini function call: random, so ids never repeat across turns, and
/// carrying the call's `thoughtSignature` (which Gemini wants back with the call) after a `:`.
fn call_id(part: &Value) -> String {
    let id = format!("call_{}", hex::encode(crate::secrets::random_bytes::<8>()));
    match part.get("thoughtSignature").and_then(Value::as_str) {
        Some(signature) => format!("{id}:{signature}"),
        None => id,
    }
}

/// A candidate's text and tool calls.
fn candidate_parts(candidate: &Value) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate.pointer("/content/parts").and_then(Value::as_array).into_iter().flatten()
    {
        if part.get("thought") == Some(&Value::Bool(true)) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            calls.push(json!({
                "id": call_id(part),
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call.get("args").cloned().unwrap_or(json!({})).to_string(),
                },
            }));
        }
    }
    (text, calls)
}

/// The OpenAI `chat.completion` for a `generateContent` answer.
pub fn response(gemini: &Value, model: &str) -> Value {
    let choices: Vec<Value> = gemini["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, candidate)| {
            let (text, calls) = candidate_parts(candidate);
            let mut message = json!({
                "role": "assistant",
                "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
            });
            let finish = finish_reason(candidate["finishReason"].as_str(), !calls.is_empty());
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls);
            }
            json!({
                "index": candidate.get("index").and_then(Value::as_u64).unwrap_or(i as u64),
                "message": message,
                "finish_reason": finish,
            })
        })
        .collect();
    let mut choices = choices;
    if choices.is_empty() {
        // A blocked prompt has no candidates: say so the way OpenAI does.
        choices.push(json!({
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
        }));
    }
    let mut out = json!({
        "id": gemini.get("responseId").and_then(Value::as_str).map_or_else(|| format!("chatcmpl-{}", hex::encode(crate::secrets::random_bytes::<12>())), str::to_owned),
        "object": "chat.completion",
        "created": now_secs(),
        "model": gemini.get("modelVersion").and_then(Value::as_str).unwrap_or(model),
        "choices": choices,
    });
    // No usage from Gemini means none here: the gateway then counts the tokens itself.
    if let Some(tokens) = token_counts(&gemini["usageMetadata"]) {
        out["usage"] = usage(&tokens);
    }
    out
}

/// Translates a `streamGenerateContent?alt=sse` stream: Gemini sends no `[DONE]`, so the end
/// of the provider's stream ends the client's.
#[derive(Debug)]
pub struct Stream {
    chunks: Chunks,
    started: bool,
    calls: usize,
    usage: Option<Tokens>,
    finished: bool,
}

impl Stream {
    pub fn new(model: &str) -> Stream {
        let id = format!("chatcmpl-{}", hex::encode(crate::secrets::random_bytes::<12>()));
        Stream {
            chunks: Chunks::new(id, model),
            started: false,
            calls: 0,
            usage: None,
            finished: false,
        }
    }

    /// The chunks of one event, opened (once per stream) by the assistant's role.
    fn opened(&mut self) -> Vec<String> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        vec![self.chunks.delta(json!({"role": "assistant", "content": ""}), None)]
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, data: &Value) -> Vec<String> {
        if let Some(error) = data.get("error") {
            return vec![
                json!({"error": {
                    "message": error["message"],
                    "type": error["status"],
                    "param": null,
                    "code": "provider_error",
                }})
                .to_string(),
            ];
        }
        if let Some(model) = data.get("modelVersion").and_then(Value::as_str) {
            self.chunks.model = model.to_owned();
        }
        if let Some(counts) = token_counts(&data["usageMetadata"]) {
            self.usage = Some(counts);
        }
        let Some(candidate) = data["candidates"].get(0) else {
            // A blocked prompt has no candidates.
            if data.pointer("/promptFeedback/blockReason").is_none() {
                return Vec::new();
            }
            let mut out = self.opened();
            out.push(self.chunks.delta(json!({}), Some("content_filter")));
            return out;
        };
        let mut out = self.opened();
        let (text, calls) = candidate_parts(candidate);
        if !text.is_empty() {
            out.push(self.chunks.delta(json!({"content": text}), None));
        }
        if !calls.is_empty() {
            let deltas: Vec<Value> = calls
                .into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    c["index"] = json!(self.calls + i);
                    c
                })
                .collect();
            self.calls += deltas.len();
            out.push(self.chunks.delta(json!({"tool_calls": deltas}), None));
        }
        if let Some(reason) = finish_reason(candidate["finishReason"].as_str(), self.calls > 0) {
            out.push(self.chunks.delta(json!({}), Some(reason)));
        }
        out
    }

    fn finish(&mut self) -> Vec<String> {
        if self.finished || !self.started {
            return Vec::new();
        }
        self.finished = true;
        // No usage from Gemini means no usage chunk: the gateway then counts the tokens itself.
        let mut out: Vec<String> =
            self.usage.map(|tokens| self.chunks.usage(&tokens)).into_iter().collect();
        out.push("[DONE]".to_owned());
        out
    }
}
