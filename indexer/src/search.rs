//! The search index: every chunk of every repository in one LanceDB table (`<data_dir>/lance`),
//! with a full-text index whose code tokenizer splits identifiers (`parseHttpResponse`,
//! `parse_http_response` → parse, http, response) and keeps them whole too.
//!
//! Layout of the `chunks` table, one row per chunk:
//! `id` (`<repo>:<path>#<n>`), `repo_id`, `path`, `language`, `start_line`, `end_line`,
//! `symbol` (qualified name, if the chunk belongs to one), `kind` (the symbol's kind, or `code`),
//! `commit`, `hash` (blake3 of `text`), `text` (a `path · symbol` header line, then the code), and
//! `vector` (384 floats, filled in by the embedding stage; null until then).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use lancedb::arrow::arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array,
};
use lancedb::arrow::arrow_schema::{DataType, Field, Schema, SchemaRef};
use lancedb::index::Index;
use lancedb::index::scalar::{FtsIndexBuilder, FullTextSearchQuery};
use lancedb::query::{ExecutableQuery, QueryBase};
use lancedb::table::{OptimizeAction, OptimizeOptions};
use lancedb::{Connection, Table};
use tokio::sync::OnceCell;

use crate::embed::DIMENSIONS;
use crate::graph::RepoGraph;
use crate::model::FileFacts;

const TABLE: &str = "chunks";

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Lance(#[from] lancedb::Error),
    #[error("search index: {0}")]
    Arrow(#[from] lancedb::arrow::arrow_schema::ArrowError),
    #[error("invalid path filter {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
}

/// How a query is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BM25 over the code's words, identifiers split.
    Lexical,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lexical => "lexical",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub text: String,
    pub mode: Mode,
    /// Repository ids to search; empty means all.
    pub repos: Vec<String>,
    pub language: Option<String>,
    /// A glob over repository-relative paths (`src/**/*.rs`).
    pub path_glob: Option<String>,
    /// A symbol kind (`function`, `method`, …) or `code` for top-level code.
    pub kind: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub repo_id: String,
    pub path: String,
    pub language: String,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
    pub kind: String,
    /// The chunk's code.
    pub snippet: String,
    /// The commit the chunk was indexed at (`None` for a plain directory).
    pub commit: Option<String>,
    pub score: f32,
    /// Set by the caller: the file changed since it was indexed.
    pub stale: bool,
}

/// A chunk ready to be written: its place and its text.
#[derive(Debug, Clone)]
pub struct ChunkRow {
    pub path: String,
    pub language: String,
    pub index: usize,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
    pub kind: String,
    pub text: String,
}

pub struct SearchIndex {
    db: Connection,
    table: OnceCell<Table>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("table", &TABLE).finish_non_exhaustive()
    }
}

impl SearchIndex {
    pub async fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        let db = lancedb::connect(&dir.to_string_lossy()).execute().await?;
        Ok(SearchIndex { db, table: OnceCell::new() })
    }

    async fn table(&self) -> Result<&Table, SearchError> {
        self.table
            .get_or_try_init(|| async {
                if self.db.table_names().execute().await?.iter().any(|t| t == TABLE) {
                    Ok(self.db.open_table(TABLE).execute().await?)
                } else {
                    Ok(self.db.create_empty_table(TABLE, schema()).execute().await?)
                }
            })
            .await
    }

    /// Replaces the chunks of `paths` (changed or deleted files) in `repo` with `rows`.
    pub async fn replace(
        &self,
        repo: &str,
        commit: Option<&str>,
        paths: &[String],
        rows: Vec<ChunkRow>,
    ) -> Result<(), SearchError> {
        if paths.is_empty() && rows.is_empty() {
            return Ok(());
        }
        let table = self.table().await?;
        for batch in paths.chunks(500) {
            let list: Vec<String> = batch.iter().map(|p| sql_string(p)).collect();
            table
                .delete(
                    format!("repo_id = {} AND path IN ({})", sql_string(repo), list.join(", "))
                        .as_str(),
                )
                .await?;
        }
        if !rows.is_empty() {
            table.add(batch(repo, commit, &rows)?).execute().await?;
        }
        self.index_text(table).await
    }

    /// How many chunks of a repository the index holds.
    pub async fn count(&self, repo: &str) -> Result<usize, SearchError> {
        Ok(self.table().await?.count_rows(Some(format!("repo_id = {}", sql_string(repo)))).await?)
    }

    /// Forgets every chunk of a repository.
    pub async fn remove_repo(&self, repo: &str) -> Result<(), SearchError> {
        let table = self.table().await?;
        table.delete(format!("repo_id = {}", sql_string(repo)).as_str()).await?;
        Ok(())
    }

    /// Builds the full-text index the first time, and folds new rows into it afterwards. Rows
    /// added since are searched too, without the index, so nothing is ever missing.
    async fn index_text(&self, table: &Table) -> Result<(), SearchError> {
        let indexed =
            table.list_indices().await?.iter().any(|i| i.columns.iter().any(|c| c == "text"));
        if indexed {
            table.optimize(OptimizeAction::Index(OptimizeOptions::default())).await?;
        } else if table.count_rows(None).await? > 0 {
            table.create_index(&["text"], Index::FTS(text_index())).execute().await?;
        }
        Ok(())
    }

    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, SearchError> {
        // The query goes through the same tokenizer as the indexed text.
        let glob = query
            .path_glob
            .as_deref()
            .map(|g| {
                globset::Glob::new(g).map(|g| g.compile_matcher()).map_err(|e| {
                    SearchError::BadGlob { glob: g.to_owned(), message: e.to_string() }
                })
            })
            .transpose()?;
        let table = self.table().await?;
        if query.text.trim().is_empty() || table.count_rows(None).await? == 0 {
            return Ok(Vec::new());
        }
        // Fetch enough to fill the page after the path glob and overlap filters.
        let wanted = query.offset + query.limit;
        let fetch = if glob.is_some() { wanted * 4 + 20 } else { wanted * 2 + 10 };
        let mut q = table
            .query()
            .full_text_search(FullTextSearchQuery::new(query.text.clone()))
            .limit(fetch);
        if let Some(filter) = filter(query) {
            q = q.only_if(filter);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let mut hits = Vec::new();
        for batch in &batches {
            hits.extend(read_hits(batch)?);
        }
        if let Some(glob) = &glob {
            hits.retain(|h| glob.is_match(&h.path));
        }
        let hits = drop_overlaps(hits);
        Ok(hits.into_iter().skip(query.offset).take(query.limit).collect())
    }
}

/// A chunk's indexed text: a header naming its place, then its code.
pub fn chunk_rows(path: &str, source: &str, facts: &FileFacts) -> Vec<ChunkRow> {
    facts
        .chunks
        .iter()
        .enumerate()
        .filter_map(|(index, chunk)| {
            let code = source.get(chunk.start_byte as usize..chunk.end_byte as usize)?;
            let symbol = chunk.symbol.map(|s| &facts.symbols[s as usize]);
            let header = match symbol {
                Some(s) => format!("{path} · {}", s.qualified),
                None => path.to_owned(),
            };
            Some(ChunkRow {
                path: path.to_owned(),
                language: facts.language.name().to_owned(),
                index,
                start_line: chunk.start_line,
                end_line: chunk.end_line,
                symbol: symbol.map(|s| s.qualified.clone()),
                kind: symbol.map_or("code", |s| s.kind.as_str()).to_owned(),
                text: format!("{header}\n{code}"),
            })
        })
        .collect()
}

/// Every chunk of an indexed repository, read from its checkout. Files that changed since they
/// were indexed are left out (their chunk ranges no longer fit); the next index picks them up.
pub fn rows_for(
    graph: &RepoGraph,
    root: &Path,
    paths: &HashSet<&str>,
    hashes: &std::collections::HashMap<String, String>,
) -> Vec<ChunkRow> {
    graph
        .files
        .iter()
        .filter(|f| paths.contains(f.path.as_str()))
        .flat_map(|file| {
            let Ok(bytes) = std::fs::read(root.join(&file.path)) else { return Vec::new() };
            if hashes.get(&file.path).map(String::as_str)
                != Some(blake3::hash(&bytes).to_hex().as_str())
            {
                return Vec::new();
            }
            match std::str::from_utf8(&bytes) {
                Ok(source) => chunk_rows(&file.path, source, &file.facts),
                Err(_) => Vec::new(),
            }
        })
        .collect()
}

/// Lance's code tokenizer, with identifiers split into their words (its code profile leaves that
/// off) and kept whole as well; English stemming and stop words, so that a question in words
/// ("where do we retry failed uploads") meets `retry_upload`.
fn text_index() -> FtsIndexBuilder {
    FtsIndexBuilder::code()
        .split_identifiers(true)
        .preserve_original(true)
        .stem(true)
        .remove_stop_words(true)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("repo_id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, false),
        Field::new("start_line", DataType::UInt32, false),
        Field::new("end_line", DataType::UInt32, false),
        Field::new("symbol", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("commit", DataType::Utf8, true),
        Field::new("hash", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                DIMENSIONS as i32,
            ),
            true,
        ),
    ]))
}

fn batch(repo: &str, commit: Option<&str>, rows: &[ChunkRow]) -> Result<RecordBatch, SearchError> {
    let strings = |f: &dyn Fn(&ChunkRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let vector_field = Arc::new(Field::new("item", DataType::Float32, true));
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| format!("{repo}:{}#{}", r.path, r.index)),
        strings(&|_| repo.to_owned()),
        strings(&|r| r.path.clone()),
        strings(&|r| r.language.clone()),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.start_line))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.end_line))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.symbol.as_deref()))),
        strings(&|r| r.kind.clone()),
        Arc::new(StringArray::from_iter(rows.iter().map(|_| commit))),
        strings(&|r| blake3::hash(r.text.as_bytes()).to_hex().to_string()),
        strings(&|r| r.text.clone()),
        Arc::new(FixedSizeListArray::new_null(vector_field, DIMENSIONS as i32, rows.len())),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// A SQL filter for the query's repositories, language, kind and the literal prefix of its glob.
fn filter(query: &SearchQuery) -> Option<String> {
    let mut parts = Vec::new();
    if !query.repos.is_empty() {
        let repos: Vec<String> = query.repos.iter().map(|r| sql_string(r)).collect();
        parts.push(format!("repo_id IN ({})", repos.join(", ")));
    }
    if let Some(language) = &query.language {
        parts.push(format!("language = {}", sql_string(language)));
    }
    if let Some(kind) = &query.kind {
        parts.push(format!("kind = {}", sql_string(kind)));
    }
    if let Some(glob) = &query.path_glob {
        // The glob's literal ends narrow the search in the index; the glob itself is checked
        // after. Without them, a pattern like `**/*.py` could see its page filled by other files.
        const META: &str = "*?[]{}\\";
        let prefix: String = glob.chars().take_while(|c| !META.contains(*c)).collect();
        let suffix: String = glob
            .chars()
            .rev()
            .take_while(|c| !META.contains(*c) && *c != '/')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !prefix.is_empty() {
            parts.push(format!("starts_with(path, {})", sql_string(&prefix)));
        }
        if !suffix.is_empty() && suffix.len() < glob.len() {
            parts.push(format!("ends_with(path, {})", sql_string(&suffix)));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// A string literal for a LanceDB (DataFusion) filter.
fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn read_hits(batch: &RecordBatch) -> Result<Vec<Hit>, SearchError> {
    let text = |name: &str| -> Result<&StringArray, SearchError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| {
                lancedb::Error::InvalidInput {
                    message: format!("the result has no text column {name}"),
                }
                .into()
            })
    };
    let number = |name: &str| -> Result<&UInt32Array, SearchError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
            .ok_or_else(|| {
                lancedb::Error::InvalidInput {
                    message: format!("the result has no number column {name}"),
                }
                .into()
            })
    };
    let (repo, path, language, symbol, kind, commit, body) = (
        text("repo_id")?,
        text("path")?,
        text("language")?,
        text("symbol")?,
        text("kind")?,
        text("commit")?,
        text("text")?,
    );
    let (start, end) = (number("start_line")?, number("end_line")?);
    let score =
        batch.column_by_name("_score").and_then(|c| c.as_any().downcast_ref::<Float32Array>());
    let optional =
        |column: &StringArray, i: usize| (!column.is_null(i)).then(|| column.value(i).to_owned());
    Ok((0..batch.num_rows())
        .map(|i| Hit {
            repo_id: repo.value(i).to_owned(),
            path: path.value(i).to_owned(),
            language: language.value(i).to_owned(),
            start_line: start.value(i),
            end_line: end.value(i),
            symbol: optional(symbol, i),
            kind: kind.value(i).to_owned(),
            snippet: body.value(i).split_once('\n').map_or("", |(_, code)| code).to_owned(),
            commit: optional(commit, i),
            score: score.map_or(0.0, |s| s.value(i)),
            stale: false,
        })
        .collect())
}

/// Keeps the better-ranked of two hits whose line ranges in the same file overlap.
fn drop_overlaps(hits: Vec<Hit>) -> Vec<Hit> {
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        let overlaps = kept.iter().any(|k| {
            k.repo_id == hit.repo_id
                && k.path == hit.path
                && k.start_line <= hit.end_line
                && hit.start_line <= k.end_line
        });
        if !overlaps {
            kept.push(hit);
        }
    }
    kept
}
