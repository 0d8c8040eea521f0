//! Turns repositories into a symbol and dependency graph, and answers questions about it.
//!
//! Invariant: no HTTP, MCP or JSON wire formats here; callers pass plain config structs, and this
//! crate never reads environment variables or config files itself.

pub mod beneath;
mod chunk;
pub mod clone;
pub mod egress;
pub mod embed;
pub mod file_index;
mod fresh;
pub mod graph;
pub mod jobs;
pub mod locate;
pub mod mentions;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod pipeline;
pub mod query;
mod resolve;
mod schedule;
pub mod search;
pub mod source;
pub mod store;
pub mod walk;
pub mod watch;
pub mod words;

pub use clone::{CloneOptions, GitCredential};
pub use embed::{Embedder, EmbedderConfig, LocalModel, RemoteConfig, VectorSpace};
pub use grammars::Language;
pub use graph::{Edge, Node, RepoGraph, SourceFile, SymbolRef, Unresolved};
pub use jobs::{IndexError, Indexer, IndexerConfig, JobState, JobStatus, LEASE, TIDYING, finished};
pub use model::{Chunk, FileFacts, Import, ImportedName, RefKind, Reference, Symbol, SymbolKind};
pub use parse::parse_file;
pub use pipeline::{IndexOptions, Indexed, index_directory};
pub use query::{Impact, NameMatch, Site};
pub use search::{Hit, Mode, SearchQuery};
pub use source::{Source, SourceError};
pub use store::{ClaimedJob, IndexStats, RepoRecord, RepoSettings, Store, StoreError};
pub use walk::{SkipReason, WalkError, WalkOptions};
pub use watch::WatchOptions;
