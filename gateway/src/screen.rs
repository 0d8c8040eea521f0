//! DLP on the LLM API: screens a request's text — message contents (plain or in parts) and
//! tool-call arguments, or embeddings input — under the tenant's policy before it goes upstream,
//! and puts masked values back into the answer, streamed or not.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::dlp::guard::{Masks, Outcome, Restorer};
use crate::dlp::policy::Policy;
use crate::error::ApiError;

/// Screens a chat request's messages in place.
pub(crate) fn chat(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    let mut outcome = Outcome::default();
    let messages = request.get_mut("messages").and_then(Value::as_array_mut);
    for message in messages.into_iter().flatten() {
        match message.get_mut("content") {
            Some(Value::String(text)) => screen(policy, text, &mut outcome),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(Value::String(text)) = part.get_mut("text") {
                        screen(policy, text, &mut outcome);
                    }
                }
            }
            _ => {}
        }
        let calls = message.get_mut("tool_calls").and_then(Value::as_array_mut);
        for call in calls.into_iter().flatten() {
            if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments") {
                screen(policy, arguments, &mut outcome);
            }
        }
    }
    outcome
}

/// Screens an embeddings request's input in place.
pub(crate) fn embeddings(policy: &Policy, request: &mut Map<String, Value>) -> Outcome {
    let mut outcome = Outcome::default();
    match request.get_mut("input") {
        Some(Value::String(text)) => screen(policy, text, &mut outcome),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(text) = item {
                    screen(policy, text, &mut outcome);
                }
            }
        }
        _ => {}
    }
    outcome
}

fn screen(policy: &Policy, text: &mut String, outcome: &mut Outcome) {
    if let Some(screened) = outcome.guard(policy, text) {
        *text = screened;
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

/// What DLP did, for the usage record: `{"email": {"redact": 2}}`.
pub(crate) fn detail(outcome: &Outcome) -> Option<String> {
    if outcome.events.is_empty() {
        return None;
    }
    let mut detail: BTreeMap<&str, BTreeMap<&str, u32>> = BTreeMap::new();
    for ((kind, action), n) in &outcome.events {
        detail.entry(kind.as_str()).or_default().insert(action.as_str(), *n);
    }
    Some(json!(detail).to_string())
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
                *arguments = masks.restore(arguments);
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
                        .or_insert_with(|| self.masks.restorer());
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
        assert_eq!(detail(&outcome).unwrap(), r#"{"email":{"mask_and_restore":3}}"#);
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
