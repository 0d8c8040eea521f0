//! Per-tenant rate limits, as the contract describes them: a bucket of tokens — 1,000 by default,
//! refilled at 100 per second, each request taking one — and, for a tenant with a `rate_limit`,
//! a sliding one-minute window of at most that many requests. Every answer to a tenant carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the
//! limit is whole again) for whichever of the two is tighter; a refused request gets 429 with
//! `Retry-After`.
//!
//! The state is in process, saved to the database at shutdown and read back at start, so a
//! restart neither forgets the window nor hands out a fresh bucket; or, with `storage.redis_url`
//! set, in Redis, where one Lua script takes the request from the bucket and the window
//! atomically, so replicas together admit exactly the configured rate.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use sqlx::Row;
use storage::Redis;

use crate::error::ApiError;
use crate::store::{Store, StoreError, now_ms};

const WINDOW: Duration = Duration::from_secs(60);

/// A token bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub burst: f64,
    pub refill_per_sec: f64,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    updated: Instant,
    window: VecDeque<Instant>,
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

#[derive(Debug, Default)]
pub struct RateLimiter {
    tenants: Mutex<HashMap<i64, State>>,
    shared: Option<Shared>,
}

/// Limits kept in Redis.
#[derive(Debug)]
struct Shared {
    redis: Redis,
    /// Whose limits these are in Redis's key space: `tenant` or `person`.
    namespace: &'static str,
}

impl RateLimiter {
    /// Limits kept in Redis, under `namespace` (whose ids these are).
    pub fn shared(redis: &Redis, namespace: &'static str) -> RateLimiter {
        let shared = Shared { redis: redis.clone(), namespace };
        RateLimiter { tenants: Mutex::default(), shared: Some(shared) }
    }

    /// Takes one request from `id`'s limits, if both allow it. `Err` only when the limits live
    /// in Redis and it does not answer: a 503, never an admission.
    pub async fn check(
        &self,
        id: i64,
        bucket: Bucket,
        per_minute: Option<i64>,
    ) -> Result<Decision, ApiError> {
        match &self.shared {
            Some(shared) => shared.check(id, bucket, per_minute).await,
            None => Ok(self.check_at(id, bucket, per_minute, Instant::now())),
        }
    }

    fn check_at(
        &self,
        tenant: i64,
        bucket: Bucket,
        per_minute: Option<i64>,
        now: Instant,
    ) -> Decision {
        let mut tenants = self.tenants.lock().expect("rate limit lock");
        let state = tenants.entry(tenant).or_insert_with(|| State {
            tokens: bucket.burst,
            updated: now,
            window: VecDeque::new(),
        });
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * bucket.refill_per_sec).min(bucket.burst);
        state.updated = now;
        while state.window.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
            state.window.pop_front();
        }
        let per_minute = per_minute.map(|r| r.max(1) as usize);
        let bucket_ok = state.tokens >= 1.0;
        let window_ok = per_minute.is_none_or(|r| state.window.len() < r);
        if bucket_ok && window_ok {
            state.tokens -= 1.0;
            if per_minute.is_some() {
                state.window.push_back(now);
            }
        }
        let leaves = |i: usize| {
            state.window.get(i).map_or(Duration::ZERO, |t| {
                WINDOW.saturating_sub(now.saturating_duration_since(*t))
            })
        };
        let window = state.window.len();
        let reading = Reading {
            bucket_ok,
            window_ok,
            tokens: state.tokens,
            window,
            newest_leaves: leaves(window.saturating_sub(1)),
            blocking_leaves: leaves(window.saturating_sub(per_minute.unwrap_or(0))),
        };
        decide(bucket, per_minute, reading)
    }

    /// Saves every tenant's state (wall-clock times) for the next start; limits in Redis stay
    /// there.
    pub async fn save(&self, store: &Store) -> Result<(), StoreError> {
        if self.shared.is_some() {
            return Ok(());
        }
        let now = Instant::now();
        let wall = now_ms();
        let ms_ago = |t: Instant| wall - now.saturating_duration_since(t).as_millis() as i64;
        let rows: Vec<(i64, f64, i64, String)> = {
            let tenants = self.tenants.lock().expect("rate limit lock");
            tenants
                .iter()
                .map(|(id, s)| {
                    let window: Vec<i64> = s.window.iter().map(|t| ms_ago(*t)).collect();
                    (
                        *id,
                        s.tokens,
                        ms_ago(s.updated),
                        serde_json::to_string(&window).expect("numbers"),
                    )
                })
                .collect()
        };
        let mut tx = store.pool().begin().await?;
        sqlx::query("DELETE FROM rate_limits").execute(&mut *tx).await?;
        for (tenant, tokens, updated, window) in rows {
            sqlx::query(
                "INSERT INTO rate_limits (tenant_id, tokens, updated_at, \"window\") VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant)
            .bind(tokens)
            .bind(updated)
            .bind(window)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The state saved at the last shutdown.
    pub async fn load(store: &Store) -> Result<RateLimiter, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, tokens, updated_at, \"window\" FROM rate_limits")
            .fetch_all(store.pool())
            .await?;
        let now = Instant::now();
        let wall = now_ms();
        let at = |ms: i64| {
            now.checked_sub(Duration::from_millis((wall - ms).max(0) as u64)).unwrap_or(now)
        };
        let mut tenants = HashMap::new();
        for row in rows {
            let window: Vec<i64> = serde_json::from_str(row.get("window")).unwrap_or_default();
            tenants.insert(
                row.get::<i64, _>("tenant_id"),
                State {
                    tokens: row.get("tokens"),
                    updated: at(row.get("updated_at")),
                    window: window.into_iter().map(at).collect(),
                },
            );
        }
        Ok(RateLimiter { tenants: Mutex::new(tenants), shared: None })
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

impl Shared {
    async fn check(
        &self,
        id: i64,
        bucket: Bucket,
        per_minute: Option<i64>,
    ) -> Result<Decision, ApiError> {
        let per_minute = per_minute.map(|r| r.max(1) as usize);
        let key = format!("agentwatch:rate:{}:{id}", self.namespace);
        let entry = self.redis.unique_name();
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
            .arg(entry)
            .invoke_async(&mut self.redis.connection())
            .await
            .map_err(|e| ApiError::counters_unavailable(&self.redis, &e))?;
        let reading = Reading {
            bucket_ok: bucket_ok == 1,
            window_ok: window_ok == 1,
            tokens: tokens.parse().unwrap_or(0.0),
            window,
            newest_leaves: Duration::from_millis(newest),
            blocking_leaves: Duration::from_millis(blocking),
        };
        Ok(decide(bucket, per_minute, reading))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Bucket = Bucket { burst: 3.0, refill_per_sec: 1.0 };

    #[test]
    fn a_bucket_allows_a_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        let decisions: Vec<Decision> =
            (0..4).map(|_| limiter.check_at(1, BUCKET, None, t0)).collect();
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 3);
        assert_eq!((decisions[2].remaining, decisions[3].retry_after), (0, 1));
        assert_eq!(decisions[0].limit, 3);
        // One second later, one token is back.
        let later = limiter.check_at(1, BUCKET, None, t0 + Duration::from_secs(1));
        assert!(later.allowed);
        assert!(!limiter.check_at(1, BUCKET, None, t0 + Duration::from_secs(1)).allowed);
        // Tenants do not share a bucket.
        assert!(limiter.check_at(2, BUCKET, None, t0).allowed);
    }

    #[test]
    fn a_per_minute_limit_slides_and_speaks_when_it_is_tighter() {
        let limiter = RateLimiter::default();
        let big = Bucket { burst: 1000.0, refill_per_sec: 100.0 };
        let t0 = Instant::now();
        let first = limiter.check_at(1, big, Some(2), t0);
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(limiter.check_at(1, big, Some(2), t0 + Duration::from_secs(10)).allowed);
        let refused = limiter.check_at(1, big, Some(2), t0 + Duration::from_secs(20));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 40, "the first request leaves the window at 60 s");
        assert!(limiter.check_at(1, big, Some(2), t0 + Duration::from_secs(60)).allowed);
    }
}
