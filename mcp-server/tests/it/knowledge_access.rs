//! The knowledge server as one product with the gateway: `agentwatch serve` in front of a real mock
//! provider (llmock). Tenants of two organizations reach it with their gateway API keys — over MCP
//! through the official Python SDK (`tests/mcp/tenant_client.py`), and over REST — and their
//! admins with session tokens. A repository holding a planted secret is served redacted, each
//! organization sees only its own repositories, every call is metered and rate-limited as the
//! tenant, and `ask_codebase`'s question is billed to the tenant's budget.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Api, Mock, Sandbox, Server, assets_dir, create_user, http, python_repository, stderr, stdout,
};

const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "a long admin passphrase";
const ACME_KEY: &str = "aw-acme-agents-key-0123456789abcdef";

/// The planted secret: an AWS access key id. Written in two pieces so that this file holds none.
fn secret() -> String {
    format!("AKIA{}", "Z7Q3XK2M5N8P4R6T")
}

/// The Python fixture with a module that archives invoices through a client holding the secret.
fn repository_with_a_secret(sandbox: &Sandbox) -> std::path::PathBuf {
    let repo = python_repository(sandbox);
    let archive = format!(
        r#""""Where paid invoices go once the month is closed."""

import hashlib


def _sign(payload):
    return hashlib.sha256(payload.encode()).hexdigest()


def archive_client():
    """Connects to the object store that invoices are archived in."""
    return {{"access_key": "{}", "region": "eu-west-1"}}


def archive_invoices(invoices):
    """Archives paid invoices in the object store, each signed."""
    client = archive_client()
    return [(client["region"], _sign(invoice)) for invoice in invoices]
"#,
        secret()
    );
    std::fs::write(repo.join("stockroom/archive.py"), archive).unwrap();
    repo
}

/// The gateway's settings: its first admin, llmock as its provider, and the tenant `acme-agents`
/// (in the default organization) with `limits`.
fn config(sandbox: &Sandbox, mock: &Mock, limits: &str) -> std::path::PathBuf {
    sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
admin_email = "{ADMIN}"
admin_password = "{PASSWORD}"
prices = {{ "gpt-4o-mini" = {{ input = 100.0, output = 100.0 }} }}

[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "{}/v1"
keys = [{{ key = "sk-mock-0123456789abcdef" }}]

[[gateway.tenants]]
name = "acme-agents"
api_key = "{ACME_KEY}"
{limits}
"#,
            mock.url
        ),
    )
}

fn python() -> std::path::PathBuf {
    let python = assets_dir().join("mcp-client/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh --tests", python.display());
    python
}

/// `agentwatch serve` on `config`, and clients of its gateway and its knowledge server.
fn serve(sandbox: &Sandbox, config: &Path) -> (Server, Api, Api) {
    let server =
        Server::start_with(sandbox, &["serve"], &[("AGENTWATCH_CONFIG", config.to_str().unwrap())]);
    let gw = Api { base: format!("http://{}", server.address_of("gateway")), http: http() };
    let kn =
        Api { base: format!("http://{}", server.address_of("knowledge server")), http: http() };
    (server, gw, kn)
}

/// Polls `check` every 250 ms for up to 30 s, until it gives a value.
async fn eventually<T>(what: &str, check: impl AsyncFn() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Indexes a repository as the local user (a client on loopback with no credential), and waits
/// until acme's tenant sees it ready. Returns its id.
async fn index_as_the_local_user(kn: &Api, body: Value) -> String {
    let (status, job) = kn.call("POST", "/api/knowledge/repositories", "", Some(body)).await;
    assert_eq!(status, 202, "{job}");
    let repo_id = job["repo_id"].as_str().unwrap().to_owned();
    let status_path = format!("/api/knowledge/repositories/{repo_id}/status");
    eventually("the index", async || {
        let (_, job) = kn.call("GET", &status_path, ACME_KEY, None).await;
        (job["status"] == "ready").then_some(())
    })
    .await;
    repo_id
}

#[test]
fn tenants_see_their_own_organizations_code_redacted_metered_and_billed() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let repo = repository_with_a_secret(&sandbox);
    let beta = create_user(
        &sandbox,
        &["--email", "admin@beta.example", "--role", "admin", "--org", "beta"],
        PASSWORD,
    );
    assert!(beta.status.success(), "{}", stderr(&beta));
    let config = config(&sandbox, &mock, "daily_budget = 50.0");
    let (_server, gw, kn) = serve(&sandbox, &config);
    let (gateway, knowledge) = (gw.base.clone(), kn.base.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let (repo_id, beta_key) = runtime.block_on(async {
        let ops = gw.login(ADMIN, PASSWORD).await;
        let beta_admin = gw.login("admin@beta.example", PASSWORD).await;
        let tenant = json!({ "name": "beta-agents", "rate_limit": 12 });
        let (status, made) = gw.call("POST", "/api/tenants", &beta_admin, Some(tenant)).await;
        assert_eq!(status, 201, "{made}");
        let beta_key = made["api_key"].as_str().unwrap().to_owned();

        // No credential, or a wrong one: 401, saying what to send.
        let (status, refused) =
            kn.call("GET", "/api/knowledge/repositories", "aw-not-a-key", None).await;
        assert_eq!(status, 401, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("no tenant"), "{refused}");

        // A tenant may not index a folder of the server's machine: that is its local user's to
        // do. Indexed so, the repository belongs to the default organization, acme's.
        let body = json!({ "url": repo.to_str().unwrap() });
        let (status, refused) =
            kn.call("POST", "/api/knowledge/repositories", ACME_KEY, Some(body.clone())).await;
        assert_eq!(status, 403, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("https git URL"));
        let repo_id = index_as_the_local_user(&kn, body).await;

        // Search returns the code holding the secret, redacted, and says so.
        let search = format!(
            "{knowledge}/api/knowledge/search?q=archive+invoices+object+store&mode=lexical"
        );
        let response = http().get(&search).bearer_auth(ACME_KEY).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
        assert_eq!(response.headers()["x-agentwatch-redacted"], "1");
        let found: Value = response.json().await.unwrap();
        let text = found.to_string();
        assert!(!text.contains(&secret()), "the secret left the server: {text}");
        assert!(text.contains("[REDACTED:"), "{text}");
        assert_eq!(found["redactions"]["by_type"]["aws_access_key"], 1, "{found}");
        assert!(
            found["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["path"] == "stockroom/archive.py")
        );

        // The organization's admin sees it with a session token; the other organization's does
        // not, nor its tenant.
        let (_, listed) = kn.call("GET", "/api/knowledge/repositories", &ops, None).await;
        assert_eq!(listed["total"], 1, "{listed}");
        let (_, listed) = kn.call("GET", "/api/knowledge/repositories", &beta_admin, None).await;
        assert_eq!(listed["total"], 0, "{listed}");
        let (status, _) = kn
            .call("GET", &format!("/api/knowledge/repositories/{repo_id}"), &beta_key, None)
            .await;
        assert_eq!(status, 404);
        // Nor can it place a report in that code: the repository is unknown to it.
        let report =
            json!({ "text": "invoices are archived to the wrong object store", "repo": repo_id });
        let (status, refused) =
            kn.call("POST", "/api/knowledge/locate", &beta_key, Some(report.clone())).await;
        assert_eq!(status, 404, "{refused}");
        let (status, located) =
            kn.call("POST", "/api/knowledge/locate", ACME_KEY, Some(report)).await;
        assert_eq!(status, 200, "{located}");
        assert!(!located.to_string().contains(&secret()), "the secret left the server: {located}");
        (repo_id, beta_key)
    });

    // Both tenants' agents over MCP, through the official Python SDK. The mock model answers the
    // question with a citation of the code it was sent.
    runtime.block_on(async {
        let reply = json!({ "type": "reply", "text":
            "Invoices are archived by archive_invoices (stockroom/archive.py:15-18), which signs each one." });
        let url = format!("{}/_llmock/scenario", mock.url);
        let queued = http().post(url).json(&json!({ "behaviors": [reply] })).send().await.unwrap();
        assert_eq!(queued.status(), 201);
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/tenant_client.py");
    let mcp = format!("{knowledge}/mcp");
    let output = sandbox
        .command_for(&python())
        .arg(script)
        .args([&mcp, ACME_KEY, &beta_key, &repo_id, &secret()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the MCP sessions failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );

    runtime.block_on(async {
        // What the model was sent: the retrieved code, with the secret redacted by the gateway.
        let requests = mock.requests().await;
        let sent = requests.last().unwrap()["body"].to_string();
        assert!(sent.contains("def archive_invoices"), "{sent}");
        assert!(!sent.contains(&secret()), "the secret reached the model: {sent}");

        // Every call is in the owner organization's usage, as the tenant's: tool, size, DLP.
        let ops = gw.login(ADMIN, PASSWORD).await;
        let (_, tenants) = gw.call("GET", "/api/tenants", &ops, None).await;
        let acme = tenants["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "acme-agents")
            .unwrap()["id"]
            .clone();
        let usage = eventually("the MCP calls in usage", async || {
            let (_, usage) = gw.call("GET", "/api/usage?endpoint=mcp&limit=100", &ops, None).await;
            let rows = usage["data"].as_array().cloned().unwrap_or_default();
            rows.iter().any(|r| r["tool"] == "ask_codebase").then_some(rows)
        })
        .await;
        let tools: Vec<&str> = usage.iter().filter_map(|r| r["tool"].as_str()).collect();
        for tool in ["list_repositories", "search_code", "read_file", "get_symbol", "ask_codebase"] {
            assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
        }
        let search = usage.iter().find(|r| r["tool"] == "search_code").unwrap();
        assert_eq!(search["tenant_id"], acme, "{search}");
        assert!(search["result_bytes"].as_i64().unwrap() > 100, "{search}");
        // The key appears in the text and in the structured result: both are redacted.
        assert!(search["dlp"]["aws_access_key"]["redact"].as_i64().unwrap() >= 1, "{search}");
        let (_, rest) = gw.call("GET", "/api/usage?endpoint=rest&limit=100", &ops, None).await;
        assert!(
            rest["data"].as_array().unwrap().iter().any(|r| r["tool"] == "GET /api/knowledge/search"),
            "{rest}"
        );

        // The question's cost is the tenant's, in its budget.
        let (_, llm) =
            gw.call("GET", "/api/usage?endpoint=chat.completions", &ops, None).await;
        let asked = &llm["data"][0];
        assert_eq!(asked["tenant_id"], acme, "{llm}");
        let cost = asked["cost_usd"].as_f64().unwrap();
        assert!(cost > 0.0, "{asked}");
        let (_, tenant) = gw.call("GET", &format!("/api/tenants/{acme}"), &ops, None).await;
        assert!(tenant["usage"]["cost_today_usd"].as_f64().unwrap() >= cost, "{tenant}");

        // The other organization sees none of it.
        let beta_admin = gw.login("admin@beta.example", PASSWORD).await;
        let (_, theirs) =
            gw.call("GET", "/api/usage?endpoint=mcp&limit=100", &beta_admin, None).await;
        assert!(theirs["data"].as_array().unwrap().iter().all(|r| r["tenant_id"] != acme), "{theirs}");

        let metrics = http().get(format!("{gateway}/metrics")).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        assert!(
            metrics.contains(&format!(
                r#"agentwatch_gateway_knowledge_calls_total{{tenant="{acme}",surface="mcp",tool="search_code",status="200"}}"#
            )),
            "{metrics}"
        );

        // Calls count against the tenant's rate limit (12 a minute for beta's): the 429 says
        // when to come back.
        let path = "/api/knowledge/repositories";
        let refused = eventually("the rate limit", async || {
            let response =
                http().get(format!("{knowledge}{path}")).bearer_auth(&beta_key).send().await.unwrap();
            (response.status() == 429).then_some(response)
        })
        .await;
        let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    });
}

/// `agentwatch gateway` on one machine (here: its own data dir), and a knowledge server elsewhere
/// pointed at it with `knowledge.gateway_url`: that server runs no gateway of its own, and still
/// knows the gateway's tenants, meters their calls there, holds them to their rate limit, screens
/// what it returns by their policy, and sends `ask_codebase` through that gateway.
#[test]
fn a_knowledge_server_draws_on_a_gateway_in_another_process() {
    let gateway_host = Sandbox::new();
    let knowledge_host = Sandbox::new();
    let mock = Mock::start();
    let repo = repository_with_a_secret(&knowledge_host);
    let config = config(&gateway_host, &mock, "rate_limit = 60");
    let gateway_server = Server::start_with(
        &gateway_host,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", gateway_server.address_of("gateway"));
    let knowledge_server = Server::start_with(
        &knowledge_host,
        &["serve"],
        &[("AGENTWATCH_KNOWLEDGE_GATEWAY_URL", &gateway)],
    );
    let knowledge = format!("http://{}", knowledge_server.address_of("knowledge server"));
    let gw = Api { base: gateway.clone(), http: http() };
    let kn = Api { base: knowledge.clone(), http: http() };

    tokio::runtime::Runtime::new().unwrap().block_on(async {
        // The remote gateway's verdict on a credential is the knowledge server's.
        let (status, refused) =
            kn.call("GET", "/api/knowledge/repositories", "aw-not-a-key", None).await;
        assert_eq!(status, 401, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("no tenant"), "{refused}");

        // Indexed by this machine's user, it belongs to the default organization, acme's.
        let body = json!({ "url": repo.to_str().unwrap() });
        let repo_id = index_as_the_local_user(&kn, body).await;
        let search = "/api/knowledge/search?q=archive+invoices+object+store&mode=lexical";
        let (status, found) = kn.call("GET", search, ACME_KEY, None).await;
        assert_eq!(status, 200, "{found}");
        assert!(!found.to_string().contains(&secret()), "{found}");
        assert_eq!(found["redactions"]["by_type"]["aws_access_key"], 1, "{found}");

        // The question goes through the same gateway, billed to the tenant.
        let reply = json!({ "type": "reply", "text":
            "archive_invoices (stockroom/archive.py:15-18) archives them." });
        let url = format!("{}/_llmock/scenario", mock.url);
        http().post(url).json(&json!({ "behaviors": [reply] })).send().await.unwrap();
        let question = json!({ "question": "How are invoices archived?", "repo": repo_id });
        let (status, answer) =
            kn.call("POST", "/api/knowledge/ask", ACME_KEY, Some(question)).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["citations"][0]["grounded"].as_bool().unwrap(), "{answer}");

        // The calls are in the gateway's usage, as the tenant's.
        let ops = gw.login(ADMIN, PASSWORD).await;
        let rows = eventually("the calls in the gateway's usage", async || {
            let (_, usage) = gw.call("GET", "/api/usage?endpoint=rest&limit=100", &ops, None).await;
            let rows = usage["data"].as_array().cloned().unwrap_or_default();
            rows.iter().any(|r| r["tool"] == "POST /api/knowledge/ask").then_some(rows)
        })
        .await;
        let search = rows.iter().find(|r| r["tool"] == "GET /api/knowledge/search").unwrap();
        assert_eq!(search["dlp"]["aws_access_key"]["redact"], 1, "{search}");
        let (_, llm) = gw.call("GET", "/api/usage?endpoint=chat.completions", &ops, None).await;
        assert!(llm["data"][0]["cost_usd"].as_f64().unwrap() > 0.0, "{llm}");

        // And held to its rate limit there (60 a minute), whichever server the calls reach.
        let refused = eventually("the rate limit", async || {
            let response = http()
                .get(format!("{knowledge}/api/knowledge/repositories"))
                .bearer_auth(ACME_KEY)
                .send()
                .await
                .unwrap();
            (response.status() == 429).then_some(response)
        })
        .await;
        assert!(refused.headers().contains_key("retry-after"));
    });
}

/// `index.embeddings` pointed at a gateway: the repository's chunks are embedded by whatever
/// provider the gateway routes the model to (llmock here), billed to the tenant whose key the
/// indexer sends, and a semantic search's question goes the same way.
#[test]
fn a_repository_is_embedded_through_the_gateway_and_searched_by_those_vectors() {
    let gateway_host = Sandbox::new();
    let knowledge_host = Sandbox::new();
    let mock = Mock::start();
    let config = config(&gateway_host, &mock, "");
    let gateway_server = Server::start_with(
        &gateway_host,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", gateway_server.address_of("gateway"));
    let repo = python_repository(&knowledge_host);
    let settings = knowledge_host.write(
        "agentwatch.toml",
        &format!(
            "[index]\nembeddings = {{ url = \"{gateway}/v1\", model = \"text-embedding-3-small\", dimensions = 1536 }}\n"
        ),
    );
    let agentwatch = |args: &[&str]| {
        let output = knowledge_host
            .command()
            .args(args)
            .env("AGENTWATCH_CONFIG", &settings)
            .env("AGENTWATCH_EMBEDDINGS_API_KEY", ACME_KEY)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()
    };

    let job = agentwatch(&["index", repo.to_str().unwrap(), "--json"]);
    assert_eq!(job["status"], "ready", "{job}");
    let chunks = job["chunks"].as_u64().unwrap();
    assert!(chunks > 5, "{job}");
    assert_eq!(job["embedded"], chunks, "{job}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The texts reached the provider through the gateway, in batches of the indexer's choosing.
    let sent: Vec<String> = runtime.block_on(async {
        mock.requests()
            .await
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/embeddings")))
            .flat_map(|r| r["body"]["input"].as_array().cloned().unwrap_or_default())
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    });
    assert!(
        !sent.is_empty() && sent.len() as u64 <= chunks,
        "{} texts for {chunks} chunks",
        sent.len()
    );
    let text = sent.iter().find(|t| t.contains("def ")).expect("a function's chunk was embedded");
    let header = text.lines().next().unwrap();
    let path = header.split(" · ").next().unwrap();

    // A question embedded the same way finds the chunk whose text it is (the same vector).
    let found = agentwatch(&["search", text, "--mode", "semantic", "--json", "--limit", "3"]);
    let hits = found.as_array().unwrap_or_else(|| found["results"].as_array().unwrap());
    assert_eq!(hits[0]["path"], path, "{found}");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.99, "{found}");

    // Every request is in the gateway's usage, as the tenant's embeddings.
    let gw = Api { base: gateway.clone(), http: http() };
    runtime.block_on(async {
        let ops = gw.login(ADMIN, PASSWORD).await;
        let (_, tenants) = gw.call("GET", "/api/tenants", &ops, None).await;
        let tenants = tenants["data"].as_array().unwrap().clone();
        let acme = tenants.iter().find(|t| t["name"] == "acme-agents").unwrap()["id"].clone();
        let rows = eventually("the embeddings in usage", async || {
            let path = "/api/usage?endpoint=embeddings&limit=500";
            let (_, usage) = gw.call("GET", path, &ops, None).await;
            let rows = usage["data"].as_array().cloned().unwrap_or_default();
            (rows.len() >= 2).then_some(rows)
        })
        .await;
        assert!(rows.iter().all(|r| r["tenant_id"] == acme), "{rows:?}");
    });
}

/// One MCP tool call over streamable HTTP with `token`, in a session of its own: the result.
async fn mcp_tool_call(url: &str, token: &str, tool: &str, arguments: Value) -> Value {
    async fn post(
        url: &str,
        token: &str,
        session: Option<&str>,
        body: Value,
    ) -> (Option<String>, Value) {
        let mut request = http()
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        let session =
            response.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        // A JSON answer, or an event stream whose data line carries it.
        let json = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|l| l.contains("jsonrpc"))
            .map_or_else(
                || serde_json::from_str(&text).unwrap_or(Value::Null),
                |l| serde_json::from_str(l).unwrap(),
            );
        (session, json)
    }
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } } });
    let (session, answer) = post(url, token, None, init).await;
    assert!(answer["result"].is_object(), "{answer}");
    let session = session.expect("a session id");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    post(url, token, Some(&session), initialized).await;
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": tool, "arguments": arguments } });
    post(url, token, Some(&session), call).await.1["result"].clone()
}

#[test]
fn a_viewer_reads_but_cannot_index_scan_remove_or_ask_and_people_are_rate_limited() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            "[gateway]\nadmin_email = \"{ADMIN}\"\nadmin_password = \"{PASSWORD}\"\nrate_burst = 8\nrate_refill_per_sec = 0.01\n"
        ),
    );
    let viewer =
        create_user(&sandbox, &["--email", "viewer@example.com", "--role", "viewer"], PASSWORD);
    assert!(viewer.status.success(), "{}", stderr(&viewer));
    let (_server, gw, kn) = serve(&sandbox, &config);
    let knowledge = kn.base.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let viewer = gw.login("viewer@example.com", PASSWORD).await;
        let (status, job) = kn
            .call(
                "POST",
                "/api/knowledge/repositories",
                "",
                Some(json!({ "url": repo.to_str().unwrap() })),
            )
            .await;
        assert_eq!(status, 202, "{job}");
        let id = job["repo_id"].as_str().unwrap().to_owned();
        let status_path = format!("/api/knowledge/repositories/{id}/status");
        eventually("the index", async || {
            let (_, job) = kn.call("GET", &status_path, "", None).await;
            (job["status"] == "ready").then_some(())
        })
        .await;

        // Reads: yes.
        let (status, listed) = kn.call("GET", "/api/knowledge/repositories", &viewer, None).await;
        assert_eq!((status, listed["total"].clone()), (200, json!(1)), "{listed}");
        // Changes, and spending the organization's money: no, saying who may.
        let changes = [
            ("POST", format!("/api/knowledge/repositories/{id}/scan"), None),
            ("DELETE", format!("/api/knowledge/repositories/{id}"), None),
            ("POST", "/api/knowledge/ask".to_owned(), Some(json!({ "question": "what is this?" }))),
            (
                "POST",
                "/api/knowledge/repositories".to_owned(),
                Some(json!({ "url": "https://example.com/a/b" })),
            ),
        ];
        for (method, path, body) in changes {
            let (status, refused) = kn.call(method, &path, &viewer, body).await;
            assert_eq!(status, 403, "{method} {path}: {refused}");
            assert_eq!(refused["error"]["code"], "forbidden");
            assert!(refused["error"]["message"].as_str().unwrap().contains("viewer reads only"));
        }
        let mcp = format!("{knowledge}/mcp");
        let refused =
            mcp_tool_call(&mcp, &viewer, "run_security_scan", json!({ "repo": id })).await;
        assert_eq!(refused["isError"], true, "{refused}");
        assert!(refused.to_string().contains("viewer reads only"), "{refused}");
        // The refusal is in the organization's usage as one: a 403, not a failed tool.
        let admin = gw.login(ADMIN, PASSWORD).await;
        let recorded = eventually("the viewer's refused scan in the usage", async || {
            let (_, usage) =
                gw.call("GET", "/api/usage?tool=run_security_scan", &admin, None).await;
            (usage["total"] == 1).then(|| usage["data"][0]["status"].clone())
        })
        .await;
        assert_eq!(recorded, 403);
        let read = mcp_tool_call(&mcp, &viewer, "list_repositories", json!({})).await;
        assert_ne!(read["isError"], true, "{read}");
        // Still there, unscanned.
        let (status, _) =
            kn.call("GET", &format!("/api/knowledge/repositories/{id}"), "", None).await;
        assert_eq!(status, 200);

        // A person's calls are rate-limited as a tenant's are (a bucket of 8 here).
        let mut seen = Vec::new();
        for _ in 0..10 {
            let response = http()
                .get(format!("{knowledge}/api/knowledge/repositories"))
                .bearer_auth(&viewer)
                .send()
                .await
                .unwrap();
            seen.push(response.status().as_u16());
        }
        assert_eq!(seen.last(), Some(&429), "{seen:?}");
    });
}

/// What another organization asks to clone is refused up front with a 4xx that says why: plain
/// http, an address of the server's own network, and a repository past its quota. (A failed
/// clone counts against the quota like any other: the organization removes it to make room.)
#[test]
fn an_organization_s_clone_requests_are_refused_with_the_reason() {
    let sandbox = Sandbox::new();
    let beta = create_user(
        &sandbox,
        &["--email", "admin@beta.example", "--role", "admin", "--org", "beta"],
        PASSWORD,
    );
    assert!(beta.status.success(), "{}", stderr(&beta));
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            "[gateway]\nadmin_email = \"{ADMIN}\"\nadmin_password = \"{PASSWORD}\"\n\n[index]\nmax_repos_per_org = 1\n"
        ),
    );
    let (_server, gw, kn) = serve(&sandbox, &config);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let beta = gw.login("admin@beta.example", PASSWORD).await;
        let index = async |url: &str| {
            kn.call("POST", "/api/knowledge/repositories", &beta, Some(json!({ "url": url }))).await
        };
        let private = format!("https://{}/beta/app", std::net::Ipv4Addr::new(10, 1, 2, 3));
        for (url, says) in [
            ("http://git.example.com/beta/app", "https only"),
            (private.as_str(), "not on the public internet"),
            ("https://localhost/beta/app", "resolves only to"),
        ] {
            let (status, refused) = index(url).await;
            assert_eq!(status, 400, "{url}: {refused}");
            let message = refused["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{url}: {message}");
        }

        // This machine has no route to the internet: the first clone fails, and still counts.
        let (status, first) = index("https://git.example.com/beta/app").await;
        assert_eq!(status, 202, "{first}");
        let (status, refused) = index("https://git.example.com/beta/other").await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(refused["error"]["code"], "quota_exceeded");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("index.max_repos_per_org"), "{message}");
        // Asking again for the repository it has is a re-index, not a new one.
        let id = first["repo_id"].as_str().unwrap();
        let status_path = format!("/api/knowledge/repositories/{id}/status");
        eventually("the first clone to end", async || {
            let (_, job) = kn.call("GET", &status_path, &beta, None).await;
            (job["status"] == "failed").then_some(())
        })
        .await;
        let (status, again) = index("https://git.example.com/beta/app").await;
        assert_eq!(status, 202, "{again}");
    });
}
