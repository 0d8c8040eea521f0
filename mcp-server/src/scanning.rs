//! Security scans of indexed repositories: the tools run on the checkout, each finding tied to
//! the symbol that holds it and that symbol's callers, everything stored per repository and
//! commit. One service for the CLI (`agentwatch scan`), MCP and REST.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexer::{IndexError, Indexer, JobState, RepoGraph, RepoRecord, Source};
use scanner::checkov::Checkov;
use scanner::semgrep::Semgrep;
use scanner::trivy::Trivy;
use scanner::{
    EnclosingSymbol, Finding, Limits, ReportFormat, ScanRecord, ScanState, ScanStore,
    ScanStoreError, Scanners, ToolRun,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::views::ScanView;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "repository {0} is not indexed yet: index it first (index_repository, or `agentwatch index`), then scan"
    )]
    NotIndexed(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] ScanStoreError),
    #[error("cannot read the report: {0}")]
    Import(#[from] scanner::ImportError),
    #[error("cannot prepare the scan: {0}")]
    Io(#[from] std::io::Error),
    #[error("repository {0} has no finished scan yet: run a security scan first")]
    NoScan(String),
    #[error(transparent)]
    Sandbox(#[from] scanner::SandboxUnavailable),
}

/// Runs scans and keeps their results.
#[derive(Debug)]
pub struct Scans {
    indexer: Arc<Indexer>,
    store: ScanStore,
    scanners: Scanners,
    /// Scans in flight by id.
    running: Mutex<HashMap<String, Running>>,
    /// Held while a scan is looked up among the running ones and, if none, created: two
    /// requests for the same scan cannot both start one.
    submitting: tokio::sync::Mutex<()>,
    /// One permit per scan that may run at once (`scan.max_concurrent`); the rest wait queued.
    permits: tokio::sync::Semaphore,
}

/// A scan in flight: what it scans, its outcome once it ends, and how to stop it.
#[derive(Debug)]
struct Running {
    repo_id: String,
    commit: Option<String>,
    outcome: watch::Receiver<ScanRecord>,
    cancel: CancellationToken,
}

impl Scans {
    /// The scan service over the configured data dir. The indexer must be open (it owns the
    /// repositories that scans belong to).
    pub async fn open(config: &Config, indexer: Arc<Indexer>) -> Result<Arc<Scans>, ScanError> {
        let store = ScanStore::open(&config.data_dir.join("agentwatch.db")).await?;
        Ok(Arc::new(Scans {
            indexer,
            store,
            scanners: scanners(config)?,
            running: Mutex::default(),
            submitting: tokio::sync::Mutex::default(),
            permits: tokio::sync::Semaphore::new(config.scan.max_concurrent),
        }))
    }

    pub fn store(&self) -> &ScanStore {
        &self.store
    }

    pub fn indexer(&self) -> &Arc<Indexer> {
        &self.indexer
    }

    /// Queues a scan of an indexed repository and returns it at once; it runs in the background.
    /// While a scan of the same repository and commit is queued or running, that scan is
    /// returned instead: a second request joins it.
    pub async fn submit(self: &Arc<Self>, repo: &RepoRecord) -> Result<ScanRecord, ScanError> {
        let _submitting = self.submitting.lock().await;
        if let Some(id) = self.running_scan_of(repo) {
            return self.get(&id).await;
        }
        let record = self.create(repo).await?;
        let (tx, outcome) = watch::channel(record.clone());
        let cancel = CancellationToken::new();
        let running = Running {
            repo_id: repo.id.clone(),
            commit: repo.commit.clone(),
            outcome,
            cancel: cancel.clone(),
        };
        self.running.lock().expect("scans lock").insert(record.id.clone(), running);
        let this = Arc::clone(self);
        let (id, repo) = (record.id.clone(), repo.clone());
        tokio::spawn(async move {
            let _ = tx.send(this.execute(&id, &repo, &cancel).await);
            this.running.lock().expect("scans lock").remove(&id);
        });
        Ok(record)
    }

    /// Scans an indexed repository and returns the finished scan (joining one in flight).
    pub async fn run(self: &Arc<Self>, repo: &RepoRecord) -> Result<ScanRecord, ScanError> {
        let scan = self.submit(repo).await?;
        self.wait(&scan.id, Duration::MAX).await
    }

    /// The scan of `repo` at its current commit that is queued or running, if any.
    fn running_scan_of(&self, repo: &RepoRecord) -> Option<String> {
        let running = self.running.lock().expect("scans lock");
        running
            .iter()
            .find(|(_, r)| r.repo_id == repo.id && r.commit == repo.commit)
            .map(|(id, _)| id.clone())
    }

    /// Stores a report made elsewhere as a scan of `repo`, exactly as if it had run here.
    pub async fn import(
        &self,
        repo: &RepoRecord,
        format: ReportFormat,
        report: &[u8],
    ) -> Result<ScanRecord, ScanError> {
        let mut runs = scanner::import(format, report, &repo.checkout)?;
        let record =
            self.store.create(&repo.id, repo.commit.as_deref(), scanner::Origin::Import).await?;
        let graph = self.indexer.graph(&repo.id).await?;
        for run in &mut runs {
            attach(&graph, &mut run.findings);
        }
        self.store.finish(&record.id, &runs).await?;
        self.get(&record.id).await
    }

    /// A scan as the store has it (a running scan's state is stored as it changes).
    pub async fn get(&self, id: &str) -> Result<ScanRecord, ScanError> {
        Ok(self.store.get(id).await?.ok_or_else(|| ScanStoreError::UnknownScan(id.to_owned()))?)
    }

    /// Waits up to `timeout` for a scan to end, and returns it as it is then.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<ScanRecord, ScanError> {
        let rx = self.running.lock().expect("scans lock").get(id).map(|r| r.outcome.clone());
        if let Some(mut rx) = rx {
            let _ = tokio::time::timeout(timeout, rx.wait_for(|s| s.state.is_final())).await;
        }
        self.get(id).await
    }

    /// A scan of `repo` (the given one, or the newest finished) with the page of its findings
    /// that `filter` selects, marked new against the scan before it.
    pub async fn view(
        &self,
        repo: &RepoRecord,
        scan_id: Option<&str>,
        filter: &scanner::FindingFilter,
    ) -> Result<ScanView, ScanError> {
        let scan = match scan_id {
            Some(id) => {
                let scan = self.get(id).await?;
                if scan.repo_id != repo.id {
                    return Err(ScanStoreError::UnknownScan(id.to_owned()).into());
                }
                scan
            }
            None => self
                .store
                .latest_done(&repo.id)
                .await?
                .ok_or_else(|| ScanError::NoScan(repo.id.clone()))?,
        };
        self.view_of(&scan, filter).await
    }

    /// A scan as clients see it, with the page of findings `filter` selects.
    pub async fn view_of(
        &self,
        scan: &ScanRecord,
        filter: &scanner::FindingFilter,
    ) -> Result<ScanView, ScanError> {
        let (findings, total) = self.store.findings(&scan.id, filter).await?;
        let diff = self.store.diff(scan).await?;
        let counts = self.store.counts(&scan.id).await?;
        Ok(ScanView::new(scan, &findings, total, &diff, &counts))
    }

    /// Scans the repository of an index job once its structure is indexed (the graph that
    /// findings attach to); nothing when the job fails.
    pub fn scan_when_indexed(self: &Arc<Self>, mut job: watch::Receiver<indexer::JobStatus>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let ready = job
                .wait_for(|s| {
                    matches!(
                        s.repo.status,
                        JobState::Embedding | JobState::Ready | JobState::Failed
                    )
                })
                .await
                .map(|s| s.clone());
            let Ok(status) = ready else { return };
            if status.repo.status == JobState::Failed {
                return;
            }
            let submitted = match this.indexer.find(&status.repo.id).await {
                Ok(repo) => this.submit(&repo).await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = submitted {
                tracing::warn!(repo = %status.repo.id, "cannot scan after indexing: {e}");
            }
        });
    }

    /// Stops the scans in flight (at shutdown) and waits a little for each to be stored as
    /// `failed`, saying it was cancelled, rather than left `running`.
    pub async fn cancel_all(&self) {
        let running: Vec<_> = {
            let running = self.running.lock().expect("scans lock");
            running.values().map(|r| (r.outcome.clone(), r.cancel.clone())).collect()
        };
        for (_, cancel) in &running {
            cancel.cancel();
        }
        for (mut rx, _) in running {
            let ended = rx.wait_for(|s| s.state.is_final());
            let _ = tokio::time::timeout(Duration::from_secs(5), ended).await;
        }
    }

    async fn create(&self, repo: &RepoRecord) -> Result<ScanRecord, ScanError> {
        // Scans belong to a stored repository whose structure was indexed at least once.
        if repo.indexed_at.is_none() {
            return Err(ScanError::NotIndexed(repo.id.clone()));
        }
        Ok(self.store.create(&repo.id, repo.commit.as_deref(), scanner::Origin::Run).await?)
    }

    /// Runs the tools, ties findings to the graph and stores the outcome. Never fails: a scan
    /// that cannot run is stored as `failed`, with the reason.
    async fn execute(&self, id: &str, repo: &RepoRecord, cancel: &CancellationToken) -> ScanRecord {
        let outcome = async {
            // Queued until a permit is free; a cancellation while waiting ends it.
            let _permit = tokio::select! {
                permit = self.permits.acquire() => permit.expect("the semaphore is never closed"),
                () = cancel.cancelled() => {
                    return Err(ScanError::Io(std::io::Error::other("the scan was cancelled")));
                }
            };
            self.store.start(id).await?;
            if !repo.checkout.is_dir() {
                return Err(ScanError::Io(std::io::Error::other(format!(
                    "the checkout {} is gone: index the repository again",
                    repo.checkout.display()
                ))));
            }
            let mut runs: Vec<ToolRun> = self.scanners.run(&repo.checkout, cancel).await;
            if cancel.is_cancelled() {
                return Err(ScanError::Io(std::io::Error::other("the scan was cancelled")));
            }
            let graph = self.indexer.graph(&repo.id).await?;
            for run in &mut runs {
                attach(&graph, &mut run.findings);
            }
            self.store.finish(id, &runs).await?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(scan = id, repo = %repo.id, "scan failed: {e}");
            if let Err(e) = self.store.fail(id, &e.to_string()).await {
                tracing::error!(scan = id, "cannot record the end of a scan: {e}");
            }
        }
        match self.store.get(id).await {
            Ok(Some(record)) => record,
            _ => ScanRecord {
                id: id.to_owned(),
                repo_id: repo.id.clone(),
                commit: repo.commit.clone(),
                origin: scanner::Origin::Run,
                state: ScanState::Failed,
                error: Some("the scan's outcome could not be stored".to_owned()),
                created_at: 0,
                finished_at: None,
                tools: Vec::new(),
            },
        }
    }
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

/// Ties each finding with a line to the innermost symbol holding it, and counts that symbol's
/// direct callers.
pub fn attach(graph: &RepoGraph, findings: &mut [Finding]) {
    for finding in findings {
        let Some(line) = finding.start_line else { continue };
        let Some(symbol) = graph.symbol_at(&finding.path, line) else { continue };
        let facts = graph.symbol(symbol);
        finding.symbol = Some(EnclosingSymbol {
            id: graph.display(symbol),
            kind: facts.kind.as_str().to_owned(),
            name: facts.qualified.clone(),
            callers: graph.callers(symbol, 1).len() as u32,
        });
    }
}

/// The finding filter a client asked for, from its words: `severity` (this or worse) and `tool`
/// by name; an unknown name is an error that lists the known ones.
pub fn finding_filter(
    severity: Option<&str>,
    tool: Option<&str>,
    path: Option<String>,
    symbol: Option<String>,
    limit: usize,
    offset: usize,
) -> Result<scanner::FindingFilter, String> {
    Ok(scanner::FindingFilter {
        min_severity: severity
            .map(str::parse)
            .transpose()
            .map_err(|e: scanner::UnknownSeverity| e.to_string())?,
        tools: tool
            .map(str::parse)
            .transpose()
            .map_err(|e: scanner::UnknownTool| e.to_string())?
            .into_iter()
            .collect(),
        path,
        symbol,
        limit: Some(limit),
        offset,
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
    let indexer = crate::indexing::open_indexer(config, false).await?;
    let repo = prepare(&indexer, &args.target).await?;
    let scans = Scans::open(config, indexer).await?;
    let scan = match &args.import {
        Some((path, format)) => scans.import(&repo, *format, &read_report(path)?).await?,
        None => scans.run(&repo).await?,
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
