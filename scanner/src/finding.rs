//! One finding, whichever scanner reported it.

use std::str::FromStr;

use crate::Severity;

/// The scanners whose findings AgentWatch understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    Semgrep,
    Trivy,
    Checkov,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Semgrep, Tool::Trivy, Tool::Checkov];

    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Semgrep => "semgrep",
            Tool::Trivy => "trivy",
            Tool::Checkov => "checkov",
        }
    }
}

/// The error for a tool name that is not one of [`Tool::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown tool `{0}`: expected semgrep, trivy or checkov")]
pub struct UnknownTool(pub String);

impl FromStr for Tool {
    type Err = UnknownTool;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tool::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTool(s.to_owned()))
    }
}

/// What a finding is about: code, configuration, a committed secret, or a vulnerable dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Code,
    Misconfiguration,
    Secret,
    Vulnerability,
}

impl Category {
    pub const ALL: [Category; 4] =
        [Category::Code, Category::Misconfiguration, Category::Secret, Category::Vulnerability];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Code => "code",
            Category::Misconfiguration => "misconfiguration",
            Category::Secret => "secret",
            Category::Vulnerability => "vulnerability",
        }
    }
}

/// A vulnerable dependency: the package, the version installed and the first that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
}

/// A finding in one shape for every tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub tool: Tool,
    pub category: Category,
    /// The tool's rule or advisory id (`KSV-0001`, `CVE-2019-14806`, `aws-access-key-id`).
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    /// What is wrong here, and how to fix it when the tool says. Never holds a secret in full.
    pub message: String,
    /// Relative to the scanned folder.
    pub path: String,
    /// 1-based, inclusive; absent when the tool names only the file.
    pub start_line: Option<u32>,
    pub end_line: Option<u32>,
    pub cwe: Vec<String>,
    pub cve: Vec<String>,
    pub package: Option<Package>,
    /// Stable across re-scans of unchanged code even when lines move: a hash of the tool, rule,
    /// path and what was found (the package and version, the resource, the masked match) — never
    /// of line numbers.
    pub fingerprint: String,
    /// More to read about the rule.
    pub url: Option<String>,
    /// The innermost symbol of the code graph holding the finding, once attached.
    pub symbol: Option<EnclosingSymbol>,
}

/// The symbol a finding sits in, and how many places call it: how far a flaw can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclosingSymbol {
    /// `path::Qualified::name`, as the knowledge tools name symbols.
    pub id: String,
    pub kind: String,
    /// The qualified name (`Shortener::shorten`).
    pub name: String,
    /// Distinct symbols that call it directly.
    pub callers: u32,
}

/// A fingerprint from the parts that identify a finding.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher.finalize().to_hex()[..32].to_owned()
}
