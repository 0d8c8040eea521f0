//! What watching costs and how fresh it keeps the index:
//!
//!     cargo run --release -p indexer --example bench_watch -- <source tree> <file to edit> [edits] [idle files]
//!
//! 1. Edit to hit: the tree is copied twice, as a git work tree and as a plain folder, each
//!    indexed (no embedding model) and watched. Then, `edits` times (default 30), a new function
//!    is appended to `<file to edit>` and the clock runs until a lexical search finds it, not
//!    stale: p50, p95 and the worst, per copy.
//! 2. Idle: a generated tree of `idle files` Python files (default 100,000, 25 per folder) is
//!    indexed, then watched: the time to set up the watches and the first pass, the memory the
//!    watches take, and the CPU the process spends over 30 idle seconds without and with them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use indexer::{Indexer, IndexerConfig, Mode, SearchQuery, Source, WatchOptions, finished};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_watch <source tree> <file to edit> [edits] [idle files]";
    let tree = PathBuf::from(args.next().expect(usage));
    let file = args.next().expect(usage);
    let edits: usize = args.next().map_or(30, |n| n.parse().expect(usage));
    let idle_files: usize = args.next().map_or(100_000, |n| n.parse().expect(usage));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for git in [true, false] {
            edit_to_hit(&tree, &file, edits, git).await;
        }
        idle(idle_files).await;
    });
}

async fn open(data: &Path) -> Arc<Indexer> {
    let storage = storage::Storage::open(&data.join("agentwatch.db")).await.unwrap();
    Indexer::open(IndexerConfig::in_data_dir(data, storage)).await.unwrap()
}

/// Indexes `dir`, starts watching, and waits for the watcher's first pass to end.
async fn indexed_and_watched(indexer: &Arc<Indexer>, dir: &Path) -> String {
    let source = Source::parse(dir.to_str().unwrap()).unwrap();
    let status = finished(indexer.submit(source, None, None).await.unwrap()).await;
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
    let id = status.repo.id;
    let before = indexer.store().generation(&id).await.unwrap().unwrap();
    // Detached: it watches until the process ends.
    drop(indexer.keep_watching(WatchOptions::default()));
    settle(indexer, &id, before).await;
    id
}

/// Waits until a pass after generation `before` has ended.
async fn settle(indexer: &Indexer, id: &str, before: i64) {
    loop {
        let now = indexer.store().generation(id).await.unwrap().unwrap();
        if now > before && indexer.running(id).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn edit_to_hit(tree: &Path, file: &str, edits: usize, git: bool) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("tree");
    copy(tree, &dir);
    if git {
        let run = |args: &[&str]| {
            let out = Command::new("git").args(args).current_dir(&dir).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["init", "-q"]);
        run(&["add", "-A"]);
        run(&["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-qm", "tree"]);
    }
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let indexer = open(&data).await;
    let id = indexed_and_watched(&indexer, &dir).await;
    let repo = indexer.find(&id).await.unwrap();

    let path = dir.join(file);
    let original = std::fs::read_to_string(&path).unwrap();
    let mut latencies = Vec::new();
    for n in 0..edits {
        let name = format!("watchprobe{n}zz");
        let edited = format!("{original}\npub fn {name}() -> usize {{ {n} }}\n");
        let query = SearchQuery {
            text: name.clone(),
            mode: Mode::Lexical,
            repos: vec![id.clone()],
            language: None,
            path_glob: None,
            kind: None,
            limit: 3,
            offset: 0,
        };
        let started = Instant::now();
        std::fs::write(&path, edited).unwrap();
        loop {
            let hits = indexer.search(&query).await.unwrap();
            if hits.iter().any(|h| h.symbol.as_deref() == Some(name.as_str()) && !h.stale) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{name} never found");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed());
        // Each edit its own batch: the job ends, then the folder is quiet past the window.
        while indexer.running(&id).is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "edit to hit, {:<15} {} files, {} lines: p50 {} ms, p95 {} ms, worst {} ms ({edits} edits)",
        if git { "git work tree" } else { "plain folder" },
        repo.stats.files,
        repo.stats.lines,
        at(0.5).as_millis(),
        at(0.95).as_millis(),
        latencies.last().unwrap().as_millis()
    );
}

async fn idle(files: usize) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("tree");
    let per_folder = 25;
    for n in 0..files {
        let folder =
            dir.join(format!("pkg{:03}/mod{:03}", n / per_folder / 100, n / per_folder % 100));
        if n % per_folder == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let text = format!("def f{n}(x):\n    \"\"\"Step {n}.\"\"\"\n    return x + {n}\n");
        std::fs::write(folder.join(format!("m{n}.py")), text).unwrap();
    }
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let indexer = open(&data).await;
    let source = Source::parse(dir.to_str().unwrap()).unwrap();
    let started = Instant::now();
    let status = finished(indexer.submit(source, None, None).await.unwrap()).await;
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
    let stats = &status.repo.stats;
    println!(
        "idle tree           {} files indexed ({} lines, {} symbols, {} chunks) in {:.1} s",
        stats.files,
        stats.lines,
        stats.symbols,
        stats.chunks,
        started.elapsed().as_secs_f64()
    );
    let id = status.repo.id;

    let (cpu_before, rss_before) = (cpu(), rss_kib());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (cpu_unwatched, rss_unwatched) = (cpu() - cpu_before, rss_kib());

    let generation = indexer.store().generation(&id).await.unwrap().unwrap();
    let started = Instant::now();
    drop(indexer.keep_watching(WatchOptions::default()));
    settle(&indexer, &id, generation).await;
    let set_up = started.elapsed();
    let rss_watched = rss_kib();
    let cpu_before = cpu();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let cpu_watched = cpu() - cpu_before;
    println!(
        "watch set-up        {} folders, first pass (every file read) done in {:.1} s",
        files / per_folder + files / per_folder / 100 + 1,
        set_up.as_secs_f64()
    );
    println!(
        "idle CPU over 30 s  {:.0} ms unwatched, {:.0} ms watched",
        cpu_unwatched * 1000.0,
        cpu_watched * 1000.0
    );
    println!(
        "RSS                 {} MiB unwatched (was {} MiB), {} MiB watched and caught up",
        rss_unwatched / 1024,
        rss_before / 1024,
        rss_watched / 1024
    );
    println!("peak RSS            {} MiB", common::peak_rss_kib() / 1024);
}

/// User and system CPU seconds this process has spent.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy(&entry.path(), &to.join(entry.file_name()));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
