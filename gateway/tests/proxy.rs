//! The LLM proxy in process, against mock providers that are real HTTP servers on this machine:
//! failover, circuit breakers, streams and budgets, each as an app pointing its OpenAI client at
//! the gateway can rely on. The fast tier of what `mcp-server/tests/it/gateway.rs` checks with
//! the real binary and the real OpenAI SDK.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gateway::settings::GatewaySettings;
use gateway::{Gateway, Storage};
use serde_json::{Value, json};

const TENANT_KEY: &str = "tenant-key-for-the-proxy-tests";

/// How a mock provider answers `/chat/completions`.
#[derive(Clone, Copy)]
enum Behaviour {
    /// 500, every time.
    Fail,
    /// A completion saying `text`.
    Answer(&'static str),
    /// `text` streamed word by word as server-sent events.
    Stream(&'static str),
}

/// A provider on a port of this machine, counting the requests it gets.
struct Mock {
    url: String,
    calls: Arc<AtomicUsize>,
}

async fn mock(behaviour: Behaviour) -> Mock {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = (behaviour, Arc::clone(&calls));
    let app = Router::new().route("/v1/chat/completions", post(answer)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Mock { url, calls }
}

async fn answer(State((behaviour, calls)): State<(Behaviour, Arc<AtomicUsize>)>) -> Response {
    calls.fetch_add(1, Ordering::SeqCst);
    let usage = json!({ "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 });
    match behaviour {
        Behaviour::Fail => {
            let error =
                json!({ "error": { "message": "the model is down", "type": "server_error" } });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response()
        }
        Behaviour::Answer(text) => axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{ "index": 0, "finish_reason": "stop",
                          "message": { "role": "assistant", "content": text } }],
            "usage": usage,
        }))
        .into_response(),
        Behaviour::Stream(text) => {
            let mut body = String::new();
            for word in text.split_inclusive(' ') {
                let chunk = json!({
                    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                    "model": "gpt-4o-mini",
                    "choices": [{ "index": 0, "delta": { "content": word }, "finish_reason": null }],
                });
                body += &format!("data: {chunk}\n\n");
            }
            let last = json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                "model": "gpt-4o-mini",
                "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }], "usage": usage,
            });
            body += &format!("data: {last}\n\ndata: [DONE]\n\n");
            ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        }
    }
}

/// The gateway with `providers` (tried in this order) and one tenant (with the settings in
/// `tenant`, TOML), serving on a port.
struct Proxy {
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn proxy(providers: &[&Mock], tenant: &str) -> Proxy {
    let mut config = format!(
        "breaker_failures = 2\nbreaker_open_secs = 60\n\
         [[tenants]]\nname = \"app\"\napi_key = \"{TENANT_KEY}\"\n{tenant}\n"
    );
    for (n, provider) in providers.iter().enumerate() {
        config += &format!(
            "[[providers]]\nname = \"p{n}\"\nkind = \"openai\"\nbase_url = \"{}\"\npriority = {n}\n\
             [[providers.keys]]\nkey = \"provider-key-{n}\"\n",
            provider.url
        );
    }
    let settings: GatewaySettings = toml::from_str(&config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&dir.path().join("agentwatch.db")).await.unwrap();
    let gateway = Gateway::open(&settings, dir.path(), &storage).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    Proxy { url, http: reqwest::Client::new(), _dir: dir }
}

impl Proxy {
    /// `POST /v1/chat/completions` as the tenant.
    async fn send(&self, body: Value) -> reqwest::Response {
        let url = format!("{}/v1/chat/completions", self.url);
        self.http.post(url).bearer_auth(TENANT_KEY).json(&body).send().await.unwrap()
    }

    async fn chat(&self, body: Value) -> (StatusCode, String) {
        let response = self.send(body).await;
        (response.status(), response.text().await.unwrap())
    }
}

fn hello() -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hello" }] })
}

#[tokio::test]
async fn a_failing_provider_is_failed_over_to_the_next_one() {
    let (down, up) = (mock(Behaviour::Fail).await, mock(Behaviour::Answer("hi from p1")).await);
    let proxy = proxy(&[&down, &up], "").await;
    let (status, body) = proxy.chat(hello()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "hi from p1");
    assert_eq!((down.calls.load(Ordering::SeqCst), up.calls.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_left_out_once_its_breaker_opens() {
    let (down, up) = (mock(Behaviour::Fail).await, mock(Behaviour::Answer("hi")).await);
    let proxy = proxy(&[&down, &up], "").await;
    for _ in 0..4 {
        assert_eq!(proxy.chat(hello()).await.0, StatusCode::OK);
    }
    // Two failures in a row open its breaker (breaker_failures = 2): the next requests go
    // straight to the provider that works.
    assert_eq!(down.calls.load(Ordering::SeqCst), 2);
    assert_eq!(up.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn when_every_provider_fails_the_app_hears_a_502_that_says_so() {
    let (first, second) = (mock(Behaviour::Fail).await, mock(Behaviour::Fail).await);
    let proxy = proxy(&[&first, &second], "").await;
    let (status, body) = proxy.chat(hello()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "provider_error");
}

#[tokio::test]
async fn a_stream_arrives_as_the_provider_sent_it_and_ends_with_done() {
    let streaming = mock(Behaviour::Stream("tokens one by one")).await;
    let proxy = proxy(&[&streaming], "").await;
    let mut body = hello();
    body["stream"] = json!(true);
    let (status, events) = proxy.chat(body).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let mut text = String::new();
    let data: Vec<&str> = events.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    for event in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        text += chunk["choices"][0]["delta"]["content"].as_str().unwrap_or_default();
    }
    assert_eq!(text, "tokens one by one");
    assert_eq!(data.last(), Some(&"[DONE]"));
}

#[tokio::test]
async fn a_request_a_budget_cannot_cover_is_refused_before_any_provider_is_asked() {
    let provider = mock(Behaviour::Answer("expensive")).await;
    // A hundredth of a cent a month, and a request that may cost six cents.
    let proxy = proxy(&[&provider], "monthly_budget = 0.0001").await;
    let mut body = hello();
    body["max_tokens"] = json!(100_000);
    let (status, refusal) = proxy.chat(body).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{refusal}");
    let error: Value = serde_json::from_str(&refusal).unwrap();
    assert_eq!(error["error"]["code"], "budget_exceeded");
    assert!(error["error"]["message"].as_str().unwrap().contains("monthly budget"), "{error}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0, "the provider was never asked");
}

#[tokio::test]
async fn a_tenant_over_its_rate_limit_hears_429_with_when_to_retry() {
    let provider = mock(Behaviour::Answer("hi")).await;
    let proxy = proxy(&[&provider], "rate_limit = 2").await;
    for remaining in ["1", "0"] {
        let answer = proxy.send(hello()).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()["x-ratelimit-remaining"], remaining);
    }
    let refused = proxy.send(hello()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2, "a refused request is not sent");
}

#[tokio::test]
async fn personal_data_a_tenant_s_policy_blocks_never_reaches_a_provider() {
    let provider = mock(Behaviour::Answer("hi")).await;
    let proxy = proxy(&[&provider], "dlp = { actions = { email = \"block\" } }").await;
    let mut body = hello();
    body["messages"][0]["content"] = json!("write to jane.doe@example.com about the invoice");
    let (status, refusal) = proxy.chat(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");
    let error: Value = serde_json::from_str(&refusal).unwrap();
    assert_eq!(error["error"]["code"], "dlp_blocked");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("email") && !message.contains("jane.doe"), "{message}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
}
