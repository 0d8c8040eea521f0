//! The search table's storage mechanics, below the embedder: vectors merged in by id, the vector
//! index trained once there are enough of them, and exact neighbours still found through it.

use indexer::search::{ChunkRow, Rows, SearchIndex};
use indexer::{Mode, SearchQuery};

/// Deterministic unit vectors (a linear congruential generator), one per row.
fn vectors(n: usize) -> Vec<Vec<f32>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..indexer::embed::DIMENSIONS)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn row(i: usize) -> ChunkRow {
    ChunkRow {
        path: format!("src/f{i}.rs"),
        language: "rust".into(),
        index: 0,
        start_line: 1,
        end_line: 3,
        symbol: Some(format!("f{i}")),
        kind: "function".into(),
        text: format!("src/f{i}.rs · f{i}\nfn f{i}() -> u32 {{ {i} }}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vector_index_is_trained_once_enough_vectors_exist_and_finds_exact_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let index =
        SearchIndex::open(&dir.path().display().to_string(), &indexer::VectorSpace::local())
            .await
            .unwrap()
            .with_vector_index_from(300);
    let n = 400;
    let rows: Vec<ChunkRow> = (0..n).map(row).collect();
    let paths: Vec<String> = rows.iter().map(|r| r.path.clone()).collect();
    index.replace("repo", Some("abc"), &paths, chunks(rows)).await.unwrap();
    assert_eq!(index.count_unembedded("repo").await.unwrap(), n);

    let vectors = vectors(n);
    let ids: Vec<String> = (0..n).map(|i| format!("repo:src/f{i}.rs#0")).collect();
    index.set_vectors(ids[..200].to_vec(), &vectors[..200]).await.unwrap();
    index.optimize().await.unwrap();
    assert_eq!(index.count_unembedded("repo").await.unwrap(), 200);
    assert!(!index.indexed_columns().await.unwrap().contains(&"vector".to_owned()), "too few");

    index.set_vectors(ids[200..].to_vec(), &vectors[200..]).await.unwrap();
    index.optimize().await.unwrap();
    assert_eq!(index.count_unembedded("repo").await.unwrap(), 0);
    let columns = index.indexed_columns().await.unwrap();
    assert!(columns.contains(&"vector".to_owned()) && columns.contains(&"text".to_owned()));

    for probe in [3, 250, 399] {
        let query = SearchQuery {
            text: "anything".into(),
            mode: Mode::Semantic,
            repos: vec!["repo".into()],
            language: None,
            path_glob: None,
            kind: None,
            limit: 3,
            offset: 0,
        };
        let hits = index.search(&query, &[&vectors[probe]]).await.unwrap();
        assert_eq!(hits[0].symbol.as_deref(), Some(format!("f{probe}").as_str()));
        assert!((hits[0].score - 1.0).abs() < 0.02, "{}", hits[0].score);
    }

    // The cache: a row written again with the same text gets its vector back at once.
    let again = vec![row(7)];
    index.replace("repo", Some("def"), &["src/f7.rs".to_owned()], chunks(again)).await.unwrap();
    assert_eq!(index.count_unembedded("repo").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_not_embedded_yet_never_appear_in_semantic_results() {
    let dir = tempfile::tempdir().unwrap();
    let index =
        SearchIndex::open(&dir.path().display().to_string(), &indexer::VectorSpace::local())
            .await
            .unwrap()
            .with_vector_index_from(300);
    let write = async |range: std::ops::Range<usize>| {
        let rows: Vec<ChunkRow> = range.map(row).collect();
        let paths: Vec<String> = rows.iter().map(|r| r.path.clone()).collect();
        index.replace("repo", Some("abc"), &paths, chunks(rows)).await
    };
    let vectors = vectors(420);
    let ids: Vec<String> = (0..420).map(|i| format!("repo:src/f{i}.rs#0")).collect();
    let semantic = |limit| SearchQuery {
        text: "anything".into(),
        mode: Mode::Semantic,
        repos: Vec::new(),
        language: None,
        path_glob: None,
        kind: None,
        limit,
        offset: 0,
    };
    let symbols = |hits: Vec<indexer::Hit>| -> Vec<usize> {
        let mut s: Vec<usize> =
            hits.iter().map(|h| h.symbol.as_deref().unwrap()[1..].parse().unwrap()).collect();
        s.sort();
        s
    };

    // An exact scan over a half-embedded table.
    write(0..400).await.unwrap();
    index.set_vectors(ids[..200].to_vec(), &vectors[..200]).await.unwrap();
    let hits = index.search(&semantic(1000), &[&vectors[0]]).await.unwrap();
    assert_eq!(symbols(hits), (0..200).collect::<Vec<_>>());

    // The vector index, with rows added after it was trained and not embedded yet.
    index.set_vectors(ids[200..400].to_vec(), &vectors[200..400]).await.unwrap();
    index.optimize().await.unwrap();
    assert!(index.indexed_columns().await.unwrap().contains(&"vector".to_owned()));
    write(400..420).await.unwrap();
    let hits = index.search(&semantic(1000), &[&vectors[0]]).await.unwrap();
    assert_eq!(symbols(hits), (0..400).collect::<Vec<_>>());
}

/// Chunks alone, without their files' rows.
fn chunks(chunks: Vec<ChunkRow>) -> Rows {
    Rows { chunks, files: Vec::new() }
}
