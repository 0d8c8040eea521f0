//! A scan: the configured tools run side by side on one folder, or a report made elsewhere read
//! in as if they had run here.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::finding::Tool;
use crate::run::{ToolRun, ToolStatus};
use crate::semgrep::Semgrep;
use crate::trivy::Trivy;

/// The tools a scan runs; a tool left out is not run (and not reported).
#[derive(Debug, Clone, Default)]
pub struct Scanners {
    pub semgrep: Option<Semgrep>,
    pub trivy: Option<Trivy>,
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
        let (semgrep, trivy) = tokio::join!(semgrep, trivy);
        [semgrep, trivy].into_iter().flatten().collect()
    }
}

/// The report formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `semgrep scan --json`.
    Semgrep,
    /// `trivy fs|image|repo --format json` (schema version 2).
    Trivy,
}

impl FromStr for ReportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "semgrep" => Ok(ReportFormat::Semgrep),
            "trivy" => Ok(ReportFormat::Trivy),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot import `{0}` reports: use --tool semgrep or --tool trivy")]
pub struct UnknownFormat(pub String);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Semgrep(#[from] crate::semgrep::SemgrepError),
    #[error(transparent)]
    Trivy(#[from] crate::trivy::TrivyError),
}

/// Reads a report of a scan of `root` that ran elsewhere, as the run it would have been here.
/// Paths in the report are taken relative to `root` (where the tool ran in CI).
pub fn import(format: ReportFormat, report: &[u8], root: &Path) -> Result<ToolRun, ImportError> {
    let (tool, findings) = match format {
        // The report's own errors (a file it could not parse) did not stop that scan either.
        ReportFormat::Semgrep => {
            (Tool::Semgrep, crate::semgrep::parse(report, &[], root)?.findings)
        }
        ReportFormat::Trivy => (Tool::Trivy, crate::trivy::parse(report)?),
    };
    Ok(ToolRun { tool, status: ToolStatus::Ok, findings, duration: Duration::ZERO })
}
