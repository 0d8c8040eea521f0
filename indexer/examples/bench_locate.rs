//! Localisation benchmark on real bug fixes (`scripts/locate-pairs.py` mines them from history):
//! each pair's query is a fix commit's message, its answer the source files the fix changed, to
//! be found at the commit's parent.
//!
//!     bench_locate run <pairs.jsonl> <mirrors> <data dir> <lists.jsonl>
//!     bench_locate score <lists.jsonl>
//!     bench_locate latency <data dir> <checkout> <text file>
//!
//! - `run`: for each pair, oldest first per repository, checks out the parent (`git archive` of
//!   `<mirrors>/<owner+name>/repo`) into one folder per repository and indexes it there (so each
//!   index is incremental over the last, vectors of unchanged chunks kept), then writes each
//!   ranking's files for the pair: `search_code` in each mode (files in the order of their first
//!   chunk), a file-level BM25 over the whole text of each file, and each of locate's signals.
//!   Pairs already in `<lists.jsonl>` are skipped, so a run can be resumed.
//! - `score`: Acc@1/5/10 (an answer file among the first k) and MRR (of the first answer file)
//!   of every ranking on the tuning and the reporting half: `search_code` in each mode, file-level
//!   BM25 and BM25F, each of locate's signals alone, and locate's fusion — at its defaults, and
//!   at the weights, fields weighting, scoring and decay that do best on the tuning half (a
//!   grid), reported on the other half and per repository.
//! - `latency`: indexes the checkout (with embeddings; once per data dir), then times `locate`
//!   on 50 reports of 4,000 characters cut from the text file at line ends (tokio's
//!   `CHANGELOG.md`: bug reports' words, identifiers and paths), after 5 to warm up; p50 and p95.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

mod common;

use common::{assets, open, timed_job};
use indexer::locate::{Combine, FIELD_WEIGHTS, Fusion, Rankings, Signal};
use indexer::words::WordWeights;
use indexer::{Embedder, LocalModel, Mode, SearchQuery, Source};
use serde_json::{Value, json};

/// How deep each ranking is kept.
const DEPTH: usize = 50;

/// File-level rankings: plain BM25 over each file's text (`body`, the baseline), and BM25F over
/// path, names, docstrings and body at several weights, for choosing locate's.
const FIELD_VARIANTS: &[(&str, &[(&str, f32)])] = &[
    ("body", &[("body", 1.0)]),
    ("fields_1111", &[("path", 1.0), ("names", 1.0), ("docs", 1.0), ("body", 1.0)]),
    ("fields_2111", &[("path", 2.0), ("names", 1.0), ("docs", 1.0), ("body", 1.0)]),
    ("fields_1211", &[("path", 1.0), ("names", 2.0), ("docs", 1.0), ("body", 1.0)]),
    ("fields_1121", &[("path", 1.0), ("names", 1.0), ("docs", 2.0), ("body", 1.0)]),
    ("fields_3221", &[("path", 3.0), ("names", 2.0), ("docs", 2.0), ("body", 1.0)]),
];

/// How a long text's words are weighted, for choosing locate's and `search_code`'s: as one bag
/// of equal words (`plain`), by title, code and repeats, and BM25's weight against the meaning in
/// a hybrid search. (A first run also tried equal weights, repeats alone, code ×2 and title and
/// code ×2 with and without repeats: BENCHMARKS.md.)
const WORD_VARIANTS: &[(&str, Option<WordWeights>)] = &[
    ("plain", None),
    ("title2_lexical0.5", Some(WordWeights { title: 2.0, code: 1.0, repeats: 0.0, lexical: 0.5 })),
    ("title2_lexical1", Some(WordWeights { title: 2.0, code: 1.0, repeats: 0.0, lexical: 1.0 })),
    ("title2_lexical2", Some(WordWeights { title: 2.0, code: 1.0, repeats: 0.0, lexical: 2.0 })),
    ("title2_lexical4", Some(WordWeights { title: 2.0, code: 1.0, repeats: 0.0, lexical: 4.0 })),
    (
        "title3_code3_repeats",
        Some(WordWeights { title: 3.0, code: 3.0, repeats: 0.5, lexical: 2.0 }),
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["run", pairs, mirrors, data, out] => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(run(
                Path::new(pairs),
                Path::new(mirrors),
                Path::new(data),
                Path::new(out),
            ));
        }
        ["score", lists] => score(Path::new(lists)),
        ["latency", data, checkout, text] => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(latency(Path::new(data), Path::new(checkout), Path::new(text)));
        }
        _ => {
            eprintln!(
                "usage: bench_locate run <pairs.jsonl> <mirrors> <data dir> <lists.jsonl> | score <lists.jsonl>"
            );
            std::process::exit(2);
        }
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn run(pairs: &Path, mirrors: &Path, data: &Path, out: &Path) {
    let model = Arc::new(LocalModel::load(&assets()).unwrap_or_else(|e| panic!("{e}")));
    let indexer = open(data, Arc::new(Embedder::Local(model))).await;
    let done: HashSet<String> =
        read_lines(out).iter().map(|l| l["commit"].as_str().unwrap().to_owned()).collect();
    let mut writer = std::fs::OpenOptions::new().create(true).append(true).open(out).unwrap();
    for pair in read_lines(pairs) {
        let commit = pair["commit"].as_str().unwrap();
        if done.contains(commit) {
            continue;
        }
        let (repo, parent) = (pair["repo"].as_str().unwrap(), pair["parent"].as_str().unwrap());
        let checkout = data.join("checkouts").join(repo);
        check_out(&mirror(mirrors, repo), parent, &checkout);
        let started = std::time::Instant::now();
        let (_, _, status) =
            timed_job(&indexer, Source::parse(checkout.to_str().unwrap()).unwrap()).await;
        let indexed = started.elapsed();
        let id = status.repo.id.clone();
        let text = pair["query"].as_str().unwrap();

        let query = |mode| SearchQuery {
            text: text.to_owned(),
            mode,
            repos: vec![id.clone()],
            language: None,
            path_glob: None,
            kind: None,
            limit: DEPTH * 2,
            offset: 0,
        };
        let files_of = |hits: Vec<indexer::Hit>| {
            let mut files: Vec<String> = Vec::new();
            for hit in hits {
                if !files.contains(&hit.path) {
                    files.push(hit.path);
                }
            }
            files.truncate(DEPTH);
            files
        };
        let mut lists = serde_json::Map::new();
        for mode in Mode::ALL {
            let hits = indexer.search(&query(mode)).await.unwrap();
            lists.insert(format!("search_{}", mode.as_str()), json!(files_of(hits)));
        }
        let signals = indexer.locate_signals(&id, text).await.unwrap();
        let graph = &signals.graph;

        // Each weighting of the words: search_code's lexical and hybrid rankings, the fields
        // ranking, and locate's at its default fusion.
        let vectors = indexer.embed_pieces(text).await.unwrap();
        let pieces: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let index = indexer.search_index();
        let mut words = serde_json::Map::new();
        for (name, weights) in WORD_VARIANTS {
            let weights = weights.as_ref();
            let search = |mode| {
                let (query, pieces) = (query(mode), &pieces);
                async move { files_of(index.search_with(&query, pieces, weights).await.unwrap()) }
            };
            let fields = index.rank_files(&id, text, &FIELD_WEIGHTS, weights, DEPTH).await.unwrap();
            let located = indexer.locate_signals_with(&id, text, weights, &vectors).await.unwrap();
            let located = located.rankings.fuse(&Fusion::default());
            let located: Vec<&str> =
                located.files.iter().map(|&(f, _)| graph.files[f].path.as_str()).collect();
            words.insert(
                (*name).into(),
                json!({
                    "lexical": search(Mode::Lexical).await,
                    "hybrid": search(Mode::Hybrid).await,
                    "fields": fields.into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
                    "located": located,
                }),
            );
        }

        let mut variants = serde_json::Map::new();
        for (name, weights) in FIELD_VARIANTS {
            let files = index.rank_files(&id, text, weights, None, DEPTH).await.unwrap();
            let files: Vec<(usize, f32)> =
                files.into_iter().filter_map(|(p, s)| Some((graph.file_index(&p)?, s))).collect();
            variants.insert((*name).into(), json!(files));
        }
        // The files the rankings name, by index: all the fusion needs to be run again.
        let rankings = &signals.rankings;
        let mut named: HashSet<usize> = HashSet::new();
        for (_, ranked) in &rankings.lists {
            named.extend(ranked.files.iter().map(|&(f, _)| f));
            named.extend(ranked.symbols.iter().map(|(s, _)| s.file));
        }
        for (_, near) in &rankings.neighbours {
            named.extend(near.iter().map(|(s, _)| s.file));
        }
        for files in variants.values() {
            let files: Vec<(usize, f32)> = serde_json::from_value(files.clone()).unwrap();
            named.extend(files.iter().map(|&(f, _)| f));
        }
        let paths: HashMap<String, &str> = named
            .into_iter()
            .map(|f| (f.to_string(), signals.graph.files[f].path.as_str()))
            .collect();
        let record = json!({
            "repo": repo, "commit": commit, "half": pair["half"], "files": pair["files"],
            "chars": text.len(), "lists": lists, "rankings": rankings, "paths": paths,
            "fields": variants, "words": words,
        });
        writeln!(writer, "{record}").unwrap();
        eprintln!(
            "{repo} {} indexed in {:.1} s ({} chunks embedded)",
            &commit[..10],
            indexed.as_secs_f64(),
            status.chunks_to_embed
        );
    }
}

/// The mirror of a repository named in the pairs (`requests` → `psf+requests`).
fn mirror(mirrors: &Path, repo: &str) -> std::path::PathBuf {
    let entries = std::fs::read_dir(mirrors).unwrap();
    let dir = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().ends_with(&format!("+{repo}")))
        .unwrap_or_else(|| panic!("no mirror of {repo} in {}", mirrors.display()));
    dir.join("repo")
}

/// Replaces `dir`'s contents with the tree of `commit`.
fn check_out(git_dir: &Path, commit: &str, dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let archive = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["archive", "--format=tar", commit])
        .output()
        .unwrap();
    assert!(archive.status.success(), "{}", String::from_utf8_lossy(&archive.stderr));
    let mut tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tar.stdin.take().unwrap().write_all(&archive.stdout).unwrap();
    assert!(tar.wait().unwrap().success());
}

/// A pair as `run` left it: its answer and every ranking's files.
struct Pair {
    repo: String,
    half: String,
    answer: HashSet<String>,
    /// The baselines' files, best first.
    lists: HashMap<String, Vec<String>>,
    rankings: Rankings,
    /// The fields ranking at each weighting of `FIELD_VARIANTS`, the words as one bag.
    fields: HashMap<String, Vec<(usize, f32)>>,
    paths: HashMap<usize, String>,
    /// At each weighting of `WORD_VARIANTS`: the `lexical`, `hybrid`, `fields` and `located`
    /// files.
    words: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Pair {
    fn read(record: &Value) -> Pair {
        fn field<T: serde::de::DeserializeOwned>(record: &Value, name: &str) -> T {
            serde_json::from_value(record[name].clone()).unwrap()
        }
        let paths: HashMap<String, String> = field(record, "paths");
        Pair {
            repo: field(record, "repo"),
            half: field(record, "half"),
            answer: field(record, "files"),
            lists: field(record, "lists"),
            rankings: field(record, "rankings"),
            fields: field(record, "fields"),
            paths: paths.into_iter().map(|(k, v)| (k.parse().unwrap(), v)).collect(),
            words: field(record, "words"),
        }
    }

    /// Locate's files, fused with `fusion`, the fields ranking at the `fields` weighting (its
    /// own, with the words weighted, at `OWN_FIELDS`).
    fn located(&self, fusion: &Fusion, fields: &str) -> Vec<&str> {
        let mut rankings = self.rankings.clone();
        for (signal, ranked) in &mut rankings.lists {
            if *signal == Signal::Fields && fields != OWN_FIELDS {
                ranked.files = self.fields[fields].clone();
            }
        }
        rankings.fuse(fusion).files.iter().map(|(f, _)| self.paths[f].as_str()).collect()
    }

    /// One of locate's signals alone.
    fn signal(&self, signal: Signal) -> Vec<&str> {
        let ranked = self.rankings.lists.iter().find(|(s, _)| *s == signal);
        ranked.map_or_else(Vec::new, |(_, r)| {
            r.files.iter().map(|(f, _)| self.paths[f].as_str()).collect()
        })
    }

    /// The rank (from 0) of the first answer file among `files`.
    fn first(&self, files: &[&str]) -> Option<usize> {
        files.iter().position(|f| self.answer.contains(*f))
    }
}

/// Acc@1, Acc@5, Acc@10 and MRR of the first answers' ranks.
fn measure(firsts: impl Iterator<Item = Option<usize>>) -> [f64; 4] {
    let mut sums = [0.0; 4];
    let mut n: f64 = 0.0;
    for first in firsts {
        for (i, k) in [1, 5, 10].into_iter().enumerate() {
            sums[i] += f64::from(first.is_some_and(|r| r < k));
        }
        sums[3] += first.map_or(0.0, |r| 1.0 / (r as f64 + 1.0));
        n += 1.0;
    }
    sums.map(|s| s / n.max(1.0))
}

/// Locate's own fields ranking: BM25 over its fields at their default weights, the words
/// weighted.
const OWN_FIELDS: &str = "own";

/// Every fusion the tuning tries.
fn grid() -> Vec<(Fusion, &'static str)> {
    let weights = [0.0, 0.5, 1.0, 2.0];
    let mut grid = Vec::new();
    for m in weights {
        for f in weights {
            for c in weights {
                for s in weights {
                    for decay in [0.0, 0.1, 0.25, 0.5] {
                        for combine in [
                            Combine::Scores,
                            Combine::Ranks { k: 5.0 },
                            Combine::Ranks { k: 10.0 },
                            Combine::Ranks { k: 60.0 },
                        ] {
                            let fields = FIELD_VARIANTS.iter().map(|(f, _)| *f);
                            for fields in fields.chain([OWN_FIELDS]) {
                                let weights = [
                                    (Signal::Mentions, m),
                                    (Signal::Fields, f),
                                    (Signal::Chunks, c),
                                    (Signal::Meaning, s),
                                ];
                                let fusion = Fusion { weights, combine, decay, seeds: 5 };
                                grid.push((fusion, fields));
                            }
                        }
                    }
                }
            }
        }
    }
    grid
}

fn score(path: &Path) {
    let pairs: Vec<Pair> = read_lines(path).iter().map(Pair::read).collect();
    let half = |name: &'static str| pairs.iter().filter(move |p| p.half == name);
    let row = |label: &str, rank: &(dyn Fn(&Pair) -> Option<usize> + Sync)| {
        let [t, r] = ["tune", "report"].map(|h| measure(half(h).map(rank)));
        println!(
            "| {label:<34} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            t[0], t[1], t[2], t[3], r[0], r[1], r[2], r[3]
        );
    };
    println!("pairs: {} tuning, {} reporting", half("tune").count(), half("report").count());
    println!(
        "| ranking | tune Acc@1 | Acc@5 | Acc@10 | MRR | report Acc@1 | Acc@5 | Acc@10 | MRR |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for list in ["search_lexical", "search_semantic", "search_hybrid"] {
        row(list, &|p| p.first(&p.lists[list].iter().map(String::as_str).collect::<Vec<_>>()));
    }
    for (fields, _) in FIELD_VARIANTS {
        row(&format!("file BM25F {fields}"), &|p| {
            p.first(&p.fields[*fields].iter().map(|(f, _)| p.paths[f].as_str()).collect::<Vec<_>>())
        });
    }
    for s in Signal::ALL {
        row(&format!("locate: {} alone", s.as_str()), &|p| p.first(&p.signal(s)));
    }
    let default = Fusion::default();
    let default_fields = OWN_FIELDS;
    row("locate (defaults)", &|p| p.first(&p.located(&default, default_fields)));

    // Each weighting of a long text's words.
    println!(
        "\n| words | ranking | tune Acc@1 | Acc@5 | Acc@10 | MRR | report Acc@1 | Acc@5 | Acc@10 | MRR |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, _) in WORD_VARIANTS {
        for list in ["lexical", "hybrid", "fields", "located"] {
            print!("| {name} ");
            row(list, &|p| {
                p.first(&p.words[*name][list].iter().map(String::as_str).collect::<Vec<_>>())
            });
        }
    }
    println!();

    // The fusion that does best on the tuning half, by MRR: over the whole grid, and for each
    // way of scoring a list's items.
    use rayon::prelude::*;
    let tune: Vec<&Pair> = half("tune").collect();
    let tried: Vec<(f64, Fusion, &str)> = grid()
        .into_par_iter()
        .map(|(fusion, fields)| {
            let mrr = measure(tune.iter().map(|p| p.first(&p.located(&fusion, fields))))[3];
            (mrr, fusion, fields)
        })
        .collect();
    let best = |keep: &dyn Fn(&Fusion) -> bool| {
        let (_, fusion, fields) =
            tried.iter().filter(|(_, f, _)| keep(f)).max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
        (fusion.clone(), *fields)
    };
    for (label, combine) in [
        ("scores", Combine::Scores),
        ("ranks k=5", Combine::Ranks { k: 5.0 }),
        ("ranks k=10", Combine::Ranks { k: 10.0 }),
        ("ranks k=60", Combine::Ranks { k: 60.0 }),
    ] {
        let (fusion, fields) = best(&|f| f.combine == combine);
        row(&format!("locate (tuned, {label})"), &|p| p.first(&p.located(&fusion, fields)));
        println!("  {fusion:?}, fields {fields}");
    }
    let (tuned, fields) = best(&|_| true);
    row("locate (tuned)", &|p| p.first(&p.located(&tuned, fields)));
    println!("  {tuned:?}, fields {fields}");
    // Few commit messages carry a stack trace, so these pairs cannot weigh what a trace says;
    // locate's defaults keep it weighed (and score lists by their scores: ranks cannot tell a
    // file far ahead from one just ahead, which decides in a small repository).
    let mentioned = |f: &Fusion| f.combine == Combine::Scores && f.weights[0].1 >= 2.0;
    let (chosen, fields) = best(&mentioned);
    row("locate (tuned, scores, mentions ≥ 2)", &|p| p.first(&p.located(&chosen, fields)));
    println!("  {chosen:?}, fields {fields}");

    // Each repository's reporting half: the tuned locate against the baselines.
    let mut repos: Vec<&str> = pairs.iter().map(|p| p.repo.as_str()).collect();
    repos.sort_unstable();
    repos.dedup();
    println!("\n| repository (reporting half) | pairs | file BM25 | lexical | hybrid | locate |");
    println!("|---|---|---|---|---|---|");
    for repo in repos {
        let these: Vec<&Pair> = half("report").filter(|p| p.repo == repo).collect();
        let mrr = |rank: &dyn Fn(&Pair) -> Option<usize>| measure(these.iter().map(|p| rank(p)))[3];
        let list = |name: &'static str| {
            move |p: &Pair| p.first(&p.lists[name].iter().map(String::as_str).collect::<Vec<_>>())
        };
        println!(
            "| {repo} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            these.len(),
            mrr(&|p| p.first(
                &p.fields["body"].iter().map(|(f, _)| p.paths[f].as_str()).collect::<Vec<_>>()
            )),
            mrr(&list("search_lexical")),
            mrr(&list("search_hybrid")),
            mrr(&|p| p.first(&p.located(&tuned, fields))),
        );
    }
}

/// Reports of about `chars` characters cut from `text` at line ends, one after another.
fn reports(text: &str, chars: usize, count: usize) -> Vec<String> {
    let mut reports = Vec::new();
    let mut report = String::new();
    for line in text.lines() {
        if report.len() + line.len() > chars {
            reports.push(std::mem::take(&mut report));
            if reports.len() == count {
                break;
            }
        }
        report.push_str(line);
        report.push('\n');
    }
    reports
}

async fn latency(data: &Path, checkout: &Path, text: &Path) {
    let model = Arc::new(LocalModel::load(&assets()).unwrap_or_else(|e| panic!("{e}")));
    let indexer = open(data, Arc::new(Embedder::Local(model))).await;
    let source = Source::parse(checkout.to_str().unwrap()).unwrap();
    let (_, took, status) = timed_job(&indexer, source).await;
    let stats = &status.repo.stats;
    println!(
        "repository   {} ({} files, {} lines, {} chunks; indexed in {:.0} s)",
        checkout.display(),
        stats.files,
        stats.lines,
        stats.chunks,
        took.as_secs_f64()
    );
    let reports = reports(&std::fs::read_to_string(text).unwrap(), 4000, 55);
    let mut times = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let started = std::time::Instant::now();
        let located = indexer.locate(&status.repo.id, report, 10).await.unwrap();
        assert!(!located.is_empty());
        if i >= 5 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "locate       {} reports of {}-{} chars: p50 {:.0} ms, p95 {:.0} ms",
        times.len(),
        reports.iter().map(String::len).min().unwrap(),
        reports.iter().map(String::len).max().unwrap(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100])
    );
}
