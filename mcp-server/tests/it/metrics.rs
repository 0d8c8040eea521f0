//! Both ports' `/metrics` as an operator's monitoring reads them: a real Prometheus (Debian's),
//! configured by the scrape configuration shipped in `deploy/prometheus`, scrapes `agentwatch
//! serve` with the metrics token; traffic goes through the gateway and the knowledge server; and
//! every query of the Grafana dashboard shipped in `deploy/grafana` returns data.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Mock, Sandbox, Server, git_fixture, http};

const TENANT_KEY: &str = "aw-metrics-tenant-key-0123456789abcdef";
const METRICS_TOKEN: &str = "a-scrape-token-0123456789";

/// A Prometheus server on a free port with its own storage, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    /// Starts Prometheus with the scrape configuration shipped in `deploy/prometheus`, pointed at
    /// this gateway and knowledge server, scraping every second.
    fn start(sandbox: &Sandbox, gateway: &str, knowledge: &str) -> Prometheus {
        let binary = Path::new("/usr/bin/prometheus");
        assert!(binary.exists(), "Prometheus is missing: run scripts/setup.sh --tests");
        let shipped =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/prometheus.yml");
        let mut config = std::fs::read_to_string(shipped).unwrap();
        let token = sandbox.write("metrics-token", METRICS_TOKEN);
        for (from, to) in [
            ("scrape_interval: 15s", "scrape_interval: 1s"),
            ("127.0.0.1:8787", gateway),
            ("127.0.0.1:4000", knowledge),
            ("/etc/prometheus/agentwatch-metrics-token", token.to_str().unwrap()),
        ] {
            assert!(config.contains(from), "the shipped prometheus.yml no longer has {from}");
            config = config.replace(from, to);
        }
        let config = sandbox.write("prometheus.yml", &config);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage: PathBuf = sandbox.path().join("prometheus-data");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Prometheus { child, url: format!("http://127.0.0.1:{port}") }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), query).ok()?;
        let response = http().get(url).send().await.ok()?;
        response.json().await.ok()
    }

    /// Waits until every target has been scraped and found up.
    async fn wait_for_targets(&self, n: usize) {
        let started = Instant::now();
        loop {
            let targets = self.get("/api/v1/targets", &[]).await.unwrap_or_default();
            let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
            if active.len() == n && active.iter().all(|t| t["health"] == "up") {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "targets never up: {targets}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An instant query's result vector, or what Prometheus said was wrong.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let answer = self.get("/api/v1/query", &[("query", expr)]).await;
        let answer = answer.ok_or("no answer")?;
        match answer["data"]["result"].as_array() {
            Some(result) if answer["status"] == "success" => Ok(result.clone()),
            _ => Err(answer.to_string()),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every panel's title and query in the shipped dashboard, with Grafana's interval variable
/// as Grafana would fill it in for a one-second scrape.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/agentwatch.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "2m");
            queries.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    queries
}

#[test]
fn prometheus_scrapes_both_ports_and_every_dashboard_query_returns_data() {
    let mock = Mock::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(scrape_and_query(mock));
}

async fn scrape_and_query(mock: Mock) {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let config = sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
metrics_token = "{METRICS_TOKEN}"

# One index job, the one the test asks for: the folder is not watched.
[index]
watch = false

[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "{}/v1"
keys = [{{ key = "sk-mock-0123456789abcdef" }}]

[[gateway.tenants]]
name = "checkout"
api_key = "{TENANT_KEY}"
daily_budget = 5.0
dlp = {{ actions = {{ email = "redact" }} }}
"#,
            mock.url
        ),
    );
    let server = Server::start_with(
        &sandbox,
        &["serve"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = server.address_of("gateway").to_string();
    let knowledge = server.address_of("knowledge server").to_string();

    // The scrape takes the token on both ports; without it, neither says anything.
    for address in [&gateway, &knowledge] {
        let url = format!("http://{address}/metrics");
        let refused = http().get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{url} without the token");
        let scraped = http().get(&url).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        assert_eq!(scraped.status(), 200, "{url}");
        assert!(scraped.text().await.unwrap().ends_with("# EOF\n"), "{url}: OpenMetrics text");
    }

    let prometheus = Prometheus::start(&sandbox, &gateway, &knowledge);
    prometheus.wait_for_targets(2).await;

    // An app's traffic through the gateway: plain, streamed, and with an address DLP redacts.
    let chat = |content: &str, stream: bool| {
        let body = json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{ "role": "user", "content": content }],
        });
        http()
            .post(format!("http://{gateway}/v1/chat/completions"))
            .bearer_auth(TENANT_KEY)
            .json(&body)
            .send()
    };
    for (content, stream) in
        [("Hello", false), ("Hello again", true), ("mail ada@lovelace.dev the report", false)]
    {
        let response = chat(content, stream).await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }

    // A tenant's call to the knowledge server is metered by the gateway too.
    let tenant = Api { base: format!("http://{knowledge}/api/knowledge"), http: http() };
    let (status, _) = tenant.call("GET", "/repositories", TENANT_KEY, None).await;
    assert_eq!(status, 200);

    // The local user indexes, searches each way, locates, and scans.
    let api = Api { base: format!("http://{knowledge}/api/knowledge"), http: http() };
    let (status, submitted) =
        api.call("POST", "/repositories", "", Some(json!({ "url": repo }))).await;
    assert_eq!(status, 202, "{submitted}");
    let id = submitted["repo_id"].as_str().unwrap().to_owned();
    let until = async |path: &str, done: &dyn Fn(&Value) -> bool| {
        let started = Instant::now();
        loop {
            let (_, now) = api.call("GET", path, "", None).await;
            if done(&now) {
                return now;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "{path} never got there: {now}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let ready = until(&format!("/repositories/{id}/status"), &|s| s["status"] == "ready").await;
    assert_eq!(ready["status"], "ready");
    for mode in ["lexical", "semantic", "hybrid"] {
        let (status, found) = api
            .call("GET", &format!("/search?q=run%20a%20sql%20query&mode={mode}"), "", None)
            .await;
        assert_eq!(status, 200, "{found}");
    }
    let located = json!({ "text": "the login view builds its SQL from the request" });
    let (status, found) = api.call("POST", "/locate", "", Some(located)).await;
    assert_eq!(status, 200, "{found}");
    let (status, _) = api.call("GET", "/repositories/no-such-repository/status", "", None).await;
    assert_eq!(status, 404);
    let (status, scan) = api.call("POST", &format!("/repositories/{id}/scan"), "", None).await;
    assert_eq!(status, 202, "{scan}");
    let scan_path = format!("/scans/{}", scan["scan_id"].as_str().unwrap());
    let done =
        until(&scan_path, &|s| matches!(s["status"].as_str(), Some("done" | "failed"))).await;
    assert_eq!(done["status"], "done", "{done}");

    // A few scrapes later, every panel of the dashboard has something to draw.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut empty = Vec::new();
    for (title, expr) in dashboard_queries() {
        match prometheus.query(&expr).await {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => empty.push(format!("{title}: no data for {expr}")),
            Err(error) => empty.push(format!("{title}: {expr} failed: {error}")),
        }
    }
    assert!(empty.is_empty(), "dashboard queries without data:\n{}", empty.join("\n"));

    // What the knowledge server counted is what happened.
    let findings = prometheus.query("sum(agentwatch_knowledge_scan_findings_total)").await.unwrap();
    let counted: f64 = findings[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(counted, done["total_findings"].as_f64().unwrap(), "findings counted once each");
    let jobs = prometheus
        .query(r#"agentwatch_knowledge_index_jobs_total{outcome="ready"}"#)
        .await
        .unwrap();
    assert_eq!(jobs[0]["value"][1], "1", "one index job ended ready: {jobs:?}");
}
