//! The gateway as LLM apps use it: the official `openai` and `anthropic` Python SDKs against
//! `agentwatch gateway`, with real mock providers (llmock processes) behind it. The clients'
//! checks are in `tests/gateway/openai_client.py` and `tests/gateway/anthropic_client.py`.

use std::path::Path;

use crate::support::{Mock, Sandbox, Server, llm_client, stderr, stdout};

const TENANT_KEY: &str = "aw-test-tenant-key-0123456789abcdef";

fn client(sandbox: &Sandbox, args: &[&str]) {
    run_client(sandbox, "openai_client.py", args);
}

/// Runs `tests/gateway/<script>` with the SDKs' Python; it checks what it is asked to.
fn run_client(sandbox: &Sandbox, script: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/gateway").join(script);
    let output = sandbox.command_for(&llm_client("python")).arg(path).args(args).output().unwrap();
    assert!(output.status.success(), "{script} failed:\n{}\n{}", stdout(&output), stderr(&output));
}

/// The usage table's rows as JSON objects, in a file of the sandbox: what the client's `usage`
/// step checks, whichever database the gateway wrote them to.
fn usage_rows(sandbox: &Sandbox) -> std::path::PathBuf {
    use sqlx::Row;
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let storage = sandbox.storage().await;
        sqlx::query(
            "SELECT status, tenant_id, provider, latency_ms, request_id, endpoint, model, \
             cost_usd, streamed, ttft_ms, tokens_source, attempts, prompt_tokens, \
             completion_tokens FROM usage ORDER BY id",
        )
        .fetch_all(storage.pool())
        .await
        .unwrap()
    });
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let int = |column: &str| row.get::<Option<i64>, _>(column);
            let text = |column: &str| row.get::<Option<String>, _>(column);
            serde_json::json!({
                "status": int("status"), "tenant_id": int("tenant_id"),
                "provider": text("provider"), "latency_ms": int("latency_ms"),
                "request_id": text("request_id"), "endpoint": text("endpoint"),
                "model": text("model"), "cost_usd": row.get::<f64, _>("cost_usd"),
                "streamed": int("streamed"), "ttft_ms": int("ttft_ms"),
                "tokens_source": text("tokens_source"), "attempts": int("attempts"),
                "prompt_tokens": int("prompt_tokens"),
                "completion_tokens": int("completion_tokens"),
            })
        })
        .collect();
    sandbox.write("usage.json", &serde_json::to_string(&rows).unwrap())
}

#[test]
fn an_openai_sdk_app_gets_chat_streams_tools_models_embeddings_failover_and_usage() {
    let sandbox = Sandbox::new();
    let (primary, secondary) = (Mock::start(), Mock::start());
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
breaker_failures = 2
breaker_open_secs = 2

[[gateway.providers]]
name = "primary"
kind = "custom"
base_url = "{0}/v1"
priority = 10
aliases = {{ fast = "gpt-4o-mini" }}
keys = [
    {{ key = "sk-primary-0123456789abcdef", label = "main" }},
    {{ key = "sk-primary-second-0123456789", label = "spare" }},
]

[[gateway.providers]]
name = "secondary"
kind = "openai"
base_url = "{1}/v1"
priority = 20
keys = [{{ key_env = "SECONDARY_KEY" }}]

[[gateway.providers]]
name = "claude"
kind = "anthropic"
base_url = "{0}/anthropic"
priority = 5
models = ["claude-*"]
keys = [{{ key = "sk-ant-0123456789abcdef" }}]

[[gateway.providers]]
name = "gemini"
kind = "google"
base_url = "{0}/gemini"
priority = 5
models = ["gemini-*"]
keys = [{{ key = "AIza0123456789abcdef" }}]

[[gateway.tenants]]
name = "acme"
api_key = "{TENANT_KEY}"
team = "platform"
"#,
            primary.url, secondary.url
        ),
    );
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[
            ("AGENTWATCH_CONFIG", config.to_str().unwrap()),
            ("SECONDARY_KEY", "sk-secondary-0123456789abcdef"),
        ],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));

    client(&sandbox, &["session", &gateway, TENANT_KEY, &primary.url, &secondary.url]);

    // Usage is written off the response path and flushed at shutdown: none is lost.
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let rows = usage_rows(&sandbox);
    client(&sandbox, &["usage", rows.to_str().unwrap()]);

    // Provider keys are sealed at rest: neither is in the database in plain text.
    let bytes = sandbox.stored_bytes();
    for secret in [
        "sk-primary-0123456789abcdef",
        "sk-secondary-0123456789abcdef",
        "sk-ant-0123456789abcdef",
        "AIza0123456789abcdef",
        TENANT_KEY,
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is stored in plain text"
        );
    }
}

#[test]
fn an_anthropic_sdk_app_gets_messages_streams_tools_dlp_and_budgets_in_anthropics_shape() {
    const POOR_KEY: &str = "aw-test-poor-tenant-key-0123456789";
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[[gateway.providers]]
name = "claude"
kind = "anthropic"
base_url = "{0}/anthropic"
priority = 1
models = ["claude-*"]
keys = [{{ key = "sk-ant-0123456789abcdef" }}]

[[gateway.providers]]
name = "openai"
kind = "openai"
base_url = "{0}/v1"
priority = 2
models = ["gpt-*"]
aliases = {{ "claude-haiku-4-5" = "gpt-4o-mini" }}
keys = [{{ key = "sk-openai-0123456789abcdef" }}]

[[gateway.providers]]
name = "gemini"
kind = "google"
base_url = "{0}/gemini"
priority = 3
models = ["gemini-*"]
keys = [{{ key = "AIza0123456789abcdef" }}]

[[gateway.tenants]]
name = "claude-code"
api_key = "{TENANT_KEY}"
dlp = {{ actions = {{ aws_access_key = "block", email = "mask_and_restore" }} }}

[[gateway.tenants]]
name = "poor"
api_key = "{POOR_KEY}"
monthly_budget = 0.0001
"#,
            mock.url
        ),
    );
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    run_client(
        &sandbox,
        "anthropic_client.py",
        &["session", &gateway, TENANT_KEY, POOR_KEY, &mock.url],
    );

    // Every message is the tenant's usage, recorded as `messages`.
    assert!(server.terminate().success());
    let rows = std::fs::read_to_string(usage_rows(&sandbox)).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
    let messages: Vec<_> = rows.iter().filter(|r| r["endpoint"] == "messages").collect();
    let answered = messages.iter().filter(|r| r["status"] == 200).count();
    assert_eq!(answered, 9, "{messages:#?}");
    assert!(
        messages
            .iter()
            .filter(|r| r["status"] == 200)
            .all(|r| r["cost_usd"].as_f64().unwrap() > 0.0),
        "{messages:#?}"
    );
    let refused: Vec<_> =
        messages.iter().map(|r| r["status"].as_i64().unwrap()).filter(|s| *s >= 400).collect();
    assert_eq!(refused, [400, 402], "{messages:#?}");
}

#[test]
fn an_openai_sdk_app_gets_the_responses_api_from_every_kind_of_provider() {
    const POOR_KEY: &str = "aw-test-poor-tenant-key-0123456789";
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[[gateway.providers]]
name = "openai"
kind = "openai"
base_url = "{0}/v1"
models = ["gpt-*"]
keys = [{{ key = "sk-openai-0123456789abcdef" }}]

[[gateway.providers]]
name = "claude"
kind = "anthropic"
base_url = "{0}/anthropic"
models = ["claude-*"]
keys = [{{ key = "sk-ant-0123456789abcdef" }}]

[[gateway.providers]]
name = "gemini"
kind = "google"
base_url = "{0}/gemini"
models = ["gemini-*"]
keys = [{{ key = "AIza0123456789abcdef" }}]

[[gateway.tenants]]
name = "codex"
api_key = "{TENANT_KEY}"
dlp = {{ actions = {{ email = "mask_and_restore" }} }}

[[gateway.tenants]]
name = "poor"
api_key = "{POOR_KEY}"
monthly_budget = 0.0001
"#,
            mock.url
        ),
    );
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    run_client(
        &sandbox,
        "responses_client.py",
        &["session", &gateway, TENANT_KEY, POOR_KEY, &mock.url],
    );

    assert!(server.terminate().success());
    let rows = std::fs::read_to_string(usage_rows(&sandbox)).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
    let responses: Vec<_> = rows.iter().filter(|r| r["endpoint"] == "responses").collect();
    let answered: Vec<_> = responses.iter().filter(|r| r["status"] == 200).collect();
    // Two per provider, the function's result, and the masked stream.
    assert_eq!(answered.len(), 8, "{responses:#?}");
    assert!(answered.iter().all(|r| r["cost_usd"].as_f64().unwrap() > 0.0), "{responses:#?}");
    let refused: Vec<_> =
        responses.iter().map(|r| r["status"].as_i64().unwrap()).filter(|s| *s >= 400).collect();
    assert_eq!(refused, [400, 402], "{responses:#?}");
}

#[test]
fn mistral_groq_together_and_xai_providers_serve_chat_messages_and_responses() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    // Each preset's base URL is the provider's own unless set: here, llmock's mock of it.
    let presets = [
        ("mistral", "mistral/v1", "mistral-large-latest"),
        ("groq", "groq/openai/v1", "llama-3.3-70b-versatile"),
        ("together", "together/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("xai", "xai/v1", "grok-4"),
    ];
    let mut config = String::new();
    for (kind, path, model) in presets {
        config += &format!(
            "[[gateway.providers]]\nname = \"{kind}\"\nkind = \"{kind}\"\nbase_url = \"{}/{path}\"\n\
             models = [\"{model}\"]\nkeys = [{{ key = \"sk-{kind}-0123456789abcdef\" }}]\n\n",
            mock.url
        );
    }
    config += &format!("[[gateway.tenants]]\nname = \"app\"\napi_key = \"{TENANT_KEY}\"\n");
    let config = sandbox.write("agentwatch.toml", &config);
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let http = crate::support::http();
        for (kind, _, model) in presets {
            let hello = serde_json::json!([{ "role": "user", "content": "Say hello." }]);
            for (path, body) in [
                ("/v1/chat/completions", serde_json::json!({ "model": model, "messages": hello })),
                (
                    "/v1/messages",
                    serde_json::json!({ "model": model, "max_tokens": 64, "messages": hello }),
                ),
                ("/v1/responses", serde_json::json!({ "model": model, "input": "Say hello." })),
            ] {
                let response = http
                    .post(format!("{gateway}{path}"))
                    .bearer_auth(TENANT_KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{kind} {path}");
                assert_eq!(response.headers()["x-agentwatch-provider"], kind, "{path}");
                let answer = response.text().await.unwrap();
                assert!(
                    answer.contains(&format!("Mock response from {model}")),
                    "{kind} {path}: {answer}"
                );
            }
        }
    });
    assert!(server.terminate().success());
}

#[test]
fn a_provider_without_a_key_source_is_refused_at_start_with_the_setting_to_fix() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "agentwatch.toml",
        r#"
[[gateway.providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
keys = [{ key_env = "OPENAI_KEY_THAT_IS_NOT_SET" }]
"#,
    );
    let output = sandbox
        .command()
        .env("AGENTWATCH_CONFIG", &config)
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("gateway.providers[name = \"openai\"].keys")
            && message.contains("OPENAI_KEY_THAT_IS_NOT_SET"),
        "{message}"
    );
}
