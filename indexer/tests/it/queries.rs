//! Structural queries over the fixture repositories: the answers an agent gets.

use indexer::{IndexOptions, NameMatch, RepoGraph, SymbolKind, SymbolRef, index_directory};

use crate::support::fixture;

fn graph(name: &str) -> RepoGraph {
    index_directory(&fixture(name), &IndexOptions::default()).unwrap().graph
}

fn named(graph: &RepoGraph, qualified: &str) -> SymbolRef {
    let found = graph.find_symbols(qualified, NameMatch::Exact, None, 10);
    assert_eq!(
        found.len(),
        1,
        "exactly one {qualified}: {:?}",
        found.iter().map(|s| graph.display(*s)).collect::<Vec<_>>()
    );
    found[0]
}

fn names(graph: &RepoGraph, symbols: impl IntoIterator<Item = SymbolRef>) -> Vec<String> {
    symbols.into_iter().map(|s| graph.display(s)).collect()
}

#[test]
fn symbols_are_found_exactly_by_prefix_and_fuzzily() {
    let g = graph("rust-crate");
    assert_eq!(
        names(&g, g.find_symbols("Shortener::shorten", NameMatch::Exact, None, 10)),
        ["src/shortener.rs::Shortener::shorten"]
    );
    let prefixed = names(&g, g.find_symbols("short", NameMatch::Prefix, None, 10));
    assert_eq!(
        prefixed,
        [
            "src/shortener.rs::Shortener::shorten",
            "src/shortener.rs::Shortener",
            "src/lib.rs::shorten_all",
            "src/lib.rs::tests::shortens_and_resolves",
        ]
    );
    let fuzzy = names(&g, g.find_symbols("memstore", NameMatch::Fuzzy, None, 3));
    assert_eq!(fuzzy[0], "src/store.rs::MemoryStore");
    let traits = names(&g, g.find_symbols("store", NameMatch::Fuzzy, Some(SymbolKind::Trait), 10));
    assert_eq!(traits, ["src/store.rs::Store"]);
}

#[test]
fn a_symbol_comes_with_its_source() {
    let g = graph("rust-crate");
    let source = g.source(&fixture("rust-crate"), named(&g, "Link::new")).unwrap();
    assert_eq!(
        source,
        "pub fn new(url: &str) -> Self {\n        Link { url: url.to_string(), hits: 0 }\n    }"
    );
}

#[test]
fn a_file_outline_nests_members_under_their_type() {
    let g = graph("python-pkg");
    let file = g.file_index("stockroom/models.py").unwrap();
    let outline: Vec<String> = g
        .outline(file)
        .into_iter()
        .map(|(s, depth)| format!("{}{}", "  ".repeat(depth), g.symbol(s).name))
        .collect();
    assert_eq!(
        outline,
        [
            "DEFAULT_CURRENCY",
            "Item",
            "  __init__",
            "  total",
            "  describe",
            "Perishable",
            "  __init__",
            "  is_expired",
            "Movement",
        ]
    );
}

#[test]
fn a_line_belongs_to_its_innermost_symbol() {
    let g = graph("python-pkg");
    let at = |line| g.symbol_at("stockroom/models.py", line).map(|s| g.display(s));
    assert_eq!(at(20).as_deref(), Some("stockroom/models.py::Item.total"));
    assert_eq!(at(10).as_deref(), Some("stockroom/models.py::Item"), "the class's own body");
    assert_eq!(at(4), None, "top-level code");
    assert_eq!(g.symbol_at("stockroom/absent.py", 1), None);
}

#[test]
fn callers_and_callees_follow_calls_across_files() {
    let g = graph("python-pkg");
    let price = named(&g, "price_with_tax");
    let callers: Vec<(String, usize)> =
        g.callers(price, 3).into_iter().map(|(s, d, _)| (g.display(s), d)).collect();
    assert_eq!(
        callers,
        [
            ("stockroom/inventory.py::Inventory.total_value".to_owned(), 1),
            ("stockroom/inventory.py::Inventory.report".to_owned(), 2),
        ]
    );
    let from_rows = named(&g, "Inventory.from_rows");
    assert_eq!(
        names(&g, g.callees(from_rows, 1).into_iter().map(|(s, _, _)| s)),
        ["stockroom/models.py::Item"]
    );
}

#[test]
fn references_list_resolved_sites_before_possible_ones() {
    let g = graph("ts-app");
    let sites = g.references(named(&g, "TaskRepository"));
    let resolved: Vec<(bool, u32)> = sites.iter().map(|s| (s.resolved, s.line)).collect();
    assert_eq!(resolved, [(true, 7)], "`new TaskRepository()` in service.ts");

    let save = g.references(named(&g, "BaseRepository.save"));
    assert!(
        save.iter().all(|s| !s.resolved),
        "calls through `this.repo` are only possible references"
    );
    assert_eq!(
        save.iter().map(|s| (g.files[s.file].path.as_str(), s.line)).collect::<Vec<_>>(),
        [("src/service.ts", 11), ("src/service.ts", 20),]
    );
}

#[test]
fn impact_reaches_callers_and_dependent_files() {
    let g = graph("python-pkg");
    let impact = g.impact(named(&g, "Item"), 5);
    assert_eq!(
        names(&g, impact.callers.iter().map(|(s, _)| *s)),
        ["stockroom/inventory.py::Inventory.from_rows", "stockroom/cli.py::main"]
    );
    assert_eq!(
        impact.files,
        [
            "stockroom/__init__.py",
            "stockroom/cli.py",
            "stockroom/inventory.py",
            "stockroom/pricing.py"
        ]
    );
}

#[test]
fn the_repo_map_ranks_central_symbols_within_the_budget() {
    let g = graph("rust-crate");
    let map = g.repo_map(120);
    assert!(map.len() <= 120 * 4, "{} characters for 120 tokens:\n{map}", map.len());
    assert!(
        map.contains("pub trait Store: fmt::Debug"),
        "the most used type is on the map:\n{map}"
    );
    let bigger = g.repo_map(2_000);
    assert!(bigger.len() > map.len());
    assert!(bigger.contains("pub fn shorten_all(urls: &[&str]) -> Vec<String>"), "{bigger}");
}
