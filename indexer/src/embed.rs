//! Code embeddings: by default all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) through fastembed,
//! with ONNX Runtime loaded from a file the caller names (the offline assets fetched by
//! `scripts/setup.sh`); or a model behind an OpenAI-compatible endpoint (`remote`).
//!
//! Vectors of two models never meet: each model has its own [`VectorSpace`], and each space its
//! own table in the search index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

mod remote;
pub use remote::{RemoteConfig, RemoteModel};

/// Length of the local model's vectors.
pub const DIMENSIONS: usize = 384;

/// Names the local model in the embedding cache: vectors of another model are never mixed in.
pub const MODEL_ID: &str = "all-MiniLM-L6-v2/int8/mean";

/// Which model's vectors a search table holds, and how long they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorSpace {
    pub model: String,
    pub dimensions: usize,
}

impl VectorSpace {
    /// The local model's.
    pub fn local() -> VectorSpace {
        VectorSpace { model: MODEL_ID.to_owned(), dimensions: DIMENSIONS }
    }

    /// The search index's table of this space: `chunks` for the local model (as it always was),
    /// `chunks_<model>_<dimensions>_<hash>` for others (the hash keeps two model names that
    /// read alike once cut to a table name's characters apart).
    pub fn table(&self) -> String {
        if *self == VectorSpace::local() {
            return "chunks".to_owned();
        }
        let readable: String = self
            .model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .take(64)
            .collect();
        let id = blake3::hash(format!("{}\n{}", self.model, self.dimensions).as_bytes());
        format!("chunks_{readable}_{}_{}", self.dimensions, &id.to_hex()[..8])
    }
}

impl std::fmt::Display for VectorSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} dimensions)", self.model, self.dimensions)
    }
}

/// The model reads at most this many tokens of a text.
const MAX_TOKENS: usize = 256;

/// Texts embedded per ONNX Runtime call. Batches are cut from texts sorted by their length in
/// tokens, so a batch pads next to nothing; and on a CPU small batches run faster than large ones
/// (`bench_search shapes` on tokio's chunks, 2 cores: 4 sorted by tokens ran 47 chunks/s, 32
/// sorted by bytes, as before, 34; 1 at a time ran 49, but leaves wider machines' threads less
/// to share).
pub const BATCH: usize = 4;

/// Where the model and the runtime are.
#[derive(Debug, Clone)]
pub struct EmbedderConfig {
    /// `libonnxruntime.so`, ONNX Runtime 1.24 or newer.
    pub onnxruntime: PathBuf,
    /// A folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json` and
    /// `tokenizer_config.json`.
    pub model_dir: PathBuf,
    /// ONNX Runtime threads; `None` uses every core.
    pub threads: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("ONNX Runtime not found at {}: run scripts/setup.sh, or set AGENTWATCH_ONNXRUNTIME", .0.display())]
    MissingRuntime(PathBuf),
    #[error("cannot read the embedding model file {}: {source}; run scripts/setup.sh, or set AGENTWATCH_MODEL_DIR", path.display())]
    MissingModel { path: PathBuf, source: std::io::Error },
    #[error("cannot load ONNX Runtime from {}: {message}", path.display())]
    Runtime { path: PathBuf, message: String },
    #[error("the embedding model failed: {0}")]
    Model(String),
    #[error("{0}")]
    Config(String),
    #[error("the embeddings endpoint {url} (model {model:?}) failed: {message}")]
    Remote { url: String, model: String, message: String },
}

/// Told how many texts of a call are embedded so far.
pub type Progress = Arc<dyn Fn(usize) + Send + Sync>;

/// What turns text into vectors: the local model, or a remote endpoint.
#[derive(Debug)]
pub enum Embedder {
    Local(Arc<LocalModel>),
    Remote(RemoteModel),
}

impl Embedder {
    /// The local model, from the files `config` names.
    pub fn local(config: &EmbedderConfig) -> Result<Embedder, EmbedError> {
        Ok(Embedder::Local(Arc::new(LocalModel::load(config)?)))
    }

    /// A model behind an OpenAI-compatible endpoint.
    pub fn remote(config: RemoteConfig) -> Result<Embedder, EmbedError> {
        Ok(Embedder::Remote(RemoteModel::new(config)?))
    }

    /// The vectors this embedder makes.
    pub fn space(&self) -> VectorSpace {
        match self {
            Embedder::Local(_) => VectorSpace::local(),
            Embedder::Remote(model) => VectorSpace {
                model: model.config().model.clone(),
                dimensions: model.config().dimensions,
            },
        }
    }

    /// One unit-length vector per text, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_reporting(texts, Arc::new(|_| ())).await
    }

    /// As [`Embedder::embed`], telling `progress` how many texts are embedded so far as batches
    /// end.
    pub async fn embed_reporting(
        &self,
        texts: Vec<String>,
        progress: Progress,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            Embedder::Local(model) => {
                let model = Arc::clone(model);
                on_a_blocking_thread(move || {
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    model.embed_reporting(&texts, &*progress)
                })
                .await
            }
            Embedder::Remote(model) => model.embed(&texts, &*progress).await,
        }
    }

    /// A search query's vector.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        match self {
            Embedder::Local(model) => {
                let (model, text) = (Arc::clone(model), text.to_owned());
                on_a_blocking_thread(move || model.embed_query(&text)).await
            }
            Embedder::Remote(model) => model.embed_query(text).await,
        }
    }
}

async fn on_a_blocking_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EmbedError> + Send + 'static,
) -> Result<T, EmbedError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EmbedError::Model(format!("the embedding task failed: {e}")))?
}

/// The local model, in two sessions: one for the indexer's batches, one for queries, so a query
/// never waits behind a batch.
pub struct LocalModel {
    documents: Mutex<TextEmbedding>,
    queries: Mutex<TextEmbedding>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel").field("model", &MODEL_ID).finish()
    }
}

/// ONNX Runtime can be loaded once per process; the first path wins.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The ONNX Runtime environment, from the library at `path` (loaded once per process; the first
/// path wins).
pub fn runtime(path: &Path) -> Result<ort::environment::Environment, EmbedError> {
    // ort panics on first use when it finds no library, so look before it does.
    if !path.is_file() {
        return Err(EmbedError::MissingRuntime(path.to_owned()));
    }
    RUNTIME
        .get_or_init(|| {
            ort::init_from(path)
                .map_err(|e| e.to_string())?
                .with_name("agentwatch")
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|message| EmbedError::Runtime { path: path.to_owned(), message })
}

impl LocalModel {
    pub fn load(config: &EmbedderConfig) -> Result<LocalModel, EmbedError> {
        let environment = runtime(&config.onnxruntime)?;
        let read = |name: &str| {
            let path = config.model_dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::MissingModel { path, source })
        };
        let model = UserDefinedEmbeddingModel::new(
            read("model.onnx")?,
            TokenizerFiles {
                tokenizer_file: read("tokenizer.json")?,
                config_file: read("config.json")?,
                special_tokens_map_file: read("special_tokens_map.json")?,
                tokenizer_config_file: read("tokenizer_config.json")?,
            },
        )
        // Sentence-transformers' MiniLM is trained with mean pooling; fastembed's default (CLS)
        // gives vectors that do not match the reference model.
        .with_pooling(Pooling::Mean);
        let session = |threads: Option<usize>| {
            let mut options = InitOptionsUserDefined::new()
                .with_environment(environment.clone())
                .with_max_length(MAX_TOKENS);
            if let Some(threads) = threads {
                options = options.with_intra_threads(threads);
            }
            TextEmbedding::try_new_from_user_defined(model.clone(), options)
                .map(Mutex::new)
                .map_err(|e| EmbedError::Model(e.to_string()))
        };
        // A query is one short text: a single thread runs it as fast as many, and leaves the
        // other cores to the indexer.
        Ok(LocalModel { documents: session(config.threads)?, queries: session(Some(1))? })
    }

    /// Embeds `texts`, returning one unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_reporting(texts, &|_| ())
    }

    /// As [`LocalModel::embed`], telling `progress` how many are done after each batch.
    pub fn embed_reporting(
        &self,
        texts: &[&str],
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut done = 0;
        let mut model = lock(&self.documents)?;
        let tokens = token_counts(&model.tokenizer, texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| tokens[i]);
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let embedded =
                model.embed(&inputs, Some(BATCH)).map_err(|e| EmbedError::Model(e.to_string()))?;
            for (&i, vector) in batch.iter().zip(embedded) {
                vectors[i] = normalized(vector);
            }
            done += batch.len();
            progress(done);
        }
        Ok(vectors)
    }

    /// Embeds a search query.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut embedded = lock(&self.queries)?
            .embed([text], Some(1))
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        Ok(normalized(embedded.pop().unwrap_or_default()))
    }
}

/// How many tokens the model reads of each text (at most [`MAX_TOKENS`]).
fn token_counts(
    tokenizer: &tokenizers::Tokenizer,
    texts: &[&str],
) -> Result<Vec<usize>, EmbedError> {
    texts
        .iter()
        .map(|text| {
            tokenizer
                .encode(*text, true)
                .map(|encoding| encoding.len())
                .map_err(|e| EmbedError::Model(format!("cannot tokenize a text: {e}")))
        })
        .collect()
}

fn lock(
    model: &Mutex<TextEmbedding>,
) -> Result<std::sync::MutexGuard<'_, TextEmbedding>, EmbedError> {
    model.lock().map_err(|_| EmbedError::Model("a previous embedding call panicked".into()))
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}
