//! The gateway as LLM apps use it: the official `openai` Python SDK against `agentwatch gateway`,
//! with two real mock providers (llmock processes) behind it. The client's checks are in
//! `tests/gateway/openai_client.py`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Sandbox, Server, assets_dir, stderr, stdout};

const TENANT_KEY: &str = "aw-test-tenant-key-0123456789abcdef";

/// The Python of the venv with the `openai` SDK and llmock that `scripts/setup.sh` builds.
fn llm_client(program: &str) -> PathBuf {
    let path = assets_dir().join("llm-client/bin").join(program);
    assert!(path.exists(), "{} is missing: run scripts/setup.sh", path.display());
    path
}

/// A llmock process on a free port, answering deterministically; killed on drop.
struct Mock {
    child: Child,
    url: String,
}

impl Mock {
    fn start() -> Mock {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(llm_client("llmock"))
            .args(["serve", "--port", &port.to_string(), "--response-style", "static"])
            .args(["--log-level", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mock = Mock { child, url: format!("http://127.0.0.1:{port}") };
        let start = Instant::now();
        while !mock.ready() {
            assert!(start.elapsed() < Duration::from_secs(30), "llmock did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        mock
    }

    fn ready(&self) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            crate::support::http()
                .get(format!("{}/health", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(sandbox: &Sandbox, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/gateway/openai_client.py");
    let output =
        sandbox.command_for(&llm_client("python")).arg(script).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "the openai SDK client failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
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
    let database = sandbox.path().join("data/agentwatch.db");
    client(&sandbox, &["usage", database.to_str().unwrap()]);

    // Provider keys are sealed at rest: neither is in the database in plain text.
    let mut bytes = std::fs::read(&database).unwrap();
    for wal in ["agentwatch.db-wal", "agentwatch.db-shm"] {
        bytes.extend(std::fs::read(sandbox.path().join("data").join(wal)).unwrap_or_default());
    }
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
