//! Persistence of repositories and their files' facts in SQLite (through sqlx), so a restart
//! loads the graph instead of re-parsing.
//!
//! Each file's facts are replaced as a whole when the file changes; a repository's rows go with
//! it when it is removed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;

use grammars::Language;
use sqlx::query_builder::Separated;
use sqlx::{Any, QueryBuilder, Row};
use storage::Storage;
use storage::{IntColumns, Pool};

use crate::graph::SourceFile;
use crate::jobs::JobState;
use crate::model::{
    Chunk, FileFacts, Import, ImportedName, RefKind, Reference, Symbol, SymbolKind,
};
use crate::walk::SkipReason;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the database holds a value this version does not understand: {0}")]
    Corrupt(String),
}

/// A repository as stored: where it comes from, and how its last index went.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoRecord {
    pub id: String,
    pub name: String,
    pub source: String,
    pub remote: bool,
    pub branch: Option<String>,
    pub checkout: PathBuf,
    pub status: JobState,
    pub commit: Option<String>,
    /// Files whose indexed content differed from `commit` (uncommitted changes in a work tree).
    pub dirty: Vec<String>,
    pub stats: IndexStats,
    pub error: Option<String>,
    /// Unix seconds.
    pub indexed_at: Option<i64>,
    /// Who it belongs to (the knowledge server gives organization ids); `None`: indexed without
    /// an owner. Part of its id: two owners indexing one source get two repositories.
    pub owner: Option<i64>,
    /// The search index's table (one per embedding model, `VectorSpace::table`) its chunks were
    /// last written to; `None`: not recorded yet (saving `None` keeps what is stored).
    pub vectors: Option<String>,
}

/// What a repository's user chose for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoSettings {
    /// Whether a local folder is watched and re-indexed as it changes; `None` follows the
    /// server's default (`index.watch`).
    pub watch: Option<bool>,
    /// The secret push webhooks are signed with, sealed by the caller (the store never sees it
    /// in the clear); `None`: pushes are not taken.
    pub webhook_secret: Option<Vec<u8>>,
    /// Whether each pushed commit is scanned once indexed.
    pub scan_on_push: bool,
    /// Seconds between fetches of a clone; `None`: only when asked or pushed.
    pub sync_every: Option<u64>,
}

/// What a job was asked to index, kept with its claim (see [`Store::record_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// As in [`RepoRecord::source`]: a URL or a path, as `Source::parse` reads it.
    pub source: String,
    pub branch: Option<String>,
    pub owner: Option<i64>,
}

impl RepoRecord {
    /// Where it is indexed from, as the job that stored it was given it.
    pub fn origin(&self) -> crate::source::Source {
        match self.remote {
            true => crate::source::Source::Remote { url: self.source.clone() },
            false => crate::source::Source::Local { path: PathBuf::from(&self.source) },
        }
    }

    /// Indexed by a process without the embedding model: ready for structural and lexical
    /// questions, with chunks that semantic search cannot see yet.
    /// The table its chunks are in: as recorded, else the local model's (the only one before
    /// this was recorded).
    pub fn vector_table(&self) -> &str {
        self.vectors.as_deref().unwrap_or("chunks")
    }

    pub fn awaits_vectors(&self) -> bool {
        self.status == JobState::Ready && self.stats.embedded < self.stats.chunks
    }
}

/// The counts of an index run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexStats {
    pub files: u32,
    pub skipped: BTreeMap<SkipReason, u32>,
    pub symbols: u32,
    pub nodes: u32,
    pub edges: u32,
    pub lines: u64,
    pub duration_ms: u64,
    /// Problems with single files (`path: message`), which did not fail the index.
    pub errors: Vec<String>,
    /// Chunks in the search index, and how many of them have vectors (semantic search sees
    /// only those).
    pub chunks: u32,
    pub embedded: u32,
}

/// One file's facts as stored, with its content hash.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub path: String,
    pub hash: String,
    pub facts: FileFacts,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    backend: storage::Backend,
}

/// Rows per multi-row INSERT: well under SQLite's limit of 32,766 bound values.
const BATCH: usize = 1000;

impl Store {
    /// The repositories' tables of the data dir's database.
    pub fn new(storage: &Storage) -> Store {
        Store { pool: storage.pool().clone(), backend: storage.backend() }
    }

    pub async fn save_repo(&self, repo: &RepoRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO repositories (id, name, source, remote, branch, checkout, status, commit_sha, dirty,
                 files, skipped, symbols, nodes, edges, lines, duration_ms, errors, error, indexed_at,
                 chunks, embedded, owner, vector_table)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name, source = excluded.source, remote = excluded.remote,
                 branch = excluded.branch, checkout = excluded.checkout, status = excluded.status,
                 commit_sha = excluded.commit_sha, dirty = excluded.dirty, files = excluded.files, skipped = excluded.skipped,
                 symbols = excluded.symbols, nodes = excluded.nodes, edges = excluded.edges,
                 lines = excluded.lines, duration_ms = excluded.duration_ms, errors = excluded.errors,
                 error = excluded.error, indexed_at = excluded.indexed_at,
                 chunks = excluded.chunks, embedded = excluded.embedded,
                 vector_table = COALESCE(excluded.vector_table, repositories.vector_table)",
        )
        .bind(&repo.id)
        .bind(&repo.name)
        .bind(&repo.source)
        .bind(storage::int(repo.remote))
        .bind(&repo.branch)
        .bind(repo.checkout.to_string_lossy().into_owned())
        .bind(repo.status.as_str())
        .bind(&repo.commit)
        .bind(repo.dirty.join("\n"))
        .bind(storage::int(repo.stats.files))
        .bind(encode_skipped(&repo.stats.skipped))
        .bind(storage::int(repo.stats.symbols))
        .bind(storage::int(repo.stats.nodes))
        .bind(storage::int(repo.stats.edges))
        .bind(repo.stats.lines as i64)
        .bind(repo.stats.duration_ms as i64)
        .bind(repo.stats.errors.join("\n"))
        .bind(&repo.error)
        .bind(repo.indexed_at)
        .bind(storage::int(repo.stats.chunks))
        .bind(storage::int(repo.stats.embedded))
        .bind(repo.owner)
        .bind(&repo.vectors)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn repo(&self, id: &str) -> Result<Option<RepoRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM repositories WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| repo_from_row(&r)).transpose()
    }

    /// Claims repository `id` for `holder` until `ttl` from now, or renews its claim: `None`
    /// when it is `holder`'s, or the other holder whose claim has not expired.
    pub async fn claim(
        &self,
        id: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        let now = unix_ms();
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO index_leases (repo_id, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (repo_id) DO UPDATE SET
                 holder = excluded.holder, expires_at = excluded.expires_at
             WHERE index_leases.holder = excluded.holder OR index_leases.expires_at <= $4
             RETURNING holder",
        )
        .bind(id)
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let other = sqlx::query_scalar("SELECT holder FROM index_leases WHERE repo_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Some(other.unwrap_or_default()))
    }

    /// Gives up `holder`'s claim on repository `id`.
    /// Writes down, beside `holder`'s claim of repository `id`, the job it runs, for another
    /// process to finish if this one dies.
    pub async fn record_job(
        &self,
        id: &str,
        holder: &str,
        job: &ClaimedJob,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE index_leases SET source = $1, branch = $2, owner = $3 WHERE repo_id = $4 AND holder = $5",
        )
        .bind(&job.source)
        .bind(&job.branch)
        .bind(job.owner)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The jobs whose claims ran out unreleased (their processes died), by repository id, with
    /// the claim's last holder.
    pub async fn abandoned_jobs(&self) -> Result<Vec<(String, String, ClaimedJob)>, StoreError> {
        let rows = sqlx::query(
            "SELECT repo_id, holder, source, branch, owner FROM index_leases
             WHERE source IS NOT NULL AND expires_at <= $1",
        )
        .bind(unix_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let job = ClaimedJob {
                    source: row.try_get("source")?,
                    branch: row.try_get("branch")?,
                    owner: row.try_get("owner")?,
                };
                Ok((row.try_get("repo_id")?, row.try_get("holder")?, job))
            })
            .collect()
    }

    pub async fn release(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM index_leases WHERE repo_id = $1 AND holder = $2")
            .bind(id)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that a repository's indexed tree was replaced; its new generation.
    pub async fn replaced(&self, id: &str) -> Result<i64, StoreError> {
        let generation = sqlx::query_scalar(
            "UPDATE repositories SET generation = generation + 1 WHERE id = $1 RETURNING generation",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(generation.unwrap_or(0))
    }

    /// The generation of a repository's indexed tree (see [`Store::replaced`]), or `None` when
    /// it is not stored.
    pub async fn generation(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let generation = sqlx::query_scalar("SELECT generation FROM repositories WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(generation)
    }

    /// Every repository, by name.
    pub async fn repos(&self) -> Result<Vec<RepoRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM repositories ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(repo_from_row).collect()
    }

    /// Removes a repository and everything indexed from it, and what was chosen for it. Returns
    /// whether it existed.
    pub async fn delete_repo(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM repositories WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repo_settings WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// What was chosen for every repository that has a choice recorded, by id.
    pub async fn settings(&self) -> Result<HashMap<String, RepoSettings>, StoreError> {
        let rows = sqlx::query("SELECT * FROM repo_settings").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
                let settings = RepoSettings {
                    watch: row.try_int("watch").map_err(corrupt)?,
                    webhook_secret: row.try_get("webhook_secret")?,
                    scan_on_push: row.try_int("scan_on_push").map_err(corrupt)?,
                    sync_every: row.try_int("sync_every").map_err(corrupt)?,
                };
                Ok((row.get("repo_id"), settings))
            })
            .collect()
    }

    /// What was chosen for repository `id` (the defaults when nothing was).
    pub async fn settings_of(&self, id: &str) -> Result<RepoSettings, StoreError> {
        Ok(self.settings().await?.remove(id).unwrap_or_default())
    }

    /// Records what was chosen for repository `id` (which need not be stored yet).
    pub async fn save_settings(&self, id: &str, settings: &RepoSettings) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO repo_settings (repo_id, watch, webhook_secret, scan_on_push, sync_every)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (repo_id) DO UPDATE SET watch = excluded.watch,
                 webhook_secret = excluded.webhook_secret, scan_on_push = excluded.scan_on_push,
                 sync_every = excluded.sync_every",
        )
        .bind(id)
        .bind(storage::int(settings.watch))
        .bind(settings.webhook_secret.clone())
        .bind(storage::int(settings.scan_on_push))
        .bind(storage::int(settings.sync_every))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Content hash of every stored file of a repository.
    pub async fn file_hashes(&self, repo: &str) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT path, hash FROM files WHERE repo_id = $1")
            .bind(repo)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get("path"), r.get("hash"))).collect())
    }

    /// How many stored files of a repository are in each language.
    pub async fn languages(&self, repo: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        let rows = sqlx::query(
            "SELECT language, COUNT(*) AS files FROM files WHERE repo_id = $1 GROUP BY language",
        )
        .bind(repo)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("language"), r.get::<i64, _>("files") as u32)).collect())
    }

    /// Replaces the facts of `changed` files and drops `deleted` ones, in one transaction.
    pub async fn save_files(
        &self,
        repo: &str,
        changed: &[StoredFile],
        deleted: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = deleted.iter().chain(changed.iter().map(|f| &f.path));
        for paths in gone.collect::<Vec<_>>().chunks(BATCH) {
            let mut q = QueryBuilder::<Any>::new("DELETE FROM files WHERE repo_id = ");
            q.push_bind(repo).push(" AND path IN (");
            let mut list = q.separated(", ");
            for path in paths {
                list.push_bind(path.as_str());
            }
            q.push(")");
            storage::query(self.backend, &mut q).execute(&mut *tx).await?;
        }
        for files in changed.chunks(BATCH) {
            let mut q = QueryBuilder::<Any>::new(
                "INSERT INTO files (repo_id, path, language, hash, lines, diagnostics, package) ",
            );
            q.push_values(files, |mut row, f| {
                row.push_bind(repo)
                    .push_bind(f.path.as_str())
                    .push_bind(f.facts.language.name())
                    .push_bind(f.hash.as_str())
                    .push_bind(storage::int(f.facts.lines))
                    .push_bind(f.facts.diagnostics.join("\n"))
                    .push_bind(f.facts.package.as_deref());
            });
            storage::query(self.backend, &mut q).execute(&mut *tx).await?;
        }
        let facts = Facts { tx: &mut tx, backend: self.backend, repo, files: changed };
        facts
            .insert(
                "symbols (repo_id, path, idx, name, qualified, kind, parent, container, start_line, end_line, start_byte, end_byte, signature, doc)",
                |f| &f.symbols,
                |row, s| {
                    row.push_bind(s.name.as_str())
                        .push_bind(s.qualified.as_str())
                        .push_bind(s.kind.as_str())
                        .push_bind(storage::int(s.parent))
                        .push_bind(s.container.as_deref())
                        .push_bind(storage::int(s.start_line))
                        .push_bind(storage::int(s.end_line))
                        .push_bind(storage::int(s.start_byte))
                        .push_bind(storage::int(s.end_byte))
                        .push_bind(s.signature.as_str())
                        .push_bind(s.doc.as_deref());
                },
            )
            .await?
            .insert(
                "refs (repo_id, path, idx, kind, name, scope, receiver, subject, line, enclosing)",
                |f| &f.references,
                |row, r| {
                    row.push_bind(r.kind.as_str())
                        .push_bind(r.name.as_str())
                        .push_bind(r.scope.as_deref())
                        .push_bind(r.receiver.as_deref())
                        .push_bind(r.subject.as_deref())
                        .push_bind(storage::int(r.line))
                        .push_bind(storage::int(r.enclosing));
                },
            )
            .await?
            .insert("imports (repo_id, path, idx, source, alias, names, line)", |f| &f.imports, |row, im| {
                row.push_bind(im.source.as_str())
                    .push_bind(im.alias.as_deref())
                    .push_bind(encode_names(&im.names))
                    .push_bind(storage::int(im.line));
            })
            .await?
            .insert(
                "chunks (repo_id, path, idx, start_line, end_line, start_byte, end_byte, symbol)",
                |f| &f.chunks,
                |row, c| {
                    row.push_bind(storage::int(c.start_line))
                        .push_bind(storage::int(c.end_line))
                        .push_bind(storage::int(c.start_byte))
                        .push_bind(storage::int(c.end_byte))
                        .push_bind(storage::int(c.symbol));
                },
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored file of a repository with its facts, by path.
    pub async fn load_files(&self, repo: &str) -> Result<Vec<StoredFile>, StoreError> {
        // One transaction: one snapshot of all five tables, even while a job writes.
        let mut tx = self.pool.begin().await?;
        let mut files: Vec<StoredFile> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let rows = sqlx::query("SELECT path, language, hash, lines, diagnostics, package FROM files WHERE repo_id = $1 ORDER BY path")
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let path: String = row.get("path");
            let language: String = row.get("language");
            let language = Language::from_name(&language)
                .ok_or_else(|| StoreError::Corrupt(format!("language {language}")))?;
            let diagnostics: String = row.get("diagnostics");
            index.insert(path.clone(), files.len());
            files.push(StoredFile {
                path,
                hash: row.get("hash"),
                facts: FileFacts {
                    language,
                    lines: row.int("lines"),
                    symbols: Vec::new(),
                    references: Vec::new(),
                    imports: Vec::new(),
                    package: row.get("package"),
                    chunks: Vec::new(),
                    diagnostics: lines(&diagnostics),
                },
            });
        }
        let file_of = |path: &str| {
            index
                .get(path)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("facts of unknown file {path}")))
        };

        let rows = sqlx::query("SELECT * FROM symbols WHERE repo_id = $1 ORDER BY path, idx")
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let kind: String = row.get("kind");
            let symbol = Symbol {
                name: row.get("name"),
                qualified: row.get("qualified"),
                kind: SymbolKind::from_capture(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("symbol kind {kind}")))?,
                parent: row.int("parent"),
                container: row.get("container"),
                start_line: row.int("start_line"),
                end_line: row.int("end_line"),
                start_byte: row.int("start_byte"),
                end_byte: row.int("end_byte"),
                signature: row.get("signature"),
                doc: row.get("doc"),
            };
            files[file_of(row.get("path"))?].facts.symbols.push(symbol);
        }
        let rows = sqlx::query("SELECT * FROM refs WHERE repo_id = $1 ORDER BY path, idx")
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let kind: String = row.get("kind");
            let reference = Reference {
                kind: RefKind::from_capture(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("reference kind {kind}")))?,
                name: row.get("name"),
                scope: row.get("scope"),
                receiver: row.get("receiver"),
                subject: row.get("subject"),
                line: row.int("line"),
                enclosing: row.int("enclosing"),
            };
            files[file_of(row.get("path"))?].facts.references.push(reference);
        }
        let rows = sqlx::query("SELECT * FROM imports WHERE repo_id = $1 ORDER BY path, idx")
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let names: String = row.get("names");
            let import = Import {
                source: row.get("source"),
                names: decode_names(&names),
                alias: row.get("alias"),
                line: row.int("line"),
            };
            files[file_of(row.get("path"))?].facts.imports.push(import);
        }
        let rows = sqlx::query("SELECT * FROM chunks WHERE repo_id = $1 ORDER BY path, idx")
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let chunk = Chunk {
                start_line: row.int("start_line"),
                end_line: row.int("end_line"),
                start_byte: row.int("start_byte"),
                end_byte: row.int("end_byte"),
                symbol: row.int("symbol"),
            };
            files[file_of(row.get("path"))?].facts.chunks.push(chunk);
        }
        tx.commit().await?;
        Ok(files)
    }
}

/// Writes the per-item facts of changed files (symbols, references, …) inside one transaction.
struct Facts<'t, 'c> {
    tx: &'t mut sqlx::Transaction<'c, Any>,
    backend: storage::Backend,
    repo: &'t str,
    files: &'t [StoredFile],
}

impl Facts<'_, '_> {
    /// Inserts one row per item of every file into `table (repo_id, path, idx, …)`, in batches;
    /// `bind` pushes the item's own columns after those three.
    async fn insert<T>(
        self,
        table: &str,
        items: impl Fn(&FileFacts) -> &Vec<T>,
        bind: impl Fn(&mut Separated<'_, Any, &'static str>, &T),
    ) -> Result<Self, StoreError> {
        let rows: Vec<(&str, usize, &T)> = self
            .files
            .iter()
            .flat_map(|f| {
                items(&f.facts).iter().enumerate().map(move |(i, item)| (f.path.as_str(), i, item))
            })
            .collect();
        for batch in rows.chunks(BATCH) {
            let mut q = QueryBuilder::<Any>::new(format!("INSERT INTO {table} "));
            q.push_values(batch, |mut row, (path, i, item)| {
                row.push_bind(self.repo).push_bind(*path).push_bind(*i as i64);
                bind(&mut row, item);
            });
            storage::query(self.backend, &mut q).execute(&mut **self.tx).await?;
        }
        Ok(self)
    }
}

impl StoredFile {
    pub fn into_source(self) -> SourceFile {
        SourceFile { path: self.path, facts: self.facts }
    }
}

fn repo_from_row(row: &sqlx::any::AnyRow) -> Result<RepoRecord, StoreError> {
    let status: String = row.get("status");
    let skipped: String = row.get("skipped");
    let errors: String = row.get("errors");
    let checkout: String = row.get("checkout");
    let dirty: String = row.get("dirty");
    Ok(RepoRecord {
        id: row.get("id"),
        name: row.get("name"),
        source: row.get("source"),
        remote: row.int("remote"),
        branch: row.get("branch"),
        checkout: PathBuf::from(checkout),
        status: JobState::from_str(&status)
            .map_err(|_| StoreError::Corrupt(format!("status {status}")))?,
        commit: row.get("commit_sha"),
        dirty: lines(&dirty),
        stats: IndexStats {
            files: row.int("files"),
            skipped: decode_skipped(&skipped)?,
            symbols: row.int("symbols"),
            nodes: row.int("nodes"),
            edges: row.int("edges"),
            lines: row.get::<i64, _>("lines") as u64,
            duration_ms: row.get::<i64, _>("duration_ms") as u64,
            errors: lines(&errors),
            chunks: row.int("chunks"),
            embedded: row.int("embedded"),
        },
        error: row.get("error"),
        indexed_at: row.get("indexed_at"),
        owner: row.get("owner"),
        vectors: row.get("vector_table"),
    })
}

fn lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn encode_skipped(skipped: &BTreeMap<SkipReason, u32>) -> String {
    skipped.iter().map(|(reason, n)| format!("{reason}={n}")).collect::<Vec<_>>().join(",")
}

fn decode_skipped(text: &str) -> Result<BTreeMap<SkipReason, u32>, StoreError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (reason, n) = part
                .split_once('=')
                .ok_or_else(|| StoreError::Corrupt(format!("skipped {part}")))?;
            let reason = SkipReason::from_name(reason)
                .ok_or_else(|| StoreError::Corrupt(format!("skip reason {reason}")))?;
            let n = n.parse().map_err(|_| StoreError::Corrupt(format!("skipped count {n}")))?;
            Ok((reason, n))
        })
        .collect()
}

fn encode_names(names: &[ImportedName]) -> String {
    names
        .iter()
        .map(|n| match &n.alias {
            Some(alias) => format!("{} as {alias}", n.name),
            None => n.name.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_names(text: &str) -> Vec<ImportedName> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(" as ") {
            Some((name, alias)) => {
                ImportedName { name: name.to_owned(), alias: Some(alias.to_owned()) }
            }
            None => ImportedName { name: l.to_owned(), alias: None },
        })
        .collect()
}

fn unix_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as i64)
}
