//! Indexing real repositories: the fixture repositories as golden graphs, and git repositories
//! built on the spot for cloning, incremental re-indexing and bad input.

mod bad_input;
mod chunks;
mod embed;
mod golden;
mod jobs;
mod locate;
mod mentions;
mod polyglot;
mod quality;
mod queries;
mod remote_embeddings;
mod search;
mod semantic;
mod support;
mod vector_index;
mod watch;
