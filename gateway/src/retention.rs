//! Retention: usage and audit rows older than their configured age (`[gateway.retention]`) are
//! rolled up into one row per UTC day and group — `usage_daily` by organization, tenant, team,
//! endpoint, provider, model and tool; `audit_daily` by organization and action — and deleted,
//! a day per transaction, oldest first. Every total the gateway reports reads the
//! `usage_totals` view (the raw rows and the rolled-up days as one), so a rollup changes no
//! summary, breakdown or budget; only the listing of single records loses what was rolled up.
//!
//! Each row is rolled up exactly once, whichever replicas run at the same time: on Postgres the
//! rows are deleted and summed in one statement (`WITH gone AS (DELETE … RETURNING …)`), so two
//! replicas never both see a row; on SQLite a transaction is the only writer from its first
//! write to its commit.

use std::time::Duration;

use sqlx::Row;
use storage::Backend;

use crate::Gateway;
use crate::store::{Store, StoreError, now_ms};

/// A UTC day in milliseconds, the unit of `created_at`.
pub const DAY_MS: i64 = 86_400_000;

/// How often a gateway looks for days to roll up.
const EVERY: Duration = Duration::from_secs(3600);

/// What a rollup did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RolledUp {
    /// Raw rows summed into daily rows and deleted.
    pub rows: u64,
    /// Daily rows written.
    pub days: u64,
}

/// One table's rollup: its raw rows, and how a day of them becomes daily rows.
struct Rollup {
    table: &'static str,
    /// The daily table's columns, `day` first.
    into: &'static str,
    /// What each group sums, in the order of `into` after the group columns.
    sums: &'static str,
    /// The columns a day's rows are grouped by.
    group: &'static str,
}

const USAGE: Rollup = Rollup {
    table: "usage",
    into: "usage_daily (day, org_id, tenant_id, team_id, endpoint, provider, model, tool, \
           requests, errors, prompt_tokens, completion_tokens, cache_read_tokens, \
           cache_write_tokens, cost_usd, dlp_events, latency_ms)",
    sums: "COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(prompt_tokens), \
           SUM(completion_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), \
           SUM(cost_usd), SUM(dlp_events), SUM(latency_ms)",
    group: "org_id, tenant_id, team_id, endpoint, provider, model, tool",
};

const AUDIT: Rollup = Rollup {
    table: "audit_log",
    into: "audit_daily (day, org_id, action, entries)",
    sums: "COUNT(*)",
    group: "org_id, action",
};

impl Store {
    /// Rolls up the usage of every whole UTC day that ended by `before` (ms; rounded down to a
    /// day's start).
    pub async fn roll_up_usage(&self, before: i64) -> Result<RolledUp, StoreError> {
        self.roll_up(&USAGE, before).await
    }

    /// Rolls up the audit log of every whole UTC day that ended by `before`.
    pub async fn roll_up_audit(&self, before: i64) -> Result<RolledUp, StoreError> {
        self.roll_up(&AUDIT, before).await
    }

    async fn roll_up(&self, rollup: &Rollup, before: i64) -> Result<RolledUp, StoreError> {
        let before = before.div_euclid(DAY_MS) * DAY_MS;
        let Rollup { table, into, sums, group } = rollup;
        let oldest = format!("SELECT MIN(created_at) FROM {table} WHERE created_at < $1");
        let sum_day = match self.backend() {
            Backend::Postgres => format!(
                "WITH gone AS (DELETE FROM {table} WHERE created_at >= $1 AND created_at < $2 \
                 RETURNING *), \
                 summed AS (INSERT INTO {into} SELECT $3, {group}, {sums} FROM gone \
                 GROUP BY {group} RETURNING 1) \
                 SELECT (SELECT COUNT(*) FROM gone) AS rows, (SELECT COUNT(*) FROM summed) AS days"
            ),
            Backend::Sqlite => format!(
                "INSERT INTO {into} SELECT $3, {group}, {sums} FROM {table} \
                 WHERE created_at >= $1 AND created_at < $2 GROUP BY {group}"
            ),
        };
        let delete_day = format!("DELETE FROM {table} WHERE created_at >= $1 AND created_at < $2");
        let mut done = RolledUp::default();
        loop {
            // Audited: every name above is one of the constants of this module.
            let oldest: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(oldest.as_str()))
                .bind(before)
                .fetch_one(self.pool())
                .await?;
            let Some(oldest) = oldest else { return Ok(done) };
            let day = oldest.div_euclid(DAY_MS) * DAY_MS;
            let sum = sqlx::query(sqlx::AssertSqlSafe(sum_day.as_str()))
                .bind(day)
                .bind(day + DAY_MS)
                .bind(day);
            let (rows, days) = match self.backend() {
                Backend::Postgres => {
                    let counted = sum.fetch_one(self.pool()).await?;
                    (counted.get::<i64, _>("rows") as u64, counted.get::<i64, _>("days") as u64)
                }
                Backend::Sqlite => {
                    let mut tx = self.pool().begin().await?;
                    let days = sum.execute(&mut *tx).await?.rows_affected();
                    let rows = sqlx::query(sqlx::AssertSqlSafe(delete_day.as_str()))
                        .bind(day)
                        .bind(day + DAY_MS)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    (rows, days)
                }
            };
            done.rows += rows;
            done.days += days;
        }
    }
}

impl Gateway {
    /// Rolls up, now and every hour, the usage and audit rows older than `[gateway.retention]`
    /// says to keep; nothing when it says to keep every row.
    pub(crate) fn keep_retaining(&self, usage_days: Option<u32>, audit_days: Option<u32>) {
        if usage_days.is_none() && audit_days.is_none() {
            return;
        }
        let gateway = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(EVERY);
            loop {
                every.tick().await;
                gateway.retain(usage_days, audit_days).await;
            }
        });
    }

    /// One pass of retention; what it did is logged and counted in `/metrics`.
    async fn retain(&self, usage_days: Option<u32>, audit_days: Option<u32>) {
        let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
        let store = self.store();
        for (table, days) in [("usage", usage_days), ("audit_log", audit_days)] {
            let Some(days) = days else { continue };
            let before = today - i64::from(days) * DAY_MS;
            let outcome = match table {
                "usage" => store.roll_up_usage(before).await,
                _ => store.roll_up_audit(before).await,
            };
            match outcome {
                Ok(done) => {
                    self.inner.metrics.rolled_up(table, done.rows);
                    if done.rows > 0 {
                        tracing::info!(
                            table,
                            rows = done.rows,
                            daily_rows = done.days,
                            "rolled up"
                        );
                    }
                }
                Err(e) => tracing::warn!(table, error = %e, "cannot roll up old rows; next hour"),
            }
        }
    }
}
