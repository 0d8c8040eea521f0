//! What the knowledge server says about repositories, jobs and search hits, in one shape for every
//! face: `--json` on the command line, MCP structured output, and REST (whose OpenAPI document is
//! derived from these types). The field names are a public contract.

use std::collections::BTreeMap;

use indexer::locate::{Evidence, Located, LocatedSymbol};
use indexer::{Hit, JobState, JobStatus, RepoGraph, RepoRecord, SymbolRef};
use schemars::JsonSchema;
use serde::Serialize;
use utoipa::ToSchema;

/// MCP output schemas spell a nullable property `anyOf: [{type: T}, {type: null}]` rather than
/// `type: [T, null]`: the same JSON Schema, but one `type` per branch, which clients that map
/// schemas onto a single-type dialect can read.
pub fn nullable_as_any_of(schema: &mut schemars::Schema) {
    let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for property in properties.values_mut() {
        let Some(object) = property.as_object_mut() else { continue };
        if let Some(serde_json::Value::Array(types)) = object.get("type")
            && types.len() > 1
        {
            let branches: Vec<serde_json::Value> =
                types.iter().map(|t| serde_json::json!({ "type": t })).collect();
            object.remove("type");
            object.insert("anyOf".to_owned(), branches.into());
        }
    }
}

/// A search hit.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct HitView {
    pub repo_id: String,
    /// Path relative to the repository root.
    pub path: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// The enclosing symbol (`Type::method`), if the chunk belongs to one.
    pub symbol: Option<String>,
    /// `function`, `method`, `class`, … or `code` for top-level code.
    pub kind: String,
    pub language: String,
    /// Higher is better; comparable within one search only.
    pub score: f32,
    /// The file changed since it was indexed: the lines may have moved.
    pub stale: bool,
    /// The commit the chunk was indexed at (none for a plain directory).
    pub commit: Option<String>,
    pub snippet: String,
}

impl From<&Hit> for HitView {
    fn from(hit: &Hit) -> HitView {
        HitView {
            repo_id: hit.repo_id.clone(),
            path: hit.path.clone(),
            start_line: hit.start_line,
            end_line: hit.end_line,
            symbol: hit.symbol.clone(),
            kind: hit.kind.clone(),
            language: hit.language.clone(),
            score: hit.score,
            stale: hit.stale,
            commit: hit.commit.clone(),
            snippet: hit.snippet.clone(),
        }
    }
}

/// What a text is about in one repository: files, best first.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct LocateOutput {
    pub repo_id: String,
    pub results: Vec<LocatedView>,
    /// The repository's chunks still being embedded, if it has some: they are found by what the
    /// text names and by its words, not yet by meaning.
    pub warming_up: Vec<WarmingView>,
}

/// A file the text is about, with the evidence that put it there.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
pub struct LocatedView {
    /// Path relative to the repository root.
    pub path: String,
    pub language: String,
    /// Higher is better; comparable within one answer only.
    pub score: f32,
    /// Its symbols the text points at, best first.
    pub symbols: Vec<LocatedSymbolView>,
    pub evidence: Vec<EvidenceView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
pub struct LocatedSymbolView {
    /// Qualified name (`Type.method`).
    pub name: String,
    pub kind: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub evidence: Vec<EvidenceView>,
}

/// Why a file or symbol was put forward.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
pub struct EvidenceView {
    /// `frame` (a stack frame), `path` (the text names the file), `exception`, `identifier`,
    /// `terms` (words of the text the file holds), `similar` (code close in meaning to the text)
    /// or `neighbour` (calls, or is called by, a symbol the text points at).
    pub kind: String,
    /// The evidence in words.
    pub detail: String,
}

impl From<&Evidence> for EvidenceView {
    fn from(evidence: &Evidence) -> EvidenceView {
        let line = |line: &Option<u32>| line.map(|l| format!(" line {l}")).unwrap_or_default();
        let (kind, detail) = match evidence {
            Evidence::Frame { function, line: at } => (
                "frame",
                format!(
                    "a stack frame{}{}",
                    function.as_ref().map(|f| format!(" in {f}")).unwrap_or_default(),
                    line(at)
                ),
            ),
            Evidence::Path { written, line: at } => {
                ("path", format!("the text names {written}{}", line(at)))
            }
            Evidence::Exception(name) => {
                ("exception", format!("the text names the exception {name}"))
            }
            Evidence::Identifier(name) => ("identifier", format!("the text names {name}")),
            Evidence::Terms(words) => ("terms", format!("holds the words {}", words.join(", "))),
            Evidence::Similar { start_line, end_line, similarity } => (
                "similar",
                format!("lines {start_line}-{end_line} are close in meaning ({similarity:.2})"),
            ),
            Evidence::Neighbour { of, calls: true } => ("neighbour", format!("calls {of}")),
            Evidence::Neighbour { of, calls: false } => ("neighbour", format!("called by {of}")),
        };
        EvidenceView { kind: kind.to_owned(), detail }
    }
}

impl From<&LocatedSymbol> for LocatedSymbolView {
    fn from(symbol: &LocatedSymbol) -> LocatedSymbolView {
        LocatedSymbolView {
            name: symbol.name.clone(),
            kind: symbol.kind.clone(),
            start_line: symbol.start_line,
            end_line: symbol.end_line,
            score: symbol.score,
            evidence: symbol.evidence.iter().map(EvidenceView::from).collect(),
        }
    }
}

impl From<&Located> for LocatedView {
    fn from(file: &Located) -> LocatedView {
        LocatedView {
            path: file.path.clone(),
            language: file.language.clone(),
            score: file.score,
            symbols: file.symbols.iter().map(LocatedSymbolView::from).collect(),
            evidence: file.evidence.iter().map(EvidenceView::from).collect(),
        }
    }
}

/// A stored repository and how its last index went.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct RepoView {
    pub repo_id: String,
    pub name: String,
    /// The URL or local path it was indexed from.
    pub source: String,
    pub branch: Option<String>,
    /// `queued`, `cloning`, `parsing`, `embedding`, `ready` or `failed`.
    pub status: String,
    pub commit: Option<String>,
    pub files: u32,
    /// Files left out, by reason.
    pub skipped: BTreeMap<String, u32>,
    pub lines: u64,
    pub symbols: u32,
    pub nodes: u32,
    pub edges: u32,
    pub duration_ms: u64,
    /// Chunks in the search index, and how many have vectors (semantic search sees those).
    pub chunks: u32,
    pub embedded: u32,
    /// Problems with single files, which did not fail the index.
    pub errors: Vec<String>,
    /// Why the last job failed.
    pub error: Option<String>,
    /// Unix seconds.
    pub indexed_at: Option<i64>,
    /// Files per language, in the indexed tree (one repository's view only, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub languages: Option<BTreeMap<String, u32>>,
}

impl From<&RepoRecord> for RepoView {
    fn from(repo: &RepoRecord) -> RepoView {
        let stats = &repo.stats;
        RepoView {
            repo_id: repo.id.clone(),
            name: repo.name.clone(),
            source: repo.source.clone(),
            branch: repo.branch.clone(),
            status: repo.status.as_str().to_owned(),
            commit: repo.commit.clone(),
            files: stats.files,
            skipped: stats.skipped.iter().map(|(r, n)| (r.as_str().to_owned(), *n)).collect(),
            lines: stats.lines,
            symbols: stats.symbols,
            nodes: stats.nodes,
            edges: stats.edges,
            duration_ms: stats.duration_ms,
            chunks: stats.chunks,
            embedded: stats.embedded,
            errors: stats.errors.clone(),
            error: repo.error.clone(),
            indexed_at: repo.indexed_at,
            languages: None,
        }
    }
}

/// A repository with its job's live progress.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    pub repo: RepoView,
    /// 0–100.
    pub progress: u8,
    /// Files this job read and parsed (the others were unchanged).
    pub files_parsed: u32,
    /// While embedding: chunks given vectors so far, of how many.
    pub chunks_embedded: u32,
    pub chunks_to_embed: u32,
    /// The running stage's own count, rate and time left; `null` when no job runs.
    pub stage: Option<StageView>,
}

/// How far a job's running stage is.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct StageView {
    /// `cloning`, `parsing` or `embedding`.
    pub name: String,
    /// What it counts: `objects` (received), `files` (parsed) or `chunks` (embedded).
    pub unit: String,
    pub done: u64,
    /// 0 while not known yet.
    pub total: u64,
    /// Units a second so far; `null` until there is something to go by.
    pub per_second: Option<f64>,
    /// Seconds left at that rate; `null` until it is known.
    pub eta_secs: Option<u64>,
}

impl StageView {
    /// The stage of a running job, if it counts anything.
    pub fn of(status: &JobStatus) -> Option<StageView> {
        let unit = match status.repo.status {
            JobState::Cloning => "objects",
            JobState::Parsing => "files",
            JobState::Embedding => "chunks",
            _ => return None,
        };
        let stage = &status.stage;
        Some(StageView {
            name: status.repo.status.as_str().to_owned(),
            unit: unit.to_owned(),
            done: stage.done,
            total: stage.total,
            per_second: stage.rate().map(|r| (r * 10.0).round() / 10.0),
            eta_secs: stage.eta().map(|d| d.as_secs_f64().ceil() as u64),
        })
    }

    /// `embedding 120/480 chunks, 18.2/s, about 20 s left`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.name, self.done);
        if self.total > 0 {
            text += &format!("/{}", self.total);
        }
        text += &format!(" {}", self.unit);
        if let Some(rate) = self.per_second {
            text += &format!(", {rate}/s");
        }
        if let Some(eta) = self.eta_secs {
            text += &format!(", about {} left", duration(eta));
        }
        text
    }
}

/// `45 s`, `3 min`, `1 h 20 min`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// A repository whose chunks are not all embedded yet: semantic search sees only those that
/// are.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct WarmingView {
    pub repo_id: String,
    pub name: String,
    pub embedded: u32,
    pub chunks: u32,
    /// Seconds until all are embedded, at the rate so far; `null` when not known (no job of
    /// this server is embedding it, or it has only just begun).
    pub eta_secs: Option<u64>,
}

/// A repository with no job running: what its last job left.
impl From<&RepoRecord> for JobView {
    fn from(repo: &RepoRecord) -> JobView {
        let progress = match repo.status {
            JobState::Ready | JobState::Failed => 100,
            _ => 0,
        };
        JobView {
            repo: RepoView::from(repo),
            progress,
            files_parsed: 0,
            chunks_embedded: repo.stats.embedded,
            chunks_to_embed: repo.stats.chunks,
            stage: None,
        }
    }
}

impl From<&JobStatus> for JobView {
    fn from(status: &JobStatus) -> JobView {
        JobView {
            repo: RepoView::from(&status.repo),
            progress: status.progress,
            files_parsed: status.files_parsed,
            chunks_embedded: status.chunks_embedded,
            chunks_to_embed: status.chunks_to_embed,
            stage: StageView::of(status),
        }
    }
}

/// One page of search results.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SearchOutput {
    /// The mode the search ran in.
    pub mode: String,
    pub results: Vec<HitView>,
    /// The offset of the next page, when there may be one.
    pub next_offset: Option<usize>,
    /// For a semantic or hybrid search: the repositories searched whose chunks are still being
    /// embedded. Their other chunks are found by words only (hybrid), or not at all (semantic).
    pub warming_up: Vec<WarmingView>,
    /// Why the search ran in another mode than asked: a hybrid search whose question could not
    /// be embedded (the embeddings endpoint is down) runs on words only. `null`: as asked.
    pub fallback: Option<String>,
}

impl SearchOutput {
    /// A sentence for people and agents when the search is not all it was asked to be: it ran
    /// on words only, or semantic search is still warming up.
    pub fn notice(&self) -> Option<String> {
        if let Some(fallback) = &self.fallback {
            return Some(fallback.clone());
        }
        if self.warming_up.is_empty() {
            return None;
        }
        let repos: Vec<String> = self
            .warming_up
            .iter()
            .map(|w| {
                let eta = w.eta_secs.map(|s| format!(", about {} left", duration(s)));
                format!(
                    "{} {}/{} chunks embedded{}",
                    w.name,
                    w.embedded,
                    w.chunks,
                    eta.unwrap_or_default()
                )
            })
            .collect();
        let rest = match self.mode.as_str() {
            "semantic" => {
                "chunks without a vector are not found by meaning yet; lexical mode sees them all"
            }
            _ => "chunks without a vector are found by their words only for now",
        };
        Some(format!("semantic search is still warming up ({}): {rest}", repos.join("; ")))
    }
}

/// What was chosen for a repository, and what holds for it.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SettingsView {
    pub repo_id: String,
    /// Whether its folder is watched, as chosen; `null`: the server's default (`index.watch`).
    pub watch: Option<bool>,
    /// Whether `serve` and `mcp` watch it: a local folder, by its choice or the default. Edits
    /// there are re-indexed within about a second, unasked.
    pub watched: bool,
    /// Whether a push webhook secret is set (the secret itself is never shown).
    pub webhook: bool,
    /// Whether each pushed commit is scanned once indexed.
    pub scan_on_push: bool,
    /// Seconds between scheduled fetches of a clone; `null`: none.
    pub sync_every_secs: Option<u64>,
}

/// A repository a push webhook reached.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct PushView {
    pub repo_id: String,
    /// The job bringing it to the pushed commit; `null` for a ping, a deleted branch or a
    /// branch it does not track.
    pub job: Option<JobView>,
    /// Whether the new commit is scanned once indexed.
    pub scan: bool,
}

/// One page of the stored repositories.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct ReposOutput {
    pub repositories: Vec<RepoView>,
    /// All repositories, on every page.
    pub total: usize,
    pub next_offset: Option<usize>,
}

/// A symbol of a repository's graph.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SymbolView {
    pub name: String,
    /// With its enclosing symbols or impl type: `Shortener::shorten`, `Item.total`.
    pub qualified: String,
    /// `function`, `method`, `class`, `struct`, `enum`, `trait`, `interface`, `type`, `module`
    /// or `constant`.
    pub kind: String,
    pub path: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// The declaration up to its body, on one line.
    pub signature: String,
    pub doc: Option<String>,
    /// The enclosing symbol's qualified name.
    pub parent: Option<String>,
    /// The enclosing symbol's kind.
    pub parent_kind: Option<String>,
}

impl SymbolView {
    pub fn new(graph: &RepoGraph, symbol: SymbolRef) -> SymbolView {
        let s = graph.symbol(symbol);
        let parent =
            s.parent.map(|p| graph.symbol(SymbolRef { file: symbol.file, symbol: p as usize }));
        SymbolView {
            name: s.name.clone(),
            qualified: s.qualified.clone(),
            kind: s.kind.as_str().to_owned(),
            path: graph.files[symbol.file].path.clone(),
            start_line: s.start_line,
            end_line: s.end_line,
            signature: s.signature.clone(),
            doc: s.doc.clone(),
            parent: parent.map(|p| p.qualified.clone()),
            parent_kind: parent.map(|p| p.kind.as_str().to_owned()),
        }
    }
}

/// One page of a repository's symbols.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SymbolsOutput {
    pub symbols: Vec<SymbolView>,
    /// Symbols matching, on every page.
    pub total: usize,
    pub next_offset: Option<usize>,
}

/// A security scan: its state, how each tool did, and (when asked for) its findings.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct ScanView {
    pub scan_id: String,
    pub repo_id: String,
    /// The commit the checkout was at (none for a plain directory).
    pub commit: Option<String>,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// `run` (the tools ran here) or `import` (a report made elsewhere).
    pub origin: String,
    /// Why the scan failed.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub tools: Vec<ToolView>,
    /// Findings per severity (`critical`, `high`, `medium`, `low`, `info`), of a finished scan.
    pub counts: BTreeMap<String, u32>,
    /// The earlier scan that `new` and `fixed` compare with; none for a first scan.
    pub previous_scan_id: Option<String>,
    /// How many findings in all (the list below may be a page of them).
    pub total_findings: usize,
    /// How many of them the previous scan did not have.
    pub new_findings: usize,
    pub findings: Vec<FindingView>,
    /// Findings of the previous scan that are gone now.
    pub fixed: Vec<FindingView>,
}

/// One tool's part of a scan.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct ToolView {
    /// `semgrep`, `trivy` or `checkov`.
    pub tool: String,
    /// `ok`, `failed`, `not_installed`, `timed_out` or `cancelled`.
    pub status: String,
    /// Why it failed, or how to install it.
    pub message: Option<String>,
    pub duration_ms: u64,
    pub findings: u32,
}

/// A finding, in one shape whichever tool reported it.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct FindingView {
    pub tool: String,
    /// `code`, `misconfiguration`, `secret` or `vulnerability`.
    pub category: String,
    pub rule_id: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: String,
    pub title: String,
    /// What is wrong and how to fix it. A secret is never shown in full.
    pub message: String,
    /// Relative to the repository root.
    pub path: String,
    /// 1-based, inclusive; none when the tool names only the file.
    pub start_line: Option<u32>,
    pub end_line: Option<u32>,
    pub cwe: Vec<String>,
    pub cve: Vec<String>,
    /// The vulnerable package, for a vulnerability.
    pub package: Option<PackageView>,
    /// Stable across re-scans while the finding stays, even when its lines move.
    pub fingerprint: String,
    pub url: Option<String>,
    /// The innermost symbol of the code graph holding the finding.
    pub symbol: Option<FindingSymbolView>,
    /// Not in the previous scan.
    pub new: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct PackageView {
    pub name: String,
    pub installed_version: String,
    /// The first version that fixes it, when there is one.
    pub fixed_version: Option<String>,
}

/// The symbol holding a finding, and how many symbols call it directly.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
pub struct FindingSymbolView {
    /// `path::Qualified::name`; `get_symbol` and `get_callers` take its name and path.
    pub id: String,
    pub kind: String,
    pub name: String,
    pub callers: u32,
}

impl ScanView {
    /// The scan with a page of its findings (`total` in all), marked new against `diff`, and
    /// its findings counted by severity.
    pub fn new(
        scan: &scanner::ScanRecord,
        findings: &[scanner::Finding],
        total: usize,
        diff: &scanner::ScanDiff,
        counts: &BTreeMap<scanner::Severity, u32>,
    ) -> ScanView {
        let counts = counts.iter().map(|(s, n)| (s.as_str().to_owned(), *n)).collect();
        ScanView {
            scan_id: scan.id.clone(),
            repo_id: scan.repo_id.clone(),
            commit: scan.commit.clone(),
            status: scan.state.as_str().to_owned(),
            origin: scan.origin.as_str().to_owned(),
            error: scan.error.clone(),
            created_at: scan.created_at,
            finished_at: scan.finished_at,
            tools: scan
                .tools
                .iter()
                .map(|t| ToolView {
                    tool: t.tool.as_str().to_owned(),
                    status: t.status.as_str().to_owned(),
                    message: t.status.message().map(str::to_owned),
                    duration_ms: t.duration.as_millis() as u64,
                    findings: t.findings,
                })
                .collect(),
            counts,
            previous_scan_id: diff.previous.clone(),
            total_findings: total,
            new_findings: if diff.previous.is_some() { diff.new.len() } else { 0 },
            findings: findings
                .iter()
                .map(|f| {
                    FindingView::new(
                        f,
                        diff.previous.is_some() && diff.new.contains(&f.fingerprint),
                    )
                })
                .collect(),
            fixed: diff.fixed.iter().map(|f| FindingView::new(f, false)).collect(),
        }
    }
}

impl FindingView {
    pub fn new(f: &scanner::Finding, new: bool) -> FindingView {
        FindingView {
            tool: f.tool.as_str().to_owned(),
            category: f.category.as_str().to_owned(),
            rule_id: f.rule_id.clone(),
            severity: f.severity.as_str().to_owned(),
            title: f.title.clone(),
            message: f.message.clone(),
            path: f.path.clone(),
            start_line: f.start_line,
            end_line: f.end_line,
            cwe: f.cwe.clone(),
            cve: f.cve.clone(),
            package: f.package.as_ref().map(|p| PackageView {
                name: p.name.clone(),
                installed_version: p.installed_version.clone(),
                fixed_version: p.fixed_version.clone(),
            }),
            fingerprint: f.fingerprint.clone(),
            url: f.url.clone(),
            symbol: f.symbol.as_ref().map(|s| FindingSymbolView {
                id: s.id.clone(),
                kind: s.kind.clone(),
                name: s.name.clone(),
                callers: s.callers,
            }),
            new,
        }
    }
}

/// A symbol's callers or callees.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct CallsOutput {
    /// The symbol asked about.
    pub symbol: SymbolView,
    /// `callers` or `callees`.
    pub direction: String,
    /// Nearest first.
    pub results: Vec<CallView>,
    /// Results on every page.
    pub total: usize,
    pub next_offset: Option<usize>,
}

/// A symbol reached through calls.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct CallView {
    pub symbol: SymbolView,
    /// Calls away: 1 calls it (or is called by it) directly.
    pub distance: usize,
    /// The line of the call.
    pub line: u32,
}

/// Every place that refers to a symbol.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct ReferencesOutput {
    pub symbol: SymbolView,
    /// Resolved references first.
    pub references: Vec<ReferenceView>,
    pub total: usize,
    pub next_offset: Option<usize>,
}

/// One place that refers to a symbol.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct ReferenceView {
    pub path: String,
    pub line: u32,
    /// `call`, `inherits`, `implements`, …
    pub kind: String,
    /// The symbol the reference is in (none for top-level code).
    pub from: Option<String>,
    /// Whether the graph established the target; `false`: a use of the same name.
    pub resolved: bool,
}

/// What a change to a symbol may break.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct ImpactOutput {
    pub symbol: SymbolView,
    /// Its callers up to the depth asked, nearest first (at most `limit`).
    pub callers: Vec<ImpactCaller>,
    pub total_callers: usize,
    /// Other files that hold those callers or import its file, transitively (at most `limit`).
    pub files: Vec<String>,
    pub total_files: usize,
}

/// A caller a change may reach.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct ImpactCaller {
    pub symbol: SymbolView,
    pub distance: usize,
}

/// The symbols a file defines, in order.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct OutlineOutput {
    pub path: String,
    pub symbols: Vec<OutlineEntry>,
}

/// A symbol of an outline, and how deeply it is nested.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct OutlineEntry {
    /// 0 for a top-level symbol.
    pub depth: usize,
    pub symbol: SymbolView,
}

/// Lines of a file, as it is on disk now.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct FileOutput {
    pub path: String,
    /// 1-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
    /// Lines in the whole file.
    pub total_lines: usize,
    pub lines: Vec<String>,
    /// The first line of the rest, when more was asked for than one call returns.
    pub next_line: Option<usize>,
}

/// One symbol in full, with its source.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SymbolSourceOutput {
    pub symbol: SymbolView,
    /// Its source, cut at `lines_shown` lines.
    pub source: String,
    pub lines_shown: usize,
    pub total_lines: usize,
}

/// Files a file imports, or that import it.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct DependenciesOutput {
    pub path: String,
    /// `imports` or `dependents`.
    pub direction: String,
    /// Paths relative to the repository root; external packages as `external:name`.
    pub files: Vec<String>,
}

/// A map of a repository for orientation.
#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct RepoMapOutput {
    pub repo_id: String,
    pub name: String,
    /// Its most central symbols, grouped by file, within the token budget.
    pub map: String,
}
