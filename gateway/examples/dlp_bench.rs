//! DLP throughput and the latency it adds to a request: scans a 4 KB and a 100 KB prompt made of
//! this repository's prose and code (with two planted secrets), many times, and prints the median
//! scan time and MB/s. Then the worst case a tenant could send: 1 MB of nothing but numbers
//! written like phone numbers (every one a candidate the phone detector must judge).
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
    let numbers = || {
        let mut text = String::new();
        let mut n: u64 = 4_155_550_100;
        while text.len() < 1 << 20 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) % 10_000_000_000;
            let d = format!("{n:010}");
            // Half written for home, half with a country code.
            let home = if n.is_multiple_of(2) { "0" } else { "+44 " };
            text += &format!("{home}{} {} {}, ", &d[1..4], &d[4..7], &d[7..]);
        }
        text
    };
    let cases = [
        ("4 KB", prompt(4 * 1024), 2000),
        ("100 KB", prompt(100 * 1024), 200),
        ("1 MB", prompt(1 << 20), 20),
        ("1 MB of numbers", numbers(), 5),
    ];
    for (label, text, runs) in cases {
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
