//! Indexing a checkout: walk it, decide which files need parsing, parse those in parallel, and
//! count what happened on the way. Storage and jobs are the caller's (see `jobs.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::graph::{RepoGraph, SourceFile};
use crate::parse::{TIMED_OUT, parse_file};
use crate::store::StoredFile;
use crate::walk::{self, Candidate, SkipReason, WalkError, WalkOptions, check_content};

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

/// What is known from the last index of the same checkout.
#[derive(Debug, Default)]
pub struct Previous {
    /// Content hash of every file indexed last time.
    pub hashes: HashMap<String, String>,
    /// Files changed since then, when git can tell; `None` means every file's hash is checked.
    pub changed: Option<HashSet<String>>,
}

/// The result of one pass over a checkout.
#[derive(Debug, Default)]
pub struct Pass {
    /// Files read and parsed in this pass.
    pub parsed: Vec<StoredFile>,
    /// Files whose stored facts are still right.
    pub unchanged: Vec<String>,
    /// Files indexed before that are gone (or no longer indexable).
    pub deleted: Vec<String>,
    pub skipped: BTreeMap<SkipReason, u32>,
    pub duration: Duration,
}

impl Pass {
    pub fn files(&self) -> usize {
        self.parsed.len() + self.unchanged.len()
    }
}

enum Outcome {
    Parsed(StoredFile),
    Unchanged(String),
    Skipped(SkipReason),
}

/// Walks `root` and parses what changed since `previous`. `progress(done, total)` is called as
/// files are handled, from several threads.
pub fn index_pass(
    root: &Path,
    options: &IndexOptions,
    previous: &Previous,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Pass, WalkError> {
    let started = Instant::now();
    let walked = walk::walk(root, &options.walk)?;
    let total = walked.files.len();
    let done = AtomicUsize::new(0);
    let outcomes: Vec<Outcome> = walked
        .files
        .into_par_iter()
        .map(|candidate| {
            let outcome = handle(root, options, previous, candidate);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            outcome
        })
        .collect();

    let mut pass = Pass { skipped: walked.skipped, ..Pass::default() };
    let mut present = HashSet::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Parsed(file) => {
                present.insert(file.path.clone());
                pass.parsed.push(file);
            }
            Outcome::Unchanged(path) => {
                present.insert(path.clone());
                pass.unchanged.push(path);
            }
            Outcome::Skipped(reason) => *pass.skipped.entry(reason).or_insert(0) += 1,
        }
    }
    pass.deleted = previous.hashes.keys().filter(|p| !present.contains(*p)).cloned().collect();
    pass.deleted.sort();
    pass.duration = started.elapsed();
    Ok(pass)
}

fn handle(
    root: &Path,
    options: &IndexOptions,
    previous: &Previous,
    candidate: Candidate,
) -> Outcome {
    let known = previous.hashes.get(&candidate.path);
    // Git vouches for files outside its diff, except those whose last parse did not finish.
    if let (Some(known), Some(changed)) = (known, &previous.changed)
        && !known.is_empty()
        && !covers(changed, &candidate.path)
    {
        return Outcome::Unchanged(candidate.path);
    }
    let Ok(bytes) = std::fs::read(root.join(&candidate.path)) else {
        return Outcome::Skipped(SkipReason::Unreadable);
    };
    let text = match check_content(&bytes) {
        Ok(text) => text,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let hash = blake3::hash(&bytes).to_hex().to_string();
    if known == Some(&hash) {
        return Outcome::Unchanged(candidate.path);
    }
    let facts = parse_file(candidate.language, text, options.parse_timeout);
    // A parse stopped at its deadline is retried next time (on a quieter machine, or a longer
    // deadline): no hash means "look again".
    let hash = if facts.diagnostics.iter().any(|d| d.starts_with(TIMED_OUT)) {
        String::new()
    } else {
        hash
    };
    Outcome::Parsed(StoredFile { path: candidate.path, hash, facts })
}

/// Whether git's list of changes covers `path`: the file itself, or a folder or submodule above
/// it (git reports a changed submodule or nested repository as one entry).
fn covers(changed: &HashSet<String>, path: &str) -> bool {
    changed.contains(path)
        || path
            .match_indices('/')
            .any(|(i, _)| changed.contains(&path[..i]) || changed.contains(&path[..=i]))
}

/// A whole index of `root` in memory, with nothing stored: for tests, benchmarks and one-off use.
#[derive(Debug)]
pub struct Indexed {
    pub graph: RepoGraph,
    pub skipped: BTreeMap<SkipReason, u32>,
    /// `path: message` for every file with a diagnostic.
    pub diagnostics: Vec<String>,
    pub lines: u64,
    pub duration: Duration,
}

pub fn index_directory(root: &Path, options: &IndexOptions) -> Result<Indexed, WalkError> {
    let started = Instant::now();
    let pass = index_pass(root, options, &Previous::default(), &|_, _| {})?;
    let files: Vec<SourceFile> = pass.parsed.into_iter().map(StoredFile::into_source).collect();
    let graph = RepoGraph::build(files);
    Ok(Indexed {
        diagnostics: graph.diagnostics(),
        lines: graph.lines(),
        graph,
        skipped: pass.skipped,
        duration: started.elapsed(),
    })
}
