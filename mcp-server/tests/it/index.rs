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

#[test]
fn search_defaults_to_hybrid_and_each_mode_can_be_chosen() {
    let sandbox = Sandbox::new();
    let report = json(&sandbox.run(&["index", &fixture("rust-crate"), "--json"]));
    assert!(report["chunks"].as_u64().unwrap() > 5);
    assert_eq!(report["embedded"], report["chunks"], "the job embeds every chunk");

    let question = "look up the original url of a short code";
    let hybrid = json(&sandbox.run(&["search", question, "--json"]));
    let explicit = json(&sandbox.run(&["search", question, "--json", "--mode", "hybrid"]));
    assert_eq!(hybrid, explicit);
    let semantic = json(&sandbox.run(&["search", question, "--json", "--mode", "semantic"]));
    assert_eq!(semantic[0]["symbol"], "Shortener::resolve");
    assert!(semantic[0]["score"].as_f64().unwrap() > 0.3, "a cosine similarity");

    let unknown = sandbox.run(&["search", question, "--mode", "fuzzy"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("[possible values: semantic, lexical, hybrid]"));
}

#[test]
fn without_the_embedding_model_search_is_lexical_and_says_why() {
    let sandbox = Sandbox::new();
    let run = |args: &[&str]| {
        sandbox
            .command()
            .env("AGENTWATCH_ONNXRUNTIME", "/nonexistent/libonnxruntime.so")
            .args(args)
            .output()
            .unwrap()
    };
    let indexed = run(&["index", &fixture("rust-crate"), "--json"]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    assert!(stderr(&indexed).contains("semantic search is off: ONNX Runtime not found at /nonexistent/libonnxruntime.so: run scripts/setup.sh"));
    let report: serde_json::Value = serde_json::from_slice(&indexed.stdout).unwrap();
    assert_eq!(report["embedded"], 0);

    let lexical = run(&["search", "resolve", "--json"]);
    assert_eq!(lexical.status.code(), Some(0), "{}", stderr(&lexical));
    let hits: serde_json::Value = serde_json::from_slice(&lexical.stdout).unwrap();
    assert!(hits.as_array().unwrap().iter().any(|h| h["symbol"] == "Shortener::resolve"), "{hits}");

    let semantic = run(&["search", "resolve", "--mode", "semantic"]);
    assert_eq!(semantic.status.code(), Some(1));
    assert!(
        stderr(&semantic).contains("semantic and hybrid search need the embedding model"),
        "{}",
        stderr(&semantic)
    );
}
