//! What storing usage costs: the gateway's writer stores a batch of records every 200 ms, which
//! at 1,000 requests/s is 200 records. This writes such batches into a fresh store, one after
//! another as the gateway does, and prints the time a batch takes (p50, p90, max) and the CPU
//! time the process spent per record; a batch's time is the time it holds a core that requests
//! could have used.
//!
//! `cargo run --release -p gateway --example usage_bench [batches=500] [records=200]`
//!
//! With `AGENTWATCH_TEST_DATABASE=postgres`, the store is a fresh database on a Postgres server the
//! example starts (`storage::testing`); the CPU time is then this process's alone, not the
//! server's.

use std::time::{Duration, Instant};

use gateway::secrets::MasterKey;
use gateway::store::{Store, UsageRecord};

/// A record like the ones a chat completion leaves.
fn record(n: usize) -> UsageRecord {
    UsageRecord {
        request_id: format!("chatcmpl-{n:024x}"),
        org_id: 1,
        tenant_id: Some(1 + (n % 3) as i64),
        team_id: Some(1),
        endpoint: "chat.completions",
        provider_id: Some(1),
        provider: Some("mock".into()),
        model: "gpt-4o-mini".into(),
        prompt_tokens: 12 + (n % 50) as u64,
        completion_tokens: 20,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        tokens_source: "provider",
        cost_usd: 0.000_032,
        latency_ms: 1,
        ttft_ms: None,
        status: 200,
        error: None,
        streamed: n.is_multiple_of(4),
        attempts: 1,
        dlp_events: 0,
        dlp: None,
        tool: None,
        result_bytes: None,
        reservation: None,
        trace: Default::default(),
        created_at_ms: 1_764_530_000_000 + n as i64,
    }
}

/// User and system CPU time of this process, from `/proc/self/stat` (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
    // The kernel reports in clock ticks, 100 a second on every Linux build we run on.
    Some(Duration::from_millis(ticks * 10))
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let batches = args.next().unwrap_or(500);
    let size = args.next().unwrap_or(200);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = MasterKey::from_hex(&"11".repeat(32)).expect("a valid key");
    let storage = storage::testing::open(dir.path()).await;
    let store = Store::new(&storage, key);

    let all: Vec<Vec<UsageRecord>> =
        (0..batches).map(|b| (0..size).map(|i| record(b * size + i)).collect()).collect();
    let mut times = Vec::with_capacity(batches);
    let cpu_before = cpu_time();
    for batch in &all {
        let started = Instant::now();
        store.insert_usage(batch).await.expect("the batch is stored");
        times.push(started.elapsed());
    }
    let cpu = cpu_time().zip(cpu_before).map(|(after, before)| after - before);
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!("{batches} batches of {size} records");
    println!("  time a batch:  p50 {:.2?}  p90 {:.2?}  max {:.2?}", at(0.5), at(0.9), at(1.0));
    if let Some(cpu) = cpu {
        let per_record = cpu.as_secs_f64() * 1e6 / (batches * size) as f64;
        println!("  CPU a record:  {per_record:.1} µs");
    }
}
