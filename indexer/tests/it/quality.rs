//! Search quality on CoSQA (real web queries, human labels; `../shared/data/cosqa`): the corpus is
//! written out one function per file, indexed through the real pipeline, and each query's rank of
//! its one correct function gives MRR@10 and Recall@1/5/10. The floor catches regressions.
//!
//!     cargo test -p indexer --test it quality -- --nocapture     # prints the table

use std::collections::HashMap;
use std::path::PathBuf;

use indexer::{Mode, SearchQuery};

use crate::support::{TestIndexer, local};

/// Each mode's MRR@10 floor, a small margin under what it measured.
const FLOORS: [(Mode, f64); 3] =
    [(Mode::Lexical, 0.32), (Mode::Semantic, 0.49), (Mode::Hybrid, 0.48)];

fn dataset() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cosqa");
    assert!(
        dir.is_dir(),
        "the CoSQA dev set belongs at {} (shared/ beside the clone)",
        dir.display()
    );
    dir
}

#[derive(Debug, Default)]
struct Metrics {
    mrr10: f64,
    recall: [f64; 3], // @1, @5, @10
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier (embeds the CoSQA dev set): scripts/test.sh runs it"]
async fn search_quality_on_cosqa_stays_above_its_floors() {
    let data = dataset();
    let corpus: HashMap<String, usize> =
        serde_json::from_str(&std::fs::read_to_string(data.join("code_idx_map.txt")).unwrap())
            .unwrap();
    let queries: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(data.join("cosqa-retrieval-dev-500.json")).unwrap(),
    )
    .unwrap();

    let repo = tempfile::tempdir().unwrap();
    for (code, index) in &corpus {
        std::fs::write(repo.path().join(format!("f{index}.py")), code).unwrap();
    }
    let t = TestIndexer::with_embedder().await;
    let started = std::time::Instant::now();
    let status = t.index(local(repo.path()), None).await;
    println!("indexed {} chunks in {:?}", status.repo.stats.chunks, started.elapsed());
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
    assert_eq!(status.repo.stats.embedded, status.repo.stats.chunks);

    println!(
        "CoSQA dev ({} queries, {} functions)\nmode      MRR@10  R@1    R@5    R@10",
        queries.len(),
        corpus.len()
    );
    let mut failures = Vec::new();
    for (mode, floor) in FLOORS {
        let started = std::time::Instant::now();
        let mut metrics = Metrics::default();
        for q in &queries {
            let gold = format!("f{}.py", q["retrieval_idx"].as_u64().unwrap());
            let query = SearchQuery {
                text: q["doc"].as_str().unwrap().to_owned(),
                mode,
                repos: Vec::new(),
                language: None,
                path_glob: None,
                kind: None,
                limit: 10,
                offset: 0,
            };
            let hits = t.indexer.search(&query).await.unwrap();
            let mut files: Vec<&str> = Vec::new();
            for hit in &hits {
                if !files.contains(&hit.path.as_str()) {
                    files.push(&hit.path);
                }
            }
            if let Some(rank) = files.iter().position(|f| *f == gold).map(|p| p + 1) {
                metrics.mrr10 += 1.0 / rank as f64;
                for (slot, k) in [1, 5, 10].into_iter().enumerate() {
                    if rank <= k {
                        metrics.recall[slot] += 1.0;
                    }
                }
            }
        }
        println!("{} queries in {:?}", mode.as_str(), started.elapsed());
        let n = queries.len() as f64;
        metrics.mrr10 /= n;
        metrics.recall.iter_mut().for_each(|r| *r /= n);
        println!(
            "{:<9} {:.3}   {:.3}  {:.3}  {:.3}",
            mode.as_str(),
            metrics.mrr10,
            metrics.recall[0],
            metrics.recall[1],
            metrics.recall[2]
        );
        if metrics.mrr10 < floor {
            failures.push(format!(
                "{} MRR@10 fell to {:.3} (floor {floor})",
                mode.as_str(),
                metrics.mrr10
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
}
