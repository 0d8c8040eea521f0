//! Anthropic's Messages API through the gateway, in process, against mock Anthropic providers
//! that are real HTTP servers on this machine: what Claude Code and the Anthropic SDKs can rely
//! on. The request reaches the provider as the client wrote it (cache breakpoints, thinking,
//! beta headers), under the tenant's governance, and every refusal is in Anthropic's error shape.
//! `mcp-server/tests/it/gateway.rs` drives the real binary with the real Anthropic SDK.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gateway::Gateway;
use gateway::settings::GatewaySettings;
use serde_json::{Value, json};

const TENANT_KEY: &str = "tenant-key-for-the-messages-tests";

/// How a mock Anthropic provider answers `/v1/messages`.
#[derive(Clone, Copy)]
enum Behaviour {
    /// 500, every time.
    Fail,
    /// A message, or its stream when asked: the last user text said back, with usage that read
    /// 90,000 tokens from the prompt cache and wrote 8,000 to it. The stream says it back three
    /// characters a delta.
    Echo,
}

/// What the provider was sent last: its headers and body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Option<(HeaderMap, Value)>>>);

impl Seen {
    fn body(&self) -> Value {
        self.0.lock().unwrap().as_ref().expect("the provider was asked").1.clone()
    }

    fn header(&self, name: &str) -> Option<String> {
        let seen = self.0.lock().unwrap();
        let headers = &seen.as_ref().expect("the provider was asked").0;
        headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    fn asked(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }
}

/// An Anthropic provider on a port of this machine: its base URL.
async fn anthropic(behaviour: Behaviour, seen: &Seen) -> String {
    let app = Router::new()
        .route("/v1/messages", post(answer))
        .route("/v1/messages/count_tokens", post(count))
        .with_state((behaviour, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn last_user_text(request: &Value) -> String {
    let last = &request["messages"].as_array().unwrap().last().unwrap()["content"];
    match last {
        Value::String(s) => s.clone(),
        blocks => blocks[0]["text"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn answer(
    State((behaviour, seen)): State<(Behaviour, Seen)>,
    headers: HeaderMap,
    axum::Json(request): axum::Json<Value>,
) -> Response {
    *seen.0.lock().unwrap() = Some((headers, request.clone()));
    if let Behaviour::Fail = behaviour {
        let error = json!({"type": "error", "error": {"type": "api_error", "message": "down"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
    }
    let said = last_user_text(&request);
    let usage = json!({ "input_tokens": 2_000, "cache_read_input_tokens": 90_000,
                        "cache_creation_input_tokens": 8_000, "output_tokens": 1 });
    if request["stream"] != json!(true) {
        let mut usage = usage;
        usage["output_tokens"] = json!(1_000);
        return axum::Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": request["model"],
            "content": [{ "type": "text", "text": said }],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage,
        }))
        .into_response();
    }
    let mut events = vec![
        json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message",
                "role": "assistant", "model": request["model"], "content": [],
                "stop_reason": null, "usage": usage } }),
        json!({ "type": "content_block_start", "index": 0,
                "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
    ];
    let chars: Vec<char> = said.chars().collect();
    for piece in chars.chunks(3) {
        let text: String = piece.iter().collect();
        events.push(json!({ "type": "content_block_delta", "index": 0,
                            "delta": { "type": "text_delta", "text": text } }));
    }
    events.push(json!({ "type": "content_block_stop", "index": 0 }));
    events.push(json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn" },
                        "usage": { "output_tokens": 1_000 } }));
    events.push(json!({ "type": "message_stop" }));
    let body: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

async fn count(
    State((_, seen)): State<(Behaviour, Seen)>,
    headers: HeaderMap,
    axum::Json(request): axum::Json<Value>,
) -> Response {
    *seen.0.lock().unwrap() = Some((headers, request));
    axum::Json(json!({ "input_tokens": 4_321 })).into_response()
}

/// The gateway with Anthropic providers at `urls` (tried in this order) serving `claude-*`, and
/// one tenant with the settings in `tenant` (TOML), serving on a port: its URL.
async fn gateway(urls: &[&str], tenant: &str, dir: &tempfile::TempDir) -> String {
    let providers: Vec<(&str, &str)> = urls.iter().map(|u| ("anthropic", *u)).collect();
    gateway_of(&providers, tenant, dir).await
}

/// The gateway with providers of these kinds at these URLs, in this order, each serving
/// `claude-*` (named `claude<n>`), and the tenant.
async fn gateway_of(providers: &[(&str, &str)], tenant: &str, dir: &tempfile::TempDir) -> String {
    let mut config = format!(
        "breaker_failures = 2\n[[tenants]]\nname = \"agent\"\napi_key = \"{TENANT_KEY}\"\n{tenant}\n"
    );
    for (n, (kind, url)) in providers.iter().enumerate() {
        config += &format!(
            "[[providers]]\nname = \"claude{n}\"\nkind = \"{kind}\"\nbase_url = \"{url}\"\n\
             priority = {n}\nmodels = [\"claude-*\"]\n\
             [[providers.keys]]\nkey = \"sk-ant-provider-{n}\"\n"
        );
    }
    let settings: GatewaySettings = toml::from_str(&config).unwrap();
    let storage = storage::testing::open(dir.path()).await;
    let gateway = Gateway::open(&settings, dir.path(), &storage).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    url
}

/// Posts `body` to `path` as Claude Code does: the tenant key as `x-api-key`, with an
/// `anthropic-version` and a beta header.
async fn post_as_claude_code(
    url: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, HeaderMap, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("x-api-key", TENANT_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14")
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// A Claude Code turn: a cached system prompt, thinking, a tool, and the user's words.
fn turn(said: &str) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": [{ "type": "text", "text": "You are Claude Code.",
                     "cache_control": { "type": "ephemeral" } }],
        "thinking": { "type": "enabled", "budget_tokens": 1024 },
        "tools": [{ "name": "Read", "description": "Reads a file",
                    "input_schema": { "type": "object", "properties": { "path": { "type": "string" } } } }],
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": said,
                                                    "cache_control": { "type": "ephemeral" } }] }],
    })
}

/// The value of the `/metrics` sample that starts with `sample`, once the usage writer counted it.
async fn metric(url: &str, sample: &str) -> f64 {
    for _ in 0..100 {
        let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
        if let Some(value) = text.lines().find_map(|l| l.strip_prefix(sample)) {
            return value.trim().parse().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{sample} never reached /metrics");
}

#[tokio::test]
async fn a_message_reaches_an_anthropic_provider_as_the_client_wrote_it() {
    let seen = Seen::default();
    let provider = anthropic(Behaviour::Echo, &seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[&provider], "", &dir).await;

    let sent = turn("where is the retry loop?");
    let (status, headers, body) = post_as_claude_code(&url, "/v1/messages", &sent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["content"][0]["text"], "where is the retry loop?");
    assert_eq!(answer["usage"]["cache_read_input_tokens"], 90_000, "Anthropic's usage, as sent");
    assert_eq!(headers["x-agentwatch-provider"], "claude0");

    // Cache breakpoints, thinking and tools arrive untouched, under the provider's key, with the
    // client's version and betas.
    let upstream = seen.body();
    for field in ["system", "thinking", "tools", "messages", "max_tokens", "model"] {
        assert_eq!(upstream[field], sent[field], "{field}");
    }
    assert_eq!(seen.header("x-api-key").as_deref(), Some("sk-ant-provider-0"));
    assert_eq!(seen.header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(
        seen.header("anthropic-beta").as_deref(),
        Some("prompt-caching-2024-07-31,interleaved-thinking-2025-05-14")
    );

    // Priced with the cache prices of claude-sonnet-4-5 ($3 in, $0.30 read, $3.75 write, $15 out).
    let sample = "agentwatch_gateway_cost_usd_total{tenant=\"1\",model=\"claude-sonnet-4-5\"} ";
    let cost = metric(&url, sample).await;
    let expected = (2_000.0 * 3.0 + 90_000.0 * 0.30 + 8_000.0 * 3.75 + 1_000.0 * 15.0) / 1e6;
    assert!((cost - expected).abs() < 1e-9, "cost {cost}, expected {expected}");
}

#[tokio::test]
async fn a_streamed_message_arrives_as_anthropic_events_and_is_recorded() {
    let seen = Seen::default();
    let provider = anthropic(Behaviour::Echo, &seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[&provider], "", &dir).await;

    let mut sent = turn("stream this back");
    sent["stream"] = json!(true);
    let (status, headers, events) = post_as_claude_code(&url, "/v1/messages", &sent).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let names: Vec<&str> = events.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"ping") && names.contains(&"message_delta"), "{names:?}");
    let mut text = String::new();
    for data in events.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        text += event.pointer("/delta/text").and_then(Value::as_str).unwrap_or_default();
    }
    assert_eq!(text, "stream this back");

    let labels = "{tenant=\"1\",model=\"claude-sonnet-4-5\"";
    for (kind, n) in [("cache_read", 90_000.0), ("cache_write", 8_000.0), ("completion", 1_000.0)] {
        let sample = format!("agentwatch_gateway_tokens_total{labels},kind=\"{kind}\"}} ");
        assert_eq!(metric(&url, &sample).await, n, "{kind}");
    }
}

#[tokio::test]
async fn masked_personal_data_comes_back_in_a_message_stream_even_split_across_deltas() {
    let seen = Seen::default();
    let provider = anthropic(Behaviour::Echo, &seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url =
        gateway(&[&provider], "dlp = { actions = { email = \"mask_and_restore\" } }", &dir).await;

    let said = "reply to jane.doe@example.com today";
    for stream in [true, false] {
        let mut sent = turn(said);
        sent["stream"] = json!(stream);
        let (status, _, body) = post_as_claude_code(&url, "/v1/messages", &sent).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let upstream = last_user_text(&seen.body());
        assert!(!upstream.contains("jane.doe"), "the provider saw the address: {upstream}");
        assert!(upstream.contains("[EMAIL_"), "the provider saw a placeholder: {upstream}");
        // The provider said the placeholder back three characters a delta; the client reads its
        // own words.
        let text = if stream {
            body.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter_map(|e| e.pointer("/delta/text").and_then(Value::as_str).map(str::to_owned))
                .collect::<String>()
        } else {
            serde_json::from_str::<Value>(&body).unwrap()["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(text, said, "stream: {stream}");
    }
}

#[tokio::test]
async fn every_refusal_is_in_anthropics_error_shape() {
    let seen = Seen::default();
    let provider = anthropic(Behaviour::Echo, &seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(
        &[&provider],
        "monthly_budget = 0.0001\ndlp = { actions = { aws_access_key = \"block\" } }",
        &dir,
    )
    .await;
    let error_of = |body: &str| {
        let error: Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["type"], "error", "{error}");
        error["error"].clone()
    };

    // More than a hundredth of a cent could be spent: refused before any provider is asked.
    let (status, _, body) = post_as_claude_code(&url, "/v1/messages", &turn("hi")).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let error = error_of(&body);
    assert_eq!(error["type"], "billing_error");
    assert!(error["message"].as_str().unwrap().contains("monthly budget"), "{error}");

    let key = turn("deploy with AKIAZ7QW3ERT5YUI2OPL");
    let (status, _, body) = post_as_claude_code(&url, "/v1/messages", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body)["type"], "invalid_request_error");
    assert!(!body.contains("AKIAZ7"), "the refusal does not repeat the secret: {body}");

    let mut no_limit = turn("hi");
    no_limit.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, body) = post_as_claude_code(&url, "/v1/messages", &no_limit).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body)["message"].as_str().unwrap().contains("max_tokens"), "{body}");

    let mut unknown = turn("hi");
    unknown["model"] = json!("gpt-4o");
    let (status, _, body) = post_as_claude_code(&url, "/v1/messages", &unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_of(&body)["type"], "not_found_error");

    let anonymous = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .json(&turn("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&anonymous.text().await.unwrap())["type"], "authentication_error");
    assert!(!seen.asked(), "no refused request reached the provider");
}

#[tokio::test]
async fn a_failing_anthropic_provider_is_failed_over_to_the_next_one() {
    let (down_seen, up_seen) = (Seen::default(), Seen::default());
    let down = anthropic(Behaviour::Fail, &down_seen).await;
    let up = anthropic(Behaviour::Echo, &up_seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[&down, &up], "", &dir).await;
    let (status, headers, body) = post_as_claude_code(&url, "/v1/messages", &turn("hi")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["x-agentwatch-provider"], "claude1");
    assert_eq!(headers["x-agentwatch-attempts"], "2");
    assert!(down_seen.asked() && up_seen.asked());
}

#[tokio::test]
async fn count_tokens_is_the_providers_count_of_what_would_be_sent() {
    let seen = Seen::default();
    let provider = anthropic(Behaviour::Echo, &seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url =
        gateway(&[&provider], "dlp = { actions = { email = \"mask_and_restore\" } }", &dir).await;
    let mut request = turn("mail ada@lovelace.dev");
    request.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, body) = post_as_claude_code(&url, "/v1/messages/count_tokens", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "input_tokens": 4_321 }));
    let counted = last_user_text(&seen.body());
    assert!(counted.contains("[EMAIL_") && !counted.contains("ada@"), "{counted}");
    assert_eq!(seen.header("x-api-key").as_deref(), Some("sk-ant-provider-0"));
}

/// An OpenAI-compatible provider that streams its answer and reports no usage at all, as some
/// servers do: its base URL.
async fn openai_without_usage() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let chunk = |delta: Value, finish: Value| {
                json!({ "id": "c", "object": "chat.completion.chunk",
                        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
            };
            let chunks = [
                chunk(
                    json!({ "role": "assistant", "content": "a reply of several words" }),
                    Value::Null,
                ),
                chunk(json!({}), json!("stop")),
            ];
            let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
            body += "data: [DONE]\n\n";
            ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_translated_stream_without_usage_is_counted_not_recorded_as_free() {
    let provider = openai_without_usage().await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway_of(&[("custom", &provider)], "", &dir).await;
    let mut streamed = turn("count me");
    streamed["stream"] = json!(true);
    let (status, _, events) = post_as_claude_code(&url, "/v1/messages", &streamed).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert!(events.contains("event: message_stop"), "{events}");
    let labels = "{tenant=\"1\",model=\"claude-sonnet-4-5\"";
    for kind in ["prompt", "completion"] {
        let sample = format!("agentwatch_gateway_tokens_total{labels},kind=\"{kind}\"}} ");
        assert!(metric(&url, &sample).await > 0.0, "{kind} tokens counted by the gateway");
    }
}

/// An OpenAI-compatible provider that answers every chat request with a call of `get_weather`,
/// streamed when asked, reporting 64 of 100 prompt tokens as cached: its base URL.
async fn openai_calling_a_tool(seen: &Seen) -> String {
    async fn chat(
        State(seen): State<Seen>,
        headers: HeaderMap,
        axum::Json(request): axum::Json<Value>,
    ) -> Response {
        *seen.0.lock().unwrap() = Some((headers, request.clone()));
        let usage = json!({ "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                            "prompt_tokens_details": { "cached_tokens": 64 } });
        if request["stream"] != json!(true) {
            return axum::Json(json!({
                "id": "chatcmpl-7", "object": "chat.completion", "model": request["model"],
                "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "Checking.",
                    "tool_calls": [{ "id": "call_1", "type": "function",
                        "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] } }],
                "usage": usage,
            }))
            .into_response();
        }
        let chunk = |delta: Value, finish: Value| {
            json!({ "id": "chatcmpl-7", "object": "chat.completion.chunk", "model": request["model"],
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let chunks = [
            chunk(json!({ "role": "assistant", "content": "Check" }), Value::Null),
            chunk(json!({ "content": "ing." }), Value::Null),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function",
                          "function": { "name": "get_weather", "arguments": "{\"city\":" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Paris\"}" } }] }),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            json!({ "id": "chatcmpl-7", "object": "chat.completion.chunk", "choices": [], "usage": usage }),
        ];
        let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        body += "data: [DONE]\n\n";
        ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }
    let app = Router::new().route("/v1/chat/completions", post(chat)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn an_openai_compatible_provider_serves_messages_translated_both_ways() {
    let seen = Seen::default();
    let provider = openai_calling_a_tool(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway_of(&[("openai", &provider)], "", &dir).await;

    let (status, _, body) =
        post_as_claude_code(&url, "/v1/messages", &turn("Weather in Paris?")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0], json!({ "type": "text", "text": "Checking." }));
    assert_eq!(message["content"][1]["type"], "tool_use");
    assert_eq!(message["content"][1]["input"], json!({ "city": "Paris" }));
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["usage"]["input_tokens"], 36, "uncached input, as Anthropic counts it");
    assert_eq!(message["usage"]["cache_read_input_tokens"], 64);

    // The provider got OpenAI's chat request, under its own key.
    let sent = seen.body();
    assert_eq!(sent["messages"][0], json!({ "role": "system", "content": "You are Claude Code." }));
    assert_eq!(sent["tools"][0]["function"]["name"], "Read");
    assert_eq!(sent["max_completion_tokens"], 4096);
    assert_eq!(seen.header("authorization").as_deref(), Some("Bearer sk-ant-provider-0"));

    let mut streamed = turn("Weather in Paris?");
    streamed["stream"] = json!(true);
    let (status, _, events) = post_as_claude_code(&url, "/v1/messages", &streamed).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let names: Vec<&str> = events.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{events}");
    assert_eq!(names.last(), Some(&"message_stop"), "{events}");
    let (mut text, mut input) = (String::new(), String::new());
    for data in events.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        text += event.pointer("/delta/text").and_then(Value::as_str).unwrap_or_default();
        input += event.pointer("/delta/partial_json").and_then(Value::as_str).unwrap_or_default();
    }
    assert_eq!(text, "Checking.");
    assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({ "city": "Paris" }));

    // claude-sonnet-4-5's prices, both times: 36 input, 64 cache reads, 20 output tokens.
    let sample = "agentwatch_gateway_cost_usd_total{tenant=\"1\",model=\"claude-sonnet-4-5\"} ";
    let once = (36.0 * 3.0 + 64.0 * 0.30 + 20.0 * 15.0) / 1e6;
    for _ in 0..100 {
        if (metric(&url, sample).await - 2.0 * once).abs() < 1e-12 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the two messages did not cost {}", 2.0 * once);
}

#[tokio::test]
async fn a_failing_anthropic_provider_gives_way_to_an_openai_one() {
    let (down_seen, up_seen) = (Seen::default(), Seen::default());
    let down = anthropic(Behaviour::Fail, &down_seen).await;
    let up = openai_calling_a_tool(&up_seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway_of(&[("anthropic", &down), ("openai", &up)], "", &dir).await;
    let mut streamed = turn("Weather in Paris?");
    streamed["stream"] = json!(true);
    let (status, headers, events) = post_as_claude_code(&url, "/v1/messages", &streamed).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(headers["x-agentwatch-provider"], "claude1");
    assert!(events.contains("event: message_stop"), "{events}");
    assert!(down_seen.asked() && up_seen.asked());
}

#[tokio::test]
async fn count_tokens_for_a_model_only_other_providers_serve_is_the_gateways_own() {
    let seen = Seen::default();
    let provider = openai_calling_a_tool(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway_of(&[("openai", &provider)], "", &dir).await;
    let count = |said: &str| {
        let url = url.clone();
        let request = turn(said);
        async move {
            let (status, _, body) =
                post_as_claude_code(&url, "/v1/messages/count_tokens", &request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()["input_tokens"].as_u64().unwrap()
        }
    };
    let short = count("hi").await;
    let long = count(&"the quick brown fox ".repeat(100)).await;
    assert!(short > 0 && long > short + 300, "{short} then {long}");
    assert!(!seen.asked(), "the provider was not asked to count");
}
