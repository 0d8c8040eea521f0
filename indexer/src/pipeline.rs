//! Indexing a checkout end to end: walk, read, check, parse, build the graph, and count what
//! happened on the way.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::graph::{RepoGraph, SourceFile};
use crate::parse::parse_file;
use crate::walk::{self, SkipReason, WalkError, WalkOptions, check_content};

#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub walk: WalkOptions,
    /// A file whose parse runs longer than this is skipped with a diagnostic.
    pub parse_timeout: Duration,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { walk: WalkOptions::default(), parse_timeout: Duration::from_secs(5) }
    }
}

/// A problem with one file that did not stop the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostic {
    pub path: String,
    pub message: String,
}

#[derive(Debug)]
pub struct Indexed {
    pub graph: RepoGraph,
    pub skipped: BTreeMap<SkipReason, u32>,
    pub diagnostics: Vec<FileDiagnostic>,
    pub lines: u64,
    pub duration: Duration,
}

/// Indexes the directory at `root` (a checkout or a plain folder).
pub fn index_directory(root: &Path, options: &IndexOptions) -> Result<Indexed, WalkError> {
    let started = Instant::now();
    let walked = walk::walk(root, &options.walk)?;
    let mut skipped = walked.skipped;
    let mut files = Vec::with_capacity(walked.files.len());
    let mut diagnostics = Vec::new();
    let mut lines = 0u64;
    for candidate in walked.files {
        let bytes = match std::fs::read(root.join(&candidate.path)) {
            Ok(bytes) => bytes,
            Err(e) => {
                *skipped.entry(SkipReason::Unreadable).or_insert(0) += 1;
                diagnostics.push(FileDiagnostic {
                    path: candidate.path,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let text = match check_content(&bytes) {
            Ok(text) => text,
            Err(reason) => {
                *skipped.entry(reason).or_insert(0) += 1;
                continue;
            }
        };
        let facts = parse_file(candidate.language, text, options.parse_timeout);
        lines += u64::from(facts.lines);
        diagnostics.extend(
            facts
                .diagnostics
                .iter()
                .map(|m| FileDiagnostic { path: candidate.path.clone(), message: m.clone() }),
        );
        files.push(SourceFile { path: candidate.path, facts });
    }
    let graph = RepoGraph::build(files);
    Ok(Indexed { graph, skipped, diagnostics, lines, duration: started.elapsed() })
}
