//! Lexical search over indexed repositories: words find code even when the code spells them as
//! identifiers, filters narrow it, and results follow re-indexing.

use indexer::{Mode, SearchQuery};

use crate::support::{self, GitRepo, TestIndexer, local, top};

fn query(text: &str) -> SearchQuery {
    support::query(text, Mode::Lexical)
}

#[tokio::test]
async fn words_find_identifiers_in_camel_and_snake_case() {
    let t = TestIndexer::new().await;
    let py = GitRepo::from_fixture("python-pkg");
    let ts = GitRepo::from_fixture("ts-app");
    t.index(local(py.path()), None).await;
    t.index(local(ts.path()), None).await;

    let hits = t.indexer.search(&query("price with tax")).await.unwrap();
    assert_eq!(top(&hits)[0], "stockroom/pricing.py:price_with_tax");
    let hits = t.indexer.search(&query("valid title")).await.unwrap();
    assert_eq!(top(&hits)[0], "src/types.ts:Validation.isValidTitle");
    let first = &hits[0];
    assert_eq!(
        (first.start_line, first.end_line, first.kind.as_str(), first.stale),
        (27, 29, "function", false)
    );
    assert!(
        first.snippet.starts_with("  export function isValidTitle(title: string): boolean {"),
        "{}",
        first.snippet
    );
}

#[tokio::test]
async fn filters_narrow_by_repository_language_path_and_kind() {
    let t = TestIndexer::new().await;
    let rust = GitRepo::from_fixture("rust-crate");
    let ts = GitRepo::from_fixture("ts-app");
    let rust_id = t.index(local(rust.path()), None).await.repo.id;
    t.index(local(ts.path()), None).await;

    let everywhere = t.indexer.search(&SearchQuery { limit: 50, ..query("new") }).await.unwrap();
    assert!(
        everywhere.iter().any(|h| h.language == "rust")
            && everywhere.iter().any(|h| h.language != "rust")
    );

    let only_rust = t
        .indexer
        .search(&SearchQuery { repos: vec![rust_id], limit: 50, ..query("new") })
        .await
        .unwrap();
    assert!(!only_rust.is_empty() && only_rust.iter().all(|h| h.language == "rust"));

    let tsx = t
        .indexer
        .search(&SearchQuery { language: Some("tsx".into()), ..query("task") })
        .await
        .unwrap();
    assert!(!tsx.is_empty() && tsx.iter().all(|h| h.path == "src/components/TaskList.tsx"));

    let glob = t
        .indexer
        .search(&SearchQuery { path_glob: Some("src/*.rs".into()), limit: 50, ..query("store") })
        .await
        .unwrap();
    assert!(
        !glob.is_empty()
            && glob.iter().all(|h| h.path.starts_with("src/") && h.path.ends_with(".rs"))
    );

    let methods = t
        .indexer
        .search(&SearchQuery { kind: Some("method".into()), limit: 50, ..query("store") })
        .await
        .unwrap();
    assert!(!methods.is_empty() && methods.iter().all(|h| h.kind == "method"));

    let page = t.indexer.search(&SearchQuery { limit: 2, ..query("store") }).await.unwrap();
    let next =
        t.indexer.search(&SearchQuery { limit: 2, offset: 2, ..query("store") }).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(next.iter().all(|h| !page.contains(h)), "pages do not repeat hits");
}

#[tokio::test]
async fn results_follow_re_indexing_and_flag_changed_files() {
    let t = TestIndexer::new().await;
    let git = GitRepo::from_fixture("python-pkg");
    t.index(local(git.path()), None).await;
    assert!(t.indexer.search(&query("restock threshold")).await.unwrap().is_empty());

    git.write(
        "stockroom/restock.py",
        "def restock_threshold(item):\n    \"\"\"When to order more.\"\"\"\n    return 3\n",
    );
    git.commit("restocking");
    t.index(local(git.path()), None).await;
    let hits = t.indexer.search(&query("restock threshold")).await.unwrap();
    assert_eq!(top(&hits), ["stockroom/restock.py:restock_threshold"]);
    assert!(!hits[0].stale);

    // Changed on disk but not re-indexed: still found, flagged stale.
    git.write("stockroom/restock.py", "def restock_threshold(item):\n    return 5\n");
    let hits = t.indexer.search(&query("restock threshold")).await.unwrap();
    assert!(hits[0].stale);

    // Indexed again: fresh.
    git.commit("restock sooner");
    t.index(local(git.path()), None).await;
    let hits = t.indexer.search(&query("restock threshold")).await.unwrap();
    assert!(!hits[0].stale);

    std::fs::remove_file(git.path().join("stockroom/restock.py")).unwrap();
    git.commit("no restocking");
    t.index(local(git.path()), None).await;
    assert!(t.indexer.search(&query("restock threshold")).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_removed_repository_leaves_the_index() {
    let t = TestIndexer::new().await;
    let git = GitRepo::from_fixture("rust-crate");
    let id = t.index(local(git.path()), None).await.repo.id;
    assert!(!t.indexer.search(&query("memory store")).await.unwrap().is_empty());
    t.indexer.remove(&id).await.unwrap();
    assert!(t.indexer.search(&query("memory store")).await.unwrap().is_empty());
}
