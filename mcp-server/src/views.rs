//! What the knowledge server says about repositories, jobs and search hits, in one shape for every
//! face: `--json` on the command line, MCP structured output, and (next) REST. The field names are
//! a public contract.

use std::collections::BTreeMap;

use indexer::{Hit, JobStatus, RepoRecord};
use schemars::JsonSchema;
use serde::Serialize;

/// A search hit.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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

/// A stored repository and how its last index went.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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
        }
    }
}

/// A repository with its job's live progress.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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
}

impl From<&JobStatus> for JobView {
    fn from(status: &JobStatus) -> JobView {
        JobView {
            repo: RepoView::from(&status.repo),
            progress: status.progress,
            files_parsed: status.files_parsed,
            chunks_embedded: status.chunks_embedded,
            chunks_to_embed: status.chunks_to_embed,
        }
    }
}
