//! The search index: every chunk of every repository in one LanceDB table (`<data_dir>/lance`),
//! with a full-text index whose code tokenizer splits identifiers (`parseHttpResponse`,
//! `parse_http_response` → parse, http, response) and keeps them whole too.
//!
//! Layout of the table, one row per chunk (`chunks`, or one of its own per remote embedding
//! model: `VectorSpace::table`):
//! `id` (`<repo>:<path>#<n>`), `repo_id`, `path`, `language`, `start_line`, `end_line`,
//! `symbol` (qualified name, if the chunk belongs to one), `kind` (the symbol's kind, or `code`),
//! `commit`, `hash` (blake3 of `text`), `text` (a `path · symbol` header line, then the code), and
//! `vector` (the model's length, 384 for the local one, filled in by the embedding stage; null
//! until then).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use lancedb::arrow::SendableRecordBatchStream;
use lancedb::arrow::arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, RecordBatchIterator,
    StringArray, UInt32Array,
};
use lancedb::arrow::arrow_buffer::NullBuffer;
use lancedb::arrow::arrow_schema::{DataType, Field, Schema, SchemaRef};
use lancedb::index::Index;
use lancedb::index::scalar::FullTextSearchQuery;
use lancedb::index::vector::IvfSqIndexBuilder;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::{CompactionOptions, Duration, OptimizeAction, OptimizeOptions};
use lancedb::{Connection, DistanceType, Table};
use tokio::sync::{Mutex, OnceCell};

use crate::embed::VectorSpace;
use crate::file_index::{FileIndex, FileRow, Terms, Weights, analyzer};
use crate::graph::RepoGraph;
use crate::model::FileFacts;
use crate::words::{WordWeights, weigh};

/// The vector index is trained once this many chunks have vectors; below, an exact scan is as
/// fast.
pub const VECTOR_INDEX_MIN_ROWS: usize = 50_000;

/// The vector index ranks by quantized vectors; the best `REFINE_FACTOR × limit` of them are
/// re-ranked by their full vectors. At 100k chunks this lifts recall@10 against an exact scan from
/// 0.989 to 0.999 for 2.4 ms (BENCHMARKS.md).
const REFINE_FACTOR: u32 = 5;

/// Reciprocal rank fusion: a hit at rank r (from 1) of a list scores `weight / (RRF_K + r)`.
/// The usual k = 60 flattens the top of short lists; 10 keeps a first place worth twice a tenth.
const RRF_K: f32 = 10.0;

/// BM25's weight in the fusion (the vector list's is 1). On questions in words, the vector list
/// is the better judge: on CoSQA, equal weights gave MRR@10 0.467 against semantic's 0.518, and
/// half weight 0.509 (k and weight chosen on half the queries, checked on the other half;
/// BENCHMARKS.md). BM25 still lifts exact identifiers, which embeddings blur.
const LEXICAL_WEIGHT: f32 = 0.5;

/// The columns a hit is read from (all but the vector).
const COLUMNS: &[&str] =
    &["repo_id", "path", "language", "start_line", "end_line", "symbol", "kind", "commit", "text"];

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Lance(#[from] lancedb::Error),
    #[error("search index: {0}")]
    Arrow(#[from] lancedb::arrow::arrow_schema::ArrowError),
    #[error("invalid path filter {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
    #[error("unknown language {0:?}: use one of {known}", known = known_languages())]
    UnknownLanguage(String),
    #[error("semantic and hybrid search need the query's embedding")]
    NoQueryVector,
}

fn known_languages() -> String {
    let names: Vec<&str> = grammars::Language::all().iter().map(|l| l.name()).collect();
    names.join(", ")
}

/// How a query is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nearest chunks by meaning: cosine distance between the query's embedding and theirs.
    Semantic,
    /// BM25 over the code's words, identifiers split.
    Lexical,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Semantic, Mode::Lexical, Mode::Hybrid];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Semantic => "semantic",
            Mode::Lexical => "lexical",
            Mode::Hybrid => "hybrid",
        }
    }

    /// Whether the query must be embedded.
    pub fn needs_vector(self) -> bool {
        self != Mode::Lexical
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown search mode {s:?}: use semantic, lexical or hybrid"))
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
    /// The table of the configured model's vectors (`VectorSpace::table`).
    name: String,
    dimensions: usize,
    table: OnceCell<Table>,
    /// The files of every repository, ranked as wholes.
    files: FileIndex,
    /// One writer at a time: jobs of different repositories share the tables.
    writes: Mutex<()>,
    vector_index_from: usize,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("table", &self.name).finish_non_exhaustive()
    }
}

/// Pages of chunks waiting for their vectors.
pub struct Pages {
    stream: SendableRecordBatchStream,
    page: usize,
    buffer: Vec<Unembedded>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").field("page", &self.page).finish_non_exhaustive()
    }
}

impl Pages {
    /// The next page; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Vec<Unembedded>, SearchError>> {
        while self.buffer.len() < self.page {
            match self.stream.try_next().await {
                Ok(Some(batch)) => {
                    if let Err(e) = read_unembedded(&batch, &mut self.buffer) {
                        return Some(Err(e));
                    }
                }
                Ok(None) => break,
                Err(e) => return Some(Err(e.into())),
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let rest = self.buffer.split_off(self.page.min(self.buffer.len()));
        Some(Ok(std::mem::replace(&mut self.buffer, rest)))
    }
}

fn read_unembedded(batch: &RecordBatch, into: &mut Vec<Unembedded>) -> Result<(), SearchError> {
    let (id, hash, text) = (
        column::<StringArray>(batch, "id")?,
        column::<StringArray>(batch, "hash")?,
        column::<StringArray>(batch, "text")?,
    );
    into.extend((0..batch.num_rows()).map(|i| Unembedded {
        id: id.value(i).to_owned(),
        hash: hash.value(i).to_owned(),
        text: text.value(i).to_owned(),
    }));
    Ok(())
}

/// Whether `error` is another process's commit to the table getting there first (every process
/// on the data dir, every replica, writes the one table): then the write can be made again on the
/// table as it now is.
pub(crate) fn lost_a_race(error: &lancedb::Error) -> bool {
    use lance_core::Error as Lance;
    matches!(
        error,
        lancedb::Error::Lance {
            source: Lance::CommitConflict { .. }
                | Lance::RetryableCommitConflict { .. }
                | Lance::IncompatibleTransaction { .. }
        }
    )
}

/// Makes `write` again while it loses races to other processes' commits, a few times, waiting
/// longer each time. Each write here means the same on the table as it now is (a delete by
/// filter, an append, an upsert by id, an index built or a compaction of what is there), so
/// making it again is right.
pub(crate) async fn retrying<T, F, W>(mut write: W) -> Result<T, lancedb::Error>
where
    W: FnMut() -> F,
    F: Future<Output = Result<T, lancedb::Error>>,
{
    let mut wait = std::time::Duration::from_millis(20);
    for _ in 0..8 {
        match write().await {
            Err(e) if lost_a_race(&e) => {
                tracing::debug!("another process committed to the search index first: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(1));
            }
            done => return done,
        }
    }
    write().await
}

/// A chunk still waiting for its vector.
#[derive(Debug, Clone)]
pub struct Unembedded {
    pub id: String,
    pub hash: String,
    pub text: String,
}

impl SearchIndex {
    /// The index at `uri`: a folder, or an object-store URL (`s3://bucket/prefix`, with the
    /// credentials, region and endpoint of the standard `AWS_*` environment); the table of
    /// `space`'s vectors.
    pub async fn open(uri: &str, space: &VectorSpace) -> Result<SearchIndex, SearchError> {
        // Other processes write to the index too (`agentwatch index` while `serve` runs, other
        // replicas): a read more than a second after the last one looks for their versions.
        let db = lancedb::connect(uri)
            .read_consistency_interval(std::time::Duration::from_secs(1))
            .execute()
            .await?;
        Ok(SearchIndex {
            files: FileIndex::new(db.clone()),
            db,
            name: space.table(),
            dimensions: space.dimensions,
            table: OnceCell::new(),
            writes: Mutex::new(()),
            vector_index_from: VECTOR_INDEX_MIN_ROWS,
        })
    }

    /// The table this index reads and writes (`VectorSpace::table`).
    pub fn table_name(&self) -> &str {
        &self.name
    }

    /// Trains the vector index from `rows` vectors instead of [`VECTOR_INDEX_MIN_ROWS`].
    pub fn with_vector_index_from(mut self, rows: usize) -> SearchIndex {
        self.vector_index_from = rows;
        self
    }

    /// Whether the table exists yet.
    pub async fn has_table(&self) -> Result<bool, SearchError> {
        Ok(self.db.table_names().execute().await?.contains(&self.name))
    }

    /// Makes the table unless it exists. Two processes making it at once would have the later
    /// one's making replace the earlier's table (in Lance a new table is an overwrite), so the
    /// caller holds a claim that one process at a time may make it.
    pub async fn make_table(&self) -> Result<(), SearchError> {
        self.table().await.map(drop)
    }

    /// The columns that have an index (`text`, and `vector` once trained).
    pub async fn indexed_columns(&self) -> Result<Vec<String>, SearchError> {
        let indices = self.table().await?.list_indices().await?;
        Ok(indices.into_iter().flat_map(|i| i.columns).collect())
    }

    async fn table(&self) -> Result<&Table, SearchError> {
        self.table
            .get_or_try_init(|| async {
                if self.db.table_names().execute().await?.contains(&self.name) {
                    return Ok(self.db.open_table(&self.name).execute().await?);
                }
                // Another process may make it between the look and the making: then it is
                // theirs to use.
                match self
                    .db
                    .create_empty_table(&self.name, schema(self.dimensions))
                    .execute()
                    .await
                {
                    Err(lancedb::Error::TableAlreadyExists { .. }) => {
                        Ok(self.db.open_table(&self.name).execute().await?)
                    }
                    made => Ok(made?),
                }
            })
            .await
    }

    /// Replaces the chunks and file rows of `paths` (changed or deleted files) in `repo` with
    /// `rows`. A chunk whose text is already embedded anywhere in the index gets that vector at
    /// once.
    pub async fn replace(
        &self,
        repo: &str,
        commit: Option<&str>,
        paths: &[String],
        rows: Rows,
    ) -> Result<(), SearchError> {
        let Rows { chunks: rows, files } = rows;
        if paths.is_empty() && rows.is_empty() {
            return Ok(());
        }
        let table = self.table().await?;
        let _writing = self.writes.lock().await;
        self.files.replace(repo, paths, &files).await?;
        let hashes: Vec<String> =
            rows.iter().map(|r| blake3::hash(r.text.as_bytes()).to_hex().to_string()).collect();
        // Read before the old rows go: they are the likeliest source.
        let known = self.vectors(&hashes).await?;
        delete_paths(table, repo, paths).await?;
        if !rows.is_empty() {
            let rows = batch(self.dimensions, repo, commit, &rows, &hashes, &known)?;
            retrying(|| table.add(rows.clone()).execute()).await?;
        }
        full_text_index(table, "text").await
    }

    /// The vectors already computed for these chunk texts (by blake3 hash): the embedding cache.
    pub async fn vectors(
        &self,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, SearchError> {
        let table = self.table().await?;
        let unique: Vec<&String> = hashes.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut found = HashMap::new();
        for part in unique.chunks(1000) {
            let list: Vec<String> = part.iter().map(|h| sql_string(h)).collect();
            let batches: Vec<RecordBatch> = table
                .query()
                .only_if(format!("vector IS NOT NULL AND hash IN ({})", list.join(", ")))
                .select(Select::columns(&["hash", "vector"]))
                .execute()
                .await?
                .try_collect()
                .await?;
            for batch in &batches {
                let hash = column::<StringArray>(batch, "hash")?;
                let vector = column::<FixedSizeListArray>(batch, "vector")?;
                for i in 0..batch.num_rows() {
                    let values = vector.value(i);
                    let values =
                        values.as_any().downcast_ref::<Float32Array>().ok_or_else(|| {
                            lancedb::Error::InvalidInput { message: "vector is not f32".into() }
                        })?;
                    found.insert(hash.value(i).to_owned(), values.values().to_vec());
                }
            }
        }
        Ok(found)
    }

    /// How many chunks of a repository have no vector yet.
    pub async fn count_unembedded(&self, repo: &str) -> Result<usize, SearchError> {
        let filter = format!("repo_id = {} AND vector IS NULL", sql_string(repo));
        Ok(self.table().await?.count_rows(Some(filter)).await?)
    }

    /// The chunks of a repository that have no vector yet, in pages of `page`, read from the
    /// table as it is now: vectors stored meanwhile do not disturb the reading.
    pub async fn unembedded(&self, repo: &str, page: usize) -> Result<Pages, SearchError> {
        let stream = self
            .table()
            .await?
            .query()
            .only_if(format!("repo_id = {} AND vector IS NULL", sql_string(repo)))
            .select(Select::columns(&["id", "hash", "text"]))
            .execute()
            .await?;
        Ok(Pages { stream, page: page.max(1), buffer: Vec::new() })
    }

    /// Stores the vectors of chunks by id. A chunk deleted meanwhile is left deleted.
    pub async fn set_vectors(
        &self,
        ids: Vec<String>,
        vectors: &[Vec<f32>],
    ) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let table = self.table().await?;
        let _writing = self.writes.lock().await;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            vector_field(self.dimensions),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(vector_array(
                    self.dimensions,
                    vectors.iter().map(|v| Some(v.as_slice())),
                )?),
            ],
        )?;
        retrying(|| {
            let mut merge = table.merge_insert(&["id"]);
            merge.when_matched_update_all(None);
            let rows = RecordBatchIterator::new([Ok(batch.clone())], Arc::clone(&schema));
            async move { merge.execute(Box::new(rows)).await }
        })
        .await?;
        Ok(())
    }

    /// Tidies the table after a job: merges small files, folds new rows into the full-text and
    /// vector indexes, builds the vector index once there are enough vectors to train it, and
    /// drops the files of versions older than a minute.
    pub async fn optimize(&self) -> Result<(), SearchError> {
        let table = self.table().await?;
        let _writing = self.writes.lock().await;
        if table.count_rows(None).await? == 0 {
            return Ok(());
        }
        retrying(|| {
            table.optimize(OptimizeAction::Compact {
                options: CompactionOptions::default(),
                remap_options: None,
            })
        })
        .await?;
        let has_vector_index =
            table.list_indices().await?.iter().any(|i| i.columns.iter().any(|c| c == "vector"));
        if !has_vector_index
            && table.count_rows(Some("vector IS NOT NULL".into())).await? >= self.vector_index_from
        {
            let ivf = || IvfSqIndexBuilder::default().distance_type(DistanceType::Cosine);
            retrying(|| table.create_index(&["vector"], Index::IvfSq(ivf())).execute()).await?;
        }
        retrying(|| table.optimize(OptimizeAction::Index(OptimizeOptions::default()))).await?;
        self.files.optimize().await?;
        retrying(|| {
            table.optimize(OptimizeAction::Prune {
                older_than: Duration::try_minutes(1),
                delete_unverified: None,
                error_if_tagged_old_versions: None,
            })
        })
        .await?;
        Ok(())
    }

    /// Rows not yet folded into the full-text index (searched as they are until the next
    /// tidying).
    pub async fn untidied(&self) -> Result<usize, SearchError> {
        let table = self.table().await?;
        let indices = table.list_indices().await?;
        let Some(text) = indices.iter().find(|i| i.columns.iter().any(|c| c == "text")) else {
            return Ok(table.count_rows(None).await?);
        };
        let stats = table.index_stats(&text.name).await?;
        Ok(stats.map_or(0, |s| s.num_unindexed_rows))
    }

    /// How many chunks of a repository the index holds.
    pub async fn count(&self, repo: &str) -> Result<usize, SearchError> {
        Ok(self.table().await?.count_rows(Some(format!("repo_id = {}", sql_string(repo)))).await?)
    }

    /// How many files of a repository the file index holds.
    pub async fn count_files(&self, repo: &str) -> Result<usize, SearchError> {
        self.files.count(repo).await
    }

    /// Writes the file rows of a repository indexed before the file index existed.
    pub async fn fill_files(&self, repo: &str, rows: &[FileRow]) -> Result<(), SearchError> {
        let _writing = self.writes.lock().await;
        let paths: Vec<String> = rows.iter().map(|r| r.path.clone()).collect();
        self.files.replace(repo, &paths, rows).await
    }

    /// A repository's files ranked as wholes for `text` over the weighted fields (BM25F; one
    /// field is plain BM25), best first, as `(path, score)`.
    pub async fn rank_files(
        &self,
        repo: &str,
        text: &str,
        weights: &Weights,
        words: Option<&WordWeights>,
        limit: usize,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        self.files.rank(repo, text, weights, words, limit).await
    }

    /// The whole text of some files of a repository.
    pub async fn file_bodies(
        &self,
        repo: &str,
        paths: &[String],
    ) -> Result<HashMap<String, String>, SearchError> {
        self.files.bodies(repo, paths).await
    }

    /// Forgets every chunk and file of a repository.
    pub async fn remove_repo(&self, repo: &str) -> Result<(), SearchError> {
        let table = self.table().await?;
        let _writing = self.writes.lock().await;
        self.files.remove_repo(repo).await?;
        let filter = format!("repo_id = {}", sql_string(repo));
        retrying(|| table.delete(&filter)).await?;
        Ok(())
    }

    /// Runs a query. Semantic and hybrid modes need the query's embedding in `vectors`: one, or
    /// one per piece of a long query (a chunk then ranks by its best similarity to any piece).
    /// A long query's words are weighted by where they stand (`words.rs`).
    pub async fn search(
        &self,
        query: &SearchQuery,
        vectors: &[&[f32]],
    ) -> Result<Vec<Hit>, SearchError> {
        self.search_with(query, vectors, Some(&WordWeights::default())).await
    }

    /// [`SearchIndex::search`] with the words of a long query weighted by `words`, or searched
    /// as one bag of equal words (`None`).
    pub async fn search_with(
        &self,
        query: &SearchQuery,
        vectors: &[&[f32]],
        words: Option<&WordWeights>,
    ) -> Result<Vec<Hit>, SearchError> {
        let glob = query
            .path_glob
            .as_deref()
            .map(|g| {
                globset::Glob::new(g).map(|g| g.compile_matcher()).map_err(|e| {
                    SearchError::BadGlob { glob: g.to_owned(), message: e.to_string() }
                })
            })
            .transpose()?;
        if let Some(language) = &query.language
            && grammars::Language::from_name(language).is_none()
        {
            return Err(SearchError::UnknownLanguage(language.clone()));
        }
        if query.mode.needs_vector() && vectors.is_empty() {
            return Err(SearchError::NoQueryVector);
        }
        let table = self.table().await?;
        if query.text.trim().is_empty() || table.count_rows(None).await? == 0 {
            return Ok(Vec::new());
        }
        // Fetch enough to fill the page after the path glob and overlap filters.
        let wanted = query.offset + query.limit;
        let fetch = if glob.is_some() { wanted * 4 + 20 } else { wanted * 2 + 10 };
        let filter = filter(query);
        let weighted = words.and_then(|words| weigh(&query.text, words, &mut Terms::new()));
        let lexical = async {
            if query.mode == Mode::Semantic {
                return Ok(Vec::new());
            }
            let text = match &weighted {
                Some(words) => {
                    FullTextSearchQuery::new_query(crate::words::query(words, &[("text", 1.0)]))
                }
                None => FullTextSearchQuery::new(query.text.clone()),
            };
            let mut q =
                table.query().full_text_search(text).select(Select::columns(COLUMNS)).limit(fetch);
            if let Some(filter) = &filter {
                q = q.only_if(filter.clone());
            }
            read_all(q.execute().await?, "_score").await
        };
        let nearest = |vector: &[f32]| {
            // Chunks not embedded yet have a null vector: the vector index leaves them out and
            // Lance's exact scan drops their null distances, so no `vector IS NOT NULL` filter is
            // needed — as a prefilter it read the whole vector column, 49 of a query's 54 ms at
            // 100k chunks (BENCHMARKS.md).
            let q = table.query().nearest_to(vector).map(|q| {
                let q = q
                    .distance_type(DistanceType::Cosine)
                    .refine_factor(REFINE_FACTOR)
                    .select(Select::columns(COLUMNS))
                    .limit(fetch);
                match &filter {
                    Some(filter) => q.only_if(filter.clone()),
                    None => q,
                }
            });
            async move { read_all(q?.execute().await?, "_distance").await }
        };
        let semantic = async {
            if query.mode == Mode::Lexical {
                return Ok(Vec::new());
            }
            let pieces = futures::future::try_join_all(vectors.iter().map(|v| nearest(v))).await?;
            Ok::<_, SearchError>(best_of(pieces))
        };
        let (mut lexical, mut semantic) = futures::try_join!(lexical, semantic)?;
        if let Some(glob) = &glob {
            lexical.retain(|h| glob.is_match(&h.path));
            semantic.retain(|h| glob.is_match(&h.path));
        }
        let hits = match query.mode {
            Mode::Lexical => lexical,
            Mode::Semantic => semantic,
            Mode::Hybrid => {
                let weight = match (words, &weighted) {
                    (Some(words), Some(_)) => words.lexical,
                    _ => LEXICAL_WEIGHT,
                };
                fuse(lexical, semantic, weight)
            }
        };
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

/// Deletes the rows of `paths` in `repo`.
pub(crate) async fn delete_paths(
    table: &Table,
    repo: &str,
    paths: &[String],
) -> Result<(), SearchError> {
    for batch in paths.chunks(500) {
        let list: Vec<String> = batch.iter().map(|p| sql_string(p)).collect();
        let filter = format!("repo_id = {} AND path IN ({})", sql_string(repo), list.join(", "));
        retrying(|| table.delete(&filter)).await?;
    }
    Ok(())
}

/// Gives `column` its full-text index once the table has rows; another process may be making it
/// too.
pub(crate) async fn full_text_index(table: &Table, column: &str) -> Result<(), SearchError> {
    loop {
        let indexed = table.list_indices().await?.iter().any(|i| i.columns == [column]);
        if indexed || table.count_rows(None).await? == 0 {
            return Ok(());
        }
        match table.create_index(&[column], Index::FTS(analyzer())).execute().await {
            Err(e) if lost_a_race(&e) => continue,
            made => return Ok(made?),
        }
    }
}

/// What the index keeps of some files: their chunks, and each file whole.
#[derive(Debug, Default)]
pub struct Rows {
    pub chunks: Vec<ChunkRow>,
    pub files: Vec<FileRow>,
}

/// The rows of an indexed repository's files, read from its checkout. Files that changed since
/// they were indexed are left out (their chunk ranges no longer fit); the next index picks them
/// up.
pub fn rows_for(
    graph: &RepoGraph,
    root: &Path,
    paths: &HashSet<&str>,
    hashes: &HashMap<String, String>,
) -> Rows {
    let mut rows = Rows::default();
    for file in graph.files.iter().filter(|f| paths.contains(f.path.as_str())) {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else { continue };
        if hashes.get(&file.path).map(String::as_str)
            != Some(blake3::hash(&bytes).to_hex().as_str())
        {
            continue;
        }
        if let Ok(source) = std::str::from_utf8(&bytes) {
            rows.chunks.extend(chunk_rows(&file.path, source, &file.facts));
            rows.files.push(FileRow::new(&file.path, source, &file.facts));
        }
    }
    rows
}

fn schema(dimensions: usize) -> SchemaRef {
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
        vector_field(dimensions),
    ]))
}

fn vector_field(dimensions: usize) -> Field {
    Field::new(
        "vector",
        DataType::FixedSizeList(
            Arc::new(Field::new("item", DataType::Float32, true)),
            dimensions as i32,
        ),
        true,
    )
}

/// A vector column; `None` stands for a chunk not embedded yet.
fn vector_array<'a>(
    dimensions: usize,
    vectors: impl ExactSizeIterator<Item = Option<&'a [f32]>>,
) -> Result<FixedSizeListArray, SearchError> {
    let mut values = Vec::with_capacity(vectors.len() * dimensions);
    let mut valid = Vec::with_capacity(vectors.len());
    for vector in vectors {
        match vector {
            Some(v) if v.len() == dimensions => values.extend_from_slice(v),
            Some(v) => {
                return Err(lancedb::Error::InvalidInput {
                    message: format!("a vector has {} dimensions, not {dimensions}", v.len()),
                }
                .into());
            }
            None => values.extend(std::iter::repeat_n(0.0, dimensions)),
        }
        valid.push(vector.is_some());
    }
    let DataType::FixedSizeList(item, size) = vector_field(dimensions).data_type().clone() else {
        unreachable!("the vector column is a fixed-size list")
    };
    Ok(FixedSizeListArray::try_new(
        item,
        size,
        Arc::new(Float32Array::from(values)),
        Some(NullBuffer::from(valid)),
    )?)
}

fn batch(
    dimensions: usize,
    repo: &str,
    commit: Option<&str>,
    rows: &[ChunkRow],
    hashes: &[String],
    vectors: &HashMap<String, Vec<f32>>,
) -> Result<RecordBatch, SearchError> {
    let strings = |f: &dyn Fn(&ChunkRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
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
        Arc::new(StringArray::from_iter_values(hashes)),
        strings(&|r| r.text.clone()),
        Arc::new(vector_array(
            dimensions,
            hashes.iter().map(|h| vectors.get(h).map(Vec::as_slice)),
        )?),
    ];
    Ok(RecordBatch::try_new(schema(dimensions), columns)?)
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
pub(crate) fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A column of a query's result, by name and type.
pub(crate) fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, SearchError> {
    batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<T>()).ok_or_else(|| {
        lancedb::Error::InvalidInput {
            message: format!("the search result has no column {name} of the expected type"),
        }
        .into()
    })
}

/// Reads a query's hits in rank order. `score` names the ranking column: `_score` (BM25, higher
/// is better) or `_distance` (cosine distance, turned into a similarity).
async fn read_all(stream: SendableRecordBatchStream, score: &str) -> Result<Vec<Hit>, SearchError> {
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    let mut hits = Vec::new();
    for batch in &batches {
        let text = |name| column::<StringArray>(batch, name);
        let (repo, path, language, symbol, kind, commit, body) = (
            text("repo_id")?,
            text("path")?,
            text("language")?,
            text("symbol")?,
            text("kind")?,
            text("commit")?,
            text("text")?,
        );
        let start = column::<UInt32Array>(batch, "start_line")?;
        let end = column::<UInt32Array>(batch, "end_line")?;
        let scores = column::<Float32Array>(batch, score)?;
        let optional = |column: &StringArray, i: usize| {
            (!column.is_null(i)).then(|| column.value(i).to_owned())
        };
        hits.extend((0..batch.num_rows()).map(|i| Hit {
            repo_id: repo.value(i).to_owned(),
            path: path.value(i).to_owned(),
            language: language.value(i).to_owned(),
            start_line: start.value(i),
            end_line: end.value(i),
            symbol: optional(symbol, i),
            kind: kind.value(i).to_owned(),
            snippet: body.value(i).split_once('\n').map_or("", |(_, code)| code).to_owned(),
            commit: optional(commit, i),
            score: if score == "_distance" { 1.0 - scores.value(i) } else { scores.value(i) },
            stale: false,
        }));
    }
    Ok(hits)
}

/// The hits of several lists (one per piece of a long query), each chunk at its best score,
/// best first.
fn best_of(lists: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut lists = lists.into_iter();
    let Some(first) = lists.next() else { return Vec::new() };
    let mut best: Vec<Hit> = first;
    let mut at: HashMap<(String, String, u32), usize> = best
        .iter()
        .enumerate()
        .map(|(i, h)| ((h.repo_id.clone(), h.path.clone(), h.start_line), i))
        .collect();
    for hit in lists.flatten() {
        let key = (hit.repo_id.clone(), hit.path.clone(), hit.start_line);
        match at.get(&key) {
            Some(&i) if best[i].score >= hit.score => {}
            Some(&i) => best[i] = hit,
            None => {
                at.insert(key, best.len());
                best.push(hit);
            }
        }
    }
    best.sort_by(|a, b| b.score.total_cmp(&a.score));
    best
}

/// Weighted reciprocal rank fusion: each list gives a hit `weight / (k + rank)`; the sums rank
/// the union.
fn fuse(lexical: Vec<Hit>, semantic: Vec<Hit>, lexical_weight: f32) -> Vec<Hit> {
    let mut fused: Vec<Hit> = Vec::with_capacity(lexical.len() + semantic.len());
    let mut at: HashMap<(String, String, u32), usize> = HashMap::new();
    for (weight, list) in [(lexical_weight, lexical), (1.0, semantic)] {
        for (rank, mut hit) in list.into_iter().enumerate() {
            let share = weight / (RRF_K + rank as f32 + 1.0);
            let key = (hit.repo_id.clone(), hit.path.clone(), hit.start_line);
            match at.get(&key) {
                Some(&i) => fused[i].score += share,
                None => {
                    at.insert(key, fused.len());
                    hit.score = share;
                    fused.push(hit);
                }
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused
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
