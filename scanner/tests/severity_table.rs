//! The severity table: how each tool's own rating becomes one of `critical`, `high`, `medium`,
//! `low`, `info`, so a `--fail-on high` gate means the same whichever tool found the problem.
//!
//! | tool    | critical           | high          | medium           | low              | info     |
//! |---------|--------------------|---------------|------------------|------------------|----------|
//! | Semgrep | CRITICAL           | ERROR, HIGH   | WARNING, MEDIUM  | LOW              | INFO     |
//! | Trivy   | CRITICAL           | HIGH          | MEDIUM           | LOW, UNKNOWN     | —        |
//! | Checkov | CRITICAL           | HIGH          | MEDIUM, unrated  | LOW              | INFO     |
//! | SARIF   | score ≥ 9.0        | ≥ 7.0; error  | ≥ 4.0; warning   | > 0; note        | 0; none  |
//!
//! (SARIF: the `security-severity` score when present, else the level.)

use std::path::Path;

use scanner::{ReportFormat, Severity, import};

fn rated(format: ReportFormat, report: serde_json::Value) -> Vec<Severity> {
    let runs = import(format, report.to_string().as_bytes(), Path::new(".")).unwrap();
    runs.iter().flat_map(|r| &r.findings).map(|f| f.severity).collect()
}

#[test]
fn semgrep_levels() {
    let result = |i: u32, level: &str| {
        serde_json::json!({ "check_id": format!("rule-{i}"), "path": "a.py",
            "start": { "line": i }, "end": { "line": i },
            "extra": { "message": "m", "severity": level, "metadata": {} } })
    };
    let levels = ["CRITICAL", "ERROR", "HIGH", "WARNING", "MEDIUM", "LOW", "INFO"];
    let results: Vec<_> = levels.iter().enumerate().map(|(i, l)| result(i as u32 + 1, l)).collect();
    use Severity::*;
    assert_eq!(
        rated(ReportFormat::Semgrep, serde_json::json!({ "results": results, "errors": [] })),
        [Critical, High, High, Medium, Medium, Low, Info]
    );
}

#[test]
fn trivy_levels() {
    let secret = |level: &str| {
        serde_json::json!({ "RuleID": format!("rule-{level}"), "Category": "c", "Severity": level,
            "Title": "t", "StartLine": 1, "EndLine": 1, "Match": "key=****" })
    };
    let secrets: Vec<_> =
        ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"].iter().map(|l| secret(l)).collect();
    let report = serde_json::json!({ "SchemaVersion": 2, "Results": [
        { "Target": "a.env", "Class": "secret", "Secrets": secrets } ] });
    use Severity::*;
    assert_eq!(rated(ReportFormat::Trivy, report), [Critical, High, Medium, Low, Low]);
}

#[test]
fn checkov_levels() {
    let check = |i: usize, level: serde_json::Value| {
        serde_json::json!({ "check_id": format!("CKV_{i}"), "check_name": "n", "file_path": "/main.tf",
            "file_line_range": [1, 2], "resource": format!("r{i}"), "severity": level, "guideline": null })
    };
    let levels = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"].map(serde_json::Value::from);
    let mut checks: Vec<_> = levels.into_iter().enumerate().map(|(i, l)| check(i, l)).collect();
    checks.push(check(9, serde_json::Value::Null));
    let report =
        serde_json::json!({ "check_type": "terraform", "results": { "failed_checks": checks } });
    use Severity::*;
    assert_eq!(rated(ReportFormat::Checkov, report), [Critical, High, Medium, Low, Info, Medium]);
}

#[test]
fn sarif_scores_then_levels() {
    let result = |i: usize, level: &str, score: Option<&str>| {
        let mut r = serde_json::json!({ "ruleId": format!("r{i}"), "level": level, "message": { "text": format!("m{i}") } });
        if let Some(score) = score {
            r["properties"] = serde_json::json!({ "security-severity": score });
        }
        r
    };
    let results = vec![
        result(0, "note", Some("9.5")),
        result(1, "note", Some("7.0")),
        result(2, "note", Some("4.0")),
        result(3, "error", Some("0.5")),
        result(4, "error", Some("0.0")),
        result(5, "error", None),
        result(6, "warning", None),
        result(7, "note", None),
        result(8, "none", None),
    ];
    let log = serde_json::json!({ "version": "2.1.0", "runs": [
        { "tool": { "driver": { "name": "trivy" } }, "results": results } ] });
    use Severity::*;
    assert_eq!(
        rated(ReportFormat::Sarif, log),
        [Critical, High, Medium, Low, Info, High, Medium, Low, Info]
    );
}
