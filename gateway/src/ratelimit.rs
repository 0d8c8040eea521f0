//! Per-tenant rate limits, as the contract describes them: a bucket of tokens — 1,000 by default,
//! refilled at 100 per second, each request taking one — and, for a tenant with a `rate_limit`,
//! a sliding one-minute window of at most that many requests. Every answer to a tenant carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the
//! limit is whole again) for whichever of the two is tighter; a refused request gets 429 with
//! `Retry-After`.
//!
//! The state is in process, saved to the database at shutdown and read back at start, so a
//! restart neither forgets the window nor hands out a fresh bucket; or, shared by replicas (see
//! [`crate::counters`]), in Redis, where one Lua script takes the request from the bucket and the
//! window atomically, or in Postgres, where one transaction does under a lock on the tenant's
//! name: either way replicas together admit exactly the configured rate.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use sqlx::Row;
use storage::Redis;

use crate::counters::{Counters, Database, redis_unavailable, unique_name};
use crate::error::ApiError;
use crate::store::{Store, StoreError, now_ms};

/// The sliding window's length, in ms.
const WINDOW: i64 = 60_000;

/// A token bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub burst: f64,
    pub refill_per_sec: f64,
}

/// One tenant's bucket and window, times in Unix ms.
#[derive(Debug, Clone, PartialEq)]
struct State {
    tokens: f64,
    updated: i64,
    /// When the requests of the last minute were admitted, oldest first.
    window: VecDeque<i64>,
}

impl State {
    fn full(bucket: Bucket, now: i64) -> State {
        State { tokens: bucket.burst, updated: now, window: VecDeque::new() }
    }

    /// Takes one request at `now` if the bucket has a token and the window room: what it found.
    /// A clock that went back refills nothing and empties nothing.
    fn take(&mut self, bucket: Bucket, per_minute: Option<usize>, now: i64) -> Reading {
        let elapsed = (now - self.updated).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * bucket.refill_per_sec).min(bucket.burst);
        self.updated = self.updated.max(now);
        while self.window.front().is_some_and(|t| now - t >= WINDOW) {
            self.window.pop_front();
        }
        let bucket_ok = self.tokens >= 1.0;
        let window_ok = per_minute.is_none_or(|r| self.window.len() < r);
        if bucket_ok && window_ok {
            self.tokens -= 1.0;
            if per_minute.is_some() {
                self.window.push_back(now);
            }
        }
        let leaves = |i: usize| {
            let left = self.window.get(i).map_or(0, |t| (t + WINDOW - now).clamp(0, WINDOW));
            Duration::from_millis(left as u64)
        };
        let window = self.window.len();
        Reading {
            bucket_ok,
            window_ok,
            tokens: self.tokens,
            window,
            newest_leaves: leaves(window.saturating_sub(1)),
            blocking_leaves: leaves(window.saturating_sub(per_minute.unwrap_or(0))),
        }
    }

    /// Writes this state as row `key` of a table of rate limits: `sql` takes the key, `tokens`,
    /// `updated_at` and `"window"` (a JSON array) as `$1` to `$4`.
    async fn write<K>(
        &self,
        sql: &'static str,
        key: K,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), sqlx::Error>
    where
        K: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    {
        let window = serde_json::to_string(&self.window).expect("numbers");
        let query = sqlx::query(sql).bind(key).bind(self.tokens).bind(self.updated).bind(window);
        query.execute(&mut **tx).await.map(drop)
    }

    fn from_row(row: &sqlx::any::AnyRow) -> State {
        let window: Option<VecDeque<i64>> = serde_json::from_str(row.get("window")).ok();
        State {
            tokens: row.get("tokens"),
            updated: row.get("updated_at"),
            window: window.unwrap_or_default(),
        }
    }
}

/// The answer for one request, and what its headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the limit is whole again.
    pub reset: u64,
    /// Seconds until a refused request may succeed.
    pub retry_after: u64,
}

impl Decision {
    /// The 429 of a request this decision refuses.
    pub fn refusal(&self) -> ApiError {
        ApiError::rate_limited(
            format!(
                "over the rate limit of {} requests (X-RateLimit-Limit); retry in {} s",
                self.limit, self.retry_after
            ),
            self.retry_after,
        )
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }
}

/// What a check found, from which its [`Decision`] follows.
#[derive(Debug, Clone, Copy)]
struct Reading {
    bucket_ok: bool,
    window_ok: bool,
    tokens: f64,
    /// Requests in the window, this one included when admitted.
    window: usize,
    /// Until the window's newest request leaves it.
    newest_leaves: Duration,
    /// Until the request leaves whose leaving brings the window under its limit.
    blocking_leaves: Duration,
}

/// Rate limits by id: tenants', or people's.
#[derive(Debug)]
pub struct RateLimiter {
    local: Mutex<HashMap<i64, State>>,
    counters: Counters,
    /// Whose limits these are among the shared counters: `tenant` or `person`.
    namespace: &'static str,
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::new(&Counters::InProcess, "tenant")
    }
}

impl RateLimiter {
    /// Limits kept in `counters`, under `namespace` (whose ids these are), starting from nothing.
    pub fn new(counters: &Counters, namespace: &'static str) -> RateLimiter {
        RateLimiter { local: Mutex::default(), counters: counters.clone(), namespace }
    }

    /// Takes one request from `id`'s limits, if both allow it. `Err` only when the limits are
    /// shared and their store does not answer: a 503, never an admission.
    pub async fn check(
        &self,
        id: i64,
        bucket: Bucket,
        per_minute: Option<i64>,
    ) -> Result<Decision, ApiError> {
        let per_minute = per_minute.map(|r| r.max(1) as usize);
        let name = || format!("{}:{id}", self.namespace);
        let reading = match &self.counters {
            Counters::InProcess => self.check_at(id, bucket, per_minute, now_ms()),
            Counters::Redis(redis) => check_in_redis(redis, &name(), bucket, per_minute)
                .await
                .map_err(|e| redis_unavailable(redis, &e))?,
            Counters::Database(db) => check_in_database(db, &name(), bucket, per_minute)
                .await
                .map_err(|e| db.unavailable(&e))?,
        };
        Ok(decide(bucket, per_minute, reading))
    }

    fn check_at(&self, id: i64, bucket: Bucket, per_minute: Option<usize>, now: i64) -> Reading {
        let mut local = self.local.lock().expect("rate limit lock");
        let state = local.entry(id).or_insert_with(|| State::full(bucket, now));
        state.take(bucket, per_minute, now)
    }

    /// Saves every tenant's state for the next start; shared limits stay where they are.
    pub async fn save(&self, store: &Store) -> Result<(), StoreError> {
        if !matches!(self.counters, Counters::InProcess) {
            return Ok(());
        }
        let states: Vec<(i64, State)> = {
            let local = self.local.lock().expect("rate limit lock");
            local.iter().map(|(id, state)| (*id, state.clone())).collect()
        };
        let mut tx = store.pool().begin().await?;
        sqlx::query("DELETE FROM rate_limits").execute(&mut *tx).await?;
        for (tenant, state) in states {
            let sql = "INSERT INTO rate_limits (tenant_id, tokens, updated_at, \"window\") \
                       VALUES ($1, $2, $3, $4)";
            state.write(sql, tenant, &mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tenants' limits in process, as they were saved at the last shutdown.
    pub async fn load(store: &Store) -> Result<RateLimiter, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, tokens, updated_at, \"window\" FROM rate_limits")
            .fetch_all(store.pool())
            .await?;
        let local = rows.iter().map(|row| (row.get("tenant_id"), State::from_row(row))).collect();
        Ok(RateLimiter { local: Mutex::new(local), ..RateLimiter::default() })
    }
}

/// The decision a reading makes, with the headers of whichever limit is tighter.
fn decide(bucket: Bucket, per_minute: Option<usize>, reading: Reading) -> Decision {
    let Reading { bucket_ok, window_ok, tokens, window, .. } = reading;
    let allowed = bucket_ok && window_ok;
    let refill = bucket.refill_per_sec.max(f64::MIN_POSITIVE);
    let by_bucket = Decision {
        allowed,
        limit: bucket.burst as u64,
        remaining: tokens.floor().max(0.0) as u64,
        reset: ((bucket.burst - tokens) / refill).ceil().max(0.0) as u64,
        retry_after: ((1.0 - tokens) / refill).ceil().max(0.0) as u64,
    };
    let Some(per_minute) = per_minute else { return by_bucket };
    let secs = |d: Duration| d.as_secs_f64().ceil() as u64;
    let by_window = Decision {
        allowed,
        limit: per_minute as u64,
        remaining: per_minute.saturating_sub(window) as u64,
        reset: secs(reading.newest_leaves),
        // When the window holds more than the limit (it was lowered), the one to wait for is
        // the one that brings it under.
        retry_after: secs(reading.blocking_leaves),
    };
    // The one with less left speaks, and a refusal waits for both.
    let tighter = if by_window.remaining < by_bucket.remaining { by_window } else { by_bucket };
    Decision {
        retry_after: if bucket_ok { 0 } else { by_bucket.retry_after }.max(if window_ok {
            0
        } else {
            by_window.retry_after
        }),
        ..tighter
    }
}

/// One request taken from a bucket and a sliding window in Redis, by the server's clock. KEYS: the
/// bucket's hash (`tokens`, `updated` ms) and the window's sorted set (entries by time). ARGV:
/// burst, refill per second, the per-minute limit (0 for none), this entry's unique name. Answers
/// bucket ok, window ok (1/0), tokens left, the window's size, and in ms until its newest entry
/// leaves and until the entry leaves whose leaving brings it under the limit.
static CHECK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local time = redis.call('TIME')
        local now = time[1] * 1000 + math.floor(time[2] / 1000)
        local burst, refill, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
        local tokens = tonumber(state[1]) or burst
        local updated = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - updated) / 1000 * refill)
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
        local window = redis.call('ZCARD', KEYS[2])
        local bucket_ok = tokens >= 1
        local window_ok = per_minute == 0 or window < per_minute
        if bucket_ok and window_ok then
            tokens = tokens - 1
            if per_minute > 0 then
                redis.call('ZADD', KEYS[2], now, ARGV[4])
                window = window + 1
            end
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', now)
        redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / math.max(refill, 1e-9) * 1000) + 60000)
        redis.call('PEXPIRE', KEYS[2], 60000)
        local function leaves(i)
            if i < 0 then i = 0 end
            local entry = redis.call('ZRANGE', KEYS[2], i, i, 'WITHSCORES')
            if #entry == 0 then return 0 end
            return math.max(0, tonumber(entry[2]) + 60000 - now)
        end
        return {bucket_ok and 1 or 0, window_ok and 1 or 0, tostring(tokens), window,
                leaves(window - 1), leaves(window - per_minute)}
        ",
    )
});

/// One request taken from `name`'s bucket and window in Redis, by the server's clock.
async fn check_in_redis(
    redis: &Redis,
    name: &str,
    bucket: Bucket,
    per_minute: Option<usize>,
) -> Result<Reading, redis::RedisError> {
    let key = format!("agentwatch:rate:{name}");
    let (bucket_ok, window_ok, tokens, window, newest, blocking): (
        u8,
        u8,
        String,
        usize,
        u64,
        u64,
    ) = CHECK
        .key(&key)
        .key(format!("{key}:window"))
        .arg(bucket.burst)
        .arg(bucket.refill_per_sec)
        .arg(per_minute.unwrap_or(0))
        .arg(unique_name())
        .invoke_async(&mut redis.connection())
        .await?;
    Ok(Reading {
        bucket_ok: bucket_ok == 1,
        window_ok: window_ok == 1,
        tokens: tokens.parse().unwrap_or(0.0),
        window,
        newest_leaves: Duration::from_millis(newest),
        blocking_leaves: Duration::from_millis(blocking),
    })
}

/// One request taken from `name`'s bucket and window in the database, by its clock: the same
/// arithmetic as in process, on the row, under the name's lock.
async fn check_in_database(
    db: &Database,
    name: &str,
    bucket: Bucket,
    per_minute: Option<usize>,
) -> Result<Reading, sqlx::Error> {
    let (mut tx, now) = db.locked(&[name]).await?;
    let row =
        sqlx::query("SELECT tokens, updated_at, \"window\" FROM shared_rates WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let mut state = row.as_ref().map_or_else(|| State::full(bucket, now), State::from_row);
    let reading = state.take(bucket, per_minute, now);
    let sql = "INSERT INTO shared_rates (name, tokens, updated_at, \"window\") \
               VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
               tokens = excluded.tokens, updated_at = excluded.updated_at, \
               \"window\" = excluded.\"window\"";
    state.write(sql, name.to_owned(), &mut tx).await?;
    tx.commit().await?;
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Bucket = Bucket { burst: 3.0, refill_per_sec: 1.0 };
    const T0: i64 = 1_764_000_000_000;

    /// A request at `now` (Unix ms), as [`RateLimiter::check`] decides it in process.
    fn check(
        limiter: &RateLimiter,
        id: i64,
        bucket: Bucket,
        per_minute: Option<usize>,
        now: i64,
    ) -> Decision {
        decide(bucket, per_minute, limiter.check_at(id, bucket, per_minute, now))
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::default();
        let decisions: Vec<Decision> =
            (0..4).map(|_| check(&limiter, 1, BUCKET, None, T0)).collect();
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 3);
        assert_eq!((decisions[2].remaining, decisions[3].retry_after), (0, 1));
        assert_eq!(decisions[0].limit, 3);
        // One second later, one token is back.
        assert!(check(&limiter, 1, BUCKET, None, T0 + 1000).allowed);
        assert!(!check(&limiter, 1, BUCKET, None, T0 + 1000).allowed);
        // A clock that goes back refills nothing.
        assert!(!check(&limiter, 1, BUCKET, None, T0).allowed);
        // Tenants do not share a bucket.
        assert!(check(&limiter, 2, BUCKET, None, T0).allowed);
    }

    #[test]
    fn a_per_minute_limit_slides_and_speaks_when_it_is_tighter() {
        let limiter = RateLimiter::default();
        let big = Bucket { burst: 1000.0, refill_per_sec: 100.0 };
        let first = check(&limiter, 1, big, Some(2), T0);
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(check(&limiter, 1, big, Some(2), T0 + 10_000).allowed);
        let refused = check(&limiter, 1, big, Some(2), T0 + 20_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 40, "the first request leaves the window at 60 s");
        assert!(check(&limiter, 1, big, Some(2), T0 + 60_000).allowed);
    }
}
