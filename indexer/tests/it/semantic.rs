//! Semantic and hybrid search: a job embeds its chunks after parsing, never embeds the same text
//! twice, and questions in words find code by meaning.

use std::time::Duration;

use indexer::{Hit, IndexError, Indexer, JobState, Mode, SearchQuery};

use crate::support::{GitRepo, TestIndexer, local, query, top};

async fn ask(indexer: &Indexer, text: &str, mode: Mode) -> Vec<Hit> {
    indexer.search(&query(text, mode)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_gives_every_chunk_a_vector() {
    let t = TestIndexer::with_embedder().await;
    let rust = GitRepo::from_fixture("rust-crate");
    let status = t.index(local(rust.path()), None).await;

    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let stats = &status.repo.stats;
    assert!(stats.chunks > 5, "{stats:?}");
    assert_eq!(stats.embedded, stats.chunks);
    assert_eq!((status.chunks_embedded, status.chunks_to_embed), (stats.chunks, stats.chunks));
    assert_eq!(status.progress, 100);
    // What `status` shows later is what the job ended with.
    let stored = t.indexer.store().repo(&status.repo.id).await.unwrap().unwrap();
    assert_eq!((stored.stats.chunks, stored.stats.embedded), (stats.chunks, stats.chunks));
}

#[tokio::test(flavor = "multi_thread")]
async fn words_find_code_by_meaning() {
    let t = TestIndexer::with_embedder().await;
    for fixture in ["rust-crate", "python-pkg", "ts-app"] {
        let repo = GitRepo::from_fixture(fixture);
        t.index(local(repo.path()), None).await;
        std::mem::forget(repo.dir); // the checkouts outlive the loop
    }

    // No shared words with the code: only meaning links them.
    let hits = ask(&t.indexer, "memoize a function", Mode::Semantic).await;
    assert_eq!(top(&hits)[0], "stockroom/pricing.py:cached", "{:?}", top(&hits));
    let hits = ask(&t.indexer, "look up the original url of a short code", Mode::Semantic).await;
    assert_eq!(top(&hits)[0], "src/shortener.rs:Shortener::resolve", "{:?}", top(&hits));
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    assert!(hits.iter().all(|h| h.score > 0.0 && h.score <= 1.0), "cosine similarity");

    let hits = ask(&t.indexer, "which goods are past their expiry date", Mode::Semantic).await;
    assert!(
        top(&hits)[..2].iter().any(|h| h.starts_with("stockroom/") && h.contains("xpired")),
        "{:?}",
        top(&hits)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hybrid_fuses_both_rankings_without_overlaps() {
    let t = TestIndexer::with_embedder().await;
    let py = GitRepo::from_fixture("python-pkg");
    t.index(local(py.path()), None).await;

    let question = "price of an item including tax";
    let lexical = t.indexer.search(&query(question, Mode::Lexical)).await.unwrap();
    let semantic = t.indexer.search(&query(question, Mode::Semantic)).await.unwrap();
    let hybrid = t.indexer.search(&query(question, Mode::Hybrid)).await.unwrap();
    assert_eq!(top(&hybrid)[0], "stockroom/pricing.py:price_with_tax", "{:?}", top(&hybrid));

    // Every hybrid hit comes from one of the two lists, and scores are fused ranks.
    for hit in &hybrid {
        assert!(
            lexical
                .iter()
                .chain(&semantic)
                .any(|h| h.path == hit.path && h.start_line == hit.start_line)
        );
        assert!(hit.score > 0.0 && hit.score <= 1.5 / 11.0, "{}", hit.score);
    }
    for (i, a) in hybrid.iter().enumerate() {
        for b in &hybrid[i + 1..] {
            let overlap =
                a.path == b.path && a.start_line <= b.end_line && b.start_line <= a.end_line;
            assert!(!overlap, "{a:?} overlaps {b:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_apply_to_semantic_search() {
    let t = TestIndexer::with_embedder().await;
    let rust = GitRepo::from_fixture("rust-crate");
    let py = GitRepo::from_fixture("python-pkg");
    let rust_id = t.index(local(rust.path()), None).await.repo.id;
    t.index(local(py.path()), None).await;

    let only_rust = SearchQuery {
        repos: vec![rust_id.clone()],
        limit: 50,
        ..query("store a value", Mode::Semantic)
    };
    let hits = t.indexer.search(&only_rust).await.unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.repo_id == rust_id));

    let methods = SearchQuery {
        kind: Some("method".into()),
        path_glob: Some("stockroom/*.py".into()),
        limit: 50,
        ..query("add an item", Mode::Hybrid)
    };
    let hits = t.indexer.search(&methods).await.unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.kind == "method" && h.path.starts_with("stockroom/")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_chunk_is_never_embedded_twice() {
    let t = TestIndexer::with_embedder().await;
    let repo = GitRepo::from_fixture("python-pkg");
    let first = t.index(local(repo.path()), None).await;
    assert!(first.chunks_to_embed > 5);

    // One new function: one new chunk to embed; the file's other chunks keep their vectors.
    let path = repo.path().join("stockroom/pricing.py");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += "\n\ndef discount(item, percent):\n    return item.unit_price * (1 - percent / 100)\n";
    std::fs::write(&path, text).unwrap();
    let second = t.index(local(repo.path()), None).await;
    assert_eq!(second.files_parsed, 1);
    assert_eq!(second.chunks_to_embed, 1, "{:?}", second.repo.stats);
    assert_eq!(second.repo.stats.embedded, second.repo.stats.chunks);

    // Nothing changed: nothing to embed.
    let third = t.index(local(repo.path()), None).await;
    assert_eq!(third.chunks_to_embed, 0);

    // The same code in another repository reuses the vectors too.
    let copy = GitRepo::from_fixture("python-pkg");
    let other = t.index(local(copy.path()), None).await;
    assert_eq!(other.chunks_to_embed, 0, "{:?}", other.repo.stats);
    assert_eq!(other.repo.stats.embedded, first.repo.stats.chunks);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_made_without_the_model_is_embedded_by_the_next_job() {
    let t = TestIndexer::new().await;
    let repo = GitRepo::from_fixture("rust-crate");
    let lexical_only = t.index(local(repo.path()), None).await;
    assert_eq!(lexical_only.repo.status, JobState::Ready);
    assert_eq!(lexical_only.repo.stats.embedded, 0);
    assert!(lexical_only.repo.stats.chunks > 0);

    let err = t.indexer.search(&query("encode", Mode::Hybrid)).await.unwrap_err();
    assert!(matches!(err, IndexError::NoEmbedder));
    assert!(err.to_string().contains("run scripts/setup.sh"), "{err}");

    let indexer = t.restart_with_embedder().await;
    let job = indexer.submit(local(repo.path()), None, None).await.unwrap();
    let resumed = indexer::finished(job).await;
    assert_eq!(resumed.files_parsed, 0, "nothing is parsed again");
    assert_eq!(resumed.chunks_to_embed, lexical_only.repo.stats.chunks);
    assert_eq!(resumed.repo.stats.embedded, resumed.repo.stats.chunks);
    let hits = ask(&indexer, "look up the original url of a short code", Mode::Semantic).await;
    assert_eq!(top(&hits)[0], "src/shortener.rs:Shortener::resolve");
}

#[tokio::test(flavor = "multi_thread")]
async fn lexical_and_structural_queries_answer_while_the_job_embeds() {
    let t = TestIndexer::with_embedder().await;
    let repo = GitRepo::from_fixture("python-pkg");
    // Enough chunks for several pages, so the embedding stage lasts.
    let many: String = (0..1200)
        .map(|i| format!("def handler_{i}(event):\n    return dispatch(event, {i})\n\n\n"))
        .collect();
    repo.write("stockroom/handlers.py", &many);
    repo.commit("add handlers");

    let mut job = t.indexer.submit(local(repo.path()), None, None).await.unwrap();
    loop {
        let status = job.borrow_and_update().clone();
        if status.repo.status == JobState::Embedding {
            break;
        }
        assert!(!status.repo.status.is_final(), "the job ended without embedding: {status:?}");
        job.changed().await.unwrap();
    }
    let id = job.borrow().repo.id.clone();
    let hits = ask(&t.indexer, "price with tax", Mode::Lexical).await;
    assert_eq!(top(&hits)[0], "stockroom/pricing.py:price_with_tax");
    let graph = t.indexer.graph(&id).await.unwrap();
    assert!(graph.symbol_count() > 1200);
    let during = job.borrow().clone();
    assert_eq!(during.repo.status, JobState::Embedding, "the queries answered during embedding");
    assert!(during.chunks_embedded < during.chunks_to_embed);

    // Progress only moves forward, to every chunk.
    let mut last = during.chunks_embedded;
    let done = loop {
        let closed = job.changed().await.is_err();
        let status = job.borrow_and_update().clone();
        assert!(status.chunks_embedded >= last, "{} after {last}", status.chunks_embedded);
        last = status.chunks_embedded;
        if status.repo.status.is_final() || closed {
            break status;
        }
    };
    assert_eq!(done.repo.status, JobState::Ready, "{:?}", done.repo.error);
    assert_eq!(done.chunks_embedded, done.chunks_to_embed);
    assert_eq!(done.repo.stats.embedded, done.repo.stats.chunks);
}

/// A repository indexed by a process without the model (a CLI whose assets are elsewhere) is
/// embedded by a running process that has it, unasked, once: the one embedding pass.
#[tokio::test(flavor = "multi_thread")]
async fn an_index_made_by_a_process_without_the_model_is_embedded_by_one_with_it_unasked() {
    let t = TestIndexer::new().await;
    let repo = GitRepo::from_fixture("rust-crate");
    let serving = t.restart_with_embedder().await;
    let sweeping = serving.keep_resuming(Duration::from_millis(200));
    let lexical_only = t.index(local(repo.path()), None).await.repo;
    assert!(lexical_only.awaits_vectors(), "{:?}", lexical_only.stats);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let embedded = loop {
        let stored = serving.find(&lexical_only.id).await.unwrap();
        if stored.status == JobState::Ready && !stored.awaits_vectors() {
            break stored;
        }
        assert!(tokio::time::Instant::now() < deadline, "never embedded: {stored:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sweeping.abort();
    assert_eq!(embedded.stats.embedded, lexical_only.stats.chunks);
    assert_eq!(serving.resume_embedding().await.unwrap(), 0, "nothing left to embed");
    let hits = ask(&serving, "look up the original url of a short code", Mode::Semantic).await;
    assert_eq!(top(&hits)[0], "src/shortener.rs:Shortener::resolve");
}

/// A process that died mid-embedding (its claim on the repository left behind) holds the
/// repository until the claim runs out; then a running process takes it over unasked.
#[tokio::test(flavor = "multi_thread")]
async fn embedding_left_by_a_process_that_died_is_taken_over_once_its_claim_runs_out() {
    let t = TestIndexer::new().await;
    let repo = GitRepo::from_fixture("rust-crate");
    let mut record = t.index(local(repo.path()), None).await.repo;
    record.status = JobState::Embedding;
    t.indexer.store().save_repo(&record).await.unwrap();
    let ttl = Duration::from_secs(2);
    let claim = t.indexer.store().claim(&record.id, "pid 1#0 (died)", ttl).await.unwrap();
    assert_eq!(claim, None, "the dead process's claim is in place");

    let indexer = t.restart_with_embedder().await;
    assert_eq!(indexer.resume_embedding().await.unwrap(), 0, "not while the claim holds");
    let sweeping = indexer.keep_resuming(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let stored = indexer.find(&record.id).await.unwrap();
        if stored.status == JobState::Ready {
            assert_eq!(stored.stats.embedded, stored.stats.chunks);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never taken over: {stored:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sweeping.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn embedding_cut_short_by_a_stopped_server_resumes_at_the_next_start() {
    let t = TestIndexer::new().await;
    let repo = GitRepo::from_fixture("rust-crate");
    let done = t.index(local(repo.path()), None).await;
    // What a server stopped mid-embedding leaves: the structure stored, the state `embedding`,
    // chunks without vectors.
    let mut record = done.repo.clone();
    record.status = JobState::Embedding;
    t.indexer.store().save_repo(&record).await.unwrap();

    let indexer = t.restart_with_embedder().await;
    assert_eq!(indexer.resume_embedding().await.unwrap(), 1);
    let job = indexer.running(&record.id).expect("a job embeds it");
    assert_eq!(job.repo.status, JobState::Embedding);
    // Resuming twice does not start a second job.
    assert_eq!(indexer.resume_embedding().await.unwrap(), 0);
    let job = indexer.submit(local(repo.path()), None, None).await.unwrap();
    let finished = indexer::finished(job).await;
    assert_eq!(finished.repo.status, JobState::Ready);

    let stored = indexer.find(&record.id).await.unwrap();
    assert_eq!(stored.status, JobState::Ready);
    assert_eq!(stored.stats.embedded, stored.stats.chunks);
    let hits = ask(&indexer, "look up the original url of a short code", Mode::Semantic).await;
    assert_eq!(top(&hits)[0], "src/shortener.rs:Shortener::resolve");
}
