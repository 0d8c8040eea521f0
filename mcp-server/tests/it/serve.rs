//! `agentwatch serve` and `agentwatch gateway`: real processes, real sockets, a real HTTP client.

use std::net::TcpListener;

use crate::support::{Sandbox, Server, stderr};

fn get(url: String) -> reqwest::Response {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { crate::support::http().get(url).send().await.unwrap() })
}

fn json(response: reqwest::Response) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(response.json()).unwrap()
}

#[test]
fn serve_answers_health_on_both_ports_and_stops_cleanly_on_sigterm() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, &["serve"]);
    let gateway = server.address_of("gateway");
    let knowledge = server.address_of("knowledge server");
    assert!(gateway.ip().is_loopback(), "binds loopback by default: {gateway}");

    let response = get(format!("http://{gateway}/health"));
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let health = json(response);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let request_log =
        server.wait_for_log("the request's log line", |l| l["span"]["path"] == "/health");
    assert!(
        request_log["span"]["request_id"].as_str().is_some_and(|id| id.len() == 36),
        "{request_log}"
    );

    assert_eq!(get(format!("http://{knowledge}/health")).status(), 200);
    assert!(sandbox.path().join("data").is_dir(), "serve creates its data dir");

    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[test]
fn the_gateway_alone_serves_no_knowledge_port() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, &["gateway"]);
    let gateway = server.address_of("gateway");
    assert_eq!(get(format!("http://{gateway}/health")).status(), 200);
    let line = server.wait_for_log("the next log line", |_| true);
    assert_ne!(line["server"], "knowledge server", "gateway mode started the knowledge server");
}

#[test]
fn a_taken_port_fails_with_the_setting_to_change() {
    let sandbox = Sandbox::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output =
        sandbox.command().args(["gateway"]).env("AGENTWATCH_GATEWAY_PORT", &port).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port} for the gateway")), "{err}");
    assert!(err.contains("choose another port with AGENTWATCH_GATEWAY_PORT"), "{err}");
}
