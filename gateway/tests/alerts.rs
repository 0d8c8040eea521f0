//! Alerts as an operator receives them: the gateway's router on a real socket, mock providers
//! and two webhook receivers that are real HTTP servers on this machine — one taking Slack's
//! JSON, one the signed JSON. Each test reads as what an on-call engineer can rely on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use gateway::Gateway;
use gateway::settings::GatewaySettings;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const TENANT_KEY: &str = "tenant-key-for-the-alert-tests";
const GOOD_KEY: &str = "sk-good-provider-key-0123456789";
const DOWN_KEY: &str = "sk-down-provider-key-0123456789";
const SECRET: &str = "a-webhook-signing-secret-0123456789abcdef";
const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// What a webhook receiver got: the path it was posted to, its headers and its body.
type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/{hook}",
            post(|State(r): State<Received>, Path(hook): Path<String>, headers, body: String| async move {
                r.lock().unwrap().push((hook, headers, body));
                StatusCode::OK
            }),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A provider answering every chat completion with 5 prompt and 3 completion tokens, or failing.
async fn provider(fails: bool) -> String {
    let answer = move || async move {
        if fails {
            let error =
                json!({ "error": { "message": "the model is down", "type": "server_error" } });
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
        }
        axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "priced",
            "choices": [{ "index": 0, "finish_reason": "stop",
                          "message": { "role": "assistant", "content": "hi" } }],
            "usage": { "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 },
        }))
        .into_response()
    };
    let app = Router::new().route("/v1/chat/completions", post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn serve(settings: &GatewaySettings, dir: &std::path::Path) -> String {
    let storage = storage::testing::open(dir).await;
    let gateway = Gateway::open(settings, dir, &storage).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    url
}

fn signed_correctly(headers: &HeaderMap, body: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.{body}", header("x-agentwatch-timestamp")).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    header("x-agentwatch-signature") == expected
}

#[tokio::test]
async fn each_episode_reaches_every_webhook_exactly_once_signed_and_without_secrets() {
    let (hooks, received) = receiver().await;
    let (good, down) = (provider(false).await, provider(true).await);
    let config = format!(
        r#"
breaker_failures = 2
breaker_open_secs = 600
admin_email = "{ADMIN}"
admin_password = "{PASSWORD}"

# An answer (3 tokens) costs $1; asked for 1 token at most, a request reserves a third of that.
[prices]
priced = {{ input = 0.0, output = 333334.0 }}
broken = {{ input = 0.0, output = 0.0 }}

[alerts]
check_every_secs = 1
error_rate = 0.2
min_requests = 5
cost_spike_min_usd = 1.0

[[alerts.webhooks]]
url = "{hooks}/slack"

[[alerts.webhooks]]
url = "{hooks}/json"
format = "json"
secret = "{SECRET}"

[[tenants]]
name = "checkout"
api_key = "{TENANT_KEY}"
daily_budget = 10.0

[[providers]]
name = "good"
kind = "openai"
base_url = "{good}"
models = ["priced"]
keys = [{{ key = "{GOOD_KEY}" }}]

[[providers]]
name = "down"
kind = "openai"
base_url = "{down}"
models = ["broken"]
keys = [{{ key = "{DOWN_KEY}" }}]
"#
    );
    let settings: GatewaySettings = toml::from_str(&config).unwrap();
    settings.validate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = serve(&settings, dir.path()).await;
    let http = reqwest::Client::new();
    let chat = |model: &'static str| {
        let body = json!({
            "model": model,
            "max_tokens": 1,
            "messages": [{ "role": "user", "content": "hello" }],
        });
        http.post(format!("{url}/v1/chat/completions")).bearer_auth(TENANT_KEY).json(&body).send()
    };

    // A model whose only provider is down fails until its circuit opens; then the tenant spends
    // $9 of its $10 day, past 80% (and its cost spikes: it had spent nothing).
    for _ in 0..4 {
        let status = chat("broken").await.unwrap().status();
        assert!(status.is_server_error(), "{status}");
    }
    for _ in 0..9 {
        let answer = chat("priced").await.unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }

    // One alert per episode, on each webhook: four kinds, four each.
    let kinds = |hook: &str| {
        let received = received.lock().unwrap();
        let mut kinds: Vec<String> = received
            .iter()
            .filter(|(h, _, _)| h == hook)
            .map(|(_, _, body)| {
                let body: Value = serde_json::from_str(body).unwrap();
                body["kind"].as_str().unwrap_or("(slack)").to_owned()
            })
            .collect();
        kinds.sort();
        kinds
    };
    let started = Instant::now();
    while kinds("json").len() < 4 || kinds("slack").len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(20), "alerts: {:?}", kinds("json"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // More failures, and three more looks at circuits, error rates and costs, raise nothing new.
    assert!(chat("broken").await.unwrap().status().is_server_error());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(kinds("json"), ["budget", "circuit_open", "cost_spike", "error_rate"]);
    assert_eq!(kinds("slack").len(), 4);

    let received = received.lock().unwrap().clone();
    for (hook, headers, body) in &received {
        for secret in [TENANT_KEY, GOOD_KEY, DOWN_KEY, SECRET, "hello"] {
            assert!(!body.contains(secret), "{hook} got {secret:?}: {body}");
        }
        if hook == "json" {
            assert!(signed_correctly(headers, body), "a signed body: {body}");
        } else {
            let body: Value = serde_json::from_str(body).unwrap();
            assert!(body["text"].as_str().unwrap().starts_with(":"), "Slack's text: {body}");
        }
    }
    let json_alert = |kind: &str| -> Value {
        let (_, _, body) = received
            .iter()
            .find(|(h, _, b)| h == "json" && b.contains(&format!("\"kind\":\"{kind}\"")))
            .unwrap();
        serde_json::from_str(body).unwrap()
    };
    let budget = json_alert("budget");
    assert_eq!(budget["detail"]["name"], "checkout");
    assert_eq!(budget["detail"]["threshold"], 0.8);
    assert_eq!(budget["detail"]["budget_usd"], 10.0);
    assert!(budget["title"].as_str().unwrap().contains("80% of its daily budget"), "{budget}");
    let circuit = json_alert("circuit_open");
    assert_eq!(
        (&circuit["detail"]["provider"], &circuit["severity"]),
        (&json!("down"), &json!("critical"))
    );
    let slack: Vec<&String> =
        received.iter().filter(|(h, _, _)| h == "slack").map(|(_, _, b)| b).collect();
    assert!(slack.iter().any(|b| b.contains("checkout") && b.contains("80%")), "{slack:?}");

    // The admin API lists them; the budget crossing, an event, is not open.
    let login = json!({ "email": ADMIN, "password": PASSWORD });
    let token: Value = http
        .post(format!("{url}/api/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let list = |query: &'static str| {
        http.get(format!("{url}/api/alerts{query}")).bearer_auth(token).send()
    };
    let all: Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(all["total"], 4, "{all}");
    let open: Value = list("?open=true").await.unwrap().json().await.unwrap();
    let mut open: Vec<&str> =
        open["data"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    open.sort();
    assert_eq!(open, ["circuit_open", "cost_spike", "error_rate"]);
    let bad = list("?kind=disk_full").await.unwrap();
    assert_eq!(bad.status(), 400);
}
