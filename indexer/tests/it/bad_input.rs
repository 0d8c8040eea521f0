//! Files that would trip a naive indexer: each is skipped or indexed as far as it can be, with a
//! reason, and the rest of the repository is indexed normally.

use std::time::Duration;

use indexer::{IndexOptions, Language, SkipReason, index_directory, parse_file};

#[test]
fn huge_binary_and_non_utf8_files_are_skipped_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("ok.py"), "def fine():\n    return 1\n").unwrap();
    // A 50 MB minified bundle: skipped by size, never read.
    let bundle = std::fs::File::create(root.join("bundle.js")).unwrap();
    bundle.set_len(50 * 1024 * 1024).unwrap();
    std::fs::write(root.join("latin1.py"), b"name = 'caf\xe9'\n").unwrap();
    std::fs::write(root.join("blob.rs"), b"\x7fELF\x00\x00binary").unwrap();
    std::fs::write(root.join("app.min.js"), "var a=1;").unwrap();
    std::fs::write(root.join("long.js"), format!("var x=[{}];", "1,".repeat(20_000))).unwrap();

    let indexed = index_directory(root, &IndexOptions::default()).unwrap();
    let paths: Vec<&str> = indexed.graph.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["ok.py"]);
    let skipped = |reason| indexed.skipped.get(&reason).copied();
    assert_eq!(skipped(SkipReason::TooLarge), Some(1));
    assert_eq!(skipped(SkipReason::InvalidUtf8), Some(1));
    assert_eq!(skipped(SkipReason::Binary), Some(1));
    assert_eq!(
        skipped(SkipReason::Generated),
        Some(2),
        "app.min.js by name, long.js by its line length"
    );
}

#[test]
fn a_parse_past_its_deadline_is_stopped_with_a_diagnostic() {
    // Deeply nested expressions: slow enough to miss a 1 ms deadline.
    let source = format!("x = {}1{}\n", "(".repeat(50_000), ")".repeat(50_000));
    let facts = parse_file(Language::Python, &source, Duration::from_millis(1));
    assert!(facts.symbols.is_empty());
    assert_eq!(
        facts.diagnostics,
        ["parsing took longer than 1 ms and was stopped; the file is not indexed"]
    );
}

#[test]
fn syntax_errors_keep_what_could_be_read() {
    let source = "def good():\n    return 1\n\ndef broken(:\n    pass\n\nclass Later:\n    def method(self):\n        good()\n";
    let facts = parse_file(Language::Python, source, Duration::from_secs(5));
    let names: Vec<&str> = facts.symbols.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"good") && names.contains(&"Later") && names.contains(&"method"),
        "{names:?}"
    );
    assert_eq!(facts.diagnostics.len(), 1);
    assert!(
        facts.diagnostics[0].starts_with("syntax error near line 4"),
        "{:?}",
        facts.diagnostics
    );
}

#[test]
fn a_file_whose_parse_timed_out_is_parsed_again_next_time() {
    use indexer::pipeline::{Previous, index_pass};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deep.py"),
        // Deep nesting spread over lines (one long line would be skipped as minified).
        format!("x = {}1{}\n", "(\n".repeat(50_000), ")\n".repeat(50_000)),
    )
    .unwrap();
    let hurried =
        IndexOptions { parse_timeout: Duration::from_millis(1), ..IndexOptions::default() };
    let first = index_pass(dir.path(), &hurried, &Previous::default(), &|_, _| {}).unwrap();
    assert_eq!(first.parsed.len(), 1);
    assert_eq!(first.parsed[0].hash, "", "no hash: the file must be looked at again");

    // Even when git says nothing changed, the file is parsed again, now with time to finish.
    let previous = Previous {
        hashes: first.parsed.iter().map(|f| (f.path.clone(), f.hash.clone())).collect(),
        changed: Some(Default::default()),
    };
    let second = index_pass(dir.path(), &IndexOptions::default(), &previous, &|_, _| {}).unwrap();
    assert_eq!(second.parsed.len(), 1);
    assert!(second.parsed[0].facts.diagnostics.is_empty());
    assert!(!second.parsed[0].hash.is_empty());
}

#[test]
fn a_changed_folder_covers_the_files_inside_it() {
    use indexer::pipeline::{Previous, index_pass};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("vendored_lib/src")).unwrap();
    std::fs::write(dir.path().join("vendored_lib/src/a.py"), "def a():\n    pass\n").unwrap();
    std::fs::write(dir.path().join("b.py"), "def b():\n    pass\n").unwrap();
    let first =
        index_pass(dir.path(), &IndexOptions::default(), &Previous::default(), &|_, _| {}).unwrap();
    std::fs::write(dir.path().join("vendored_lib/src/a.py"), "def a2():\n    pass\n").unwrap();
    // Git reports a changed submodule as its folder, not as the files in it.
    let previous = Previous {
        hashes: first.parsed.iter().map(|f| (f.path.clone(), f.hash.clone())).collect(),
        changed: Some(["vendored_lib".to_owned()].into()),
    };
    let second = index_pass(dir.path(), &IndexOptions::default(), &previous, &|_, _| {}).unwrap();
    let parsed: Vec<&str> = second.parsed.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(parsed, ["vendored_lib/src/a.py"]);
    assert_eq!(second.unchanged, ["b.py"]);
}
