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

#[derive(Debug, thiserror::Error)]
pub enum SarifError {
    #[error("not a SARIF 2.1.0 log: {0}")]
    Json(#[from] serde_json::Error),
    #[error("SARIF version {0:?} is not supported: AgentWatch reads 2.1.0")]
    Version(String),
    #[error(
        "the SARIF log holds a run of {0:?}: AgentWatch imports SARIF from Semgrep, Trivy and Checkov (or import that tool's own JSON report)"
    )]
    UnknownTool(String),
}

/// Reads a SARIF 2.1.0 log written by Semgrep, Trivy or Checkov (or by AgentWatch) into one tool
/// run per SARIF run, with every result as a finding.
///
/// Severity comes from a result's (or its rule's) `security-severity` score when there is one —
/// 9.0 and up critical, 7.0 high, 4.0 medium, above 0 low, 0 info, as GitHub reads it — else from
/// its level: `error` high, `warning` medium, `note` low, `none` info. The fingerprint is the
/// one AgentWatch wrote (`partialFingerprints["agentwatch/v1"]`) when present, else a hash of the
/// tool, rule, path and message: never of line numbers.
pub fn parse(json: &[u8]) -> Result<Vec<ToolRun>, SarifError> {
    let log: read::Log = serde_json::from_slice(json)?;
    if log.version != "2.1.0" {
        return Err(SarifError::Version(log.version));
    }
    log.runs.iter().map(read::Run::tool_run).collect()
}

/// The parts of SARIF an import reads.
mod read {
    use std::collections::HashMap;
    use std::time::Duration;

    use serde::Deserialize;
    use serde_json::Value;

    use super::SarifError;
    use crate::Severity;
    use crate::finding::{Category, Finding, Tool, fingerprint};
    use crate::run::{ToolRun, ToolStatus};

    #[derive(Debug, Deserialize)]
    pub struct Log {
        pub version: String,
        #[serde(default)]
        pub runs: Vec<Run>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Run {
        tool: ToolComponent,
        #[serde(default)]
        results: Vec<SarifResult>,
    }

    #[derive(Debug, Deserialize)]
    struct ToolComponent {
        driver: Driver,
    }

    #[derive(Debug, Deserialize)]
    struct Driver {
        name: String,
        #[serde(default)]
        rules: Vec<Rule>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        id: String,
        short_description: Option<Text>,
        help_uri: Option<String>,
        #[serde(default)]
        properties: HashMap<String, Value>,
        default_configuration: Option<Configuration>,
    }

    #[derive(Debug, Deserialize)]
    struct Configuration {
        level: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Text {
        text: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SarifResult {
        rule_id: Option<String>,
        rule_index: Option<usize>,
        level: Option<String>,
        message: Text,
        #[serde(default)]
        locations: Vec<Location>,
        #[serde(default)]
        partial_fingerprints: HashMap<String, String>,
        #[serde(default)]
        properties: HashMap<String, Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Location {
        physical_location: Option<PhysicalLocation>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PhysicalLocation {
        artifact_location: Option<Artifact>,
        region: Option<Region>,
    }

    #[derive(Debug, Deserialize)]
    struct Artifact {
        uri: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Region {
        start_line: Option<u32>,
        end_line: Option<u32>,
    }

    impl Run {
        pub fn tool_run(&self) -> Result<ToolRun, SarifError> {
            let name = self.tool.driver.name.to_ascii_lowercase();
            let tool = if name.contains("semgrep") {
                Tool::Semgrep
            } else if name.contains("trivy") {
                Tool::Trivy
            } else if name.contains("checkov") {
                Tool::Checkov
            } else {
                return Err(SarifError::UnknownTool(self.tool.driver.name.clone()));
            };
            let rules = &self.tool.driver.rules;
            let mut seen: HashMap<String, usize> = HashMap::new();
            let findings =
                self.results
                    .iter()
                    .map(|result| {
                        let rule = result.rule_index.and_then(|i| rules.get(i)).or_else(|| {
                            rules.iter().find(|r| Some(&r.id) == result.rule_id.as_ref())
                        });
                        let mut finding = result.finding(tool, rule);
                        let occurrence = seen.entry(finding.fingerprint.clone()).or_default();
                        if !result.partial_fingerprints.contains_key("agentwatch/v1") {
                            finding.fingerprint =
                                fingerprint(&[&finding.fingerprint, &occurrence.to_string()]);
                        }
                        *occurrence += 1;
                        finding
                    })
                    .collect();
            Ok(ToolRun { tool, status: ToolStatus::Ok, findings, duration: Duration::ZERO })
        }
    }

    impl SarifResult {
        fn finding(&self, tool: Tool, rule: Option<&Rule>) -> Finding {
            let rule_id =
                self.rule_id.as_deref().or_else(|| rule.map(|r| r.id.as_str())).map_or_else(
                    || "unknown".to_owned(),
                    |id| crate::rules::canonical_id(id).to_owned(),
                );
            let physical = self.locations.first().and_then(|l| l.physical_location.as_ref());
            let path = physical
                .and_then(|p| p.artifact_location.as_ref())
                .map(|a| a.uri.trim_start_matches("file://").trim_start_matches("./").to_owned())
                .unwrap_or_default();
            let region = physical.and_then(|p| p.region.as_ref());
            let start_line = region.and_then(|r| r.start_line);
            let end_line = region.and_then(|r| r.end_line.or(r.start_line));
            let score = security_severity(&self.properties)
                .or_else(|| rule.and_then(|r| security_severity(&r.properties)));
            let level = self
                .level
                .as_deref()
                .or_else(|| rule.and_then(|r| r.default_configuration.as_ref()?.level.as_deref()));
            let severity = match (score, level) {
                (Some(s), _) if s >= 9.0 => Severity::Critical,
                (Some(s), _) if s >= 7.0 => Severity::High,
                (Some(s), _) if s >= 4.0 => Severity::Medium,
                (Some(s), _) if s > 0.0 => Severity::Low,
                (Some(_), _) => Severity::Info,
                (None, Some("error")) => Severity::High,
                (None, Some("note")) => Severity::Low,
                (None, Some("none")) => Severity::Info,
                (None, _) => Severity::Medium,
            };
            let tags: Vec<String> = rule
                .and_then(|r| r.properties.get("tags"))
                .and_then(Value::as_array)
                .map(|tags| tags.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let cwe = tags
                .iter()
                .filter(|t| t.starts_with("CWE-"))
                .map(|t| t.split(':').next().unwrap_or(t).trim().to_owned())
                .collect();
            let category = if tags.iter().any(|t| t == "secret") {
                Category::Secret
            } else if tags.iter().any(|t| t == "vulnerability") {
                Category::Vulnerability
            } else if tool == Tool::Semgrep {
                Category::Code
            } else {
                Category::Misconfiguration
            };
            let fingerprint = match self.partial_fingerprints.get("agentwatch/v1") {
                Some(ours) => ours.clone(),
                None => fingerprint(&["sarif", tool.as_str(), &rule_id, &path, &self.message.text]),
            };
            Finding {
                tool,
                category,
                title: rule
                    .and_then(|r| r.short_description.as_ref())
                    .map_or_else(|| rule_id.clone(), |d| d.text.clone()),
                rule_id,
                severity,
                message: self.message.text.clone(),
                path,
                start_line,
                end_line,
                cwe,
                cve: Vec::new(),
                package: None,
                fingerprint,
                url: rule.and_then(|r| r.help_uri.clone()),
                symbol: None,
            }
        }
    }

    /// GitHub's `security-severity`: a score from 0 to 10, as a string or a number.
    fn security_severity(properties: &HashMap<String, Value>) -> Option<f64> {
        match properties.get("security-severity")? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
}
