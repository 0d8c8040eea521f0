//! Search quality on CoSQA (real web queries, human labels; `../shared/data/cosqa`): the corpus is
//! written out one function per file, indexed through the real pipeline, and each query's rank of
//! its one correct function gives MRR@10 and Recall@1/5/10. The floor catches regressions.
//!
//!     cargo test -p indexer --test it quality -- --nocapture     # prints the table

use std::collections::HashMap;
use std::path::PathBuf;

use indexer::{Mode, SearchQuery};

use crate::support::{TestIndexer, local};

/// Lexical search (BM25, identifiers split) measured 0.340; the floor leaves a small margin.
const LEXICAL_MRR_FLOOR: f64 = 0.32;

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
async fn lexical_search_on_cosqa_stays_above_its_floor() {
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
    let t = TestIndexer::new().await;
    let status = t.index(local(repo.path()), None).await;
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);

    let mut metrics = Metrics::default();
    for q in &queries {
        let gold = format!("f{}.py", q["retrieval_idx"].as_u64().unwrap());
        let query = SearchQuery {
            text: q["doc"].as_str().unwrap().to_owned(),
            mode: Mode::Lexical,
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
    let n = queries.len() as f64;
    metrics.mrr10 /= n;
    metrics.recall.iter_mut().for_each(|r| *r /= n);
    println!(
        "CoSQA dev ({} queries, {} functions)\nmode     MRR@10  R@1    R@5    R@10\nlexical  {:.3}   {:.3}  {:.3}  {:.3}",
        queries.len(),
        corpus.len(),
        metrics.mrr10,
        metrics.recall[0],
        metrics.recall[1],
        metrics.recall[2]
    );
    assert!(
        metrics.mrr10 >= LEXICAL_MRR_FLOOR,
        "lexical MRR@10 fell to {:.3} (floor {LEXICAL_MRR_FLOOR})",
        metrics.mrr10
    );
}
