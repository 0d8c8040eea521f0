//! Embeddings from an OpenAI-compatible `/embeddings` endpoint: OpenAI itself, AgentWatch's own
//! gateway (and so any provider behind it), Ollama, Hugging Face TEI, vLLM.
//!
//! Texts go in batches, several batches in flight; a batch the endpoint could not take for a
//! passing reason (a connection error, 408, 429, 5xx) is sent again after a wait that doubles, or
//! that `Retry-After` names. Every answer is checked: one vector per text, of the configured
//! length.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{EmbedError, normalized};

/// An endpoint and the model it is asked for.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The API's base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8787/v1` (the
    /// gateway); `/embeddings` is added unless the URL ends with it already.
    pub url: String,
    pub model: String,
    /// Length of the model's vectors; an answer of another length is an error.
    pub dimensions: usize,
    /// Sent as `Authorization: Bearer …` (a gateway tenant's key, an OpenAI key).
    pub api_key: Option<String>,
    /// Asks the model for `dimensions` (OpenAI's `text-embedding-3-*` shorten their vectors);
    /// off by default, since servers whose models cannot shorten refuse the field.
    pub send_dimensions: bool,
    /// Texts per request.
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl RemoteConfig {
    pub const DEFAULT_BATCH: usize = 64;
    pub const DEFAULT_CONCURRENCY: usize = 4;
}

/// How long the indexer's batches may take: it waits out a busy endpoint.
const BATCHES: Patience = Patience { attempts: 6, timeout: Duration::from_secs(120) };
/// How long a search's question may take: someone is waiting for the answer.
const QUERIES: Patience = Patience { attempts: 2, timeout: Duration::from_secs(10) };

#[derive(Debug, Clone, Copy)]
struct Patience {
    attempts: u32,
    /// Per request.
    timeout: Duration,
}
/// A text is cut to this many bytes: far more than a chunk holds, and under every hosted model's
/// input limit (8k tokens and up), so one odd chunk cannot fail a batch.
const MAX_TEXT_BYTES: usize = 8 * 1024;

#[derive(Debug)]
pub struct RemoteModel {
    config: RemoteConfig,
    endpoint: reqwest::Url,
    http: reqwest::Client,
}

impl RemoteModel {
    pub fn new(config: RemoteConfig) -> Result<RemoteModel, EmbedError> {
        let invalid =
            |why: &str| EmbedError::Config(format!("index.embeddings.url {:?} {why}", config.url));
        let mut endpoint = reqwest::Url::parse(&config.url)
            .map_err(|e| invalid(&format!("is not a URL ({e}): write it as https://host/v1")))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(invalid("is not http or https"));
        }
        if !endpoint.path().trim_end_matches('/').ends_with("/embeddings") {
            let path = format!("{}/embeddings", endpoint.path().trim_end_matches('/'));
            endpoint.set_path(&path);
        }
        if config.model.trim().is_empty() {
            return Err(EmbedError::Config(
                "index.embeddings.model is empty: name the model the endpoint serves".into(),
            ));
        }
        if config.dimensions == 0 {
            return Err(EmbedError::Config(
                "index.embeddings.dimensions is 0: give the length of the model's vectors".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| EmbedError::Config(format!("cannot make an HTTP client: {e}")))?;
        let config = RemoteConfig {
            batch: config.batch.max(1),
            concurrency: config.concurrency.max(1),
            ..config
        };
        Ok(RemoteModel { config, endpoint, http })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// One unit-length vector per text, in order; `progress` hears how many are done as
    /// batches come back.
    pub async fn embed(
        &self,
        texts: &[String],
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut done = 0;
        // Made up front: a stream mapping borrowed batches to futures is not `Send` to the
        // compiler's satisfaction.
        let requests: Vec<_> =
            texts.chunks(self.config.batch).map(|batch| self.embed_batch(batch, BATCHES)).collect();
        let batches: Vec<Vec<Vec<f32>>> = futures::stream::iter(requests)
            .buffered(self.config.concurrency)
            .inspect_ok(|vectors| {
                done += vectors.len();
                progress(done);
            })
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// A search query's vector, sooner given up on than a batch.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.embed_batch(&[text.to_owned()], QUERIES).await?;
        Ok(vectors.pop().unwrap_or_default())
    }

    async fn embed_batch(
        &self,
        texts: &[String],
        patience: Patience,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let input: Vec<&str> = texts.iter().map(|t| cut(t, MAX_TEXT_BYTES)).collect();
        let mut body = serde_json::json!({
            "model": self.config.model,
            "input": input,
            "encoding_format": "float",
        });
        if self.config.send_dimensions {
            body["dimensions"] = self.config.dimensions.into();
        }
        let mut wait = Duration::from_millis(250);
        for attempt in 1..=patience.attempts {
            match self.post(&body, patience.timeout).await {
                Ok(answer) => return self.vectors(answer, texts.len()),
                Err(Failure::Passing { message, retry_after }) if attempt < patience.attempts => {
                    let pause = retry_after.unwrap_or(wait).min(Duration::from_secs(30));
                    tracing::debug!(%message, ?pause, attempt, "the embeddings endpoint failed; trying again");
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(Failure::Passing { message, .. } | Failure::Final(message)) => {
                    return Err(self.error(message));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn post(&self, body: &serde_json::Value, timeout: Duration) -> Result<Answer, Failure> {
        let mut request = self.http.post(self.endpoint.clone()).timeout(timeout).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| Failure::Passing {
            message: format!("cannot reach it: {}", describe(&e)),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return response.json::<Answer>().await.map_err(|e| {
                Failure::Final(format!(
                    "its answer is not an embeddings response: {}",
                    describe(&e)
                ))
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let message = format!("it answered {status}: {}", error_message(&text));
        let passing = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        Err(match passing {
            true => Failure::Passing { message, retry_after },
            false => Failure::Final(message),
        })
    }

    fn vectors(&self, answer: Answer, wanted: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if answer.data.len() != wanted {
            return Err(
                self.error(format!("it answered {} vectors for {wanted} texts", answer.data.len()))
            );
        }
        let mut vectors = vec![Vec::new(); wanted];
        for item in answer.data {
            let dimensions = item.embedding.len();
            if dimensions != self.config.dimensions {
                return Err(EmbedError::Config(format!(
                    "model {:?} at {} gives vectors of {dimensions} dimensions, not the {} index.embeddings.dimensions says: set it to {dimensions}",
                    self.config.model, self.endpoint, self.config.dimensions
                )));
            }
            match vectors.get_mut(item.index) {
                Some(slot) if slot.is_empty() => *slot = normalized(item.embedding),
                _ => return Err(self.error(format!("its answer has a wrong index {}", item.index))),
            }
        }
        Ok(vectors)
    }

    fn error(&self, message: String) -> EmbedError {
        EmbedError::Remote {
            url: self.endpoint.to_string(),
            model: self.config.model.clone(),
            message,
        }
    }
}

enum Failure {
    /// Worth trying again: the endpoint was unreachable, busy or failing.
    Passing { message: String, retry_after: Option<Duration> },
    /// The request itself is refused (a bad key, an unknown model); sending it again cannot help.
    Final(String),
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

/// The message of an OpenAI-style error body (`{"error": {"message": …}}`), else the body's start.
fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Inner {
        Object { message: String },
        Text(String),
    }
    match serde_json::from_str::<Body>(body) {
        Ok(Body { error: Inner::Object { message } | Inner::Text(message) }) => message,
        Err(_) => cut(body.trim(), 300).to_owned(),
    }
}

/// An error and its causes on one line (reqwest's own message leaves out why a connection failed).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
