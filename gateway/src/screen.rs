//! DLP on the LLM API: screens a request's text — message contents (plain or in parts) and
//! tool-call arguments, or embeddings input — under the tenant's policy before it goes upstream,
//! and puts masked values back into the answer, streamed or not.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::dlp::guard::{Masks, Outcome, Restorer};
use crate::dlp::policy::Policy;
use crate::error::ApiError;
use crate::proxy::RequestContext;

/// Keys whose string values are the request's structure, not its content.
const STRUCTURE: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_choice",
    "encoding_format",
    "detail",
    "format",
    "reasoning_effort",
    "service_tier",
    "modalities",
];

/// Screens every piece of text a chat request sends upstream, in place: message contents (plain
/// or in parts), names, tool calls' arguments (as the JSON they are), tool and function
/// descriptions and schemas, predictions, `user`, stop sequences. Data URLs (inline images and
/// files) are not text and are left alone.
pub(crate) fn chat(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    let mut outcome = Outcome::default();
    if policy.may_mask() {
        // Placeholders must not be text the request already holds.
        outcome.masks.avoid(&serde_json::to_string(request).unwrap_or_default());
    }
    for (key, value) in request.iter_mut() {
        walk(policy, value, key, &mut outcome);
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
        walk(policy, input, "input", &mut outcome);
    }
    outcome
}

/// Screens the strings in `value` (found under `key`); true when one changed.
fn walk(policy: &Policy, value: &mut Value, key: &str, outcome: &mut Outcome) -> bool {
    match value {
        Value::String(text) if STRUCTURE.contains(&key) || text.starts_with("data:") => false,
        Value::String(text) if key == "arguments" => {
            // Tool-call arguments are JSON: screened value by value, so that escapes cannot hide
            // a value and a redaction cannot break the JSON.
            match serde_json::from_str::<Value>(text) {
                Ok(mut parsed) if parsed.is_object() || parsed.is_array() => {
                    let changed = walk(policy, &mut parsed, "", outcome);
                    if changed {
                        *text = parsed.to_string();
                    }
                    changed
                }
                _ => screen(policy, text, outcome),
            }
        }
        Value::String(text) => screen(policy, text, outcome),
        // Every item is walked: none may be skipped once one has changed.
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= walk(policy, item, key, outcome);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for (k, v) in map {
                changed |= walk(policy, v, k, outcome);
            }
            changed
        }
        _ => false,
    }
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
