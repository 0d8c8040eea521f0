//! Property tests over every parser of the gateway that a client or a provider feeds: DLP's
//! detectors, request screening, the SSE event splitter, and the Anthropic and Gemini translators
//! both ways. Whatever arrives, none of them panics. Bounded (a few hundred cases each) so that a
//! test run stays fast; a failure prints its smallest input.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::dlp::policy::{Action, Policy};

/// JSON as clients and providers send it, and as they might: the keys the gateway looks for,
/// mixed with any others, at any depth, holding any kind of value.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    let known: &'static [&str] = &[
        "messages",
        "content",
        "role",
        "tool_calls",
        "function",
        "function_call",
        "arguments",
        "name",
        "image_url",
        "url",
        "input_audio",
        "data",
        "file",
        "file_data",
        "type",
        "text",
        "id",
        "tool_call_id",
        "tools",
        "choices",
        "delta",
        "message",
        "usage",
        "candidates",
        "parts",
        "functionCall",
        "args",
        "finish_reason",
        "stop_reason",
        "index",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "stop",
        "system",
        "stream",
        "input",
    ];
    prop_oneof![3 => prop::sample::select(known).prop_map(String::from), 1 => "[a-z_]{0,10}"]
}

/// Text that looks like what detectors and translators look for, and text that does not.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,60}",
        "[0-9 +().-]{0,30}",
        "(AKIA|ghp_|sk-|xox[bp]-|data:|[a-z]+@)[A-Za-z0-9+/=,;:._-]{0,50}",
        "[ -~]{0,80}",
    ]
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..8).prop_map(|pairs| pairs.into_iter().collect())
}

fn every_action() -> Policy {
    Policy {
        secrets: Some(Action::Redact),
        personal_data: Some(Action::MaskAndRestore),
        actions: [(crate::dlp::Kind::AwsAccessKey, Action::Block)].into(),
        ..Policy::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn detections_lie_on_the_text_s_character_boundaries(text in prop_oneof![text(), any::<String>()]) {
        for d in crate::dlp::scanner().scan(&text) {
            prop_assert!(d.start <= d.end && d.end <= text.len());
            prop_assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end));
        }
    }

    #[test]
    fn screening_any_request_never_panics(mut request in object()) {
        let policy = every_action();
        let _ = crate::screen::chat(&policy, &mut request);
        let _ = crate::screen::embeddings(&policy, &mut request);
    }

    #[test]
    fn any_bytes_split_into_events_within_bounds(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut rest = &bytes[..];
        while let Some((end, next)) = crate::stream::event_end(rest) {
            prop_assert!(end <= next && next <= rest.len());
            let _ = crate::stream::event_data(&rest[..end]);
            rest = &rest[next..];
        }
    }

    #[test]
    fn any_request_translates_to_anthropic_and_gemini(request in object(), stream in any::<bool>()) {
        let _ = crate::dialect::anthropic::request(&request, "claude-sonnet-4-5", stream);
        let _ = crate::dialect::google::request(&request);
    }

    #[test]
    fn any_answer_or_event_translates_back(answer in json(), events in prop::collection::vec(json(), 0..6)) {
        let _ = crate::dialect::anthropic::response(&answer, "claude-sonnet-4-5");
        let _ = crate::dialect::google::response(&answer, "gemini-2.5-pro");
        let translators: [Box<dyn crate::dialect::StreamTranslator>; 2] = [
            Box::new(crate::dialect::anthropic::Stream::new("claude-sonnet-4-5")),
            Box::new(crate::dialect::google::Stream::new("gemini-2.5-pro")),
        ];
        for mut translator in translators {
            for event in &events {
                let _ = translator.event(event);
            }
            let _ = translator.finish();
        }
    }
}
