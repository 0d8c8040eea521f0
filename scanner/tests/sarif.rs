//! SARIF output, validated against the official SARIF 2.1.0 schema (from npm's
//! `@microsoft/jest-sarif`) by Python's `jsonschema`, both installed by `scripts/setup.sh`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scanner::{Tool, ToolRun, ToolStatus, sarif, trivy};

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
