//! Where the counters every request changes are kept: budget reservations, rate-limit buckets
//! and windows, provider keys' requests in flight and per minute.
//!
//! - **In process**, the embedded default: one gateway on its SQLite, nothing shared.
//! - **Redis** (`storage.redis_url`): each check-and-update is one Lua script, so replicas never
//!   see each other's steps half done. The fast way to share.
//! - **The database**, for replicas on Postgres without Redis: each check-and-update is one
//!   transaction that first takes advisory locks on the names it reads, in a fixed order, and
//!   reads the time from the database's clock, so replicas take turns and agree on the time.
//!   Slower than Redis (BENCHMARKS.md, "Shared counters"), and just as exact.
//!
//! Shared counters fail closed: a step the store does not answer refuses its request with 503
//! `counters_unavailable`, never admits it unchecked.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Any, Transaction};
use storage::{Backend, Pool, Redis, Storage};

use crate::error::ApiError;

/// Where the counters of one gateway process are kept.
#[derive(Debug, Clone, Default)]
pub enum Counters {
    /// In this process: one gateway, on SQLite.
    #[default]
    InProcess,
    /// In Redis, shared by every replica that uses it.
    Redis(Redis),
    /// In the Postgres database's `shared_*` tables, shared by every replica on it.
    Database(Database),
}

impl Counters {
    /// Redis when `storage` has it; else the database when it is Postgres (replicas may share
    /// it); else this process.
    pub fn of(storage: &Storage) -> Counters {
        match (storage.redis(), storage.backend()) {
            (Some(redis), _) => Counters::Redis(redis.clone()),
            (None, Backend::Postgres) => Counters::Database(Database {
                pool: storage.pool().clone(),
                address: storage.address().to_owned(),
            }),
            (None, Backend::Sqlite) => Counters::InProcess,
        }
    }
}

/// A name no other process sharing the counters uses, nor this one again: what goes into a
/// shared set (a reservation, a lease, a window entry).
pub fn unique_name() -> String {
    static PROCESS: LazyLock<String> = LazyLock::new(|| {
        format!("{:016x}", getrandom::u64().unwrap_or_else(|_| std::process::id().into()))
    });
    static NAMED: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", *PROCESS, NAMED.fetch_add(1, Ordering::Relaxed))
}

/// The counters in a Postgres database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    address: String,
}

impl Database {
    /// A transaction holding the advisory locks of `names` (taken in sorted order, so that two
    /// transactions never wait on each other crosswise), and the database's time once it holds
    /// them, in Unix ms. The locks go with the transaction's end.
    pub(crate) async fn locked(
        &self,
        names: &[&str],
    ) -> Result<(Transaction<'static, Any>, i64), sqlx::Error> {
        let mut names = names.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut tx = self.pool.begin().await?;
        let mut now = 0;
        for name in names {
            // `pg_advisory_xact_lock` returns `void`, which the `Any` driver cannot read.
            now = sqlx::query_scalar(
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
                 FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS locked",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        }
        Ok((tx, now))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The 503 of a step the database did not answer.
    pub(crate) fn unavailable(&self, error: &sqlx::Error) -> ApiError {
        ApiError::counters_unavailable(&format!("the database at {}", self.address), error)
    }
}

/// The 503 of a step Redis did not answer.
pub(crate) fn redis_unavailable(redis: &Redis, error: &redis::RedisError) -> ApiError {
    ApiError::counters_unavailable(&format!("Redis at {}", redis.address()), &error.category())
}
