//! SARIF 2.1.0, the format code-scanning dashboards (GitHub's among them) import: one run per
//! tool, its rules, and its results with locations, fingerprints and a severity.
//!
//! Levels: critical and high are `error`, medium `warning`, low and info `note`. Each result also
//! carries `security-severity` (critical 9.5, high 8.0, medium 5.5, low 3.0, info 0.0), the score
//! GitHub ranks security alerts by, and AgentWatch's own severity name.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Severity;
use crate::finding::{Finding, Tool};
use crate::run::{ToolRun, ToolStatus};

/// The SARIF log of a scan's tool runs.
pub fn log(runs: &[ToolRun]) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs.iter().map(run).collect::<Vec<_>>(),
    })
}

fn run(tool_run: &ToolRun) -> Value {
    // One rule entry per rule id, in a stable order; results point at them by index.
    let mut rules: BTreeMap<&str, &Finding> = BTreeMap::new();
    for finding in &tool_run.findings {
        rules.entry(&finding.rule_id).or_insert(finding);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let results: Vec<Value> =
        tool_run.findings.iter().map(|f| result(f, index[f.rule_id.as_str()])).collect();
    let mut invocation = json!({ "executionSuccessful": tool_run.status == ToolStatus::Ok });
    let problem = match &tool_run.status {
        ToolStatus::Ok => None,
        ToolStatus::Failed(why) | ToolStatus::NotInstalled(why) => Some(why.clone()),
        other => Some(other.as_str().replace('_', " ")),
    };
    if let Some(problem) = problem {
        invocation["toolExecutionNotifications"] =
            json!([{ "level": "error", "message": { "text": problem } }]);
    }
    json!({
        "tool": { "driver": {
            "name": tool_run.tool.as_str(),
            "informationUri": information_uri(tool_run.tool),
            "rules": rules.values().map(|f| rule(f)).collect::<Vec<_>>(),
        }},
        "invocations": [invocation],
        "results": results,
    })
}

fn rule(finding: &Finding) -> Value {
    let mut tags = vec!["security".to_owned(), finding.category.as_str().to_owned()];
    tags.extend(finding.cwe.iter().cloned());
    let mut rule = json!({
        "id": finding.rule_id,
        "shortDescription": { "text": finding.title },
        "defaultConfiguration": { "level": level(finding.severity) },
        "properties": { "tags": tags, "security-severity": security_severity(finding.severity) },
    });
    if let Some(url) = &finding.url {
        rule["helpUri"] = json!(url);
    }
    rule
}

fn result(finding: &Finding, rule_index: usize) -> Value {
    let mut location = json!({
        "artifactLocation": { "uri": finding.path, "uriBaseId": "%SRCROOT%" },
    });
    if let Some(start) = finding.start_line {
        location["region"] =
            json!({ "startLine": start, "endLine": finding.end_line.unwrap_or(start) });
    }
    let mut physical = json!({ "physicalLocation": location });
    if let Some(symbol) = &finding.symbol {
        let mut logical = json!({ "fullyQualifiedName": symbol.id, "name": symbol.name });
        if let Some(kind) = logical_kind(&symbol.kind) {
            logical["kind"] = json!(kind);
        }
        physical["logicalLocations"] = json!([logical]);
    }
    let mut properties = json!({
        "severity": finding.severity.as_str(),
        "category": finding.category.as_str(),
        "security-severity": security_severity(finding.severity),
    });
    if !finding.cve.is_empty() {
        properties["cve"] = json!(finding.cve);
    }
    if let Some(package) = &finding.package {
        properties["package"] = json!({
            "name": package.name,
            "installedVersion": package.installed_version,
            "fixedVersion": package.fixed_version,
        });
    }
    if let Some(symbol) = &finding.symbol {
        properties["symbol"] =
            json!({ "id": symbol.id, "kind": symbol.kind, "callers": symbol.callers });
    }
    json!({
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": { "text": finding.message },
        "locations": [physical],
        "partialFingerprints": { "agentwatch/v1": finding.fingerprint },
        "properties": properties,
    })
}

/// SARIF's name for a kind of symbol, where it has one.
fn logical_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "function" => Some("function"),
        "method" | "field" | "property" => Some("member"),
        "class" | "struct" | "enum" | "trait" | "interface" | "type" => Some("type"),
        "module" => Some("module"),
        "constant" | "variable" => Some("variable"),
        _ => None,
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn information_uri(tool: Tool) -> &'static str {
    match tool {
        Tool::Semgrep => "https://semgrep.dev",
        Tool::Trivy => "https://trivy.dev",
        Tool::Checkov => "https://www.checkov.io",
    }
}
