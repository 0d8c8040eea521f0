//! One source file in, its facts out: definitions with containment, signatures and docs; call and
//! inheritance sites; imports. Parsing never fails: a file with syntax errors yields what could be
//! read plus a diagnostic, and a parse that runs past its time limit yields a diagnostic alone.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use grammars::Language;
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, ParseOptions, Parser, Query, QueryCursor, QueryMatch};

use crate::chunk::chunk_file;
use crate::model::{FileFacts, Import, ImportedName, RefKind, Reference, Symbol, SymbolKind};

/// How the diagnostic of a parse stopped at its deadline begins.
pub(crate) const TIMED_OUT: &str = "parsing took longer than";

/// Parses `source` as `language` and extracts its facts. `path` is only used in diagnostics.
pub fn parse_file(language: Language, source: &str, timeout: Duration) -> FileFacts {
    let mut facts = FileFacts {
        language,
        lines: source.lines().count() as u32,
        symbols: Vec::new(),
        references: Vec::new(),
        imports: Vec::new(),
        package: None,
        chunks: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut parser = Parser::new();
    if let Err(e) = parser.set_language(&language.grammar()) {
        facts.diagnostics.push(format!("the {language} grammar could not be loaded: {e}"));
        return facts;
    }
    let started = Instant::now();
    let mut give_up = |_: &tree_sitter::ParseState| {
        if started.elapsed() > timeout { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let bytes = source.as_bytes();
    let mut read = |offset: usize, _| bytes.get(offset..).unwrap_or_default();
    let options = Some(ParseOptions::new().progress_callback(&mut give_up));
    let tree = if language.config().mask_non_ascii && !source.is_ascii() {
        parser.parse_custom_encoding::<MaskNonAscii, _, _>(&mut read, None, options)
    } else {
        parser.parse_with_options(&mut read, None, options)
    };
    let Some(tree) = tree else {
        facts.diagnostics.push(format!(
            "{TIMED_OUT} {} ms and was stopped; the file is not indexed",
            timeout.as_millis()
        ));
        return facts;
    };
    let root = tree.root_node();
    if root.has_error() {
        let line = first_error_line(root);
        facts.diagnostics.push(format!(
            "syntax error near line {line}; definitions that could be read are indexed"
        ));
    }

    let extractor = Extractor { language, source };
    let tags = extractor.tags(root);
    let (symbols, nodes, starts) = extractor.symbols(&tags);
    facts.chunks = chunk_file(source, &symbols, &nodes, &starts, &language.config().body_fields);
    facts.symbols = symbols;
    facts.references = extractor.references(&tags, &facts.symbols);
    (facts.imports, facts.package) = extractor.imports(root);
    facts
}

/// The 0-based last row of a node: one that ends with its line's newline (C's `#define X 1\n`)
/// ends on that line, not at the start of the next.
pub(crate) fn last_row(node: Node<'_>) -> usize {
    let end = node.end_position();
    if end.column == 0 && end.row > node.start_position().row { end.row - 1 } else { end.row }
}

/// A definition's body: its child in the first of `body_fields` it has, or else — for grammars
/// that name few fields (Kotlin) — its first child of one of those kinds.
pub(crate) fn body_of<'t>(node: Node<'t>, body_fields: &[String]) -> Option<Node<'t>> {
    body_fields.iter().find_map(|field| node.child_by_field_name(field)).or_else(|| {
        let mut cursor = node.walk();
        node.named_children(&mut cursor).find(|child| body_fields.iter().any(|k| k == child.kind()))
    })
}

/// UTF-8 as the parser of a `mask_non_ascii` language reads it: each non-ASCII character is
/// seen as one `_`, spanning the character's real bytes, so nodes start and end where the text's
/// characters do and names are read from the real text. tree-sitter-bash's scanner hands the
/// character after `{` to C's `isdigit`, which is undefined beyond 255: `{` then U+FC0C9 took
/// the process down.
struct MaskNonAscii;

impl tree_sitter::Decode for MaskNonAscii {
    fn decode(bytes: &[u8]) -> (i32, u32) {
        let Some(&first) = bytes.first() else { return (-1, 0) };
        let len = match first {
            0x00..=0x7F => return (i32::from(first), 1),
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        (i32::from(b'_'), len.min(bytes.len()) as u32)
    }
}

fn first_error_line(root: Node<'_>) -> usize {
    let mut cursor = root.walk();
    let mut node = root;
    loop {
        let child =
            node.children(&mut cursor).find(|c| c.is_error() || c.is_missing() || c.has_error());
        match child {
            Some(c) if c.is_error() || c.is_missing() => return c.start_position().row + 1,
            Some(c) => node = c,
            None => return node.start_position().row + 1,
        }
    }
}

/// The raw captures of `tags.scm`, before symbols are assembled.
#[derive(Default)]
struct Tags<'tree> {
    /// Definition node id → (pattern index, kind, definition node, name node).
    definitions: HashMap<usize, (usize, SymbolKind, Node<'tree>, Node<'tree>)>,
    /// `impl`-like blocks: (block node, the type's name, the name the block gives the value
    /// of that type — Go's method receiver — if any).
    containers: Vec<(Node<'tree>, String, Option<String>)>,
    references: Vec<RawReference<'tree>>,
}

struct RawReference<'tree> {
    kind: RefKind,
    node: Node<'tree>,
    name: String,
    scope: Option<String>,
    receiver: Option<String>,
    subject: Option<String>,
}

struct Extractor<'a> {
    language: Language,
    source: &'a str,
}

impl<'a> Extractor<'a> {
    fn text(&self, node: Node<'_>) -> &'a str {
        &self.source[node.byte_range()]
    }

    fn tags<'tree>(&self, root: Node<'tree>) -> Tags<'tree> {
        let query = &self.language.queries().tags;
        let names = query.capture_names();
        let mut tags = Tags::default();
        let mut seen_refs = std::collections::HashSet::new();
        for_each_match(query, root, self.source, |m| {
            let capture =
                |wanted: &str| m.captures().iter().find(|c| names[c.index as usize] == wanted);
            let text = |wanted: &str| capture(wanted).map(|c| self.text(c.node).to_owned());
            let Some(name) = capture("name") else { return };
            for c in m.captures() {
                let capture_name = names[c.index as usize];
                if let Some(kind) = capture_name.strip_prefix("definition.") {
                    let Some(kind) = SymbolKind::from_capture(kind) else { continue };
                    let entry = tags.definitions.entry(c.node.id()).or_insert((
                        m.pattern_index,
                        kind,
                        c.node,
                        name.node,
                    ));
                    // The first pattern in the file wins (grammars' precedence rule).
                    if m.pattern_index < entry.0 {
                        *entry = (m.pattern_index, kind, c.node, name.node);
                    }
                } else if capture_name == "container" {
                    let receiver = text("receiver");
                    tags.containers.push((c.node, self.text(name.node).to_owned(), receiver));
                } else if let Some(kind) = capture_name.strip_prefix("reference.") {
                    let Some(kind) = RefKind::from_capture(kind) else { continue };
                    let name_text = self.text(name.node).to_owned();
                    // One node may match several patterns (and inheritance one per parent).
                    if seen_refs.insert((c.node.id(), kind, name_text.clone())) {
                        tags.references.push(RawReference {
                            kind,
                            node: c.node,
                            name: name_text,
                            scope: text("scope"),
                            receiver: text("receiver"),
                            subject: text("subject"),
                        });
                    }
                }
            }
        });
        tags
    }

    /// The symbols in position order, with their definition nodes and where each one's text
    /// starts (line, byte), doc comments and attributes included.
    fn symbols<'tree>(
        &self,
        tags: &Tags<'tree>,
    ) -> (Vec<Symbol>, Vec<Node<'tree>>, Vec<(u32, u32)>) {
        let mut defs: Vec<_> = tags.definitions.values().collect();
        defs.sort_by_key(|(_, _, node, _)| (node.start_byte(), std::cmp::Reverse(node.end_byte())));

        let separator = if self.language == Language::Rust { "::" } else { "." };
        let mut symbols: Vec<Symbol> = Vec::with_capacity(defs.len());
        let mut nodes = Vec::with_capacity(defs.len());
        let mut starts = Vec::with_capacity(defs.len());
        let mut open: Vec<usize> = Vec::new(); // indices of symbols enclosing the current one
        for &&(_, kind, node, name_node) in &defs {
            while let Some(&top) = open.last() {
                if symbols[top].end_byte >= node.end_byte() as u32 {
                    break;
                }
                open.pop();
            }
            let parent = open.last().copied();
            // An impl block between the parent and this definition makes the impl's type the
            // qualifier (`impl Foo { fn bar }` → `Foo::bar`).
            let container = tags
                .containers
                .iter()
                .filter(|(c, _, _)| {
                    c.start_byte() <= node.start_byte() && node.end_byte() <= c.end_byte()
                })
                .filter(|(c, _, _)| {
                    parent.is_none_or(|p| symbols[p].start_byte <= c.start_byte() as u32)
                })
                .max_by_key(|(c, _, _)| c.start_byte())
                .map(|(_, name, _)| name.clone());
            let name = self.text(name_node).to_owned();
            let (first, comments) = self.preamble(node);
            let qualified = match (parent, &container) {
                (_, Some(container)) => format!("{container}{separator}{name}"),
                (Some(p), None) => format!("{}{separator}{name}", symbols[p].qualified),
                (None, None) => name.clone(),
            };
            symbols.push(Symbol {
                name,
                qualified,
                kind,
                parent: parent.map(|p| p as u32),
                container,
                start_line: node.start_position().row as u32 + 1,
                end_line: last_row(node) as u32 + 1,
                start_byte: node.start_byte() as u32,
                end_byte: node.end_byte() as u32,
                signature: self.signature(node),
                doc: self.doc(node, &comments),
            });
            nodes.push(node);
            starts.push((first.start_position().row as u32 + 1, first.start_byte() as u32));
            open.push(symbols.len() - 1);
        }
        (symbols, nodes, starts)
    }

    /// The definition's text up to its body, on one line.
    fn signature(&self, node: Node<'_>) -> String {
        let config = self.language.config();
        let end = match body_of(node, &config.body_fields) {
            // `const f = (a) => { … }` is cut at the function's own body; `const N = 80` is kept whole.
            Some(body) => match body.child_by_field_name("body") {
                Some(inner) => inner.start_byte(),
                None if node.child_by_field_name("value") == Some(body) => node.end_byte(),
                None => body.start_byte(),
            },
            None => node.end_byte(),
        };
        let text = &self.source[node.start_byte()..end];
        let mut signature = text.split_whitespace().collect::<Vec<_>>().join(" ");
        while signature.ends_with(['{', ':', '=']) || signature.ends_with("=>") {
            signature.pop();
            signature = signature.trim_end().to_owned();
        }
        truncate(&mut signature, 240);
        signature
    }

    /// What sits above a definition and belongs to it. Walks out of wrappers (`export`,
    /// `const x = …`, Python's decorated definitions), then up through the adjacent doc comments
    /// and attributes. Returns the node where the definition's text really starts, and its doc
    /// comments from top to bottom.
    fn preamble<'tree>(&self, node: Node<'tree>) -> (Node<'tree>, Vec<Node<'tree>>) {
        let config = self.language.config();
        let mut anchor = node;
        while let Some(parent) = anchor.parent() {
            if config.wrapper_nodes.iter().any(|w| w == parent.kind()) {
                anchor = parent;
            } else {
                break;
            }
        }
        let mut first = anchor;
        let mut comments = Vec::new();
        // Ruby puts a comment between `module Shop` and its body outside the body: the body's
        // first definition is documented by what stands before the body.
        let mut sibling = anchor.prev_sibling().or_else(|| {
            let body = anchor.parent()?;
            let holder = body.parent()?;
            let is_body = config
                .body_fields
                .iter()
                .any(|f| f == body.kind() || holder.child_by_field_name(f) == Some(body));
            if is_body { body.prev_sibling() } else { None }
        });
        while let Some(s) = sibling {
            if s.end_position().row + 1 < first.start_position().row {
                break; // a blank line ends the preamble
            }
            let text = self.text(s);
            // A `#!` line is a script's interpreter, never a definition's doc.
            let is_doc = s.kind().contains("comment")
                && !text.starts_with("#!")
                && config.doc_comment_prefixes.iter().any(|p| text.starts_with(p.as_str()));
            if is_doc {
                comments.push(s);
            } else if !config.doc_skip_nodes.iter().any(|k| k == s.kind()) {
                break;
            }
            first = s;
            sibling = s.prev_sibling();
        }
        comments.reverse();
        (first, comments)
    }

    fn doc(&self, node: Node<'_>, comments: &[Node<'_>]) -> Option<String> {
        if self.language.config().docstrings {
            let body = node.child_by_field_name("body")?;
            let first = body.named_child(0)?;
            if first.kind() == "expression_statement"
                && let Some(string) = first.named_child(0).filter(|s| s.kind() == "string")
            {
                return Some(clean_docstring(self.text(string)));
            }
            return None;
        }
        let lines: Vec<String> = comments.iter().map(|c| clean_comment(self.text(*c))).collect();
        let doc = xml_doc_text(lines.join("\n").trim());
        (!doc.is_empty()).then_some(doc)
    }

    fn references(&self, tags: &Tags<'_>, symbols: &[Symbol]) -> Vec<Reference> {
        let mut references: Vec<Reference> = tags
            .references
            .iter()
            .map(|r| Reference {
                kind: r.kind,
                name: r.name.clone(),
                scope: r.scope.clone(),
                receiver: r.receiver.as_deref().map(|receiver| {
                    // Go's `func (m *Memory) Put()`: inside, `m.x()` is `self.x()`.
                    let is_self = tags.containers.iter().any(|(c, _, named)| {
                        named.as_deref() == Some(receiver)
                            && c.start_byte() <= r.node.start_byte()
                            && r.node.end_byte() <= c.end_byte()
                    });
                    if is_self { "self".to_owned() } else { receiver.to_owned() }
                }),
                subject: r.subject.clone(),
                line: r.node.start_position().row as u32 + 1,
                enclosing: enclosing_symbol(symbols, r.node.start_byte() as u32),
            })
            .collect();
        references.sort_by(|a, b| (a.line, &a.name).cmp(&(b.line, &b.name)));
        references
    }

    /// The file's imports, and the package it declares (its first `@package`).
    fn imports(&self, root: Node<'_>) -> (Vec<Import>, Option<String>) {
        let query = &self.language.queries().imports;
        let names = query.capture_names();
        let mut by_statement: Vec<(usize, Import)> = Vec::new();
        let mut package = None;
        for_each_match(query, root, self.source, |m| {
            let capture =
                |wanted: &str| m.captures().iter().find(|c| names[c.index as usize] == wanted);
            if let Some(declared) = capture("package") {
                package = package.take().or_else(|| Some(self.text(declared.node).to_owned()));
                return;
            }
            let (Some(statement), Some(source)) = (capture("import"), capture("import.source"))
            else {
                return;
            };
            let source = self.text(source.node).trim_matches(['"', '\'', '`']).to_owned();
            let id = statement.node.id();
            let index =
                match by_statement.iter().position(|(i, imp)| *i == id && imp.source == source) {
                    Some(index) => index,
                    None => {
                        by_statement.push((
                            id,
                            Import {
                                source,
                                names: Vec::new(),
                                alias: None,
                                line: statement.node.start_position().row as u32 + 1,
                            },
                        ));
                        by_statement.len() - 1
                    }
                };
            let import = &mut by_statement[index].1;
            let alias = capture("import.alias").map(|c| self.text(c.node).to_owned());
            match capture("import.name") {
                Some(name) => {
                    let name = ImportedName { name: self.text(name.node).to_owned(), alias };
                    if !import.names.contains(&name) {
                        import.names.push(name);
                    }
                }
                None => import.alias = alias.or(import.alias.take()),
            }
        });
        let mut imports: Vec<Import> = by_statement.into_iter().map(|(_, i)| i).collect();
        imports.sort_by(|a, b| (a.line, &a.source).cmp(&(b.line, &b.source)));
        (imports, package)
    }
}

/// The innermost symbol whose range holds `byte`.
pub(crate) fn enclosing_symbol(symbols: &[Symbol], byte: u32) -> Option<u32> {
    symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| s.start_byte <= byte && byte < s.end_byte)
        .max_by_key(|(_, s)| s.start_byte)
        .map(|(i, _)| i as u32)
}

fn for_each_match<'tree>(
    query: &Query,
    root: Node<'tree>,
    source: &str,
    mut f: impl FnMut(&QueryMatch<'_, 'tree>),
) {
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, root, source.as_bytes());
    while let Some(m) = matches.next() {
        f(m);
    }
}

fn clean_comment(text: &str) -> String {
    let text = text.trim();
    if let Some(block) = text.strip_prefix("/**") {
        let block = block.strip_suffix("*/").unwrap_or(block);
        return block
            .lines()
            .map(|l| l.trim().trim_start_matches('*').trim())
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned();
    }
    text.trim_start_matches(['/', '#']).trim().to_owned()
}

/// C#'s XML documentation as text: `<summary>`, `<param name="x">` and the other tags dropped,
/// `<see cref="Order"/>` kept as `Order`, and the lines the tags stood on removed. Other docs
/// (not starting with a tag) are kept as written.
fn xml_doc_text(doc: &str) -> String {
    if !doc.starts_with('<') {
        return doc.to_owned();
    }
    let mut text = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open..open + close];
        if let Some((_, cref)) = tag.split_once("cref=\"") {
            text.push_str(cref.split('"').next().unwrap_or_default());
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

fn clean_docstring(text: &str) -> String {
    let body = text.trim_start_matches(|c: char| c.is_ascii_alphabetic()); // r"", b"", f""
    let body = ["\"\"\"", "'''", "\"", "'"]
        .iter()
        .find_map(|q| body.strip_prefix(q).and_then(|b| b.strip_suffix(q)))
        .unwrap_or(body);
    body.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_owned()
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
}

#[cfg(test)]
mod untrusted {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        /// A repository's files are whatever its authors wrote: any text, in any of the
        /// languages, parses (with diagnostics) and chunks without a panic, and every fact it
        /// yields points inside the file.
        #[test]
        fn any_text_in_any_language_parses_and_chunks(
            text in prop_oneof![
                ".{0,400}",
                "[ -~\\n\\t]{0,400}",
                prop::collection::vec(any::<u8>(), 0..400)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                "((fn|def|class|impl|struct|import|from|use|export|function) [a-z{}():;,<>=.\\n ]{0,20}){0,20}",
            ],
        ) {
            for language in Language::all() {
                let facts = parse_file(*language, &text, Duration::from_millis(500));
                for symbol in &facts.symbols {
                    prop_assert!(symbol.end_byte as usize <= text.len());
                }
            }
        }
    }

    /// Found by the property above: tree-sitter-bash's scanner passes the character after `{`
    /// to `isdigit`, and this one took the process down. A hostile script must not.
    #[test]
    fn a_brace_before_a_character_beyond_latin_1_does_not_crash_bash() {
        let facts = parse_file(Language::Bash, "{\u{fc0c9}", Duration::from_millis(500));
        assert!(facts.symbols.is_empty());
        let facts =
            parse_file(Language::Bash, "café() {\n  echo {ü}\n}\n", Duration::from_millis(500));
        assert_eq!(facts.symbols[0].name, "café", "names are read from the real text");
    }
}
