//! Structural indexing benchmark on a real repository (no clone, no embeddings):
//!
//!     cargo run --release -p indexer --example bench_index -- <checkout> [<file to touch>]
//!
//! Prints, for the in-memory pipeline (walk, read, parse, graph) the best of three runs in
//! files/s, LOC/s and symbols/s; then, through the indexing service with SQLite, a full index, a
//! re-index after appending a function to one file (a git work tree change), a re-index with no
//! change, and a restart's graph load; and the process's peak RSS.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::peak_rss_kib;
use indexer::{IndexOptions, Indexer, IndexerConfig, Source, finished, index_directory};

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().expect("usage: bench_index <checkout> [<file to touch>]"));
    let touch = args.next();
    let threads = rayon::current_num_threads();

    let mut best = Duration::MAX;
    let mut indexed = None;
    for _ in 0..3 {
        let started = Instant::now();
        let run = index_directory(&root, &IndexOptions::default()).expect("index");
        best = best.min(started.elapsed());
        indexed = Some(run);
    }
    let indexed = indexed.unwrap();
    let files = indexed.graph.files.len() as f64;
    let lines = indexed.lines as f64;
    let symbols = indexed.graph.symbol_count() as f64;
    let secs = best.as_secs_f64();
    println!("repository          {}", root.display());
    println!("threads             {threads}");
    println!("files / lines       {} / {}", files, lines);
    println!("symbols / edges     {} / {}", symbols, indexed.graph.edge_count());
    println!("in-memory index     {:.0} ms (best of 3)", secs * 1000.0);
    println!(
        "throughput          {:.0} files/s, {:.0} LOC/s, {:.0} symbols/s",
        files / secs,
        lines / secs,
        symbols / secs
    );
    drop(indexed);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(stored(&root, touch.as_deref()));
    println!("peak RSS            {} MiB", peak_rss_kib() / 1024);
}

async fn stored(root: &Path, touch: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::Storage::open(&data.path().join("agentwatch.db")).await.unwrap();
    let config = IndexerConfig::in_data_dir(data.path(), storage);
    let indexer = Indexer::open(config.clone()).await.unwrap();
    let source = Source::parse(root.to_str().unwrap()).unwrap();
    let timed = |label: &'static str| {
        let indexer = indexer.clone();
        let source = source.clone();
        async move {
            let started = Instant::now();
            let status = finished(indexer.submit(source, None, None).await.unwrap()).await;
            assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
            println!(
                "{label:<19} {:.0} ms ({} files parsed)",
                started.elapsed().as_secs_f64() * 1000.0,
                status.files_parsed
            );
            status
        }
    };
    let full = timed("stored full index").await;
    println!(
        "database size       {:.1} MiB",
        std::fs::metadata(data.path().join("agentwatch.db")).map_or(0, |m| m.len()) as f64
            / 1048576.0
    );

    if let Some(touch) = touch {
        let path = root.join(touch);
        let original = std::fs::read(&path).unwrap();
        let mut changed = original.clone();
        changed.extend_from_slice(
            b"\n/// Added by the benchmark.\npub fn bench_added_function() -> u32 { 42 }\n",
        );
        std::fs::write(&path, &changed).unwrap();
        let after = timed("one-file re-index").await;
        std::fs::write(&path, &original).unwrap();
        assert_eq!(after.files_parsed, 1);
        assert_eq!(after.repo.stats.symbols, full.repo.stats.symbols + 1);
        let reverted = timed("revert re-index").await;
        assert_eq!(
            (reverted.files_parsed, reverted.repo.stats.symbols),
            (1, full.repo.stats.symbols)
        );
    }
    timed("no-change re-index").await;

    let restarted = Indexer::open(config).await.unwrap();
    let started = Instant::now();
    let graph = restarted.graph(&full.repo.id).await.unwrap();
    println!(
        "restart graph load  {:.0} ms ({} symbols)",
        started.elapsed().as_secs_f64() * 1000.0,
        graph.symbol_count()
    );
}
