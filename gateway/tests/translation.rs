//! Golden tests of the Anthropic and Gemini translations: an OpenAI request in each provider's
//! shape, and each provider's answers and streams back in OpenAI's. Inputs are in `golden/`,
//! the expected outputs are insta snapshots in `snapshots/` (`cargo insta review` to update).

use std::path::Path;

use gateway::dialect::{StreamTranslator, anthropic, google};
use serde_json::{Map, Value};

/// Snapshots with sorted keys: whether `serde_json` keeps insertion order depends on the features
/// the rest of the workspace turns on.
macro_rules! snapshot {
    ($($arg:tt)*) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_sort_maps(true);
        settings.bind(|| insta::assert_json_snapshot!($($arg)*));
    }};
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name))
        .unwrap()
}

fn openai_request() -> Map<String, Value> {
    match serde_json::from_str(&golden("openai_request.json")).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Runs a recorded SSE stream through a translator: every OpenAI payload it sends, in order.
fn translate_stream(sse: &str, mut translator: impl StreamTranslator) -> Vec<Value> {
    let mut out = Vec::new();
    for event in sse.split("\n\n") {
        let data: Vec<&str> =
            event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
        if data.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&data.join("\n")).unwrap();
        out.extend(translator.event(&value));
    }
    out.extend(translator.finish());
    out.into_iter().map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p))).collect()
}

#[test]
fn an_openai_request_in_anthropics_shape() {
    snapshot!(anthropic::request(&openai_request(), "claude-sonnet-4-5", true));
}

#[test]
fn an_anthropic_answer_with_a_tool_call_in_openais_shape() {
    let answer: Value = serde_json::from_str(&golden("anthropic_response.json")).unwrap();
    snapshot!(anthropic::response(&answer, "claude-sonnet-4-5"), {
        ".created" => "[created]",
    });
}

#[test]
fn an_anthropic_stream_with_text_and_a_tool_call_as_openai_chunks() {
    let chunks =
        translate_stream(&golden("anthropic_stream.sse"), anthropic::Stream::new("claude"));
    snapshot!(chunks, { "[].created" => "[created]" });
}

#[test]
fn an_openai_request_in_geminis_shape() {
    snapshot!(google::request(&openai_request()));
}

#[test]
fn a_gemini_answer_with_a_function_call_in_openais_shape() {
    let answer: Value = serde_json::from_str(&golden("gemini_response.json")).unwrap();
    snapshot!(google::response(&answer, "gemini-2.5-flash"), {
        ".created" => "[created]",
    });
}

#[test]
fn a_gemini_stream_ends_with_usage_and_done_though_gemini_sends_no_done() {
    let chunks = translate_stream(&golden("gemini_stream.sse"), google::Stream::new("gemini"));
    snapshot!(chunks, { "[].created" => "[created]", "[].id" => "[id]" });
    assert_eq!(
        google::path("gemini-2.5-flash", true),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}
