//! DLP on the LLM API, end to end: `agentwatch gateway` in front of a real mock provider (llmock),
//! a tenant with a policy, and a real HTTP client. What the provider received is read back from
//! the mock's own request journal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Mock, Sandbox, Server, http};

const TENANT_KEY: &str = "aw-dlp-tenant-key-0123456789abcdef";
const EMAIL: &str = "ada@lovelace.dev";
const GITHUB_TOKEN: &str = "ghp_R2d9Qw7LmZx4Tb8Kp1Vc6Ns3Hy5Jf0Ga2Ue7";
const AWS_KEY: &str = "AKIAZ7QW3ERT5YUI2OPL";

struct Client {
    http: reqwest::Client,
    gateway: String,
    mock: String,
}

impl Client {
    async fn chat(&self, content: &str, stream: bool) -> reqwest::Response {
        let body = json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{ "role": "user", "content": content }],
        });
        let url = format!("{}/v1/chat/completions", self.gateway);
        self.http.post(url).bearer_auth(TENANT_KEY).json(&body).send().await.unwrap()
    }

    /// Queues what the mock model says next.
    async fn script(&self, behavior: Value) {
        let url = format!("{}/_llmock/scenario", self.mock);
        let response =
            self.http.post(url).json(&json!({ "behaviors": [behavior] })).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }

    /// The body of the last request the mock received.
    async fn last_upstream_request(&self) -> Value {
        let url = format!("{}/_llmock/requests", self.mock);
        let journal: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        let requests = journal.get("requests").unwrap_or(&journal).as_array().unwrap().clone();
        requests.last().unwrap()["body"].clone()
    }
}

/// The text and tool-call arguments of a streamed answer, put together.
async fn streamed(response: reqwest::Response) -> (String, String) {
    let text = response.text().await.unwrap();
    let (mut content, mut arguments) = (String::new(), String::new());
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(chunk) = serde_json::from_str::<Value>(data) else { continue };
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            content.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
            for call in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
                arguments.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
        }
    }
    (content, arguments)
}

#[test]
fn secrets_are_redacted_or_blocked_and_masked_values_come_back_in_answers_streamed_or_not() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
admin_email = "ops@example.com"
admin_password = "a long admin passphrase"

[gateway.dlp]
secrets = "redact"

[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "{}/v1"
keys = [{{ key = "sk-mock-0123456789abcdef" }}]

[[gateway.tenants]]
name = "guarded"
api_key = "{TENANT_KEY}"
dlp = {{ actions = {{ aws_access_key = "block", email = "mask_and_restore" }} }}
"#,
            mock.url
        ),
    );
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let client = Client {
        http: http(),
        gateway: format!("http://{}", server.address_of("gateway")),
        mock: mock.url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // A secret under `redact` (the config's default for secrets) never reaches the provider.
        let response = client.chat(&format!("why does {GITHUB_TOKEN} fail?"), false).await;
        assert_eq!(response.status(), 200);
        let sent = client.last_upstream_request().await.to_string();
        assert!(sent.contains("why does [REDACTED:GITHUB_TOKEN] fail?") && !sent.contains(GITHUB_TOKEN), "{sent}");

        // A long prompt is screened off the async threads, as thoroughly.
        let long = format!("{} and {GITHUB_TOKEN}", "a line of a long log file\n".repeat(2000));
        assert_eq!(client.chat(&long, false).await.status(), 200);
        let sent = client.last_upstream_request().await.to_string();
        assert!(sent.contains("[REDACTED:GITHUB_TOKEN]") && !sent.contains(GITHUB_TOKEN));

        // A type the tenant blocks: 400 naming the type, never the value; nothing sent.
        let response = client.chat(&format!("deploy with {AWS_KEY}"), false).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "dlp_blocked");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("aws_access_key") && !message.contains(AWS_KEY), "{message}");
        assert!(!client.last_upstream_request().await.to_string().contains("deploy with"));

        // Masked: the provider sees a placeholder, the client gets its address back.
        client.script(json!({ "type": "reply", "text": "I will write to [EMAIL_1] today." })).await;
        let response = client.chat(&format!("please email {EMAIL} the report"), false).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], format!("I will write to {EMAIL} today."));
        let sent = client.last_upstream_request().await.to_string();
        assert!(sent.contains("please email [EMAIL_1] the report") && !sent.contains(EMAIL), "{sent}");

        // Streamed, with the placeholder inside tool-call arguments that the provider sends in
        // 12-character fragments: restored whole across the chunk boundaries.
        client
            .script(json!({
                "type": "reply",
                "text": "Sending to [EMAIL_1] now.",
                "tool_calls": [{ "name": "send_email", "arguments": { "to": "[EMAIL_1]", "cc": "[EMAIL_1]" } }],
            }))
            .await;
        let response = client.chat(&format!("mail {EMAIL}"), true).await;
        assert_eq!(response.status(), 200);
        let (content, arguments) = streamed(response).await;
        assert_eq!(content, format!("Sending to {EMAIL} now."));
        let arguments: Value = serde_json::from_str(&arguments).unwrap_or_else(|e| panic!("{e}: {arguments:?}"));
        assert_eq!(arguments, json!({ "to": EMAIL, "cc": EMAIL }));

        // What DLP did is counted by type and action, in /metrics and in usage — never values.
        let metrics = client.http.get(format!("{}/metrics", client.gateway)).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        for line in [
            "agentwatch_gateway_dlp_detections_total{type=\"github_token\",action=\"redact\"} 2",
            "agentwatch_gateway_dlp_detections_total{type=\"aws_access_key\",action=\"block\"} 1",
            "agentwatch_gateway_dlp_detections_total{type=\"email\",action=\"mask_and_restore\"} 2",
        ] {
            assert!(metrics.contains(line), "{line} not in:\n{metrics}");
        }
        let login = json!({ "email": "ops@example.com", "password": "a long admin passphrase" });
        let url = format!("{}/api/auth/login", client.gateway);
        let token: Value = client.http.post(url).json(&login).send().await.unwrap().json().await.unwrap();
        let token = token["token"].as_str().unwrap();
        let started = Instant::now();
        let records = loop {
            let url = format!("{}/api/usage", client.gateway);
            let page: Value = client.http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            if page["total"] == 5 {
                break page["data"].clone();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let blocked = records.as_array().unwrap().iter().find(|r| r["status"] == 400).unwrap();
        assert_eq!(blocked["dlp"], json!({ "aws_access_key": { "block": 1 } }));
        assert_eq!(blocked["dlp_events"], 1);
        assert!(!records.to_string().contains(EMAIL) && !records.to_string().contains(AWS_KEY));
    });
}
