//! Runs security scanners (Semgrep, Trivy, …) and normalises their findings into one shape.
//!
//! Invariant: no HTTP, MCP or JSON wire formats of our own here; the server crates own those.
//! The scanners' own report formats are read here: that is this crate's job.

pub mod checkov;
mod finding;
pub mod rules;
mod run;
pub mod sandbox;
pub mod sarif;
pub mod scan;
pub mod semgrep;
pub mod store;
pub mod trivy;

pub use finding::{Category, EnclosingSymbol, Finding, Package, Tool, UnknownTool};
pub use run::{Limits, ToolRun, ToolStatus};
pub use sandbox::{Isolation, Sandbox, SandboxMode, SandboxUnavailable};
pub use scan::{ImportError, ReportFormat, Scanners, import};
pub use store::{
    Claimed, FindingFilter, Origin, ScanDiff, ScanRecord, ScanState, ScanStore, ScanStoreError,
    ToolSummary,
};

use std::fmt;
use std::str::FromStr;

/// How bad a finding is, mapped consistently across tools. Ordered from least to most severe, so
/// `severity >= Severity::High` reads as "high or worse".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a severity name that is not one of [`Severity::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown severity `{0}`: expected one of critical, high, medium, low, info")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_case_insensitively_and_order_by_badness() {
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        let err = "urgent".parse::<Severity>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown severity `urgent`: expected one of critical, high, medium, low, info"
        );
    }
}
