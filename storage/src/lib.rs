//! The data dir's database, `agentwatch.db`: opened once per process, with one pool and one
//! migration history for every crate's tables (the code graph, scans, the gateway's). The crates
//! take a [`Storage`] and keep only their queries; a second backend plugs in here.
//!
//! Replicas also share counters that change on every request (budgets, rate limits, provider-key
//! slots): with `storage.redis_url` set, [`Storage::redis`] is the connection they keep them in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Every table's migrations, in one history: `migrations/`, versions are timestamps.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections in the pool: one writer at a time (WAL), and readers beside it. Enough that the
/// indexer's and the scans' writers waiting on the write lock never hold every connection while
/// the gateway's usage writer and admin reads wait for one.
const CONNECTIONS: u32 = 8;

/// SQLite virtual-machine instructions between two yields of the core: about every 8 rows of a
/// usage insert. A statement that runs long hands the core to a request that wakes (on two cores,
/// Linux lets a running thread finish its slice first, up to 1.5 ms) for a 1 µs system call when
/// no one waits; unlike a lower priority, it can never starve a transaction that holds the write
/// lock (BENCHMARKS.md, "usage writes").
const YIELD_EVERY: i32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot reach Redis at {address}: {source}")]
    Redis { address: String, source: redis::RedisError },
    #[error(
        "cannot bring the database schema up to date: {0} (is the data dir from a newer \
         AgentWatch? keep a copy of it and use that version)"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The open database. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Storage {
    pool: SqlitePool,
    redis: Option<Redis>,
}

impl Storage {
    /// Opens (creating if needed) the database at `path` and brings every table up to date.
    pub async fn open(path: &Path) -> Result<Storage, StorageError> {
        let open = |source| StorageError::Open { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open(e.into()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection.lock_handle().await?.set_progress_handler(YIELD_EVERY, || {
                        std::thread::yield_now();
                        true
                    });
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(open)?;
        MIGRATOR.run(&pool).await?;
        Ok(Storage { pool, redis: None })
    }

    /// The same storage, with counters shared through `redis`.
    pub fn with_redis(self, redis: Redis) -> Storage {
        Storage { redis: Some(redis), ..self }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where replicas share their counters, when they do.
    pub fn redis(&self) -> Option<&Redis> {
        self.redis.as_ref()
    }
}

/// A Redis server's connection, shared by every task of the process: it reconnects by itself, and
/// a command that gets no answer within [`Redis::TIMEOUT`] fails, so that what waits on it can
/// refuse its request instead of hanging (or letting it through unchecked).
#[derive(Clone)]
pub struct Redis {
    connection: redis::aio::ConnectionManager,
    address: String,
    process: String,
    /// Names handed out by [`Redis::unique_name`], shared by clones.
    named: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Redis {
    /// How long a command or a connection attempt may take.
    pub const TIMEOUT: Duration = Duration::from_secs(2);

    /// Connects to `url` (`redis://[user:password@]host[:port][/db]` or `redis+unix:///path`;
    /// TLS is not built in) and checks the server answers.
    pub async fn connect(url: &str) -> Result<Redis, StorageError> {
        let client = redis::Client::open(url).map_err(|source| StorageError::Redis {
            address: "(an unreadable URL)".to_owned(),
            source,
        })?;
        // The address without the password the URL may hold.
        let address = client.get_connection_info().addr().to_string();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Redis::TIMEOUT))
            .set_response_timeout(Some(Redis::TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|source| StorageError::Redis { address: address.clone(), source })?;
        let process =
            format!("{:016x}", getrandom::u64().unwrap_or_else(|_| std::process::id().into()));
        let named = std::sync::Arc::default();
        let redis = Redis { connection, address, process, named };
        let _: String = redis::cmd("PING")
            .query_async(&mut redis.connection())
            .await
            .map_err(|source| StorageError::Redis { address: redis.address.clone(), source })?;
        Ok(redis)
    }

    /// A handle on the shared connection (cheap: clones multiplex one connection).
    pub fn connection(&self) -> redis::aio::ConnectionManager {
        self.connection.clone()
    }

    /// A name no other process sharing the server uses, nor this one again: what goes into a
    /// shared set (a reservation, a lease, a window entry).
    pub fn unique_name(&self) -> String {
        let n = self.named.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.process)
    }

    /// `host:port`, for messages: never the password.
    pub fn address(&self) -> &str {
        &self.address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_table_is_created_once_and_a_second_open_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/agentwatch.db");
        let storage = Storage::open(&path).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(storage.pool())
                .await
                .unwrap();
        for table in ["repositories", "scans", "tenants", "usage"] {
            assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert_eq!(applied as usize, MIGRATOR.iter().count());
        drop(storage);
        let again = Storage::open(&path).await.unwrap();
        let applied_again: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(applied, applied_again);
    }

    /// A data dir written before the histories were one — each crate ran its own migrator,
    /// ignoring the others' versions — opens as it is: the same versions and checksums, nothing
    /// applied twice, nothing missing.
    #[tokio::test]
    async fn a_data_dir_of_the_per_crate_migrators_opens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agentwatch.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(options).await.unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        // The order a server ran them in: the indexer, the scanner, then the gateway.
        let crates: [&[&str]; 3] = [
            &["code_graph", "chunk_counts", "owner"],
            &["scans"],
            &["gateway", "admin", "dlp", "limits", "knowledge", "login_failures"],
        ];
        for names in crates {
            let own = tempfile::tempdir().unwrap();
            for entry in std::fs::read_dir(&source).unwrap() {
                let file = entry.unwrap().path();
                let stem = file.file_stem().unwrap().to_str().unwrap();
                if names.iter().any(|name| stem.split_once('_').unwrap().1 == *name) {
                    std::fs::copy(&file, own.path().join(file.file_name().unwrap())).unwrap();
                }
            }
            let mut migrator = sqlx::migrate::Migrator::new(own.path()).await.unwrap();
            migrator.set_ignore_missing(true);
            migrator.run(&pool).await.unwrap();
        }
        pool.close().await;

        let storage = Storage::open(&path).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert_eq!(applied as usize, MIGRATOR.iter().count());
    }
}
