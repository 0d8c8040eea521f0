//! MCP as AI IDEs and agents speak it: the official MCP Python SDK drives `agentwatch mcp` (stdio)
//! and `agentwatch serve` (streamable HTTP at `/mcp`) through a whole session — index a
//! repository, search it, read symbols, follow calls, read files as resources, make mistakes —
//! with the modern protocol and with the legacy initialize handshake. The session's checks are in
//! `tests/mcp/knowledge_client.py`.

use std::path::{Path, PathBuf};

use crate::support::{
    Sandbox, Server, assets_dir, python_repository as repository, stderr, stdout,
};

/// The Python of the MCP client venv that `scripts/setup.sh` builds.
fn python() -> PathBuf {
    let python = assets_dir().join("mcp-client/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh --tests", python.display());
    python
}

fn client_session(sandbox: &Sandbox, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/knowledge_client.py");
    let output = sandbox.command_for(&python()).arg(script).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "the MCP client's session failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn an_agent_works_over_stdio_with_the_modern_protocol() {
    let sandbox = Sandbox::new();
    let repo = repository(&sandbox);
    let binary = env!("CARGO_BIN_EXE_agentwatch");
    client_session(&sandbox, &["stdio", binary, repo.to_str().unwrap(), "auto"]);
}

#[test]
fn an_agent_works_over_stdio_with_the_initialize_handshake() {
    let sandbox = Sandbox::new();
    let repo = repository(&sandbox);
    let binary = env!("CARGO_BIN_EXE_agentwatch");
    client_session(&sandbox, &["stdio", binary, repo.to_str().unwrap(), "legacy"]);
}

#[test]
fn an_agent_works_over_http_in_a_session_and_without() {
    let sandbox = Sandbox::new();
    let repo = repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let url = format!("http://{}/mcp", server.address_of("knowledge server"));
    client_session(&sandbox, &["http", &url, repo.to_str().unwrap(), "legacy"]);
    // The same data dir: the repository is indexed already, and stays so.
    client_session(&sandbox, &["http", &url, repo.to_str().unwrap(), "auto"]);
}

#[test]
fn with_a_token_http_clients_must_send_it() {
    let sandbox = Sandbox::new();
    let repo = repository(&sandbox);
    let token = "a-long-enough-knowledge-token";
    let server = Server::start_with(&sandbox, &["serve"], &[("AGENTWATCH_KNOWLEDGE_TOKEN", token)]);
    let url = format!("http://{}/mcp", server.address_of("knowledge server"));
    assert_eq!(post_initialize(&url, &[]).status(), 401);
    client_session(&sandbox, &["http", &url, repo.to_str().unwrap(), "legacy", token]);
}

#[test]
fn http_refuses_foreign_origins_and_hosts() {
    let sandbox = Sandbox::new();
    let ide = "https://ide.example.com";
    let server =
        Server::start_with(&sandbox, &["serve"], &[("AGENTWATCH_KNOWLEDGE_ALLOWED_ORIGINS", ide)]);
    let address = server.address_of("knowledge server");
    let url = format!("http://{address}/mcp");
    // A web page elsewhere, or a DNS name rebound to this machine, gets nothing.
    assert_eq!(post_initialize(&url, &[("origin", "https://evil.example")]).status(), 403);
    assert_eq!(post_initialize(&url, &[("host", "evil.example")]).status(), 403);
    // A local page and a client without Origin are served.
    let local = format!("http://localhost:{}", address.port());
    assert_eq!(post_initialize(&url, &[("origin", &local)]).status(), 200);
    // So is an origin the configuration allows.
    assert_eq!(post_initialize(&url, &[("origin", ide)]).status(), 200);
    assert_eq!(post_initialize(&url, &[("origin", "http://ide.example.com")]).status(), 403);
    assert_eq!(post_initialize(&url, &[]).status(), 200);

    // Every route, not only /mcp: a rebound name or a foreign page reaches none of them, and a
    // page's form cannot change anything.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
        runtime.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request =
                crate::support::http().request(method, format!("http://{address}{path}"));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.send().await.unwrap().status().as_u16()
        })
    };
    let repos = "/api/knowledge/repositories";
    assert_eq!(send("GET", "/health", &[("host", "evil.example")]), 403);
    assert_eq!(send("GET", repos, &[("host", "evil.example:4000")]), 403);
    assert_eq!(send("GET", repos, &[("origin", "https://evil.example")]), 403);
    assert_eq!(send("GET", "/openapi.json", &[("origin", "https://evil.example")]), 403);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(send("POST", repos, &form), 415);
    let cross = [("content-type", "application/json"), ("sec-fetch-site", "cross-site")];
    assert_eq!(send("POST", repos, &cross), 403);
    assert_eq!(send("GET", repos, &[]), 200);
    assert_eq!(send("GET", repos, &[("origin", ide)]), 200);
}

fn post_initialize(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = crate::support::http()
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}"#,
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    })
}

#[test]
fn http_answers_malformed_and_oversized_requests_with_json_rpc_errors() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, &["serve"]);
    let address = server.address_of("knowledge server");
    let url = format!("http://{address}/mcp");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let post = |body: Vec<u8>| {
        runtime.block_on(async {
            let response = crate::support::http()
                .post(&url)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        })
    };

    let (status, body) = post(br#"{"jsonrpc": "2.0", "id": 1, "method": "#.to_vec());
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(body["id"], serde_json::Value::Null);

    let (status, body) = post(br#"{"hello": "world"}"#.to_vec());
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600, "{body}");

    let mut huge = br#"{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    huge.extend(br#""}}"#);
    let (status, body) = post(huge);
    assert_eq!(status, 413);
    assert!(body["error"]["message"].as_str().unwrap().contains("4 MiB"), "{body}");

    // None of it hurt the server.
    assert_eq!(post_initialize(&url, &[]).status(), 200);
}

#[test]
fn stdio_answers_a_malformed_line_and_goes_on() {
    use std::io::Write;
    let sandbox = Sandbox::new();
    let mut child = sandbox
        .command()
        .arg("mcp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"hello": "world"}}"#).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"test","version":"1"}}}}}}"#
    )
    .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let answers: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers[0]["error"]["code"], -32600, "{answers:?}");
    assert_eq!(answers[1]["result"]["serverInfo"]["name"], "agentwatch", "{answers:?}");
    assert!(output.status.success());
}
