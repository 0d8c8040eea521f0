//! What the knowledge server says about repositories, jobs and search hits, in one shape for every
//! face: `--json` on the command line, MCP structured output, and REST (whose OpenAPI document is
//! derived from these types). The field names are a public contract.

use std::collections::BTreeMap;

use indexer::{Hit, JobState, JobStatus, RepoGraph, RepoRecord, SymbolRef};
use schemars::JsonSchema;
use serde::Serialize;
use utoipa::ToSchema;

/// MCP output schemas spell a nullable property `anyOf: [{type: T}, {type: null}]` rather than
/// `type: [T, null]`: the same JSON Schema, but one `type` per branch, which clients that map
/// schemas onto a single-type dialect can read.
fn nullable_as_any_of(schema: &mut schemars::Schema) {
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
}

impl SymbolView {
    pub fn new(graph: &RepoGraph, symbol: SymbolRef) -> SymbolView {
        let s = graph.symbol(symbol);
        let parent = s.parent.map(|p| {
            let parent = SymbolRef { file: symbol.file, symbol: p as usize };
            graph.symbol(parent).qualified.clone()
        });
        SymbolView {
            name: s.name.clone(),
            qualified: s.qualified.clone(),
            kind: s.kind.as_str().to_owned(),
            path: graph.files[symbol.file].path.clone(),
            start_line: s.start_line,
            end_line: s.end_line,
            signature: s.signature.clone(),
            doc: s.doc.clone(),
            parent,
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
