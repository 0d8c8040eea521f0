//! The file index: one row per file of every repository (the `files` table beside the chunks),
//! with a full-text index on each of four fields — the file's path, the names it defines, its
//! docstrings and its whole text — so that a file is ranked as a whole, its fields scored as one
//! weighted document (BM25F, Lance's `combined_fields`), and not only by its best chunk.
//!
//! Layout, one row per file: `id` (`<repo>:<path>`), `repo_id`, `path`, `language`, `names`
//! (the qualified names of its symbols, a line each), `docs` (their docstrings), `body` (the
//! file's text). The table holds no vectors, so every embedding model's chunk table shares it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use lance_index::scalar::inverted::tokenizer::document_tokenizer::LanceTokenizer;
use lance_tokenizer::TokenStream;
use lancedb::arrow::arrow_array::{ArrayRef, RecordBatch, StringArray};
use lancedb::arrow::arrow_schema::{DataType, Field, Schema, SchemaRef};
use lancedb::index::scalar::{
    CombinedFieldsQuery, FtsIndexBuilder, FtsQuery, FullTextSearchQuery, MatchQuery,
};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::{Connection, Table};
use tokio::sync::OnceCell;

use crate::model::FileFacts;
use crate::search::{SearchError, column, delete_paths, full_text_index, retrying, sql_string};
use crate::words::{WordWeights, weigh};

const TABLE: &str = "files";

/// The fields a file is ranked by, each with a full-text index.
pub const FIELDS: [&str; 4] = ["path", "names", "docs", "body"];

/// What the file index keeps of a file.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub path: String,
    pub language: String,
    pub names: String,
    pub docs: String,
    pub body: String,
}

impl FileRow {
    pub fn new(path: &str, source: &str, facts: &FileFacts) -> FileRow {
        let names: Vec<&str> = facts.symbols.iter().map(|s| s.qualified.as_str()).collect();
        let docs: Vec<&str> = facts.symbols.iter().filter_map(|s| s.doc.as_deref()).collect();
        FileRow {
            path: path.to_owned(),
            language: facts.language.name().to_owned(),
            names: names.join("\n"),
            docs: docs.join("\n"),
            body: source.to_owned(),
        }
    }
}

/// A field's weight in the ranking: a term found in a field of weight 3 counts as three
/// occurrences in the body (weights from 1, as Lucene's `CombinedFieldQuery` requires).
pub type Weights = [(&'static str, f32)];

pub(crate) struct FileIndex {
    db: Connection,
    table: OnceCell<Table>,
}

impl FileIndex {
    pub(crate) fn new(db: Connection) -> FileIndex {
        FileIndex { db, table: OnceCell::new() }
    }

    async fn table(&self) -> Result<&Table, SearchError> {
        self.table
            .get_or_try_init(|| async {
                if self.db.table_names().execute().await?.iter().any(|t| t == TABLE) {
                    return Ok(self.db.open_table(TABLE).execute().await?);
                }
                match self.db.create_empty_table(TABLE, schema()).execute().await {
                    Err(lancedb::Error::TableAlreadyExists { .. }) => {
                        Ok(self.db.open_table(TABLE).execute().await?)
                    }
                    made => Ok(made?),
                }
            })
            .await
    }

    /// Replaces the rows of `paths` (changed or deleted files) in `repo` with `rows`. The
    /// caller holds the index's write lock.
    pub(crate) async fn replace(
        &self,
        repo: &str,
        paths: &[String],
        rows: &[FileRow],
    ) -> Result<(), SearchError> {
        let table = self.table().await?;
        delete_paths(table, repo, paths).await?;
        if !rows.is_empty() {
            let rows = batch(repo, rows)?;
            retrying(|| table.add(rows.clone()).execute()).await?;
        }
        for field in FIELDS {
            full_text_index(table, field).await?;
        }
        Ok(())
    }

    /// How many files of a repository the index holds.
    pub(crate) async fn count(&self, repo: &str) -> Result<usize, SearchError> {
        let filter = format!("repo_id = {}", sql_string(repo));
        Ok(self.table().await?.count_rows(Some(filter)).await?)
    }

    /// Forgets every file of a repository.
    pub(crate) async fn remove_repo(&self, repo: &str) -> Result<(), SearchError> {
        let table = self.table().await?;
        let filter = format!("repo_id = {}", sql_string(repo));
        retrying(|| table.delete(&filter)).await?;
        Ok(())
    }

    /// A repository's files ranked for `text` by the `weights`' fields scored together, best
    /// first: `(path, score)`. A long text's words are weighted by `words` and each field
    /// scored on its own (BM25F takes no weights per word), or, without `words`, the text is one
    /// bag of equal words.
    pub(crate) async fn rank(
        &self,
        repo: &str,
        text: &str,
        weights: &Weights,
        words: Option<&WordWeights>,
        limit: usize,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        let table = self.table().await?;
        if text.trim().is_empty() || table.count_rows(None).await? == 0 {
            return Ok(Vec::new());
        }
        let weighted = words.and_then(|words| weigh(text, words, &mut Terms::new()));
        let query = match (weighted, weights) {
            (Some(words), _) => crate::words::query(&words, weights),
            (None, [(field, _)]) => FtsQuery::Match(
                MatchQuery::new(text.to_owned()).with_column(Some((*field).to_owned())),
            ),
            (None, _) => {
                let fields = weights.iter().map(|(f, _)| (*f).to_owned()).collect();
                let combined = CombinedFieldsQuery::try_new(text.to_owned(), fields)
                    .and_then(|q| q.try_with_boosts(weights.iter().map(|(_, w)| *w).collect()))
                    .map_err(|e| lancedb::Error::InvalidInput { message: e.to_string() })?;
                FtsQuery::CombinedFields(combined)
            }
        };
        let batches: Vec<RecordBatch> = table
            .query()
            .full_text_search(FullTextSearchQuery::new_query(query))
            .only_if(format!("repo_id = {}", sql_string(repo)))
            .select(Select::columns(&["path"]))
            .limit(limit)
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut ranked = Vec::new();
        for batch in &batches {
            let paths = column::<StringArray>(batch, "path")?;
            let scores = column::<lancedb::arrow::arrow_array::Float32Array>(batch, "_score")?;
            ranked.extend(
                (0..batch.num_rows()).map(|i| (paths.value(i).to_owned(), scores.value(i))),
            );
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked)
    }

    /// The whole text of these files of a repository.
    pub(crate) async fn bodies(
        &self,
        repo: &str,
        paths: &[String],
    ) -> Result<HashMap<String, String>, SearchError> {
        let mut found = HashMap::new();
        if paths.is_empty() {
            return Ok(found);
        }
        let list: Vec<String> = paths.iter().map(|p| sql_string(p)).collect();
        let batches: Vec<RecordBatch> = self
            .table()
            .await?
            .query()
            .only_if(format!("repo_id = {} AND path IN ({})", sql_string(repo), list.join(", ")))
            .select(Select::columns(&["path", "body"]))
            .execute()
            .await?
            .try_collect()
            .await?;
        for batch in &batches {
            let (path, body) =
                (column::<StringArray>(batch, "path")?, column::<StringArray>(batch, "body")?);
            for i in 0..batch.num_rows() {
                found.insert(path.value(i).to_owned(), body.value(i).to_owned());
            }
        }
        Ok(found)
    }

    /// Merges small files and folds new rows into the full-text indexes.
    pub(crate) async fn optimize(&self) -> Result<(), SearchError> {
        use lancedb::table::{CompactionOptions, Duration, OptimizeAction, OptimizeOptions};
        let table = self.table().await?;
        if table.count_rows(None).await? == 0 {
            return Ok(());
        }
        let compact = || OptimizeAction::Compact {
            options: CompactionOptions::default(),
            remap_options: None,
        };
        retrying(|| table.optimize(compact())).await?;
        retrying(|| table.optimize(OptimizeAction::Index(OptimizeOptions::default()))).await?;
        let prune = || OptimizeAction::Prune {
            older_than: Duration::try_minutes(1),
            delete_unverified: None,
            error_if_tagged_old_versions: None,
        };
        retrying(|| table.optimize(prune())).await?;
        Ok(())
    }
}

/// The analyzer of every full-text index here and of the chunks: Lance's code tokenizer with
/// identifiers split into their words and kept whole, English stemming and stop words.
pub(crate) fn analyzer() -> FtsIndexBuilder {
    FtsIndexBuilder::code()
        .split_identifiers(true)
        .preserve_original(true)
        .stem(true)
        .remove_stop_words(true)
}

/// Terms as the full-text index sees them, in the order they first occur.
#[derive(Debug)]
pub struct Terms(Box<dyn LanceTokenizer>);

impl Terms {
    pub fn new() -> Terms {
        Terms(analyzer().build().expect("the code analyzer's settings are valid"))
    }

    pub fn of(&mut self, text: &str) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut terms = Vec::new();
        let mut stream = self.0.token_stream_for_doc(text);
        while stream.advance() {
            let term = &stream.token().text;
            if seen.insert(term.clone()) {
                terms.push(term.clone());
            }
        }
        terms
    }
}

impl Default for Terms {
    fn default() -> Terms {
        Terms::new()
    }
}

fn schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        text("id"),
        text("repo_id"),
        text("path"),
        text("language"),
        text("names"),
        text("docs"),
        text("body"),
    ]))
}

fn batch(repo: &str, rows: &[FileRow]) -> Result<RecordBatch, SearchError> {
    let strings = |f: &dyn Fn(&FileRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let columns = vec![
        strings(&|r| format!("{repo}:{}", r.path)),
        strings(&|_| repo.to_owned()),
        strings(&|r| r.path.clone()),
        strings(&|r| r.language.clone()),
        strings(&|r| r.names.clone()),
        strings(&|r| r.docs.clone()),
        strings(&|r| r.body.clone()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
