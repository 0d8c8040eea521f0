//! Real git repositories made with git2, and an indexer over a temporary data dir.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use git2::{Repository, Signature};
use indexer::{
    CloneOptions, Embedder, EmbedderConfig, Hit, Indexer, IndexerConfig, JobStatus, Mode,
    SearchQuery, Source, VectorSpace, finished,
};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name)
}

/// A git work tree in a temporary folder.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl GitRepo {
    pub fn new() -> GitRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        GitRepo { dir, repo }
    }

    /// A repository whose first commit holds a copy of a fixture's files.
    pub fn from_fixture(name: &str) -> GitRepo {
        let git = GitRepo::new();
        copy_tree(&fixture(name), git.path());
        git.commit("initial import");
        git
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, path: &str, text: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    /// Stages everything (deletions included) and commits; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let author = Signature::now("Test", "test@example.com").unwrap();
        let parents: Vec<git2::Commit> =
            self.repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &author, &author, message, &tree, &parents)
            .unwrap()
            .to_string()
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// An indexer whose database and clones live in a temporary data dir.
pub struct TestIndexer {
    pub data: tempfile::TempDir,
    pub indexer: Arc<Indexer>,
}

impl TestIndexer {
    /// Structure and lexical search only: no embedding model.
    pub async fn new() -> TestIndexer {
        let data = tempfile::tempdir().unwrap();
        let indexer = open(data.path(), None, Default::default()).await;
        TestIndexer { data, indexer }
    }

    /// Structure and lexical search only, with these clone limits and credentials.
    pub async fn with_clones(clones: CloneOptions) -> TestIndexer {
        let data = tempfile::tempdir().unwrap();
        let indexer = open(data.path(), None, clones).await;
        TestIndexer { data, indexer }
    }

    /// With the embedding model: jobs embed, and semantic and hybrid search work.
    pub async fn with_embedder() -> TestIndexer {
        let data = tempfile::tempdir().unwrap();
        let indexer = open(data.path(), Some(embedder()), Default::default()).await;
        TestIndexer { data, indexer }
    }

    /// With this embedder (a remote endpoint's, say).
    pub async fn with(embedder: Arc<Embedder>) -> TestIndexer {
        let data = tempfile::tempdir().unwrap();
        let indexer = open(data.path(), Some(embedder), Default::default()).await;
        TestIndexer { data, indexer }
    }

    /// Another indexer over the same data dir with this embedder, as after a restart with
    /// another `index.embeddings`.
    pub async fn restart_with(&self, embedder: Arc<Embedder>) -> Arc<Indexer> {
        open(self.data.path(), Some(embedder), Default::default()).await
    }

    /// Another indexer over the same data dir, as after a restart.
    pub async fn restart(&self) -> Arc<Indexer> {
        open(self.data.path(), None, Default::default()).await
    }

    /// Another indexer over the same data dir, with the embedding model.
    pub async fn restart_with_embedder(&self) -> Arc<Indexer> {
        open(self.data.path(), Some(embedder()), Default::default()).await
    }

    pub async fn index(&self, source: Source, branch: Option<&str>) -> JobStatus {
        let job = self.indexer.submit(source, branch.map(String::from), None).await.unwrap();
        finished(job).await
    }
}

/// The assets `scripts/setup.sh` put in place (it runs before the tests).
pub fn assets() -> EmbedderConfig {
    let dir = std::env::var_os("AGENTWATCH_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        cache.join("agentwatch/assets")
    });
    EmbedderConfig {
        onnxruntime: dir.join("onnxruntime/libonnxruntime.so"),
        model_dir: dir.join("models/all-MiniLM-L6-v2"),
        threads: None,
    }
}

/// One embedding model for every test of the process.
pub fn embedder() -> Arc<Embedder> {
    static EMBEDDER: OnceLock<Arc<Embedder>> = OnceLock::new();
    Arc::clone(
        EMBEDDER
            .get_or_init(|| Arc::new(Embedder::local(&assets()).unwrap_or_else(|e| panic!("{e}")))),
    )
}

async fn open(data: &Path, embedder: Option<Arc<Embedder>>, clones: CloneOptions) -> Arc<Indexer> {
    let storage = storage::testing::open(data).await;
    let vectors = embedder.as_ref().map_or_else(VectorSpace::local, |e| e.space());
    let config =
        IndexerConfig { clones, embedder, vectors, ..IndexerConfig::in_data_dir(data, storage) };
    Indexer::open(config).await.unwrap()
}

pub fn local(path: &Path) -> Source {
    Source::parse(path.to_str().unwrap()).unwrap()
}

/// A search of every repository for `text`, five hits.
pub fn query(text: &str, mode: Mode) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        mode,
        repos: Vec::new(),
        language: None,
        path_glob: None,
        kind: None,
        limit: 5,
        offset: 0,
    }
}

/// Hits as `path:symbol`, best first.
pub fn top(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| format!("{}:{}", h.path, h.symbol.as_deref().unwrap_or("-"))).collect()
}
