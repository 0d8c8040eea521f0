//! Checkov: misconfigurations in infrastructure as code (Terraform, Kubernetes manifests,
//! Dockerfiles, CloudFormation), from the checks built into it, offline.
//!
//! Severity: Checkov's open-source checks carry none (only the Prisma Cloud platform rates them),
//! so a failed check is `medium` unless the report names a severity, which maps as Trivy's does
//! (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`; `INFO` is info).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::Severity;
use crate::finding::{Category, Finding, Tool, fingerprint};
use crate::run::{Limits, ToolRun, ToolStatus, ended, installed, path_arg, run, tail};
use crate::sandbox::Invocation;

/// The IaC frameworks a scan asks Checkov for. Secrets are left to Trivy, code to Semgrep.
pub const FRAMEWORKS: [&str; 4] = ["terraform", "kubernetes", "dockerfile", "cloudformation"];

/// Checkov, and the limits it runs under.
#[derive(Debug, Clone)]
pub struct Checkov {
    pub binary: PathBuf,
    pub limits: Limits,
}

impl Checkov {
    /// Scans `dir`. Paths in the findings are relative to `dir`.
    pub async fn scan(&self, dir: &Path, cancel: &CancellationToken) -> ToolRun {
        let started = Instant::now();
        let binary = match installed(
            &self.binary,
            "run scripts/setup.sh (it installs Checkov from PyPI), or set assets.checkov",
        ) {
            Ok(binary) => binary,
            Err(status) => return ended(Tool::Checkov, status, started),
        };
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        // `--directory=` in one word: Checkov loads `.checkov.yaml` from a folder given as `-d
        // DIR` or `--directory DIR` (its external checks are Python it imports), but not from
        // this form; the working directory and home it also looks in are empty.
        let mut args: Vec<String> = vec![format!("--directory={}", path_arg(&root))];
        args.extend(
            ["-o", "json", "--quiet", "--compact", "--skip-download", "--framework"]
                .map(String::from),
        );
        args.extend(FRAMEWORKS.map(String::from));
        let invocation = Invocation {
            binary: &binary,
            args,
            target: &root,
            reads: Vec::new(),
            writes: Vec::new(),
            env: Vec::new(),
            network: false,
        };
        let output = match run(&invocation, &self.limits, cancel).await {
            Ok(output) => output,
            Err(status) => return ended(Tool::Checkov, status, started),
        };
        // Checkov exits 1 when a check failed, 0 when none did.
        let (status, findings) = match output.code {
            Some(0 | 1) => match parse(&output.stdout) {
                Ok(findings) => (ToolStatus::Ok, findings),
                Err(e) => (ToolStatus::Failed(e.to_string()), Vec::new()),
            },
            code => {
                let code = code.map_or("a signal".to_owned(), |c| format!("status {c}"));
                let why = tail(&output.stderr);
                (ToolStatus::Failed(format!("checkov ended with {code}: {why}")), Vec::new())
            }
        };
        ToolRun { tool: Tool::Checkov, status, findings, duration: started.elapsed() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckovError {
    #[error("not a Checkov JSON report: {0} (run `checkov -d . -o json`)")]
    Json(#[from] serde_json::Error),
    #[error(
        "not a Checkov JSON report: expected objects with `check_type` and `results` (run `checkov -d . -o json`)"
    )]
    Shape,
}

/// Reads a Checkov JSON report (`-o json`): one framework's object, a list of them, or the bare
/// summary Checkov prints when it found nothing to scan. Only failed checks become findings.
pub fn parse(json: &[u8]) -> Result<Vec<Finding>, CheckovError> {
    let reports: Reports = serde_json::from_slice(json)?;
    let reports = match reports {
        Reports::Many(reports) => reports,
        Reports::One(report) => vec![report],
    };
    let known = |r: &Report| (r.check_type.is_some() && r.results.is_some()) || r.failed.is_some();
    if !reports.iter().all(known) {
        return Err(CheckovError::Shape);
    }
    Ok(reports
        .iter()
        .filter_map(|r| r.results.as_ref())
        .flat_map(|r| &r.failed_checks)
        .map(FailedCheck::finding)
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Reports {
    Many(Vec<Report>),
    One(Report),
}

#[derive(Debug, Deserialize)]
struct Report {
    check_type: Option<String>,
    /// Absent from the bare summary of an empty scan…
    results: Option<Results>,
    /// …which has the counts instead.
    failed: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Results {
    #[serde(default)]
    failed_checks: Vec<FailedCheck>,
}

#[derive(Debug, Deserialize)]
struct FailedCheck {
    check_id: String,
    check_name: String,
    file_path: String,
    #[serde(default)]
    file_line_range: Vec<u32>,
    #[serde(default)]
    resource: String,
    severity: Option<String>,
    guideline: Option<String>,
}

impl FailedCheck {
    fn finding(&self) -> Finding {
        let path = self.file_path.trim_start_matches('/').to_owned();
        let lines = match self.file_line_range.as_slice() {
            [start, end, ..] if *start > 0 => Some((*start, (*end).max(*start))),
            _ => None,
        };
        let mut message = self.check_name.clone();
        if !self.resource.is_empty() {
            message += &format!(" (resource {})", self.resource);
        }
        if let Some(guideline) = &self.guideline {
            message += &format!("; see {guideline}");
        }
        Finding {
            tool: Tool::Checkov,
            category: Category::Misconfiguration,
            rule_id: self.check_id.clone(),
            severity: self.severity.as_deref().map_or(Severity::Medium, severity),
            title: self.check_name.clone(),
            message,
            fingerprint: fingerprint(&["checkov", &self.check_id, &path, &self.resource]),
            path,
            start_line: lines.map(|l| l.0),
            end_line: lines.map(|l| l.1),
            cwe: Vec::new(),
            cve: Vec::new(),
            package: None,
            url: self.guideline.clone(),
            symbol: None,
        }
    }
}

fn severity(checkov: &str) -> Severity {
    match checkov.to_ascii_uppercase().as_str() {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "LOW" => Severity::Low,
        "INFO" => Severity::Info,
        _ => Severity::Medium,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_scan_is_a_bare_summary_and_has_no_findings() {
        let summary = br#"{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0, "checkov_version": "3.3.30"}"#;
        assert!(parse(summary).unwrap().is_empty());
    }

    #[test]
    fn a_rated_check_keeps_its_severity_and_an_unrated_one_is_medium() {
        let report = br#"{"check_type": "terraform", "results": {"failed_checks": [
            {"check_id": "CKV_AWS_24", "check_name": "Ensure no security groups allow ingress from 0.0.0.0:0 to port 22",
             "file_path": "/infra/main.tf", "file_line_range": [5, 13], "resource": "aws_security_group.ssh",
             "severity": "HIGH", "guideline": "https://docs.example/ckv-aws-24"},
            {"check_id": "CKV_DOCKER_3", "check_name": "Ensure that a user for the container has been created",
             "file_path": "/Dockerfile", "file_line_range": [1, 4], "resource": "/Dockerfile.", "severity": null, "guideline": null}
        ]}}"#;
        let findings = parse(report).unwrap();
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(findings[0].path, "infra/main.tf");
        assert_eq!((findings[0].start_line, findings[0].end_line), (Some(5), Some(13)));
        assert!(findings[0].message.ends_with("; see https://docs.example/ckv-aws-24"));
        assert_eq!(findings[1].severity, Severity::Medium);
        assert_eq!(findings[1].category, Category::Misconfiguration);
        assert_ne!(findings[0].fingerprint, findings[1].fingerprint);
    }

    #[test]
    fn a_report_that_is_not_checkovs_says_how_to_make_one() {
        let err = parse(b"<html>").unwrap_err().to_string();
        assert!(err.starts_with("not a Checkov JSON report"), "{err}");
        let trivy = br#"{"SchemaVersion": 2, "Results": []}"#;
        assert!(matches!(parse(trivy), Err(CheckovError::Shape)), "another tool's JSON is refused");
    }
}
