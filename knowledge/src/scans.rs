//! Security scans of indexed repositories: the tools run on the checkout, each finding tied to
//! the symbol that holds it and that symbol's callers, everything stored per repository and
//! commit. One service for every face.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexer::{IndexError, Indexer, JobState, RepoGraph, RepoRecord};
use scanner::{
    Claimed, EnclosingSymbol, Finding, ReportFormat, ScanRecord, ScanState, ScanStore,
    ScanStoreError, Scanners, ToolRun,
};
use storage::Storage;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
    /// This process, as the holder of the scans it runs (`pid N`).
    holder: String,
    /// How long a scan stays held without a renewal: when the process running it is gone,
    /// another may fail it and start anew.
    lease: Duration,
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
    /// The scan service over the data dir's database, running `scanners`, at most
    /// `max_concurrent` scans at once. The indexer must be open (it owns the repositories that
    /// scans belong to).
    pub fn open(
        storage: &Storage,
        scanners: Scanners,
        max_concurrent: usize,
        indexer: Arc<Indexer>,
    ) -> Arc<Scans> {
        Arc::new(Scans {
            indexer,
            store: ScanStore::new(storage),
            scanners,
            running: Mutex::default(),
            submitting: tokio::sync::Mutex::default(),
            permits: tokio::sync::Semaphore::new(max_concurrent),
            holder: format!("pid {}", std::process::id()),
            lease: indexer::LEASE,
        })
    }

    pub fn store(&self) -> &ScanStore {
        &self.store
    }

    /// Queues a scan of an indexed repository and returns it at once; it runs in the background.
    /// While a scan of the same repository and commit is queued or running, here or in another
    /// process on the database, that scan is returned instead: a second request joins it.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        repo: &RepoRecord,
    ) -> Result<ScanRecord, ScanError> {
        let _submitting = self.submitting.lock().await;
        if let Some(id) = self.running_scan_of(repo) {
            return self.get(&id).await;
        }
        // Scans belong to a stored repository whose structure was indexed at least once.
        if repo.indexed_at.is_none() {
            return Err(ScanError::NotIndexed(repo.id.clone()));
        }
        let commit = repo.commit.as_deref();
        let record = match self.store.claim(&repo.id, commit, &self.holder, self.lease).await? {
            Claimed::New(record) => record,
            Claimed::Joined(record) => return Ok(record),
        };
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
            let renewing = tokio::spawn(Arc::clone(&this).renew(id.clone()));
            let _ = tx.send(this.execute(&id, &repo, &cancel).await);
            renewing.abort();
            this.running.lock().expect("scans lock").remove(&id);
        });
        Ok(record)
    }

    /// Renews this process's lease of scan `id` until it ends.
    async fn renew(self: Arc<Self>, id: String) {
        let mut every = tokio::time::interval(self.lease / 3);
        every.tick().await;
        loop {
            every.tick().await;
            match self.store.renew(&id, &self.holder, self.lease).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => tracing::warn!(scan = id, "cannot renew a scan's lease: {e}"),
            }
        }
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
    pub(crate) async fn get(&self, id: &str) -> Result<ScanRecord, ScanError> {
        Ok(self.store.get(id).await?.ok_or_else(|| ScanStoreError::UnknownScan(id.to_owned()))?)
    }

    /// Waits up to `timeout` for a scan to end, and returns it as it is then. A scan another
    /// process runs is looked at in the store every quarter second.
    pub(crate) async fn wait(&self, id: &str, timeout: Duration) -> Result<ScanRecord, ScanError> {
        let rx = self.running.lock().expect("scans lock").get(id).map(|r| r.outcome.clone());
        if let Some(mut rx) = rx {
            let _ = tokio::time::timeout(timeout, rx.wait_for(|s| s.state.is_final())).await;
            return self.get(id).await;
        }
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        loop {
            let scan = self.get(id).await?;
            let now = tokio::time::Instant::now();
            if scan.state.is_final() || deadline.is_some_and(|d| now >= d) {
                return Ok(scan);
            }
            let nap = Duration::from_millis(250);
            tokio::time::sleep(deadline.map_or(nap, |d| nap.min(d - now))).await;
        }
    }

    /// A scan of `repo` (the given one, or the newest finished) with the page of its findings
    /// that `filter` selects, marked new against the scan before it.
    pub(crate) async fn view(
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
    pub(crate) fn scan_when_indexed(
        self: &Arc<Self>,
        mut job: watch::Receiver<indexer::JobStatus>,
    ) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let ready = job.wait_for(|s| s.repo.status.is_usable()).await.map(|s| s.clone());
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

    /// Runs the tools, ties findings to the graph and stores the outcome. Never fails: a scan
    /// that cannot run is stored as `failed`, with the reason.
    async fn execute(&self, id: &str, repo: &RepoRecord, cancel: &CancellationToken) -> ScanRecord {
        let started = std::time::Instant::now();
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
            Ok(runs)
        }
        .await;
        match &outcome {
            Ok(runs) => crate::metrics::scan(false, runs, started.elapsed()),
            Err(_) => crate::metrics::scan(true, &[], started.elapsed()),
        }
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

/// Ties each finding with a line to the innermost symbol holding it, and counts that symbol's
/// direct callers.
fn attach(graph: &RepoGraph, findings: &mut [Finding]) {
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
