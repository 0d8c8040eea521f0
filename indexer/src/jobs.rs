//! The indexing service: runs index jobs in the background with live status, stores their results,
//! and keeps each repository's graph ready for queries.
//!
//! A job moves through `queued → cloning → parsing → embedding → ready` (or `failed`). Once
//! parsing is done the graph and the lexical index answer queries; the embedding stage then gives
//! vectors to the chunks that have none, reusing any vector already computed for the same text.
//! A second request for a repository that is being indexed joins the running job. A failed
//! re-index keeps the previous index: nothing is deleted until the new facts are in.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use storage::Storage;
use tokio::sync::{RwLock, watch};

use crate::clone::{self, CloneOptions};
use crate::embed::{Embedder, VectorSpace};
use crate::fresh::IndexedFiles;
use crate::graph::RepoGraph;
use crate::graph::SourceFile;
use crate::pipeline::{IndexOptions, Pass, Previous, index_pass};
use crate::search::{self, Hit, SearchError, SearchIndex, SearchQuery};
use crate::source::{self, Checkout, Source, SourceError};
use crate::store::{ClaimedJob, IndexStats, RepoRecord, Store, StoreError, StoredFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Cloning,
    Parsing,
    Embedding,
    Ready,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Cloning => "cloning",
            JobState::Parsing => "parsing",
            JobState::Embedding => "embedding",
            JobState::Ready => "ready",
            JobState::Failed => "failed",
        }
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Ready | JobState::Failed)
    }

    /// Whether the job has got far enough to answer structural and lexical questions (its
    /// vectors may still be coming), or has ended.
    pub fn is_usable(self) -> bool {
        matches!(self, JobState::Embedding | JobState::Ready | JobState::Failed)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            JobState::Queued,
            JobState::Cloning,
            JobState::Parsing,
            JobState::Embedding,
            JobState::Ready,
            JobState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| format!("unknown job state {s}"))
    }
}

/// A job's live status.
#[derive(Debug, Clone)]
pub struct JobStatus {
    /// The repository as it will be stored; `repo.status` is the job's state.
    pub repo: RepoRecord,
    /// 0–100.
    pub progress: u8,
    /// Files read and parsed by this job (the rest were unchanged).
    pub files_parsed: u32,
    /// While embedding: chunks given vectors so far, of how many.
    pub chunks_embedded: u32,
    pub chunks_to_embed: u32,
    /// The running stage's own count: objects received while cloning, files parsed while
    /// parsing, chunks embedded while embedding.
    pub stage: Stage,
}

/// How far the running stage is, and how fast it goes.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    pub done: u64,
    /// 0 while not known yet.
    pub total: u64,
    pub started: Instant,
}

impl Stage {
    pub fn start() -> Stage {
        Stage { done: 0, total: 0, started: Instant::now() }
    }

    /// Units a second so far, once there is something to go by.
    pub fn rate(&self) -> Option<f64> {
        let seconds = self.started.elapsed().as_secs_f64();
        (self.done > 0 && seconds >= 0.2).then(|| self.done as f64 / seconds)
    }

    /// What is left at the rate so far.
    pub fn eta(&self) -> Option<std::time::Duration> {
        let left = self.total.checked_sub(self.done)?;
        let rate = self.rate()?;
        Some(std::time::Duration::from_secs_f64(left as f64 / rate))
    }
}

/// What the service needs; filled in by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// Where remote repositories are cloned (`<data_dir>/repos`).
    pub repos_dir: PathBuf,
    /// The data dir's database.
    pub storage: Storage,
    /// Where the LanceDB search index lives: a folder (`<data_dir>/lance`) or an object-store
    /// URL (`s3://bucket/prefix`).
    pub search_uri: String,
    pub options: IndexOptions,
    /// Credentials, limits and quotas of remote clones.
    pub clones: CloneOptions,
    /// The embedding model; without it, jobs end after parsing and only lexical search works.
    pub embedder: Option<Arc<Embedder>>,
    /// The model whose vectors the search index holds (its table is this model's), whether or
    /// not this process loads it: `embedder`'s, when there is one.
    pub vectors: VectorSpace,
}

impl IndexerConfig {
    /// The indexer of the data dir at `data_dir` (clones in `repos/`, the search index in
    /// `lance/`, facts in `storage`), with default options, no clone credentials and no
    /// embedding model: set the rest with struct update syntax.
    pub fn in_data_dir(data_dir: &std::path::Path, storage: Storage) -> IndexerConfig {
        IndexerConfig {
            repos_dir: data_dir.join("repos"),
            storage,
            search_uri: data_dir.join("lance").display().to_string(),
            options: IndexOptions::default(),
            clones: CloneOptions::default(),
            embedder: None,
            vectors: VectorSpace::local(),
        }
    }
}

/// Chunks embedded per write to the search index: each page is one ONNX Runtime call (sorted by
/// length inside it) and one LanceDB merge.
const EMBED_PAGE: usize = 512;

/// Where each stage starts on the job's 0–100 progress scale.
const PARSING_AT: u8 = 20;
const WRITING_AT: u8 = 70;
const EMBEDDING_AT: u8 = 75;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot walk the checkout: {0}")]
    Walk(#[from] crate::walk::WalkError),
    #[error("no repository {0:?} is indexed: list them with `agentwatch status`")]
    UnknownRepo(String),
    #[error("the indexing task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("repository {0} is being indexed: wait for the job to end, then remove it")]
    Busy(String),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error("{0}")]
    Refused(String),
    #[error(
        "the organization has {0} repositories indexed, its quota (index.max_repos_per_org): remove one first"
    )]
    OverQuota(usize),
    #[error(
        "semantic and hybrid search need the embedding model, which is not loaded (run scripts/setup.sh); lexical search works without it"
    )]
    NoEmbedder,
}

#[derive(Debug)]
pub struct Indexer {
    pub(crate) config: IndexerConfig,
    store: Store,
    pub(crate) search: SearchIndex,
    jobs: Mutex<HashMap<String, watch::Receiver<JobStatus>>>,
    graphs: RwLock<HashMap<String, Loaded<RepoGraph>>>,
    /// Each repository's indexed file hashes, for the `stale` flag; dropped when a job ends.
    indexed_files: RwLock<HashMap<String, Loaded<IndexedFiles>>>,
    /// Who this indexer's jobs claim repositories as (`Store::claim`): `pid N#k`.
    holder: String,
    /// Told the id of each repository whose job ends or whose settings change (for the
    /// watcher, `watch.rs`).
    changed: tokio::sync::broadcast::Sender<String>,
}

/// The claim, among repositories' in `index_leases`, of the process making or tidying the search
/// index's table.
pub const TIDYING: &str = "(search index)";

/// How long a job's claim on its repository lasts unless renewed (a third of it before it runs
/// out): a process that dies mid-job loses its claim this long after, and another process may
/// then index the repository.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// A job's claim on its repository among the processes sharing the data dir, renewed in the
/// background while it is held.
struct Lease {
    store: Store,
    repo: String,
    holder: String,
    renewing: tokio::task::JoinHandle<()>,
}

impl Lease {
    async fn release(self) {
        self.renewing.abort();
        if let Err(e) = self.store.release(&self.repo, &self.holder).await {
            // It runs out by itself.
            tracing::warn!(repo = %self.repo, "cannot release the repository's claim: {e}");
        }
    }
}

/// What this process holds in memory of a repository, and the generation of the stored tree it
/// came from: when the store's generation is newer, another process on the same data dir has
/// re-indexed the repository, and this is reloaded.
#[derive(Debug)]
struct Loaded<T> {
    generation: i64,
    value: Arc<T>,
}

impl<T> Loaded<T> {
    /// The value, if it is of `generation`.
    fn of(&self, generation: i64) -> Option<Arc<T>> {
        (self.generation == generation).then(|| Arc::clone(&self.value))
    }
}

impl Indexer {
    pub async fn open(config: IndexerConfig) -> Result<Arc<Indexer>, IndexError> {
        if let Some(embedder) = &config.embedder
            && embedder.space() != config.vectors
        {
            return Err(IndexError::Task(format!(
                "the embedder makes vectors of {}, but the index is configured for {}",
                embedder.space(),
                config.vectors
            )));
        }
        let store = Store::new(&config.storage);
        let search = SearchIndex::open(&config.search_uri, &config.vectors).await?;
        let indexer = Arc::new(Indexer {
            config,
            store,
            search,
            jobs: Mutex::new(HashMap::new()),
            graphs: RwLock::new(HashMap::new()),
            indexed_files: RwLock::new(HashMap::new()),
            holder: format!(
                "pid {}#{}",
                std::process::id(),
                OPENED.fetch_add(1, Ordering::Relaxed)
            ),
            changed: tokio::sync::broadcast::channel(64).0,
        });
        indexer.make_search_table().await?;
        Ok(indexer)
    }

    /// Makes the search index's table unless it exists, under the tidying claim: one process
    /// at a time, since two makings at once would have the later replace the earlier's table.
    async fn make_search_table(&self) -> Result<(), IndexError> {
        while !self.search.has_table().await? {
            if let Some(lease) = self.try_claim(TIDYING).await? {
                let made = self.search.make_table().await;
                lease.release().await;
                return Ok(made?);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The search index itself (chunks and files), for what reads it directly: benchmarks.
    pub fn search_index(&self) -> &SearchIndex {
        &self.search
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tells the id of each repository whose job ends, or whose settings change, from now on.
    pub(crate) fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changed.subscribe()
    }

    /// Records what was chosen for repository `id`; this process's watcher follows it at once
    /// (others on the data dir at their next look, within seconds).
    pub async fn save_settings(
        &self,
        id: &str,
        settings: &crate::store::RepoSettings,
    ) -> Result<(), IndexError> {
        self.store.save_settings(id, settings).await?;
        let _ = self.changed.send(id.to_owned());
        Ok(())
    }

    pub(crate) fn walk_options(&self) -> &crate::walk::WalkOptions {
        &self.config.options.walk
    }

    /// Chunks in the search index not yet folded into its full-text index.
    pub async fn untidied(&self) -> Result<usize, IndexError> {
        Ok(self.search.untidied().await?)
    }

    /// Whether semantic and hybrid search are available.
    pub fn can_embed(&self) -> bool {
        self.config.embedder.is_some()
    }

    /// Starts indexing `source` for `owner` (or joins the job already running for it) and returns
    /// the job's live status.
    pub async fn submit(
        self: &Arc<Self>,
        source: Source,
        branch: Option<String>,
        owner: Option<i64>,
    ) -> Result<watch::Receiver<JobStatus>, IndexError> {
        Ok(self.start(source, branch, owner, None).await?.0)
    }

    /// Starts a job as [`Indexer::submit`] does; for a plain folder (no git), `changed` names
    /// the only files (or folders) that may differ from the index, as a watcher saw them. Also
    /// says whether the job was started by this call (`false`: one already running was joined,
    /// and `changed` was not used).
    pub(crate) async fn start(
        self: &Arc<Self>,
        source: Source,
        branch: Option<String>,
        owner: Option<i64>,
        changed: Option<HashSet<String>>,
    ) -> Result<(watch::Receiver<JobStatus>, bool), IndexError> {
        let mut id = source.id(branch.as_deref(), owner);
        // A repository indexed when ids were shorter keeps its id, and so its checkout and rows.
        let legacy = Source::legacy_id(&id);
        if self.store.repo(&id).await?.is_none()
            && let Some(old) = self.store.repo(legacy).await?
            && old.source == source.location()
            && old.owner == owner
            && old.branch == branch
        {
            id = old.id;
        }
        if let Some(owner) = owner {
            self.admit(&source, &id, owner).await?;
        }
        let mut jobs = self.jobs.lock().expect("jobs lock");
        if let Some(running) = jobs.get(&id)
            && !running.borrow().repo.status.is_final()
        {
            return Ok((running.clone(), false));
        }
        let checkout = match &source {
            Source::Remote { .. } => self.config.repos_dir.join(&id),
            Source::Local { path } => path.clone(),
        };
        let repo = RepoRecord {
            id: id.clone(),
            name: source.name(),
            source: source.location(),
            remote: source.is_remote(),
            branch: branch.clone(),
            checkout,
            status: JobState::Queued,
            commit: None,
            dirty: Vec::new(),
            stats: IndexStats::default(),
            error: None,
            indexed_at: None,
            owner,
            vectors: None,
        };
        let (tx, rx) = watch::channel(JobStatus {
            repo,
            progress: 0,
            files_parsed: 0,
            chunks_embedded: 0,
            chunks_to_embed: 0,
            stage: Stage::start(),
        });
        jobs.insert(id, rx.clone());
        drop(jobs);
        tokio::spawn(crate::metrics::follow(rx.clone()));
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run(tx, source, branch, changed).await });
        Ok((rx, true))
    }

    /// Whether an organization may index `source` as repository `id`: over https, to a host
    /// that is not this machine or its network, within its repository quota.
    async fn admit(&self, source: &Source, id: &str, owner: i64) -> Result<(), IndexError> {
        if let Source::Remote { url } = source {
            let Some(rest) = url.strip_prefix("https://") else {
                return Err(IndexError::Refused(format!(
                    "{url}: an organization's repositories are cloned over https only; use the \
                     https:// URL"
                )));
            };
            let host = clone::host_of(rest);
            let egress = &self.config.clones.egress;
            let allowed = egress.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
            if !allowed && !Self::may_be_public(host).await {
                return Err(IndexError::Refused(format!(
                    "{url}: {host} is not on the public internet (it is, or resolves only to, \
                     loopback, private or link-local addresses); an operator can allow a \
                     self-hosted git server with index.allowed_hosts"
                )));
            }
        }
        let stored = self.store.repos().await?;
        if stored.iter().any(|r| r.id == id) {
            return Ok(()); // a re-index
        }
        let jobs = self.jobs.lock().expect("jobs lock");
        let starting = jobs
            .values()
            .map(|rx| rx.borrow())
            .filter(|s| s.repo.owner == Some(owner) && s.repo.id != id && !s.repo.status.is_final())
            .filter(|s| !stored.iter().any(|r| r.id == s.repo.id))
            .count();
        let held = stored.iter().filter(|r| r.owner == Some(owner)).count() + starting;
        let quota = self.config.clones.max_repos_per_org;
        if held >= quota {
            return Err(IndexError::OverQuota(quota));
        }
        Ok(())
    }

    /// Whether `host` may be on the public internet: an address that is, or a name that
    /// resolves to at least one public address. A name that does not resolve now may: the clone
    /// will say why it failed. This is the early answer, for a clear 4xx; the clone's egress
    /// proxy checks again as it connects, where a changed DNS answer cannot slip past.
    async fn may_be_public(host: &str) -> bool {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return netguard::is_public(ip);
        }
        let lookup = tokio::net::lookup_host((host, 443));
        match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
            Ok(Ok(addrs)) => {
                let addrs: Vec<std::net::SocketAddr> = addrs.collect();
                addrs.is_empty() || addrs.iter().any(|a| netguard::is_public(a.ip()))
            }
            _ => true,
        }
    }

    /// Runs a job once its repository is claimed: while another process's job holds it, this
    /// one stays `queued`, and then finds that job's work done.
    async fn run(
        self: Arc<Self>,
        tx: watch::Sender<JobStatus>,
        source: Source,
        branch: Option<String>,
        changed: Option<HashSet<String>>,
    ) {
        let (id, owner) = {
            let status = tx.borrow();
            (status.repo.id.clone(), status.repo.owner)
        };
        let lease = match self.claim(&id).await {
            Ok(lease) => lease,
            Err(e) => {
                tx.send_modify(|s| {
                    s.repo.status = JobState::Failed;
                    s.repo.error = Some(e.to_string());
                });
                return;
            }
        };
        // Written down so that another process finishes the job if this one dies; without it,
        // the job still runs, only nobody would take it over.
        let job = ClaimedJob { source: source.location(), branch: branch.clone(), owner };
        if let Err(e) = self.store.record_job(&id, &self.holder, &job).await {
            tracing::warn!(repo = id, "cannot record the job beside its claim: {e}");
        }
        let last = Arc::clone(&self).run_claimed(&tx, source, branch, changed).await;
        // Released before the end is told, so a job that follows never finds it held.
        lease.release().await;
        tx.send_replace(last);
        // Nobody listening is fine: only a watcher cares.
        let _ = self.changed.send(id);
    }

    /// Claims repository `id` for a job of this indexer, waiting while another holds it.
    async fn claim(&self, id: &str) -> Result<Lease, IndexError> {
        let mut told = false;
        loop {
            if let Some(lease) = self.try_claim(id).await? {
                return Ok(lease);
            }
            if !told {
                tracing::info!(repo = id, "another process is indexing the repository; waiting");
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Claims repository `id` if no other process's job holds it.
    async fn try_claim(&self, id: &str) -> Result<Option<Lease>, IndexError> {
        if self.store.claim(id, &self.holder, LEASE).await?.is_some() {
            return Ok(None);
        }
        let (store, repo, holder) = (self.store.clone(), id.to_owned(), self.holder.clone());
        let renewing = tokio::spawn({
            let (store, repo, holder) = (store.clone(), repo.clone(), holder.clone());
            async move {
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    if let Err(e) = store.claim(&repo, &holder, LEASE).await {
                        tracing::warn!(%repo, "cannot renew the repository's claim: {e}");
                    }
                }
            }
        });
        Ok(Some(Lease { store, repo, holder, renewing }))
    }

    /// Runs a claimed job; its final status, for `run` to tell.
    async fn run_claimed(
        self: Arc<Self>,
        tx: &watch::Sender<JobStatus>,
        source: Source,
        branch: Option<String>,
        changed: Option<HashSet<String>>,
    ) -> JobStatus {
        let started = Instant::now();
        // Read here, not in `submit`: no other job of this repository runs now, so this is the
        // outcome of the last one, whenever it ended.
        let id = tx.borrow().repo.id.clone();
        let previous = match self.store.repo(&id).await {
            Ok(previous) => previous,
            Err(e) => {
                let mut failed = tx.borrow().clone();
                failed.repo.status = JobState::Failed;
                failed.repo.error = Some(e.to_string());
                return failed;
            }
        };
        if let Some(previous) = &previous {
            tx.send_modify(|s| {
                // Readers keep the tree they have until the new one is in, with its graph.
                s.repo.checkout = previous.checkout.clone();
                s.repo.commit = previous.commit.clone();
                s.repo.dirty = previous.dirty.clone();
                s.repo.stats = previous.stats.clone();
                s.repo.indexed_at = previous.indexed_at;
            });
        }
        let result =
            self.index(tx, &source, branch.as_deref(), previous.as_ref(), changed, started).await;
        // Observers learn that the job ended only once its outcome is stored and queryable.
        let mut last = tx.borrow().clone();
        match result {
            // A fetch that found nothing new: the index stands as it was.
            Ok(None) => {
                last.repo = previous.clone().expect("only a stored repository is up to date");
                last.progress = 100;
            }
            Ok(Some((repo, files_parsed, graph))) => {
                // The new tree and the new graph are swapped in together.
                let mut graphs = self.graphs.write().await;
                if let Err(e) = self.store.save_repo(&repo).await {
                    tracing::warn!(repo = %repo.id, "cannot record the new index yet: {e}");
                }
                // Other processes on the data dir learn of the new tree by its generation; one
                // that cannot be recorded (-1) matches nothing, so the next query reloads.
                let generation = self.store.replaced(&repo.id).await.unwrap_or_else(|e| {
                    tracing::warn!(repo = %repo.id, "cannot record the new tree's generation: {e}");
                    -1
                });
                graphs.insert(repo.id.clone(), Loaded { generation, value: graph });
                drop(graphs);
                // File hashes cached before now are the old tree's: the next search reads anew.
                self.indexed_files.write().await.remove(&repo.id);
                last.repo = repo;
                last.files_parsed = files_parsed;
                last.progress = EMBEDDING_AT;
                last = self.embedding_stage(tx, last).await;
                last.repo.stats.duration_ms = started.elapsed().as_millis() as u64;
            }
            Err(e) => {
                last.repo.status = JobState::Failed;
                last.repo.error = Some(e.to_string());
                // The store may hold part of this job's work; the next query or job reloads.
                self.graphs.write().await.remove(&last.repo.id);
                self.indexed_files.write().await.remove(&last.repo.id);
            }
        }
        if let Err(e) = self.store.save_repo(&last.repo).await {
            tracing::error!(repo = %last.repo.id, "cannot record the end of an index job: {e}");
            last.repo.status = JobState::Failed;
            last.repo.error = Some(format!("the index could not be saved: {e}"));
        }
        let repo = &last.repo;
        match &repo.error {
            Some(error) => tracing::warn!(repo = %repo.id, "indexing failed: {error}"),
            None => tracing::info!(
                repo = %repo.id,
                files = repo.stats.files,
                parsed = last.files_parsed,
                symbols = repo.stats.symbols,
                duration_ms = repo.stats.duration_ms,
                "indexed"
            ),
        }
        last
    }

    /// Every `every` (a long-running process passes [`LEASE`]), resumes the jobs and the
    /// embedding that a process which died left undone, once its claim has run out: another
    /// process on the data dir takes the repository over without being asked.
    pub fn keep_resuming(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = this.resume_abandoned().await {
                    tracing::warn!("cannot look for jobs left undone: {e}");
                }
                if let Err(e) = this.resume_embedding().await {
                    tracing::warn!("cannot look for embedding left undone: {e}");
                }
            }
        })
    }

    /// Runs again each job whose process died before it ended (its claim ran out, unreleased):
    /// the same source, branch and owner, as if asked anew. Returns how many were started.
    pub async fn resume_abandoned(self: &Arc<Self>) -> Result<usize, IndexError> {
        let mut resumed = 0;
        for (id, holder, job) in self.store.abandoned_jobs().await? {
            tracing::info!(repo = id, %holder, "finishing a job whose process stopped");
            let submitted = match Source::parse(&job.source) {
                Ok(source) => self.submit(source, job.branch, job.owner).await.map(drop),
                Err(e) => Err(e.into()),
            };
            match submitted {
                Ok(()) => resumed += 1,
                Err(e) => {
                    // Asked anew, it would be refused the same way: it is let go.
                    tracing::warn!(repo = id, "a job left undone cannot be run again: {e}");
                    self.store.release(&id, &holder).await?;
                }
            }
        }
        Ok(resumed)
    }

    /// Finishes the embedding a stopped server left undone, and that a process without the
    /// model could not do: every stored repository still in the `embedding` state, or `ready`
    /// with chunks that have no vector, gets a job that embeds those chunks (the structural
    /// index is complete already). Returns how many were resumed. Without the model, nothing is.
    pub async fn resume_embedding(self: &Arc<Self>) -> Result<usize, IndexError> {
        if self.config.embedder.is_none() {
            return Ok(0);
        }
        let mut stuck: Vec<(RepoRecord, bool)> = Vec::new();
        for repo in self.store.repos().await? {
            // Last written to another model's table: its chunks are written to this one first.
            let elsewhere = repo.status == JobState::Ready
                && repo.stats.chunks > 0
                && repo.vector_table() != self.search.table_name();
            if repo.status == JobState::Embedding || repo.awaits_vectors() || elsewhere {
                stuck.push((repo, elsewhere));
            }
        }
        let mut resumed = 0;
        for (repo, elsewhere) in stuck {
            let id = repo.id.clone();
            let running = |jobs: &HashMap<String, watch::Receiver<JobStatus>>| {
                jobs.get(&id).is_some_and(|rx| !rx.borrow().repo.status.is_final())
            };
            if running(&self.jobs.lock().expect("jobs lock")) {
                continue;
            }
            // Another process sharing the data dir may be embedding it already.
            let Some(lease) = self.try_claim(&repo.id).await? else { continue };
            // Live from here on, whatever was stored: the job is running.
            let repo = RepoRecord { status: JobState::Embedding, ..repo };
            let status = JobStatus {
                repo,
                progress: EMBEDDING_AT,
                files_parsed: 0,
                chunks_embedded: 0,
                chunks_to_embed: 0,
                stage: Stage::start(),
            };
            let (tx, rx) = watch::channel(status.clone());
            let taken = {
                let mut jobs = self.jobs.lock().expect("jobs lock");
                // A job of this process may have started while the claim was being taken.
                let free = !running(&jobs);
                if free {
                    tokio::spawn(crate::metrics::follow(rx.clone()));
                    jobs.insert(status.repo.id.clone(), rx);
                }
                free
            };
            if !taken {
                lease.release().await;
                continue;
            }
            if elsewhere {
                let model = &self.config.vectors;
                tracing::info!(repo = %status.repo.id, "embedding with {model}, a model the repository was not embedded with");
            } else {
                tracing::info!(repo = %status.repo.id, "resuming the embedding of an interrupted job");
            }
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let mut last = match elsewhere {
                    true => match this.fill_table(&status.repo).await {
                        Ok(()) => {
                            let mut status = status;
                            status.repo.vectors = Some(this.search.table_name().to_owned());
                            this.embedding_stage(&tx, status).await
                        }
                        Err(e) => {
                            let mut failed = status;
                            failed.repo.status = JobState::Failed;
                            failed.repo.error = Some(format!(
                                "the chunks could not be written to {}'s search table: {e}; the code graph is up to date, and indexing again writes them",
                                this.config.vectors
                            ));
                            failed
                        }
                    },
                    false => this.embedding_stage(&tx, status).await,
                };
                if let Err(e) = this.store.save_repo(&last.repo).await {
                    last.repo.status = JobState::Failed;
                    last.repo.error = Some(format!("the index could not be saved: {e}"));
                }
                lease.release().await;
                let id = last.repo.id.clone();
                tx.send_replace(last);
                let _ = this.changed.send(id);
            });
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Writes every chunk of a repository indexed into another model's table into this one,
    /// from its stored facts and checkout (no parse): lexical search answers for it again, and
    /// the embedding stage gives the chunks this model's vectors.
    async fn fill_table(&self, repo: &RepoRecord) -> Result<(), IndexError> {
        let graph = self.graph(&repo.id).await?;
        let hashes = self.store.file_hashes(&repo.id).await?;
        let paths: Vec<String> = graph.files.iter().map(|f| f.path.clone()).collect();
        let (rows_graph, root, wanted) = (Arc::clone(&graph), repo.checkout.clone(), paths.clone());
        let rows = blocking(move || {
            let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
            search::rows_for(&rows_graph, &root, &wanted, &hashes)
        })
        .await?;
        self.search.replace(&repo.id, repo.commit.as_deref(), &paths, rows).await?;
        Ok(())
    }

    async fn index(
        &self,
        tx: &watch::Sender<JobStatus>,
        source: &Source,
        branch: Option<&str>,
        previous: Option<&RepoRecord>,
        hinted: Option<HashSet<String>>,
        started: Instant,
    ) -> Result<Option<(RepoRecord, u32, Arc<RepoGraph>)>, IndexError> {
        let set_state = |state: JobState, progress: u8| {
            tx.send_modify(|s| {
                if s.repo.status != state {
                    s.stage = Stage::start();
                }
                s.repo.status = state;
                s.progress = progress;
            });
        };
        let queued = tx.borrow().repo.clone();
        let id = queued.id.clone();
        self.store.save_repo(&queued).await?;

        let checkout: Checkout = match source {
            Source::Remote { url } => {
                set_state(JobState::Cloning, 0);
                let clones = &self.config.clones;
                // An organization's clone reaches only public addresses; credentials go only to
                // the host, and the owner, they were configured for.
                let credential = clones.credential_for(url, queued.owner).cloned();
                let egress = queued.owner.map(|_| clones.egress.clone());
                let current = previous.map(|p| p.checkout.clone());
                let (url, branch, repos_dir, id) = (
                    url.clone(),
                    branch.map(str::to_owned),
                    self.config.repos_dir.clone(),
                    id.clone(),
                );
                let (max_files, max_bytes) = (clones.max_files, clones.egress.max_bytes);
                let progress_tx = tx.clone();
                blocking(move || {
                    let request = clone::Sync {
                        url: &url,
                        branch: branch.as_deref(),
                        repos_dir: &repos_dir,
                        id: &id,
                        credential: credential.as_ref(),
                        egress: egress.as_ref(),
                        max_files,
                        max_bytes,
                        current: current.as_deref(),
                    };
                    clone::sync(&request, &mut |received, total| {
                        progress_tx.send_if_modified(|s| {
                            let progress = (received * u64::from(PARSING_AT) / total.max(1)) as u8;
                            // git reports every object; a watcher needs a word per percent.
                            let moved = s.progress != progress || received == total;
                            (s.stage.done, s.stage.total, s.progress) = (received, total, progress);
                            moved
                        });
                    })
                })
                .await??
            }
            Source::Local { path } => {
                let path = path.clone();
                blocking(move || source::open_local(&path)).await??
            }
        };
        // A clone's fetch that brought no new commit costs that round trip and nothing more
        // (unless its chunks are in another model's table only).
        if let Some(previous) = previous
            && source.is_remote()
            && previous.status == JobState::Ready
            && previous.commit == checkout.commit
            && previous.checkout == checkout.dir
            && previous.vector_table() == self.search.table_name()
        {
            return Ok(None);
        }

        set_state(JobState::Parsing, PARSING_AT);
        let hashes = self.store.file_hashes(&id).await?;
        // Changed since the last index: the diff from its commit to the work tree, plus the files
        // that were already uncommitted changes then (they may have been reverted since).
        let changed = match (previous.and_then(|p| p.commit.as_deref()), &checkout.commit) {
            (Some(old), Some(new)) if !hashes.is_empty() => {
                let (dir, old, new) = (checkout.dir.clone(), old.to_owned(), new.clone());
                let (repos_dir, id) = (self.config.repos_dir.clone(), id.clone());
                let remote = source.is_remote();
                let diff = blocking(move || match remote {
                    true => clone::changed_between(&repos_dir, &id, &old, &new),
                    false => source::changed_since(&dir, &old),
                })
                .await??;
                diff.map(|paths| {
                    let mut changed = HashSet::<String>::from_iter(paths);
                    changed.extend(previous.into_iter().flat_map(|p| p.dirty.iter().cloned()));
                    changed
                })
            }
            // A plain folder: what its watcher saw change, if a watcher started the job.
            (_, None) if !hashes.is_empty() => hinted,
            _ => None,
        };
        let previous_pass = Previous { hashes, changed };
        let (dir, options, progress_tx) =
            (checkout.dir.clone(), self.config.options.clone(), tx.clone());
        let pass: Pass = blocking(move || {
            index_pass(&dir, &options, &previous_pass, &|done, total| {
                let span = (WRITING_AT - PARSING_AT) as usize;
                let progress = PARSING_AT + (done * span / total.max(1)) as u8;
                progress_tx.send_if_modified(|s| {
                    let moved = s.progress != progress || done == total;
                    (s.stage.done, s.stage.total) = (done as u64, total as u64);
                    s.progress = progress;
                    moved
                });
            })
        })
        .await??;

        // What is uncommitted now, for the next run to look at again.
        let dirty = match &checkout.commit {
            Some(commit) if !source.is_remote() => {
                let (dir, commit) = (checkout.dir.clone(), commit.clone());
                blocking(move || source::changed_since(&dir, &commit)).await??.unwrap_or_default()
            }
            _ => Vec::new(), // a clone's trees are never edited
        };

        // The new graph, then the search index, then the facts: the store is written last, so if
        // anything fails before, the next run still sees these files as changed.
        set_state(JobState::Parsing, WRITING_AT);
        let graph = self.rebuild(&id, &pass).await?;

        // The search index: the changed files' chunks, or every chunk when it has none of this
        // repository yet (a first index, or a write that failed last time) or the repository was
        // last written to another embedding model's table.
        let mut hashes: HashMap<String, String> = HashMap::new();
        let mut paths: Vec<String> = pass
            .parsed
            .iter()
            .map(|f| f.path.clone())
            .chain(pass.deleted.iter().cloned())
            .collect();
        let elsewhere = previous.is_some_and(|p| p.vector_table() != self.search.table_name());
        // A repository new to this table, or indexed before the file index existed, gets all
        // of its rows written.
        if elsewhere
            || self.search.count(&id).await? == 0
            || self.search.count_files(&id).await? == 0
        {
            hashes = self.store.file_hashes(&id).await?;
            paths = graph.files.iter().map(|f| f.path.clone()).collect();
        }
        // This pass's hashes win over stored ones: they describe the files as just read.
        hashes.extend(pass.parsed.iter().map(|f| (f.path.clone(), f.hash.clone())));
        let (rows_graph, root, wanted) = (Arc::clone(&graph), checkout.dir.clone(), paths.clone());
        let rows = blocking(move || {
            let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
            search::rows_for(&rows_graph, &root, &wanted, &hashes)
        })
        .await?;
        self.search.replace(&id, checkout.commit.as_deref(), &paths, rows).await?;
        self.store.save_files(&id, &pass.parsed, &pass.deleted).await?;

        let stats = IndexStats {
            files: graph.files.len() as u32,
            skipped: pass.skipped.clone(),
            symbols: graph.symbol_count() as u32,
            nodes: graph.node_count() as u32,
            edges: graph.edge_count() as u32,
            lines: graph.lines(),
            duration_ms: started.elapsed().as_millis() as u64,
            errors: graph.diagnostics().into_iter().take(100).collect(),
            chunks: 0,
            embedded: 0,
        };
        let mut repo = tx.borrow().repo.clone();
        repo.status = JobState::Ready;
        repo.checkout = checkout.dir;
        repo.commit = checkout.commit;
        repo.dirty = dirty;
        repo.stats = stats;
        repo.error = None;
        repo.indexed_at = Some(unix_now());
        repo.vectors = Some(self.search.table_name().to_owned());
        Ok(Some((repo, pass.parsed.len() as u32, graph)))
    }

    /// Parsing is done: records that, so the graph and lexical search answer at once, then gives
    /// vectors to the repository's chunks that have none, and tidies the search index.
    async fn embedding_stage(
        &self,
        tx: &watch::Sender<JobStatus>,
        mut status: JobStatus,
    ) -> JobStatus {
        let id = status.repo.id.clone();
        let outcome = async {
            if let Some(embedder) = &self.config.embedder {
                status.repo.status = JobState::Embedding;
                status.stage = Stage::start();
                self.count_chunks(&mut status.repo).await?;
                self.store.save_repo(&status.repo).await?;
                tx.send_replace(status.clone());
                self.embed(tx, &id, Arc::clone(embedder)).await?;
            }
            // One process at a time tidies the table all repositories share (two compactions or
            // prunings at once conflict); one that finds it held leaves its new rows to the
            // holder's next pass, and they are searched as they are until then.
            if let Some(lease) = self.try_claim(TIDYING).await? {
                let tidied = self.search.optimize().await;
                lease.release().await;
                tidied?;
            }
            Ok::<_, IndexError>(())
        }
        .await;
        status.repo.status = JobState::Ready;
        if let Err(e) = outcome {
            status.repo.status = JobState::Failed;
            status.repo.error = Some(format!(
                "embedding or tidying the search index failed: {e}; lexical search and the code graph are up to date, and indexing again resumes it"
            ));
        }
        if let Err(e) = self.count_chunks(&mut status.repo).await {
            tracing::warn!(repo = %id, "cannot count the indexed chunks: {e}");
        }
        let live = tx.borrow();
        (status.chunks_embedded, status.chunks_to_embed) =
            (live.chunks_embedded, live.chunks_to_embed);
        status.progress = 100;
        status
    }

    async fn count_chunks(&self, repo: &mut RepoRecord) -> Result<(), IndexError> {
        let chunks = self.search.count(&repo.id).await?;
        let unembedded = self.search.count_unembedded(&repo.id).await?;
        repo.stats.chunks = chunks as u32;
        repo.stats.embedded = chunks.saturating_sub(unembedded) as u32;
        Ok(())
    }

    /// Embeds every chunk of `id` that has no vector, a page at a time, from one snapshot of the
    /// index. A text embedded before (in this repository or another) takes that vector.
    async fn embed(
        &self,
        tx: &watch::Sender<JobStatus>,
        id: &str,
        embedder: Arc<Embedder>,
    ) -> Result<(), IndexError> {
        let total = self.search.count_unembedded(id).await?;
        tx.send_modify(|s| {
            s.chunks_to_embed = total as u32;
            s.chunks_embedded = 0;
            s.stage = Stage { total: total as u64, ..Stage::start() };
        });
        let mut pages = self.search.unembedded(id, EMBED_PAGE).await?;
        let mut done = 0;
        while let Some(page) = pages.next().await {
            let page = page?;
            let hashes: Vec<String> = page.iter().map(|c| c.hash.clone()).collect();
            let mut vectors = self.search.vectors(&hashes).await?;
            let mut missing: Vec<(String, String)> = Vec::new();
            let mut wanted = HashSet::new();
            for chunk in &page {
                if !vectors.contains_key(&chunk.hash) && wanted.insert(chunk.hash.clone()) {
                    missing.push((chunk.hash.clone(), chunk.text.clone()));
                }
            }
            let (hashes, texts): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
            // The page's chunks that needed no new vector count as done at once.
            let before = (done + page.len() - texts.len()) as u64;
            let progress_tx = tx.clone();
            let progress: crate::embed::Progress = Arc::new(move |embedded| {
                progress_tx.send_modify(|s| {
                    // Batches may end on several threads (a remote endpoint's): never count back.
                    s.stage.done = s.stage.done.max(before + embedded as u64);
                    s.chunks_embedded = s.stage.done as u32;
                });
            });
            vectors
                .extend(hashes.into_iter().zip(embedder.embed_reporting(texts, progress).await?));
            let (ids, page_vectors): (Vec<String>, Vec<Vec<f32>>) = page
                .into_iter()
                .filter_map(|c| vectors.get(&c.hash).map(|v| (c.id, v.clone())))
                .unzip();
            done += ids.len();
            self.search.set_vectors(ids, &page_vectors).await?;
            let span = (100 - EMBEDDING_AT) as usize;
            tx.send_modify(|s| {
                s.chunks_embedded = done as u32;
                s.stage.done = done as u64;
                s.progress = EMBEDDING_AT + (done * span / total.max(1)).min(span) as u8;
            });
        }
        Ok(())
    }

    /// The new graph: the unchanged files' facts (from the cache, or from the store when the
    /// cache is missing or does not match) plus this pass's.
    async fn rebuild(&self, id: &str, pass: &Pass) -> Result<Arc<RepoGraph>, IndexError> {
        let unchanged: HashSet<&str> = pass.unchanged.iter().map(String::as_str).collect();
        let current = self.store.generation(id).await?.unwrap_or_default();
        let cached = self.graphs.read().await.get(id).and_then(|g| g.of(current));
        let mut files: Vec<SourceFile> = match cached {
            Some(graph) => graph
                .files
                .iter()
                .filter(|f| unchanged.contains(f.path.as_str()))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        if files.len() != unchanged.len() {
            let stored = self.store.load_files(id).await?;
            files = stored
                .into_iter()
                .filter(|f| unchanged.contains(f.path.as_str()))
                .map(StoredFile::into_source)
                .collect();
        }
        files.extend(pass.parsed.iter().cloned().map(StoredFile::into_source));
        Ok(Arc::new(blocking(move || RepoGraph::build(files)).await?))
    }

    async fn load(&self, id: &str) -> Result<Arc<RepoGraph>, IndexError> {
        let files = self.store.load_files(id).await?;
        let files = files.into_iter().map(|f| f.into_source()).collect();
        Ok(Arc::new(blocking(move || RepoGraph::build(files)).await?))
    }

    /// The graph of an indexed repository, loaded from the store on first use, and again once
    /// another process has re-indexed it.
    pub async fn graph(&self, id: &str) -> Result<Arc<RepoGraph>, IndexError> {
        let Some(generation) = self.store.generation(id).await? else {
            return Err(IndexError::UnknownRepo(id.to_owned()));
        };
        if let Some(graph) = self.graphs.read().await.get(id).and_then(|g| g.of(generation)) {
            return Ok(graph);
        }
        let graph = self.load(id).await?;
        let mut graphs = self.graphs.write().await;
        match graphs.get(id) {
            // A job of this process cached a newer graph while this one loaded: keep that one.
            Some(newer) if newer.generation > generation => Ok(Arc::clone(&newer.value)),
            _ => {
                graphs.insert(id.to_owned(), Loaded { generation, value: Arc::clone(&graph) });
                Ok(graph)
            }
        }
    }

    /// Finds a repository by id, name or location (URL or path): a stored one, or one whose
    /// first job is still running (and so not stored yet).
    pub async fn find(&self, key: &str) -> Result<RepoRecord, IndexError> {
        self.find_among(key, |_| true).await
    }

    /// [`Indexer::find`] among the repositories `visible` accepts; the others are unknown.
    pub async fn find_among(
        &self,
        key: &str,
        visible: impl Fn(&RepoRecord) -> bool,
    ) -> Result<RepoRecord, IndexError> {
        let location = Source::parse(key).ok().map(|s| s.location());
        let is_it = |r: &RepoRecord| {
            visible(r) && (r.id == key || r.name == key || Some(&r.source) == location.as_ref())
        };
        if let Some(repo) = self.store.repos().await?.into_iter().find(is_it) {
            return Ok(repo);
        }
        let jobs = self.jobs.lock().expect("jobs lock");
        jobs.values()
            .map(|rx| rx.borrow().repo.clone())
            .find(|r| !r.status.is_final() && is_it(r))
            .ok_or_else(|| IndexError::UnknownRepo(key.to_owned()))
    }

    /// The live status of a repository's running job, if it has one.
    pub fn running(&self, id: &str) -> Option<JobStatus> {
        let jobs = self.jobs.lock().expect("jobs lock");
        jobs.get(id).map(|rx| rx.borrow().clone()).filter(|s| !s.repo.status.is_final())
    }

    /// Every job of this process that has not ended: its state and how far its stage is.
    pub fn jobs_running(&self) -> Vec<JobStatus> {
        let jobs = self.jobs.lock().expect("jobs lock");
        jobs.values().map(|rx| rx.borrow().clone()).filter(|s| !s.repo.status.is_final()).collect()
    }

    /// Forgets a repository: its facts, its graph and, for a clone, its checkout.
    pub async fn remove(&self, id: &str) -> Result<(), IndexError> {
        if self.running(id).is_some() {
            return Err(IndexError::Busy(id.to_owned()));
        }
        let repo =
            self.store.repo(id).await?.ok_or_else(|| IndexError::UnknownRepo(id.to_owned()))?;
        self.search.remove_repo(id).await?;
        self.store.delete_repo(id).await?;
        self.graphs.write().await.remove(id);
        self.indexed_files.write().await.remove(id);
        if repo.remote {
            let (repos_dir, id) = (self.config.repos_dir.clone(), id.to_owned());
            blocking(move || clone::remove(&repos_dir, &id)).await?;
        }
        Ok(())
    }
}

impl Indexer {
    /// Searches the indexed code. Each hit says whether its file changed since it was indexed.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let vectors = if query.mode.needs_vector() {
            self.embed_pieces(&query.text).await?
        } else {
            Vec::new()
        };
        let vectors: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let hits = self.search.search(query, &vectors).await?;
        // Each repository's hashes once, however many of its chunks are hits.
        let mut repos: HashMap<&str, Option<Arc<IndexedFiles>>> = HashMap::new();
        for hit in &hits {
            if !repos.contains_key(hit.repo_id.as_str()) {
                repos.insert(&hit.repo_id, self.indexed_files(&hit.repo_id).await?);
            }
        }
        let checks: Vec<Option<Arc<IndexedFiles>>> =
            hits.iter().map(|hit| repos[hit.repo_id.as_str()].clone()).collect();
        let hits = blocking(move || {
            let mut hits = hits;
            for (hit, files) in hits.iter_mut().zip(checks) {
                hit.stale = files.is_some_and(|files| files.changed(&hit.path));
            }
            hits
        })
        .await?;
        Ok(hits)
    }
}

impl Indexer {
    /// A query's embedding: of the whole text when it fits the model's window, else one per
    /// piece (`locate::pieces`), so the end of a pasted report counts as much as its start.
    pub async fn embed_pieces(&self, text: &str) -> Result<Vec<Vec<f32>>, IndexError> {
        let embedder = self.config.embedder.as_ref().ok_or(IndexError::NoEmbedder)?;
        let mut vectors = Vec::new();
        for piece in crate::locate::pieces(text) {
            vectors.push(embedder.embed_query(&piece).await?);
        }
        Ok(vectors)
    }
}

impl Indexer {
    /// The indexed file hashes of a repository, read from the store on first use and again once
    /// its tree has been replaced (by a job of this process or another's).
    async fn indexed_files(&self, id: &str) -> Result<Option<Arc<IndexedFiles>>, IndexError> {
        let Some(generation) = self.store.generation(id).await? else { return Ok(None) };
        if let Some(files) = self.indexed_files.read().await.get(id).and_then(|f| f.of(generation))
        {
            return Ok(Some(files));
        }
        let Some(repo) = self.store.repo(id).await? else { return Ok(None) };
        let files = Arc::new(IndexedFiles::new(repo.checkout, self.store.file_hashes(id).await?));
        let loaded = Loaded { generation, value: Arc::clone(&files) };
        self.indexed_files.write().await.insert(id.to_owned(), loaded);
        Ok(Some(files))
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IndexError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| IndexError::Task(e.to_string()))
}

/// Indexers opened by this process, for their holder names.
static OPENED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Waits for a job to end and returns its final status.
pub async fn finished(mut status: watch::Receiver<JobStatus>) -> JobStatus {
    loop {
        if status.borrow_and_update().repo.status.is_final() {
            return status.borrow().clone();
        }
        if status.changed().await.is_err() {
            return status.borrow().clone();
        }
    }
}
