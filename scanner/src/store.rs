//! Scans kept in SQLite (through sqlx), in the knowledge server's database: each scan of a
//! repository at a commit, how each tool did, and its findings — so findings can be filtered,
//! compared with the previous scan (new and fixed), and exported without running a tool again.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Any, QueryBuilder, Row};
use storage::Storage;
use storage::{IntColumns, Pool};

use crate::Severity;
use crate::finding::{Category, EnclosingSymbol, Finding, Package, Tool};
use crate::run::{ToolRun, ToolStatus};

#[derive(Debug, thiserror::Error)]
pub enum ScanStoreError {
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the database holds a value this version does not understand: {0}")]
    Corrupt(String),
    #[error(
        "no scan {0:?}: a scan id comes from starting a scan; without one, the latest finished scan is read"
    )]
    UnknownScan(String),
}

/// Where a scan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    Queued,
    Running,
    /// Every tool ran (or was found missing); its findings are stored.
    Done,
    /// The scan could not run at all (the checkout is gone, the job was cancelled, …).
    Failed,
}

impl ScanState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Queued => "queued",
            ScanState::Running => "running",
            ScanState::Done => "done",
            ScanState::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, ScanState::Done | ScanState::Failed)
    }

    fn parse(s: &str) -> Result<ScanState, ScanStoreError> {
        [ScanState::Queued, ScanState::Running, ScanState::Done, ScanState::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ScanStoreError::Corrupt(format!("scan status {s:?}")))
    }
}

/// How a scan's findings came: from tools run here, or from a report imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Run,
    Import,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Run => "run",
            Origin::Import => "import",
        }
    }
}

/// One tool's part of a stored scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSummary {
    pub tool: Tool,
    pub status: ToolStatus,
    pub duration: Duration,
    pub findings: u32,
}

/// A scan as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    pub id: String,
    pub repo_id: String,
    pub commit: Option<String>,
    pub origin: Origin,
    pub state: ScanState,
    pub error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub tools: Vec<ToolSummary>,
}

/// Which findings of a scan to read. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// This severity or worse.
    pub min_severity: Option<Severity>,
    pub tools: Vec<Tool>,
    /// A path, or a folder prefix (`src/` matches everything under it).
    pub path: Option<String>,
    /// Part of the enclosing symbol's id or name.
    pub symbol: Option<String>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// What changed between two scans of a repository, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct ScanDiff {
    /// The earlier scan compared with; `None` for a repository's first scan.
    pub previous: Option<String>,
    /// Fingerprints found now and not before.
    pub new: HashSet<String>,
    /// Findings of the earlier scan that are gone.
    pub fixed: Vec<Finding>,
}

#[derive(Debug, Clone)]
pub struct ScanStore {
    pool: Pool,
    backend: storage::Backend,
}

/// What [`ScanStore::claim`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// A new scan, queued and held by the caller, who runs it and renews its lease.
    New(ScanRecord),
    /// The scan of that repository and commit another process is running (or this one).
    Joined(ScanRecord),
}

/// Why a scan whose holder stopped renewing its lease is failed.
const ABANDONED: &str = "the process running this scan stopped before it finished (its lease ran \
                         out); scan again";

impl ScanStore {
    /// Opens the database at `path` and brings the scan tables up to date. The knowledge
    /// server's indexer owns the `repositories` table that scans belong to, and opens it first.
    /// The scans' tables of the data dir's database (whose `repositories` they reference).
    pub fn new(storage: &Storage) -> ScanStore {
        ScanStore { pool: storage.pool().clone(), backend: storage.backend() }
    }

    /// Records a new scan of `repo_id`, queued.
    pub async fn create(
        &self,
        repo_id: &str,
        commit: Option<&str>,
        origin: Origin,
    ) -> Result<ScanRecord, ScanStoreError> {
        let record = ScanRecord {
            id: new_id(repo_id),
            repo_id: repo_id.to_owned(),
            commit: commit.map(str::to_owned),
            origin,
            state: ScanState::Queued,
            error: None,
            created_at: unix_millis(),
            finished_at: None,
            tools: Vec::new(),
        };
        sqlx::query(
            "INSERT INTO scans (id, repo_id, commit_sha, origin, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(&record.repo_id)
        .bind(&record.commit)
        .bind(origin.as_str())
        .bind(record.state.as_str())
        .bind(record.created_at)
        .execute(&self.pool)
        .await?;
        Ok(record)
    }

    /// Queues a scan of `repo_id` at `commit` held by `holder` for `lease`, unless one is queued
    /// or running under a live lease already: then that one, to join. A held scan whose lease ran
    /// out is failed first. One statement decides, so two processes asking at once get one scan.
    pub async fn claim(
        &self,
        repo_id: &str,
        commit: Option<&str>,
        holder: &str,
        lease: Duration,
    ) -> Result<Claimed, ScanStoreError> {
        let now = unix_millis();
        self.reap(
            "repo_id = $2 AND COALESCE(commit_sha, '') = COALESCE($3, '')",
            &[Some(repo_id), commit],
        )
        .await?;
        let record = ScanRecord {
            id: new_id(repo_id),
            repo_id: repo_id.to_owned(),
            commit: commit.map(str::to_owned),
            origin: Origin::Run,
            state: ScanState::Queued,
            error: None,
            created_at: now,
            finished_at: None,
            tools: Vec::new(),
        };
        let inserted = sqlx::query(
            "INSERT INTO scans (id, repo_id, commit_sha, origin, status, created_at, holder, \
             lease_until) VALUES ($1, $2, $3, 'run', 'queued', $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&record.id)
        .bind(repo_id)
        .bind(commit)
        .bind(now)
        .bind(holder)
        .bind(now + lease.as_millis() as i64)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claimed::New(record));
        }
        let held = sqlx::query(
            "SELECT * FROM scans WHERE repo_id = $1 AND COALESCE(commit_sha, '') = COALESCE($2, '') \
             AND status IN ('queued', 'running') AND holder IS NOT NULL",
        )
        .bind(repo_id)
        .bind(commit)
        .fetch_optional(&self.pool)
        .await?;
        match held {
            Some(row) => Ok(Claimed::Joined(self.record(row).await?)),
            // It ended between the two statements: ask again.
            None => Box::pin(self.claim(repo_id, commit, holder, lease)).await,
        }
    }

    /// Extends `holder`'s lease of scan `id` to `lease` from now; false once the scan has ended
    /// (or was failed as abandoned).
    pub async fn renew(
        &self,
        id: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ScanStoreError> {
        let renewed = sqlx::query(
            "UPDATE scans SET lease_until = $1 WHERE id = $2 AND holder = $3 \
             AND status IN ('queued', 'running')",
        )
        .bind(unix_millis() + lease.as_millis() as i64)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Fails the held scans matching `condition` (its values numbered from `$2`) whose lease ran
    /// out: their process is gone. Looks before it writes, so that reading scans never waits for the write lock.
    async fn reap(&self, condition: &str, binds: &[Option<&str>]) -> Result<(), ScanStoreError> {
        const LAPSED: &str =
            "status IN ('queued', 'running') AND holder IS NOT NULL AND lease_until < $1";
        let now = unix_millis();
        // Audited: the conditions are the constant strings of this file's callers.
        let look = format!(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM scans WHERE {LAPSED} AND {condition}) \
             THEN 1 ELSE 0 END"
        );
        let mut any = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(look)).bind(now);
        for value in binds {
            any = any.bind(*value);
        }
        if any.fetch_one(&self.pool).await? == 0 {
            return Ok(());
        }
        let fail = format!(
            "UPDATE scans SET status = 'failed', finished_at = $1, error = ${} \
             WHERE {LAPSED} AND {condition}",
            binds.len() + 2
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(fail)).bind(now);
        for value in binds {
            query = query.bind(*value);
        }
        let query = query.bind(ABANDONED);
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Marks a scan as running.
    pub async fn start(&self, id: &str) -> Result<(), ScanStoreError> {
        self.set_state(id, ScanState::Running, None).await
    }

    /// Marks a scan as failed, saying why.
    pub async fn fail(&self, id: &str, error: &str) -> Result<(), ScanStoreError> {
        self.set_state(id, ScanState::Failed, Some(error)).await
    }

    async fn set_state(
        &self,
        id: &str,
        state: ScanState,
        error: Option<&str>,
    ) -> Result<(), ScanStoreError> {
        let finished = state.is_final().then(unix_millis);
        let done =
            sqlx::query("UPDATE scans SET status = $1, error = $2, finished_at = $3 WHERE id = $4")
                .bind(state.as_str())
                .bind(error)
                .bind(finished)
                .bind(id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(ScanStoreError::UnknownScan(id.to_owned()));
        }
        Ok(())
    }

    /// Stores each tool's outcome and findings, and marks the scan done, all at once.
    pub async fn finish(&self, id: &str, runs: &[ToolRun]) -> Result<(), ScanStoreError> {
        let mut tx = self.pool.begin().await?;
        for run in runs {
            sqlx::query(
                "INSERT INTO scan_tools (scan_id, tool, status, message, duration_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (scan_id, tool) DO UPDATE SET status = excluded.status,
                     message = excluded.message, duration_ms = excluded.duration_ms",
            )
            .bind(id)
            .bind(run.tool.as_str())
            .bind(run.status.as_str())
            .bind(run.status.message())
            .bind(run.duration.as_millis() as i64)
            .execute(&mut *tx)
            .await?;
        }
        let findings: Vec<&Finding> = runs.iter().flat_map(|r| &r.findings).collect();
        // 22 values a row: well under SQLite's limit of 32,766 bound values.
        for (batch_no, batch) in findings.chunks(500).enumerate() {
            let mut insert: QueryBuilder<Any> = QueryBuilder::new(
                "INSERT INTO scan_findings (scan_id, seq, tool, category, rule_id, severity, title,
                     message, path, start_line, end_line, cwe, cve, package_name, installed_version,
                     fixed_version, fingerprint, url, symbol_id, symbol_kind, symbol_name, callers) ",
            );
            insert.push_values(batch.iter().enumerate(), |mut row, (i, f)| {
                let package = f.package.as_ref();
                let symbol = f.symbol.as_ref();
                row.push_bind(id)
                    .push_bind((batch_no * 500 + i) as i64)
                    .push_bind(f.tool.as_str())
                    .push_bind(f.category.as_str())
                    .push_bind(&f.rule_id)
                    .push_bind(f.severity as i64)
                    .push_bind(&f.title)
                    .push_bind(&f.message)
                    .push_bind(&f.path)
                    .push_bind(storage::int(f.start_line))
                    .push_bind(storage::int(f.end_line))
                    .push_bind(f.cwe.join(" "))
                    .push_bind(f.cve.join(" "))
                    .push_bind(package.map(|p| p.name.clone()))
                    .push_bind(package.map(|p| p.installed_version.clone()))
                    .push_bind(package.and_then(|p| p.fixed_version.clone()))
                    .push_bind(&f.fingerprint)
                    .push_bind(&f.url)
                    .push_bind(symbol.map(|s| s.id.clone()))
                    .push_bind(symbol.map(|s| s.kind.clone()))
                    .push_bind(symbol.map(|s| s.name.clone()))
                    .push_bind(storage::int(symbol.map(|s| s.callers)));
            });
            storage::query(self.backend, &mut insert).execute(&mut *tx).await?;
        }
        let done = sqlx::query(
            "UPDATE scans SET status = 'done', error = NULL, finished_at = $1 WHERE id = $2",
        )
        .bind(unix_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(ScanStoreError::UnknownScan(id.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A scan with its tools' outcomes (failed, saying why, if its process is gone).
    pub async fn get(&self, id: &str) -> Result<Option<ScanRecord>, ScanStoreError> {
        self.reap("id = $2", &[Some(id)]).await?;
        let Some(row) = sqlx::query("SELECT * FROM scans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.record(row).await?))
    }

    /// A repository's scans, newest first.
    pub async fn list(&self, repo_id: &str) -> Result<Vec<ScanRecord>, ScanStoreError> {
        self.reap("repo_id = $2", &[Some(repo_id)]).await?;
        let rows = sqlx::query(
            "SELECT * FROM scans WHERE repo_id = $1 ORDER BY created_at DESC, rowid DESC",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await?;
        let mut scans = Vec::with_capacity(rows.len());
        for row in rows {
            scans.push(self.record(row).await?);
        }
        Ok(scans)
    }

    /// A repository's newest finished scan: the one whose findings describe it now.
    pub async fn latest_done(&self, repo_id: &str) -> Result<Option<ScanRecord>, ScanStoreError> {
        let row = sqlx::query(
            "SELECT * FROM scans WHERE repo_id = $1 AND status = 'done'
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(repo_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.record(row).await?)),
            None => Ok(None),
        }
    }

    async fn record(&self, row: sqlx::any::AnyRow) -> Result<ScanRecord, ScanStoreError> {
        let id: String = row.try_get("id")?;
        let tools = sqlx::query(
            "SELECT t.tool, t.status, t.message, t.duration_ms,
                 (SELECT count(*) FROM scan_findings f WHERE f.scan_id = t.scan_id AND f.tool = t.tool)
                     AS findings
             FROM scan_tools t WHERE t.scan_id = $1 ORDER BY t.tool",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|t| {
            Ok(ToolSummary {
                tool: parse(t.try_get("tool")?)?,
                status: ToolStatus::from_parts(t.try_get("status")?, t.try_get("message")?)
                    .ok_or_else(|| ScanStoreError::Corrupt("a tool status".into()))?,
                duration: Duration::from_millis(t.try_get::<i64, _>("duration_ms")? as u64),
                findings: t.try_get::<i64, _>("findings")? as u32,
            })
        })
        .collect::<Result<Vec<_>, ScanStoreError>>()?;
        let mut tools = tools;
        tools.sort_by_key(|t| Tool::ALL.iter().position(|&tool| tool == t.tool));
        let origin = match row.try_get::<&str, _>("origin")? {
            "run" => Origin::Run,
            "import" => Origin::Import,
            other => return Err(ScanStoreError::Corrupt(format!("scan origin {other:?}"))),
        };
        Ok(ScanRecord {
            repo_id: row.try_get("repo_id")?,
            commit: row.try_get("commit_sha")?,
            origin,
            state: ScanState::parse(row.try_get("status")?)?,
            error: row.try_get("error")?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
            tools,
            id,
        })
    }

    /// A scan's findings that pass `filter`, worst first, then by path and line; and how many
    /// passed in all (for paging).
    pub async fn findings(
        &self,
        scan_id: &str,
        filter: &FindingFilter,
    ) -> Result<(Vec<Finding>, usize), ScanStoreError> {
        let mut query: QueryBuilder<Any> = QueryBuilder::new("");
        let narrow = |q: &mut QueryBuilder<Any>| {
            q.push(" FROM scan_findings WHERE scan_id = ").push_bind(scan_id.to_owned());
            if let Some(severity) = filter.min_severity {
                q.push(" AND severity >= ").push_bind(severity as i64);
            }
            if !filter.tools.is_empty() {
                q.push(" AND tool IN (");
                let mut tools = q.separated(", ");
                for tool in &filter.tools {
                    tools.push_bind(tool.as_str());
                }
                q.push(")");
            }
            if let Some(path) = &filter.path {
                q.push(" AND (path = ").push_bind(path.clone());
                let folder = format!("{}/", path.trim_end_matches('/'));
                q.push(" OR substr(path, 1, CAST(").push_bind(folder.len() as i64);
                q.push(" AS INTEGER)");
                q.push(") = ").push_bind(folder).push(")");
            }
            if let Some(symbol) = &filter.symbol {
                let needle = format!(
                    "%{}%",
                    symbol.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                );
                // Lower-cased: SQLite's LIKE ignores ASCII case, Postgres's does not.
                let needle = needle.to_lowercase();
                q.push(" AND (LOWER(symbol_id) LIKE ").push_bind(needle.clone());
                q.push(" ESCAPE '\\' OR LOWER(symbol_name) LIKE ").push_bind(needle);
                q.push(" ESCAPE '\\')");
            }
        };
        query.push("SELECT count(*)");
        narrow(&mut query);
        let total: i64 =
            storage::query(self.backend, &mut query).fetch_one(&self.pool).await?.try_get(0)?;

        let mut query: QueryBuilder<Any> = QueryBuilder::new("SELECT *");
        narrow(&mut query);
        query.push(" ORDER BY severity DESC, path, start_line NULLS FIRST, seq LIMIT ");
        query.push_bind(filter.limit.map_or(i64::MAX, |l| l as i64));
        query.push(" OFFSET ").push_bind(filter.offset as i64);
        let rows = storage::query(self.backend, &mut query).fetch_all(&self.pool).await?;
        let findings = rows.into_iter().map(finding).collect::<Result<_, _>>()?;
        Ok((findings, total as usize))
    }

    /// How many findings of each severity a scan has; every severity is listed, from info up.
    pub async fn counts(&self, scan_id: &str) -> Result<BTreeMap<Severity, u32>, ScanStoreError> {
        let mut counts: BTreeMap<Severity, u32> =
            Severity::ALL.into_iter().map(|s| (s, 0)).collect();
        let rows = sqlx::query(
            "SELECT severity, count(*) AS n FROM scan_findings WHERE scan_id = $1 GROUP BY severity",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let severity = row.try_get::<i64, _>("severity")?;
            let severity = *Severity::ALL
                .get(severity as usize)
                .ok_or_else(|| ScanStoreError::Corrupt(format!("severity {severity}")))?;
            counts.insert(severity, row.try_get::<i64, _>("n")? as u32);
        }
        Ok(counts)
    }

    /// What changed since the repository's previous finished scan: new fingerprints, and the
    /// findings that are gone.
    pub async fn diff(&self, scan: &ScanRecord) -> Result<ScanDiff, ScanStoreError> {
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT id FROM scans WHERE repo_id = $1 AND status = 'done' AND id != $2
                 AND (created_at < $3 OR (created_at = $4 AND rowid < (SELECT rowid FROM scans WHERE id = $5)))
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(&scan.repo_id)
        .bind(&scan.id)
        .bind(scan.created_at)
        .bind(scan.created_at)
        .bind(&scan.id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(previous) = previous else {
            return Ok(ScanDiff::default());
        };
        let new = sqlx::query_scalar(
            "SELECT DISTINCT fingerprint FROM scan_findings WHERE scan_id = $1
                 AND fingerprint NOT IN (SELECT fingerprint FROM scan_findings WHERE scan_id = $2)",
        )
        .bind(&scan.id)
        .bind(&previous)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let fixed = sqlx::query(
            "SELECT * FROM scan_findings WHERE scan_id = $1
                 AND fingerprint NOT IN (SELECT fingerprint FROM scan_findings WHERE scan_id = $2)
             ORDER BY severity DESC, path, start_line, seq",
        )
        .bind(&previous)
        .bind(&scan.id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(finding)
        .collect::<Result<_, _>>()?;
        Ok(ScanDiff { previous: Some(previous), new, fixed })
    }
}

fn finding(row: sqlx::any::AnyRow) -> Result<Finding, ScanStoreError> {
    let words = |column: &str| -> Result<Vec<String>, ScanStoreError> {
        let text: String = row.try_get(column)?;
        Ok(text.split_whitespace().map(str::to_owned).collect())
    };
    let severity = row.try_get::<i64, _>("severity")?;
    let package = match row.try_get::<Option<String>, _>("package_name")? {
        Some(name) => Some(Package {
            name,
            installed_version: row
                .try_get::<Option<String>, _>("installed_version")?
                .unwrap_or_default(),
            fixed_version: row.try_get("fixed_version")?,
        }),
        None => None,
    };
    let symbol = match row.try_get::<Option<String>, _>("symbol_id")? {
        Some(id) => Some(EnclosingSymbol {
            id,
            kind: row.try_get::<Option<String>, _>("symbol_kind")?.unwrap_or_default(),
            name: row.try_get::<Option<String>, _>("symbol_name")?.unwrap_or_default(),
            callers: row.try_get::<Option<i64>, _>("callers")?.unwrap_or(0) as u32,
        }),
        None => None,
    };
    Ok(Finding {
        tool: parse(row.try_get("tool")?)?,
        category: Category::ALL
            .into_iter()
            .find(|c| row.try_get::<&str, _>("category").is_ok_and(|s| s == c.as_str()))
            .ok_or_else(|| ScanStoreError::Corrupt("a finding's category".into()))?,
        rule_id: row.try_get("rule_id")?,
        severity: *Severity::ALL
            .get(severity as usize)
            .ok_or_else(|| ScanStoreError::Corrupt(format!("severity {severity}")))?,
        title: row.try_get("title")?,
        message: row.try_get("message")?,
        path: row.try_get("path")?,
        start_line: row.try_int("start_line")?,
        end_line: row.try_int("end_line")?,
        cwe: words("cwe")?,
        cve: words("cve")?,
        package,
        fingerprint: row.try_get("fingerprint")?,
        url: row.try_get("url")?,
        symbol,
    })
}

fn parse<T: FromStr>(s: &str) -> Result<T, ScanStoreError> {
    s.parse().map_err(|_| ScanStoreError::Corrupt(format!("{s:?}")))
}

fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `scan-` and 16 hex digits, unique within the process and unlikely to collide across
/// processes (the hash takes in the time, the process id and a counter).
fn new_id(repo_id: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = blake3::Hasher::new();
    hasher.update(repo_id.as_bytes());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    format!("scan-{}", &hasher.finalize().to_hex()[..16])
}
