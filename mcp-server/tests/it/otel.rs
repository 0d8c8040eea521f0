//! Traces as an operator's collector receives them: `agentwatch serve` with `log.otlp_endpoint`
//! sends its spans over OTLP — HTTP (protobuf) or gRPC — to a receiver in this test, built on the
//! OpenTelemetry protocol's own generated types. A client's `traceparent` is continued, and the
//! provider is handed the trace in turn.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;

use crate::support::{Api, Sandbox, Server, http, python_repository};

const TENANT_KEY: &str = "aw-otel-tenant-key-0123456789abcdef";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const PROMPT: &str = "what does the invoice module do?";

/// A span as received: its ids, name, kind and attributes as strings.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Span>>>;

fn keep(spans: &Spans, request: ExportTraceServiceRequest) {
    let mut kept = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for span in scope.spans {
                let attributes = span
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                            Some(AnyValue::StringValue(s)) => s,
                            Some(AnyValue::IntValue(i)) => i.to_string(),
                            Some(AnyValue::DoubleValue(d)) => d.to_string(),
                            Some(AnyValue::BoolValue(b)) => b.to_string(),
                            other => format!("{other:?}"),
                        };
                        (kv.key.clone(), value)
                    })
                    .collect();
                kept.push(Span {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes,
                });
            }
        }
    }
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf) on a free port: its base URL.
async fn http_receiver(spans: Spans) -> String {
    async fn export(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
        keep(&spans, ExportTraceServiceRequest::decode(body).unwrap());
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    let app = Router::new().route("/v1/traces", post(export)).with_state(spans);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Grpc(Spans);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on a free port: its base URL.
async fn grpc_receiver(spans: Spans) -> String {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}").parse().unwrap();
    let service = TraceServiceServer::new(Grpc(spans));
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve(address));
    format!("http://127.0.0.1:{port}")
}

/// A provider answering every chat completion, keeping the `traceparent` each request came with.
async fn provider(traceparents: Arc<Mutex<Vec<String>>>) -> String {
    async fn answer(
        State(seen): State<Arc<Mutex<Vec<String>>>>,
        headers: HeaderMap,
    ) -> axum::Json<serde_json::Value> {
        let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
        seen.lock().unwrap().push(traceparent.unwrap_or_default().to_owned());
        axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{ "index": 0, "finish_reason": "stop",
                          "message": { "role": "assistant", "content": "It bills." } }],
            "usage": { "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 },
        }))
    }
    let app = Router::new().route("/v1/chat/completions", post(answer)).with_state(traceparents);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// `serve` sending its traces to `endpoint` by `protocol`, with a provider at `provider`.
fn serve(sandbox: &Sandbox, endpoint: &str, protocol: &str, provider: &str) -> Server {
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[log]
otlp_endpoint = "{endpoint}"
otlp_protocol = "{protocol}"

[[gateway.providers]]
name = "primary"
kind = "openai"
base_url = "{provider}"
keys = [{{ key = "sk-provider-0123456789abcdef" }}]

[[gateway.tenants]]
name = "billing"
api_key = "{TENANT_KEY}"
"#
        ),
    );
    Server::start_with(sandbox, &["serve"], &[("AGENTWATCH_CONFIG", config.to_str().unwrap())])
}

/// A chat completion sent with the client's own trace context.
async fn chat(gateway: &str) {
    let body =
        json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": PROMPT }] });
    let response = http()
        .post(format!("http://{gateway}/v1/chat/completions"))
        .bearer_auth(TENANT_KEY)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Waits for the spans `done` holds of, failing after 20 s with what came.
async fn received(spans: &Spans, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let started = Instant::now();
    loop {
        let now = spans.lock().unwrap().clone();
        if done(&now) {
            return now;
        }
        let names: Vec<&str> = now.iter().map(|s| s.name.as_str()).collect();
        assert!(started.elapsed() < Duration::from_secs(20), "spans so far: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> Option<&'a Span> {
    spans.iter().find(|s| s.name == name)
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

#[test]
fn spans_reach_an_otlp_http_collector_continuing_the_clients_trace_to_the_provider() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let spans: Spans = Arc::default();
    let traceparents: Arc<Mutex<Vec<String>>> = Arc::default();
    let (endpoint, provider) = runtime.block_on(async {
        (http_receiver(Arc::clone(&spans)).await, provider(Arc::clone(&traceparents)).await)
    });
    let server = serve(&sandbox, &endpoint, "http", &provider);
    let gateway = server.address_of("gateway").to_string();
    let knowledge = server.address_of("knowledge server").to_string();
    runtime.block_on(async {
        chat(&gateway).await;
        // The local user indexes a folder and searches it over REST.
        let api = Api { base: format!("http://{knowledge}/api/knowledge"), http: http() };
        let (status, job) =
            api.call("POST", "/repositories", "", Some(json!({ "url": repo }))).await;
        assert_eq!(status, 202, "{job}");
        let id = job["repo_id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        while api.call("GET", &format!("/repositories/{id}/status"), "", None).await.1["status"]
            != "ready"
        {
            assert!(started.elapsed() < Duration::from_secs(120), "never indexed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, _) = api.call("GET", "/search?q=invoice&mode=lexical", "", None).await;
        assert_eq!(status, 200);

        let spans = received(&spans, |s| {
            named(s, "index").is_some()
                && named(s, "execute_tool GET /api/knowledge/search").is_some()
                && s.iter().filter(|s| s.name == "chat gpt-4o-mini").count() >= 2
        })
        .await;

        // The request continues the client's trace: the server span's parent is the client's.
        let request = spans
            .iter()
            .find(|s| s.name == "POST /v1/chat/completions" && s.trace_id == TRACE_ID)
            .expect("the gateway's server span, in the client's trace");
        assert_eq!((request.parent_span_id.as_str(), request.kind), (CLIENT_SPAN, SERVER));
        // Under it, the request in the GenAI semantic conventions, with what it used…
        let gen_ai = spans
            .iter()
            .find(|s| s.name == "chat gpt-4o-mini" && s.parent_span_id == request.span_id)
            .expect("the gen_ai span");
        let attribute =
            |span: &Span, key: &str| span.attributes.get(key).cloned().unwrap_or_default();
        assert_eq!(attribute(gen_ai, "gen_ai.operation.name"), "chat");
        assert_eq!(attribute(gen_ai, "gen_ai.request.model"), "gpt-4o-mini");
        assert_eq!(attribute(gen_ai, "gen_ai.system"), "openai");
        assert_eq!(attribute(gen_ai, "gen_ai.usage.input_tokens"), "5");
        assert_eq!(attribute(gen_ai, "gen_ai.usage.output_tokens"), "3");
        // …and under that, the attempt at the provider, whose context the provider was handed.
        let attempt = spans
            .iter()
            .find(|s| s.parent_span_id == gen_ai.span_id && s.kind == CLIENT)
            .expect("the provider attempt span");
        assert_eq!(attribute(attempt, "agentwatch.provider"), "primary");
        let sent = traceparents.lock().unwrap().clone();
        assert_eq!(sent, [format!("00-{TRACE_ID}-{}-01", attempt.span_id)]);

        // A knowledge call is an execute_tool span; an index job, a trace of its stages.
        let tool = named(&spans, "execute_tool GET /api/knowledge/search").unwrap();
        assert_eq!(attribute(tool, "gen_ai.tool.name"), "GET /api/knowledge/search");
        let job = named(&spans, "index").unwrap();
        assert_eq!(attribute(job, "agentwatch.outcome"), "ready");
        let stages: Vec<&str> = spans
            .iter()
            .filter(|s| s.parent_span_id == job.span_id)
            .map(|s| s.name.as_str())
            .collect();
        assert!(stages.contains(&"index parsing"), "{stages:?}");

        // Nothing a tenant sent or holds is in a span.
        for span in &spans {
            for value in span.attributes.values() {
                assert!(!value.contains(TENANT_KEY) && !value.contains(PROMPT), "{span:?}");
            }
        }
    });
}

#[test]
fn spans_reach_an_otlp_grpc_collector() {
    let sandbox = Sandbox::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let spans: Spans = Arc::default();
    let (endpoint, provider) = runtime.block_on(async {
        (grpc_receiver(Arc::clone(&spans)).await, provider(Arc::default()).await)
    });
    let server = serve(&sandbox, &endpoint, "grpc", &provider);
    let gateway = server.address_of("gateway").to_string();
    runtime.block_on(async {
        chat(&gateway).await;
        let spans = received(&spans, |s| {
            s.iter().any(|s| s.name == "chat gpt-4o-mini" && s.trace_id == TRACE_ID)
        })
        .await;
        let gen_ai = spans.iter().find(|s| s.attributes.contains_key("gen_ai.usage.input_tokens"));
        assert_eq!(gen_ai.unwrap().attributes["gen_ai.usage.input_tokens"], "5");
    });
}
