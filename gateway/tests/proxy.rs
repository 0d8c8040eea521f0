//! The LLM proxy in process, against mock providers that are real HTTP servers on this machine:
//! failover, circuit breakers, streams and budgets, each as an app pointing its OpenAI client at
//! the gateway can rely on. The fast tier of what `mcp-server/tests/it/gateway.rs` checks with
//! the real binary and the real OpenAI SDK.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gateway::counters::Counters;
use gateway::settings::GatewaySettings;
use gateway::{Gateway, Redis};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

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
    /// The last message it was sent, streamed back three characters at a time.
    Echo,
    /// A completion saying `text`, once the test lets it go (`Mock::release`).
    Held(&'static str),
}

/// A provider on a port of this machine, counting the requests it gets and keeping the last.
struct Mock {
    url: String,
    calls: Arc<AtomicUsize>,
    last: Arc<Mutex<Value>>,
    gate: Arc<Semaphore>,
}

impl Mock {
    /// Lets `n` held answers go.
    fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

#[derive(Clone)]
struct Provider {
    behaviour: Behaviour,
    calls: Arc<AtomicUsize>,
    last: Arc<Mutex<Value>>,
    gate: Arc<Semaphore>,
}

async fn mock(behaviour: Behaviour) -> Mock {
    let (calls, last) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Value::Null)));
    let gate = Arc::new(Semaphore::new(0));
    let state = Provider {
        behaviour,
        calls: Arc::clone(&calls),
        last: Arc::clone(&last),
        gate: Arc::clone(&gate),
    };
    let app = Router::new().route("/v1/chat/completions", post(answer)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Mock { url, calls, last, gate }
}

/// `pieces` as a stream of chat completion chunks, then the usage and `[DONE]`.
fn events<'a>(pieces: impl Iterator<Item = &'a str>, usage: &Value) -> Response {
    let mut body = String::new();
    for piece in pieces {
        let chunk = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }],
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

fn completion(text: &str, usage: Value) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": text } }],
        "usage": usage,
    }))
    .into_response()
}

async fn answer(
    State(provider): State<Provider>,
    axum::Json(request): axum::Json<Value>,
) -> Response {
    provider.calls.fetch_add(1, Ordering::SeqCst);
    *provider.last.lock().unwrap() = request.clone();
    let usage = json!({ "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 });
    match provider.behaviour {
        Behaviour::Fail => {
            let error =
                json!({ "error": { "message": "the model is down", "type": "server_error" } });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response()
        }
        Behaviour::Answer(text) => completion(text, usage),
        Behaviour::Held(text) => {
            provider.gate.acquire().await.unwrap().forget();
            completion(text, usage)
        }
        Behaviour::Stream(text) => events(text.split_inclusive(' '), &usage),
        Behaviour::Echo => {
            let said = request["messages"][0]["content"].as_str().unwrap_or_default();
            let chars: Vec<char> = said.chars().collect();
            let pieces: Vec<String> = chars.chunks(3).map(|c| c.iter().collect()).collect();
            events(pieces.iter().map(String::as_str), &usage)
        }
    }
}

/// The gateway with `providers` (tried in this order) and one tenant (with the settings in
/// `tenant`, TOML), serving on a port.
struct Proxy {
    url: String,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

async fn proxy(providers: &[&Mock], tenant: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(&settings(providers, tenant), dir.path(), None).await;
    Proxy { url, http: reqwest::Client::new(), _dir: Some(dir) }
}

/// The settings of a gateway with `providers` and the tenant.
fn settings(providers: &[&Mock], tenant: &str) -> GatewaySettings {
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
    toml::from_str(&config).unwrap()
}

/// A gateway on `data_dir`, keeping its counters in `redis` if given, serving on a port: its URL.
async fn serve(settings: &GatewaySettings, data_dir: &Path, redis: Option<&Redis>) -> String {
    let mut storage = storage::testing::open(data_dir).await;
    if let Some(redis) = redis {
        storage = storage.with_redis(redis.clone());
    }
    let gateway = Gateway::open(settings, data_dir, &storage).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    url
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

    /// `GET /readyz`: its status and checks.
    async fn readiness(&self) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}/readyz", self.url)).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap()["checks"].clone())
    }

    /// Sends `body` until it is answered 200, up to 50 times `nap` apart, calling `before` ahead
    /// of each try: for what lands a moment after an answer. The last status.
    async fn answered_soon(&self, body: &Value, nap: u64, mut before: impl FnMut()) -> StatusCode {
        for _ in 0..50 {
            before();
            let status = self.chat(body.clone()).await.0;
            if status == StatusCode::OK {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(nap)).await;
        }
        self.chat(body.clone()).await.0
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

#[tokio::test]
async fn masked_personal_data_is_restored_in_a_stream_even_split_across_chunks() {
    let echo = mock(Behaviour::Echo).await;
    let proxy = proxy(&[&echo], "dlp = { actions = { email = \"mask_and_restore\" } }").await;
    let said = "reply to jane.doe@example.com today";
    let mut body = hello();
    body["messages"][0]["content"] = json!(said);
    body["stream"] = json!(true);
    let (status, events) = proxy.chat(body).await;
    assert_eq!(status, StatusCode::OK, "{events}");

    let sent = echo.last.lock().unwrap()["messages"][0]["content"].clone();
    let sent = sent.as_str().unwrap();
    assert!(!sent.contains("jane.doe"), "the provider saw the address: {sent}");
    assert!(sent.contains("[EMAIL_"), "the provider saw a placeholder: {sent}");
    // The provider echoed the placeholder three characters a chunk, so it arrived in pieces;
    // the app reads its own words back.
    let mut text = String::new();
    for event in events.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if let Ok(chunk) = serde_json::from_str::<Value>(event) {
            text += chunk["choices"][0]["delta"]["content"].as_str().unwrap_or_default();
        }
    }
    assert_eq!(text, said);
}

#[tokio::test]
async fn concurrent_requests_never_spend_past_a_budget() {
    let held = mock(Behaviour::Held("ok")).await;
    // Each request reserves what 10k output tokens could cost (0.6 cents): the budget covers
    // two reservations, not three.
    let proxy = Arc::new(vec![proxy(&[&held], "monthly_budget = 0.015").await]);
    let mut body = hello();
    body["max_tokens"] = json!(10_000);
    two_of_eight_fit(&proxy, &held, &body).await;

    // Settled at what they cost (8 tokens each), the two leave the budget almost whole. Their
    // settlement lands just after their answers (in a task of its own on a shared store), so a
    // request sent at once may still meet their reservations: the budget frees up within moments.
    held.release(1);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = proxy[0].chat(body.clone()).await.0;
        if status != StatusCode::PAYMENT_REQUIRED || tokio::time::Instant::now() > deadline {
            assert_eq!(status, StatusCode::OK);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Eight requests of `body` at once, spread over `gateways`, under a budget that covers two
/// reservations: while two are held at the provider, their reservations stand and every other
/// is refused before any provider is asked; the two succeed once `held` lets them go.
async fn two_of_eight_fit(gateways: &Arc<Vec<Proxy>>, held: &Mock, body: &Value) {
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (gateways, body) = (Arc::clone(gateways), body.clone());
        requests.spawn(async move { gateways[n % gateways.len()].chat(body).await.0 });
    }
    for _ in 0..6 {
        let status = requests.join_next().await.unwrap().unwrap();
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
    held.release(2);
    for status in requests.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(held.calls.load(Ordering::SeqCst), 2, "refused requests are never sent");
}

/// A Redis server of the test's own on a free port of this machine (Debian's `redis-server`,
/// which `scripts/setup.sh` installs), with nothing saved to disk; stopped when dropped.
struct RedisServer {
    port: u16,
    process: Option<std::process::Child>,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = RedisServer { port, process: None };
        server.restart().await;
        server
    }

    /// Starts the server (again, on the same port) and waits until it answers.
    async fn restart(&mut self) {
        let process = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/setup.sh --tests");
        self.process = Some(process);
        for _ in 0..100 {
            if Redis::connect(&self.url()).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().unwrap();
            process.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn connect(&self) -> Redis {
        Redis::connect(&self.url()).await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where two replicas share their counters in these tests: in Redis, and, when the suite runs on
/// Postgres, in the database alone (no Redis).
enum Sharing {
    Redis(RedisServer),
    Database,
}

impl Sharing {
    /// Every way this run can share: Redis always, the database too on Postgres.
    async fn all() -> Vec<Sharing> {
        let mut all = vec![Sharing::Redis(RedisServer::start().await)];
        if storage::testing::backend() == storage::Backend::Postgres {
            all.push(Sharing::Database);
        }
        all
    }

    fn name(&self) -> &'static str {
        match self {
            Sharing::Redis(_) => "redis",
            Sharing::Database => "database",
        }
    }

    /// The counters of a gateway on `storage`, shared this way.
    async fn counters(&self, storage: &storage::Storage) -> Counters {
        match self {
            Sharing::Redis(server) => Counters::Redis(server.connect().await),
            Sharing::Database => Counters::of(storage),
        }
    }
}

/// Two gateway processes on one database, with these settings, sharing their counters as
/// `sharing` says.
async fn replicas(
    settings: [&GatewaySettings; 2],
    sharing: &Sharing,
) -> (tempfile::TempDir, [Proxy; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for settings in settings {
        let redis = match sharing {
            Sharing::Redis(server) => Some(server.connect().await),
            Sharing::Database => None,
        };
        let url = serve(settings, dir.path(), redis.as_ref()).await;
        replicas.push(Proxy { url, http: reqwest::Client::new(), _dir: None });
    }
    (dir, replicas.try_into().ok().unwrap())
}

#[tokio::test]
async fn replicas_never_spend_past_a_budget_together() {
    for sharing in Sharing::all().await {
        let held = mock(Behaviour::Held("ok")).await;
        let settings = settings(&[&held], "monthly_budget = 0.015");
        let (_dir, replicas) = replicas([&settings, &settings], &sharing).await;
        let replicas = Arc::new(Vec::from(replicas));
        let mut body = hello();
        body["max_tokens"] = json!(10_000);
        // Half to each replica: the budget covers two reservations in all, not two per replica.
        two_of_eight_fit(&replicas, &held, &body).await;

        // Settled at what they cost, through whichever replica served them: room for more on
        // both. (A shared settlement is made by its own task, a moment after the answer.)
        for replica in replicas.iter() {
            let status = replica.answered_soon(&body, 20, || held.release(1)).await;
            assert_eq!(status, StatusCode::OK, "sharing in {}", sharing.name());
        }
    }
}

#[tokio::test]
async fn replicas_admit_exactly_the_rate_limit_in_total() {
    for sharing in Sharing::all().await {
        let provider = mock(Behaviour::Answer("ok")).await;
        let settings = settings(&[&provider], "rate_limit = 5");
        let (_dir, replicas) = replicas([&settings, &settings], &sharing).await;
        let replicas = Arc::new(replicas);
        let mut requests = tokio::task::JoinSet::new();
        for n in 0..12 {
            let replicas = Arc::clone(&replicas);
            requests.spawn(async move {
                let response = replicas[n % 2].send(hello()).await;
                let header = |name: &str| {
                    let value = response.headers().get(name)?;
                    Some(value.to_str().unwrap().parse::<u64>().unwrap())
                };
                (response.status(), header("x-ratelimit-limit"), header("retry-after"))
            });
        }
        let answers = requests.join_all().await;
        let admitted = answers.iter().filter(|(status, ..)| *status == StatusCode::OK).count();
        assert_eq!(admitted, 5, "five a minute in all, sharing in {}: {answers:?}", sharing.name());
        for (status, limit, retry_after) in &answers {
            assert_eq!(*limit, Some(5), "every answer says the limit");
            if *status != StatusCode::OK {
                assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
                assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{retry_after:?}");
            }
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 5);
    }
}

#[tokio::test]
async fn a_provider_key_s_concurrency_limit_holds_across_replicas() {
    for sharing in Sharing::all().await {
        let held = mock(Behaviour::Held("ok")).await;
        let mut patient = settings(&[&held], "");
        patient.providers[0].keys[0].concurrency_limit = 1;
        // The second replica gives up on a busy key after two seconds.
        let hasty = GatewaySettings { request_timeout_secs: 2, ..patient.clone() };
        let (_dir, replicas) = replicas([&patient, &hasty], &sharing).await;
        let replicas = Arc::new(replicas);
        // One request holds the key's only slot at the provider, through the first replica ...
        let first = {
            let replicas = Arc::clone(&replicas);
            tokio::spawn(async move { replicas[0].chat(hello()).await.0 })
        };
        while held.calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // ... so the second replica finds the key busy, and never sends.
        let (status, body) = replicas[1].chat(hello()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "sharing in {}: {body}", sharing.name());
        assert!(body.contains("provider_keys_busy"), "{body}");
        assert_eq!(held.calls.load(Ordering::SeqCst), 1);
        held.release(1);
        assert_eq!(first.await.unwrap(), StatusCode::OK);
        // The slot is given back when the answer is done: the second replica may use it now.
        let status = replicas[1].answered_soon(&hello(), 20, || held.release(1)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_replica_that_loses_redis_refuses_with_503_and_recovers_when_it_is_back() {
    let provider = mock(Behaviour::Answer("ok")).await;
    let mut sharing = Sharing::Redis(RedisServer::start().await);
    let settings = settings(&[&provider], "monthly_budget = 5");
    let (_dir, replicas) = replicas([&settings, &settings], &sharing).await;
    let Sharing::Redis(redis) = &mut sharing else { unreachable!("started above") };
    assert_eq!(replicas[0].chat(hello()).await.0, StatusCode::OK);

    redis.stop();
    let response = replicas[0].send(hello()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "counters_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("127.0.0.1:{}", redis.port)), "{message}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1, "nothing is let through unchecked");
    // Its readiness says so, for a load balancer to send requests elsewhere.
    let (ready, checks) = replicas[0].readiness().await;
    assert_eq!((ready, checks["redis"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("down")));

    redis.restart().await;
    let status = replicas[0].answered_soon(&hello(), 100, || ()).await;
    assert_eq!(status, StatusCode::OK, "the replica reconnects by itself");
    let (ready, checks) = replicas[0].readiness().await;
    assert_eq!((ready, checks["redis"].as_str()), (StatusCode::OK, Some("ok")));
}

#[tokio::test]
async fn a_reservation_a_dead_replica_never_settled_lapses_once_its_request_could_not_be_running() {
    use gateway::budget::{Budgets, Limits, Period, Scope};
    for sharing in Sharing::all().await {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage::testing::open(dir.path()).await;
        let store = Gateway::open_store(&GatewaySettings::default(), dir.path(), &storage).unwrap();
        let hold_for = std::time::Duration::from_millis(500);
        let limits = Limits { limits: vec![(Scope::Tenant(1), Period::Daily, 1.0)] };

        let dead =
            Budgets::load(&store, &sharing.counters(&storage).await, hold_for).await.unwrap();
        assert!(dead.reserve(&limits, 0.8).await.unwrap().is_some());
        drop(dead);

        let alive =
            Budgets::load(&store, &sharing.counters(&storage).await, hold_for).await.unwrap();
        let refused = alive.reserve(&limits, 0.8).await.unwrap_err();
        let message = refused.message;
        assert!(
            message.contains("$0.8000 held by requests in flight"),
            "{}: {message}",
            sharing.name()
        );
        tokio::time::sleep(hold_for).await;
        let lapsed = alive.reserve(&limits, 0.8).await.unwrap();
        assert!(lapsed.is_some(), "the dead one's hold lapsed, sharing in {}", sharing.name());
    }
}

/// Replicas on Postgres without Redis keep their counters in the database: one whose database
/// stops answering refuses every request with 503 rather than count nothing, and its readiness
/// says why.
#[tokio::test]
async fn a_replica_whose_database_is_gone_refuses_with_503() {
    let provider = mock(Behaviour::Answer("ok")).await;
    let server = storage::testing::PostgresServer::start(false);
    let storage = storage::Storage::connect(&server.url("postgres")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::open(&settings(&[&provider], "rate_limit = 100"), dir.path(), &storage)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let replica = Proxy { url, http: reqwest::Client::new(), _dir: None };
    assert_eq!(replica.chat(hello()).await.0, StatusCode::OK);

    let address = storage.address().to_owned();
    drop(server);
    let response = replica.send(hello()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "counters_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("the database at {address}")), "{message}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1, "nothing is let through unchecked");
    let (ready, checks) = replica.readiness().await;
    assert_eq!(
        (ready, checks["database"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("down"))
    );
}

/// An Anthropic provider whose every answer read 90,000 prompt tokens from its cache and wrote
/// 8,000 to it: an agent's turn in a long conversation.
async fn anthropic_with_a_warm_cache() -> String {
    let app = Router::new().route(
        "/v1/messages",
        post(|| async {
            axum::Json(json!({
                "id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
                "content": [{ "type": "text", "text": "the bug is in parse()" }],
                "usage": { "input_tokens": 2_000, "cache_read_input_tokens": 90_000,
                           "cache_creation_input_tokens": 8_000, "output_tokens": 1_000 },
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The value of the `/metrics` sample whose name and labels start with `sample`, once the usage
/// writer has counted it.
async fn metric(proxy: &Proxy, sample: &str) -> f64 {
    for _ in 0..100 {
        let text = proxy.http.get(format!("{}/metrics", proxy.url)).send().await.unwrap();
        let text = text.text().await.unwrap();
        if let Some(value) = text.lines().find_map(|l| l.strip_prefix(sample)) {
            return value.trim().parse().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{sample} never reached /metrics");
}

#[tokio::test]
async fn prompt_cache_reads_and_writes_are_priced_at_the_cache_prices() {
    let anthropic = anthropic_with_a_warm_cache().await;
    let dir = tempfile::tempdir().unwrap();
    let settings: GatewaySettings = toml::from_str(&format!(
        "[[tenants]]\nname = \"agent\"\napi_key = \"{TENANT_KEY}\"\n\
         [[providers]]\nname = \"claude\"\nkind = \"anthropic\"\nbase_url = \"{anthropic}\"\n\
         models = [\"claude-*\"]\n[[providers.keys]]\nkey = \"sk-ant-test\"\n"
    ))
    .unwrap();
    let url = serve(&settings, dir.path(), None).await;
    let proxy = Proxy { url, http: reqwest::Client::new(), _dir: Some(dir) };

    let mut ask = hello();
    ask["model"] = json!("claude-sonnet-4-5");
    let (status, body) = proxy.chat(ask).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let usage = serde_json::from_str::<Value>(&body).unwrap()["usage"].clone();
    assert_eq!(usage["prompt_tokens"], 100_000, "{usage}");
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 90_000, "{usage}");
    assert_eq!(usage["cache_creation_input_tokens"], 8_000, "{usage}");

    // The shipped price table's claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 cache
    // write, $15 output per million tokens.
    let labels = "{tenant=\"1\",model=\"claude-sonnet-4-5\"";
    let cost = metric(&proxy, &format!("agentwatch_gateway_cost_usd_total{labels}}} ")).await;
    let expected = (2_000.0 * 3.0 + 90_000.0 * 0.30 + 8_000.0 * 3.75 + 1_000.0 * 15.0) / 1e6;
    assert!((cost - expected).abs() < 1e-9, "cost {cost}, expected {expected}");
    let at_full_price = (100_000.0 * 3.0 + 1_000.0 * 15.0) / 1e6;
    assert!(at_full_price > 4.0 * cost, "not billed as if nothing were cached: {cost}");
    for (kind, n) in [("cache_read", 90_000.0), ("cache_write", 8_000.0), ("prompt", 100_000.0)] {
        let sample = format!("agentwatch_gateway_tokens_total{labels},kind=\"{kind}\"}} ");
        assert_eq!(metric(&proxy, &sample).await, n, "{kind}");
    }
}

#[tokio::test]
async fn an_openai_compatible_providers_cached_tokens_are_priced_as_cache_reads() {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let usage = json!({ "prompt_tokens": 10_000, "completion_tokens": 100,
                                "total_tokens": 10_100,
                                "prompt_tokens_details": { "cached_tokens": 8_000 } });
            completion("cached", usage)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Mock {
        url: format!("http://{}/v1", listener.local_addr().unwrap()),
        calls: Arc::default(),
        last: Arc::default(),
        gate: Arc::new(Semaphore::new(0)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let proxy = proxy(&[&provider], "").await;
    let (status, body) = proxy.chat(hello()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // gpt-4o-mini: $0.15 input, $0.075 cache read, $0.60 output per million tokens.
    let sample = "agentwatch_gateway_cost_usd_total{tenant=\"1\",model=\"gpt-4o-mini\"} ";
    let cost = metric(&proxy, sample).await;
    let expected = (2_000.0 * 0.15 + 8_000.0 * 0.075 + 100.0 * 0.60) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "cost {cost}, expected {expected}");
}

/// What an Azure mock was asked, each time: the path and query, the `api-key`, the body.
type Asked = Arc<Mutex<Vec<(String, String, Value)>>>;

/// An Azure OpenAI resource on a port of this machine, answering its deployments API and its v1
/// API.
async fn azure() -> (String, Asked) {
    async fn answer(
        State(asked): State<Asked>,
        uri: axum::http::Uri,
        headers: axum::http::HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> Response {
        let key =
            headers.get("api-key").map(|k| k.to_str().unwrap().to_owned()).unwrap_or_default();
        asked.lock().unwrap().push((uri.to_string(), key, body.clone()));
        if uri.path().ends_with("/embeddings") {
            return axum::Json(json!({ "object": "list", "model": body["model"],
                "data": [{ "object": "embedding", "index": 0, "embedding": [0.1, 0.2] }],
                "usage": { "prompt_tokens": 3, "total_tokens": 3 } }))
            .into_response();
        }
        completion("from azure", json!({ "prompt_tokens": 5, "completion_tokens": 3 }))
    }
    let asked = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/openai/deployments/{deployment}/chat/completions", post(answer))
        .route("/openai/deployments/{deployment}/embeddings", post(answer))
        .route("/openai/v1/chat/completions", post(answer))
        .with_state(Arc::clone(&asked));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, asked)
}

#[tokio::test]
async fn an_azure_deployment_is_asked_at_its_url_with_its_api_version_and_api_key() {
    let (resource, asked) = azure().await;
    let dir = tempfile::tempdir().unwrap();
    let settings: GatewaySettings = toml::from_str(&format!(
        "[[tenants]]\nname = \"app\"\napi_key = \"{TENANT_KEY}\"\n\
         [[providers]]\nname = \"azure\"\nkind = \"azure\"\nbase_url = \"{resource}\"\n\
         models = [\"prod-*\"]\naliases = {{ \"gpt-4o\" = \"prod-gpt4o\", \"text-embedding-3-small\" = \"prod-embed\" }}\n\
         [[providers.keys]]\nkey = \"azure-key-0123456789\"\n\
         [[providers]]\nname = \"azure-v1\"\nkind = \"azure\"\nbase_url = \"{resource}/openai/v1\"\n\
         models = [\"v1-*\"]\n[[providers.keys]]\nkey = \"azure-v1-key-0123456789\"\n"
    ))
    .unwrap();
    let url = serve(&settings, dir.path(), None).await;
    let proxy = Proxy { url, http: reqwest::Client::new(), _dir: Some(dir) };

    let mut chat = hello();
    chat["model"] = json!("gpt-4o");
    let (status, body) = proxy.chat(chat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let embed = proxy
        .http
        .post(format!("{}/v1/embeddings", proxy.url))
        .bearer_auth(TENANT_KEY)
        .json(&json!({ "model": "text-embedding-3-small", "input": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(embed.status(), StatusCode::OK);
    let mut v1 = hello();
    v1["model"] = json!("v1-gpt-4o-mini");
    assert_eq!(proxy.chat(v1).await.0, StatusCode::OK);
    // A deployment name that would leave its URL path is not routed there at all.
    let mut escape = hello();
    escape["model"] = json!("prod-../../admin");
    assert_eq!(proxy.chat(escape).await.0, StatusCode::NOT_FOUND);

    let asked = asked.lock().unwrap().clone();
    let (path, key, body) = &asked[0];
    assert_eq!(path, "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
    assert_eq!(key, "azure-key-0123456789");
    assert_eq!(body["messages"][0]["content"], "hello");
    assert_eq!(asked[1].0, "/openai/deployments/prod-embed/embeddings?api-version=2024-10-21");
    assert_eq!(asked[2].0, "/openai/v1/chat/completions");
    assert_eq!(asked[2].1, "azure-v1-key-0123456789");
    assert_eq!(
        asked[2].2["model"], "v1-gpt-4o-mini",
        "the v1 API takes the deployment as the model"
    );
    assert_eq!(asked.len(), 3);
}
