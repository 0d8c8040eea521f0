//! From a text of any length — an issue, a stack trace, a log, a failing test's output — to the
//! files and symbols it is about, each with the evidence that put it there.
//!
//! Four signals, each a ranked list of files and of symbols, fused by weighted reciprocal rank:
//! - **mentions**: what the text names (frames, paths, exceptions, identifiers; `mentions.rs`)
//!   resolved in the graph ([`RepoGraph::anchors`]) — the strongest when present;
//! - **fields**: the files ranked as wholes, BM25F over path, names, docstrings and body
//!   (`file_index.rs`);
//! - **chunks**: the chunks' BM25, summed per file over its best chunks;
//! - **meaning**: the text embedded in pieces (not only its first window), each piece's nearest
//!   chunks, the best similarity per file.
//!
//! Then the graph: the callers and callees of the symbols the fusion puts first get a share of
//! their score (a decay), and so do their files.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::file_index::{FileRow, Terms};
use crate::graph::{RepoGraph, SymbolRef};
use crate::jobs::{IndexError, Indexer, blocking};
use crate::mentions::{Frame, Mentions, mentions};
use crate::query::NameMatch;
use crate::search::{Hit, Mode, SearchQuery};
use crate::words::{WordWeights, weigh};

/// Why a file or symbol is thought relevant.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// A stack frame in this file (its function as the trace names it, and the line).
    Frame { function: Option<String>, line: Option<u32> },
    /// The text names this file (as written; absolute paths are matched by their ends).
    Path { written: String, line: Option<u32> },
    /// The text names this symbol's exception type.
    Exception(String),
    /// The text names this symbol.
    Identifier(String),
    /// Words of the text the file holds (as written in the text).
    Terms(Vec<String>),
    /// A chunk of the file (these lines) is close in meaning to a piece of the text.
    Similar { start_line: u32, end_line: u32, similarity: f32 },
    /// Reached through the graph: this symbol calls, or is called by, one the text points at.
    Neighbour { of: String, calls: bool },
}

/// A file, or a symbol within it, that the text points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    pub file: usize,
    pub symbol: Option<SymbolRef>,
    /// How sure: 1 for a frame or path that can only mean this file, shared out when a name
    /// or a bare file name fits several.
    pub weight: f32,
    pub evidence: Evidence,
}

/// A name fitting more places than this says too little to anchor anything (`get`, `run`).
const MAX_NAMESAKES: usize = 8;

impl RepoGraph {
    /// The files and symbols `mentions` point at, strongest first.
    pub fn anchors(&self, mentions: &Mentions) -> Vec<Anchor> {
        let mut anchors = Vec::new();
        // The frame that failed counts most, each caller less: 1, 2/3, 1/2, 2/5…
        let mut depth = 0;
        for frame in &mentions.frames {
            let before = anchors.len();
            self.anchor_frame(frame, &mut anchors);
            if frame.path.is_some() && anchors.len() > before {
                for anchor in &mut anchors[before..] {
                    anchor.weight /= 1.0 + depth as f32 / 2.0;
                }
                depth += 1;
            }
        }
        // A frame's file is a path of the text too; as a frame it is already counted.
        let framed = |path: &str| mentions.frames.iter().any(|f| f.path.as_deref() == Some(path));
        for path in mentions.paths.iter().filter(|p| !framed(&p.path)) {
            let files = self.files_ending_with(&path.path);
            let weight = 1.0 / files.len().max(1) as f32;
            for file in files {
                let symbol =
                    path.line.and_then(|line| self.symbol_at(&self.files[file].path, line));
                let evidence = Evidence::Path { written: path.path.clone(), line: path.line };
                anchors.push(Anchor { file, symbol, weight, evidence });
            }
        }
        for exception in &mentions.exceptions {
            let name = exception.rsplit('.').next().unwrap_or(exception);
            self.anchor_name(name, Evidence::Exception(exception.clone()), &mut anchors);
        }
        for identifier in &mentions.identifiers {
            self.anchor_name(identifier, Evidence::Identifier(identifier.clone()), &mut anchors);
        }
        anchors.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        anchors
    }

    fn anchor_frame(&self, frame: &Frame, anchors: &mut Vec<Anchor>) {
        let evidence = Evidence::Frame { function: frame.function.clone(), line: frame.line };
        let files = frame.path.as_deref().map(|p| self.files_ending_with(p)).unwrap_or_default();
        if files.is_empty() {
            // A Rust frame without a file, or a file outside the repository: its function may
            // still be one of the repository's.
            if let Some(function) = &frame.function {
                self.anchor_name(function, evidence, anchors);
            }
            return;
        }
        let weight = 1.0 / files.len() as f32;
        for file in files {
            let symbol = frame.line.and_then(|line| self.symbol_at(&self.files[file].path, line));
            anchors.push(Anchor { file, symbol, weight, evidence: evidence.clone() });
        }
    }

    /// Symbols named `name` (its last segment, when the name is qualified and the qualified
    /// form is not known), the weight shared among them.
    fn anchor_name(&self, name: &str, evidence: Evidence, anchors: &mut Vec<Anchor>) {
        let mut found = self.find_symbols(name, NameMatch::Exact, None, MAX_NAMESAKES + 1);
        if found.is_empty() {
            let last = name.rsplit(['.', ':']).next().unwrap_or(name);
            if last != name && last.len() > 2 {
                found = self.find_symbols(last, NameMatch::Exact, None, MAX_NAMESAKES + 1);
            }
        }
        if found.is_empty() || found.len() > MAX_NAMESAKES {
            return;
        }
        let weight = 1.0 / found.len() as f32;
        for symbol in found {
            anchors.push(Anchor {
                file: symbol.file,
                symbol: Some(symbol),
                weight,
                evidence: evidence.clone(),
            });
        }
    }

    /// The repository's files whose path ends with `written`'s last components, as many of them
    /// as match best: `/home/ci/app/shop/cart.py` finds `shop/cart.py`; `cart.py` finds every
    /// file of that name.
    pub fn files_ending_with(&self, written: &str) -> Vec<usize> {
        let wanted: Vec<&str> = written.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let Some(name) = wanted.last() else { return Vec::new() };
        let mut best: HashMap<usize, usize> = HashMap::new();
        for (index, file) in self.files.iter().enumerate() {
            if !file.path.ends_with(name) {
                continue;
            }
            let have: Vec<&str> = file.path.split('/').collect();
            let shared =
                have.iter().rev().zip(wanted.iter().rev()).take_while(|(h, w)| h == w).count();
            // All of what is written, or all of the file's path below a checkout elsewhere
            // (`/home/ci/app/shop/cart.py`, `site-packages/requests/api.py`), or, for an
            // absolute path, any of its end.
            let enough = shared == wanted.len()
                || shared == have.len()
                || written.starts_with('/') && shared > 0;
            if enough {
                best.insert(index, shared);
            }
        }
        let most = best.values().copied().max().unwrap_or(0);
        let mut files: Vec<usize> =
            best.into_iter().filter(|&(_, shared)| shared == most).map(|(f, _)| f).collect();
        files.sort_unstable();
        files
    }
}

/// The lists locate fuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Mentions,
    Fields,
    Chunks,
    Meaning,
}

impl Signal {
    pub const ALL: [Signal; 4] =
        [Signal::Mentions, Signal::Fields, Signal::Chunks, Signal::Meaning];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Mentions => "mentions",
            Signal::Fields => "fields",
            Signal::Chunks => "chunks",
            Signal::Meaning => "meaning",
        }
    }
}

/// How the signals are fused: each one's weight, how a list's items are scored, and how much of
/// a symbol's score its callers and callees get (`decay`), from the first `seeds` symbols.
#[derive(Debug, Clone, PartialEq)]
pub struct Fusion {
    pub weights: [(Signal, f32); 4],
    pub combine: Combine,
    pub decay: f32,
    pub seeds: usize,
}

/// How an item of a signal's list is scored before the weights apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    /// By its rank r (from 1): `1 / (k + r)` — reciprocal rank fusion.
    Ranks { k: f32 },
    /// By its own score over the list's best: a file far behind the first stays far behind.
    Scores,
}

/// Chosen on the tuning half of 420 real bug fixes (`bench_locate score`, BENCHMARKS.md): the
/// best of the fusions that score lists by their scores and weigh what the text names at least as
/// much as any other signal (the pairs are commit messages, which seldom carry a stack trace, so
/// they cannot weigh one): MRR 0.670 on the tuning half, 0.704 on the reporting half, against
/// 0.587 for the best single ranking. The best of all 24,576 fusions tried did no better (0.676
/// and 0.692).
impl Default for Fusion {
    fn default() -> Fusion {
        Fusion {
            weights: [
                (Signal::Mentions, 1.0),
                (Signal::Fields, 1.0),
                (Signal::Chunks, 0.5),
                (Signal::Meaning, 1.0),
            ],
            combine: Combine::Scores,
            decay: 0.5,
            seeds: 5,
        }
    }
}

/// One signal's ranking: files (by index in the graph) and symbols, best first, with the
/// signal's own scores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ranked {
    pub files: Vec<(usize, f32)>,
    pub symbols: Vec<(SymbolRef, f32)>,
}

impl Ranked {
    /// Sorts scores per file and per symbol, best first.
    fn from_scores(files: HashMap<usize, f32>, symbols: HashMap<SymbolRef, f32>) -> Ranked {
        let mut files: Vec<(usize, f32)> = files.into_iter().collect();
        let mut symbols: Vec<(SymbolRef, f32)> = symbols.into_iter().collect();
        files.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        symbols.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ranked { files, symbols }
    }
}

/// Every signal's ranking of one repository for one text, and the callers (`true`) and callees
/// of the symbols ranked: what the fusion needs, and no more, so that a benchmark can keep it and
/// fuse it again with other weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rankings {
    pub lists: Vec<(Signal, Ranked)>,
    pub neighbours: Vec<(SymbolRef, Vec<(SymbolRef, bool)>)>,
}

/// The fusion's result: files and symbols, best first, and for a symbol reached through the
/// graph, the symbol it was reached from and whether it calls that one.
#[derive(Debug, Clone, Default)]
pub struct Fused {
    pub files: Vec<(usize, f32)>,
    pub symbols: Vec<(SymbolRef, f32)>,
    pub reached: HashMap<SymbolRef, (SymbolRef, bool)>,
}

impl Rankings {
    pub fn fuse(&self, fusion: &Fusion) -> Fused {
        let weight =
            |signal: Signal| fusion.weights.iter().find(|(s, _)| *s == signal).map_or(0.0, |w| w.1);
        let mut files: HashMap<usize, f32> = HashMap::new();
        let mut symbols: HashMap<SymbolRef, f32> = HashMap::new();
        let part = |rank: usize, score: f32, best: f32| match fusion.combine {
            Combine::Ranks { k } => 1.0 / (k + rank as f32 + 1.0),
            Combine::Scores if best > 0.0 => score / best,
            Combine::Scores => 0.0,
        };
        for (signal, ranked) in &self.lists {
            let weight = weight(*signal);
            let best = ranked.files.first().map_or(0.0, |f| f.1);
            for (rank, &(file, score)) in ranked.files.iter().enumerate() {
                *files.entry(file).or_default() += weight * part(rank, score, best);
            }
            let best = ranked.symbols.first().map_or(0.0, |s| s.1);
            for (rank, &(symbol, score)) in ranked.symbols.iter().enumerate() {
                *symbols.entry(symbol).or_default() += weight * part(rank, score, best);
            }
        }
        let mut seeds: Vec<(SymbolRef, f32)> = symbols.iter().map(|(s, v)| (*s, *v)).collect();
        seeds.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        seeds.truncate(fusion.seeds);
        // A neighbour gets a share of its strongest seed's score (not of each: in a small, tightly
        // knit repository every file neighbours every seed).
        let mut shares: HashMap<SymbolRef, (f32, SymbolRef, bool)> = HashMap::new();
        if fusion.decay > 0.0 {
            for (seed, score) in seeds {
                let Some((_, near)) = self.neighbours.iter().find(|(s, _)| *s == seed) else {
                    continue;
                };
                for &(symbol, calls) in near {
                    let share = fusion.decay * score;
                    let best = shares.entry(symbol).or_insert((0.0, seed, calls));
                    if share > best.0 {
                        *best = (share, seed, calls);
                    }
                }
            }
        }
        let mut file_shares: HashMap<usize, f32> = HashMap::new();
        let mut reached = HashMap::new();
        for (symbol, (share, seed, calls)) in shares {
            *symbols.entry(symbol).or_default() += share;
            let best = file_shares.entry(symbol.file).or_default();
            *best = best.max(share);
            reached.insert(symbol, (seed, calls));
        }
        for (file, share) in file_shares {
            *files.entry(file).or_default() += share;
        }
        let Ranked { files, symbols } = Ranked::from_scores(files, symbols);
        let positive = |score: &f32| *score > 0.0;
        Fused {
            files: files.into_iter().filter(|(_, s)| positive(s)).collect(),
            symbols: symbols.into_iter().filter(|(_, s)| positive(s)).collect(),
            reached,
        }
    }
}

/// A file the text is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub path: String,
    pub language: String,
    pub score: f32,
    /// Its symbols the text points at, best first.
    pub symbols: Vec<LocatedSymbol>,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocatedSymbol {
    pub name: String,
    pub kind: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub evidence: Vec<Evidence>,
}

/// How many files each of the lexical and semantic lists reads.
const DEPTH: usize = 50;
/// A file's chunk score sums its best this many chunks.
const CHUNKS_PER_FILE: usize = 3;
/// The text is embedded in pieces of about this many characters (the model reads 256 tokens)…
const PIECE_CHARS: usize = 900;
/// …and no more than this many of them.
const MAX_PIECES: usize = 8;
/// The symbols of each list whose callers and callees are looked up, for the fusion to reach.
const NEIGHBOURED: usize = 10;
/// Symbols per located file.
const SYMBOLS_PER_FILE: usize = 5;

/// The BM25F fields' weights: a term in the path counts twice what it does in a name, a
/// docstring or the body (chosen with the fusion, BENCHMARKS.md).
pub const FIELD_WEIGHTS: [(&str, f32); 4] =
    [("path", 2.0), ("names", 1.0), ("docs", 1.0), ("body", 1.0)];

/// The signals' rankings, and the evidence behind them.
#[derive(Debug, Clone)]
pub struct Signals {
    pub graph: Arc<RepoGraph>,
    pub rankings: Rankings,
    file_evidence: HashMap<usize, Vec<Evidence>>,
    symbol_evidence: HashMap<SymbolRef, Vec<Evidence>>,
}

impl Indexer {
    /// The files of a repository (and the symbols within them) that `text` is about, best
    /// first, each with the evidence that put it there.
    pub async fn locate(
        &self,
        repo: &str,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Located>, IndexError> {
        let signals = self.locate_signals(repo, text).await?;
        let fused = signals.rankings.fuse(&Fusion::default());
        let graph = Arc::clone(&signals.graph);
        let top: Vec<(usize, f32)> = fused.files.iter().copied().take(limit).collect();
        let paths: Vec<String> = top.iter().map(|&(f, _)| graph.files[f].path.clone()).collect();
        let bodies = self.search.file_bodies(repo, &paths).await?;
        let text = text.to_owned();
        blocking(move || {
            let mut terms = Terms::new();
            let words = written_words(&text, &mut terms);
            top.into_iter()
                .map(|(file, score)| {
                    let path = &graph.files[file].path;
                    let mut evidence =
                        signals.file_evidence.get(&file).cloned().unwrap_or_default();
                    if let Some(body) = bodies.get(path) {
                        let held: HashSet<String> = terms.of(body).into_iter().collect();
                        let matched: Vec<String> = words
                            .iter()
                            .filter(|(_, t)| t.iter().any(|t| held.contains(t)))
                            .map(|(w, _)| w.clone())
                            .take(12)
                            .collect();
                        if !matched.is_empty() {
                            evidence.push(Evidence::Terms(matched));
                        }
                    }
                    let symbols = fused
                        .symbols
                        .iter()
                        .filter(|(s, _)| s.file == file)
                        .take(SYMBOLS_PER_FILE)
                        .map(|&(s, score)| {
                            let symbol = graph.symbol(s);
                            let mut evidence =
                                signals.symbol_evidence.get(&s).cloned().unwrap_or_default();
                            if let Some(&(seed, calls)) = fused.reached.get(&s) {
                                let of = graph.symbol(seed).qualified.clone();
                                evidence.push(Evidence::Neighbour { of, calls });
                            }
                            LocatedSymbol {
                                name: symbol.qualified.clone(),
                                kind: symbol.kind.as_str().to_owned(),
                                start_line: symbol.start_line,
                                end_line: symbol.end_line,
                                score,
                                evidence,
                            }
                        })
                        .collect();
                    Located {
                        path: path.clone(),
                        language: graph.files[file].facts.language.name().to_owned(),
                        score,
                        symbols,
                        evidence,
                    }
                })
                .collect()
        })
        .await
    }

    /// Each signal's ranking of a repository's files and symbols for `text`, unfused (for
    /// [`Indexer::locate`], and for choosing the fusion's weights on data).
    pub async fn locate_signals(&self, repo: &str, text: &str) -> Result<Signals, IndexError> {
        let vectors = match &self.config.embedder {
            Some(_)
                if self.search.count(repo).await? > self.search.count_unembedded(repo).await? =>
            {
                self.embed_pieces(text).await?
            }
            _ => Vec::new(),
        };
        self.locate_signals_with(repo, text, Some(&WordWeights::default()), &vectors).await
    }

    /// [`Indexer::locate_signals`] with the text's words weighted by `words` (or one bag of
    /// equal words) and its pieces already embedded (none: no meaning signal).
    pub async fn locate_signals_with(
        &self,
        repo: &str,
        text: &str,
        words: Option<&WordWeights>,
        vectors: &[Vec<f32>],
    ) -> Result<Signals, IndexError> {
        let graph = self.graph(repo).await?;
        self.fill_file_index(repo, &graph).await?;
        let anchors = graph.anchors(&mentions(text));
        let mut signals = Signals {
            graph: Arc::clone(&graph),
            rankings: Rankings::default(),
            file_evidence: HashMap::new(),
            symbol_evidence: HashMap::new(),
        };
        let mentioned = signals.mentioned(&anchors);
        let fields = self.search.rank_files(repo, text, &FIELD_WEIGHTS, words, DEPTH).await?;
        let fields = Ranked {
            files: fields
                .into_iter()
                .filter_map(|(p, s)| Some((graph.file_index(&p)?, s)))
                .collect(),
            symbols: Vec::new(),
        };
        let query = |mode| SearchQuery {
            text: text.to_owned(),
            mode,
            repos: vec![repo.to_owned()],
            language: None,
            path_glob: None,
            kind: None,
            limit: DEPTH,
            offset: 0,
        };
        let chunks = self.search.search_with(&query(Mode::Lexical), &[], words).await?;
        let chunks = signals.chunks(&chunks);
        let mut meaning = Vec::new();
        for vector in vectors {
            meaning.push(self.search.search(&query(Mode::Semantic), &[vector]).await?);
        }
        let meaning = signals.meaning(&meaning);
        signals.rankings.lists = vec![
            (Signal::Mentions, mentioned),
            (Signal::Fields, fields),
            (Signal::Chunks, chunks),
            (Signal::Meaning, meaning),
        ];
        signals.rankings.neighbours = signals.neighbours();
        Ok(signals)
    }

    /// Writes the file index's rows of a repository indexed before it existed.
    async fn fill_file_index(&self, repo: &str, graph: &Arc<RepoGraph>) -> Result<(), IndexError> {
        if graph.files.is_empty() || self.search.count_files(repo).await? > 0 {
            return Ok(());
        }
        let Some(record) = self.store().repo(repo).await? else { return Ok(()) };
        let hashes = self.store().file_hashes(repo).await?;
        let (graph, root) = (Arc::clone(graph), record.checkout.clone());
        let rows: Vec<FileRow> = blocking(move || {
            let wanted = graph.files.iter().map(|f| f.path.as_str()).collect();
            crate::search::rows_for(&graph, &root, &wanted, &hashes).files
        })
        .await?;
        self.search.fill_files(repo, &rows).await?;
        Ok(())
    }
}

impl Signals {
    fn file_evidence(&mut self, file: usize, evidence: Evidence) {
        let known = self.file_evidence.entry(file).or_default();
        if !known.contains(&evidence) {
            known.push(evidence);
        }
    }

    fn symbol_evidence(&mut self, symbol: SymbolRef, evidence: Evidence) {
        let known = self.symbol_evidence.entry(symbol).or_default();
        if !known.contains(&evidence) {
            known.push(evidence);
        }
    }

    /// Frames and paths count twice what a name does: they say where, a name only what.
    fn mentioned(&mut self, anchors: &[Anchor]) -> Ranked {
        let (mut files, mut symbols) = (HashMap::new(), HashMap::new());
        for anchor in anchors {
            let weight = match anchor.evidence {
                Evidence::Frame { .. } | Evidence::Path { .. } => 2.0 * anchor.weight,
                _ => anchor.weight,
            };
            *files.entry(anchor.file).or_insert(0.0) += weight;
            if let Some(symbol) = anchor.symbol {
                *symbols.entry(symbol).or_insert(0.0) += weight;
                self.symbol_evidence(symbol, anchor.evidence.clone());
            }
            self.file_evidence(anchor.file, anchor.evidence.clone());
        }
        Ranked::from_scores(files, symbols)
    }

    /// Each file's best chunks' BM25, summed.
    fn chunks(&mut self, hits: &[Hit]) -> Ranked {
        let (mut files, mut symbols) = (HashMap::new(), HashMap::new());
        let mut counted: HashMap<usize, usize> = HashMap::new();
        for hit in hits {
            let Some(file) = self.graph.file_index(&hit.path) else { continue };
            let seen = counted.entry(file).or_default();
            if *seen < CHUNKS_PER_FILE {
                *seen += 1;
                *files.entry(file).or_insert(0.0) += hit.score;
            }
            if let Some(symbol) = self.symbol_of(hit) {
                let best: &mut f32 = symbols.entry(symbol).or_insert(0.0);
                *best = best.max(hit.score);
            }
        }
        Ranked::from_scores(files, symbols)
    }

    /// Each file's and symbol's best similarity to any piece of the text.
    fn meaning(&mut self, pieces: &[Vec<Hit>]) -> Ranked {
        let (mut files, mut symbols) = (HashMap::new(), HashMap::new());
        for hit in pieces.iter().flatten() {
            let Some(file) = self.graph.file_index(&hit.path) else { continue };
            let best: &mut f32 = files.entry(file).or_insert(0.0);
            *best = best.max(hit.score);
            let Some(symbol) = self.symbol_of(hit) else { continue };
            let best: &mut f32 = symbols.entry(symbol).or_insert(0.0);
            if hit.score > *best {
                *best = hit.score;
                let known = self.symbol_evidence.entry(symbol).or_default();
                known.retain(|e| !matches!(e, Evidence::Similar { .. }));
                known.push(Evidence::Similar {
                    start_line: hit.start_line,
                    end_line: hit.end_line,
                    similarity: hit.score,
                });
            }
        }
        Ranked::from_scores(files, symbols)
    }

    /// The callers and callees of each list's first symbols.
    fn neighbours(&self) -> Vec<(SymbolRef, Vec<(SymbolRef, bool)>)> {
        let mut seen = HashSet::new();
        let mut neighbours = Vec::new();
        for (_, ranked) in &self.rankings.lists {
            for &(symbol, _) in ranked.symbols.iter().take(NEIGHBOURED) {
                if !seen.insert(symbol) {
                    continue;
                }
                let callers = self.graph.callers(symbol, 1).into_iter().map(|(s, ..)| (s, true));
                let callees = self.graph.callees(symbol, 1).into_iter().map(|(s, ..)| (s, false));
                let near: Vec<(SymbolRef, bool)> = callers.chain(callees).collect();
                if !near.is_empty() {
                    neighbours.push((symbol, near));
                }
            }
        }
        neighbours
    }

    fn symbol_of(&self, hit: &Hit) -> Option<SymbolRef> {
        hit.symbol.as_ref()?;
        self.graph.symbol_at(&hit.path, hit.start_line)
    }
}

/// The text as the embedding model should read it: whole when it fits one window (about
/// [`PIECE_CHARS`]), else in pieces of about that size, at most [`MAX_PIECES`]. A piece holds
/// whole paragraphs where they fit, so a report's description is not read mixed with the log
/// pasted before it; a longer paragraph is cut at line ends, a longer line where it must be.
pub fn pieces(text: &str) -> Vec<String> {
    if text.len() <= PIECE_CHARS {
        return vec![text.to_owned()];
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !piece.is_empty() && piece.len() + paragraph.len() > PIECE_CHARS {
            pieces.push(std::mem::take(&mut piece));
        }
        if paragraph.len() <= PIECE_CHARS {
            piece.push_str(paragraph);
            piece.push_str("\n\n");
            continue;
        }
        for line in paragraph.lines() {
            let mut line = line.trim_end();
            if !piece.is_empty() && piece.len() + line.len() > PIECE_CHARS {
                pieces.push(std::mem::take(&mut piece));
            }
            while line.len() > PIECE_CHARS {
                let cut = line.floor_char_boundary(PIECE_CHARS);
                pieces.push(line[..cut].to_owned());
                line = &line[cut..];
            }
            piece.push_str(line);
            piece.push('\n');
        }
        pieces.push(std::mem::take(&mut piece));
    }
    pieces.push(piece);
    pieces.retain(|p| !p.trim().is_empty());
    pieces.truncate(MAX_PIECES);
    pieces
}

/// The text's distinct words as written, each with the terms the index makes of it: the
/// strongest first in a long text (`words.rs`), else in the text's order.
fn written_words(text: &str, terms: &mut Terms) -> Vec<(String, Vec<String>)> {
    let mut seen = HashSet::new();
    let mut words: Vec<(String, Vec<String>)> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.len() > 2 && seen.insert(w.to_owned()))
        .filter_map(|w| {
            let made = terms.of(w);
            (!made.is_empty()).then(|| (w.to_owned(), made))
        })
        .collect();
    if let Some(weighed) = weigh(text, &WordWeights::default(), terms) {
        let strength: HashMap<String, usize> =
            weighed.iter().enumerate().map(|(i, w)| (w.written.to_lowercase(), i)).collect();
        words.sort_by_key(|(w, _)| strength.get(&w.to_lowercase()).copied().unwrap_or(usize::MAX));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_is_embedded_whole_and_as_written() {
        let text = "where do we retry failed uploads?\n\n  `upload_part` gives up at once";
        assert_eq!(pieces(text), [text]);
    }

    #[test]
    fn a_long_text_is_cut_between_paragraphs_and_a_long_line_where_it_must_be() {
        let log: String = (0..30).map(|n| format!("12:00:{n:02} worker heartbeat ok\n")).collect();
        let description = "After paying, no receipt arrives.";
        let line = "x".repeat(2 * PIECE_CHARS + 10);
        let text = format!("{log}\n{description}\n\n{line}");

        let pieces = pieces(&text);

        assert!(pieces.iter().all(|p| p.len() <= PIECE_CHARS + 2), "{pieces:?}");
        let with_description: Vec<&String> =
            pieces.iter().filter(|p| p.contains(description)).collect();
        assert_eq!(with_description.len(), 1);
        assert!(pieces.iter().all(|p| p.trim() != ""));
        let xs: usize = pieces.iter().map(|p| p.matches('x').count()).sum();
        assert_eq!(xs, line.len(), "every character of the long line is read once");
    }

    #[test]
    fn no_more_pieces_than_the_cap_are_embedded() {
        let text: String =
            (0..40).map(|n| format!("{}\n\n", format!("paragraph {n} ").repeat(40))).collect();
        assert_eq!(pieces(&text).len(), MAX_PIECES);
    }

    #[test]
    fn a_neighbour_gets_a_share_of_its_strongest_seed_once() {
        let s = |file, symbol| SymbolRef { file, symbol };
        let rankings = Rankings {
            lists: vec![(
                Signal::Chunks,
                Ranked {
                    files: vec![(0, 4.0), (1, 2.0)],
                    symbols: vec![(s(0, 0), 4.0), (s(1, 0), 2.0)],
                },
            )],
            // File 2's function is called by both ranked symbols.
            neighbours: vec![(s(0, 0), vec![(s(2, 0), false)]), (s(1, 0), vec![(s(2, 0), false)])],
        };
        let fusion = Fusion { combine: Combine::Scores, decay: 0.25, ..Fusion::default() };

        let fused = rankings.fuse(&fusion);

        let score = |file| fused.files.iter().find(|f| f.0 == file).unwrap().1;
        // Chunks weigh 0.5: file 0 scores 0.5 × 4/4, file 1 0.5 × 2/4; file 2 a quarter of 0.5.
        assert_eq!(score(0), 0.5);
        assert_eq!(score(1), 0.25);
        assert_eq!(score(2), 0.125);
        assert_eq!(fused.reached[&s(2, 0)], (s(0, 0), false));
        assert!(rankings.fuse(&Fusion { decay: 0.0, ..fusion }).files.iter().all(|f| f.0 != 2));
    }
}
