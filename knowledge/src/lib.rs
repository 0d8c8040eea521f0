//! The knowledge core: every question the faces (MCP, REST, the command line) can ask of the
//! indexed code, scans and `ask`, answered as domain results and one [`KnowledgeError`]. It knows
//! nothing of the protocols; the only way in is a caller's view, [`Knowledge::for_caller`], so
//! what a tenant reaches is decided here once, not by each face.

pub mod ask;
pub mod caller;
pub mod error;
pub mod govern;
mod metrics;
pub mod scans;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use indexer::{
    IndexError, Indexer, JobState, JobStatus, Mode, NameMatch, RepoGraph, RepoRecord, RepoSettings,
    SearchQuery, Source, SymbolKind, SymbolRef,
};
use scanner::{FindingFilter, ScanRecord};
use tokio::sync::watch;

pub use crate::ask::{AskSettings, AskView, Asker};
pub use crate::caller::{Account, Call, Caller, Face, RateLimit, Screening};
pub use crate::error::{Code, KnowledgeError};
pub use crate::govern::{Answer, Governed, govern, screen_json};
pub use crate::scans::{ScanError, Scans};
use crate::views::{
    CallView, CallsOutput, DependenciesOutput, FileOutput, HitView, ImpactCaller, ImpactOutput,
    JobView, LocateOutput, LocatedView, OutlineEntry, OutlineOutput, PushView, ReferenceView,
    ReferencesOutput, RepoMapOutput, RepoView, ScanView, SearchOutput, SettingsView, StageView,
    SymbolSourceOutput, SymbolView, SymbolsOutput, WarmingView,
};

/// The longest text `locate` reads, in bytes: a long issue with its stack trace fits many times.
pub const MAX_LOCATE_TEXT: usize = 64 * 1024;

/// The shortest interval of a scheduled sync, in seconds.
pub const MIN_SYNC_EVERY: u64 = 60;

/// A change to what was chosen for a repository; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct SettingsChange {
    /// Whether its folder is watched (`Some(None)`: the server's default).
    pub watch: Option<Option<bool>>,
    /// The push webhook's secret (`Some(None)` removes it); kept sealed.
    pub webhook_secret: Option<Option<String>>,
    pub scan_on_push: Option<bool>,
    /// Seconds between scheduled fetches (`Some(None)`: none).
    pub sync_every: Option<Option<u64>>,
}

/// What a forge's push webhook says.
#[derive(Debug, Clone)]
pub struct Push {
    /// The repository's URLs as the forge names them (clone and web URLs).
    pub urls: Vec<String>,
    /// The branch pushed; `None` for a ping.
    pub branch: Option<String>,
    /// The repository's default branch, for repositories indexed without one.
    pub default_branch: Option<String>,
    /// The branch was deleted.
    pub deleted: bool,
}

/// A URL as two spellings of one repository compare: no scheme case, `.git` or trailing `/`.
fn same_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix(".git").unwrap_or(url).to_ascii_lowercase()
}

fn not_watchable(location: &str) -> KnowledgeError {
    KnowledgeError::invalid(format!(
        "{location} is cloned, not a folder on this machine: only local folders are watched; bring \
         a clone up to date with refresh_repository (POST /api/knowledge/repositories/{{id}}/refresh)"
    ))
}

/// Most lines one answer holds of a file or a symbol's source.
pub const MAX_LINES: usize = 400;

type Result<T, E = KnowledgeError> = std::result::Result<T, E>;

/// The indexer, and the scans and `ask` where this process runs them, shared by every face and
/// every caller.
#[derive(Debug, Clone)]
pub struct Knowledge {
    indexer: Arc<Indexer>,
    scans: Option<Arc<Scans>>,
    asker: Option<Arc<Asker>>,
    /// Whether a local folder that has not chosen is watched (`index.watch`).
    watch_by_default: bool,
    /// Keeps webhook secrets sealed at rest.
    sealer: Option<Arc<dyn Sealer>>,
}

/// Seals the secrets repositories are given (webhook secrets) before they are stored, and opens
/// them to verify a request; the binary's is the gateway's master key.
pub trait Sealer: std::fmt::Debug + Send + Sync {
    fn seal(&self, secret: &str) -> Vec<u8>;
    /// `None` when `sealed` was not sealed by this key.
    fn open(&self, sealed: &[u8]) -> Option<String>;
}

impl Knowledge {
    /// The code the indexer holds; no scans, no `ask` (see `with_scans`, `with_asker`); local
    /// folders watched unless they say otherwise (see `with_watch_by_default`).
    pub fn new(indexer: Arc<Indexer>) -> Knowledge {
        Knowledge { indexer, scans: None, asker: None, watch_by_default: true, sealer: None }
    }

    /// This process's metrics in the Prometheus text format (OpenMetrics): calls, searches,
    /// scans, index jobs and the embedding backlog.
    pub fn metrics(&self) -> Result<String, std::fmt::Error> {
        metrics::encode(&self.indexer)
    }

    pub fn with_watch_by_default(self, watch_by_default: bool) -> Knowledge {
        Knowledge { watch_by_default, ..self }
    }

    pub fn with_sealer(self, sealer: Arc<dyn Sealer>) -> Knowledge {
        Knowledge { sealer: Some(sealer), ..self }
    }

    pub fn with_scans(self, scans: Arc<Scans>) -> Knowledge {
        Knowledge { scans: Some(scans), ..self }
    }

    pub fn with_asker(self, asker: Arc<Asker>) -> Knowledge {
        Knowledge { asker: Some(asker), ..self }
    }

    /// What `caller` may ask: its own repositories only.
    pub fn for_caller<'a>(&'a self, caller: &'a Caller) -> Scoped<'a> {
        Scoped { knowledge: self, caller }
    }

    fn settings_view(&self, repo: &RepoRecord, settings: &RepoSettings) -> SettingsView {
        SettingsView {
            repo_id: repo.id.clone(),
            watch: settings.watch,
            watched: !repo.remote && settings.watch.unwrap_or(self.watch_by_default),
            webhook: settings.webhook_secret.is_some(),
            scan_on_push: settings.scan_on_push,
            sync_every_secs: settings.sync_every,
        }
    }

    /// A push a forge announced, to the repositories indexed from the pushed URL and branch
    /// whose own webhook secret `verifies` the request (it is given each one's secret).
    /// Nothing else is reached: this is the way in for a request that no caller sends, and
    /// which only a repository's secret vouches for. Each verified repository is brought up to
    /// date (and scanned, when it asks) unless `push.branch` is `None` (a ping) or the branch
    /// was deleted. An empty answer means no repository's secret verified it.
    pub async fn push(
        &self,
        push: &Push,
        verifies: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<PushView>> {
        let sealer = self.sealer()?;
        let store = self.indexer.store();
        let repos = store.repos().await.map_err(IndexError::from)?;
        let mut settings = store.settings().await.map_err(IndexError::from)?;
        let urls: Vec<String> = push.urls.iter().map(|u| same_url(u)).collect();
        let mut pushed = Vec::new();
        for repo in repos.into_iter().filter(|r| r.remote && urls.contains(&same_url(&r.source))) {
            let Some(settings) = settings.remove(&repo.id) else { continue };
            let Some(sealed) = settings.webhook_secret.as_deref() else { continue };
            // A secret sealed under another master key opens to nothing, and verifies nothing.
            if !sealer.open(sealed).is_some_and(|secret| verifies(&secret)) {
                continue;
            }
            let tracked = repo.branch.as_deref().or(push.default_branch.as_deref());
            let job = match push.branch.as_deref() {
                Some(branch) if !push.deleted && tracked == Some(branch) => {
                    let (source, branch) = (repo.origin(), repo.branch.clone());
                    let job = self.indexer.submit(source, branch, repo.owner).await?;
                    if settings.scan_on_push {
                        self.scans()?.scan_when_indexed(job.clone());
                    }
                    Some(JobView::from(&*job.borrow()))
                }
                _ => None,
            };
            pushed.push(PushView { repo_id: repo.id, job, scan: settings.scan_on_push });
        }
        Ok(pushed)
    }

    fn sealer(&self) -> Result<&Arc<dyn Sealer>> {
        self.sealer.as_ref().ok_or_else(|| {
            KnowledgeError::Unavailable(
                "this process keeps no secrets (webhook secrets are set through `serve`)"
                    .to_owned(),
            )
        })
    }

    fn scans(&self) -> Result<&Arc<Scans>> {
        self.scans.as_ref().ok_or_else(|| {
            KnowledgeError::Unavailable("this process does not run security scans".to_owned())
        })
    }

    fn asker(&self) -> Result<&Arc<Asker>> {
        self.asker.as_ref().ok_or_else(|| {
            KnowledgeError::Unavailable("this process does not reach a gateway to ask".to_owned())
        })
    }
}

/// How many items one page holds: `limit` (default `default`) within 1 and `max` — a larger
/// limit is clamped, never refused, and the answer's `next_offset` says where the rest begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    pub fn new(offset: Option<usize>, limit: Option<usize>, default: usize, max: usize) -> Page {
        Page { offset: offset.unwrap_or(0), limit: limit.unwrap_or(default).clamp(1, max) }
    }

    /// This page of `items`, their total, and the next page's offset.
    pub fn of<T>(self, items: Vec<T>) -> (Vec<T>, usize, Option<usize>) {
        let total = items.len();
        let offset = self.offset.min(total);
        let page: Vec<T> = items.into_iter().skip(offset).take(self.limit).collect();
        let end = offset + page.len();
        (page, total, (end < total).then_some(end))
    }
}

/// A search as every face reads it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    /// `None`: hybrid when the embedding model is loaded, else lexical.
    pub mode: Option<Mode>,
    /// Repository ids, names, URLs or paths; empty means all the caller sees.
    pub repos: Vec<String>,
    pub language: Option<String>,
    pub path_glob: Option<String>,
    pub kind: Option<String>,
    /// At most [`SearchRequest::MAX_LIMIT`] (default 10).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

impl SearchRequest {
    pub const MAX_LIMIT: usize = 50;
}

/// Symbols by name (or all of them), of a kind, in a file.
#[derive(Debug, Clone, Default)]
pub struct SymbolQuery {
    /// Without one, every symbol in file and position order.
    pub name: Option<String>,
    /// Fuzzy by default.
    pub how: Option<NameMatch>,
    pub kind: Option<String>,
    pub path: Option<String>,
}

/// The symbol a question is about: a name or qualified name, and the file defining it when the
/// name alone is ambiguous.
#[derive(Debug, Clone)]
pub struct SymbolName<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
}

/// Which way a walk of the call graph goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Callers,
    Callees,
}

/// Which way a walk of the import graph goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imports {
    /// What a file imports.
    Of,
    /// The files importing it.
    By,
}

/// A finding filter, in the caller's words.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// This severe or worse.
    pub severity: Option<String>,
    pub tool: Option<String>,
    pub path: Option<String>,
    pub symbol: Option<String>,
}

impl FindingQuery {
    fn filter(self, page: Page) -> Result<FindingFilter> {
        let invalid = |e: &dyn std::fmt::Display| KnowledgeError::invalid(e.to_string());
        Ok(FindingFilter {
            min_severity: self
                .severity
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: scanner::UnknownSeverity| invalid(&e))?,
            tools: self
                .tool
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: scanner::UnknownTool| invalid(&e))?
                .into_iter()
                .collect(),
            path: self.path,
            symbol: self.symbol,
            limit: Some(page.limit),
            offset: page.offset,
        })
    }
}

/// A question to `ask`, its repository and the code retrieved for it: ready to be sent.
#[derive(Debug)]
pub struct Question {
    pub repo: RepoRecord,
    pub text: String,
    key: String,
    pub context: ask::Context,
}

/// The knowledge one caller may reach. Every repository it names is looked up among its own;
/// others are unknown to it, as if they did not exist.
#[derive(Debug, Clone, Copy)]
pub struct Scoped<'a> {
    knowledge: &'a Knowledge,
    caller: &'a Caller,
}

impl Scoped<'_> {
    fn indexer(&self) -> &Arc<Indexer> {
        &self.knowledge.indexer
    }

    /// The repositories the caller sees, in the order they were first indexed.
    pub async fn repositories(&self) -> Result<Vec<RepoRecord>> {
        let mut repos = self.indexer().store().repos().await.map_err(IndexError::from)?;
        repos.retain(|r| self.caller.sees(r));
        Ok(repos)
    }

    /// Whether the repository with exactly this id is one the caller sees.
    async fn owns(&self, repo_id: &str) -> Result<bool> {
        let repo = self.indexer().store().repo(repo_id).await.map_err(IndexError::from)?;
        Ok(repo.is_some_and(|r| self.caller.sees(&r)))
    }

    /// A repository as [`Scoped::repository`] finds it, with its files per language.
    pub async fn repository_view(&self, key: &str) -> Result<RepoView> {
        let repo = self.repository(Some(key)).await?;
        let languages = self.indexer().store().languages(&repo.id).await;
        let mut view = RepoView::from(&repo);
        view.languages = Some(languages.map_err(IndexError::from)?);
        Ok(view)
    }

    /// A repository by id, name, URL or path; without a key, the only one there is.
    pub async fn repository(&self, key: Option<&str>) -> Result<RepoRecord> {
        if let Some(key) = key {
            return Ok(self.indexer().find_among(key, |r| self.caller.sees(r)).await?);
        }
        let mut repos = self.repositories().await?;
        match repos.len() {
            0 => Err(KnowledgeError::invalid(
                "no repository is indexed yet: index one first (index_repository, POST \
                 /api/knowledge/repositories)",
            )),
            1 => Ok(repos.remove(0)),
            n => {
                let names: Vec<String> =
                    repos.iter().map(|r| format!("{} ({})", r.name, r.id)).collect();
                Err(KnowledgeError::invalid(format!(
                    "{n} repositories are indexed, pass `repo`: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// Submits `location` (an https git URL, or for the local user a folder) for indexing, or
    /// joins its running job; with `then_scan`, scans it once its structure is indexed. `watch`
    /// chooses whether a folder is watched (`None`: as it was, or the server's default).
    pub async fn index(
        &self,
        location: &str,
        branch: Option<String>,
        then_scan: bool,
        watch: Option<bool>,
    ) -> Result<watch::Receiver<JobStatus>> {
        self.caller.may_change()?;
        let source = Source::parse(location).map_err(|e| KnowledgeError::invalid(e.to_string()))?;
        self.caller.may_index(&source)?;
        if watch == Some(true) && source.is_remote() {
            return Err(not_watchable(location));
        }
        let scans = if then_scan { Some(self.knowledge.scans()?) } else { None };
        let job = self.indexer().submit(source, branch, self.caller.owner()).await?;
        if watch.is_some() {
            // Saved while the job runs: a watcher looks at a repository once its job ends.
            let id = job.borrow().repo.id.clone();
            let store = self.indexer().store();
            let settings = store.settings_of(&id).await.map_err(IndexError::from)?;
            let settings = RepoSettings { watch, ..settings };
            self.indexer().save_settings(&id, &settings).await?;
        }
        if let Some(scans) = scans {
            scans.scan_when_indexed(job.clone());
        }
        Ok(job)
    }

    /// Brings a repository up to date: a job that fetches its remote or reads its folder again,
    /// parsing only what changed (or the job already running).
    pub async fn refresh(&self, key: Option<&str>) -> Result<watch::Receiver<JobStatus>> {
        self.caller.may_change()?;
        let repo = self.repository(key).await?;
        Ok(self.indexer().submit(repo.origin(), repo.branch, repo.owner).await?)
    }

    /// What was chosen for a repository, and what holds for it.
    pub async fn settings(&self, key: Option<&str>) -> Result<SettingsView> {
        let repo = self.repository(key).await?;
        let settings = self.indexer().store().settings_of(&repo.id).await;
        Ok(self.knowledge.settings_view(&repo, &settings.map_err(IndexError::from)?))
    }

    /// Changes what was chosen for a repository; what the change leaves out stays.
    pub async fn configure(
        &self,
        key: Option<&str>,
        change: SettingsChange,
    ) -> Result<SettingsView> {
        self.caller.may_change()?;
        let repo = self.repository(key).await?;
        let store = self.indexer().store();
        let mut settings = store.settings_of(&repo.id).await.map_err(IndexError::from)?;
        if let Some(watch) = change.watch {
            if watch == Some(true) && repo.remote {
                return Err(not_watchable(&repo.source));
            }
            settings.watch = watch;
        }
        let for_clones = change.webhook_secret.as_ref().is_some_and(Option::is_some)
            || change.scan_on_push == Some(true)
            || change.sync_every.is_some_and(|s| s.is_some());
        if for_clones && !repo.remote {
            return Err(KnowledgeError::invalid(format!(
                "{} is a folder on this machine: webhooks and scheduled syncs are for cloned \
                 repositories; a folder is watched instead (\"watch\": true)",
                repo.source
            )));
        }
        if let Some(Some(every)) = change.sync_every
            && every < MIN_SYNC_EVERY
        {
            return Err(KnowledgeError::invalid(format!(
                "sync_every_secs is {every}: fetch at most once a minute (60 or more), or use a \
                 push webhook for changes as they happen"
            )));
        }
        if let Some(secret) = change.webhook_secret {
            settings.webhook_secret = match secret {
                Some(secret) => Some(self.knowledge.sealer()?.seal(&secret)),
                None => None,
            };
        }
        if let Some(scan) = change.scan_on_push {
            if scan {
                self.knowledge.scans()?;
            }
            settings.scan_on_push = scan;
        }
        if let Some(every) = change.sync_every {
            settings.sync_every = every;
        }
        self.indexer().save_settings(&repo.id, &settings).await?;
        Ok(self.knowledge.settings_view(&repo, &settings))
    }

    /// A repository's job: running, or what its last one left.
    pub async fn status(&self, key: Option<&str>) -> Result<JobView> {
        let repo = self.repository(key).await?;
        Ok(match self.indexer().running(&repo.id) {
            Some(status) => JobView::from(&status),
            None => JobView::from(&repo),
        })
    }

    /// Forgets a repository: its graph, search index and, for a clone, its checkout.
    pub async fn remove(&self, key: &str) -> Result<RepoRecord> {
        self.caller.may_change()?;
        let repo = self.repository(Some(key)).await?;
        self.indexer().remove(&repo.id).await?;
        Ok(repo)
    }

    /// Searches the caller's repositories (all of them, or those named).
    pub async fn search(&self, request: SearchRequest) -> Result<SearchOutput> {
        let mut repos = Vec::new();
        for key in &request.repos {
            repos.push(self.repository(Some(key)).await?.id);
        }
        // No repository named: all of them for the local user, its own for a member.
        let scoped = repos.is_empty() && !self.caller.is_local();
        if scoped {
            repos = self.repositories().await?.into_iter().map(|r| r.id).collect();
        }
        let page = Page::new(request.offset, request.limit, 10, SearchRequest::MAX_LIMIT);
        let mut query = SearchQuery {
            text: request.text,
            mode: request.mode.unwrap_or_else(|| default_mode(self.indexer())),
            repos,
            language: request.language,
            path_glob: request.path_glob,
            kind: request.kind,
            limit: page.limit,
            offset: page.offset,
        };
        let started = std::time::Instant::now();
        let (hits, fallback) = if scoped && query.repos.is_empty() {
            (Vec::new(), None)
        } else {
            match self.indexer().search(&query).await {
                // Words still answer when the question cannot be embedded (an endpoint down).
                Err(IndexError::Embed(e)) if query.mode == Mode::Hybrid => {
                    tracing::warn!("a hybrid search runs on words only: {e}");
                    query.mode = Mode::Lexical;
                    let why =
                        format!("searched by words only: the question could not be embedded ({e})");
                    (self.indexer().search(&query).await?, Some(why))
                }
                found => (found?, None),
            }
        };
        metrics::search(Some(query.mode), started.elapsed());
        let next_offset = (hits.len() == query.limit).then_some(query.offset + query.limit);
        let warming_up = match query.mode.needs_vector() {
            true => self.warming_up(&query.repos).await?,
            false => Vec::new(),
        };
        Ok(SearchOutput {
            mode: query.mode.as_str().to_owned(),
            results: hits.iter().map(HitView::from).collect(),
            next_offset,
            warming_up,
            fallback,
        })
    }

    /// The files of a repository (and the symbols within them) that a text of any length — an
    /// issue, a stack trace, a log, a failing test's output — is about, best first, each with
    /// the evidence that put it there.
    pub async fn locate(
        &self,
        key: Option<&str>,
        text: &str,
        limit: Option<usize>,
    ) -> Result<LocateOutput> {
        if text.trim().is_empty() {
            return Err(KnowledgeError::invalid(
                "the text is empty: pass the issue, stack trace, log or test output to locate",
            ));
        }
        if text.len() > MAX_LOCATE_TEXT {
            return Err(KnowledgeError::invalid(format!(
                "the text is {} bytes, more than locate reads ({MAX_LOCATE_TEXT}): pass the \
                 report's description and its stack trace, not whole logs",
                text.len()
            )));
        }
        let (repo, _) = self.graph(key).await?;
        let limit = limit.unwrap_or(10).clamp(1, SearchRequest::MAX_LIMIT);
        let started = std::time::Instant::now();
        let located = self.indexer().locate(&repo.id, text, limit).await?;
        metrics::search(None, started.elapsed());
        let warming_up = match self.indexer().can_embed() {
            true => self.warming_up(std::slice::from_ref(&repo.id)).await?,
            false => Vec::new(),
        };
        Ok(LocateOutput {
            repo_id: repo.id,
            results: located.iter().map(LocatedView::from).collect(),
            warming_up,
        })
    }

    /// Which of the repositories `ids` (none: all the caller sees) still have chunks without a
    /// vector, and when they should have them all.
    async fn warming_up(&self, ids: &[String]) -> Result<Vec<WarmingView>> {
        let mut warming = Vec::new();
        for repo in self.repositories().await? {
            if !ids.is_empty() && !ids.contains(&repo.id) {
                continue;
            }
            let view = match self.indexer().running(&repo.id) {
                Some(job) if job.repo.status == JobState::Embedding => WarmingView {
                    repo_id: repo.id.clone(),
                    name: repo.name.clone(),
                    embedded: job.chunks_embedded,
                    chunks: job.chunks_to_embed,
                    eta_secs: StageView::of(&job).and_then(|s| s.eta_secs),
                },
                _ if repo.status == JobState::Embedding || repo.awaits_vectors() => WarmingView {
                    repo_id: repo.id.clone(),
                    name: repo.name.clone(),
                    embedded: repo.stats.embedded,
                    chunks: repo.stats.chunks,
                    eta_secs: None,
                },
                _ => continue,
            };
            warming.push(view);
        }
        Ok(warming)
    }

    /// A repository and its graph, once its structure is indexed.
    pub async fn graph(&self, key: Option<&str>) -> Result<(RepoRecord, Arc<RepoGraph>)> {
        let repo = self.repository(key).await?;
        let graph = self.indexer().graph(&repo.id).await?;
        if graph.files.is_empty() && !repo.status.is_final() {
            return Err(KnowledgeError::Conflict(format!(
                "{} is still being indexed ({}): follow it with get_index_status (GET \
                 /api/knowledge/repositories/{}/status)",
                repo.name, repo.status, repo.id
            )));
        }
        Ok((repo, graph))
    }

    /// A repository, its graph, and the one symbol `name` designates in it.
    async fn symbol_in(
        &self,
        key: Option<&str>,
        name: &SymbolName<'_>,
    ) -> Result<(RepoRecord, Arc<RepoGraph>, SymbolRef)> {
        let (repo, graph) = self.graph(key).await?;
        let symbol = resolve(&graph, name)?;
        Ok((repo, graph, symbol))
    }

    /// Symbols by name, kind and file: one page, best matches first (or in file order).
    pub async fn symbols(
        &self,
        key: Option<&str>,
        query: SymbolQuery,
        page: Page,
    ) -> Result<(RepoRecord, SymbolsOutput)> {
        let (repo, graph) = self.graph(key).await?;
        let kind = query
            .kind
            .as_deref()
            .map(str::parse::<SymbolKind>)
            .transpose()
            .map_err(KnowledgeError::invalid)?;
        let how = query.how.unwrap_or(NameMatch::Fuzzy);
        let mut found = match query.name.as_deref().filter(|q| !q.trim().is_empty()) {
            Some(name) => graph.find_symbols(name, how, kind, usize::MAX),
            None => graph
                .symbols()
                .filter(|&s| kind.is_none_or(|k| graph.symbol(s).kind == k))
                .collect(),
        };
        if let Some(path) = &query.path {
            // A filter naming no indexed file is a parameter to correct.
            file_index(&graph, path).map_err(|e| KnowledgeError::invalid(e.to_string()))?;
            found.retain(|s| graph.files[s.file].path == *path);
        }
        let (page, total, next_offset) = page.of(found);
        let symbols = page.into_iter().map(|s| SymbolView::new(&graph, s)).collect();
        Ok((repo, SymbolsOutput { symbols, total, next_offset }))
    }

    /// One symbol in full, with its source (cut at [`MAX_LINES`]).
    pub async fn symbol(
        &self,
        key: Option<&str>,
        name: SymbolName<'_>,
    ) -> Result<SymbolSourceOutput> {
        let (repo, graph, symbol) = self.symbol_in(key, &name).await?;
        let (checkout, walked) = (repo.checkout.clone(), Arc::clone(&graph));
        let source = tokio::task::spawn_blocking(move || walked.source(&checkout, symbol))
            .await
            .map_err(|e| KnowledgeError::Internal(format!("cannot read the symbol's file: {e}")))?
            .map_err(|e| KnowledgeError::NotFound(format!("cannot read the symbol's file: {e}")))?;
        let lines: Vec<&str> = source.lines().collect();
        let shown = lines.len().min(MAX_LINES);
        let mut text = lines[..shown].join("\n");
        text.push('\n');
        Ok(SymbolSourceOutput {
            symbol: SymbolView::new(&graph, symbol),
            source: text,
            lines_shown: shown,
            total_lines: lines.len(),
        })
    }

    /// The symbols a file defines, in order and nested.
    pub async fn outline(&self, key: Option<&str>, path: &str) -> Result<OutlineOutput> {
        let (_, graph) = self.graph(key).await?;
        let file = file_index(&graph, path)?;
        let symbols = graph
            .outline(file)
            .into_iter()
            .map(|(symbol, depth)| OutlineEntry { depth, symbol: SymbolView::new(&graph, symbol) })
            .collect();
        Ok(OutlineOutput { path: path.to_owned(), symbols })
    }

    /// Lines `start..=end` of an indexed file (1-based; at most [`MAX_LINES`] of them), as the
    /// file is on disk now.
    pub async fn read(
        &self,
        key: Option<&str>,
        path: &str,
        start: Option<usize>,
        end: Option<usize>,
    ) -> Result<FileOutput> {
        let (repo, graph) = self.graph(key).await?;
        file_index(&graph, path)?;
        let content = read_checkout(&repo.checkout, path).await?;
        let lines: Vec<&str> = content.lines().collect();
        let first = start.unwrap_or(1).max(1);
        if first > lines.len().max(1) {
            return Err(KnowledgeError::invalid(format!(
                "{path} has {} lines: start_line must be at most that",
                lines.len()
            )));
        }
        let last = end.unwrap_or(usize::MAX).min(lines.len()).min(first + MAX_LINES - 1);
        if last < first && !lines.is_empty() {
            return Err(KnowledgeError::invalid("end_line must not be before start_line"));
        }
        let shown: Vec<String> = lines
            .get(first - 1..last)
            .unwrap_or_default()
            .iter()
            .map(|l| (*l).to_owned())
            .collect();
        let more = last < lines.len() && end.is_none_or(|e| e > last);
        Ok(FileOutput {
            path: path.to_owned(),
            start_line: first,
            end_line: last,
            total_lines: lines.len(),
            lines: shown,
            next_line: more.then_some(last + 1),
        })
    }

    /// A whole indexed file of a repository by id (MCP's resources), as it is on disk now.
    pub async fn file(&self, repo_id: &str, path: &str) -> Result<String> {
        let repo = self
            .indexer()
            .store()
            .repo(repo_id)
            .await
            .map_err(IndexError::from)?
            .filter(|repo| self.caller.sees(repo))
            .ok_or_else(|| KnowledgeError::NotFound("no such repository".to_owned()))?;
        // Only indexed files: never anything else under the checkout.
        let files = self.indexer().store().file_hashes(&repo.id).await.map_err(IndexError::from)?;
        if !files.contains_key(path) {
            return Err(KnowledgeError::NotFound(
                "not an indexed file of that repository".to_owned(),
            ));
        }
        read_checkout(&repo.checkout, path).await
    }

    /// The indexed files of the caller's repositories, repository by repository, paths sorted.
    pub async fn files(&self) -> Result<Vec<(RepoRecord, Vec<String>)>> {
        let mut all = Vec::new();
        for repo in self.repositories().await? {
            let files =
                self.indexer().store().file_hashes(&repo.id).await.map_err(IndexError::from)?;
            let mut paths: Vec<String> = files.into_keys().collect();
            paths.sort();
            all.push((repo, paths));
        }
        Ok(all)
    }

    /// A symbol's callers or callees up to `depth` hops (1 to 5), nearest first.
    pub async fn calls(
        &self,
        key: Option<&str>,
        name: SymbolName<'_>,
        direction: Direction,
        depth: Option<usize>,
        page: Page,
    ) -> Result<CallsOutput> {
        let (_, graph, symbol) = self.symbol_in(key, &name).await?;
        let depth = depth.unwrap_or(1).clamp(1, 5);
        let found = match direction {
            Direction::Callers => graph.callers(symbol, depth),
            Direction::Callees => graph.callees(symbol, depth),
        };
        let (page, total, next_offset) = page.of(found);
        let results = page
            .into_iter()
            .map(|(other, distance, line)| CallView {
                symbol: SymbolView::new(&graph, other),
                distance,
                line,
            })
            .collect();
        let direction = match direction {
            Direction::Callers => "callers",
            Direction::Callees => "callees",
        };
        Ok(CallsOutput {
            symbol: SymbolView::new(&graph, symbol),
            direction: direction.to_owned(),
            results,
            total,
            next_offset,
        })
    }

    /// Every place that refers to a symbol: resolved references first.
    pub async fn references(
        &self,
        key: Option<&str>,
        name: SymbolName<'_>,
        page: Page,
    ) -> Result<ReferencesOutput> {
        let (_, graph, symbol) = self.symbol_in(key, &name).await?;
        let (page, total, next_offset) = page.of(graph.references(symbol));
        let references = page
            .into_iter()
            .map(|site| ReferenceView {
                path: graph.files[site.file].path.clone(),
                line: site.line,
                kind: site.kind.as_str().to_owned(),
                from: site.from.map(|f| graph.symbol(f).qualified.clone()),
                resolved: site.resolved,
            })
            .collect();
        Ok(ReferencesOutput {
            symbol: SymbolView::new(&graph, symbol),
            references,
            total,
            next_offset,
        })
    }

    /// What a change to a symbol may break: its callers up to `depth` hops (default 3) and the
    /// files holding them or importing its file; at most `limit` of each.
    pub async fn impact(
        &self,
        key: Option<&str>,
        name: SymbolName<'_>,
        depth: Option<usize>,
        limit: usize,
    ) -> Result<ImpactOutput> {
        let (_, graph, symbol) = self.symbol_in(key, &name).await?;
        let impact = graph.impact(symbol, depth.unwrap_or(3).clamp(1, 5));
        let (total_callers, total_files) = (impact.callers.len(), impact.files.len());
        let callers = impact
            .callers
            .into_iter()
            .take(limit)
            .map(|(caller, distance)| ImpactCaller {
                symbol: SymbolView::new(&graph, caller),
                distance,
            })
            .collect();
        Ok(ImpactOutput {
            symbol: SymbolView::new(&graph, symbol),
            callers,
            total_callers,
            files: impact.files.into_iter().take(limit).collect(),
            total_files,
        })
    }

    /// What a file imports, or the files that import it.
    pub async fn imports(
        &self,
        key: Option<&str>,
        path: &str,
        way: Imports,
    ) -> Result<DependenciesOutput> {
        let (_, graph) = self.graph(key).await?;
        let file = file_index(&graph, path)?;
        let (files, direction) = match way {
            Imports::Of => (graph.imports_of(file), "imports"),
            Imports::By => (graph.dependents_of(file), "dependents"),
        };
        Ok(DependenciesOutput { path: path.to_owned(), direction: direction.to_owned(), files })
    }

    /// The repository's most central symbols, grouped by file, within `max_tokens` (64 to 8192,
    /// default 1024).
    pub async fn repo_map(
        &self,
        key: Option<&str>,
        max_tokens: Option<usize>,
    ) -> Result<RepoMapOutput> {
        let (repo, graph) = self.graph(key).await?;
        let budget = max_tokens.unwrap_or(1024).clamp(64, 8192);
        let map = tokio::task::spawn_blocking(move || graph.repo_map(budget))
            .await
            .map_err(|e| KnowledgeError::Internal(e.to_string()))?;
        Ok(RepoMapOutput { repo_id: repo.id, name: repo.name, map })
    }

    /// Starts a scan of an indexed repository (or joins the one running at its commit).
    pub async fn scan(&self, key: Option<&str>) -> Result<(RepoRecord, ScanRecord)> {
        self.caller.may_change()?;
        let repo = self.repository(key).await?;
        let scan = self.knowledge.scans()?.submit(&repo).await?;
        Ok((repo, scan))
    }

    /// Waits up to `wait` for a scan of the caller's to end; it as it is then (a failed scan
    /// included, with its error), with its worst `limit` findings.
    pub async fn wait_for_scan(
        &self,
        scan_id: &str,
        wait: Duration,
        limit: usize,
    ) -> Result<ScanView> {
        let scans = self.knowledge.scans()?;
        self.own_scan(scan_id).await?;
        let scan = scans.wait(scan_id, wait).await?;
        let filter = FindingFilter { limit: Some(limit), ..FindingFilter::default() };
        Ok(scans.view_of(&scan, &filter).await?)
    }

    /// A repository's scan (`scan_id`, or its newest finished one) with a page of its findings.
    pub async fn findings(
        &self,
        key: Option<&str>,
        scan_id: Option<&str>,
        query: FindingQuery,
        page: Page,
    ) -> Result<(RepoRecord, ScanView)> {
        let filter = query.filter(page)?;
        let repo = self.repository(key).await?;
        let view = self.knowledge.scans()?.view(&repo, scan_id, &filter).await?;
        Ok((repo, view))
    }

    /// A scan by id, if it is of one of the caller's repositories, with a page of its findings.
    pub async fn scan_by_id(
        &self,
        scan_id: &str,
        query: FindingQuery,
        page: Page,
    ) -> Result<ScanView> {
        let filter = query.filter(page)?;
        let scan = self.own_scan(scan_id).await?;
        Ok(self.knowledge.scans()?.view_of(&scan, &filter).await?)
    }

    /// The scan `scan_id`, if it is of one of the caller's repositories: another organization's
    /// scan is as unknown as one that does not exist.
    async fn own_scan(&self, scan_id: &str) -> Result<ScanRecord> {
        let scan = self.knowledge.scans()?.get(scan_id).await?;
        if !self.owns(&scan.repo_id).await? {
            let unknown = scanner::ScanStoreError::UnknownScan(scan_id.to_owned());
            return Err(ScanError::Store(unknown).into());
        }
        Ok(scan)
    }

    /// Gets a question ready for the model: its repository, the key it is billed to, and the
    /// code retrieved for it.
    pub async fn prepare_question(&self, key: Option<&str>, question: &str) -> Result<Question> {
        self.caller.may_change()?;
        let text = question.trim();
        if text.is_empty() {
            return Err(KnowledgeError::invalid("question is empty: ask something about the code"));
        }
        let repo = self.repository(key).await?;
        let asker = self.knowledge.asker()?;
        let key = asker.key_for(self.caller)?.to_owned();
        let request = SearchRequest {
            text: text.to_owned(),
            repos: vec![repo.id.clone()],
            limit: Some(ask::HITS),
            ..SearchRequest::default()
        };
        let hits = self.search(request).await?.results;
        let graph = self.indexer().graph(&repo.id).await?;
        let context = asker.gather(graph, &repo, hits).await?;
        if context.is_empty() {
            return Err(KnowledgeError::NotFound(format!(
                "nothing in {} matches the question: rephrase it with the words of the code, or \
                 check the index with get_index_status",
                repo.name
            )));
        }
        Ok(Question { repo, text: text.to_owned(), key, context })
    }

    /// Asks the model through the gateway, billed to the question's key.
    pub async fn answer(&self, question: &Question) -> Result<AskView> {
        let asker = self.knowledge.asker()?;
        Ok(asker.answer(&question.key, &question.repo, &question.text, &question.context).await?)
    }
}

/// The search mode when none is asked for: hybrid, or lexical when the model is not loaded.
pub fn default_mode(indexer: &Indexer) -> Mode {
    if indexer.can_embed() { Mode::Hybrid } else { Mode::Lexical }
}

/// The one symbol a name (and maybe a path) designates, or an error listing the candidates.
fn resolve(graph: &RepoGraph, name: &SymbolName<'_>) -> Result<SymbolRef> {
    let SymbolName { name, path } = *name;
    let mut found = graph.find_symbols(name, NameMatch::Exact, None, usize::MAX);
    if let Some(path) = path {
        file_index(graph, path)?;
        found.retain(|s| graph.files[s.file].path == path);
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let near = graph.find_symbols(name, NameMatch::Fuzzy, None, 5);
            let within = path.map_or(String::new(), |p| format!(" in {p}"));
            if near.is_empty() {
                return Err(KnowledgeError::NotFound(format!(
                    "no symbol named {name:?}{within}: try find_symbol"
                )));
            }
            let near: Vec<String> = near.iter().map(|&s| graph.display(s)).collect();
            Err(KnowledgeError::NotFound(format!(
                "no symbol named {name:?}{within}; close matches: {}",
                near.join(", ")
            )))
        }
        many => {
            let shown: Vec<String> = many
                .iter()
                .take(10)
                .map(|&s| format!("{}:{}", graph.display(s), graph.symbol(s).start_line))
                .collect();
            Err(KnowledgeError::invalid(format!(
                "{} symbols are named {name:?}: {}{}; pass `path`, or a qualified name like `Type::method`",
                many.len(),
                shown.join(", "),
                if many.len() > 10 { ", …" } else { "" }
            )))
        }
    }
}

fn file_index(graph: &RepoGraph, path: &str) -> Result<usize> {
    graph.file_index(path).ok_or_else(|| {
        KnowledgeError::NotFound(format!(
            "{path} is not an indexed file of this repository: paths are relative to its root, \
             as search_code and get_file_outline show them"
        ))
    })
}

/// A file of a checkout, read off the async threads, beneath the checkout and never through a
/// symlink (`indexer::beneath`).
async fn read_checkout(checkout: &std::path::Path, path: &str) -> Result<String> {
    let (checkout, path) = (checkout.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || indexer::beneath::read_text(&checkout, &path))
        .await
        .map_err(|e| KnowledgeError::Internal(format!("cannot read the file: {e}")))?
        .map_err(|e| KnowledgeError::NotFound(format!("cannot read it: {e}")))
}
