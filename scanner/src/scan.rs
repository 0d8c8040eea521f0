//! A scan: the configured tools run side by side on one folder, or a report made elsewhere read
//! in as if they had run here.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::checkov::Checkov;
use crate::finding::Tool;
use crate::run::{ToolRun, ToolStatus};
use crate::semgrep::Semgrep;
use crate::trivy::Trivy;

/// The tools a scan runs; a tool left out is not run (and not reported).
#[derive(Debug, Clone, Default)]
pub struct Scanners {
    pub semgrep: Option<Semgrep>,
    pub trivy: Option<Trivy>,
    pub checkov: Option<Checkov>,
}

impl Scanners {
    /// Runs every configured tool on `dir` at once and returns their runs in [`Tool::ALL`]
    /// order. A tool that fails, is missing or times out does not stop the others.
    pub async fn run(&self, dir: &Path, cancel: &CancellationToken) -> Vec<ToolRun> {
        let semgrep = async {
            match &self.semgrep {
                Some(semgrep) => Some(semgrep.scan(dir, cancel).await),
                None => None,
            }
        };
        let trivy = async {
            match &self.trivy {
                Some(trivy) => Some(trivy.scan(dir, cancel).await),
                None => None,
            }
        };
        let checkov = async {
            match &self.checkov {
                Some(checkov) => Some(checkov.scan(dir, cancel).await),
                None => None,
            }
        };
        let (semgrep, trivy, checkov) = tokio::join!(semgrep, trivy, checkov);
        [semgrep, trivy, checkov].into_iter().flatten().collect()
    }
}

/// The report formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `semgrep scan --json`.
    Semgrep,
    /// `trivy fs|image|repo --format json` (schema version 2).
    Trivy,
    /// `checkov -d . -o json`.
    Checkov,
    /// SARIF 2.1.0 from Semgrep, Trivy or Checkov (or AgentWatch's own export).
    Sarif,
}

impl FromStr for ReportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "semgrep" => Ok(ReportFormat::Semgrep),
            "trivy" => Ok(ReportFormat::Trivy),
            "checkov" => Ok(ReportFormat::Checkov),
            "sarif" => Ok(ReportFormat::Sarif),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot import `{0}` reports: use --tool semgrep, trivy, checkov or sarif")]
pub struct UnknownFormat(pub String);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Semgrep(#[from] crate::semgrep::SemgrepError),
    #[error(transparent)]
    Trivy(#[from] crate::trivy::TrivyError),
    #[error(transparent)]
    Checkov(#[from] crate::checkov::CheckovError),
    #[error(transparent)]
    Sarif(#[from] crate::sarif::SarifError),
}

/// Reads a report of a scan of `root` that ran elsewhere, as the runs it would have been here (a
/// SARIF log may hold several tools). Paths in the report are taken relative to `root` (where the
/// tool ran in CI).
pub fn import(
    format: ReportFormat,
    report: &[u8],
    root: &Path,
) -> Result<Vec<ToolRun>, ImportError> {
    let ok = |tool, findings| ToolRun {
        tool,
        status: ToolStatus::Ok,
        findings,
        duration: Duration::ZERO,
    };
    Ok(match format {
        // The report's own errors (a file it could not parse) did not stop that scan either.
        ReportFormat::Semgrep => {
            vec![ok(Tool::Semgrep, crate::semgrep::parse(report, &[], root)?.findings)]
        }
        ReportFormat::Trivy => vec![ok(Tool::Trivy, crate::trivy::parse(report)?)],
        ReportFormat::Checkov => vec![ok(Tool::Checkov, crate::checkov::parse(report)?)],
        ReportFormat::Sarif => crate::sarif::parse(report)?,
    })
}
