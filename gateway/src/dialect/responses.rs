//! For clients of OpenAI's Responses API served by a provider that does not speak it: the
//! Responses request as a chat request (which `anthropic` and `google` take on to theirs), and
//! chat answers and chunks back as a `response` object and its stream events.
//!
//! `instructions` becomes a system message; message items become messages (text, image and file
//! parts), `function_call` items tool calls and `function_call_output` items tool messages;
//! function tools become chat tools; `text.format` becomes `response_format`. What only a
//! provider that keeps responses can serve is refused, saying so: `previous_response_id`, item
//! references, and built-in tools (web search, file search…).

use serde_json::{Map, Value, json};

use super::{StreamTranslator, now_secs, tokens_of};
use crate::pricing::Tokens;

/// Why a Responses request cannot be translated for a chat provider: the field, and the message.
pub type Untranslatable = (&'static str, String);

/// The chat request for a Responses request (its model left out: the caller sets the provider's).
pub fn request(
    responses: &Map<String, Value>,
    stream: bool,
) -> Result<Map<String, Value>, Untranslatable> {
    if responses.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        return Err(stateful("previous_response_id", "`previous_response_id`"));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = responses.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match responses.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                input_item(item, &mut messages)?;
            }
        }
        _ => {}
    }

    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = responses.get("max_output_tokens").filter(|v| !v.is_null()) {
        out.insert("max_completion_tokens".into(), max.clone());
    }
    for field in ["temperature", "top_p", "parallel_tool_calls", "user"] {
        if let Some(v) = responses.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    if let Some(effort) = responses.get("reasoning").and_then(|r| r.get("effort")) {
        out.insert("reasoning_effort".into(), effort.clone());
    }
    if let Some(format) = responses.get("text").and_then(|t| t.get("format")) {
        match format["type"].as_str() {
            Some("json_schema") => {
                let mut schema = json!({"name": format["name"], "schema": format["schema"]});
                if let Some(strict) = format.get("strict") {
                    schema["strict"] = strict.clone();
                }
                out.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": schema}),
                );
            }
            Some("json_object") => {
                out.insert("response_format".into(), json!({"type": "json_object"}));
            }
            _ => {}
        }
    }
    let mut tools = Vec::new();
    for tool in responses.get("tools").and_then(Value::as_array).into_iter().flatten() {
        match tool["type"].as_str() {
            Some("function") => {
                let mut function = json!({"name": tool["name"]});
                for field in ["description", "parameters", "strict"] {
                    if let Some(v) = tool.get(field).filter(|v| !v.is_null()) {
                        function[field] = v.clone();
                    }
                }
                tools.push(json!({"type": "function", "function": function}));
            }
            other => {
                let kind = other.unwrap_or("untyped");
                return Err(stateful("tools", &format!("the built-in tool `{kind}`")));
            }
        }
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        match responses.get("tool_choice") {
            Some(Value::String(choice)) => {
                out.insert("tool_choice".into(), json!(choice));
            }
            Some(choice) if choice["type"] == "function" => {
                let named = json!({"type": "function", "function": {"name": choice["name"]}});
                out.insert("tool_choice".into(), named);
            }
            _ => {}
        }
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(out)
}

/// The refusal of what only a provider that keeps responses (OpenAI's own) can serve.
fn stateful(field: &'static str, what: &str) -> Untranslatable {
    (
        field,
        format!(
            "{what} needs a provider that serves the Responses API itself (an `openai` provider), \
             and none that serves this model does; send the whole conversation in `input`, with \
             function tools only"
        ),
    )
}

/// One `input` item as chat messages: a function call joins the assistant message before it.
fn input_item(item: &Value, messages: &mut Vec<Value>) -> Result<(), Untranslatable> {
    match item["type"].as_str().unwrap_or("message") {
        "message" => {
            let role = item["role"].as_str().unwrap_or("user");
            let content = match &item["content"] {
                Value::String(text) => json!(text),
                Value::Array(parts) if role == "assistant" => json!(
                    parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("")
                ),
                Value::Array(parts) => {
                    Value::Array(parts.iter().filter_map(content_part).collect())
                }
                _ => json!(""),
            };
            messages.push(json!({"role": role, "content": content}));
        }
        "function_call" => {
            let call = json!({
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            });
            match messages.last_mut() {
                Some(last) if last["role"] == "assistant" => {
                    match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        Some(calls) => calls.push(call),
                        None => last["tool_calls"] = json!([call]),
                    }
                }
                _ => messages
                    .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" => {
            let output = match &item["output"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            messages
                .push(json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}));
        }
        // A model's reasoning from an earlier turn: only its own provider can take it back.
        "reasoning" => {}
        "item_reference" => return Err(stateful("input", "an `item_reference`")),
        other => {
            return Err(("input", format!("the input item type `{other}` cannot be translated")));
        }
    }
    Ok(())
}

/// A Responses content part as a chat content part.
fn content_part(part: &Value) -> Option<Value> {
    match part["type"].as_str()? {
        "input_text" | "output_text" | "text" => {
            Some(json!({"type": "text", "text": part["text"]}))
        }
        "input_image" => {
            let mut image = json!({"url": part.get("image_url")?});
            if let Some(detail) = part.get("detail") {
                image["detail"] = detail.clone();
            }
            Some(json!({"type": "image_url", "image_url": image}))
        }
        "input_file" => {
            let mut file = json!({"file_data": part.get("file_data")?});
            if let Some(name) = part.get("filename") {
                file["filename"] = name.clone();
            }
            Some(json!({"type": "file", "file": file}))
        }
        _ => None,
    }
}

/// Responses' `usage`: `input_tokens` count cached ones, as chat's `prompt_tokens` do.
pub(crate) fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.prompt,
        "input_tokens_details": {"cached_tokens": tokens.cache_read},
        "output_tokens": tokens.completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens.prompt + tokens.completion,
    })
}

/// The tokens of a Responses `usage`.
pub(crate) fn tokens(usage: &Value) -> Option<Tokens> {
    Some(Tokens {
        prompt: usage.get("input_tokens")?.as_u64()?,
        completion: usage["output_tokens"].as_u64().unwrap_or(0),
        cache_read: usage
            .pointer("/input_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        cache_write: 0,
    })
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", getrandom::u64().expect("the system's random source"))
}

/// A `response` object: the request's settings echoed, as OpenAI's are.
fn response_object(
    id: &str,
    model: &str,
    request: &Map<String, Value>,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    let echo = |field: &str, default: Value| request.get(field).cloned().unwrap_or(default);
    json!({
        "id": id,
        "object": "response",
        "created_at": now_secs(),
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "instructions": echo("instructions", Value::Null),
        "metadata": echo("metadata", json!({})),
        "temperature": echo("temperature", json!(1.0)),
        "top_p": echo("top_p", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}})),
        "truncation": echo("truncation", json!("disabled")),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "previous_response_id": null,
        "error": null,
        "incomplete_details": if status == "incomplete" {
            json!({"reason": "max_output_tokens"})
        } else {
            Value::Null
        },
        "usage": usage,
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

fn call_item(call_id: &Value, name: &Value, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": format!("fc_{}", call_id.as_str().unwrap_or_default()),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// The `response` for a `chat.completion`; `request` is the client's Responses request.
pub fn response(chat: &Value, model: &str, request: &Map<String, Value>) -> Value {
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut output = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        output.push(message_item(&random_id("msg"), text, "completed"));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        output.push(call_item(&call["id"], &call["function"]["name"], arguments, "completed"));
    }
    let status = if choice["finish_reason"] == "length" { "incomplete" } else { "completed" };
    let usage = chat.get("usage").and_then(tokens_of).map(|t| usage(&t));
    let model = chat["model"].as_str().unwrap_or(model);
    response_object(&random_id("resp"), model, request, status, output, usage)
}

/// Turns a stream of chat chunks into the Responses API's events, numbered: `response.created`
/// and `response.in_progress` first; per output item `response.output_item.added`, its deltas
/// (`response.output_text.delta` in a content part, `response.function_call_arguments.delta`) and
/// their `.done` events, and `response.output_item.done`; once the provider's stream ends after a
/// finish reason, `response.completed` (or `response.incomplete`) with the whole response and its
/// usage.
#[derive(Debug)]
pub struct Stream {
    id: String,
    model: String,
    request: Map<String, Value>,
    sequence: u64,
    started: bool,
    /// The items so far, finished ones complete; the last may be open.
    items: Vec<Value>,
    /// The open item's index in `items`, and the chat tool-call index it streams (`None`: text).
    open: Option<(usize, Option<u64>)>,
    finish: Option<String>,
    tokens: Option<Tokens>,
    ended: bool,
}

impl Stream {
    /// A stream answering `request`, the client's Responses request.
    pub fn new(model: &str, request: Map<String, Value>) -> Stream {
        Stream {
            id: random_id("resp"),
            model: model.to_owned(),
            request,
            sequence: 0,
            started: false,
            items: Vec::new(),
            open: None,
            finish: None,
            tokens: None,
            ended: false,
        }
    }

    fn event(&mut self, kind: &str, mut fields: Value, out: &mut Vec<String>) {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(fields.to_string());
    }

    fn snapshot(&self, status: &str, usage: Option<Value>) -> Value {
        response_object(&self.id, &self.model, &self.request, status, self.items.clone(), usage)
    }

    /// Opens an item (closing the one before).
    fn open(&mut self, item: Value, streams: Option<u64>, out: &mut Vec<String>) {
        self.close(out);
        let index = self.items.len();
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        let text_item = item["type"] == "message";
        if text_item {
            added["content"] = json!([]);
        }
        self.items.push(item);
        self.open = Some((index, streams));
        self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
            out,
        );
        if text_item {
            let id = self.items[index]["id"].clone();
            self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}),
                out,
            );
        }
    }

    fn close(&mut self, out: &mut Vec<String>) {
        let Some((index, _)) = self.open.take() else { return };
        let item = self.items[index].clone();
        let id = item["id"].clone();
        if item["type"] == "message" {
            let part = item["content"][0].clone();
            self.event(
                "response.output_text.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "text": part["text"]}),
                out,
            );
            self.event(
                "response.content_part.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                out,
            );
        } else {
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "arguments": item["arguments"]}),
                out,
            );
        }
        self.items[index]["status"] = json!("completed");
        let item = self.items[index].clone();
        self.event("response.output_item.done", json!({"output_index": index, "item": item}), out);
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<String>) {
        if !self.started {
            self.started = true;
            if let Some(model) = chunk["model"].as_str() {
                self.model = model.to_owned();
            }
            let pending = self.snapshot("in_progress", None);
            self.event("response.created", json!({"response": pending}), out);
            self.event("response.in_progress", json!({"response": pending}), out);
        }
        if let Some(tokens) = chunk.get("usage").and_then(tokens_of) {
            self.tokens = Some(tokens);
        }
        let Some(choice) = chunk["choices"].get(0) else { return };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some((_, None))) {
                self.open(message_item(&random_id("msg"), "", "completed"), None, out);
            }
            let index = self.open.map_or(0, |(i, _)| i);
            let item = &mut self.items[index];
            let so_far = item["content"][0]["text"].as_str().unwrap_or_default().to_owned();
            item["content"][0]["text"] = json!(so_far + text);
            let id = item["id"].clone();
            self.event(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text}),
                out,
            );
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let call_index = call["index"].as_u64().unwrap_or(0);
            if self.open.and_then(|(_, c)| c) != Some(call_index) {
                let item = call_item(&call["id"], &call["function"]["name"], "", "completed");
                self.open(item, Some(call_index), out);
            }
            let piece = call["function"]["arguments"].as_str().unwrap_or_default();
            if !piece.is_empty() {
                let index = self.open.map_or(0, |(i, _)| i);
                let item = &mut self.items[index];
                let so_far = item["arguments"].as_str().unwrap_or_default().to_owned();
                item["arguments"] = json!(so_far + piece);
                let id = item["id"].clone();
                self.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": piece}),
                    out,
                );
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
            let fields = json!({"code": error["code"], "message": error["message"], "param": null});
            Stream::event(self, "error", fields, &mut out);
        } else {
            self.chunk(data, &mut out);
        }
        out
    }

    /// The response's end, once the provider's stream ended after a finish reason (its usage
    /// chunk comes after that). A stream that ended without one is owed nothing: the relay tells
    /// the client it broke off.
    fn finish(&mut self) -> Vec<String> {
        let Some(finish) = self.finish.take().filter(|_| !self.ended) else { return Vec::new() };
        self.ended = true;
        let (kind, status) = if finish == "length" {
            ("response.incomplete", "incomplete")
        } else {
            ("response.completed", "completed")
        };
        let final_response = self.snapshot(status, self.tokens.map(|t| usage(&t)));
        let mut out = Vec::new();
        Stream::event(self, kind, json!({"response": final_response}), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_calling_conversation_in_responses_shape_becomes_chat() {
        let request = json!({
            "model": "claude-sonnet-4-5", "instructions": "Be brief.", "max_output_tokens": 300,
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"},
                                             {"type": "input_image", "image_url": "https://example.com/p.png"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            ],
        });
        let chat = Value::Object(super::request(request.as_object().unwrap(), true).unwrap());
        assert_eq!(
            chat["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/p.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ])
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type": "function", "function": {"name": "get_weather"}})
        );
        assert_eq!(chat["response_format"]["json_schema"]["strict"], true);
        assert_eq!(chat["max_completion_tokens"], 300);
        assert_eq!(chat["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn what_needs_a_provider_that_keeps_responses_is_refused_saying_so() {
        for request in [
            json!({"input": "go on", "previous_response_id": "resp_1"}),
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            json!({"input": "news?", "tools": [{"type": "web_search"}]}),
        ] {
            let (field, message) = super::request(request.as_object().unwrap(), false).unwrap_err();
            assert!(message.contains("`openai` provider"), "{field}: {message}");
        }
    }

    #[test]
    fn a_chat_stream_becomes_numbered_responses_events_ending_with_the_whole_response() {
        let chunks = [
            json!({"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi "}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "there."}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{\"a\":"}}]}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 32}}}),
        ];
        let mut stream = Stream::new("gpt-4o", Map::new());
        let mut events: Vec<Value> = Vec::new();
        for chunk in &chunks {
            events.extend(
                StreamTranslator::event(&mut stream, chunk)
                    .iter()
                    .map(|e| serde_json::from_str::<Value>(e).unwrap()),
            );
        }
        events.extend(stream.finish().iter().map(|e| serde_json::from_str::<Value>(e).unwrap()));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let numbers: Vec<u64> =
            events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..15).collect::<Vec<_>>());
        let done = &events[14]["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "Hi there.");
        assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(done["output"][1]["call_id"], "call_1");
        assert_eq!(done["usage"]["input_tokens"], 50);
        assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 32);
        assert_eq!(done["status"], "completed");
    }
}
