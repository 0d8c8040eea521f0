//! What retention's rollup, and the dashboard's charts, cost on a large usage table: fills a fresh
//! store with `rows` usage records spread over `days` past days (50 tenants, 6 models, one record
//! in 20 a knowledge tool call, one in 50 an error, one in 4 streamed, one in 100 with a DLP
//! detection), then times the month's totals over the raw rows (the `usage_totals` view every
//! summary, breakdown and budget reads), the admin API's answers the dashboard's overview asks
//! for (from a gateway on the store), the rollup of every one of those days, and the same again
//! over the rolled-up days.
//!
//! `cargo run --release -p gateway --example rollup_bench [rows=1000000] [days=30]`
//!
//! With `AGENTWATCH_TEST_DATABASE=postgres`, on a fresh database of a Postgres server the example
//! starts (`storage::testing`).

use std::time::Instant;

use gateway::retention::DAY_MS;
use gateway::secrets::MasterKey;
use gateway::store::{Store, UsageRecord};

const MODELS: [&str; 6] =
    ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "gemini-2.5-flash", "o3"];

fn record(n: usize, created_at_ms: i64) -> UsageRecord {
    let tool = n.is_multiple_of(20);
    UsageRecord {
        request_id: format!("chatcmpl-{n:024x}"),
        org_id: 1,
        tenant_id: Some(1 + (n % 50) as i64),
        team_id: Some(1 + (n % 5) as i64),
        endpoint: if tool { "mcp" } else { "chat.completions" },
        provider_id: Some(1),
        provider: Some("primary".into()),
        model: if tool { "search_code".into() } else { MODELS[n % MODELS.len()].into() },
        prompt_tokens: 200 + (n % 700) as u64,
        completion_tokens: 40 + (n % 300) as u64,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        tokens_source: "provider",
        cost_usd: 0.000_4,
        latency_ms: 300 + (n % 900) as u64,
        ttft_ms: n.is_multiple_of(4).then_some(100 + (n % 400) as u64),
        status: if n.is_multiple_of(50) { 502 } else { 200 },
        error: None,
        streamed: n.is_multiple_of(4),
        attempts: 1,
        dlp_events: u32::from(n.is_multiple_of(100)),
        dlp: n.is_multiple_of(100).then(|| r#"{"email":{"redact":1}}"#.to_owned()),
        tool: tool.then(|| "search_code".to_owned()),
        result_bytes: None,
        reservation: None,
        trace: Default::default(),
        created_at_ms,
    }
}

async fn totals(store: &storage::Storage, since: i64) -> (i64, f64) {
    sqlx::query_as(
        "SELECT CAST(SUM(requests) AS BIGINT), SUM(cost_usd) FROM usage_totals \
         WHERE org_id = 1 AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(store.pool())
    .await
    .expect("the totals")
}

/// Times each of the dashboard overview's calls, as the page makes them for the whole period.
#[allow(clippy::print_stdout)]
async fn dashboard(url: &str, token: &str, start: &str, end: &str) {
    let period = format!("start_date={start}&end_date={end}");
    for path in [
        "/api/usage/summary",
        "/api/usage/series?bucket=day&split_by=model",
        "/api/usage/series?bucket=hour&split_by=tenant",
        "/api/usage/latency?bucket=day",
        "/api/usage/latency?bucket=hour",
        "/api/usage/dlp",
        "/api/usage/breakdown?group_by=model",
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let started = Instant::now();
        let response = reqwest::Client::new()
            .get(format!("{url}{path}{sep}{period}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("an answer");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        let bytes = response.bytes().await.expect("a body").len();
        let took = started.elapsed().as_secs_f64() * 1e3;
        println!("  GET {path}: {took:.0} ms, {bytes} bytes");
    }
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let rows = args.next().unwrap_or(1_000_000);
    let days = args.next().unwrap_or(30) as i64;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = storage::testing::open(dir.path()).await;
    let store = Store::new(&storage, MasterKey::from_hex(&"11".repeat(32)).expect("a key"));

    let today = chrono::Utc::now().timestamp_millis().div_euclid(DAY_MS) * DAY_MS;
    let first = today - days * DAY_MS;
    let step = (days * DAY_MS) / rows as i64;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(256);
    for n in 0..rows {
        batch.push(record(n, first + n as i64 * step));
        if batch.len() == 256 || n + 1 == rows {
            store.insert_usage(&batch).await.expect("a batch stored");
            batch.clear();
        }
    }
    println!("{rows} records over {days} days stored in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let raw = totals(&storage, first).await;
    println!("totals over raw rows: {:.0} ms {raw:?}", started.elapsed().as_secs_f64() * 1e3);

    // A gateway on the store, its first admin in the records' organization (the first one made).
    let settings = gateway::settings::GatewaySettings {
        admin_email: Some("ops@example.com".into()),
        admin_password: Some(gateway::secrets::Secret::new("a long admin passphrase")),
        ..Default::default()
    };
    let served = gateway::Gateway::open(&settings, dir.path(), &storage).await.expect("a gateway");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let service = served.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    gateway::install_tls();
    let login =
        serde_json::json!({ "email": "ops@example.com", "password": "a long admin passphrase" });
    let session: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/api/auth/login"))
        .json(&login)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("a login")
        .json()
        .await
        .expect("a session");
    let token = session["token"].as_str().expect("a token").to_owned();
    assert_eq!(session["user"]["org"]["id"], 1, "the records' organization");
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).expect("a time").format("%Y-%m-%d").to_string()
    };
    let (start, end) = (day(first), day(today - DAY_MS));
    println!("the dashboard's overview over raw rows, {start} to {end}:");
    dashboard(&url, &token, &start, &end).await;

    let started = Instant::now();
    let rolled = store.roll_up_usage(today).await.expect("the rollup");
    let took = started.elapsed().as_secs_f64();
    println!(
        "rollup: {} rows into {} daily rows in {took:.1} s ({:.0} rows/s, {:.0} ms a day)",
        rolled.rows,
        rolled.days,
        rolled.rows as f64 / took,
        took * 1e3 / days as f64
    );

    let started = Instant::now();
    let daily = totals(&storage, first).await;
    println!("totals over daily rows: {:.1} ms {daily:?}", started.elapsed().as_secs_f64() * 1e3);
    if storage.backend() == storage::Backend::Postgres {
        // What autovacuum does soon after so many deletes: the raw table's dead rows go.
        sqlx::query("VACUUM ANALYZE usage").execute(storage.pool()).await.expect("vacuum");
        let started = Instant::now();
        totals(&storage, first).await;
        let took = started.elapsed().as_secs_f64() * 1e3;
        println!("totals over daily rows, after VACUUM ANALYZE usage: {took:.1} ms");
    }
    println!("the dashboard's overview over daily rows:");
    dashboard(&url, &token, &start, &end).await;
    assert_eq!(raw.0, daily.0, "the rollup kept every request");
    assert!((raw.1 - daily.1).abs() < 1e-6, "and every cent");
}
