//! `agentwatch scan`, and the scanners every face's scans run with: the configured tools, the
//! repository to scan prepared from the command line, and scans rendered as text.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexer::{IndexError, Indexer, JobState, RepoRecord, Source};
use knowledge::views::ScanView;
use knowledge::{ScanError, Scans};
use scanner::checkov::Checkov;
use scanner::semgrep::Semgrep;
use scanner::trivy::Trivy;
use scanner::{Finding, Limits, ReportFormat, ScanRecord, ScanState, Scanners, ToolRun};
use storage::Storage;

use crate::config::Config;
use crate::progress::Progress;

/// The scan service over the data dir's database and the configured tools.
pub fn open(
    config: &Config,
    storage: &Storage,
    indexer: Arc<Indexer>,
) -> Result<Arc<Scans>, ScanError> {
    Ok(Scans::open(storage, scanners(config)?, config.scan.max_concurrent, indexer))
}

/// The configured tools: Semgrep with the bundled rule pack (written into the data dir) and
/// any extra rules, Trivy for misconfigurations and secrets (and vulnerabilities online), and
/// Checkov for infrastructure as code.
fn scanners(config: &Config) -> Result<Scanners, ScanError> {
    let mut sandbox = scanner::Sandbox::new(config.scan.sandbox)?;
    sandbox.memory = config.scan.memory_mb << 20;
    match sandbox.isolation {
        scanner::Isolation::Bubblewrap(_) => tracing::info!("{}", sandbox.describe()),
        scanner::Isolation::Process => tracing::warn!("{}", sandbox.describe()),
    }
    let limits = Limits {
        timeout: Duration::from_secs(config.scan.timeout_secs),
        max_output: Limits::DEFAULT_MAX_OUTPUT,
        sandbox,
    };
    let bundled = scanner::rules::write_bundled(&config.data_dir)?;
    let mut rules = vec![bundled.to_string_lossy().into_owned()];
    rules.extend(config.scan.rules.iter().cloned());
    let mut trivy_scanners = vec!["misconfig".to_owned(), "secret".to_owned()];
    if !config.scan.offline {
        trivy_scanners.insert(0, "vuln".to_owned());
    }
    Ok(Scanners {
        semgrep: Some(Semgrep {
            binary: config.assets.semgrep_path(),
            rules,
            limits: limits.clone(),
        }),
        trivy: Some(Trivy {
            binary: config.assets.trivy_path(),
            scanners: trivy_scanners,
            offline: config.scan.offline,
            cache_dir: Some(config.data_dir.join("trivy-cache")),
            limits: limits.clone(),
        }),
        checkov: Some(Checkov { binary: config.assets.checkov_path(), limits }),
    })
}

/// The repository `target` names, indexed (structure only) or re-indexed first when it is a
/// local folder, so findings meet the graph of the code as it is on disk.
pub async fn prepare(indexer: &Arc<Indexer>, target: &str) -> anyhow::Result<RepoRecord> {
    let source = match indexer.find(target).await {
        Ok(repo) if repo.remote => return Ok(repo),
        Ok(repo) => Source::Local { path: PathBuf::from(&repo.source) },
        Err(IndexError::UnknownRepo(_)) => Source::parse(target)?,
        Err(e) => return Err(e.into()),
    };
    let branch = None;
    let status = indexer::finished(indexer.submit(source, branch, None).await?).await;
    if status.repo.status == JobState::Failed {
        anyhow::bail!(
            "indexing {} failed: {}",
            status.repo.source,
            status.repo.error.as_deref().unwrap_or("no reason given")
        );
    }
    Ok(indexer.find(&status.repo.id).await?)
}

/// The bytes of a report to import, with a message naming the file when it cannot be read.
pub fn read_report(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the report {}: {e}", path.display()))
}

/// How `agentwatch scan` prints its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Findings worst first, one per line with its message under it.
    Table,
    /// One object: `scan_id`, `status`, `tools`, `findings` (a public contract).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// `agentwatch scan`'s arguments.
#[derive(Debug, Clone)]
pub struct ScanArgs {
    pub target: String,
    pub format: Format,
    pub fail_on: Option<scanner::Severity>,
    pub import: Option<(PathBuf, ReportFormat)>,
}

/// The scan ran and found something at or above `--fail-on`: CI's gate closes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateClosed(pub String);

/// `agentwatch scan`: indexes the target if needed, scans it (or imports a report), stores the
/// scan and prints it. Fails when the scan fails, and closes the gate when `fail_on` is met.
pub async fn scan_command(config: &Config, args: ScanArgs) -> anyhow::Result<()> {
    let storage = config.storage().await?;
    let indexer = crate::indexing::open_indexer(config, &storage, false).await?;
    let repo = prepare(&indexer, &args.target).await?;
    let scans = open(config, &storage, indexer)?;
    let scan = match &args.import {
        Some((path, format)) => scans.import(&repo, *format, &read_report(path)?).await?,
        None => {
            // How long the last scan of this repository took says how long this one may.
            let last = scans.store().latest_done(&repo.id).await?;
            let expected = last.and_then(|s| {
                let took = s.finished_at? - s.created_at;
                Some(Duration::from_millis(u64::try_from(took).ok()?))
            });
            let (started, mut progress) = (Instant::now(), Progress::on_stderr());
            let run = scans.run(&repo);
            tokio::pin!(run);
            let mut ticks = tokio::time::interval(Duration::from_millis(250));
            let scan = loop {
                tokio::select! {
                    scan = &mut run => break scan?,
                    _ = ticks.tick() => progress.timed("scanning", started, expected),
                }
            };
            progress.end();
            scan
        }
    };
    let view = scans.view_of(&scan, &scanner::FindingFilter::default()).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&view)?),
        Format::Sarif => {
            let (findings, _) =
                scans.store().findings(&scan.id, &scanner::FindingFilter::default()).await?;
            let log = scanner::sarif::log(&runs(&scan, findings));
            println!("{}", serde_json::to_string_pretty(&log)?);
        }
        Format::Table => print!("{}", render(&repo.name, &view)),
    }
    if scan.state == ScanState::Failed {
        anyhow::bail!("the scan failed: {}", scan.error.as_deref().unwrap_or("no reason given"));
    }
    for tool in &scan.tools {
        if tool.status != scanner::ToolStatus::Ok {
            let why = tool.status.message().unwrap_or(tool.status.as_str());
            tracing::warn!("{} did not scan: {why}", tool.tool.as_str());
        }
    }
    let Some(threshold) = args.fail_on else { return Ok(()) };
    let broken: Vec<String> = scan
        .tools
        .iter()
        .filter(|t| {
            matches!(t.status, scanner::ToolStatus::Failed(_) | scanner::ToolStatus::TimedOut)
        })
        .map(|t| format!("{} {}", t.tool.as_str(), t.status.as_str().replace('_', " ")))
        .collect();
    if !broken.is_empty() {
        anyhow::bail!("the gate cannot pass on an incomplete scan: {}", broken.join(", "));
    }
    let over: u32 = scanner::Severity::ALL
        .iter()
        .filter(|s| **s >= threshold)
        .map(|s| view.counts.get(s.as_str()).copied().unwrap_or(0))
        .sum();
    if over > 0 {
        return Err(GateClosed(format!(
            "{over} finding{} at or above {threshold} (--fail-on {threshold})",
            if over == 1 { "" } else { "s" }
        ))
        .into());
    }
    Ok(())
}

/// The stored scan as tool runs again, for the SARIF export.
pub fn runs(scan: &ScanRecord, findings: Vec<Finding>) -> Vec<ToolRun> {
    let mut runs: Vec<ToolRun> = scan
        .tools
        .iter()
        .map(|t| ToolRun {
            tool: t.tool,
            status: t.status.clone(),
            findings: Vec::new(),
            duration: t.duration,
        })
        .collect();
    for finding in findings {
        if let Some(run) = runs.iter_mut().find(|r| r.tool == finding.tool) {
            run.findings.push(finding);
        }
    }
    runs
}

/// A scan as text for people and agents: a header line, each tool's outcome, then the findings
/// worst first, each with its place, its symbol and the first line of its message.
pub fn render(name: &str, scan: &ScanView) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let commit =
        scan.commit.as_deref().map_or(String::new(), |c| format!(" at {}", &c[..8.min(c.len())]));
    let _ = writeln!(out, "scan {} of {name}{commit}: {}", scan.scan_id, scan.status);
    let tools: Vec<String> = scan
        .tools
        .iter()
        .map(|t| match &t.message {
            Some(why) => format!("{} {} ({why})", t.tool, t.status),
            None => format!(
                "{} {} ({} findings, {:.1} s)",
                t.tool,
                t.status,
                t.findings,
                t.duration_ms as f64 / 1000.0
            ),
        })
        .collect();
    if !tools.is_empty() {
        let _ = writeln!(out, "tools: {}", tools.join(" · "));
    }
    if let Some(error) = &scan.error {
        let _ = writeln!(out, "error: {error}");
    }
    for f in &scan.findings {
        let line = f.start_line.map_or(String::new(), |l| format!(":{l}"));
        let symbol = f
            .symbol
            .as_ref()
            .map_or(String::new(), |s| format!("  in {} ({} callers)", s.name, s.callers));
        let new = if f.new { "  [new]" } else { "" };
        let _ = writeln!(
            out,
            "\n{:<8}  {}  {}{line}{symbol}{new}\n          {}: {}",
            f.severity,
            f.rule_id,
            f.path,
            f.tool,
            f.message.lines().next().unwrap_or_default()
        );
    }
    if scan.status != "done" {
        return out;
    }
    let by_severity: Vec<String> = ["critical", "high", "medium", "low", "info"]
        .iter()
        .map(|s| format!("{} {s}", scan.counts.get(*s).copied().unwrap_or(0)))
        .collect();
    let _ = write!(out, "\n{} findings: {}", scan.total_findings, by_severity.join(", "));
    match &scan.previous_scan_id {
        Some(previous) => {
            let (new, fixed) = (scan.new_findings, scan.fixed.len());
            let _ = writeln!(out, "; {new} new, {fixed} fixed since {previous}");
        }
        None => out.push('\n'),
    }
    out
}
