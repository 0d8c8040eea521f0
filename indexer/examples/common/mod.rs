//! Measurements the benchmarks share.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexer::{Embedder, EmbedderConfig, Indexer, IndexerConfig, JobState, Source};

/// The process's peak resident set size, in KiB (Linux).
#[allow(dead_code)] // not every benchmark measures memory
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Bytes of every file under `dir`.
#[allow(dead_code)] // not every benchmark measures sizes
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The offline model's files, where `scripts/setup.sh` puts them (or `AGENTWATCH_ASSETS_DIR`).
#[allow(dead_code)] // not every benchmark embeds
pub fn assets() -> EmbedderConfig {
    let dir = std::env::var_os("AGENTWATCH_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/agentwatch/assets")
    });
    EmbedderConfig {
        onnxruntime: dir.join("onnxruntime/libonnxruntime.so"),
        model_dir: dir.join("models/all-MiniLM-L6-v2"),
        threads: None,
    }
}

/// The indexer of a data directory, with this embedder.
#[allow(dead_code)]
pub async fn open(data: &Path, embedder: Arc<Embedder>) -> Arc<Indexer> {
    let storage = storage::Storage::open(&data.join("agentwatch.db")).await.unwrap();
    let config =
        IndexerConfig { embedder: Some(embedder), ..IndexerConfig::in_data_dir(data, storage) };
    Indexer::open(config).await.unwrap()
}

/// Runs a job; returns when parsing ended (the job entered `embedding`), its whole time, and its
/// final status.
#[allow(dead_code)]
pub async fn timed_job(
    indexer: &Arc<Indexer>,
    source: Source,
) -> (Duration, Duration, indexer::JobStatus) {
    let started = Instant::now();
    let mut job = indexer.submit(source, None, None).await.unwrap();
    let mut parsed = None;
    loop {
        let status = job.borrow_and_update().clone();
        if parsed.is_none() && matches!(status.repo.status, JobState::Embedding | JobState::Ready) {
            parsed = Some(started.elapsed());
        }
        if status.repo.status.is_final() {
            assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
            return (parsed.unwrap_or_default(), started.elapsed(), status);
        }
        if job.changed().await.is_err() {
            panic!("the job vanished");
        }
    }
}
