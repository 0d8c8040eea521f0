//! Reading what a bug report names, on stack traces the real runtimes print: Python's, Node's and
//! Rust's, produced here by running code that fails.

use std::path::Path;
use std::process::Command;

use indexer::locate::Evidence;
use indexer::mentions::{Frame, mentions};
use indexer::{IndexOptions, RepoGraph, index_directory};

/// Runs `program` with `args` in `dir` and returns what it printed on stderr.
fn stderr_of(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs here (scripts/setup.sh --tests): {e}"));
    assert!(!output.status.success(), "the program was meant to fail");
    String::from_utf8(output.stderr).unwrap()
}

fn graph_of(dir: &Path) -> RepoGraph {
    index_directory(dir, &IndexOptions::default()).unwrap().graph
}

/// The top anchor's file and symbol names.
fn strongest(graph: &RepoGraph, text: &str) -> (String, Option<String>) {
    let anchors = graph.anchors(&mentions(text));
    let top = anchors.first().unwrap_or_else(|| panic!("no anchor for {text}"));
    let symbol = top.symbol.map(|s| graph.symbol(s).qualified.clone());
    (graph.files[top.file].path.clone(), symbol)
}

fn frame<'a>(frames: &'a [Frame], function: &str) -> &'a Frame {
    frames
        .iter()
        .find(|f| f.function.as_deref() == Some(function))
        .unwrap_or_else(|| panic!("no frame of {function} in {frames:#?}"))
}

#[test]
fn a_python_traceback_gives_its_frames_files_and_exception() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shop")).unwrap();
    std::fs::write(dir.path().join("shop/__init__.py"), "").unwrap();
    std::fs::write(
        dir.path().join("shop/cart.py"),
        "import json\n\n\ndef total(items):\n    return sum(item[\"price\"] for item in items)\n\n\ndef load(text):\n    return json.loads(text)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import sys\nfrom shop import cart\n\nif sys.argv[1] == 'key':\n    cart.total([{\"cost\": 3}])\nelse:\n    cart.load('{')\n",
    )
    .unwrap();

    let trace = stderr_of("python3", &["app.py", "key"], dir.path());
    let found = mentions(&trace);
    assert_eq!(found.exceptions, ["KeyError"], "{trace}");
    let total = frame(&found.frames, "total");
    assert_eq!(total.line, Some(5));
    assert!(total.path.as_deref().unwrap().ends_with("shop/cart.py"), "{total:?}");
    // Python prints the outermost call first; the frames are kept innermost first.
    assert_eq!(found.frames.last().unwrap().function.as_deref(), Some("<module>"));
    assert_eq!(found.frames[0].function.as_deref(), Some("<genexpr>"));
    assert!(found.paths.iter().any(|p| p.path.ends_with("app.py") && p.line == Some(5)));

    // In the repository's graph, the frames land on the function that failed and its caller.
    let graph = graph_of(dir.path());
    let anchors = graph.anchors(&found);
    let framed: Vec<(&str, Option<&str>)> = anchors
        .iter()
        .filter(|a| matches!(a.evidence, Evidence::Frame { .. }))
        .map(|a| {
            (graph.files[a.file].path.as_str(), a.symbol.map(|s| graph.symbol(s).name.as_str()))
        })
        .collect();
    assert!(framed.contains(&("shop/cart.py", Some("total"))), "{framed:?}");
    assert!(framed.contains(&("app.py", None)), "{framed:?}");

    // A failure inside the standard library: its frames are there too, and the exception
    // keeps its module.
    let trace = stderr_of("python3", &["app.py", "json"], dir.path());
    let found = mentions(&trace);
    assert_eq!(found.exceptions, ["json.decoder.JSONDecodeError"], "{trace}");
    assert_eq!(frame(&found.frames, "load").line, Some(9));
    assert!(found.paths.iter().any(|p| p.path.ends_with("json/decoder.py")), "{:?}", found.paths);
}

#[test]
fn a_node_stack_gives_its_frames_without_node_s_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(
        dir.path().join("lib/cart.js"),
        "class Cart {\n  constructor(items) { this.items = items; }\n  total() {\n    return this.items.reduce((sum, item) => sum + item.price.amount, 0);\n  }\n}\nmodule.exports = { Cart };\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.js"),
        "const { Cart } = require('./lib/cart');\nfunction checkout() {\n  return new Cart([{}]).total();\n}\ncheckout();\n",
    )
    .unwrap();

    let trace = stderr_of("node", &["main.js"], dir.path());
    let found = mentions(&trace);
    assert_eq!(found.exceptions, ["TypeError"], "{trace}");
    let total = frame(&found.frames, "Cart.total");
    assert_eq!(total.line, Some(4));
    assert!(total.path.as_deref().unwrap().ends_with("lib/cart.js"));
    assert_eq!(frame(&found.frames, "checkout").line, Some(3));
    assert!(found.frames.iter().all(|f| !f.path.as_deref().unwrap_or("").starts_with("node:")));

    let top = strongest(&graph_of(dir.path()), &trace);
    assert_eq!(top, ("lib/cart.js".to_owned(), Some("Cart.total".to_owned())));
}

#[inline(never)]
fn capture_a_backtrace() -> String {
    std::backtrace::Backtrace::force_capture().to_string()
}

#[test]
fn a_rust_backtrace_gives_functions_without_their_hashes_and_their_lines() {
    let trace = capture_a_backtrace();
    let found = mentions(&trace);
    let frame = frame(&found.frames, "it::mentions::capture_a_backtrace");
    assert!(frame.path.as_deref().unwrap().ends_with("tests/it/mentions.rs"), "{trace}");
    assert!(frame.line.is_some());

    // A panic's first line names the place.
    let found = mentions(
        "thread 'main' panicked at src/ledger.rs:88:17:\nattempt to subtract with overflow",
    );
    assert_eq!(found.exceptions, ["panic"]);
    assert_eq!(found.paths[0].path, "src/ledger.rs");
    assert_eq!(found.paths[0].line, Some(88));
}

#[test]
fn prose_gives_the_paths_and_the_names_that_read_as_code() {
    let report = "Session.mount() with a custom adapter breaks `resolve_redirects` when \
                  max_redirects is 0: see requests/sessions.py:712 and adapters.py. The \
                  HTTPAdapter is fine.\n\n```python\ns = Session()\ns.mount('x', MyAdapter())\n```";
    let found = mentions(report);
    let paths: Vec<(&str, Option<u32>)> =
        found.paths.iter().map(|p| (p.path.as_str(), p.line)).collect();
    assert_eq!(paths, [("requests/sessions.py", Some(712)), ("adapters.py", None)]);
    for name in ["resolve_redirects", "Session.mount", "max_redirects", "HTTPAdapter", "MyAdapter"]
    {
        assert!(found.identifiers.iter().any(|i| i == name), "{name} in {:?}", found.identifiers);
    }
    for word in ["custom", "adapter", "breaks", "when", "fine"] {
        assert!(!found.identifiers.iter().any(|i| i == word), "{word} is prose");
    }
}

#[test]
fn a_path_written_from_another_checkout_finds_the_file_by_its_end() {
    let dir = tempfile::tempdir().unwrap();
    for path in ["src/requests/sessions.py", "src/requests/adapters.py", "tests/adapters.py"] {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "def resolve_redirects(resp):\n    return resp\n").unwrap();
    }
    let graph = graph_of(dir.path());
    let paths = |written: &str| -> Vec<&str> {
        graph.files_ending_with(written).into_iter().map(|f| graph.files[f].path.as_str()).collect()
    };
    assert_eq!(
        paths("/usr/lib/python3/site-packages/requests/sessions.py"),
        ["src/requests/sessions.py"]
    );
    assert_eq!(paths("requests/adapters.py"), ["src/requests/adapters.py"]);
    // A bare name fits every file of that name: both, each anchoring at half weight.
    assert_eq!(paths("adapters.py"), ["src/requests/adapters.py", "tests/adapters.py"]);
    assert!(paths("requests/models.py").is_empty());
    let anchors = graph.anchors(&mentions("see adapters.py"));
    assert!(anchors.iter().all(|a| a.weight == 0.5), "{anchors:?}");
}
