//! The symbol and dependency graph of one repository, built from every file's facts.
//!
//! Nodes are the repository, its files, external packages and symbols. Edges: `contains`
//! (repository → file, type → member), `defines` (file → symbol), `imports` (file → file or
//! package), `calls`, `inherits` and `implements` (symbol → symbol). A call is linked only when its
//! target follows from scope, imports, `self`/`this` or the file's own definitions — or, where the
//! language makes names global (Ruby's constants, C's functions), from the one definition the
//! repository has of the name; anything else stays an [`Unresolved`] reference — never a guess.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use grammars::{ImportStyle, Language};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::model::{FileFacts, RefKind, Reference, Symbol, SymbolKind};
use crate::resolve::{Binding, Files, Module};

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Repository,
    File(usize),
    /// A package from outside the repository.
    External(String),
    Symbol(SymbolRef),
}

/// A symbol, by its file's index and its index within that file's facts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SymbolRef {
    pub file: usize,
    pub symbol: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Contains,
    Defines,
    Imports { line: u32 },
    Calls { line: u32 },
    Inherits { line: u32 },
    Implements { line: u32 },
}

impl Edge {
    pub fn as_str(self) -> &'static str {
        match self {
            Edge::Contains => "contains",
            Edge::Defines => "defines",
            Edge::Imports { .. } => "imports",
            Edge::Calls { .. } => "calls",
            Edge::Inherits { .. } => "inherits",
            Edge::Implements { .. } => "implements",
        }
    }
}

/// A reference whose target could not be established.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    pub file: usize,
    /// The symbol holding the reference, or `None` for top-level code.
    pub from: Option<usize>,
    pub kind: RefKind,
    pub name: String,
    pub line: u32,
}

/// One indexed file: its path relative to the repository root, and its facts.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub facts: FileFacts,
}

#[derive(Debug)]
pub struct RepoGraph {
    pub files: Vec<SourceFile>,
    graph: DiGraph<Node, Edge>,
    file_nodes: Vec<NodeIndex>,
    symbol_nodes: Vec<Vec<NodeIndex>>,
    pub unresolved: Vec<Unresolved>,
}

/// What a file can see by name.
#[derive(Default)]
struct Scope {
    bindings: HashMap<String, Binding>,
    globs: Vec<usize>,
    /// Types whose members it sees bare (C#'s `using static`).
    members_of: Vec<String>,
    /// The other files of its package, whose top-level names it sees as its own (Go, Java,
    /// Kotlin, C#, PHP).
    package: Vec<usize>,
}

impl RepoGraph {
    /// Builds the graph. `files` may come in any order; they are sorted by path.
    pub fn build(mut files: Vec<SourceFile>) -> RepoGraph {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut graph = DiGraph::new();
        let repo = graph.add_node(Node::Repository);
        let mut file_nodes = Vec::with_capacity(files.len());
        let mut symbol_nodes = Vec::with_capacity(files.len());
        for (f, file) in files.iter().enumerate() {
            let file_node = graph.add_node(Node::File(f));
            graph.add_edge(repo, file_node, Edge::Contains);
            file_nodes.push(file_node);
            let nodes: Vec<NodeIndex> = (0..file.facts.symbols.len())
                .map(|s| {
                    let node = graph.add_node(Node::Symbol(SymbolRef { file: f, symbol: s }));
                    graph.add_edge(file_node, node, Edge::Defines);
                    node
                })
                .collect();
            for (s, symbol) in file.facts.symbols.iter().enumerate() {
                if let Some(parent) = symbol.parent {
                    graph.add_edge(nodes[parent as usize], nodes[s], Edge::Contains);
                }
            }
            symbol_nodes.push(nodes);
        }
        let mut repo_graph =
            RepoGraph { files, graph, file_nodes, symbol_nodes, unresolved: Vec::new() };
        repo_graph.link();
        repo_graph
    }

    fn node(&self, symbol: SymbolRef) -> NodeIndex {
        self.symbol_nodes[symbol.file][symbol.symbol]
    }

    pub fn symbol(&self, symbol: SymbolRef) -> &Symbol {
        &self.files[symbol.file].facts.symbols[symbol.symbol]
    }

    /// Resolves imports, calls and inheritance into edges.
    fn link(&mut self) {
        let paths: Vec<String> = self.files.iter().map(|f| f.path.clone()).collect();
        let languages: Vec<Language> = self.files.iter().map(|f| f.facts.language).collect();
        let sources = self.files.iter().flat_map(|f| f.facts.imports.iter());
        let declared = self.files.iter().map(|f| f.facts.package.as_deref()).collect();
        let lookup = Files::new(&paths, &languages, declared, sources.map(|i| i.source.as_str()));
        let index = Index::new(&self.files);

        // Imports, and what each file can see by name.
        let mut scopes: Vec<Scope> = Vec::with_capacity(self.files.len());
        let mut externals: HashMap<String, NodeIndex> = HashMap::new();
        let mut edges = Vec::new();
        for (f, file) in self.files.iter().enumerate() {
            let mut scope = Scope { package: lookup.siblings(f), ..Scope::default() };
            let mut linked = HashSet::new();
            for import in &file.facts.imports {
                let mut resolved = lookup.resolve(f, file.facts.language, import);
                // `import com.x.formatPrice`: the package's files that define the name.
                for (_, binding) in &resolved.bindings {
                    if let Binding::InPackage { files, name } = binding {
                        let defining =
                            files.iter().filter(|&&d| index.top_level[d].contains_key(name));
                        resolved.modules.extend(defining.map(|&d| Module::File(d)));
                    }
                }
                for module in resolved.modules {
                    let target = match module {
                        Module::File(target) if target != f => self.file_nodes[target],
                        Module::External(name) => *externals
                            .entry(name.clone())
                            .or_insert_with(|| self.graph.add_node(Node::External(name))),
                        Module::File(_) | Module::Missing => continue,
                    };
                    if linked.insert(target) {
                        edges.push((
                            self.file_nodes[f],
                            target,
                            Edge::Imports { line: import.line },
                        ));
                    }
                }
                scope.bindings.extend(resolved.bindings);
                scope.globs.extend(resolved.globs);
                scope.members_of.extend(resolved.members_of);
            }
            scopes.push(scope);
        }

        // Impl blocks for types defined in another file: the type contains its methods.
        for (f, file) in self.files.iter().enumerate() {
            for (s, symbol) in file.facts.symbols.iter().enumerate() {
                if let (Some(container), None) = (&symbol.container, symbol.parent) {
                    let resolver = Resolver { files: &self.files, index: &index, scopes: &scopes };
                    if let Some(owner) = resolver.type_named(f, container) {
                        edges.push((
                            self.symbol_nodes[owner.file][owner.symbol],
                            self.symbol_nodes[f][s],
                            Edge::Contains,
                        ));
                    }
                }
            }
        }

        // Calls and inheritance.
        let resolver = Resolver { files: &self.files, index: &index, scopes: &scopes };
        let mut unresolved = Vec::new();
        for (f, file) in self.files.iter().enumerate() {
            for reference in &file.facts.references {
                let from = match (reference.kind, &reference.subject) {
                    (RefKind::Inherits | RefKind::Implements, Some(subject)) => {
                        resolver.local_type(f, subject).map(|s| s.symbol)
                    }
                    _ => reference.enclosing.map(|e| e as usize),
                };
                let from_node = from.map_or(self.file_nodes[f], |s| self.symbol_nodes[f][s]);
                match resolver.resolve(f, reference) {
                    Some(target) => {
                        let edge = match reference.kind {
                            RefKind::Call | RefKind::Macro => Edge::Calls { line: reference.line },
                            RefKind::Inherits => Edge::Inherits { line: reference.line },
                            RefKind::Implements => Edge::Implements { line: reference.line },
                        };
                        edges.push((
                            from_node,
                            self.symbol_nodes[target.file][target.symbol],
                            edge,
                        ));
                    }
                    None => unresolved.push(Unresolved {
                        file: f,
                        from,
                        kind: reference.kind,
                        name: reference.name.clone(),
                        line: reference.line,
                    }),
                }
            }
        }
        for (from, to, edge) in edges {
            self.graph.add_edge(from, to, edge);
        }
        self.unresolved = unresolved;
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    pub fn symbol_count(&self) -> usize {
        self.symbol_nodes.iter().map(Vec::len).sum()
    }

    /// Lines of source in all indexed files.
    pub fn lines(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.facts.lines)).sum()
    }

    /// `path: message` for every file's diagnostics, in path order.
    pub fn diagnostics(&self) -> Vec<String> {
        self.files
            .iter()
            .flat_map(|f| f.facts.diagnostics.iter().map(move |d| format!("{}: {d}", f.path)))
            .collect()
    }

    pub fn file_index(&self, path: &str) -> Option<usize> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok()
    }

    /// Every symbol, in file and position order.
    pub fn symbols(&self) -> impl Iterator<Item = SymbolRef> + '_ {
        self.files.iter().enumerate().flat_map(|(f, file)| {
            (0..file.facts.symbols.len()).map(move |s| SymbolRef { file: f, symbol: s })
        })
    }

    /// `path::Qualified::name`, the way symbols are named in dumps and messages.
    pub fn display(&self, symbol: SymbolRef) -> String {
        format!("{}::{}", self.files[symbol.file].path, self.symbol(symbol).qualified)
    }

    /// The symbols that call `symbol`, up to `depth` hops away, nearest first, with the line of
    /// the call. A call from top-level code has no symbol and is left out.
    pub fn callers(&self, symbol: SymbolRef, depth: usize) -> Vec<(SymbolRef, usize, u32)> {
        self.walk_calls(symbol, depth, Direction::Incoming)
    }

    /// The symbols `symbol` calls, up to `depth` hops away, nearest first.
    pub fn callees(&self, symbol: SymbolRef, depth: usize) -> Vec<(SymbolRef, usize, u32)> {
        self.walk_calls(symbol, depth, Direction::Outgoing)
    }

    fn walk_calls(
        &self,
        start: SymbolRef,
        depth: usize,
        direction: Direction,
    ) -> Vec<(SymbolRef, usize, u32)> {
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([(start, 0)]);
        let mut found = Vec::new();
        while let Some((symbol, distance)) = queue.pop_front() {
            if distance == depth {
                continue;
            }
            for edge in self.graph.edges_directed(self.node(symbol), direction) {
                let Edge::Calls { line } = *edge.weight() else { continue };
                let other =
                    if direction == Direction::Incoming { edge.source() } else { edge.target() };
                if let Node::Symbol(next) = self.graph[other]
                    && seen.insert(next)
                {
                    found.push((next, distance + 1, line));
                    queue.push_back((next, distance + 1));
                }
            }
        }
        found
    }

    /// Resolved calls and inheritance ending at `symbol`: the file and symbol they come from
    /// (`None` for top-level code), their kind and line.
    pub(crate) fn edges_into(
        &self,
        symbol: SymbolRef,
    ) -> Vec<(usize, Option<SymbolRef>, RefKind, u32)> {
        self.graph
            .edges_directed(self.node(symbol), Direction::Incoming)
            .filter_map(|edge| {
                let (kind, line) = match *edge.weight() {
                    Edge::Calls { line } => (RefKind::Call, line),
                    Edge::Inherits { line } => (RefKind::Inherits, line),
                    Edge::Implements { line } => (RefKind::Implements, line),
                    Edge::Contains | Edge::Defines | Edge::Imports { .. } => return None,
                };
                match self.graph[edge.source()] {
                    Node::File(file) => Some((file, None, kind, line)),
                    Node::Symbol(from) => Some((from.file, Some(from), kind, line)),
                    Node::Repository | Node::External(_) => None,
                }
            })
            .collect()
    }

    /// The files `path` imports, and the external packages, by name.
    pub fn imports_of(&self, file: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .graph
            .edges_directed(self.file_nodes[file], Direction::Outgoing)
            .filter(|e| matches!(e.weight(), Edge::Imports { .. }))
            .map(|e| self.node_name(e.target()))
            .collect();
        out.sort();
        out
    }

    /// The files that import `file`.
    pub fn dependents_of(&self, file: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .graph
            .edges_directed(self.file_nodes[file], Direction::Incoming)
            .filter(|e| matches!(e.weight(), Edge::Imports { .. }))
            .map(|e| self.node_name(e.source()))
            .collect();
        out.sort();
        out
    }

    fn node_name(&self, node: NodeIndex) -> String {
        match &self.graph[node] {
            Node::Repository => ".".to_owned(),
            Node::File(f) => self.files[*f].path.clone(),
            Node::External(name) => format!("external:{name}"),
            Node::Symbol(symbol) => self.display(*symbol),
        }
    }

    /// A readable, stable listing of every node and edge, for golden tests and debugging.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (f, file) in self.files.iter().enumerate() {
            let facts = &file.facts;
            let _ = writeln!(out, "file {} ({}, {} lines)", file.path, facts.language, facts.lines);
            if let Some(package) = &facts.package {
                let _ = writeln!(out, "  package {package}");
            }
            for diagnostic in &facts.diagnostics {
                let _ = writeln!(out, "  ! {diagnostic}");
            }
            for symbol in &facts.symbols {
                let depth =
                    std::iter::successors(symbol.parent, |p| facts.symbols[*p as usize].parent)
                        .count();
                let _ = writeln!(
                    out,
                    "  {}{} {} [{}-{}] `{}`{}",
                    "  ".repeat(depth),
                    symbol.kind.as_str(),
                    symbol.qualified,
                    symbol.start_line,
                    symbol.end_line,
                    symbol.signature,
                    symbol
                        .doc
                        .as_ref()
                        .map(|d| format!(" — {}", d.lines().next().unwrap_or("")))
                        .unwrap_or_default(),
                );
            }
            for target in self.imports_of(f) {
                let _ = writeln!(out, "  imports {target}");
            }
            let chunks: Vec<String> = facts
                .chunks
                .iter()
                .map(|c| match c.symbol {
                    Some(s) => format!(
                        "{}-{} {}",
                        c.start_line, c.end_line, facts.symbols[s as usize].qualified
                    ),
                    None => format!("{}-{}", c.start_line, c.end_line),
                })
                .collect();
            let _ = writeln!(out, "  chunks {}", chunks.join(", "));
        }
        let mut edges: Vec<String> = self
            .graph
            .edge_references()
            .filter(|e| !matches!(e.weight(), Edge::Defines | Edge::Imports { .. }))
            .filter(|e| !matches!(self.graph[e.source()], Node::Repository))
            .map(|e| {
                let line = match e.weight() {
                    Edge::Calls { line } => format!(" (line {line})"),
                    _ => String::new(),
                };
                format!(
                    "{} -{}-> {}{line}",
                    self.node_name(e.source()),
                    e.weight().as_str(),
                    self.node_name(e.target())
                )
            })
            .collect();
        edges.sort();
        let _ = writeln!(out, "\nedges");
        for edge in edges {
            let _ = writeln!(out, "  {edge}");
        }
        let _ = writeln!(out, "\nunresolved");
        let mut unresolved: Vec<String> = self
            .unresolved
            .iter()
            .map(|u| {
                let from = match u.from {
                    Some(s) => self.display(SymbolRef { file: u.file, symbol: s }),
                    None => self.files[u.file].path.clone(),
                };
                format!("{from} {} {} (line {})", u.kind.as_str(), u.name, u.line)
            })
            .collect();
        unresolved.sort();
        for line in unresolved {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

/// Name lookups over every file's symbols.
struct Index {
    /// Per file: top-level names (no parent, not in an impl block).
    top_level: Vec<HashMap<String, Vec<usize>>>,
    /// (type name, member name) → members, from classes and impl blocks.
    members: HashMap<(String, String), Vec<SymbolRef>>,
    /// Type (or module) name → its symbols: what `inherits`/`implements` and Ruby's global
    /// constants are looked up in.
    types: HashMap<String, Vec<SymbolRef>>,
    /// C, C++: top-level function name → its definitions in source files (not headers).
    definitions: HashMap<String, Vec<SymbolRef>>,
    /// Type name → the names of its parents (`inherits`/`implements`), from every file.
    bases: HashMap<String, Vec<String>>,
}

impl Index {
    fn new(files: &[SourceFile]) -> Index {
        let mut index = Index {
            top_level: Vec::with_capacity(files.len()),
            members: HashMap::new(),
            types: HashMap::new(),
            definitions: HashMap::new(),
            bases: HashMap::new(),
        };
        for (f, file) in files.iter().enumerate() {
            let symbols = &file.facts.symbols;
            let mut top = HashMap::<String, Vec<usize>>::new();
            let links = file.facts.language.config().import_style == ImportStyle::Include
                && !is_header(&file.path);
            for (s, symbol) in symbols.iter().enumerate() {
                let at = SymbolRef { file: f, symbol: s };
                let owner = match (symbol.parent, &symbol.container) {
                    (_, Some(container)) => Some(container.clone()),
                    (Some(p), None) if symbols[p as usize].kind.is_scope() => {
                        Some(symbols[p as usize].name.clone())
                    }
                    _ => None,
                };
                if let Some(owner) = owner {
                    index.members.entry((owner, symbol.name.clone())).or_default().push(at);
                } else if symbol.parent.is_none() {
                    top.entry(symbol.name.clone()).or_default().push(s);
                    if links && symbol.kind == SymbolKind::Function {
                        index.definitions.entry(symbol.name.clone()).or_default().push(at);
                    }
                }
                if symbol.kind.is_scope() {
                    index.types.entry(symbol.name.clone()).or_default().push(at);
                }
            }
            for reference in &file.facts.references {
                if let (RefKind::Inherits | RefKind::Implements, Some(subject)) =
                    (reference.kind, &reference.subject)
                {
                    index.bases.entry(subject.clone()).or_default().push(reference.name.clone());
                }
            }
            index.top_level.push(top);
        }
        index
    }
}

struct Resolver<'a> {
    files: &'a [SourceFile],
    index: &'a Index,
    scopes: &'a [Scope],
}

impl Resolver<'_> {
    fn resolve(&self, file: usize, reference: &Reference) -> Option<SymbolRef> {
        match reference.kind {
            RefKind::Inherits | RefKind::Implements => self.type_named(file, &reference.name),
            RefKind::Call | RefKind::Macro => self.resolve_call(file, reference),
        }
    }

    fn resolve_call(&self, file: usize, call: &Reference) -> Option<SymbolRef> {
        let name = call.name.as_str();
        if let Some(receiver) = call.receiver.as_deref() {
            return match receiver {
                // PHP's `static::` and `$this->` (its `this`), Ruby's `self.`.
                "self" | "this" | "cls" | "static" => {
                    self.member_of_enclosing_type(file, call, name)
                }
                // Java's and Kotlin's `super.`, C#'s `base.`, PHP's `parent::`: the member of
                // a supertype.
                "super" | "base" | "parent" => self.enclosing_type(file, call).and_then(|owner| {
                    let bases = self.index.bases.get(&owner).into_iter().flatten();
                    bases.into_iter().find_map(|base| self.member(base, name, file))
                }),
                _ => match self.named(file, receiver) {
                    Some(Visible::Module(module)) => self.exported(module, name, 0),
                    Some(Visible::Package(files)) => self.in_package(&files, name),
                    Some(Visible::Symbol(symbol)) if self.symbol(symbol).kind.is_scope() => {
                        self.member(&self.symbol(symbol).name.clone(), name, file)
                    }
                    // A variable whose type we do not know: leave it unresolved.
                    _ => None,
                },
            };
        }
        if let Some(scope) = call.scope.as_deref() {
            let last = scope.rsplit("::").next().unwrap_or(scope);
            let last = last.split('<').next().unwrap_or(last);
            return match last {
                "Self" => self.member_of_enclosing_type(file, call, name),
                "crate" | "super" | "self" => None,
                _ => match self.named(file, last) {
                    Some(Visible::Module(module)) => self.exported(module, name, 0),
                    Some(Visible::Package(files)) => self.in_package(&files, name),
                    Some(Visible::Symbol(symbol)) if self.symbol(symbol).kind.is_scope() => {
                        self.member(last, name, file)
                    }
                    // C++'s `shop::pricing::withTax()`: a scope that names no type is a
                    // namespace (not a symbol here); the function is the one linked by name.
                    None if self.style(file) == ImportStyle::Include && last != "std" => {
                        match self.linked(file, name)? {
                            Visible::Symbol(symbol) => Some(symbol),
                            Visible::Module(_) | Visible::Package(_) => None,
                        }
                    }
                    _ => None,
                },
            };
        }
        // Java's implicit `this`: `touch()` is the enclosing type's own (or inherited) member;
        // `new Order()` inside Order still means the class, not its constructor.
        let language = self.files[file].facts.language;
        if language.config().members_in_scope
            && let Some(member) = self.member_of_enclosing_type(file, call, name)
            && !self.is_constructor(member)
        {
            return Some(member);
        }
        let found = if self.style(file) == ImportStyle::Include {
            self.linked(file, name)
        } else {
            self.named(file, name)
        };
        match found? {
            Visible::Symbol(symbol) => Some(symbol),
            Visible::Module(_) | Visible::Package(_) => None,
        }
    }

    fn style(&self, file: usize) -> ImportStyle {
        self.files[file].facts.language.config().import_style
    }

    /// What `name` means in `file` ([`Self::visible`]) or, in a language whose definitions are
    /// global once loaded, the repository's only definition of it: Ruby's constants (a class or
    /// module of that name, which may be reopened in many files: `module Shop` in each).
    fn named(&self, file: usize, name: &str) -> Option<Visible> {
        self.visible(file, name, 0).or_else(|| {
            match self.files[file].facts.language.config().import_style {
                ImportStyle::Ruby => {
                    let found = self.index.types.get(name)?;
                    let qualified = |s: &SymbolRef| &self.symbol(*s).qualified;
                    let one = found.iter().all(|s| qualified(s) == qualified(&found[0]));
                    one.then(|| Visible::Symbol(found[0]))
                }
                _ => None,
            }
        })
    }

    /// C's and C++'s linkage: a function the file does not define is the one a source file of
    /// the repository defines (not a header's prototype), the nearest if several do; the
    /// prototype its includes declare only when no source file defines it.
    fn linked(&self, file: usize, name: &str) -> Option<Visible> {
        if self.index.top_level[file].contains_key(name) {
            return self.named(file, name);
        }
        let defined = self.index.definitions.get(name).map(|found| pick(found, file, self.files));
        match defined {
            Some(Some(definition)) => Some(Visible::Symbol(definition)),
            _ => self.named(file, name),
        }
    }

    /// A top-level name of one of a package's files.
    fn in_package(&self, files: &[usize], name: &str) -> Option<SymbolRef> {
        files.iter().find_map(|&file| {
            let own = self.index.top_level[file].get(name)?;
            Some(SymbolRef { file, symbol: own[0] })
        })
    }

    /// A member named like the type holding it: Java's and C#'s constructors.
    fn is_constructor(&self, member: SymbolRef) -> bool {
        let symbol = self.symbol(member);
        let owner = symbol.parent.map(|p| &self.files[member.file].facts.symbols[p as usize].name);
        owner.or(symbol.container.as_ref()) == Some(&symbol.name)
    }

    fn symbol(&self, symbol: SymbolRef) -> &Symbol {
        &self.files[symbol.file].facts.symbols[symbol.symbol]
    }

    /// The type that holds the symbol enclosing `call` (for `self.x()` and `Self::x()`).
    fn member_of_enclosing_type(
        &self,
        file: usize,
        call: &Reference,
        name: &str,
    ) -> Option<SymbolRef> {
        self.member(&self.enclosing_type(file, call)?, name, file)
    }

    /// The name of the type whose code holds `call`: the innermost enclosing type (or Ruby
    /// module), or the type an enclosing method is declared for (Rust's `impl`, Go's receiver).
    fn enclosing_type(&self, file: usize, call: &Reference) -> Option<String> {
        let symbols = &self.files[file].facts.symbols;
        let mut at = call.enclosing;
        while let Some(s) = at {
            let symbol = &symbols[s as usize];
            if let Some(container) = &symbol.container {
                return Some(container.clone());
            }
            if symbol.kind.is_scope() {
                return Some(symbol.name.clone());
            }
            at = symbol.parent;
        }
        None
    }

    /// `owner.name`, looking through parent types; ambiguity resolves to nothing.
    fn member(&self, owner: &str, name: &str, from_file: usize) -> Option<SymbolRef> {
        let mut owners = VecDeque::from([owner.to_owned()]);
        let mut seen = HashSet::new();
        while let Some(owner) = owners.pop_front() {
            if !seen.insert(owner.clone()) || seen.len() > 8 {
                continue;
            }
            if let Some(found) = self.index.members.get(&(owner.clone(), name.to_owned())) {
                return pick(found, from_file, self.files);
            }
            owners.extend(self.index.bases.get(&owner).into_iter().flatten().cloned());
        }
        None
    }

    /// A type visible from `file` under `name`: its own, imported, or the only one of that name
    /// (a Ruby module mixed in with `include` too).
    fn type_named(&self, file: usize, name: &str) -> Option<SymbolRef> {
        match self.visible(file, name, 0) {
            Some(Visible::Symbol(symbol)) if self.symbol(symbol).kind.is_scope() => Some(symbol),
            _ => match self.index.types.get(name) {
                Some(found) if found.len() == 1 => Some(found[0]),
                _ => None,
            },
        }
    }

    /// The type `name` defined in `file`: a top-level one, else a nested one (Kotlin's
    /// `object Empty : Refusal(…)` inside a sealed class), the first in the file.
    fn local_type(&self, file: usize, name: &str) -> Option<SymbolRef> {
        let is_type = |s: &SymbolRef| self.symbol(*s).kind.is_type();
        let top = self.index.top_level[file].get(name).into_iter().flatten();
        top.map(|&s| SymbolRef { file, symbol: s }).find(is_type).or_else(|| {
            let symbols = &self.files[file].facts.symbols;
            (0..symbols.len())
                .map(|s| SymbolRef { file, symbol: s })
                .find(|s| is_type(s) && self.symbol(*s).name == name)
        })
    }

    /// What `name` means in `file`: its own top-level definition or its package's, an import,
    /// or a glob import.
    fn visible(&self, file: usize, name: &str, depth: usize) -> Option<Visible> {
        if let Some(own) = self.index.top_level[file].get(name) {
            return Some(Visible::Symbol(SymbolRef { file, symbol: own[0] }));
        }
        if let Some(symbol) = self.in_package(&self.scopes[file].package, name) {
            return Some(Visible::Symbol(symbol));
        }
        match self.scopes[file].bindings.get(name) {
            Some(Binding::Module(module)) => return Some(Visible::Module(*module)),
            Some(Binding::Package(files)) => return Some(Visible::Package(files.clone())),
            Some(Binding::InPackage { files, name: original }) => {
                return self.in_package(files, original).map(Visible::Symbol);
            }
            Some(Binding::Item { file: target, name: original }) => {
                return self.exported(*target, original, depth + 1).map(Visible::Symbol);
            }
            Some(Binding::External(_)) => return None,
            None => {}
        }
        let scope = &self.scopes[file];
        let globbed = scope.globs.iter().find_map(|&g| self.exported(g, name, depth + 1));
        globbed
            .or_else(|| scope.members_of.iter().find_map(|owner| self.member(owner, name, file)))
            .map(Visible::Symbol)
    }

    /// A name `file` defines or re-exports.
    fn exported(&self, file: usize, name: &str, depth: usize) -> Option<SymbolRef> {
        if depth > 4 {
            return None;
        }
        match self.visible(file, name, depth)? {
            Visible::Symbol(symbol) => Some(symbol),
            Visible::Module(_) | Visible::Package(_) => None,
        }
    }
}

enum Visible {
    Symbol(SymbolRef),
    Module(usize),
    Package(Vec<usize>),
}

/// One candidate, or the one in `from_file` among several, or the one in its folder (a Go
/// package's methods are spread over its files), or the one not in a header (a C++ method is
/// declared in its class and defined in a source file); otherwise nothing (never a guess).
fn pick(found: &[SymbolRef], from_file: usize, files: &[SourceFile]) -> Option<SymbolRef> {
    let folder = |f: usize| crate::resolve::parent(&files[f].path);
    match found {
        [one] => Some(*one),
        many => only(many.iter().filter(|s| s.file == from_file))
            .or_else(|| only(many.iter().filter(|s| folder(s.file) == folder(from_file))))
            .or_else(|| only(many.iter().filter(|s| !is_header(&files[s.file].path)))),
    }
}

/// A C or C++ header, by its extension.
fn is_header(path: &str) -> bool {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    matches!(extension, "h" | "hh" | "hpp" | "hxx" | "h++")
}

/// The one item of `items`, if there is exactly one.
fn only<'a>(mut items: impl Iterator<Item = &'a SymbolRef>) -> Option<SymbolRef> {
    match (items.next(), items.next()) {
        (Some(one), None) => Some(*one),
        _ => None,
    }
}
