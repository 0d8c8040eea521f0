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
        ".choices[].message.tool_calls[].id" => "[call id]",
    });
}

#[test]
fn a_gemini_stream_ends_with_usage_and_done_though_gemini_sends_no_done() {
    let chunks = translate_stream(&golden("gemini_stream.sse"), google::Stream::new("gemini"));
    snapshot!(chunks, {
        "[].created" => "[created]",
        "[].id" => "[id]",
        "[].choices[].delta.tool_calls[].id" => "[call id]",
    });
    assert_eq!(
        google::path("gemini-2.5-flash", true),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}

#[test]
fn a_gemini_thought_signature_goes_back_with_its_call_and_results_find_their_function() {
    let answer = serde_json::json!({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "c2lnbmF0dXJl"}
    ]}, "finishReason": "STOP"}]});
    let reply = google::response(&answer, "gemini-3-pro");
    assert!(reply.get("usage").is_none(), "no usageMetadata: no usage, so the gateway counts");
    let call = reply["choices"][0]["message"]["tool_calls"][0].clone();
    let next = serde_json::json!({"messages": [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
        {"role": "tool", "tool_call_id": call["id"], "content": "14:05"},
    ]});
    let request = google::request(next.as_object().unwrap());
    assert_eq!(request["contents"][1]["parts"][0]["thoughtSignature"], "c2lnbmF0dXJl");
    let response = &request["contents"][2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "get_time");
    assert_eq!(response["response"], serde_json::json!({"result": "14:05"}));
}

#[test]
fn a_prompt_gemini_blocks_ends_with_content_filter_streamed_or_not() {
    let blocked = serde_json::json!({
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
    });
    let reply = google::response(&blocked, "gemini-2.5-flash");
    assert_eq!(reply["choices"][0]["finish_reason"], "content_filter");

    let chunks = translate_stream(&format!("data: {blocked}\n\n"), google::Stream::new("gemini"));
    let finish: Vec<&Value> =
        chunks.iter().filter_map(|c| c["choices"][0].get("finish_reason")).collect();
    assert!(finish.contains(&&Value::from("content_filter")), "{chunks:?}");
    assert_eq!(chunks.last(), Some(&Value::from("[DONE]")));
    assert_eq!(chunks[chunks.len() - 2]["usage"]["prompt_tokens"], 5);
}

#[test]
fn a_model_name_cannot_leave_geminis_model_path() {
    assert!(google::is_safe_model("gemini-2.5-flash"));
    for bad in ["gemini-x/../../v1beta/cachedContents?", "a/b", "x%2e%2e", "..", ""] {
        assert!(!google::is_safe_model(bad), "{bad}");
    }
}

#[test]
fn prompt_cache_reads_and_writes_reach_the_openai_usage_from_each_provider() {
    // Anthropic leaves cached tokens out of `input_tokens`; OpenAI counts them in the prompt and
    // names the cache reads `cached_tokens` (writes as LiteLLM does).
    let sse = concat!(
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\",",
        "\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":9000,",
        "\"cache_creation_input_tokens\":800,\"output_tokens\":1}}}\n\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":40}}\n\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );
    let chunks = translate_stream(sse, anthropic::Stream::new("claude-sonnet-4-5"));
    let usage = &chunks[chunks.len() - 2]["usage"];
    assert_eq!(usage["prompt_tokens"], 9812, "{usage}");
    assert_eq!(usage["completion_tokens"], 40, "{usage}");
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 9000, "{usage}");
    assert_eq!(usage["cache_creation_input_tokens"], 800, "{usage}");

    // Gemini counts cached content in the prompt already.
    let answer: Value = serde_json::json!({
        "candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5000, "cachedContentTokenCount": 4096,
                          "candidatesTokenCount": 3, "totalTokenCount": 5003},
    });
    let usage = &google::response(&answer, "gemini-2.5-flash")["usage"];
    assert_eq!(usage["prompt_tokens"], 5000, "{usage}");
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 4096, "{usage}");
    assert!(usage.get("cache_creation_input_tokens").is_none(), "{usage}");
}
