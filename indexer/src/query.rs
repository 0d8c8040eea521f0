//! Structural questions about one repository's graph: where is X, what is in this file, who uses
//! this, what breaks if it changes, and which symbols matter most (the repo map).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use crate::graph::{RepoGraph, SymbolRef};
use crate::model::{RefKind, SymbolKind};

/// How a symbol name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    /// The name or the qualified name, exactly.
    Exact,
    /// Names starting with the query, ignoring case.
    Prefix,
    /// Ranked fuzzy matching (the characters in order, best matches first).
    Fuzzy,
}

impl std::str::FromStr for NameMatch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fuzzy" => Ok(NameMatch::Fuzzy),
            "prefix" => Ok(NameMatch::Prefix),
            "exact" => Ok(NameMatch::Exact),
            other => Err(format!("unknown match {other:?}: use fuzzy, prefix or exact")),
        }
    }
}

/// A place that refers to a symbol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub file: usize,
    pub line: u32,
    /// The symbol holding the reference; `None` for top-level code.
    pub from: Option<SymbolRef>,
    pub kind: RefKind,
    /// `false` for a use of the same name whose target could not be established.
    pub resolved: bool,
}

/// What a change to a symbol may break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impact {
    /// Transitive callers with their distance.
    pub callers: Vec<(SymbolRef, usize)>,
    /// Files holding those callers, and files that import the symbol's file, transitively.
    pub files: Vec<String>,
}

impl RepoGraph {
    /// Symbols whose name matches `query`, best first, optionally of one kind.
    pub fn find_symbols(
        &self,
        query: &str,
        how: NameMatch,
        kind: Option<SymbolKind>,
        limit: usize,
    ) -> Vec<SymbolRef> {
        let candidates = self.symbols().filter(|&s| kind.is_none_or(|k| self.symbol(s).kind == k));
        let mut found: Vec<(SymbolRef, u32)> = match how {
            NameMatch::Exact => candidates
                .filter(|&s| self.symbol(s).name == query || self.symbol(s).qualified == query)
                .map(|s| (s, 0))
                .collect(),
            NameMatch::Prefix => {
                let query = query.to_lowercase();
                candidates
                    .filter(|&s| self.symbol(s).name.to_lowercase().starts_with(&query))
                    .map(|s| (s, 0))
                    .collect()
            }
            NameMatch::Fuzzy => {
                let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
                let mut matcher = Matcher::new(Config::DEFAULT);
                let mut buf = Vec::new();
                candidates
                    .filter_map(|s| {
                        let name = &self.symbol(s).qualified;
                        pattern
                            .score(Utf32Str::new(name, &mut buf), &mut matcher)
                            .map(|score| (s, score))
                    })
                    .collect()
            }
        };
        // Best score first; among equals, the shorter matched text (the closer match), then position.
        let matched_len = |s: SymbolRef| match how {
            NameMatch::Fuzzy => self.symbol(s).qualified.len(),
            NameMatch::Exact | NameMatch::Prefix => self.symbol(s).name.len(),
        };
        found.sort_by(|a, b| {
            b.1.cmp(&a.1).then_with(|| matched_len(a.0).cmp(&matched_len(b.0))).then(a.0.cmp(&b.0))
        });
        found.into_iter().take(limit).map(|(s, _)| s).collect()
    }

    /// A symbol's source text, read from the checkout at `root` (never through a symlink).
    pub fn source(&self, root: &Path, symbol: SymbolRef) -> std::io::Result<String> {
        let file = &self.files[symbol.file];
        let text = crate::beneath::read_text(root, &file.path).map_err(std::io::Error::other)?;
        let s = self.symbol(symbol);
        let (start, end) = (s.start_byte as usize, s.end_byte as usize);
        match text.get(start..end) {
            Some(source) => Ok(source.to_owned()),
            None => Err(std::io::Error::other(format!(
                "{} changed since it was indexed: re-index the repository",
                file.path
            ))),
        }
    }

    /// The symbols of one file in order, each with its nesting depth.
    pub fn outline(&self, file: usize) -> Vec<(SymbolRef, usize)> {
        let symbols = &self.files[file].facts.symbols;
        (0..symbols.len())
            .map(|s| {
                let depth =
                    std::iter::successors(symbols[s].parent, |p| symbols[*p as usize].parent)
                        .count();
                (SymbolRef { file, symbol: s }, depth)
            })
            .collect()
    }

    /// The innermost symbol of the file at `path` whose lines hold `line` (1-based): where a
    /// finding or a stack frame sits in the graph.
    pub fn symbol_at(&self, path: &str, line: u32) -> Option<SymbolRef> {
        let file = self.file_index(path)?;
        let symbols = &self.files[file].facts.symbols;
        (0..symbols.len())
            .filter(|&s| symbols[s].start_line <= line && line <= symbols[s].end_line)
            .min_by_key(|&s| symbols[s].end_line - symbols[s].start_line)
            .map(|symbol| SymbolRef { file, symbol })
    }

    /// Every place that refers to `symbol`: resolved calls and inheritance first, then uses of the
    /// same name whose target could not be established (possible references).
    pub fn references(&self, symbol: SymbolRef) -> Vec<Site> {
        let mut sites: Vec<Site> = self
            .incoming(symbol)
            .into_iter()
            .map(|(from_file, from, kind, line)| Site {
                file: from_file,
                line,
                from,
                kind,
                resolved: true,
            })
            .collect();
        let name = &self.symbol(symbol).name;
        sites.extend(self.unresolved.iter().filter(|u| &u.name == name).map(|u| Site {
            file: u.file,
            line: u.line,
            from: u.from.map(|s| SymbolRef { file: u.file, symbol: s }),
            kind: u.kind,
            resolved: false,
        }));
        sites.sort_by(|a, b| b.resolved.cmp(&a.resolved).then_with(|| a.cmp(b)));
        sites
    }

    /// What a change to `symbol` may break: its callers up to `depth` hops, and the files that
    /// hold them or depend on the symbol's file.
    pub fn impact(&self, symbol: SymbolRef, depth: usize) -> Impact {
        let callers: Vec<(SymbolRef, usize)> =
            self.callers(symbol, depth).into_iter().map(|(s, d, _)| (s, d)).collect();
        let mut files: BTreeSet<String> =
            callers.iter().map(|(s, _)| self.files[s.file].path.clone()).collect();
        let mut queue = VecDeque::from([symbol.file]);
        let mut seen = HashSet::from([symbol.file]);
        while let Some(file) = queue.pop_front() {
            for dependent in self.dependents_of(file) {
                if let Some(index) = self.file_index(&dependent)
                    && seen.insert(index)
                {
                    files.insert(dependent);
                    queue.push_back(index);
                }
            }
        }
        files.remove(&self.files[symbol.file].path);
        Impact { callers, files: files.into_iter().collect() }
    }

    /// The most central symbols (PageRank over calls and inheritance), grouped by file, as text
    /// that fits in about `budget_tokens` tokens (four characters to a token).
    pub fn repo_map(&self, budget_tokens: usize) -> String {
        let ranked = self.ranked_symbols();
        let budget = budget_tokens.saturating_mul(4);
        let mut chosen: Vec<SymbolRef> = Vec::new();
        let mut used = 0;
        let mut files_seen = HashSet::new();
        for symbol in ranked {
            let mut cost = self.symbol(symbol).signature.len() + 6;
            if files_seen.insert(symbol.file) {
                cost += self.files[symbol.file].path.len() + 1;
            }
            if used + cost > budget {
                if used == 0 {
                    continue; // one long signature must not hide every other symbol
                }
                break;
            }
            used += cost;
            chosen.push(symbol);
        }
        let mut by_file: Vec<(usize, Vec<SymbolRef>)> = Vec::new();
        for symbol in &chosen {
            match by_file.iter_mut().find(|(f, _)| *f == symbol.file) {
                Some((_, list)) => list.push(*symbol),
                None => by_file.push((symbol.file, vec![*symbol])),
            }
        }
        let mut out = String::new();
        for (file, mut symbols) in by_file {
            symbols.sort();
            let _ = writeln!(out, "{}", self.files[file].path);
            for symbol in symbols {
                let outline_depth = self.outline(file)[symbol.symbol].1;
                let _ = writeln!(
                    out,
                    "{}{}",
                    "  ".repeat(outline_depth + 1),
                    self.symbol(symbol).signature
                );
            }
        }
        out
    }

    /// Every symbol, most central first: PageRank over "uses" links (calls and inheritance point
    /// at what they use; a member points at its type).
    fn ranked_symbols(&self) -> Vec<SymbolRef> {
        let symbols: Vec<SymbolRef> = self.symbols().collect();
        let position: HashMap<SymbolRef, usize> =
            symbols.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let mut links: Vec<(usize, usize)> = Vec::new();
        for (i, &symbol) in symbols.iter().enumerate() {
            for (_, from, _, _) in self.incoming(symbol) {
                if let Some(&from) = from.and_then(|f| position.get(&f)) {
                    links.push((from, i));
                }
            }
            if let Some(parent) = self.symbol(symbol).parent {
                links
                    .push((i, position[&SymbolRef { file: symbol.file, symbol: parent as usize }]));
            }
        }
        let rank = page_rank(symbols.len(), &links, 0.85, 30);
        let mut order: Vec<usize> = (0..symbols.len()).collect();
        order.sort_by(|&a, &b| rank[b].total_cmp(&rank[a]).then(a.cmp(&b)));
        order.into_iter().map(|i| symbols[i]).collect()
    }

    fn incoming(&self, symbol: SymbolRef) -> Vec<(usize, Option<SymbolRef>, RefKind, u32)> {
        self.edges_into(symbol)
    }
}

/// PageRank by power iteration over an edge list: O(iterations × edges), where a dense
/// formulation is quadratic in the nodes. Rank from nodes without out-links is spread evenly.
fn page_rank(nodes: usize, links: &[(usize, usize)], damping: f64, iterations: usize) -> Vec<f64> {
    if nodes == 0 {
        return Vec::new();
    }
    let mut out_degree = vec![0usize; nodes];
    for &(from, _) in links {
        out_degree[from] += 1;
    }
    let n = nodes as f64;
    let mut rank = vec![1.0 / n; nodes];
    for _ in 0..iterations {
        let dangling: f64 = (0..nodes).filter(|&i| out_degree[i] == 0).map(|i| rank[i]).sum();
        let base = (1.0 - damping) / n + damping * dangling / n;
        let mut next = vec![base; nodes];
        for &(from, to) in links {
            next[to] += damping * rank[from] / out_degree[from] as f64;
        }
        rank = next;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::page_rank;

    #[test]
    fn page_rank_favours_what_is_used_and_sums_to_one() {
        // 0 → 2, 1 → 2, 2 → 3: 2 is used twice, 3 once through 2.
        let rank = page_rank(4, &[(0, 2), (1, 2), (2, 3)], 0.85, 50);
        assert!((rank.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(rank[3] > rank[2] && rank[2] > rank[0] && (rank[0] - rank[1]).abs() < 1e-12);
    }
}
