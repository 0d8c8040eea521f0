//! `agentwatch index` and `agentwatch status` as scripts use them: the JSON fields are a public
//! contract.

use std::path::PathBuf;

use crate::support::{Sandbox, stderr, stdout};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name);
    path.to_str().unwrap().to_owned()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[test]
fn index_json_reports_the_contract_fields() {
    let sandbox = Sandbox::new();
    let report = json(&sandbox.run(&["index", &fixture("python-pkg"), "--json"]));
    for field in [
        "repo_id",
        "status",
        "commit",
        "files",
        "skipped",
        "symbols",
        "nodes",
        "edges",
        "duration_ms",
        "errors",
    ] {
        assert!(report.get(field).is_some(), "missing {field}: {report}");
    }
    assert_eq!(report["status"], "ready");
    assert_eq!(report["files"], 5);
    assert_eq!(report["files_parsed"], 5);
    assert_eq!(report["errors"], serde_json::json!([]));
    assert!(report["symbols"].as_u64().unwrap() > 20);
    assert!(report["edges"].as_u64().unwrap() > report["symbols"].as_u64().unwrap());

    // The second run finds nothing changed, and status reports the stored result.
    let again = json(&sandbox.run(&["index", &fixture("python-pkg"), "--json"]));
    assert_eq!(
        (again["repo_id"].clone(), again["files_parsed"].clone()),
        (report["repo_id"].clone(), 0.into())
    );
    let id = report["repo_id"].as_str().unwrap();
    let status = json(&sandbox.run(&["status", id, "--json"]));
    assert_eq!(status["symbols"], report["symbols"]);
    let all = json(&sandbox.run(&["status", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn index_prints_a_readable_summary() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["index", &fixture("ts-app")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("ts-app ("), "{text}");
    assert!(text.contains("— ready, a plain directory"), "{text}");
    assert!(text.contains("skipped   vendored 2, unsupported 3"), "{text}");
    assert!(stderr(&output).is_empty(), "one-shot commands log only warnings: {}", stderr(&output));
}

#[test]
fn bad_locations_fail_with_exit_1_and_say_why() {
    let sandbox = Sandbox::new();
    let missing = sandbox.run(&["index", "/nonexistent/project"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing).trim(),
        "error: /nonexistent/project does not exist or is not a folder"
    );

    let ssh = sandbox.run(&["index", "git@github.com:owner/repo.git"]);
    assert_eq!(ssh.status.code(), Some(1));
    assert!(stderr(&ssh).contains("use the https:// URL"));

    let unknown = sandbox.run(&["status", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown)
            .contains("no repository \"nope\" is indexed: list them with `agentwatch status`")
    );
}

#[test]
fn an_unreachable_url_fails_the_job_and_is_recorded() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["index", "http://127.0.0.1:9/team/project", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot fetch http://127.0.0.1:9/team/project")
    );
    assert!(stderr(&output).contains("indexing http://127.0.0.1:9/team/project failed"));
}

#[test]
fn search_json_reports_the_contract_fields() {
    let sandbox = Sandbox::new();
    let indexed = sandbox.run(&["index", &fixture("python-pkg")]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    let hits =
        json(&sandbox.run(&["search", "where is the tax computed", "--json", "--limit", "3"]));
    let first = &hits[0];
    for field in ["repo_id", "path", "start_line", "end_line", "symbol", "kind", "score", "stale"] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    assert_eq!(
        (first["path"].as_str(), first["symbol"].as_str()),
        (Some("stockroom/pricing.py"), Some("price_with_tax"))
    );
    assert_eq!(first["stale"], false);
    assert!(hits.as_array().unwrap().len() <= 3);

    let filtered = json(&sandbox.run(&[
        "search",
        "item",
        "--json",
        "--kind",
        "class",
        "--path",
        "stockroom/models.py",
    ]));
    assert!(
        filtered
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] == "class" && h["path"] == "stockroom/models.py")
    );

    let bad = sandbox.run(&["search", "x", "--language", "cobol"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(
        "unknown language \"cobol\": use one of rust, python, typescript, tsx, javascript"
    ));
}
