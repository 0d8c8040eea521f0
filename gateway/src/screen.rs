//! DLP on the LLM API: screens a request's text — message contents (plain or in parts) and
//! tool-call arguments, or embeddings input — under the tenant's policy before it goes upstream,
//! and puts masked values back into the answer, streamed or not.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::dlp::guard::{Masks, Outcome, Restorer};
use crate::dlp::policy::Policy;
use crate::error::ApiError;
use crate::proxy::RequestContext;

/// Where a value sits in a request, as far as DLP cares: the places whose strings may be the
/// request's structure (a role, a part's type) or inline media, and everywhere else, where every
/// string is text. A key means structure only at its place in the schema: a `type` inside a
/// tool's arguments is text like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Message,
    Part,
    ImageUrl,
    InputAudio,
    File,
    ToolCall,
    Function,
    Tool,
    Text,
    /// Anthropic's Messages API: the request, a message, a content block (of a message, of
    /// `system`, of a tool result), a block's `source`, a `cache_control`.
    MessagesTop,
    AnthropicMessage,
    Block,
    Source,
    CacheControl,
    /// OpenAI's Responses API: the request, an input item, a content part.
    ResponsesTop,
    ResponseItem,
    ResponsePart,
}

impl Place {
    /// The place of the value under `key` here (array items keep their array's place).
    fn enter(self, key: &str) -> Place {
        match (self, key) {
            (Place::Top, "messages") => Place::Message,
            (Place::Top, "tools") => Place::Tool,
            (Place::Message, "content") => Place::Part,
            (Place::Message, "tool_calls") => Place::ToolCall,
            (Place::Message, "function_call") | (Place::ToolCall, "function") => Place::Function,
            (Place::Part, "image_url") => Place::ImageUrl,
            (Place::Part, "input_audio") => Place::InputAudio,
            (Place::Part, "file") => Place::File,
            (Place::MessagesTop, "messages") => Place::AnthropicMessage,
            (Place::MessagesTop, "system")
            | (Place::AnthropicMessage | Place::Block, "content") => Place::Block,
            (Place::MessagesTop, "tools") => Place::Tool,
            (Place::Block, "source") => Place::Source,
            (_, "cache_control") => Place::CacheControl,
            (Place::ResponsesTop, "input") => Place::ResponseItem,
            (Place::ResponsesTop, "tools") => Place::Tool,
            (Place::ResponseItem, "content") => Place::ResponsePart,
            _ => Place::Text,
        }
    }

    /// Whether `value`, the string under `key` here, is structure rather than content: the model
    /// (routed, never sent as written), and the schema's enumerated values where the schema puts
    /// them. Any other value there — an id, a role nobody defined — is text and is screened.
    fn structural(self, key: &str, value: &str) -> bool {
        let known: &[&str] = match (self, key) {
            (Place::Top, "model") => return true,
            (Place::Top, "reasoning_effort") => &["minimal", "low", "medium", "high"],
            (Place::Top, "tool_choice") => &["none", "auto", "required"],
            (Place::Message, "role") => {
                &["system", "developer", "user", "assistant", "tool", "function"]
            }
            (Place::Part, "type") => &["text", "image_url", "input_audio", "file", "refusal"],
            (Place::ToolCall | Place::Tool, "type") => &["function", "custom"],
            (Place::ImageUrl, "detail") => &["auto", "low", "high"],
            (Place::InputAudio, "format") => &["wav", "mp3"],
            (Place::MessagesTop, "model") => return true,
            (Place::AnthropicMessage, "role") => &["user", "assistant"],
            (Place::Block, "type") => &[
                "text",
                "image",
                "document",
                "tool_use",
                "tool_result",
                "thinking",
                "redacted_thinking",
                "search_result",
                "server_tool_use",
                "web_search_tool_result",
            ],
            (Place::Source, "type") => &["base64", "url", "text", "content", "file"],
            (Place::Source, "media_type") => return true,
            (Place::ResponsesTop, "model") => return true,
            (Place::ResponsesTop, "tool_choice") => &["none", "auto", "required"],
            (Place::ResponsesTop, "truncation") => &["auto", "disabled"],
            (Place::ResponseItem, "role") => &["system", "developer", "user", "assistant"],
            (Place::ResponseItem, "type") => {
                &["message", "function_call", "function_call_output", "reasoning", "item_reference"]
            }
            (Place::ResponseItem, "status") => &["in_progress", "completed", "incomplete"],
            (Place::ResponsePart, "type") => {
                &["input_text", "input_image", "input_file", "output_text", "refusal"]
            }
            (Place::ResponsePart, "detail") => &["auto", "low", "high"],
            (Place::CacheControl, "type") => &["ephemeral"],
            (Place::CacheControl, "ttl") => &["5m", "1h"],
            _ => return false,
        };
        known.contains(&value)
    }
}

/// Screens every piece of text a chat request sends upstream, in place: message contents (plain
/// or in parts), names, tool calls' arguments (as the JSON they are), tool and function
/// descriptions and schemas, predictions, `user`, stop sequences, ids. Only real inline media
/// (a base64 image, audio or binary file at the schema's media fields) is left alone; a textual
/// data URL is decoded and screened.
pub(crate) fn chat(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    request_text(policy, request, Place::Top)
}

/// Screens every piece of text an Anthropic Messages request sends upstream, in place: `system`,
/// message contents (text, tool inputs, tool results, thinking, text documents), tools, stop
/// sequences, `metadata`. Left alone: inline images and PDFs, and `cache_control`. Thinking
/// signatures and redacted thinking are screened like any text (a field no check looks at is a
/// way around DLP); the detectors' patterns do not occur in their base64.
pub(crate) fn messages(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    request_text(policy, request, Place::MessagesTop)
}

/// Screens every piece of text a Responses request sends upstream, in place: `instructions`, the
/// input (a string, or items: message parts, function call arguments as the JSON they are,
/// function outputs, reasoning), tools, the text format's schema, `metadata`. Only real inline
/// media (a base64 image or binary file) is left alone.
pub(crate) fn responses(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    request_text(policy, request, Place::ResponsesTop)
}

fn request_text(policy: &Policy, request: &mut Map<String, Value>, top: Place) -> Outcome {
    let mut outcome = Outcome::default();
    if policy.may_mask() {
        // Placeholders must not be text the request already holds.
        outcome.masks.avoid(&serde_json::to_string(request).unwrap_or_default());
    }
    for (key, value) in request.iter_mut() {
        walk(policy, value, top, key, &mut outcome);
    }
    outcome
}

/// Bodies larger than this are screened on a blocking thread: a 100 KB prompt takes about a
/// millisecond, too long to hold an async worker.
const INLINE_LIMIT: usize = 32 << 10;

/// Screens `request` with `screen` under the tenant's policy: inline when it is small, on a
/// blocking thread when it is not.
pub(crate) async fn off_thread(
    ctx: &RequestContext,
    mut request: Map<String, Value>,
    screen: fn(&Policy, &mut Map<String, Value>) -> Outcome,
) -> (Map<String, Value>, Outcome) {
    let policy = std::sync::Arc::clone(&ctx.tenant.dlp);
    if ctx.body_len <= INLINE_LIMIT {
        let outcome = screen(&policy, &mut request);
        return (request, outcome);
    }
    let work = move || {
        let outcome = screen(&policy, &mut request);
        (request, outcome)
    };
    tokio::task::spawn_blocking(work).await.expect("DLP screening does not panic")
}

/// Screens an embeddings request's input in place.
pub(crate) fn embeddings(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    let mut outcome = Outcome::default();
    if let Some(input) = request.get_mut("input") {
        walk(policy, input, Place::Text, "input", &mut outcome);
    }
    outcome
}

/// Screens the strings in `value`, found under `key` at `place`; true when one changed.
fn walk(
    policy: &Policy,
    value: &mut Value,
    place: Place,
    key: &str,
    outcome: &mut Outcome,
) -> bool {
    match value {
        Value::String(text) if place.structural(key, text) => false,
        Value::String(text) => match (place, key) {
            // Tool-call arguments are JSON: screened value by value, so that escapes cannot hide
            // a value and a redaction cannot break the JSON.
            (Place::Function | Place::ResponseItem, "arguments") => {
                match serde_json::from_str::<Value>(text) {
                    Ok(mut parsed) if parsed.is_object() || parsed.is_array() => {
                        let changed = walk(policy, &mut parsed, Place::Text, "", outcome);
                        if changed {
                            *text = parsed.to_string();
                        }
                        changed
                    }
                    _ => screen(policy, text, outcome),
                }
            }
            (Place::ImageUrl, "url")
            | (Place::File, "file_data")
            | (Place::ResponsePart, "image_url" | "file_data") => {
                screen_data_url(policy, text, outcome)
            }
            // Raw base64 audio: skipped only when it is that.
            (Place::InputAudio, "data") if decode_base64(text).is_some() => false,
            _ => screen(policy, text, outcome),
        },
        // Every item is walked: none may be skipped once one has changed.
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= walk(policy, item, place, key, outcome);
            }
            changed
        }
        Value::Object(map) => {
            let inner = place.enter(key);
            // An Anthropic image or PDF inline as base64 is not text.
            let media = inner == Place::Source
                && map.get("type").and_then(Value::as_str) == Some("base64")
                && map.get("media_type").and_then(Value::as_str).is_some_and(|m| !textual(m));
            let mut changed = false;
            for (k, v) in map {
                if media && k == "data" && v.as_str().is_some_and(|d| decode_base64(d).is_some()) {
                    continue;
                }
                changed |= walk(policy, v, inner, k, outcome);
            }
            changed
        }
        _ => false,
    }
}

/// A media field's value: an image, audio or a binary file inline as a base64 data URL is not
/// text and is left alone; a `text/*` (or JSON, XML, untyped) one is decoded, screened and
/// encoded again; anything else — a URL, text dressed as a data URL, base64 that does not decode —
/// is screened as the text it is.
fn screen_data_url(policy: &Policy, text: &mut String, outcome: &mut Outcome) -> bool {
    let Some((meta, payload)) = text.strip_prefix("data:").and_then(|rest| rest.split_once(','))
    else {
        return screen(policy, text, outcome);
    };
    let mut params = meta.split(';');
    let media = params.next().unwrap_or_default().trim().to_ascii_lowercase();
    let base64 = meta.rsplit(';').next().is_some_and(|p| p.eq_ignore_ascii_case("base64"));
    let textual = textual(&media);
    let decoded: Option<Vec<u8>> = if base64 {
        decode_base64(payload)
    } else {
        Some(percent_encoding::percent_decode_str(payload).collect())
    };
    match decoded {
        Some(_) if !textual && base64 => false,
        Some(bytes) if textual => match String::from_utf8(bytes) {
            Ok(mut inner) => {
                let changed = screen(policy, &mut inner, outcome);
                if changed {
                    use base64::Engine as _;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
                    let media = if media.is_empty() { "text/plain" } else { media.as_str() };
                    *text = format!("data:{media};base64,{encoded}");
                }
                changed
            }
            Err(_) => screen(policy, text, outcome),
        },
        _ => screen(policy, text, outcome),
    }
}

/// Whether a media type is text: a file of it is screened, not skipped as media.
fn textual(media: &str) -> bool {
    let media = media.trim().to_ascii_lowercase();
    media.is_empty()
        || media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
        )
        || media.ends_with("+json")
        || media.ends_with("+xml")
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

fn screen(policy: &Policy, text: &mut String, outcome: &mut Outcome) -> bool {
    match outcome.guard(policy, text) {
        Some(screened) => {
            *text = screened;
            true
        }
        None => false,
    }
}

/// The 400 for a request with a blocked type in it: the types, never the values.
pub(crate) fn blocked(outcome: &Outcome) -> Option<ApiError> {
    if outcome.blocked.is_empty() {
        return None;
    }
    let kinds: Vec<&str> = outcome.blocked.iter().map(|k| k.as_str()).collect();
    Some(ApiError::dlp_blocked(&kinds.join(", ")))
}

/// Puts masked values back into a whole answer: message contents and tool-call arguments.
pub(crate) fn restore_answer(masks: &Masks, answer: &mut Value) {
    let choices = answer.get_mut("choices").and_then(Value::as_array_mut);
    for choice in choices.into_iter().flatten() {
        let Some(message) = choice.get_mut("message") else { continue };
        if let Some(Value::String(text)) = message.get_mut("content") {
            *text = masks.restore(text);
        }
        let calls = message.get_mut("tool_calls").and_then(Value::as_array_mut);
        for call in calls.into_iter().flatten() {
            if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments") {
                // Inside JSON: the originals go back escaped.
                *arguments = masks.restore_json(arguments);
            }
        }
    }
}

/// Puts masked values back into a whole Anthropic Messages answer: text, thinking and tool
/// inputs.
pub(crate) fn restore_message(masks: &Masks, answer: &mut Value) {
    let blocks = answer.get_mut("content").and_then(Value::as_array_mut);
    for block in blocks.into_iter().flatten() {
        for field in ["text", "thinking"] {
            if let Some(Value::String(text)) = block.get_mut(field) {
                *text = masks.restore(text);
            }
        }
        if let Some(input) = block.get_mut("input") {
            restore_strings(masks, input);
        }
    }
}

/// Every string in `value`, restored.
fn restore_strings(masks: &Masks, value: &mut Value) {
    match value {
        Value::String(text) => *text = masks.restore(text),
        Value::Array(items) => items.iter_mut().for_each(|v| restore_strings(masks, v)),
        Value::Object(map) => map.values_mut().for_each(|v| restore_strings(masks, v)),
        _ => {}
    }
}

/// Puts masked values back into a stream of Anthropic Messages events: each content block's
/// text, thinking or tool input restored by its own [`Restorer`], so that a placeholder split
/// across deltas comes out whole; what a block's restorer still holds goes out as one more delta
/// before the block stops.
#[derive(Debug)]
pub(crate) struct RestoringMessages {
    masks: Masks,
    /// By block index: the delta type and field it streams, and its restorer.
    blocks: HashMap<u64, (&'static str, &'static str, Restorer)>,
}

impl RestoringMessages {
    pub fn new(masks: Masks) -> RestoringMessages {
        RestoringMessages { masks, blocks: HashMap::new() }
    }

    /// One event, rewritten: the events to send in its place.
    pub fn event(&mut self, mut event: Value) -> Vec<Value> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event.get("type").and_then(Value::as_str) {
            Some("content_block_delta") => {
                let kind = event.pointer("/delta/type").and_then(Value::as_str);
                let (kind, field) = match kind {
                    Some("text_delta") => ("text_delta", "text"),
                    Some("thinking_delta") => ("thinking_delta", "thinking"),
                    Some("input_json_delta") => ("input_json_delta", "partial_json"),
                    _ => return vec![event],
                };
                let masks = &self.masks;
                let (_, _, restorer) = self.blocks.entry(index).or_insert_with(|| {
                    let restorer = if field == "partial_json" {
                        masks.json_restorer()
                    } else {
                        masks.restorer()
                    };
                    (kind, field, restorer)
                });
                if let Some(Value::String(piece)) = event["delta"].get_mut(field) {
                    *piece = restorer.push(piece);
                }
                vec![event]
            }
            Some("content_block_stop") => match self.blocks.remove(&index) {
                Some((kind, field, mut restorer)) => {
                    let held = restorer.finish();
                    if held.is_empty() {
                        return vec![event];
                    }
                    let delta = json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": { "type": kind, field: held },
                    });
                    vec![delta, event]
                }
                None => vec![event],
            },
            _ => vec![event],
        }
    }
}

/// Puts masked values back into a whole Responses answer, or any piece of one: the text of its
/// `output_text` parts and the arguments of its function calls.
pub(crate) fn restore_response(masks: &Masks, value: &mut Value) {
    match value {
        Value::Object(map) => {
            match map.get("type").and_then(Value::as_str) {
                Some("output_text") => {
                    if let Some(Value::String(text)) = map.get_mut("text") {
                        *text = masks.restore(text);
                    }
                }
                Some("function_call") => {
                    if let Some(Value::String(arguments)) = map.get_mut("arguments") {
                        *arguments = masks.restore_json(arguments);
                    }
                }
                _ => {}
            }
            for (key, inner) in map.iter_mut() {
                if key != "text" && key != "arguments" {
                    restore_response(masks, inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| restore_response(masks, v)),
        _ => {}
    }
}

/// Puts masked values back into a stream of Responses events: each output item's text deltas
/// and argument deltas restored by their own [`Restorer`], what one still holds sent as one more
/// delta before the item's `.done` event, and the whole text in `.done` events and in the final
/// response restored outright.
#[derive(Debug)]
pub(crate) struct RestoringResponses {
    masks: Masks,
    /// By item id: the delta event type, and its restorer.
    items: HashMap<String, (&'static str, Restorer)>,
}

impl RestoringResponses {
    pub fn new(masks: Masks) -> RestoringResponses {
        RestoringResponses { masks, items: HashMap::new() }
    }

    /// One event, rewritten: the events to send in its place.
    pub fn event(&mut self, mut event: Value) -> Vec<Value> {
        let item = event.get("item_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind.as_str() {
            "response.output_text.delta" | "response.function_call_arguments.delta" => {
                let masks = &self.masks;
                let (_, restorer) = self.items.entry(item).or_insert_with(|| {
                    if kind == "response.output_text.delta" {
                        ("response.output_text.delta", masks.restorer())
                    } else {
                        ("response.function_call_arguments.delta", masks.json_restorer())
                    }
                });
                if let Some(Value::String(piece)) = event.get_mut("delta") {
                    *piece = restorer.push(piece);
                }
                vec![event]
            }
            "response.output_text.done" | "response.function_call_arguments.done" => {
                let field = if kind == "response.output_text.done" { "text" } else { "arguments" };
                if let Some(Value::String(whole)) = event.get_mut(field) {
                    *whole = if field == "text" {
                        self.masks.restore(whole)
                    } else {
                        self.masks.restore_json(whole)
                    };
                }
                let Some((delta_kind, mut restorer)) = self.items.remove(&item) else {
                    return vec![event];
                };
                let held = restorer.finish();
                if held.is_empty() {
                    return vec![event];
                }
                let mut delta = event.clone();
                if let Some(fields) = delta.as_object_mut() {
                    fields.remove(field);
                    fields.insert("type".into(), json!(delta_kind));
                    fields.insert("delta".into(), json!(held));
                }
                vec![delta, event]
            }
            _ => {
                restore_response(&self.masks, &mut event);
                vec![event]
            }
        }
    }
}

/// Puts masked values back into a stream of OpenAI chunks, each choice's text and each tool
/// call's arguments restored by their own [`Restorer`], so that a placeholder split across
/// chunks comes out whole.
#[derive(Debug)]
pub(crate) struct Restoring {
    masks: Masks,
    content: HashMap<u64, Restorer>,
    arguments: HashMap<(u64, u64), Restorer>,
}

impl Restoring {
    pub fn new(masks: Masks) -> Restoring {
        Restoring { masks, content: HashMap::new(), arguments: HashMap::new() }
    }

    /// Rewrites one chunk. A choice's held-back text goes out with its `finish_reason`.
    pub fn chunk(&mut self, chunk: &mut Value) {
        let choices = chunk.get_mut("choices").and_then(Value::as_array_mut);
        for choice in choices.into_iter().flatten() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finishing = choice.get("finish_reason").is_some_and(|f| !f.is_null());
            if finishing && choice.get("delta").is_none_or(|d| !d.is_object()) {
                choice["delta"] = json!({});
            }
            let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) else {
                continue;
            };
            let restorer = self.content.entry(index).or_insert_with(|| self.masks.restorer());
            let mut text = match delta.get("content").and_then(Value::as_str) {
                Some(piece) => restorer.push(piece),
                None => String::new(),
            };
            if finishing {
                text.push_str(&restorer.finish());
            }
            if delta.get("content").is_some_and(Value::is_string) || !text.is_empty() {
                delta.insert("content".to_owned(), Value::String(text));
            }
            let calls = delta.get_mut("tool_calls").and_then(Value::as_array_mut);
            for call in calls.into_iter().flatten() {
                let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(Value::String(piece)) = call.pointer_mut("/function/arguments") {
                    let restorer = self
                        .arguments
                        .entry((index, call_index))
                        .or_insert_with(|| self.masks.json_restorer());
                    *piece = restorer.push(piece);
                }
            }
            if finishing {
                let held: Vec<Value> = self
                    .arguments
                    .iter_mut()
                    .filter(|((choice, _), _)| *choice == index)
                    .filter_map(|((_, call), r)| {
                        let rest = r.finish();
                        (!rest.is_empty())
                            .then(|| json!({ "index": call, "function": { "arguments": rest } }))
                    })
                    .collect();
                if !held.is_empty() {
                    let calls = delta.entry("tool_calls").or_insert_with(|| json!([]));
                    if let Some(calls) = calls.as_array_mut() {
                        calls.extend(held);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlp::Kind;
    use crate::dlp::policy::Action;

    fn masking() -> Policy {
        Policy { actions: [(Kind::Email, Action::MaskAndRestore)].into(), ..Policy::default() }
    }

    #[test]
    fn message_text_parts_and_tool_arguments_are_screened() {
        let mut request = json!({
            "messages": [
                { "role": "user", "content": "I am ada@lovelace.dev" },
                { "role": "user", "content": [{ "type": "text", "text": "cc ada@lovelace.dev" }] },
                { "role": "assistant", "tool_calls": [{ "id": "c1", "type": "function",
                  "function": { "name": "send", "arguments": "{\"to\":\"ada@lovelace.dev\"}" } }] },
            ]
        });
        let outcome = chat(&masking(), request.as_object_mut().unwrap());
        assert_eq!(outcome.count(), 3);
        assert_eq!(request["messages"][0]["content"], "I am [EMAIL_1]");
        assert_eq!(request["messages"][1]["content"][0]["text"], "cc [EMAIL_1]");
        assert_eq!(
            request["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"to\":\"[EMAIL_1]\"}"
        );
        assert_eq!(outcome.detail().unwrap(), r#"{"email":{"mask_and_restore":3}}"#);
    }

    #[test]
    fn every_text_the_request_sends_is_screened_but_its_structure_is_not() {
        let redact = Policy { secrets: Some(Action::Redact), ..Policy::default() };
        let key = "AKIAZ7QW3ERT5YUI2OPL";
        let mut request = json!({
            "model": "gpt-4o",
            "user": format!("deployer {key}"),
            "tools": [{ "type": "function", "function": { "name": "deploy",
                "description": format!("deploys with {key}"), "parameters": { "type": "object" } } }],
            "messages": [
                { "role": "user", "name": "ops", "content": format!("use {key}") },
                { "role": "user", "content": [{ "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{key}") } }] },
                // Escaped inside the JSON arguments: found once parsed, and the JSON stays whole.
                { "role": "assistant", "tool_calls": [{ "id": "c1", "type": "function",
                  "function": { "name": "run", "arguments": "{\"cmd\":\"aws --key \\u0041KIAZ7QW3ERT5YUI2OPL\"}" } }] },
            ]
        });
        let outcome = chat(&redact, request.as_object_mut().unwrap());
        let sent = request.to_string();
        assert_eq!(outcome.count(), 4, "{sent}");
        assert!(sent.contains("data:image/png;base64,AKIA"), "data URLs are not text");
        assert_eq!(sent.matches("[REDACTED:AWS_ACCESS_KEY]").count(), 4, "{sent}");
        let arguments =
            request["messages"][2]["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
        let arguments: Value = serde_json::from_str(arguments).unwrap();
        assert_eq!(arguments["cmd"], "aws --key [REDACTED:AWS_ACCESS_KEY]");
        assert_eq!(request["model"], "gpt-4o");
    }

    #[test]
    fn an_anthropic_message_is_screened_everywhere_it_carries_text_but_its_images() {
        use base64::Engine as _;
        let redact = Policy { secrets: Some(Action::Redact), ..Policy::default() };
        let key = "AKIAZ7QW3ERT5YUI2OPL";
        let png = base64::engine::general_purpose::STANDARD.encode(format!("\u{89}PNG\r\n{key}"));
        let mut request = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": [{ "type": "text", "text": format!("deploy key {key}"),
                         "cache_control": { "type": "ephemeral", "ttl": "1h" } }],
            "tools": [{ "name": "deploy", "description": format!("uses {key}"),
                        "input_schema": { "type": "object" } }],
            "metadata": { "user_id": key },
            "messages": [
                { "role": "user", "content": [
                    { "type": "text", "text": format!("use {key}") },
                    { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": png } },
                    { "type": "document", "source": { "type": "text", "media_type": "text/plain",
                      "data": format!("notes: {key}") } },
                ] },
                { "role": "assistant", "content": [
                    { "type": "thinking", "thinking": format!("the key is {key}"), "signature": "EqQBCgIYAhIM" },
                    { "type": "tool_use", "id": "toolu_1", "name": "deploy", "input": { "key": key } },
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "toolu_1",
                      "content": [{ "type": "text", "text": format!("deployed with {key}") }] },
                ] },
            ]
        });
        let outcome = messages(&redact, request.as_object_mut().unwrap());
        let sent = request.to_string();
        assert_eq!(outcome.count(), 8, "{sent}");
        assert_eq!(sent.matches(key).count(), 0, "{sent}");
        assert_eq!(
            request["messages"][0]["content"][1]["source"]["data"], png,
            "images are not text"
        );
        assert_eq!(
            request["messages"][1]["content"][1]["input"]["key"],
            "[REDACTED:AWS_ACCESS_KEY]"
        );
        assert_eq!(
            request["system"][0]["cache_control"],
            json!({ "type": "ephemeral", "ttl": "1h" })
        );
        assert_eq!(request["messages"][1]["content"][0]["signature"], "EqQBCgIYAhIM");
    }

    #[test]
    fn an_anthropic_stream_gets_its_values_back_across_deltas_and_before_its_block_stops() {
        let mut request = json!({ "max_tokens": 100,
            "messages": [{ "role": "user", "content": "write to ada@lovelace.dev" }] });
        let outcome = messages(&masking(), request.as_object_mut().unwrap());
        assert_eq!(request["messages"][0]["content"], "write to [EMAIL_1]");
        let mut restoring = RestoringMessages::new(outcome.masks);
        let delta = |text: &str| {
            json!({ "type": "content_block_delta", "index": 0,
                                         "delta": { "type": "text_delta", "text": text } })
        };
        let mut text = String::new();
        let mut events = Vec::new();
        for event in [
            delta("Mail [EM"),
            delta("AIL_1] and [EMA"),
            json!({ "type": "content_block_stop", "index": 0 }),
        ] {
            events.extend(restoring.event(event));
        }
        for event in &events {
            text.push_str(event.pointer("/delta/text").and_then(Value::as_str).unwrap_or_default());
        }
        assert_eq!(text, "Mail ada@lovelace.dev and [EMA");
        assert_eq!(events.last().unwrap()["type"], "content_block_stop", "{events:?}");
        assert_eq!(events.len(), 4, "the held-back text went out before the stop: {events:?}");
    }

    #[test]
    fn text_dressed_as_media_or_structure_is_screened_all_the_same() {
        use base64::Engine as _;
        let block = Policy { secrets: Some(Action::Block), ..Policy::default() };
        let key = "AKIAZ7QW3ERT5YUI2OPL";
        let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        let attempts = [
            // A `data:` prefix on plain content.
            json!({ "messages": [{ "role": "user", "content": format!("data:,{key}") }] }),
            // A text data URL where an image goes, base64 or percent-encoded.
            json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url",
                "image_url": { "url": format!("data:text/plain;base64,{}", b64(&format!("key {key}"))) } }] }] }),
            json!({ "messages": [{ "role": "user", "content": [{ "type": "file",
                "file": { "file_data": format!("data:,key%20{key}"), "filename": "notes.txt" } }] }] }),
            // An image that is not base64 at all.
            json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url",
                "image_url": { "url": format!("data:image/png;base64,{key} !!") } }] }] }),
            // Structure's names where the schema does not put them, and made-up values where it does.
            json!({ "messages": [{ "role": "assistant", "tool_calls": [{ "id": "c1", "type": "function",
                "function": { "name": "run", "arguments": format!("{{\"id\":\"{key}\"}}") } }] }] }),
            json!({ "messages": [{ "role": "tool", "tool_call_id": key, "content": "done" }] }),
            json!({ "messages": [{ "role": key, "content": "hi" }] }),
            json!({ "messages": [{ "role": "user", "content": "hi" }], "tool_choice": key }),
            json!({ "messages": [{ "role": "user", "content": [{ "type": key, "text": "hi" }] }] }),
        ];
        for mut request in attempts {
            let outcome = chat(&block, request.as_object_mut().unwrap());
            assert!(!outcome.blocked.is_empty(), "got through: {request}");
        }
        // Real media is not text: a PNG's bytes are left as they are.
        let png = b64(&format!("\u{89}PNG\r\n{key}"));
        let mut image = json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url",
            "image_url": { "url": format!("data:image/png;base64,{png}"), "detail": "high" } }] }] });
        assert_eq!(chat(&block, image.as_object_mut().unwrap()).count(), 0);
    }

    #[test]
    fn a_textual_data_url_is_redacted_and_stays_a_data_url() {
        use base64::Engine as _;
        let redact = Policy { secrets: Some(Action::Redact), ..Policy::default() };
        let engine = base64::engine::general_purpose::STANDARD;
        let url = format!(
            "data:text/markdown;base64,{}",
            engine.encode("deploy with AKIAZ7QW3ERT5YUI2OPL")
        );
        let mut request = json!({ "messages": [{ "role": "user", "content": [{ "type": "file",
            "file": { "file_data": url, "filename": "runbook.md" } }] }] });
        assert_eq!(chat(&redact, request.as_object_mut().unwrap()).count(), 1);
        let sent = request["messages"][0]["content"][0]["file"]["file_data"].as_str().unwrap();
        let payload = sent.strip_prefix("data:text/markdown;base64,").expect(sent);
        let decoded = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
        assert_eq!(decoded, "deploy with [REDACTED:AWS_ACCESS_KEY]");
    }

    #[test]
    fn placeholders_never_clash_with_the_users_own_text() {
        let mut request = json!({ "messages": [{ "role": "user", "content": "I wrote [EMAIL_1]; mine is ada@lovelace.dev" }] });
        let outcome = chat(&masking(), request.as_object_mut().unwrap());
        assert_eq!(request["messages"][0]["content"], "I wrote [EMAIL_1]; mine is [EMAIL_2]");
        let mut answer =
            json!({ "choices": [{ "message": { "content": "[EMAIL_1] and [EMAIL_2]" } }] });
        restore_answer(&outcome.masks, &mut answer);
        assert_eq!(answer["choices"][0]["message"]["content"], "[EMAIL_1] and ada@lovelace.dev");
    }

    #[test]
    fn a_masked_value_goes_back_into_tool_arguments_as_valid_json() {
        let policy = Policy {
            actions: [(Kind::PrivateKey, Action::MaskAndRestore)].into(),
            ..Policy::default()
        };
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
        let mut request =
            json!({ "messages": [{ "role": "user", "content": format!("store {pem} please") }] });
        let outcome = chat(&policy, request.as_object_mut().unwrap());
        assert_eq!(request["messages"][0]["content"], "store [PRIVATE_KEY_1] please");
        let arguments = r#"{"key":"[PRIVATE_KEY_1]"}"#;
        let mut answer = json!({ "choices": [{ "message": { "tool_calls": [{ "function": { "arguments": arguments } }] } }] });
        restore_answer(&outcome.masks, &mut answer);
        let restored = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(restored).unwrap()["key"],
            pem,
            "newlines escaped"
        );
        // Streamed in fragments, the same.
        let mut restoring = Restoring::new(outcome.masks);
        let mut streamed = String::new();
        for piece in [r#"{"key":"[PRIV"#, r#"ATE_KEY_1]"}"#] {
            let mut chunk = json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }, "finish_reason": null }] });
            restoring.chunk(&mut chunk);
            streamed.push_str(
                chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap(),
            );
        }
        assert_eq!(serde_json::from_str::<Value>(&streamed).unwrap()["key"], pem);
    }

    #[test]
    fn a_streamed_answer_gets_its_values_back_across_chunk_boundaries() {
        let mut request =
            json!({ "messages": [{ "role": "user", "content": "to ada@lovelace.dev" }] });
        let outcome = chat(&masking(), request.as_object_mut().unwrap());
        let mut restoring = Restoring::new(outcome.masks);
        let pieces = [json!("Writing to [EM"), json!("AIL_1"), json!("] now [EMA")];
        let mut text = String::new();
        for piece in pieces {
            let mut chunk = json!({ "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }] });
            restoring.chunk(&mut chunk);
            text.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap());
        }
        let mut last = json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] });
        restoring.chunk(&mut last);
        text.push_str(last["choices"][0]["delta"]["content"].as_str().unwrap());
        assert_eq!(text, "Writing to ada@lovelace.dev now [EMA");
    }
}
