//! SARIF output, validated against the official SARIF 2.1.0 schema (from npm's
//! `@microsoft/jest-sarif`) by Python's `jsonschema`, both installed by `scripts/setup.sh`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scanner::{ReportFormat, Severity, Tool, ToolRun, ToolStatus, sarif, trivy};

mod common;
use common::assets;

fn trivy_run(report: &str) -> ToolRun {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/trivy");
    let findings = trivy::parse(&std::fs::read(dir.join(report)).unwrap()).unwrap();
    ToolRun { tool: Tool::Trivy, status: ToolStatus::Ok, findings, duration: Duration::ZERO }
}

fn validate(log: &serde_json::Value) {
    let schema = assets()
        .join("test-clients/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
    assert!(schema.exists(), "{} is missing: run scripts/setup.sh", schema.display());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), log.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_sarif.py");
    let output = std::process::Command::new(assets().join("mcp-client/bin/python"))
        .arg(script)
        .arg(&schema)
        .arg(file.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn every_kind_of_finding_makes_a_valid_sarif_log() {
    let runs: Vec<ToolRun> = ["pip.json", "helm_testchart.json", "secrets.json", "dockerfile.json"]
        .into_iter()
        .map(trivy_run)
        .collect();
    let log = sarif::log(&runs);
    validate(&log);

    let pip = &log["runs"][0];
    assert_eq!(pip["tool"]["driver"]["name"], "trivy");
    let result = &pip["results"][0];
    let rule = &pip["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize];
    assert_eq!(rule["id"], result["ruleId"]);
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "requirements.txt"
    );
    assert!(result["partialFingerprints"]["agentwatch/v1"].is_string());
    // A check on a whole file has no region.
    let dockerfile = &log["runs"][3]["results"][0]["locations"][0]["physicalLocation"];
    assert!(dockerfile.get("region").is_none(), "{dockerfile}");
}

#[test]
fn a_tool_that_did_not_run_is_a_failed_invocation_in_the_log() {
    let missing = ToolRun {
        tool: Tool::Semgrep,
        status: ToolStatus::NotInstalled("semgrep is missing: run scripts/setup.sh".into()),
        findings: Vec::new(),
        duration: Duration::ZERO,
    };
    let timed_out = ToolRun { status: ToolStatus::TimedOut, tool: Tool::Trivy, ..missing.clone() };
    let log = sarif::log(&[missing, timed_out]);
    validate(&log);
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert!(
        invocation["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("run scripts/setup.sh")
    );
    assert_eq!(
        log["runs"][1]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"],
        "timed out"
    );
}

#[test]
fn a_finding_in_a_symbol_carries_it_as_a_logical_location_and_stays_valid() {
    let mut run = trivy_run("secrets.json");
    run.findings[0].symbol = Some(scanner::EnclosingSymbol {
        id: "app/settings.py::AWS_ACCESS_KEY_ID".into(),
        kind: "constant".into(),
        name: "AWS_ACCESS_KEY_ID".into(),
        callers: 0,
    });
    let log = sarif::log(&[run]);
    validate(&log);
    let location = &log["runs"][0]["results"][0]["locations"][0];
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "app/settings.py::AWS_ACCESS_KEY_ID"
    );
    assert_eq!(location["logicalLocations"][0]["kind"], "variable");
}

#[test]
fn our_own_sarif_imports_back_as_the_same_findings() {
    let runs: Vec<ToolRun> =
        ["pip.json", "helm_testchart.json", "secrets.json"].into_iter().map(trivy_run).collect();
    let log = sarif::log(&runs).to_string();
    let back = scanner::import(ReportFormat::Sarif, log.as_bytes(), Path::new(".")).unwrap();
    let key = |f: &scanner::Finding| {
        (
            f.tool,
            f.rule_id.clone(),
            f.severity,
            f.path.clone(),
            f.start_line,
            f.end_line,
            f.fingerprint.clone(),
        )
    };
    let sent: Vec<_> = runs.iter().flat_map(|r| &r.findings).map(key).collect();
    let read: Vec<_> = back.iter().flat_map(|r| &r.findings).map(key).collect();
    assert_eq!(read, sent);
    assert!(read.iter().any(|k| k.2 == Severity::Critical), "a critical survives the trip");
}

#[test]
fn semgreps_own_sarif_is_read_with_levels_and_its_rule_ids() {
    let semgrep = serde_json::json!({
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "Semgrep OSS", "rules": [{
                "id": "tmp.ci.agentwatch-rules.python-sql-injection",
                "shortDescription": { "text": "SQL injection" },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["CWE-89: SQL Injection", "security"] }
            }]}},
            "results": [
                { "ruleId": "tmp.ci.agentwatch-rules.python-sql-injection", "level": "error",
                  "message": { "text": "SQL built with string formatting" },
                  "locations": [{ "physicalLocation": {
                      "artifactLocation": { "uri": "app/db.py", "uriBaseId": "%SRCROOT%" },
                      "region": { "startLine": 11, "endLine": 11 } } }] },
                { "ruleId": "tmp.ci.agentwatch-rules.python-sql-injection", "level": "error",
                  "message": { "text": "SQL built with string formatting" },
                  "locations": [{ "physicalLocation": {
                      "artifactLocation": { "uri": "app/db.py" },
                      "region": { "startLine": 30 } } }] }
            ]
        }]
    });
    let runs = scanner::import(ReportFormat::Sarif, semgrep.to_string().as_bytes(), Path::new("."))
        .unwrap();
    assert_eq!(runs[0].tool, Tool::Semgrep);
    let [first, second] = &runs[0].findings[..] else { panic!("{:?}", runs[0].findings) };
    assert_eq!(first.rule_id, "python-sql-injection", "named as a scan here names it");
    assert_eq!((first.severity, first.category), (Severity::High, scanner::Category::Code));
    assert_eq!(first.cwe, ["CWE-89"]);
    assert_eq!((first.start_line, second.end_line), (Some(11), Some(30)));
    assert_ne!(first.fingerprint, second.fingerprint, "two matches stay two findings");

    let codeql = serde_json::json!({ "version": "2.1.0", "runs": [{ "tool": { "driver": { "name": "CodeQL" } } }] });
    let err = scanner::import(ReportFormat::Sarif, codeql.to_string().as_bytes(), Path::new("."))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"CodeQL\": AgentWatch imports SARIF from Semgrep, Trivy and Checkov"),
        "{err}"
    );
    let err = scanner::import(
        ReportFormat::Sarif,
        b"{\"version\": \"2.0.0\", \"runs\": []}",
        Path::new("."),
    )
    .unwrap_err();
    assert!(err.to_string().contains("reads 2.1.0"), "{err}");
}
