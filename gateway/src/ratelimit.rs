//! Per-tenant rate limits, as the contract describes them: a bucket of tokens — 1,000 by default,
//! refilled at 100 per second, each request taking one — and, for a tenant with a `rate_limit`,
//! a sliding one-minute window of at most that many requests. Every answer to a tenant carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the
//! limit is whole again) for whichever of the two is tighter; a refused request gets 429 with
//! `Retry-After`.
//!
//! The state is in process, saved to the database at shutdown and read back at start, so a
//! restart neither forgets the window nor hands out a fresh bucket. Several gateway replicas
//! would keep it in Redis instead (ARCHITECTURE.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use sqlx::Row;

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
    pub fn refusal(&self) -> crate::error::ApiError {
        crate::error::ApiError::rate_limited(
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

#[derive(Debug, Default)]
pub struct RateLimiter {
    tenants: Mutex<HashMap<i64, State>>,
}

impl RateLimiter {
    /// Takes one request from `tenant`'s limits, if both allow it.
    pub fn check(&self, tenant: i64, bucket: Bucket, per_minute: Option<i64>) -> Decision {
        self.check_at(tenant, bucket, per_minute, Instant::now())
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
        let allowed = bucket_ok && window_ok;
        if allowed {
            state.tokens -= 1.0;
            if per_minute.is_some() {
                state.window.push_back(now);
            }
        }

        let refill = bucket.refill_per_sec.max(f64::MIN_POSITIVE);
        let by_bucket = Decision {
            allowed,
            limit: bucket.burst as u64,
            remaining: state.tokens.floor().max(0.0) as u64,
            reset: ((bucket.burst - state.tokens) / refill).ceil().max(0.0) as u64,
            retry_after: ((1.0 - state.tokens) / refill).ceil().max(0.0) as u64,
        };
        let Some(per_minute) = per_minute else { return by_bucket };
        let oldest_leaves = |i: usize| {
            state.window.get(i).map_or(0, |t| {
                WINDOW.saturating_sub(now.saturating_duration_since(*t)).as_secs_f64().ceil() as u64
            })
        };
        let by_window = Decision {
            allowed,
            limit: per_minute as u64,
            remaining: per_minute.saturating_sub(state.window.len()) as u64,
            reset: oldest_leaves(state.window.len().saturating_sub(1)),
            // When the window holds more than the limit (it was lowered), the one to wait for is
            // the one that brings it under.
            retry_after: oldest_leaves(state.window.len().saturating_sub(per_minute)),
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

    /// Saves every tenant's state (wall-clock times) for the next start.
    pub async fn save(&self, store: &Store) -> Result<(), StoreError> {
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
                "INSERT INTO rate_limits (tenant_id, tokens, updated_at, window) VALUES (?, ?, ?, ?)",
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
        let rows = sqlx::query("SELECT tenant_id, tokens, updated_at, window FROM rate_limits")
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
        Ok(RateLimiter { tenants: Mutex::new(tenants) })
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
