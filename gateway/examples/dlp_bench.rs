//! DLP throughput and the latency it adds to a request: scans a 4 KB and a 100 KB prompt made of
//! this repository's prose and code (with two planted secrets), many times, and prints the median
//! scan time and MB/s.
//!
//! `cargo run --release -p gateway --example dlp_bench`

use std::time::{Duration, Instant};

use gateway::dlp::scanner;

fn prompt(size: usize) -> String {
    let corpus = [
        include_str!("../../ARCHITECTURE.md"),
        include_str!("../src/proxy.rs"),
        include_str!("../../README.md"),
        include_str!("../src/dialect/google.rs"),
    ]
    .concat();
    let mut text = String::from(
        "Please review this. Our key is AKIAZ7QW3ERT5YUI2OPL and the on-call is ada@lovelace.dev.\n",
    );
    while text.len() < size {
        text.push_str(&corpus);
    }
    let mut cut = size;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[allow(clippy::print_stdout)]
fn main() {
    let scanner = scanner();
    println!("| prompt | detections | median scan | p99 scan | throughput |");
    println!("|---|---|---|---|---|");
    for (label, size, runs) in
        [("4 KB", 4 * 1024, 2000), ("100 KB", 100 * 1024, 200), ("1 MB", 1 << 20, 20)]
    {
        let text = prompt(size);
        let found = scanner.scan(&text).len();
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            std::hint::black_box(scanner.scan(std::hint::black_box(&text)));
            times.push(start.elapsed());
        }
        times.sort();
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        let p50 = median(times);
        let mb_s = text.len() as f64 / p50.as_secs_f64() / 1e6;
        println!(
            "| {label} | {found} | {:.3} ms | {:.3} ms | {mb_s:.0} MB/s |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
