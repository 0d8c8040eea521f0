//! What sharing the counters costs a request (BENCHMARKS.md, "Shared counters"): the three steps
//! a budgeted, rate-limited request takes — a rate-limit check, a budget reservation, its
//! settlement — in process, in a Redis server, and (with `AGENTWATCH_TEST_DATABASE=postgres`,
//! which starts a Postgres of the example's own as the tests do) in Postgres without Redis, one
//! request at a time (latency) and from many tasks at once (throughput).
//!
//! ```text
//! AGENTWATCH_TEST_DATABASE=postgres \
//!   cargo run --release -p gateway --example counters -- redis://127.0.0.1:6379 [requests]
//! ```
//!
//! Prints one line per backend and mode: requests, requests/s, and p50/p99 in µs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::budget::{Budgets, Limits, Period, Scope};
use gateway::counters::Counters;
use gateway::ratelimit::{Bucket, RateLimiter};
use gateway::settings::GatewaySettings;
use gateway::{Gateway, Redis, Storage};

/// Tenants the requests are spread over.
const TENANTS: i64 = 8;
/// Tasks sending at once in the throughput mode.
const TASKS: usize = 64;

struct Steps {
    rates: RateLimiter,
    budgets: Arc<Budgets>,
}

impl Steps {
    /// One request's three steps, as the gateway takes them.
    async fn request(&self, tenant: i64) {
        let bucket = Bucket { burst: 1e12, refill_per_sec: 1e12 };
        let decision = self.rates.check(tenant, bucket, Some(1_000_000_000)).await.unwrap();
        assert!(decision.allowed);
        let limits = Limits {
            limits: vec![
                (Scope::Tenant(tenant), Period::Daily, 1e12),
                (Scope::Tenant(tenant), Period::Monthly, 1e12),
                (Scope::Team(tenant % 2), Period::Monthly, 1e12),
            ],
        };
        let id = self.budgets.reserve(&limits, 0.01).await.unwrap().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.budgets.settle(id, 0.004, move |_| {
            let _ = tx.send(());
        });
        rx.await.unwrap();
    }
}

fn report(backend: &str, mode: &str, requests: usize, took: Duration, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_micros();
    println!(
        "{backend:<10} {mode:<12} {requests:>7} requests  {:>8.0}/s  p50 {:>5} µs  p99 {:>5} µs",
        requests as f64 / took.as_secs_f64(),
        at(0.5),
        at(0.99),
    );
}

async fn measure(backend: &str, counters: Arc<Steps>, requests: usize) {
    // One at a time: each request's own latency.
    let mut latencies = Vec::with_capacity(requests);
    let started = Instant::now();
    for n in 0..requests {
        let sent = Instant::now();
        counters.request(n as i64 % TENANTS).await;
        latencies.push(sent.elapsed());
    }
    report(backend, "sequential", requests, started.elapsed(), &mut latencies);

    // Many at once: what the counters sustain.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let counters = Arc::clone(&counters);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(requests / TASKS);
            for n in 0..requests / TASKS {
                let sent = Instant::now();
                counters.request((task + n) as i64 % TENANTS).await;
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    let mode = format!("{TASKS} at once");
    report(backend, &mode, latencies.len(), started.elapsed(), &mut latencies);
}

/// The three steps, counted in `counters`.
async fn steps(storage: &Storage, dir: &std::path::Path, counters: Counters) -> Arc<Steps> {
    let store = Gateway::open_store(&GatewaySettings::default(), dir, storage).unwrap();
    let hold = Duration::from_secs(660);
    Arc::new(Steps {
        rates: RateLimiter::new(&counters, "bench"),
        budgets: Arc::new(Budgets::load(&store, &counters, hold).await.unwrap()),
    })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: counters REDIS_URL [requests]");
    let requests: usize = args.next().map_or(20_000, |n| n.parse().expect("a number"));
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&dir.path().join("agentwatch.db")).await.unwrap();
    let local = steps(&storage, dir.path(), Counters::InProcess).await;
    measure("in process", local, requests).await;

    let redis = Counters::Redis(Redis::connect(&url).await.unwrap());
    measure("redis", steps(&storage, dir.path(), redis).await, requests).await;

    if storage::testing::backend() == storage::Backend::Postgres {
        let dir = tempfile::tempdir().unwrap();
        let postgres = storage::testing::open(dir.path()).await;
        let counters = Counters::of(&postgres);
        assert!(matches!(counters, Counters::Database(_)));
        measure("postgres", steps(&postgres, dir.path(), counters).await, requests).await;
    }
}
