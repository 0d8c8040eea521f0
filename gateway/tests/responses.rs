//! OpenAI's Responses API through the gateway, in process, against mock providers that are real
//! HTTP servers on this machine: an `openai` provider gets the request as sent, an Anthropic one
//! gets it translated and answers back in the Responses API's shape, streamed or not.
//! `mcp-server/tests/it/gateway.rs` drives the real binary with the real OpenAI SDK.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gateway::Gateway;
use gateway::settings::GatewaySettings;
use serde_json::{Value, json};

const TENANT_KEY: &str = "tenant-key-for-the-responses-tests";

/// What a provider was sent last.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Option<Value>>>);

impl Seen {
    fn body(&self) -> Value {
        self.0.lock().unwrap().clone().expect("the provider was asked")
    }

    fn asked(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// An `openai` provider serving `/v1/responses`: a response saying "stored" that reports 70 of
/// 100 input tokens cached.
async fn openai_responses(seen: &Seen) -> String {
    async fn answer(State(seen): State<Seen>, axum::Json(request): axum::Json<Value>) -> Response {
        *seen.0.lock().unwrap() = Some(request.clone());
        axum::Json(json!({
            "id": "resp_upstream", "object": "response", "status": "completed",
            "model": request["model"],
            "output": [{ "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                         "content": [{ "type": "output_text", "text": "stored", "annotations": [] }] }],
            "usage": { "input_tokens": 100, "input_tokens_details": { "cached_tokens": 70 },
                       "output_tokens": 5, "output_tokens_details": { "reasoning_tokens": 0 },
                       "total_tokens": 105 },
        }))
        .into_response()
    }
    let app = Router::new().route("/v1/responses", post(answer)).with_state(seen.clone());
    format!("{}/v1", serve(app).await)
}

/// An Anthropic provider that says back the last user text, three characters a delta when
/// streaming, and then calls `get_weather`.
async fn anthropic_echo(seen: &Seen) -> String {
    async fn answer(State(seen): State<Seen>, axum::Json(request): axum::Json<Value>) -> Response {
        *seen.0.lock().unwrap() = Some(request.clone());
        let last = &request["messages"].as_array().unwrap().last().unwrap()["content"];
        let said = match last {
            Value::String(s) => s.clone(),
            blocks => blocks[0]["text"].as_str().unwrap_or_default().to_owned(),
        };
        let usage = json!({ "input_tokens": 30, "output_tokens": 12 });
        if request["stream"] != json!(true) {
            return axum::Json(json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": request["model"],
                "content": [{ "type": "text", "text": said },
                            { "type": "tool_use", "id": "toolu_1", "name": "get_weather",
                              "input": { "city": "Paris" } }],
                "stop_reason": "tool_use", "usage": usage,
            }))
            .into_response();
        }
        let mut events = vec![
            json!({ "type": "message_start", "message": { "id": "msg_1", "model": request["model"],
                    "usage": { "input_tokens": 30, "output_tokens": 1 } } }),
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ];
        let chars: Vec<char> = said.chars().collect();
        for piece in chars.chunks(3) {
            let text: String = piece.iter().collect();
            events.push(json!({ "type": "content_block_delta", "index": 0,
                                "delta": { "type": "text_delta", "text": text } }));
        }
        events.extend([
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} } }),
            json!({ "type": "content_block_delta", "index": 1,
                    "delta": { "type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}" } }),
            json!({ "type": "content_block_stop", "index": 1 }),
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use" }, "usage": { "output_tokens": 12 } }),
            json!({ "type": "message_stop" }),
        ]);
        let body: String = events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }
    let app = Router::new().route("/v1/messages", post(answer)).with_state(seen.clone());
    serve(app).await
}

/// The gateway with `providers` (kind, base URL, models), in this order, and the tenant.
async fn gateway(
    providers: &[(&str, &str, &str)],
    tenant: &str,
    dir: &tempfile::TempDir,
) -> String {
    let mut config =
        format!("[[tenants]]\nname = \"codex\"\napi_key = \"{TENANT_KEY}\"\n{tenant}\n");
    for (n, (kind, url, models)) in providers.iter().enumerate() {
        config += &format!(
            "[[providers]]\nname = \"{kind}{n}\"\nkind = \"{kind}\"\nbase_url = \"{url}\"\n\
             priority = {n}\nmodels = [\"{models}\"]\n[[providers.keys]]\nkey = \"sk-provider-{n}\"\n"
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

async fn create(url: &str, body: &Value) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/responses"))
        .bearer_auth(TENANT_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
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
async fn an_openai_provider_gets_the_request_as_sent_previous_response_id_included() {
    let seen = Seen::default();
    let openai = openai_responses(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[("openai", &openai, "gpt-*")], "", &dir).await;
    let sent = json!({
        "model": "gpt-4o-mini", "input": "and the day after?", "previous_response_id": "resp_earlier",
        "tools": [{ "type": "web_search" }], "reasoning": { "effort": "low" }, "store": true,
    });
    let (status, body) = create(&url, &sent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["id"], "resp_upstream", "the provider's answer, as it sent it");
    let upstream = seen.body();
    for field in ["input", "previous_response_id", "tools", "reasoning", "store", "model"] {
        assert_eq!(upstream[field], sent[field], "{field}");
    }
    // gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per million tokens.
    let sample = "agentwatch_gateway_cost_usd_total{tenant=\"1\",model=\"gpt-4o-mini\"} ";
    let expected = (30.0 * 0.15 + 70.0 * 0.075 + 5.0 * 0.60) / 1e6;
    assert!((metric(&url, sample).await - expected).abs() < 1e-12);
}

#[tokio::test]
async fn an_anthropic_provider_serves_a_response_translated_both_ways() {
    let seen = Seen::default();
    let claude = anthropic_echo(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[("anthropic", &claude, "claude-*")], "", &dir).await;
    let weather = json!([{ "type": "function", "name": "get_weather",
                           "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }]);
    let request = json!({
        "model": "claude-sonnet-4-5", "instructions": "Be brief.", "tools": weather,
        "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "Weather in Paris?" }] }],
    });
    let (status, body) = create(&url, &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["output"][0]["content"][0]["text"], "Weather in Paris?");
    assert_eq!(answer["output"][1]["type"], "function_call");
    assert_eq!(answer["output"][1]["call_id"], "toolu_1");
    assert_eq!(
        serde_json::from_str::<Value>(answer["output"][1]["arguments"].as_str().unwrap()).unwrap(),
        json!({ "city": "Paris" })
    );
    assert_eq!(answer["usage"]["input_tokens"], 30);
    let upstream = seen.body();
    assert_eq!(upstream["system"], "Be brief.");
    assert_eq!(upstream["tools"][0]["name"], "get_weather");

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let (status, events) = create(&url, &streamed).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "response.created");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{events:?}");
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Weather in Paris?");
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Weather in Paris?");
}

#[tokio::test]
async fn what_only_a_provider_that_keeps_responses_can_serve_is_refused_when_none_does() {
    let seen = Seen::default();
    let claude = anthropic_echo(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[("anthropic", &claude, "claude-*")], "", &dir).await;
    let (status, body) =
        create(&url, &json!({ "model": "claude-sonnet-4-5", "input": "go on", "previous_response_id": "resp_1" }))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["param"], "previous_response_id");
    assert!(error["error"]["message"].as_str().unwrap().contains("`openai` provider"), "{error}");
    assert!(!seen.asked());
}

#[tokio::test]
async fn a_stateful_request_goes_past_translating_providers_to_one_that_keeps_responses() {
    let (claude_seen, openai_seen) = (Seen::default(), Seen::default());
    let claude = anthropic_echo(&claude_seen).await;
    let openai = openai_responses(&openai_seen).await;
    let dir = tempfile::tempdir().unwrap();
    // The Anthropic provider is first in line for the model, but cannot continue a response.
    let url = gateway(&[("anthropic", &claude, "*"), ("openai", &openai, "*")], "", &dir).await;
    let (status, body) = create(
        &url,
        &json!({ "model": "gpt-4o-mini", "input": "go on", "previous_response_id": "resp_1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(openai_seen.asked() && !claude_seen.asked());
}

#[tokio::test]
async fn masked_personal_data_comes_back_in_a_translated_response_stream() {
    let seen = Seen::default();
    let claude = anthropic_echo(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(
        &[("anthropic", &claude, "claude-*")],
        "dlp = { actions = { email = \"mask_and_restore\" } }",
        &dir,
    )
    .await;
    let said = "write to jane.doe@example.com today";
    let (status, events) =
        create(&url, &json!({ "model": "claude-sonnet-4-5", "input": said, "stream": true })).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let upstream = seen.body().to_string();
    assert!(!upstream.contains("jane.doe") && upstream.contains("[EMAIL_"), "{upstream}");
    let events: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, said);
    let done = events.iter().find(|e| e["type"] == "response.output_text.done").unwrap();
    assert_eq!(done["text"], said);
    let completed = events.last().unwrap();
    assert_eq!(completed["response"]["output"][0]["content"][0]["text"], said);
}

#[tokio::test]
async fn a_budget_refusal_is_openais_error_and_nothing_is_sent() {
    let seen = Seen::default();
    let openai = openai_responses(&seen).await;
    let dir = tempfile::tempdir().unwrap();
    let url = gateway(&[("openai", &openai, "gpt-*")], "monthly_budget = 0.0001", &dir).await;
    let (status, body) =
        create(&url, &json!({ "model": "gpt-4o", "input": "hi", "max_output_tokens": 100000 }))
            .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "budget_exceeded");
    assert!(!seen.asked());
}
