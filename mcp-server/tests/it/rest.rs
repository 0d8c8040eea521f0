//! REST under `/api/knowledge`, as scripts and services use it with a plain HTTP client: submit a
//! repository, follow the job, search, list symbols, forget it — and get a clear JSON error for
//! every mistake. Every exchange is also checked against the server's own `/openapi.json` by an
//! independent JSON Schema validator (`tests/rest/check_openapi.py`), so the document cannot
//! drift from what the server answers.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Sandbox, Server, assets_dir, git_fixture, python_repository, stderr, stdout};

/// A REST client that records every exchange, for the OpenAPI check.
struct Api {
    base: String,
    client: Client,
    token: Option<String>,
    exchanges: Vec<Value>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl Api {
    fn new(server: &Server) -> Api {
        let base = format!("http://{}", server.address_of("knowledge server"));
        Api { base, client: crate::support::http(), token: None, exchanges: Vec::new() }
    }

    /// `method path` with an optional JSON body; `template` is the path as the document names it.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        template: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        self.exchanges.push(json!({
            "method": method.as_str().to_lowercase(),
            "path": template,
            "status": status.as_u16(),
            "body": body,
        }));
        Answer { status, location, body }
    }

    async fn get(&mut self, path: &str, template: &str) -> Answer {
        self.call(Method::GET, path, template, None).await
    }

    async fn submit(&mut self, body: Value) -> Answer {
        self.call(
            Method::POST,
            "/api/knowledge/repositories",
            "/api/knowledge/repositories",
            Some(body),
        )
        .await
    }

    /// Submits `repo` and follows the job's status until it ends; returns the final status.
    async fn index(&mut self, repo: &Path) -> Value {
        let accepted = self.submit(json!({ "url": repo })).await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
        let id = accepted.body["repo_id"].as_str().unwrap().to_owned();
        let location = accepted.location.expect("a Location header");
        assert_eq!(location, format!("/api/knowledge/repositories/{id}/status"));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = self.get(&location, "/api/knowledge/repositories/{id}/status").await;
            assert_eq!(status.status, StatusCode::OK);
            if matches!(status.body["status"].as_str(), Some("ready" | "failed")) {
                return status.body;
            }
            assert!(Instant::now() < deadline, "the job did not end: {}", status.body);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Checks every exchange so far against the server's OpenAPI document.
    async fn check_against_openapi(&mut self, sandbox: &Sandbox) {
        let document = self.get("/openapi.json", "/openapi.json").await;
        assert_eq!(document.status, StatusCode::OK);
        self.exchanges.pop();
        let document_file = sandbox.path().join("openapi.json");
        let exchanges_file = sandbox.path().join("exchanges.json");
        std::fs::write(&document_file, document.body.to_string()).unwrap();
        std::fs::write(&exchanges_file, Value::from(self.exchanges.clone()).to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/rest/check_openapi.py");
        let python = assets_dir().join("mcp-client/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/setup.sh --tests", python.display());
        let output = sandbox
            .command_for(&python)
            .arg(script)
            .arg(&document_file)
            .arg(&exchanges_file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    }
}

#[tokio::test]
async fn a_client_indexes_a_repository_and_follows_its_job() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);

    let status = api.index(&repo).await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["progress"], 100);
    assert_eq!(status["name"], "python-pkg");
    assert_eq!(status["files"], 5);
    assert!(status["nodes"].as_u64().unwrap() > 20, "{status}");
    assert!(status["edges"].as_u64().unwrap() > 20, "{status}");
    assert_eq!(status["errors"], json!([]));
    let id = status["repo_id"].as_str().unwrap().to_owned();

    let list = api.get("/api/knowledge/repositories", "/api/knowledge/repositories").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["repositories"][0]["repo_id"], id.as_str());
    assert_eq!(list.body["next_offset"], Value::Null);

    let one = api
        .get(&format!("/api/knowledge/repositories/{id}"), "/api/knowledge/repositories/{id}")
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["source"], repo.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(one.body["symbols"], status["symbols"]);

    // Submitting it again re-indexes it under the same id.
    let again = api.submit(json!({ "url": repo, "branch": null })).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["repo_id"], id.as_str());

    api.check_against_openapi(&sandbox).await;
}

#[tokio::test]
async fn a_client_searches_the_code_and_lists_symbols() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);
    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();
    let search = "/api/knowledge/search";

    let found = api.get("/api/knowledge/search?q=price%20including%20tax", search).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["mode"], "hybrid");
    let first = &found.body["results"][0];
    assert_eq!(first["path"], "stockroom/pricing.py", "{}", found.body);
    assert_eq!(first["symbol"], "price_with_tax");
    assert_eq!(first["repo_id"], id.as_str());
    assert_eq!(first["stale"], false);

    // Filters and pages.
    let lexical = api
        .get(&format!("{search}?q=Inventory&mode=lexical&repo={id}&kind=class&limit=1"), search)
        .await;
    assert_eq!(lexical.body["mode"], "lexical");
    assert_eq!(lexical.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(lexical.body["results"][0]["kind"], "class");
    assert_eq!(lexical.body["next_offset"], 1);
    let glob = api.get(&format!("{search}?q=item&path=stockroom/models.py"), search).await;
    let paths: Vec<&Value> =
        glob.body["results"].as_array().unwrap().iter().map(|h| &h["path"]).collect();
    assert!(!paths.is_empty() && paths.iter().all(|p| *p == "stockroom/models.py"), "{paths:?}");

    let symbols = "/api/knowledge/repositories/{id}/symbols";
    let named =
        api.get(&format!("/api/knowledge/repositories/{id}/symbols?q=price_with"), symbols).await;
    assert_eq!(named.status, StatusCode::OK);
    assert_eq!(named.body["symbols"][0]["qualified"], "price_with_tax");
    assert_eq!(named.body["symbols"][0]["path"], "stockroom/pricing.py");
    assert_eq!(named.body["symbols"][0]["signature"], "def price_with_tax(item: Item) -> float");

    let methods = api
        .get(
            &format!("/api/knowledge/repositories/{id}/symbols?q=add&match=exact&kind=method"),
            symbols,
        )
        .await;
    let parents: Vec<&Value> =
        methods.body["symbols"].as_array().unwrap().iter().map(|s| &s["parent"]).collect();
    assert_eq!(parents, [&json!("Inventory"), &json!("AuditedInventory")]);

    // An issue in words, as a client would paste it: files ranked, with symbols and evidence.
    let issue = "The stock report's total value ignores the tax: price_with_tax should be applied \
                 to each item's total.";
    let located = api
        .call(
            Method::POST,
            "/api/knowledge/locate",
            "/api/knowledge/locate",
            Some(json!({ "text": issue, "limit": 2 })),
        )
        .await;
    assert_eq!(located.status, StatusCode::OK, "{}", located.body);
    assert_eq!(located.body["repo_id"], id.as_str());
    let first = &located.body["results"][0];
    assert_eq!(first["path"], "stockroom/pricing.py", "{}", located.body);
    assert_eq!(first["symbols"][0]["name"], "price_with_tax");
    let kinds: Vec<&Value> =
        first["evidence"].as_array().unwrap().iter().map(|e| &e["kind"]).collect();
    assert!(kinds.contains(&&json!("identifier")) && kinds.contains(&&json!("terms")), "{first}");
    assert_eq!(located.body["results"].as_array().unwrap().len(), 2);
    let empty = api
        .call(
            Method::POST,
            "/api/knowledge/locate",
            "/api/knowledge/locate",
            Some(json!({ "text": "" })),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);

    let classes = api
        .get(
            &format!("/api/knowledge/repositories/{id}/symbols?path=stockroom/models.py&kind=class&limit=2"),
            symbols,
        )
        .await;
    let names: Vec<&Value> =
        classes.body["symbols"].as_array().unwrap().iter().map(|s| &s["name"]).collect();
    assert_eq!(names, [&json!("Item"), &json!("Perishable")]);
    assert_eq!(classes.body["total"], 3);
    assert_eq!(classes.body["next_offset"], 2);

    api.check_against_openapi(&sandbox).await;
}

/// Every question an agent asks over MCP, a script can ask over REST: a symbol's source, its
/// callers and callees, its references, the impact of changing it, a file's outline, lines and
/// imports, and the repository's map.
#[tokio::test]
async fn a_client_walks_the_graph_as_an_agent_does() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);
    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();
    let base = format!("/api/knowledge/repositories/{id}");
    let route = |name: &str| format!("/api/knowledge/repositories/{{id}}/{name}");

    let symbol = api.get(&format!("{base}/symbol?symbol=price_with_tax"), &route("symbol")).await;
    assert_eq!(symbol.status, StatusCode::OK, "{}", symbol.body);
    assert_eq!(symbol.body["symbol"]["path"], "stockroom/pricing.py");
    assert!(symbol.body["source"].as_str().unwrap().contains("def price_with_tax"));

    let callers =
        api.get(&format!("{base}/callers?symbol=price_with_tax"), &route("callers")).await;
    assert_eq!(callers.status, StatusCode::OK, "{}", callers.body);
    let names: Vec<&Value> = callers.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["symbol"]["qualified"])
        .collect();
    assert!(names.contains(&&json!("Inventory.total_value")), "{names:?}");
    assert_eq!(callers.body["results"][0]["distance"], 1);

    let callees =
        api.get(&format!("{base}/callees?symbol=Inventory.total_value"), &route("callees")).await;
    let names: Vec<&Value> =
        callees.body["results"].as_array().unwrap().iter().map(|c| &c["symbol"]["name"]).collect();
    assert!(names.contains(&&json!("price_with_tax")), "{}", callees.body);

    let references =
        api.get(&format!("{base}/references?symbol=price_with_tax"), &route("references")).await;
    let paths: Vec<&Value> =
        references.body["references"].as_array().unwrap().iter().map(|r| &r["path"]).collect();
    assert!(paths.contains(&&json!("stockroom/inventory.py")), "{}", references.body);

    let impact = api.get(&format!("{base}/impact?symbol=price_with_tax"), &route("impact")).await;
    assert!(impact.body["total_callers"].as_u64().unwrap() >= 1, "{}", impact.body);
    let files = impact.body["files"].as_array().unwrap();
    assert!(files.contains(&json!("stockroom/inventory.py")), "{}", impact.body);

    let outline =
        api.get(&format!("{base}/outline?path=stockroom/pricing.py"), &route("outline")).await;
    let outlined: Vec<(&Value, &Value)> = outline.body["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["symbol"]["name"], &e["depth"]))
        .collect();
    assert_eq!(
        outlined,
        [
            (&json!("TAX_RATE"), &json!(0)),
            (&json!("cached"), &json!(0)),
            (&json!("wrapper"), &json!(1)),
            (&json!("price_with_tax"), &json!(0))
        ]
    );

    let lines = api
        .get(
            &format!("{base}/file?path=stockroom/pricing.py&start_line=3&end_line=4"),
            &route("file"),
        )
        .await;
    assert_eq!(
        lines.body["lines"],
        json!(["import functools", "from stockroom.models import Item"])
    );
    assert_eq!(
        (lines.body["start_line"].as_u64(), lines.body["end_line"].as_u64()),
        (Some(3), Some(4))
    );
    let rest =
        api.get(&format!("{base}/file?path=stockroom/pricing.py&end_line=2"), &route("file")).await;
    assert_eq!(rest.body["next_line"], Value::Null, "only what was asked for: {}", rest.body);
    let beyond = api
        .get(&format!("{base}/file?path=stockroom/pricing.py&start_line=999"), &route("file"))
        .await;
    assert_eq!(beyond.status, StatusCode::BAD_REQUEST, "{}", beyond.body);

    let imports = api
        .get(&format!("{base}/dependencies?path=stockroom/inventory.py"), &route("dependencies"))
        .await;
    let imported = imports.body["files"].as_array().unwrap();
    assert!(imported.contains(&json!("stockroom/pricing.py")), "{}", imports.body);
    let dependents = api
        .get(&format!("{base}/dependents?path=stockroom/pricing.py"), &route("dependents"))
        .await;
    assert!(
        dependents.body["files"].as_array().unwrap().contains(&json!("stockroom/inventory.py"))
    );

    let map = api.get(&format!("{base}/map?max_tokens=256"), &route("map")).await;
    assert_eq!(map.body["name"], "python-pkg");
    assert!(map.body["map"].as_str().unwrap().contains("stockroom/"), "{}", map.body);

    // A name two methods share, one nobody defines, a file that is not indexed.
    let ambiguous = api.get(&format!("{base}/callers?symbol=add"), &route("callers")).await;
    assert_eq!(ambiguous.status, StatusCode::BAD_REQUEST, "{}", ambiguous.body);
    assert!(ambiguous.body["error"]["message"].as_str().unwrap().contains("pass `path`"));
    let unknown = api.get(&format!("{base}/impact?symbol=no_such_thing"), &route("impact")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "not_found");
    let missing = api.get(&format!("{base}/outline?path=nope.py"), &route("outline")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    api.check_against_openapi(&sandbox).await;
}

#[tokio::test]
async fn a_bad_request_gets_a_400_that_says_what_was_wrong() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);
    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();

    let cases = [
        (json!({ "url": "ssh://git@github.com/org/repo" }), "use the https:// URL"),
        (json!({ "url": "ftp://example.com/org/repo" }), "use an https:// URL or a local path"),
        (json!({ "url": "https://example.com" }), "expected https://host/owner/repository"),
        (json!({ "url": "https://user:pw@example.com/org/repo" }), "set index.git_token"),
        (json!({ "url": sandbox.path().join("nowhere") }), "does not exist"),
        (json!({ "url": 42 }), "url: invalid type"),
        (json!({ "branch": "main" }), "missing field `url`"),
        (json!({ "url": repo, "brnach": "main" }), "unknown field `brnach`"),
    ];
    for (body, says) in cases {
        let answer = api.submit(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "invalid_request");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }

    // A body that is not JSON at all.
    let url = format!("{}/api/knowledge/repositories", api.base);
    let broken = api
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"url\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let plain = api.client.post(&url).body("https://github.com/org/repo").send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = plain.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("Content-Type: application/json"));
    api.exchanges.push(json!({
        "method": "post", "path": "/api/knowledge/repositories", "status": 415, "body": body,
    }));

    let search = "/api/knowledge/search";
    for (query, says) in [
        ("mode=fast&q=x", "unknown variant `fast`"),
        ("q=x&language=cobol", "use one of rust, python"),
        ("q=x&path=src/[", "invalid path filter"),
        ("q=x&limit=many", "limit: invalid digit"),
        ("mode=lexical", "missing field `q`"),
    ] {
        let answer = api.get(&format!("{search}?{query}"), search).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    let symbols = "/api/knowledge/repositories/{id}/symbols";
    let kind =
        api.get(&format!("/api/knowledge/repositories/{id}/symbols?kind=klass"), symbols).await;
    assert_eq!(kind.status, StatusCode::BAD_REQUEST);
    assert!(
        kind.body["error"]["message"].as_str().unwrap().contains("use one of function, method")
    );
    let path =
        api.get(&format!("/api/knowledge/repositories/{id}/symbols?path=nope.py"), symbols).await;
    assert_eq!(path.status, StatusCode::BAD_REQUEST);

    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();
    let findings = format!("/api/knowledge/repositories/{id}/findings");
    let template = "/api/knowledge/repositories/{id}/findings";
    let none_yet = api.get(&findings, template).await;
    assert_eq!(none_yet.status, StatusCode::NOT_FOUND, "no scan yet: {}", none_yet.body);
    assert!(none_yet.body["error"]["message"].as_str().unwrap().contains("no finished scan"));
    let bad = api.get(&format!("{findings}?severity=urgent"), template).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("unknown severity `urgent`"));
    let bad = api.get(&format!("{findings}?tool=snyk"), template).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = api
        .call(
            Method::POST,
            "/api/knowledge/repositories/nope/scan",
            "/api/knowledge/repositories/{id}/scan",
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "scanning what is not indexed");
    let scan = api.get("/api/knowledge/scans/scan-0000", "/api/knowledge/scans/{scan_id}").await;
    assert_eq!(scan.status, StatusCode::NOT_FOUND);

    api.check_against_openapi(&sandbox).await;
}

impl Api {
    /// Follows a scan's Location until it ends.
    async fn finished_scan(&mut self, location: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let scan = self.get(location, "/api/knowledge/scans/{scan_id}").await;
            assert_eq!(scan.status, StatusCode::OK, "{}", scan.body);
            if matches!(scan.body["status"].as_str(), Some("done" | "failed")) {
                return scan.body;
            }
            assert!(Instant::now() < deadline, "the scan did not end: {}", scan.body);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test]
async fn a_client_scans_a_repository_and_reads_its_findings() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);

    // Indexed with a scan to follow; the findings appear once it is done.
    let accepted = api.submit(json!({ "url": repo, "run_security_scan": true })).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let id = accepted.body["repo_id"].as_str().unwrap().to_owned();
    let findings = format!("/api/knowledge/repositories/{id}/findings");
    let template = "/api/knowledge/repositories/{id}/findings";
    let deadline = Instant::now() + Duration::from_secs(300);
    let first = loop {
        let answer = api.get(&findings, template).await;
        if answer.status == StatusCode::OK {
            break answer.body;
        }
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
        assert!(Instant::now() < deadline, "no scan after indexing: {}", answer.body);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(first["status"], "done");
    assert_eq!(first["total_findings"], 8);
    assert_eq!(first["findings"][0]["severity"], "critical", "worst first");
    let sql = first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "python-sql-injection");
    assert_eq!(sql.unwrap()["symbol"]["id"], "app/db.py::find_order");
    assert_eq!(sql.unwrap()["symbol"]["callers"], 2);

    // Filters: severity and worse, one tool, a folder, a symbol; pages.
    let high = api.get(&format!("{findings}?severity=high"), template).await.body;
    assert_eq!(high["total_findings"], 4);
    let trivy = api.get(&format!("{findings}?tool=trivy&path=app"), template).await.body;
    assert_eq!(trivy["total_findings"], 1, "the key in app/settings.py, not the Dockerfile");
    let in_symbol = api.get(&format!("{findings}?symbol=find_order"), template).await.body;
    assert_eq!(in_symbol["findings"][0]["rule_id"], "python-sql-injection");
    let page = api.get(&format!("{findings}?limit=2&offset=2"), template).await.body;
    assert_eq!(page["findings"].as_array().unwrap().len(), 2);
    assert_eq!(page["total_findings"], 8);

    // A scan on demand: 202 with where to follow it; nothing changed, so nothing is new.
    let path = format!("/api/knowledge/repositories/{id}/scan");
    let started =
        api.call(Method::POST, &path, "/api/knowledge/repositories/{id}/scan", None).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert!(matches!(started.body["status"].as_str(), Some("queued" | "running" | "done")));
    let location = started.location.expect("a Location header");
    assert_eq!(
        location,
        format!("/api/knowledge/scans/{}", started.body["scan_id"].as_str().unwrap())
    );
    let second = api.finished_scan(&location).await;
    assert_eq!(second["status"], "done");
    assert_eq!(second["previous_scan_id"], first["scan_id"]);
    assert_eq!(
        (second["total_findings"].clone(), second["new_findings"].clone()),
        (json!(8), json!(0)),
        "each tool's outcome: {}",
        second["tools"]
    );
    assert_eq!(second["fixed"], json!([]));
    assert!(!second.to_string().contains("AKIA2E0A8F3B244C9986"), "secrets stay masked");

    api.check_against_openapi(&sandbox).await;
}

#[tokio::test]
async fn a_second_scan_request_joins_the_first_and_scans_beyond_the_cap_wait_their_turn() {
    let sandbox = Sandbox::new();
    let vulnerable = git_fixture(&sandbox, "vulnerable-app");
    let python = git_fixture(&sandbox, "python-pkg");
    let server =
        Server::start_with(&sandbox, &["serve"], &[("AGENTWATCH_SCAN_MAX_CONCURRENT", "1")]);
    let mut api = Api::new(&server);
    let a = api.index(&vulnerable).await["repo_id"].as_str().unwrap().to_owned();
    let b = api.index(&python).await["repo_id"].as_str().unwrap().to_owned();

    let template = "/api/knowledge/repositories/{id}/scan";
    let scan = |id: &str| format!("/api/knowledge/repositories/{id}/scan");
    let first = api.call(Method::POST, &scan(&a), template, None).await;
    let again = api.call(Method::POST, &scan(&a), template, None).await;
    let other = api.call(Method::POST, &scan(&b), template, None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    // The same repository at the same commit: one scan, joined.
    assert_eq!(again.body["scan_id"], first.body["scan_id"]);
    assert_ne!(other.body["scan_id"], first.body["scan_id"]);

    // One scan at a time: while the first runs, the other waits, queued.
    let first_location = first.location.unwrap();
    let other_location = other.location.unwrap();
    let scans = "/api/knowledge/scans/{scan_id}";
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = api.get(&first_location, scans).await.body;
        let waiting = api.get(&other_location, scans).await.body;
        match now["status"].as_str() {
            Some("queued") => {}
            Some("running") => {
                assert_eq!(waiting["status"], "queued", "{waiting}");
                break;
            }
            _ => panic!("the first scan ended before it was seen running: {now}"),
        }
        assert!(Instant::now() < deadline, "the first scan never started: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.finished_scan(&first_location).await["status"], "done");
    assert_eq!(api.finished_scan(&other_location).await["status"], "done");
    // Once it has ended, a new request is a new scan.
    let later = api.call(Method::POST, &scan(&a), template, None).await;
    assert_ne!(later.body["scan_id"], first.body["scan_id"]);
    api.finished_scan(&later.location.unwrap()).await;
}

#[tokio::test]
async fn an_unknown_repository_is_a_404_and_a_removed_one_is_gone() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);

    for (path, template) in [
        ("/api/knowledge/repositories/0123456789ab", "/api/knowledge/repositories/{id}"),
        (
            "/api/knowledge/repositories/0123456789ab/status",
            "/api/knowledge/repositories/{id}/status",
        ),
        (
            "/api/knowledge/repositories/0123456789ab/symbols",
            "/api/knowledge/repositories/{id}/symbols",
        ),
        ("/api/knowledge/search?q=x&repo=0123456789ab", "/api/knowledge/search"),
    ] {
        let answer = api.get(path, template).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "not_found");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("GET /api/knowledge/repositories lists them")
        );
    }

    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();
    let one = format!("/api/knowledge/repositories/{id}");
    let template = "/api/knowledge/repositories/{id}";
    assert_eq!(api.call(Method::DELETE, &one, template, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&one, template).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::DELETE, &one, template, None).await.status, StatusCode::NOT_FOUND);
    let search =
        api.get("/api/knowledge/search?q=price&mode=lexical", "/api/knowledge/search").await;
    assert_eq!(search.body["results"], json!([]));
    // The folder itself is untouched.
    assert!(repo.join("stockroom/pricing.py").exists());

    let nowhere = api.get("/api/knowledge/nowhere", "/api/knowledge/nowhere").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert!(nowhere.body["error"]["message"].as_str().unwrap().contains("/openapi.json"));
    api.exchanges.pop();

    api.check_against_openapi(&sandbox).await;
}

#[tokio::test]
async fn with_a_token_rest_needs_it_but_health_and_the_document_do_not() {
    let sandbox = Sandbox::new();
    let token = "a-long-enough-knowledge-token";
    let server = Server::start_with(&sandbox, &["serve"], &[("AGENTWATCH_KNOWLEDGE_TOKEN", token)]);
    let mut api = Api::new(&server);
    let list = "/api/knowledge/repositories";

    let refused = api.get(list, list).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"));
    assert_eq!(api.get("/health", "/health").await.status, StatusCode::OK);
    api.token = Some("not-the-token".into());
    assert_eq!(api.get(list, list).await.status, StatusCode::UNAUTHORIZED);
    api.token = Some(token.into());
    assert_eq!(api.get(list, list).await.status, StatusCode::OK);

    // The document declares the token, and the 401 every protected route may answer.
    api.check_against_openapi(&sandbox).await;
}

/// An IDE user edits a working copy that `serve` indexed: search and the call graph answer from
/// the edit without anyone asking for a re-index. A repository can opt out, and then `refresh`
/// brings it up to date on demand.
#[tokio::test]
async fn a_watched_folder_answers_from_its_edits_unasked() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "python-pkg");
    let server = Server::start(&sandbox, &["serve"]);
    let mut api = Api::new(&server);
    let id = api.index(&repo).await["repo_id"].as_str().unwrap().to_owned();
    let base = format!("/api/knowledge/repositories/{id}");
    let route = |name: &str| format!("/api/knowledge/repositories/{{id}}/{name}");
    let settings = api.get(&format!("{base}/settings"), &route("settings")).await;
    let defaults = json!({
        "repo_id": id, "watch": null, "watched": true,
        "webhook": false, "scan_on_push": false, "sync_every_secs": null,
    });
    assert_eq!(settings.body, defaults);

    let pricing = repo.join("stockroom/pricing.py");
    let edited = std::fs::read_to_string(&pricing).unwrap()
        + "\n\ndef quokka_discount(item: Item) -> float:\n    return price_with_tax(item) * 0.9\n";
    std::fs::write(&pricing, edited).unwrap();

    let callers_path = format!("{base}/callers?symbol=price_with_tax");
    let search_path = "/api/knowledge/search?q=quokka&mode=lexical";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let callers = api.get(&callers_path, &route("callers")).await;
        let found = api.get(search_path, "/api/knowledge/search").await;
        let callers = callers.body["results"].to_string();
        let hit = &found.body["results"][0];
        if callers.contains("quokka_discount") && hit["symbol"] == "quokka_discount" {
            assert_eq!(hit["stale"], false, "the hit is of the indexed edit: {hit}");
            break;
        }
        assert!(Instant::now() < deadline, "the edit never reached the answers: {callers}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Opted out, an edit waits for a refresh.
    let patch = Some(json!({ "watch": false }));
    let off = api.call(Method::PATCH, &format!("{base}/settings"), &route("settings"), patch).await;
    assert_eq!(off.body["watch"], false, "{}", off.body);
    assert_eq!(off.body["watched"], false, "{}", off.body);
    // A folder is watched; webhooks and schedules are for clones, and the answer says so.
    let hook = Some(json!({ "webhook_secret": "abc" }));
    let refused =
        api.call(Method::PATCH, &format!("{base}/settings"), &route("settings"), hook).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("watched instead"));
    std::fs::write(repo.join("stockroom/wombat.py"), "def wombat_tally():\n    return 7\n")
        .unwrap();
    let symbols = format!("{base}/symbols?q=wombat_tally");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = api.get(&symbols, &route("symbols")).await;
    assert_eq!(before.body["total"], 0, "not watched, not re-indexed: {}", before.body);
    let refreshed = api
        .call(Method::POST, &format!("{base}/refresh?wait_seconds=60"), &route("refresh"), None)
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert!(matches!(refreshed.body["status"].as_str(), Some("ready" | "embedding")));
    let after = api.get(&symbols, &route("symbols")).await;
    assert_eq!(after.body["total"], 1, "{}", after.body);

    // Settings of a repository nobody indexed do not exist.
    let watch = Some(json!({ "watch": true }));
    let nope = "/api/knowledge/repositories/nope/settings";
    let bad = api.call(Method::PATCH, nope, &route("settings"), watch).await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    api.check_against_openapi(&sandbox).await;
}
