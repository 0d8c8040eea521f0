//! Where what a text names lands in a repository's graph: each stack frame, path, exception and
//! identifier resolved to the files and symbols it can mean, with the evidence that put it there.
//! These anchors are the strongest signal localisation has; the text's remaining words are ranked
//! by search.

use std::collections::HashMap;

use crate::graph::{RepoGraph, SymbolRef};
use crate::mentions::{Frame, Mentions};
use crate::query::NameMatch;

/// Why a file or symbol is thought relevant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A stack frame in this file (its function as the trace names it, and the line).
    Frame { function: Option<String>, line: Option<u32> },
    /// The text names this file (as written; absolute paths are matched by their ends).
    Path { written: String, line: Option<u32> },
    /// The text names this symbol's exception type.
    Exception(String),
    /// The text names this symbol.
    Identifier(String),
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
        for frame in &mentions.frames {
            self.anchor_frame(frame, &mut anchors);
        }
        for path in &mentions.paths {
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
