//! The gateway's tables in `agentwatch.db` (SQLite, WAL): organizations, teams, tenants, providers,
//! their sealed keys, and usage records. The request path never reads it: [`crate::directory`]
//! holds what routing and authentication need in memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Any, QueryBuilder, Row};
use storage::IntColumns;
use storage::Pool;
use storage::Storage;

use crate::dlp::policy::Policy;
use crate::secrets::{MasterKey, SecretError, hash_api_key, key_prefix, mask};
use crate::settings::{GatewaySettings, ProviderKind};

/// The organization that config-seeded providers and tenants belong to.
pub const DEFAULT_ORG: &str = "default";

/// Usage rows an `INSERT` statement takes: a batch of up to `USAGE_SMALL` records goes in the
/// small statement, a larger one in large ones. Only these two are ever prepared.
const USAGE_SMALL: usize = 16;
const USAGE_LARGE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("gateway database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: i64,
    pub org_id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub status: String,
    pub daily_budget: Option<f64>,
    pub monthly_budget: Option<f64>,
    pub rate_limit: Option<i64>,
    /// Its team's budgets (daily, monthly), set when the directory is built.
    pub team_budgets: (Option<f64>, Option<f64>),
    /// The tenant's own token bucket, when it has one.
    pub rate_burst: Option<u32>,
    pub rate_refill: Option<f64>,
    /// The tenant's own DLP policy, as stored.
    pub dlp_policy: Option<Policy>,
    /// The policy its requests are guarded by: its own over the config's default (set when the
    /// directory is built).
    pub dlp: Arc<Policy>,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub priority: i64,
    pub enabled: bool,
    pub models: Option<Vec<String>>,
    pub aliases: BTreeMap<String, String>,
    pub keys: Vec<ProviderKey>,
}

impl Provider {
    /// An Azure provider on the classic deployments API (the deployment in the URL), rather
    /// than on the v1 API (a base URL ending in `/openai/v1`, the deployment as the model).
    pub fn azure_deployments(&self) -> bool {
        self.kind == ProviderKind::Azure && !self.base_url.ends_with("/openai/v1")
    }
}

/// A provider key, opened: only ever held in memory.
#[derive(Clone)]
pub struct ProviderKey {
    pub id: i64,
    pub label: Option<String>,
    pub secret: String,
    pub hint: String,
    pub concurrency_limit: i64,
    pub rpm_limit: Option<i64>,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKey")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// The tracing span of the request a usage record is of: it ends once the record is handed
/// over with its tokens ([`Trace::finish`]), which it records in the GenAI semantic conventions.
#[derive(Debug, Clone, Default)]
pub struct Trace(pub Option<tracing::Span>);

impl PartialEq for Trace {
    /// A record is the same record whatever span it is traced by.
    fn eq(&self, _: &Trace) -> bool {
        true
    }
}

impl Trace {
    /// Records `record`'s outcome on its span (tokens, status, provider) and ends the span.
    pub fn finish(&mut self, record: &UsageRecord) {
        let Some(span) = self.0.take() else { return };
        span.record("gen_ai.usage.input_tokens", record.prompt_tokens);
        span.record("gen_ai.usage.output_tokens", record.completion_tokens);
        span.record("agentwatch.cost_usd", record.cost_usd);
        span.record("http.response.status_code", record.status);
        if let Some(provider) = &record.provider {
            span.record("agentwatch.provider", provider.as_str());
        }
        if record.status >= 400 {
            span.record("error.type", record.status.to_string());
        }
    }
}

/// One request through the gateway, as `usage` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    pub request_id: String,
    pub org_id: i64,
    pub tenant_id: Option<i64>,
    pub team_id: Option<i64>,
    pub endpoint: &'static str,
    pub provider_id: Option<i64>,
    pub provider: Option<String>,
    pub model: String,
    /// Every input token, cached ones included (OpenAI's reading).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of the prompt tokens, those read from the provider's prompt cache…
    pub cache_read_tokens: u64,
    /// …and those written to it.
    pub cache_write_tokens: u64,
    /// `provider` or `tokenizer`.
    pub tokens_source: &'static str,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub status: u16,
    pub error: Option<String>,
    pub streamed: bool,
    pub attempts: u32,
    pub dlp_events: u32,
    /// What DLP did, as JSON: `{"email": {"redact": 2}}`; types and counts, never values.
    pub dlp: Option<String>,
    /// For a call to a service that draws on the gateway (the knowledge server): the tool or
    /// route called. `None` for an LLM request.
    pub tool: Option<String>,
    /// The size in bytes of what that call returned.
    pub result_bytes: Option<u64>,
    /// The budget reservation to settle with this record's cost (not stored).
    pub reservation: Option<u64>,
    /// The request's span, ended once the record is handed over (not stored).
    pub trace: Trace,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    backend: storage::Backend,
    master: MasterKey,
}

impl Store {
    /// The gateway's tables of the data dir's database; provider keys sealed under `master`.
    pub fn new(storage: &Storage, master: MasterKey) -> Store {
        Store { pool: storage.pool().clone(), backend: storage.backend(), master }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which database the pool is on, for the few statements the dialects write differently.
    pub(crate) fn backend(&self) -> storage::Backend {
        self.backend
    }

    /// Seals a provider key under the master key.
    pub(crate) fn seal(&self, secret: &str) -> Vec<u8> {
        self.master.seal(secret)
    }

    /// Re-seals every provider key under `new`, in one transaction: all or none. Returns how
    /// many keys it re-sealed.
    pub async fn reseal(&self, new: &MasterKey) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, sealed FROM provider_keys").fetch_all(&mut *tx).await?;
        for (id, sealed) in &rows {
            let secret = self.master.open(sealed)?;
            sqlx::query("UPDATE provider_keys SET sealed = $1 WHERE id = $2")
                .bind(new.seal(&secret))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// The version of what the directory is built from: it changes after every change to
    /// tenants, teams, providers, keys or policies, whichever process made it.
    pub async fn directory_version(&self) -> Result<i64, StoreError> {
        let version = sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(version)
    }

    /// Marks the directory changed, once the change is written: every gateway on the database
    /// reloads.
    pub async fn directory_changed(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE directory_version SET version = version + 1 WHERE id = 1")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every team's budgets: (daily, monthly).
    pub async fn team_budgets(
        &self,
    ) -> Result<std::collections::HashMap<i64, (Option<f64>, Option<f64>)>, StoreError> {
        let rows: Vec<(i64, Option<f64>, Option<f64>)> =
            sqlx::query_as("SELECT id, daily_budget, monthly_budget FROM teams")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id, d, m)| (id, (d, m))).collect())
    }

    /// Writes a budget threshold crossing to the audit log of `org_id`.
    pub async fn record_budget_crossing(
        &self,
        org_id: i64,
        crossing: &crate::budget::Crossing,
    ) -> Result<(), StoreError> {
        let (target_type, target_id) = match crossing.scope {
            crate::budget::Scope::Tenant(id) => ("tenant", id),
            crate::budget::Scope::Team(id) => ("team", id),
        };
        let detail = serde_json::json!({
            "period": crossing.period.as_str(),
            "threshold": crossing.threshold,
            "spent_usd": crossing.spent,
            "budget_usd": crossing.budget,
        });
        sqlx::query(
            "INSERT INTO audit_log (org_id, action, target_type, target_id, detail, created_at) \
             VALUES ($1, 'budget.threshold', $2, $3, $4, $5)",
        )
        .bind(org_id)
        .bind(target_type)
        .bind(target_id)
        .bind(detail.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `email` has an account (emails are matched lower-cased).
    pub async fn has_user(&self, email: &str) -> Result<bool, StoreError> {
        let found: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE email = $1) THEN 1 ELSE 0 END",
        )
        .bind(email.trim().to_lowercase())
        .fetch_one(&self.pool)
        .await?;
        Ok(found == 1)
    }

    /// Whether anybody can log in to the admin API yet.
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        let found: i64 =
            sqlx::query_scalar("SELECT CASE WHEN EXISTS (SELECT 1 FROM users) THEN 1 ELSE 0 END")
                .fetch_one(&self.pool)
                .await?;
        Ok(found == 1)
    }

    /// Makes the store hold the config's providers and tenants, in the `default` organization:
    /// each is created or updated by name; config-seeded providers no longer in the config are
    /// removed, and such tenants are made `inactive` (their usage stays). Keys seeded from config
    /// are replaced by the config's.
    pub async fn seed(&self, settings: &GatewaySettings) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Replicas starting at once seed one after the other: this write locks the row (Postgres)
        // or the database (SQLite) until the seeding commits, so that the next one reads what
        // this one wrote instead of adding the same keys again.
        sqlx::query("UPDATE directory_version SET version = version WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let org_id = org_id(&mut tx, DEFAULT_ORG, now).await?;

        let names: Vec<&str> = settings.providers.iter().map(|p| p.name.as_str()).collect();
        let existing: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, name FROM providers WHERE org_id = $1 AND source = 'config'",
        )
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?;
        for (id, name) in existing {
            if !names.contains(&name.as_str()) {
                sqlx::query("DELETE FROM providers WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for p in &settings.providers {
            let models = p.models.as_ref().map(|m| serde_json::to_string(m).expect("strings"));
            let aliases = serde_json::to_string(&p.aliases).expect("strings");
            let base_url = p.base_url().map_err(StoreError::Invalid)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO providers (org_id, name, kind, base_url, priority, enabled, models, \
                 aliases, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'config', $9, $10) \
                 ON CONFLICT (org_id, name) DO UPDATE SET kind = excluded.kind, \
                 base_url = excluded.base_url, priority = excluded.priority, \
                 enabled = excluded.enabled, models = excluded.models, aliases = excluded.aliases, \
                 source = 'config', updated_at = excluded.updated_at \
                 RETURNING id",
            )
            .bind(org_id)
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(base_url)
            .bind(p.priority)
            .bind(storage::int(p.enabled))
            .bind(models)
            .bind(aliases)
            .bind(now)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            // The config's keys keep their rows (and ids) from one start to the next, the n-th
            // key the n-th row: a replica's counters in Redis and its in-memory directory name
            // keys by id, so a replica starting must not renumber the keys the others hold.
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM provider_keys WHERE provider_id = $1 AND source = 'config' \
                 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for (n, key) in p.keys.iter().enumerate() {
                let secret = key.resolve().map_err(StoreError::Invalid)?;
                let (sealed, hint) = (self.master.seal(&secret), mask(&secret));
                let (limit, rpm) = (key.concurrency_limit, key.rpm_limit);
                match rows.get(n) {
                    Some(row) => sqlx::query(
                        "UPDATE provider_keys SET label = $1, sealed = $2, hint = $3, \
                         concurrency_limit = $4, rpm_limit = $5 WHERE id = $6",
                    )
                    .bind(&key.label)
                    .bind(sealed)
                    .bind(hint)
                    .bind(limit)
                    .bind(rpm)
                    .bind(row),
                    None => sqlx::query(
                        "INSERT INTO provider_keys (label, sealed, hint, concurrency_limit, \
                         rpm_limit, provider_id, source, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'config', $7)",
                    )
                    .bind(&key.label)
                    .bind(sealed)
                    .bind(hint)
                    .bind(limit)
                    .bind(rpm)
                    .bind(id)
                    .bind(now),
                }
                .execute(&mut *tx)
                .await?;
            }
            for stale in rows.iter().skip(p.keys.len()) {
                sqlx::query("DELETE FROM provider_keys WHERE id = $1")
                    .bind(stale)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        let names: Vec<&str> = settings.tenants.iter().map(|t| t.name.as_str()).collect();
        let existing: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM tenants WHERE org_id = $1 AND source = 'config'")
                .bind(org_id)
                .fetch_all(&mut *tx)
                .await?;
        for (id, name) in existing {
            if !names.contains(&name.as_str()) {
                sqlx::query(
                    "UPDATE tenants SET status = 'inactive', updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        for t in &settings.tenants {
            let team_id = match &t.team {
                Some(team) => Some(team_id(&mut tx, org_id, team, now).await?),
                None => None,
            };
            let key = t.api_key.expose();
            sqlx::query(
                "INSERT INTO tenants (org_id, team_id, name, key_hash, key_prefix, status, \
                 daily_budget, monthly_budget, rate_limit, rate_burst, rate_refill, dlp_policy, \
                 source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, 'config', $12, $13) \
                 ON CONFLICT (org_id, name) DO UPDATE SET team_id = excluded.team_id, \
                 key_hash = excluded.key_hash, key_prefix = excluded.key_prefix, \
                 status = 'active', daily_budget = excluded.daily_budget, \
                 monthly_budget = excluded.monthly_budget, rate_limit = excluded.rate_limit, \
                 rate_burst = excluded.rate_burst, rate_refill = excluded.rate_refill, \
                 dlp_policy = excluded.dlp_policy, source = 'config', \
                 updated_at = excluded.updated_at",
            )
            .persistent(false)
            .bind(org_id)
            .bind(team_id)
            .bind(&t.name)
            .bind(hash_api_key(key))
            .bind(key_prefix(key))
            .bind(t.daily_budget)
            .bind(t.monthly_budget)
            .bind(t.rate_limit)
            .bind(storage::int(t.rate_burst))
            .bind(t.rate_refill_per_sec)
            .bind(t.dlp.as_ref().map(|p| serde_json::to_string(p).expect("serializable")))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().contains("key_hash") => {
                    StoreError::Invalid(format!(
                        "gateway.tenants[name = {:?}].api_key is already another tenant's key",
                        t.name
                    ))
                }
                _ => StoreError::Sql(e),
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every tenant, with the hash of its key.
    pub async fn tenants(&self) -> Result<Vec<(String, Tenant)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, team_id, name, key_hash, status, daily_budget, monthly_budget, \
             rate_limit, rate_burst, rate_refill, dlp_policy FROM tenants",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let tenant = Tenant {
                    id: r.get("id"),
                    org_id: r.get("org_id"),
                    team_id: r.get("team_id"),
                    name: r.get("name"),
                    status: r.get("status"),
                    daily_budget: r.get("daily_budget"),
                    monthly_budget: r.get("monthly_budget"),
                    rate_limit: r.get("rate_limit"),
                    team_budgets: (None, None),
                    rate_burst: r.get::<Option<i64>, _>("rate_burst").map(|b| b as u32),
                    rate_refill: r.get("rate_refill"),
                    dlp_policy: r
                        .get::<Option<String>, _>("dlp_policy")
                        .and_then(|p| serde_json::from_str(&p).ok()),
                    dlp: Arc::new(Policy::builtin()),
                };
                (r.get("key_hash"), tenant)
            })
            .collect())
    }

    /// The organizations that have a DLP policy of their own, with it.
    pub async fn org_policies(&self) -> Result<Vec<(i64, Policy)>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, dlp_policy FROM orgs WHERE dlp_policy IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, policy)| Some((id, serde_json::from_str(&policy).ok()?)))
            .collect())
    }

    /// The id of the `default` organization (config tenants and locally indexed repositories
    /// belong to it), made if need be.
    pub async fn default_org(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = org_id(&mut tx, DEFAULT_ORG, now_ms()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every provider with its keys opened, by priority.
    pub async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, kind, base_url, priority, enabled, models, aliases \
             FROM providers ORDER BY priority, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let keys = sqlx::query(
            "SELECT id, provider_id, label, sealed, hint, concurrency_limit, rpm_limit \
             FROM provider_keys ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut providers = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let kind: String = r.get("kind");
            let models: Option<String> = r.get("models");
            let aliases: String = r.get("aliases");
            let mut provider_keys = Vec::new();
            for k in keys.iter().filter(|k| k.get::<i64, _>("provider_id") == id) {
                let sealed: Vec<u8> = k.get("sealed");
                provider_keys.push(ProviderKey {
                    id: k.get("id"),
                    label: k.get("label"),
                    secret: self.master.open(&sealed)?,
                    hint: k.get("hint"),
                    concurrency_limit: k.get("concurrency_limit"),
                    rpm_limit: k.get("rpm_limit"),
                });
            }
            providers.push(Provider {
                id,
                org_id: r.get("org_id"),
                name: r.get("name"),
                kind: ProviderKind::parse(&kind)
                    .ok_or_else(|| StoreError::Invalid(format!("unknown provider kind {kind}")))?,
                base_url: r.get("base_url"),
                priority: r.get("priority"),
                enabled: r.int("enabled"),
                models: models.and_then(|m| serde_json::from_str(&m).ok()),
                aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                keys: provider_keys,
            });
        }
        Ok(providers)
    }

    /// Writes a batch of usage records, all or none.
    ///
    /// Each statement has a fixed number of rows, `USAGE_SMALL` or `USAGE_LARGE`, the unused
    /// ones bound to NULL and skipped by the `WHERE`: so the two statements stay prepared, and a
    /// batch of up to 256 records costs one statement and one round trip to SQLite's thread,
    /// with no `BEGIN` and `COMMIT`. Preparing a statement per batch size held 30 MB of SQLite
    /// programs under load; the chunked insert this replaced, which prepared its odd-sized last
    /// chunk afresh each time, took 17 % longer for a batch of 200 records and 60 % longer for a
    /// batch of 5 (`examples/usage_bench.rs`, BENCHMARKS.md).
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let chunk = if records.len() <= USAGE_SMALL { USAGE_SMALL } else { USAGE_LARGE };
        let mut tx = if records.len() > chunk { Some(self.pool.begin().await?) } else { None };
        for rows in records.chunks(chunk) {
            let mut insert: QueryBuilder<Any> = QueryBuilder::new(
                "INSERT INTO usage (request_id, org_id, tenant_id, team_id, endpoint, \
                 provider_id, provider, model, prompt_tokens, completion_tokens, cache_read_tokens, \
                 cache_write_tokens, tokens_source, cost_usd, latency_ms, ttft_ms, status, error, \
                 streamed, attempts, dlp_events, dlp, tool, result_bytes, created_at) \
                 SELECT * FROM (",
            );
            // Unused rows repeat the first with no request id, skipped by the `WHERE`: every
            // column keeps one type, as Postgres wants of a `VALUES` list.
            let real = rows.iter().map(|u| (u, true));
            let padded = real.chain(std::iter::repeat((&rows[0], false))).take(chunk);
            insert.push_values(padded, |mut row, (u, real)| {
                row.push_bind(real.then_some(&u.request_id))
                    .push_bind(u.org_id)
                    .push_bind(u.tenant_id)
                    .push_bind(u.team_id)
                    .push_bind(u.endpoint)
                    .push_bind(u.provider_id)
                    .push_bind(&u.provider)
                    .push_bind(&u.model)
                    .push_bind(u.prompt_tokens as i64)
                    .push_bind(u.completion_tokens as i64)
                    .push_bind(u.cache_read_tokens as i64)
                    .push_bind(u.cache_write_tokens as i64)
                    .push_bind(u.tokens_source)
                    .push_bind(u.cost_usd)
                    .push_bind(u.latency_ms as i64)
                    .push_bind(u.ttft_ms.map(|t| t as i64))
                    .push_bind(i64::from(u.status))
                    .push_bind(&u.error)
                    .push_bind(storage::int(u.streamed))
                    .push_bind(i64::from(u.attempts))
                    .push_bind(i64::from(u.dlp_events))
                    .push_bind(&u.dlp)
                    .push_bind(&u.tool)
                    .push_bind(u.result_bytes.map(|b| b as i64))
                    .push_bind(u.created_at_ms);
            });
            insert.push(") AS batch WHERE column1 IS NOT NULL");
            match tx.as_mut() {
                Some(tx) => storage::query(self.backend, &mut insert).execute(&mut **tx).await?,
                None => storage::query(self.backend, &mut insert).execute(&self.pool).await?,
            };
        }
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        Ok(())
    }

    /// The latest `limit` usage records, newest first.
    pub async fn recent_usage(&self, limit: i64) -> Result<Vec<UsageRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, org_id, tenant_id, team_id, endpoint, provider_id, provider, \
             model, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, \
             tokens_source, cost_usd, latency_ms, ttft_ms, status, error, streamed, attempts, dlp_events, dlp, tool, result_bytes, \
             created_at FROM usage ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| UsageRecord {
                request_id: r.get("request_id"),
                org_id: r.get("org_id"),
                tenant_id: r.get("tenant_id"),
                team_id: r.get("team_id"),
                endpoint: endpoint_name(&r.get::<String, _>("endpoint")),
                provider_id: r.get("provider_id"),
                provider: r.get("provider"),
                model: r.get("model"),
                prompt_tokens: r.get::<i64, _>("prompt_tokens") as u64,
                completion_tokens: r.get::<i64, _>("completion_tokens") as u64,
                cache_read_tokens: r.get::<i64, _>("cache_read_tokens") as u64,
                cache_write_tokens: r.get::<i64, _>("cache_write_tokens") as u64,
                tokens_source: if r.get::<String, _>("tokens_source") == "tokenizer" {
                    "tokenizer"
                } else {
                    "provider"
                },
                cost_usd: r.get("cost_usd"),
                latency_ms: r.get::<i64, _>("latency_ms") as u64,
                ttft_ms: r.get::<Option<i64>, _>("ttft_ms").map(|t| t as u64),
                status: r.get::<i64, _>("status") as u16,
                error: r.get("error"),
                streamed: r.int("streamed"),
                attempts: r.get::<i64, _>("attempts") as u32,
                dlp_events: r.get::<i64, _>("dlp_events") as u32,
                dlp: r.get("dlp"),
                tool: r.get("tool"),
                result_bytes: r.get::<Option<i64>, _>("result_bytes").map(|b| b as u64),
                reservation: None,
                trace: Trace::default(),
                created_at_ms: r.get("created_at"),
            })
            .collect())
    }
}

/// The endpoints usage is recorded for, as stored.
fn endpoint_name(stored: &str) -> &'static str {
    match stored {
        "chat.completions" => "chat.completions",
        "embeddings" => "embeddings",
        "messages" => "messages",
        "messages.count_tokens" => "messages.count_tokens",
        "responses" => "responses",
        "mcp" => "mcp",
        "rest" => "rest",
        _ => "other",
    }
}

async fn org_id(
    tx: &mut sqlx::Transaction<'_, Any>,
    name: &str,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO orgs (name, created_at) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

async fn team_id(
    tx: &mut sqlx::Transaction<'_, Any>,
    org_id: i64,
    name: &str,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO teams (org_id, name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(org_id)
    .bind(name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> UsageRecord {
        UsageRecord {
            request_id: format!("req-{n}"),
            org_id: 1,
            tenant_id: Some(n as i64 % 3),
            team_id: n.is_multiple_of(2).then_some(7),
            endpoint: if n.is_multiple_of(5) { "embeddings" } else { "chat.completions" },
            provider_id: Some(2),
            provider: Some("mock".into()),
            model: format!("model-{}", n % 4),
            prompt_tokens: n as u64,
            completion_tokens: 2 * n as u64,
            cache_read_tokens: n as u64 / 2,
            cache_write_tokens: n as u64 / 4,
            tokens_source: if n.is_multiple_of(3) { "tokenizer" } else { "provider" },
            cost_usd: n as f64 / 1000.0,
            latency_ms: 10 + n as u64,
            ttft_ms: n.is_multiple_of(4).then_some(n as u64),
            status: if n.is_multiple_of(7) { 502 } else { 200 },
            error: n.is_multiple_of(7).then(|| "upstream failed".to_string()),
            streamed: n % 2 == 1,
            attempts: 1 + (n % 3) as u32,
            dlp_events: (n % 6) as u32,
            dlp: (!n.is_multiple_of(6)).then(|| r#"{"email":{"redact":1}}"#.to_string()),
            tool: n.is_multiple_of(9).then(|| "search_code".to_string()),
            result_bytes: n.is_multiple_of(9).then_some(4096),
            reservation: None,
            trace: Trace::default(),
            created_at_ms: 1_764_500_000_000 + n as i64,
        }
    }

    #[tokio::test]
    async fn a_batch_of_any_size_is_stored_exactly_as_given_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::from_hex(&"42".repeat(32)).unwrap();
        let storage = storage::testing::open(dir.path()).await;
        let store = Store::new(&storage, key);
        let mut stored = Vec::new();
        // Around the statements' sizes (16 and 256 rows), and across several large ones.
        for size in [1, 15, 16, 17, 255, 256, 257, 600] {
            let batch: Vec<UsageRecord> = (0..size).map(|i| record(stored.len() + i)).collect();
            store.insert_usage(&batch).await.unwrap();
            stored.extend(batch);
        }
        let mut read = store.recent_usage(10_000).await.unwrap();
        read.reverse();
        assert_eq!(read.len(), stored.len(), "no padding row was stored, no record left out");
        assert!(read == stored, "every record reads back as it was written, in order");
    }
}
