//! Structural indexing throughput per language, on real repositories that
//! `scripts/bench-corpora.sh` fetches by package name:
//!
//!     cargo run --release -p indexer --example bench_languages -- go=<dir> java=<dir> …
//!
//! For each `language=folder`, indexes only that language's files in memory (walk, read, parse,
//! graph; no store, no embeddings), best of three, and prints a Markdown row: files, lines,
//! symbols, how many of the calls and supertypes written in the code the graph linked to a
//! definition, the time and LOC/s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use indexer::{IndexOptions, Language, RefKind, index_directory};

fn main() {
    let runs: Vec<(Language, PathBuf)> = std::env::args()
        .skip(1)
        .map(|arg| {
            let (name, dir) =
                arg.split_once('=').expect("usage: bench_languages <language>=<dir>…");
            let language =
                Language::from_name(name).unwrap_or_else(|| panic!("no language {name}"));
            (language, PathBuf::from(dir))
        })
        .collect();
    println!("threads: {}", rayon::current_num_threads());
    println!(
        "| language | corpus | files | lines | symbols | calls linked | supertypes linked | in-memory index | LOC/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (language, dir) in runs {
        // Everything but this language's files and the folders that may hold them.
        let mut exclude = vec!["*".to_owned(), "!*/".to_owned()];
        exclude.extend(language.config().extensions.iter().map(|e| format!("!*.{e}")));
        let mut options = IndexOptions::default();
        options.walk.exclude = exclude;

        let mut best = Duration::MAX;
        let mut indexed = None;
        for _ in 0..3 {
            let started = Instant::now();
            let run = index_directory(&dir, &options).expect("index");
            best = best.min(started.elapsed());
            indexed = Some(run);
        }
        let indexed = indexed.expect("three runs");
        let graph = &indexed.graph;
        assert!(graph.files.iter().all(|f| f.facts.language == language));
        let written = |kinds: &[RefKind]| {
            let all = graph.files.iter().flat_map(|f| &f.facts.references);
            let total = all.filter(|r| kinds.contains(&r.kind)).count();
            let open = graph.unresolved.iter().filter(|u| kinds.contains(&u.kind)).count();
            format!("{:.0}% of {total}", 100.0 * (total - open) as f64 / total.max(1) as f64)
        };
        println!(
            "| {language} | {} | {} | {} | {} | {} | {} | {:.0} ms | **{:.0}** |",
            dir.display(),
            graph.files.len(),
            indexed.lines,
            graph.symbol_count(),
            written(&[RefKind::Call]),
            written(&[RefKind::Inherits, RefKind::Implements]),
            best.as_secs_f64() * 1000.0,
            indexed.lines as f64 / best.as_secs_f64(),
        );
    }
}
