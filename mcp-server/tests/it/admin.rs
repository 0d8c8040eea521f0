//! The admin API as an operator's script drives it: `agentwatch gateway` started with its first
//! admin from the environment, a second organization's admin made with
//! `agentwatch admin create-user`, a real mock provider (llmock), and a real HTTP client.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Mock, Sandbox, Server, create_user, http, stderr, stdout};

const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "a long admin passphrase";
const PROVIDER_KEY: &str = "sk-mock-provider-key-0123456789abcdef";

#[test]
fn an_operator_sets_up_a_provider_and_a_tenant_and_sees_its_traffic_in_usage_and_metrics() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();

    // Deployment scripts make users from the command line: the password comes on stdin only.
    let beta = create_user(
        &sandbox,
        &["--email", "Admin@Beta.example", "--role", "admin", "--org", "beta"],
        PASSWORD,
    );
    assert!(beta.status.success(), "{}", stderr(&beta));
    let made: Value = serde_json::from_str(stdout(&beta).trim()).unwrap();
    assert_eq!(
        (&made["email"], &made["role"], &made["org"]),
        (&json!("admin@beta.example"), &json!("admin"), &json!("beta"))
    );
    let again =
        create_user(&sandbox, &["--email", "admin@beta.example", "--role", "viewer"], PASSWORD);
    assert_eq!(again.status.code(), Some(1), "an email has one account");
    assert!(stderr(&again).contains("already has an account"), "{}", stderr(&again));
    let weak = create_user(&sandbox, &["--email", "x@beta.example", "--role", "viewer"], "short");
    assert_eq!(weak.status.code(), Some(2), "bad input is a usage error");
    assert!(stderr(&weak).contains("12 characters"), "{}", stderr(&weak));

    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_ADMIN_EMAIL", ADMIN), ("AGENTWATCH_ADMIN_PASSWORD", PASSWORD)],
    );
    let base = format!("http://{}", server.address_of("gateway"));
    let api = Api { base: base.clone(), http: http() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tenant_key = runtime.block_on(async {
        let admin = api.login(ADMIN, PASSWORD).await;

        // A provider, a key (masked from then on), a test against the real mock.
        let provider = json!({ "name": "mock", "kind": "custom", "base_url": format!("{}/v1", mock.url) });
        let (status, provider) = api.call("POST", "/api/providers", &admin, Some(provider)).await;
        assert_eq!(status, 201, "{provider}");
        assert_eq!((provider["priority"].as_i64(), provider["enabled"].as_bool()), (Some(100), Some(true)));
        let p = provider["id"].as_i64().unwrap();
        let key = json!({ "key": PROVIDER_KEY, "label": "main", "concurrency_limit": 4 });
        let (status, key) = api.call("POST", &format!("/api/providers/{p}/keys"), &admin, Some(key)).await;
        assert_eq!((status, key["key"].as_str()), (201, Some("sk-m…cdef")), "{key}");
        let (_, test) = api.call("POST", &format!("/api/providers/{p}/test"), &admin, None).await;
        assert_eq!(test["ok"], true, "{test}");
        assert!(test["models"].as_u64().unwrap() > 0 && test["latency_ms"].is_u64(), "{test}");

        // A team and a tenant; the tenant's key is shown once.
        let (_, team) = api.call("POST", "/api/teams", &admin, Some(json!({ "name": "platform" }))).await;
        let team_id = team["id"].as_i64().unwrap();
        let tenant = json!({ "name": "checkout", "team_id": team_id, "monthly_budget": 50.0, "rate_limit": 600 });
        let (status, tenant) = api.call("POST", "/api/tenants", &admin, Some(tenant)).await;
        assert_eq!(status, 201, "{tenant}");
        let tenant_id = tenant["id"].as_i64().unwrap();
        let tenant_key = tenant["api_key"].as_str().unwrap().to_owned();

        // The tenant's app calls the LLM API, through the provider just added.
        let chat = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hello" }] });
        let (status, answer) = api.call("POST", "/v1/chat/completions", &tenant_key, Some(chat)).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["choices"][0]["message"]["content"].is_string(), "{answer}");

        // The request shows in usage (written off the response path: within moments).
        let started = Instant::now();
        let usage = loop {
            let (_, page) = api.call("GET", &format!("/api/usage?tenant_id={tenant_id}"), &admin, None).await;
            if page["total"] == 1 {
                break page["data"][0].clone();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no usage record: {page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((&usage["provider"], &usage["team_id"], &usage["status"]), (&json!("mock"), &json!(team_id), &json!(200)));
        assert!(usage["total_tokens"].as_u64().unwrap() > 0, "{usage}");
        let (_, summary) = api.call("GET", "/api/usage/summary", &admin, None).await;
        assert_eq!(summary["requests"], 1, "{summary}");
        let (_, by_tenant) = api.call("GET", "/api/usage/breakdown?group_by=tenant", &admin, None).await;
        assert_eq!(by_tenant["groups"][0]["name"], "checkout");
        let (_, listed) = api.call("GET", &format!("/api/tenants/{tenant_id}"), &admin, None).await;
        assert_eq!(listed["usage"]["requests_this_month"], 1);

        // And in /metrics, by tenant, model and status.
        let metrics = api.http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let line = format!("agentwatch_gateway_requests_total{{tenant=\"{tenant_id}\",model=\"gpt-4o-mini\",status=\"200\"}} 1");
        assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
        assert!(metrics.contains("agentwatch_gateway_admin_logins_total{outcome=\"ok\"}"));
        let budget = format!(
            "agentwatch_gateway_budget_remaining_usd{{scope=\"tenant\",id=\"{tenant_id}\",period=\"monthly\"}} "
        );
        let left: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&budget))
            .unwrap_or_else(|| panic!("{budget} not in:\n{metrics}"))
            .parse()
            .unwrap();
        let cost = usage["cost_usd"].as_f64().unwrap();
        assert!(cost > 0.0 && (left - (50.0 - cost)).abs() < 1e-9, "{left} left of 50 after {cost}");

        // The other organization sees none of it.
        let beta = api.login("admin@beta.example", PASSWORD).await;
        assert_eq!(api.call("GET", &format!("/api/providers/{p}"), &beta, None).await.0, 404);
        let (_, theirs) = api.call("GET", "/api/usage", &beta, None).await;
        assert_eq!(theirs["total"], 0);
        let (_, tenants) = api.call("GET", "/api/tenants", &beta, None).await;
        assert_eq!((&tenants["data"], &tenants["total"]), (&json!([]), &json!(0)));

        // The audit log names who did what, from where.
        let (_, audit) = api.call("GET", "/api/audit?action=tenant.create", &admin, None).await;
        let entry = &audit["data"][0];
        assert_eq!((&entry["user_email"], &entry["target_id"]), (&json!(ADMIN), &json!(tenant_id)));
        assert_eq!(entry["ip"], "127.0.0.1");

        // Logging out revokes the token.
        assert_eq!(api.call("POST", "/api/auth/logout", &admin, None).await.0, 200);
        assert_eq!(api.call("GET", "/api/auth/me", &admin, None).await.0, 401);
        tenant_key
    });

    assert!(server.terminate().success());
    let bytes = sandbox.stored_bytes();
    assert!(!bytes.is_empty());
    for secret in [PROVIDER_KEY, PASSWORD, &tenant_key] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is stored in plain text"
        );
    }
}

#[test]
fn rotating_the_master_key_reseals_provider_keys_and_the_gateway_starts_with_the_new_one() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let env = [("AGENTWATCH_ADMIN_EMAIL", ADMIN), ("AGENTWATCH_ADMIN_PASSWORD", PASSWORD)];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // A provider key added through the API, sealed under the master key made on first start.
    let server = Server::start_with(&sandbox, &["gateway"], &env);
    let api = Api { base: format!("http://{}", server.address_of("gateway")), http: http() };
    let tenant_key = runtime.block_on(async {
        let admin = api.login(ADMIN, PASSWORD).await;
        let provider =
            json!({ "name": "mock", "kind": "custom", "base_url": format!("{}/v1", mock.url) });
        let (_, provider) = api.call("POST", "/api/providers", &admin, Some(provider)).await;
        let keys = format!("/api/providers/{}/keys", provider["id"]);
        assert_eq!(
            api.call("POST", &keys, &admin, Some(json!({ "key": PROVIDER_KEY }))).await.0,
            201
        );
        let (_, tenant) =
            api.call("POST", "/api/tenants", &admin, Some(json!({ "name": "app" }))).await;
        tenant["api_key"].as_str().unwrap().to_owned()
    });
    assert!(server.terminate().success());
    let key_file = sandbox.path().join("data/master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let rotate = |new_key: &str| {
        let mut child = sandbox
            .command()
            .args(["admin", "rotate-master-key", "--new-key-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{new_key}").unwrap();
        child.wait_with_output().unwrap()
    };
    let malformed = rotate("not-a-key");
    assert_eq!(malformed.status.code(), Some(2), "{}", stderr(&malformed));
    assert!(stderr(&malformed).contains("64 hex characters"));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key, "nothing changed");

    let new_key = "ab".repeat(32);
    let rotated = rotate(&new_key);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let report: Value = serde_json::from_str(stdout(&rotated).trim()).unwrap();
    assert_eq!(report["resealed_keys"], 1);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_key);
    assert!(!sandbox.path().join("data/master.key.new").exists());

    // The old key opens nothing any more; the gateway starts with the new one and the key works.
    let old = sandbox
        .command()
        .args(["gateway"])
        .env("AGENTWATCH_MASTER_KEY", old_key.trim())
        .output()
        .unwrap();
    assert!(!old.status.success());
    assert!(stderr(&old).contains("sealed under another"), "{}", stderr(&old));
    let server = Server::start_with(&sandbox, &["gateway"], &env);
    let api = Api { base: format!("http://{}", server.address_of("gateway")), http: http() };
    runtime.block_on(async {
        let chat =
            json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hi" }] });
        let (status, answer) =
            api.call("POST", "/v1/chat/completions", &tenant_key, Some(chat)).await;
        assert_eq!(status, 200, "{answer}");
    });
}
