//! An open-loop HTTP load generator for the gateway benchmark (`scripts/bench-gateway.sh`).
//!
//! At a fixed rate, requests are sent on schedule whether or not earlier ones have finished (each
//! in its own task), so a slow target shows up in the tail instead of slowing the load (no
//! coordinated omission); each latency runs from its request's send to its last byte. With `--concurrency`, that many
//! connections send back to back, to find the maximum throughput.
//!
//! ```text
//! loadgen --url URL [--key KEY] [--body JSON] (--rate R | --concurrency C) [--seconds S] [--warmup S]
//! ```
//!
//! Prints one JSON line: requests, errors, achieved rate, and latency percentiles in ms.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    key: Option<String>,
    body: String,
    rate: Option<f64>,
    concurrency: Option<usize>,
    seconds: f64,
    warmup: f64,
}

fn args() -> Args {
    let mut args = Args {
        url: String::new(),
        key: None,
        body: r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}"#.to_owned(),
        rate: None,
        concurrency: None,
        seconds: 10.0,
        warmup: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value,
            "--key" => args.key = Some(value),
            "--body" => args.body = value,
            "--rate" => args.rate = Some(value.parse().expect("--rate: requests per second")),
            "--concurrency" => {
                args.concurrency = Some(value.parse().expect("--concurrency: connections"));
            }
            "--seconds" => args.seconds = value.parse().expect("--seconds: a duration"),
            "--warmup" => args.warmup = value.parse().expect("--warmup: a duration"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!args.url.is_empty(), "--url is required");
    assert!(args.rate.is_some() != args.concurrency.is_some(), "give --rate or --concurrency");
    args
}

/// Latencies of the measured period (after the warm-up), in microseconds, and errors.
#[derive(Default)]
struct Samples {
    latencies: Vec<u64>,
    errors: u64,
}

async fn one(client: &reqwest::Client, args: &Args) -> bool {
    let mut request =
        client.post(&args.url).header("content-type", "application/json").body(args.body.clone());
    if let Some(key) = &args.key {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            response.bytes().await.is_ok() && ok
        }
        Err(_) => false,
    }
}

fn main() {
    let args = Arc::new(args());
    // One thread: the load generator shares the machine with what it measures.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let samples = Arc::new(Mutex::new(Samples::default()));
    gateway::install_tls();
    // A request not answered in 10 s is an error, so an overloaded target ends the run.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .build()
        .unwrap();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.seconds);

    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(rate) = args.rate {
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut due = start;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                let (client, args, samples) =
                    (client.clone(), Arc::clone(&args), Arc::clone(&samples));
                let scheduled = due;
                tasks.spawn(async move {
                    // Timed from the send, not from the tick: tokio's timer fires up to 1 ms
                    // late, which would add the same noise to every target.
                    let sent = Instant::now();
                    let ok = one(&client, &args).await;
                    if scheduled >= measure_from {
                        let mut s = samples.lock().unwrap();
                        if ok {
                            s.latencies.push(sent.elapsed().as_micros() as u64);
                        } else {
                            s.errors += 1;
                        }
                    }
                });
                due += period;
                while tasks.try_join_next().is_some() {}
            }
        } else {
            for _ in 0..args.concurrency.unwrap_or(1) {
                let (client, args, samples) =
                    (client.clone(), Arc::clone(&args), Arc::clone(&samples));
                tasks.spawn(async move {
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let ok = one(&client, &args).await;
                        if sent >= measure_from {
                            let mut s = samples.lock().unwrap();
                            if ok {
                                s.latencies.push(sent.elapsed().as_micros() as u64);
                            } else {
                                s.errors += 1;
                            }
                        }
                    }
                });
            }
        }
        while tasks.join_next().await.is_some() {}
    });

    let mut s = samples.lock().unwrap();
    s.latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if s.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((s.latencies.len() as f64 * p).ceil() as usize).clamp(1, s.latencies.len()) - 1;
        s.latencies[i] as f64 / 1000.0
    };
    println!(
        "{{\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        s.latencies.len(),
        s.errors,
        s.latencies.len() as f64 / args.seconds,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
}
