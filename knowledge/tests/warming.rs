//! While a repository's code is being embedded, every face can say how far it is and when it
//! will be done: a job's stage with its count, rate and time left, and a semantic search that
//! names the repositories still warming up. The embeddings come from a real HTTP endpoint here,
//! held back on cue so that the test sees the stage in the middle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use indexer::{Embedder, Indexer, IndexerConfig, JobState, JobStatus, Mode, RemoteConfig, Source};
use knowledge::caller::Pending;
use knowledge::views::JobView;
use knowledge::{
    Account, Call, Caller, Knowledge, KnowledgeError, RateLimit, Screening, SearchRequest,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

#[derive(Debug)]
struct Open;

impl Account for Open {
    fn admit(&self) -> Pending<'_, Result<Option<RateLimit>, KnowledgeError>> {
        Box::pin(async { Ok(None) })
    }

    fn screen(&self, _: &mut Value) -> Screening {
        Screening::default()
    }

    fn meter(&self, _: Call) {}
}

const DIMENSIONS: usize = 16;

/// An embeddings endpoint answering the indexer's batches one per permit, each after 300 ms,
/// and a search's question (one text) at once.
async fn endpoint(permits: Arc<Semaphore>) -> String {
    serve(post(move |Json(body): Json<Value>| {
        let permits = Arc::clone(&permits);
        async move {
            if body["input"].as_array().unwrap().len() > 1 {
                permits.acquire().await.unwrap().forget();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Json(vectors(&body))
        }
    }))
    .await
}

/// An OpenAI-style answer: one vector per input, pointing by the text's length.
fn vectors(body: &Value) -> Value {
    let inputs = body["input"].as_array().unwrap();
    let data: Vec<Value> = (0..inputs.len())
        .map(|i| {
            let mut v = vec![0.0f32; DIMENSIONS];
            v[inputs[i].as_str().unwrap().len() % DIMENSIONS] = 1.0;
            json!({ "index": i, "embedding": v })
        })
        .collect();
    json!({ "data": data })
}

/// Serves `route` as `/v1/embeddings` on a port of its own; the API's base URL.
async fn serve(route: axum::routing::MethodRouter) -> String {
    let app = axum::Router::new().route("/v1/embeddings", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// An indexer embedding through the endpoint at `url`, in batches of `batch`, one at a time; the
/// knowledge core over it, and the data dir they keep.
async fn knowledge_over(url: String, batch: usize) -> (tempfile::TempDir, Arc<Indexer>, Knowledge) {
    let embedder = Embedder::remote(RemoteConfig {
        url,
        model: "test".into(),
        dimensions: DIMENSIONS,
        api_key: None,
        send_dimensions: false,
        batch,
        concurrency: 1,
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let config = IndexerConfig {
        vectors: embedder.space(),
        embedder: Some(Arc::new(embedder)),
        ..IndexerConfig::in_data_dir(data.path(), storage)
    };
    let indexer = Indexer::open(config).await.unwrap();
    (data, Arc::clone(&indexer), Knowledge::new(indexer))
}

fn python_fixture() -> Source {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/python-pkg");
    Source::parse(fixture.to_str().unwrap()).unwrap()
}

async fn until(
    job: &mut tokio::sync::watch::Receiver<JobStatus>,
    what: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = job.borrow_and_update().clone();
            if what(&status) {
                return status;
            }
            job.changed().await.unwrap();
        }
    })
    .await
    .expect("the job never got there")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedding_job_tells_its_rate_and_time_left_and_search_says_it_is_warming_up() {
    let permits = Arc::new(Semaphore::new(2));
    let (_data, indexer, knowledge) = knowledge_over(endpoint(Arc::clone(&permits)).await, 4).await;
    let local = Caller::local(Arc::new(Open));
    let mut job = indexer.submit(python_fixture(), None, None).await.unwrap();

    // Two batches of four are embedded; the third waits for its permit.
    let status =
        until(&mut job, |s| s.repo.status == JobState::Embedding && s.stage.done >= 8).await;
    let view = JobView::from(&status);
    let stage = view.stage.as_ref().expect("a running job has a stage");
    assert_eq!((stage.name.as_str(), stage.unit.as_str()), ("embedding", "chunks"));
    assert_eq!((stage.done, stage.total), (8, u64::from(status.chunks_to_embed)));
    assert!(stage.total > 8, "{stage:?}");
    let rate = stage.per_second.expect("a rate once chunks are done");
    assert!(rate > 0.0 && rate < 30.0, "about 4 chunks per 300 ms: {rate}");
    let eta = stage.eta_secs.expect("a time left once there is a rate");
    let left = (stage.total - stage.done) as f64 / rate;
    assert!((eta as f64 - left).abs() <= 1.0, "{eta} s for {left:.1} s");
    let described = stage.describe();
    assert!(described.starts_with(&format!("embedding 8/{} chunks, ", stage.total)), "{described}");
    assert!(described.contains(" left"), "{described}");

    let hybrid =
        SearchRequest { text: "inventory".into(), mode: Some(Mode::Hybrid), ..Default::default() };
    let found = knowledge.for_caller(&local).search(hybrid.clone()).await.unwrap();
    assert_eq!(found.warming_up.len(), 1, "{:?}", found.warming_up);
    let warming = &found.warming_up[0];
    assert_eq!((warming.embedded, u64::from(warming.chunks)), (8, stage.total));
    assert!(warming.eta_secs.is_some());
    let notice = found.notice().unwrap();
    assert!(notice.starts_with("semantic search is still warming up (python-pkg 8/"), "{notice}");
    assert!(notice.contains("found by their words only for now"), "{notice}");
    assert!(!found.results.is_empty(), "words find the code meanwhile");
    let lexical = SearchRequest { mode: Some(Mode::Lexical), ..hybrid.clone() };
    let found = knowledge.for_caller(&local).search(lexical).await.unwrap();
    assert!(found.warming_up.is_empty(), "a lexical search is not waiting for anything");

    permits.add_permits(1000);
    let status = until(&mut job, |s| s.repo.status.is_final()).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let found = knowledge.for_caller(&local).search(hybrid).await.unwrap();
    assert!(found.warming_up.is_empty(), "{:?}", found.warming_up);
    assert_eq!(found.notice(), None);
}

/// An embeddings endpoint that can be taken down: then it answers 503 to everything.
async fn fickle_endpoint(down: Arc<AtomicBool>) -> String {
    serve(post(move |Json(body): Json<Value>| {
        let down = Arc::clone(&down);
        async move {
            if down.load(Ordering::SeqCst) {
                let busy = axum::http::StatusCode::SERVICE_UNAVAILABLE;
                return Err((busy, "the GPU box is rebooting"));
            }
            Ok(Json(vectors(&body)))
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_endpoint_down_hybrid_search_answers_by_words_and_says_why() {
    let down = Arc::new(AtomicBool::new(false));
    let (_data, indexer, knowledge) =
        knowledge_over(fickle_endpoint(Arc::clone(&down)).await, 64).await;
    let local = Caller::local(Arc::new(Open));
    let done = indexer::finished(indexer.submit(python_fixture(), None, None).await.unwrap()).await;
    assert_eq!(done.repo.status, JobState::Ready, "{:?}", done.repo.error);

    down.store(true, Ordering::SeqCst);
    let hybrid = SearchRequest { text: "inventory".into(), ..Default::default() };
    let found = knowledge.for_caller(&local).search(hybrid.clone()).await.unwrap();
    assert_eq!(found.mode, "lexical", "it says which mode ran");
    assert!(!found.results.is_empty());
    let notice = found.notice().unwrap();
    assert!(
        notice.starts_with("searched by words only: the question could not be embedded"),
        "{notice}"
    );
    assert!(notice.contains("503 Service Unavailable: the GPU box is rebooting"), "{notice}");

    let semantic = SearchRequest { mode: Some(Mode::Semantic), ..hybrid.clone() };
    let error = knowledge.for_caller(&local).search(semantic.clone()).await.unwrap_err();
    assert!(matches!(error, KnowledgeError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("/v1/embeddings"), "{error}");

    down.store(false, Ordering::SeqCst);
    let found = knowledge.for_caller(&local).search(hybrid).await.unwrap();
    assert_eq!((found.mode.as_str(), found.fallback), ("hybrid", None));
}
