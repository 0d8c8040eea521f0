//! The database every crate keeps its tables in, opened once per process with one pool and one
//! migration history. Two backends, one code path:
//!
//! - **SQLite** in the data dir (`agentwatch.db`), the embedded default: nothing to install;
//! - **Postgres** (`storage.database_url` / `AGENTWATCH_DATABASE_URL`), for several processes or
//!   replicas on several machines sharing one truth.
//!
//! Queries go through sqlx's `Any` driver, written once for both: written placeholders are `$N`
//! (SQLite reads them too; statements put together at run time keep `?` there, see [`query`]),
//! integers are `BIGINT`s, flags are `0`/`1` integers and never booleans,
//! and what differs between the two dialects (a date's formatting) asks [`Storage::backend`]. A
//! statement that binds a float which may be NULL is run with `.persistent(false)`: sqlx 0.9's
//! `Any` driver types a NULL `f64` as a `real` for Postgres (launchbadge/sqlx#4284), and a
//! statement kept prepared keeps the types of its first run, so a number after a NULL would
//! fail; unprepared, each run brings its own types (see the test that watches for the fix). The
//! crates take a [`Storage`] and keep only their queries; each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`), kept in step.
//!
//! Replicas also share counters that change on every request (budgets, rate limits, provider-key
//! slots): with `storage.redis_url` set, [`Storage::redis`] is the connection they keep them in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, ConnectOptions, Connection, Execute, QueryBuilder};

pub use sqlx::AnyPool as Pool;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// SQLite's history: `migrations/sqlite`, versions are timestamps.
pub static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// Postgres's history: `migrations/postgres`. Its first migration creates every table as SQLite's
/// history left them on the day Postgres came; later ones come in pairs, one per backend.
pub static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections in the pool. SQLite: one writer at a time (WAL), and readers beside it; enough that
/// the indexer's and the scans' writers waiting on the write lock never hold every connection
/// while the gateway's usage writer and admin reads wait for one. Postgres: as many, per process.
const CONNECTIONS: u32 = 8;

/// How long a statement waits for SQLite's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database the tables live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error(
        "cannot connect to the database at {address}: {source} (check `storage.database_url`: \
         the server must be running and the database must exist; a server whose certificate a \
         private authority signed needs `?sslmode=verify-full&sslrootcert=/path/to/ca.pem`)"
    )]
    Connect { address: String, source: sqlx::Error },
    #[error("cannot reach Redis at {address}: {source}")]
    Redis { address: String, source: redis::RedisError },
    #[error(
        "cannot bring the database schema up to date: {0} (is the database from a newer \
         AgentWatch? keep a copy of it and use that version)"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The open database. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Storage {
    pool: Pool,
    backend: Backend,
    /// The file, or `host:port/database`: for messages, never a password.
    address: String,
    redis: Option<Redis>,
}

impl Storage {
    /// Opens (creating if needed) the SQLite database at `path` and brings every table up to date.
    pub async fn open(path: &Path) -> Result<Storage, StorageError> {
        sqlx::any::install_default_drivers();
        let open = |source| StorageError::Open { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open(e.into()))?;
        }
        // Processes starting on a fresh data dir at once (two IDE windows, `index` beside
        // `serve`) would each make the file and its tables; SQLite has no lock for that, so a
        // file lock beside it lets one process at a time set it up (the wait is the other's
        // setup, at start only).
        let lock =
            std::fs::File::create(path.with_extension("db.lock")).map_err(|e| open(e.into()))?;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(open(e.into())),
            }
        }
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        // WAL is a property of the file: set once here, every later connection finds it.
        let first = options.clone().journal_mode(SqliteJournalMode::Wal).connect().await;
        first.map_err(open)?.close().await.map_err(open)?;
        let pool = AnyPoolOptions::new()
            .max_connections(CONNECTIONS)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = {}",
                        BUSY_TIMEOUT.as_millis()
                    )))
                    .execute(connection)
                    .await?;
                    Ok(())
                })
            })
            .connect(options.to_url_lossy().as_str())
            .await
            .map_err(open)?;
        SQLITE.run(&pool).await?;
        drop(lock);
        let address = path.display().to_string();
        Ok(Storage { pool, backend: Backend::Sqlite, address, redis: None })
    }

    /// Connects to the Postgres database at `url` (`postgres://user:password@host:port/db`) and
    /// brings every table up to date. The database must exist; the tables are created.
    pub async fn connect(url: &str) -> Result<Storage, StorageError> {
        sqlx::any::install_default_drivers();
        let address = address(url);
        let pool = AnyPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| StorageError::Connect { address: address.clone(), source })?;
        POSTGRES.run(&pool).await?;
        Ok(Storage { pool, backend: Backend::Postgres, address, redis: None })
    }

    /// The same storage, with counters shared through `redis`.
    pub fn with_redis(self, redis: Redis) -> Storage {
        Storage { redis: Some(redis), ..self }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the database is, for messages: the file, or `host:port/database` (never the user
    /// or the password).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Where replicas share their counters, when they do.
    pub fn redis(&self) -> Option<&Redis> {
        self.redis.as_ref()
    }
}

/// `host:port/database` of a database URL, for messages: never the user or the password.
pub fn address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// The statement `builder` put together, ready to run on `backend` (see `numbered`).
pub fn query(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> sqlx::query::Query<'static, Any, AnyArguments> {
    let (sql, arguments) = numbered(backend, builder);
    sqlx::query_with(sql, arguments)
}

/// [`query`], for a statement that returns one value.
pub fn query_scalar<O>(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> sqlx::query::QueryScalar<'static, Any, O, AnyArguments>
where
    (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let (sql, arguments) = numbered(backend, builder);
    sqlx::query_scalar_with(sql, arguments)
}

/// The statement `builder` put together for `backend`: sqlx's builder writes `?` for `Any`, which
/// Postgres does not take, so there its values are numbered `$1, $2, …`. SQLite keeps the `?`s:
/// it looks each `$N` up by name, in a list, which makes a statement of thousands of values (a
/// batch insert) fifty times slower (BENCHMARKS.md, "Postgres"). Our SQL never holds a `?` of its
/// own: every value is bound.
fn numbered(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> (sqlx::AssertSqlSafe<String>, AnyArguments) {
    let mut query = builder.build();
    // `Any` encodes what it takes (integers, floats, text, bytes) without fail.
    let arguments = query.take_arguments().expect("Any's encoders do not fail").unwrap_or_default();
    let written = query.sql();
    let sql = match backend {
        Backend::Sqlite => written.as_str().to_owned(),
        Backend::Postgres => {
            let mut pieces = written.as_str().split('?');
            let mut sql = pieces.next().unwrap_or_default().to_owned();
            for (n, piece) in pieces.enumerate() {
                sql.push_str(&format!("${}{piece}", n + 1));
            }
            sql
        }
    };
    (sqlx::AssertSqlSafe(sql), arguments)
}

/// Reads an integer column as the type the code keeps it in. `Any` decodes only `i16`, `i32`,
/// `i64` (and `bool` only from a real boolean, which SQLite does not have): unsigned counts and
/// 0/1 flags are read through here, with an error, not a wrap, for a value out of range.
pub trait IntColumns {
    /// Panics like [`sqlx::Row::get`] when the column is missing or out of range.
    fn int<T: FromInt>(&self, column: &str) -> T {
        self.try_int(column).unwrap_or_else(|e| panic!("{e}"))
    }
    fn try_int<T: FromInt>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl IntColumns for sqlx::any::AnyRow {
    fn try_int<T: FromInt>(&self, column: &str) -> Result<T, sqlx::Error> {
        let value: Option<i64> = sqlx::Row::try_get(self, column)?;
        T::from_int(value).map_err(|message| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: message.into(),
        })
    }
}

/// A Rust type an integer column converts into (a `NULL` only into an `Option`).
pub trait FromInt: Sized {
    fn from_int(value: Option<i64>) -> Result<Self, String>;
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromInt for $t {
            fn from_int(value: Option<i64>) -> Result<Self, String> {
                let value = value.ok_or("unexpected NULL")?;
                <$t>::try_from(value).map_err(|_| format!("{value} is out of range"))
            }
        }
    )*};
}
from_int!(u16, u32, u64, usize, i64);

impl FromInt for bool {
    fn from_int(value: Option<i64>) -> Result<Self, String> {
        match value {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            other => Err(format!("{other:?} is not a 0/1 flag")),
        }
    }
}

impl<T: FromInt> FromInt for Option<T> {
    fn from_int(value: Option<i64>) -> Result<Self, String> {
        value.map(|v| T::from_int(Some(v))).transpose()
    }
}

/// An unsigned count or a flag as the `BIGINT` both backends store it in (`Any` binds only `i16`,
/// `i32`, `i64`, and a boolean is not an integer to Postgres); `None` binds `NULL`.
pub fn int(value: impl IntoInt) -> Option<i64> {
    value.into_int()
}

pub trait IntoInt {
    fn into_int(self) -> Option<i64>;
}

macro_rules! into_int {
    ($($t:ty),*) => {$(
        impl IntoInt for $t {
            fn into_int(self) -> Option<i64> {
                // Counts this large do not occur; saturate rather than wrap if one did.
                Some(i64::try_from(self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
into_int!(u16, u32, u64, usize);

impl IntoInt for bool {
    fn into_int(self) -> Option<i64> {
        Some(i64::from(self))
    }
}

impl<T: IntoInt> IntoInt for Option<T> {
    fn into_int(self) -> Option<i64> {
        self.and_then(IntoInt::into_int)
    }
}

/// A Redis server's connection, shared by every task of the process: it reconnects by itself, and
/// a command that gets no answer within [`Redis::TIMEOUT`] fails, so that what waits on it can
/// refuse its request instead of hanging (or letting it through unchecked).
#[derive(Clone)]
pub struct Redis {
    connection: redis::aio::ConnectionManager,
    address: String,
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
        let redis = Redis { connection, address };
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
        assert_eq!(applied as usize, SQLITE.iter().count());
        drop(storage);
        let again = Storage::open(&path).await.unwrap();
        let applied_again: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(applied, applied_again);
    }

    /// The two histories describe the same tables: every table, view, column and index SQLite has,
    /// Postgres has under the same name (and nothing else but the `rowid` SQLite gives `scans`
    /// implicitly, and the counters replicas share without Redis, which one process on SQLite
    /// keeps in memory), so that every query reads both.
    #[tokio::test]
    async fn postgres_has_the_tables_columns_and_indexes_sqlite_has() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Storage::open(&dir.path().join("agentwatch.db")).await.unwrap();
        let postgres = Storage::connect(&testing::new_database().await).await.unwrap();
        assert_eq!(postgres.backend(), Backend::Postgres);
        let mut in_sqlite: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type IN ('table', 'view') AND m.name NOT LIKE '\\_%' ESCAPE '\\' \
             UNION ALL SELECT 'index', name FROM sqlite_master \
             WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        )
        .fetch_all(sqlite.pool())
        .await
        .unwrap();
        in_sqlite.push(("scans".to_owned(), "rowid".to_owned()));
        in_sqlite.sort();
        let mut in_postgres: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name NOT LIKE '\\_%' ESCAPE '\\' \
             UNION ALL SELECT 'index', CAST(indexname AS TEXT) FROM pg_indexes \
             WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey' ESCAPE '\\' \
             AND indexname NOT LIKE '%\\_key' ESCAPE '\\'",
        )
        .fetch_all(postgres.pool())
        .await
        .unwrap();
        let shared_counter = |(table, name): &(String, String)| {
            table.starts_with("shared_") || (table == "index" && name.starts_with("shared_"))
        };
        in_postgres.retain(|row| !shared_counter(row));
        in_postgres.sort();
        assert_eq!(in_sqlite, in_postgres);
        assert!(in_sqlite.len() > 150, "{in_sqlite:?}");
    }

    /// Processes that start on a fresh data dir at the same moment both come up: one creates the
    /// tables while the other waits, then finds them made.
    #[tokio::test]
    async fn processes_opening_a_fresh_data_dir_at_once_both_start() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("agentwatch.db");
            let (a, b) = tokio::join!(Storage::open(&path), Storage::open(&path));
            a.unwrap();
            b.unwrap();
        }
    }

    /// sqlx 0.9's `Any` driver sends a NULL `f64` to Postgres as a `real`, and a statement kept
    /// prepared keeps the types of its first run: a number after a NULL then fails. Run
    /// unprepared, as the statements binding a float that may be NULL are, each run brings its
    /// own types. When the first assertion fails, sqlx has fixed launchbadge/sqlx#4284 and those
    /// `.persistent(false)` can go.
    #[tokio::test]
    async fn a_float_that_may_be_null_is_bound_by_a_statement_not_kept_prepared() {
        let postgres = Storage::connect(&testing::new_database().await).await.unwrap();
        let mut connection = postgres.pool().acquire().await.unwrap();
        let create = "CREATE TABLE budgets (amount DOUBLE PRECISION)";
        sqlx::query(create).execute(&mut *connection).await.unwrap();
        let kept = "INSERT INTO budgets (amount) VALUES ($1)";
        let none: Option<f64> = None;
        sqlx::query(kept).bind(none).execute(&mut *connection).await.unwrap();
        let after_null = sqlx::query(kept).bind(Some(1.5)).execute(&mut *connection).await;
        assert!(
            after_null.is_err(),
            "sqlx types a NULL f64 right now: `.persistent(false)` can go"
        );

        let unprepared = "INSERT INTO budgets (amount) VALUES ($1) RETURNING amount";
        for amount in [None, Some(2.5), None, Some(4.0)] {
            let stored: Option<f64> = sqlx::query_scalar(unprepared)
                .bind(amount)
                .persistent(false)
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(stored, amount);
        }
    }

    /// A database behind TLS is reached with `sslmode=verify-full` and the authority the URL
    /// names, and not reached when its certificate is not one the URL trusts, nor without TLS.
    #[tokio::test]
    async fn a_postgres_behind_tls_is_verified_against_the_authority_the_url_names() {
        let server = testing::PostgresServer::start(true);
        let url = server.url("postgres");
        let ca = server.ca().unwrap().display().to_string();
        let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
        let storage = Storage::connect(&verified).await.unwrap();
        let tls: bool = sqlx::query_scalar::<_, i64>(
            "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .fetch_one(storage.pool())
        .await
        .unwrap()
            == 1;
        assert!(tls, "the connection is encrypted");

        // The system's authorities do not know the test's.
        let unknown = Storage::connect(&format!("{url}?sslmode=verify-full")).await.unwrap_err();
        assert!(unknown.to_string().contains("cannot connect"), "{unknown}");
        // The server takes nothing unencrypted.
        let plain = Storage::connect(&format!("{url}?sslmode=disable")).await.unwrap_err();
        assert!(plain.to_string().contains("127.0.0.1"), "{plain}");
        assert!(!plain.to_string().contains("postgres@"), "no credentials in messages: {plain}");
    }

    /// A data dir from before provider kinds were added opens with its providers and their keys
    /// as they were (SQLite rebuilds the providers table to change its CHECK), and takes the new
    /// kinds.
    #[tokio::test]
    async fn providers_and_their_keys_survive_the_provider_kinds_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agentwatch.db");
        let options =
            SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().connect_with(options).await.unwrap();
        let before = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&source).unwrap() {
            let file = entry.unwrap().path();
            if file.file_name().unwrap().to_str().unwrap() < "20261210000002" {
                std::fs::copy(&file, before.path().join(file.file_name().unwrap())).unwrap();
            }
        }
        sqlx::migrate::Migrator::new(before.path()).await.unwrap().run(&pool).await.unwrap();
        for statement in [
            "INSERT INTO orgs (id, name, created_at) VALUES (7, 'acme', 0)",
            "INSERT INTO providers (id, org_id, name, kind, base_url, created_at, updated_at) \
             VALUES (3, 7, 'openai', 'openai', 'https://api.openai.com/v1', 0, 0)",
            "INSERT INTO provider_keys (id, provider_id, sealed, hint, created_at) \
             VALUES (5, 3, x'00', 'sk-…abcd', 0)",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let storage = Storage::open(&path).await.unwrap();
        let key: (i64, i64) = sqlx::query_as("SELECT id, provider_id FROM provider_keys")
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert_eq!(key, (5, 3), "the key is still there, still the provider's");
        let insert = "INSERT INTO providers (org_id, name, kind, base_url, created_at, updated_at) \
                      VALUES (7, $1, $2, 'https://example.com', 0, 0)";
        sqlx::query(insert).bind("azure").bind("azure").execute(storage.pool()).await.unwrap();
        let unknown = sqlx::query(insert).bind("x").bind("nonsense").execute(storage.pool()).await;
        assert!(unknown.is_err(), "the kinds are still checked");
        // Foreign keys are enforced again: deleting the provider takes its key with it.
        sqlx::query("DELETE FROM providers WHERE id = 3").execute(storage.pool()).await.unwrap();
        let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM provider_keys")
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert_eq!(keys, 0);
    }

    /// A data dir written before the histories were one — each crate ran its own migrator,
    /// ignoring the others' versions — opens as it is: the same versions and checksums, nothing
    /// applied twice, nothing missing.
    #[tokio::test]
    async fn a_data_dir_of_the_per_crate_migrators_opens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agentwatch.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().connect_with(options).await.unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
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
        assert_eq!(applied as usize, SQLITE.iter().count());
    }
}
