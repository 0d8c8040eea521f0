//! Chunks for search, cut along the syntax tree rather than in line windows: a function or method
//! whole; a type's header (its declaration up to its first member); long bodies split between
//! statements with a little overlap; and the remaining top-level code grouped in runs.

use tree_sitter::Node;

use crate::model::{Chunk, Symbol, SymbolKind};
use crate::parse::{body_of, last_row};

/// Longest chunk, in lines. MiniLM reads 256 tokens, about 30–40 lines of code; longer chunks
/// would be embedded from their beginning only.
pub const MAX_LINES: u32 = 40;

/// A statement this short that ends one part of a long body is repeated at the start of the next.
const OVERLAP_LINES: u32 = 4;

/// Cuts a file into chunks. `nodes[i]` is the definition node of `symbols[i]` and `starts[i]`
/// where its text starts (line, byte), doc comments and attributes included; `body_fields` names
/// the child field holding a definition's body.
pub(crate) fn chunk_file(
    source: &str,
    symbols: &[Symbol],
    nodes: &[Node<'_>],
    starts: &[(u32, u32)],
    body_fields: &[String],
) -> Vec<Chunk> {
    let offsets = line_offsets(source);
    let mut chunks = Vec::new();
    let inside_function = |mut s: usize| {
        while let Some(parent) = symbols[s].parent {
            s = parent as usize;
            if matches!(symbols[s].kind, SymbolKind::Function | SymbolKind::Method) {
                return true;
            }
        }
        false
    };
    for (i, symbol) in symbols.iter().enumerate() {
        if inside_function(i) {
            continue; // nested functions are part of their parent's chunk
        }
        match symbol.kind {
            SymbolKind::Function | SymbolKind::Method => {
                split_definition(nodes[i], starts[i], i as u32, body_fields, &mut chunks);
            }
            SymbolKind::Class
            | SymbolKind::Struct
            | SymbolKind::Enum
            | SymbolKind::Trait
            | SymbolKind::Interface
            | SymbolKind::Module => {
                // The header runs up to the first member that gets a chunk of its own (up to
                // that member's doc comments and attributes).
                let first_member = (i + 1..symbols.len())
                    .take_while(|&m| symbols[m].start_byte < symbol.end_byte)
                    .find(|&m| {
                        symbols[m].parent == Some(i as u32)
                            && symbols[m].kind != SymbolKind::Constant
                    })
                    .map(|m| starts[m].0);
                let end_line = match first_member {
                    Some(line) if line > starts[i].0 => line - 1,
                    Some(_) => starts[i].0,
                    None => symbol.end_line,
                };
                push_lines(source, &offsets, starts[i].0, end_line, Some(i as u32), &mut chunks);
            }
            SymbolKind::Type | SymbolKind::Constant => {} // small; covered by top-level code
        }
    }
    top_level_code(source, &offsets, &mut chunks);
    // Whole lines, so that a snippet keeps its first line's indentation.
    for chunk in &mut chunks {
        chunk.start_byte = offsets[chunk.start_line as usize - 1] as u32;
    }
    chunks.sort_by_key(|c| (c.start_line, c.end_line));
    chunks
}

/// One chunk for a short definition; for a long one, parts of its body cut between statements.
fn split_definition(
    node: Node<'_>,
    (start, start_byte): (u32, u32),
    symbol: u32,
    body_fields: &[String],
    chunks: &mut Vec<Chunk>,
) {
    let end = line_of(last_row(node));
    let body = body_of(node, body_fields);
    let statements: Vec<Node<'_>> = match body {
        Some(body) if end - start + 1 > MAX_LINES => {
            // `const f = () => {…}`; Kotlin's `function_body` holds a `block`.
            let body = body
                .child_by_field_name("body")
                .or_else(|| body.named_child(0).filter(|c| c.kind() == "block"))
                .unwrap_or(body);
            let mut cursor = body.walk();
            body.named_children(&mut cursor).collect()
        }
        _ => Vec::new(),
    };
    if statements.len() < 2 {
        chunks.push(Chunk {
            start_line: start,
            end_line: end,
            start_byte,
            end_byte: node.end_byte() as u32,
            symbol: Some(symbol),
        });
        return;
    }
    // Pack statements into parts of at most MAX_LINES; the first part keeps the signature.
    let mut part_start = start;
    let mut part_start_byte = start_byte as usize;
    let mut last: Option<Node<'_>> = None;
    for statement in statements {
        let statement_end = line_of(last_row(statement));
        if let Some(previous) = last
            && statement_end - part_start + 1 > MAX_LINES
            && line_of(last_row(previous)) >= part_start
        {
            chunks.push(Chunk {
                start_line: part_start,
                end_line: line_of(last_row(previous)),
                start_byte: part_start_byte as u32,
                end_byte: previous.end_byte() as u32,
                symbol: Some(symbol),
            });
            let previous_lines =
                line_of(last_row(previous)) - line_of(previous.start_position().row) + 1;
            let overlap = if previous_lines <= OVERLAP_LINES { previous } else { statement };
            part_start = line_of(overlap.start_position().row);
            part_start_byte = overlap.start_byte();
        }
        last = Some(statement);
    }
    chunks.push(Chunk {
        start_line: part_start,
        end_line: end,
        start_byte: part_start_byte as u32,
        end_byte: node.end_byte() as u32,
        symbol: Some(symbol),
    });
}

/// Lines not covered by any chunk, grouped into runs of at most MAX_LINES (blank runs dropped).
/// A run of one or two lines right above a chunk (`impl Foo {`) joins that chunk instead.
fn top_level_code(source: &str, offsets: &[usize], chunks: &mut Vec<Chunk>) {
    let lines: Vec<&str> = source.lines().collect();
    let mut covered = vec![false; lines.len() + 2];
    for chunk in chunks.iter() {
        for line in chunk.start_line..=chunk.end_line.min(lines.len() as u32) {
            covered[line as usize] = true;
        }
    }
    let mut line = 1;
    while line as usize <= lines.len() {
        // A run starts at a line with a word in it: not at a blank line or a lone `}`.
        if covered[line as usize] || !lines[line as usize - 1].chars().any(char::is_alphanumeric) {
            line += 1;
            continue;
        }
        let start = line;
        while (line as usize) <= lines.len() && !covered[line as usize] && line - start < MAX_LINES
        {
            line += 1;
        }
        let below = chunks.iter_mut().find(|c| c.start_line == line);
        match below {
            Some(chunk) if line - start <= 2 => {
                chunk.start_line = start;
                chunk.start_byte = offsets[start as usize - 1] as u32;
            }
            _ => push_lines(source, offsets, start, line - 1, None, chunks),
        }
    }
}

/// A chunk of whole lines `start..=end` (trailing blank lines trimmed), capped at MAX_LINES; none
/// when the lines hold no word (a lone closing brace).
fn push_lines(
    source: &str,
    offsets: &[usize],
    start: u32,
    end: u32,
    symbol: Option<u32>,
    chunks: &mut Vec<Chunk>,
) {
    let mut end = end.min(start + MAX_LINES - 1).min(offsets.len() as u32 - 1);
    while end > start && source[offsets[end as usize - 1]..offsets[end as usize]].trim().is_empty()
    {
        end -= 1;
    }
    if !source[offsets[start as usize - 1]..offsets[end as usize]]
        .chars()
        .any(char::is_alphanumeric)
    {
        return;
    }
    chunks.push(Chunk {
        start_line: start,
        end_line: end,
        start_byte: offsets[start as usize - 1] as u32,
        end_byte: line_end(source, offsets, end) as u32,
        symbol,
    });
}

/// The byte just past line `line`'s text, its newline excluded (and nothing lost when the file
/// does not end with one).
fn line_end(source: &str, offsets: &[usize], line: u32) -> usize {
    let end = offsets[line as usize];
    if end > 0 && source.as_bytes()[end - 1] == b'\n' { end - 1 } else { end }
}

/// Byte offset of the start of each line, plus one past the end: line `n` (1-based) spans
/// `offsets[n - 1]..offsets[n]`.
fn line_offsets(source: &str) -> Vec<usize> {
    let mut offsets = vec![0];
    offsets.extend(source.match_indices('\n').map(|(i, _)| i + 1));
    if *offsets.last().unwrap_or(&0) != source.len() {
        offsets.push(source.len());
    }
    offsets
}

fn line_of(row: usize) -> u32 {
    row as u32 + 1
}
