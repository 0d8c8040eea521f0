//! Embeddings from an OpenAI-compatible endpoint instead of the local model: a real HTTP server
//! here plays the endpoint, with vectors that count words (so a question sharing words with the
//! code finds it), and can be told to fail. What a user relies on: the index is embedded through
//! it in batches, passing failures are waited out, a refusal fails the job saying why, and two
//! models' vectors never share a table.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use indexer::{Embedder, Indexer, JobState, Mode, RemoteConfig, RepoRecord};
use serde_json::{Value, json};

use crate::support::{GitRepo, TestIndexer, local, query, top};

const KEY: &str = "sk-embeddings-0123456789";

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
struct Seen {
    model: String,
    inputs: Vec<String>,
    authorization: Option<String>,
}

#[derive(Default)]
struct State {
    dimensions: usize,
    /// Answers to give before any success: a status and a `Retry-After`.
    failures: VecDeque<(StatusCode, Option<u64>)>,
    /// Refuse every request with this status and message.
    refusal: Option<(StatusCode, &'static str)>,
    seen: Vec<Seen>,
}

/// The endpoint, on a port of its own.
struct Endpoint {
    url: String,
    state: Arc<Mutex<State>>,
}

impl Endpoint {
    async fn start(dimensions: usize) -> Endpoint {
        let state = Arc::new(Mutex::new(State { dimensions, ..State::default() }));
        let shared = Arc::clone(&state);
        let app = Router::new().route(
            "/v1/embeddings",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let state = Arc::clone(&shared);
                async move { answer(&state, &headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Endpoint { url, state }
    }

    fn embedder(&self, model: &str, dimensions: usize) -> Arc<Embedder> {
        Arc::new(
            Embedder::remote(RemoteConfig {
                url: self.url.clone(),
                model: model.to_owned(),
                dimensions,
                api_key: Some(KEY.to_owned()),
                send_dimensions: false,
                batch: 8,
                concurrency: 2,
            })
            .unwrap(),
        )
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn answer(state: &Mutex<State>, headers: &HeaderMap, body: &Value) -> Response {
    let mut state = state.lock().unwrap();
    let inputs: Vec<String> = body["input"]
        .as_array()
        .map(|texts| texts.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_else(|| vec![body["input"].as_str().unwrap().to_owned()]);
    state.seen.push(Seen {
        model: body["model"].as_str().unwrap().to_owned(),
        inputs: inputs.clone(),
        authorization: headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()),
    });
    if let Some((status, message)) = state.refusal {
        let error = json!({ "error": { "message": message, "type": "invalid_request_error" } });
        return (status, Json(error)).into_response();
    }
    if let Some((status, retry_after)) = state.failures.pop_front() {
        let mut response = (status, "busy, try again").into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        return response;
    }
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({ "object": "embedding", "index": index, "embedding": words(text, state.dimensions) })
        })
        .collect();
    Json(json!({ "object": "list", "data": data, "model": body["model"] })).into_response()
}

/// A vector counting the text's lowercase words (identifiers split at `_` and case changes),
/// each in a slot picked by its hash: texts sharing words point the same way.
fn words(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0.0; dimensions];
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if word.len() > 2 {
            let slot = blake3::hash(word.as_bytes()).as_bytes()[..8]
                .iter()
                .fold(0usize, |n, b| n.wrapping_mul(256).wrapping_add(*b as usize));
            vector[slot % dimensions] += 1.0;
        }
        word.clear();
    };
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && previous_lower {
                flush(&mut word);
            }
            previous_lower = c.is_lowercase();
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word);
            previous_lower = false;
        }
    }
    flush(&mut word);
    vector
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_is_embedded_through_an_openai_compatible_endpoint_and_searched_by_it() {
    let endpoint = Endpoint::start(64).await;
    let t = TestIndexer::with(endpoint.embedder("bag-of-words", 64)).await;
    let repo = GitRepo::from_fixture("python-pkg");
    let status = t.index(local(repo.path()), None).await;

    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let stats = &status.repo.stats;
    assert!(stats.chunks > 5, "{stats:?}");
    assert_eq!(stats.embedded, stats.chunks);
    let seen = endpoint.seen();
    assert!(seen.len() >= 2, "in batches: {} requests", seen.len());
    assert!(seen.iter().all(|s| s.inputs.len() <= 8), "at most `batch` texts per request");
    assert!(seen.iter().all(|s| s.model == "bag-of-words"));
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {KEY}"))));
    let texts: usize = seen.iter().map(|s| s.inputs.len()).sum();
    assert!(texts <= stats.chunks as usize, "no text sent twice: {texts} for {stats:?}");

    // The question is embedded by the same endpoint, and its vectors rank the code.
    let hits = t.indexer.search(&query("expired items in stock", Mode::Semantic)).await.unwrap();
    assert!(top(&hits)[0].contains("xpired"), "{:?}", top(&hits));
    assert!(endpoint.seen().iter().any(|s| s.inputs == ["expired items in stock"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_endpoint_is_waited_out_and_a_refusal_fails_the_job_saying_why() {
    let endpoint = Endpoint::start(64).await;
    endpoint.state.lock().unwrap().failures = VecDeque::from([
        (StatusCode::SERVICE_UNAVAILABLE, None),
        (StatusCode::TOO_MANY_REQUESTS, Some(1)),
        (StatusCode::BAD_GATEWAY, None),
    ]);
    let t = TestIndexer::with(endpoint.embedder("bag-of-words", 64)).await;
    let repo = GitRepo::from_fixture("python-pkg");
    let status = t.index(local(repo.path()), None).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    assert_eq!(status.repo.stats.embedded, status.repo.stats.chunks);

    let refusing = Endpoint::start(64).await;
    refusing.state.lock().unwrap().refusal =
        Some((StatusCode::UNAUTHORIZED, "Incorrect API key provided"));
    let t = TestIndexer::with(refusing.embedder("bag-of-words", 64)).await;
    let status = t.index(local(repo.path()), None).await;
    assert_eq!(status.repo.status, JobState::Failed);
    let error = status.repo.error.unwrap();
    assert!(error.contains(&format!("{}/embeddings", refusing.url)), "{error}");
    assert!(error.contains("401 Unauthorized: Incorrect API key provided"), "{error}");
    assert!(error.contains("lexical search and the code graph are up to date"), "{error}");
    // Only the batches already in flight (2) were sent, and none of them twice.
    let seen = refusing.seen();
    assert!(seen.len() <= 2, "{} requests", seen.len());
    assert!(seen.len() < 2 || seen[0].inputs != seen[1].inputs, "a refusal is not sent again");
    let hits = t.indexer.search(&query("expired", Mode::Lexical)).await.unwrap();
    assert!(!hits.is_empty(), "lexical search answers without vectors");
}

#[tokio::test(flavor = "multi_thread")]
async fn vectors_of_another_length_say_which_length_to_configure() {
    let endpoint = Endpoint::start(32).await;
    let t = TestIndexer::with(endpoint.embedder("bag-of-words", 64)).await;
    let repo = GitRepo::from_fixture("python-pkg");
    let status = t.index(local(repo.path()), None).await;
    assert_eq!(status.repo.status, JobState::Failed);
    let error = status.repo.error.unwrap();
    assert!(
        error.contains("gives vectors of 32 dimensions, not the 64 index.embeddings.dimensions says: set it to 32"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_model_keeps_its_own_vectors_and_a_switch_embeds_everything_again_unasked() {
    let first = Endpoint::start(64).await;
    let t = TestIndexer::with(first.embedder("words-a", 64)).await;
    let repo = GitRepo::from_fixture("python-pkg");
    let status = t.index(local(repo.path()), None).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let chunks = status.repo.stats.chunks;

    // Restarted with another model: its table starts empty, and the repository is written to it
    // from the stored facts and embedded by the new model, without anyone asking.
    let second = Endpoint::start(96).await;
    let switched = t.restart_with(second.embedder("words-b", 96)).await;
    assert_eq!(switched.resume_embedding().await.unwrap(), 1);
    let done = settled(&switched, &status.repo.id).await;
    assert_eq!(done.status, JobState::Ready, "{:?}", done.error);
    assert_eq!((done.stats.chunks, done.stats.embedded), (chunks, chunks));
    assert!(second.seen().iter().all(|s| s.model == "words-b"));
    let hits = switched.search(&query("expired items in stock", Mode::Semantic)).await.unwrap();
    assert!(top(&hits)[0].contains("xpired"), "{:?}", top(&hits));
    let lexical = switched.search(&query("expired", Mode::Lexical)).await.unwrap();
    assert!(!lexical.is_empty());

    // Back to the first model: the rows are written again (files may have changed meanwhile),
    // and take the vectors its table still has: nothing is embedded again.
    let asked = first.seen().len();
    let back = t.restart_with(first.embedder("words-a", 64)).await;
    assert_eq!(back.resume_embedding().await.unwrap(), 1);
    let done = settled(&back, &status.repo.id).await;
    assert_eq!((done.status, done.stats.embedded), (JobState::Ready, chunks));
    assert_eq!(back.resume_embedding().await.unwrap(), 0, "nothing left to do");
    let hits = back.search(&query("expired items in stock", Mode::Semantic)).await.unwrap();
    assert!(top(&hits)[0].contains("xpired"), "{:?}", top(&hits));
    assert_eq!(first.seen().len(), asked + 1, "only the question was embedded");
}

/// The repository once no job of `indexer` runs for it.
async fn settled(indexer: &Indexer, id: &str) -> RepoRecord {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while indexer.running(id).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the job never ended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    indexer.find(id).await.unwrap()
}
