//! How code is cut for search: long bodies between statements, never mid-statement, with a
//! little overlap, each part within the size the embedding model reads.

use std::time::Duration;

use indexer::{Language, parse_file};

#[test]
fn a_long_function_is_split_between_statements_with_overlap() {
    let body: String = (0..120).map(|i| format!("    total += step_{i}(total)\n")).collect();
    let source = format!(
        "def long_pipeline(total):\n    \"\"\"Runs every step.\"\"\"\n{body}    return total\n"
    );
    let facts = parse_file(Language::Python, &source, Duration::from_secs(5));
    let chunks = &facts.chunks;
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.symbol == Some(0)), "every part belongs to the function");
    assert!(chunks.iter().all(|c| c.end_line - c.start_line < 40), "{chunks:?}");
    assert_eq!(chunks[0].start_line, 1, "the first part keeps the signature");
    assert_eq!(chunks.last().unwrap().end_line, 123);
    for pair in chunks.windows(2) {
        let overlap = pair[0].end_line as i64 - pair[1].start_line as i64 + 1;
        assert!((0..=4).contains(&overlap), "parts meet or overlap a little: {pair:?}");
    }
    // Each part is whole statements.
    for chunk in chunks {
        let text = &source[chunk.start_byte as usize..chunk.end_byte as usize];
        assert!(
            text.lines().last().unwrap().trim_end().ends_with(')') || text.ends_with("total"),
            "{text}"
        );
    }
}

#[test]
fn top_level_code_is_grouped_and_blank_lines_are_not_chunks() {
    let source = "import os\nimport sys\n\n\nLIMIT = 3\n\n\ndef f():\n    return LIMIT\n";
    let facts = parse_file(Language::Python, source, Duration::from_secs(5));
    let spans: Vec<(u32, u32, Option<u32>)> =
        facts.chunks.iter().map(|c| (c.start_line, c.end_line, c.symbol)).collect();
    assert_eq!(spans, [(1, 5, None), (8, 9, Some(1))], "`LIMIT` is symbol 0, `f` symbol 1");
}

#[test]
fn the_last_line_of_a_file_without_a_final_newline_is_kept_whole() {
    // Top-level code (not a definition) ends where its last line ends: here, at the end of file.
    let source = "import os\nGREETING = 'café'";
    let facts = parse_file(Language::Python, source, Duration::from_secs(5));
    let chunk = facts.chunks[0];
    assert_eq!(source.get(chunk.start_byte as usize..chunk.end_byte as usize), Some(source));
}
