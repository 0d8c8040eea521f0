//! Semgrep: run it on a folder with local rules (`--json --metrics=off`), and read its report.
//!
//! Severity: `CRITICAL` is critical; `ERROR` and `HIGH` are high; `WARNING` and `MEDIUM` medium;
//! `LOW` low; `INFO` info (Semgrep's three classic levels and the four of its newer rules).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::Severity;
use crate::finding::{Category, Finding, Tool, fingerprint};
use crate::run::{Limits, ToolRun, ToolStatus, ended, installed, path_arg, run, tail};
use crate::sandbox::Invocation;

#[derive(Debug, thiserror::Error)]
pub enum SemgrepError {
    #[error("not a Semgrep JSON report: {0} (run `semgrep scan --json`)")]
    Json(#[from] serde_json::Error),
}

/// What Semgrep reported: findings, and the problems it hit on the way (files it could not
/// parse, rules it could not load), which do not fail the scan.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub errors: Vec<String>,
}

/// Semgrep, and the rules to run.
#[derive(Debug, Clone)]
pub struct Semgrep {
    pub binary: PathBuf,
    /// Rule files or folders, and registry ids (`p/python`, which need the network).
    pub rules: Vec<String>,
    pub limits: Limits,
}

impl Semgrep {
    /// Scans `dir` with the rules. Paths in the findings are relative to `dir`.
    pub async fn scan(&self, dir: &Path, cancel: &CancellationToken) -> ToolRun {
        let started = Instant::now();
        let binary = match installed(
            &self.binary,
            "run scripts/setup.sh (it installs Semgrep from PyPI), or set assets.semgrep",
        ) {
            Ok(binary) => binary,
            Err(status) => return ended(Tool::Semgrep, status, started),
        };
        // The scanned tree is named by its absolute path (the working directory is empty), and
        // local rules by their real paths, which the sandbox shows at the same place.
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        let rules: Vec<String> =
            self.rules.iter().map(|r| local_rule(r).unwrap_or(r.clone())).collect();
        // Semgrep gives a rule 5 s per file and skips a file after 3 such timeouts, reporting it
        // only among its errors: on a busy machine findings would go missing from a scan that
        // says `ok`. 30 s per rule and file; the whole run is bounded by `Limits::timeout`.
        let mut args: Vec<String> = [
            "scan",
            "--json",
            "--metrics=off",
            "--disable-version-check",
            "--quiet",
            "--timeout",
            "30",
        ]
        .map(String::from)
        .into();
        for rule in &rules {
            args.push("--config".to_owned());
            args.push(rule.clone());
        }
        args.push(path_arg(&root));
        let invocation = Invocation {
            binary: &binary,
            args,
            target: &root,
            reads: rules.iter().filter(|r| r.starts_with('/')).map(PathBuf::from).collect(),
            writes: Vec::new(),
            env: vec![
                ("SEMGREP_ENABLE_VERSION_CHECK", "0".to_owned()),
                ("SEMGREP_SEND_METRICS", "off".to_owned()),
            ],
            // Registry rules (`p/python`) are downloaded at every run.
            network: rules.iter().any(|r| !r.starts_with('/')),
        };
        let output = match run(&invocation, &self.limits, cancel).await {
            Ok(output) => output,
            Err(status) => return ended(Tool::Semgrep, status, started),
        };
        // Semgrep exits 0 with or without findings; 1 with `--error`; 2 and above on failure,
        // sometimes with a JSON report whose `errors` say why.
        let report = parse(&output.stdout, &rules, &root);
        let (status, findings) = match (output.code, report) {
            (Some(0 | 1), Ok(report)) => (ToolStatus::Ok, report.findings),
            (_, Ok(report)) if !report.errors.is_empty() => {
                (ToolStatus::Failed(report.errors.join("; ")), Vec::new())
            }
            (code, _) => {
                let code = code.map_or("a signal".to_owned(), |c| format!("status {c}"));
                (
                    ToolStatus::Failed(format!(
                        "semgrep ended with {code}: {}",
                        tail(&output.stderr)
                    )),
                    Vec::new(),
                )
            }
        };
        ToolRun { tool: Tool::Semgrep, status, findings, duration: started.elapsed() }
    }
}

/// Reads a Semgrep JSON report of a scan of `root`. `rules` are the `--config` values it ran
/// with: Semgrep prefixes each rule id with its file's folder, dotted, which is taken off again.
///
/// A fingerprint hashes the rule, the path, the matched code (read from `root`, whitespace
/// collapsed) and how many identical matches came before it in that file: it survives code moving
/// up or down, and two identical matches in one file stay two findings. Matches of one rule on the
/// same lines are one finding.
pub fn parse(json: &[u8], rules: &[String], root: &Path) -> Result<Report, SemgrepError> {
    let mut raw: RawReport = serde_json::from_slice(json)?;
    // A scan names the tree by its absolute path; findings are relative to it.
    let relative = |path: &mut String| {
        if let Ok(inner) = Path::new(path.as_str()).strip_prefix(root) {
            *path = inner.to_string_lossy().into_owned();
        }
    };
    raw.results.iter_mut().for_each(|r| relative(&mut r.path));
    raw.errors.iter_mut().filter_map(|e| e.path.as_mut()).for_each(relative);
    let prefixes: Vec<String> = rules.iter().filter_map(|r| rule_prefix(r)).collect();
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let mut files: HashMap<String, Vec<String>> = HashMap::new();
    let mut findings = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for result in &raw.results {
        // Two patterns of one rule may match overlapping code: one finding per rule and lines.
        let at =
            (result.check_id.as_str(), result.path.as_str(), result.start.line, result.end.line);
        if !reported.insert(at) {
            continue;
        }
        let lines = files.entry(result.path.clone()).or_insert_with(|| {
            let text = std::fs::read_to_string(root.join(&result.path)).unwrap_or_default();
            text.lines().map(String::from).collect()
        });
        let range = (result.start.line as usize).saturating_sub(1)..(result.end.line as usize);
        let matched = lines.get(range).unwrap_or_default().join(" ");
        let matched = matched.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut finding = result.finding(&prefixes);
        let key = (finding.rule_id.clone(), finding.path.clone(), matched);
        let occurrence = seen.entry(key.clone()).or_default();
        finding.fingerprint =
            fingerprint(&["semgrep", &key.0, &key.1, &key.2, &occurrence.to_string()]);
        *occurrence += 1;
        findings.push(finding);
    }
    let errors = raw.errors.iter().map(RawError::describe).collect();
    Ok(Report { findings, errors })
}

/// The real path of a rule file or folder; `None` for a registry id such as `p/python`.
fn local_rule(rule: &str) -> Option<String> {
    Path::new(rule).canonicalize().ok().map(|p| path_arg(&p))
}

/// The dotted folder Semgrep puts before the ids of the rules in `rule` (a file or a folder).
fn rule_prefix(rule: &str) -> Option<String> {
    let path = Path::new(rule);
    let folder = if path.is_dir() {
        path.canonicalize().ok()?
    } else {
        path.canonicalize().ok()?.parent()?.to_owned()
    };
    let dotted: Vec<String> = folder
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Some(format!("{}.", dotted.join(".")))
}

fn severity(semgrep: &str) -> Severity {
    match semgrep.to_ascii_uppercase().as_str() {
        "CRITICAL" => Severity::Critical,
        "ERROR" | "HIGH" => Severity::High,
        "WARNING" | "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        _ => Severity::Info,
    }
}

#[derive(Debug, Deserialize)]
struct RawReport {
    #[serde(default)]
    results: Vec<RawResult>,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Debug, Deserialize)]
struct RawResult {
    check_id: String,
    path: String,
    start: Position,
    end: Position,
    extra: Extra,
}

#[derive(Debug, Deserialize)]
struct Position {
    line: u32,
}

#[derive(Debug, Deserialize)]
struct Extra {
    message: String,
    severity: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct RawError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    long_msg: String,
    #[serde(default, rename = "type")]
    kind: serde_json::Value,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Debug, Deserialize)]
struct Span {
    file: String,
    start: Position,
}

impl RawError {
    /// `InvalidRuleSchemaError in rules.yml:2: One of these properties is missing: 'message'`.
    fn describe(&self) -> String {
        let kind = match &self.kind {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(parts) => {
                parts.first().and_then(|p| p.as_str()).unwrap_or("error").to_owned()
            }
            _ => "error".to_owned(),
        };
        let text = if self.long_msg.is_empty() { &self.message } else { &self.long_msg };
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        // Most errors say it all on their first line; an engine failure says
        // `Error while running rules: ` there and puts the reason (semgrep-core's stderr) below.
        let text = match first.trim_end() {
            first if first.ends_with(':') && !tail(rest).is_empty() => {
                format!("{first} {}", tail(rest).replace('\n', " / "))
            }
            first => first.to_owned(),
        };
        let place = match (&self.path, self.spans.first()) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(span)) => Some(format!("{}:{}", span.file, span.start.line)),
            (None, None) => None,
        };
        match place {
            Some(place) => format!("{kind} in {place}: {text}"),
            None => format!("{kind}: {text}"),
        }
    }
}

impl RawResult {
    fn finding(&self, prefixes: &[String]) -> Finding {
        let rule_id = prefixes
            .iter()
            .find_map(|p| self.check_id.strip_prefix(p.as_str()))
            .unwrap_or_else(|| crate::rules::canonical_id(&self.check_id))
            .to_owned();
        let metadata = &self.extra.metadata;
        let ids = |key: &str, wanted: &str| -> Vec<String> {
            let values = match &metadata[key] {
                serde_json::Value::String(one) => vec![one.clone()],
                serde_json::Value::Array(many) => {
                    many.iter().filter_map(|v| v.as_str().map(String::from)).collect()
                }
                _ => Vec::new(),
            };
            // "CWE-328: Use of Weak Hash" → "CWE-328".
            values
                .iter()
                .filter_map(|v| v.split(':').next().map(str::trim))
                .filter(|v| v.starts_with(wanted))
                .map(String::from)
                .collect()
        };
        let title = metadata["title"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| self.extra.message.lines().next().unwrap_or(&rule_id).to_owned());
        Finding {
            tool: Tool::Semgrep,
            category: if metadata["category"] == "secrets" {
                Category::Secret
            } else {
                Category::Code
            },
            severity: severity(&self.extra.severity),
            title,
            message: self.extra.message.clone(),
            path: self.path.trim_start_matches("./").to_owned(),
            start_line: Some(self.start.line),
            end_line: Some(self.end.line),
            cwe: ids("cwe", "CWE-"),
            cve: ids("cve", "CVE-"),
            package: None,
            // Set by `parse`, which reads the matched code.
            fingerprint: String::new(),
            url: metadata["source"].as_str().map(String::from),
            symbol: None,
            rule_id,
        }
    }
}
