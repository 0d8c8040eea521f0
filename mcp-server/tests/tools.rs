//! The MCP face in process: an rmcp client talking to the knowledge server over an in-memory
//! pipe, as an agent over stdio would. What each tool's text says (the next page, the enclosing
//! symbol, what to do after an error) is what an agent reads; these tests hold it, in the fast
//! tier. The real binary against the SDK clients, the Inspector and the conformance suite is the
//! slow tier (`tests/it`, `--features e2e`).

use std::path::Path;
use std::sync::Arc;

use gateway::dlp::policy::Policy;
use indexer::{Indexer, IndexerConfig, JobState, Source};
use knowledge::Knowledge;
use mcp_server::access::Access;
use mcp_server::mcp::KnowledgeServer;
use rmcp::model::{CallToolRequestParams, PaginatedRequestParams, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

/// A client connected to a server that has indexed the python-pkg fixture (structure and
/// lexical search; no embedding model), as the local user of `agentwatch mcp`.
async fn connected() -> (tempfile::TempDir, Client) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let indexer = Indexer::open(IndexerConfig::in_data_dir(data.path(), storage)).await.unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/python-pkg");
    let source = Source::parse(fixture.to_str().unwrap()).unwrap();
    let status = indexer::finished(indexer.submit(source, None, None).await.unwrap()).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    (data, client_of(indexer).await)
}

/// A client connected, as the local user of `agentwatch mcp`, to a server over `indexer`.
async fn client_of(indexer: Arc<Indexer>) -> Client {
    let access = Arc::new(Access::new(&Policy::builtin(), None, false));
    let server = KnowledgeServer::new(Knowledge::new(indexer), access);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.expect("the server starts");
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("the client connects")
}

/// A tool's answer: whether it is a tool error, and its text.
async fn call(client: &Client, tool: &'static str, args: Value) -> (bool, String) {
    let Value::Object(args) = args else { panic!("arguments are an object") };
    let params = CallToolRequestParams::new(tool).with_arguments(args);
    let result = client.call_tool(params).await.expect("the call is answered");
    let text = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str());
    (result.is_error == Some(true), text.collect::<Vec<_>>().join("\n"))
}

async fn answer(client: &Client, tool: &'static str, args: Value) -> String {
    let (failed, text) = call(client, tool, args).await;
    assert!(!failed, "{tool} failed: {text}");
    text
}

#[tokio::test]
async fn a_symbol_is_shown_in_full_with_what_encloses_it() {
    let (_data, client) = connected().await;
    let text = answer(&client, "get_symbol", json!({ "symbol": "Inventory.total_value" })).await;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("method Inventory.total_value — stockroom/inventory.py:30-31"));
    assert_eq!(lines.next(), Some("in class Inventory"));
    assert!(text.contains("```\ndef total_value(self) -> float:\n        return sum("), "{text}");
}

#[tokio::test]
async fn an_ambiguous_name_is_an_error_that_lists_the_candidates_and_says_what_to_pass() {
    let (_data, client) = connected().await;
    let (failed, text) = call(&client, "get_callers", json!({ "symbol": "add" })).await;
    assert!(failed, "{text}");
    assert!(text.contains("Inventory.add") && text.contains("AuditedInventory.add"), "{text}");
    assert!(text.contains("path"), "the error says how to choose: {text}");

    let args = json!({ "symbol": "Inventory.total_value", "depth": 1 });
    let text = answer(&client, "get_callers", args).await;
    assert!(text.starts_with("callers of stockroom/inventory.py::Inventory.total_value"), "{text}");
    assert!(text.contains("Inventory.report"), "{text}");
}

#[tokio::test]
async fn long_lists_come_a_page_at_a_time_and_say_where_the_next_one_starts() {
    let (_data, client) = connected().await;
    // Item is called once (Inventory.from_rows) and inherited once (Perishable).
    let args = |offset: usize| json!({ "symbol": "Item", "path": "stockroom/models.py", "limit": 1, "offset": offset });
    let first = answer(&client, "find_references", args(0)).await;
    assert_eq!(
        first,
        "stockroom/inventory.py:22 call in Inventory.from_rows\n\
         Showing 1-1 of 2: pass offset=1 for more.\n"
    );
    let second = answer(&client, "find_references", args(1)).await;
    assert_eq!(second, "stockroom/models.py:26 inherits in Perishable\nShowing 2-2 of 2.\n");
    let past = answer(&client, "find_references", args(2)).await;
    assert_eq!(past, "Nothing at offset 2: there are 2.\n");

    let found = answer(&client, "find_symbol", json!({ "name": "i", "limit": 1 })).await;
    assert_eq!(found.lines().count(), 2, "{found}");
    assert!(found.ends_with("More match: raise limit (at most 200) or refine the name.\n"));
}

#[tokio::test]
async fn a_file_is_read_in_numbered_lines_as_asked() {
    let (_data, client) = connected().await;
    let args = json!({ "path": "stockroom/pricing.py", "start_line": 6, "end_line": 9 });
    let text = answer(&client, "read_file", args).await;
    assert_eq!(
        text,
        "stockroom/pricing.py lines 6-9 of 24\n6  TAX_RATE = 0.2\n7  \n8  \n9  def cached(fn):\n"
    );
}

#[tokio::test]
async fn a_search_names_each_hit_s_place_and_the_next_page() {
    let (_data, client) = connected().await;
    let args = json!({ "query": "price with tax", "mode": "lexical", "limit": 1 });
    let text = answer(&client, "search_code", args).await;
    assert!(text.starts_with("1. stockroom/pricing.py:"), "{text}");
    assert!(text.contains("price_with_tax"), "{text}");
    assert!(text.trim_end().ends_with("More may follow: pass offset=1."), "{text}");

    let (failed, text) =
        call(&client, "search_code", json!({ "query": "x", "mode": "fast" })).await;
    assert!(failed && text.contains("use semantic, lexical or hybrid"), "{text}");
}

/// A traceback as Python prints it on a user's machine (the checkout elsewhere).
const TRACEBACK: &str = r#"Stock report totals are off after the tax change.

Traceback (most recent call last):
  File "/home/ci/stockroom/stockroom/inventory.py", line 31, in total_value
    return sum(price_with_tax(item) for item in self.items.values())
  File "/home/ci/stockroom/stockroom/pricing.py", line 24, in price_with_tax
    return round(item.total * (1 + TAX_RATE), 2)
TypeError: unsupported operand type(s) for *: 'NoneType' and 'float'
"#;

#[tokio::test]
async fn a_pasted_traceback_is_located_with_the_evidence_for_each_file() {
    let (_data, client) = connected().await;
    let text =
        answer(&client, "find_relevant_code", json!({ "text": TRACEBACK, "limit": 3 })).await;
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("1. stockroom/pricing.py (score "), "{text}");
    assert!(text.contains("a stack frame in price_with_tax line 24"), "{text}");
    assert!(text.contains("function price_with_tax lines 23-24"), "{text}");
    assert!(text.contains("stockroom/inventory.py"), "{text}");

    let (failed, text) = call(&client, "find_relevant_code", json!({ "text": "  " })).await;
    assert!(failed && text.contains("pass the issue, stack trace, log or test output"), "{text}");
}

#[tokio::test]
async fn a_mistake_is_a_tool_error_that_says_what_to_do() {
    let (_data, client) = connected().await;
    let (failed, text) =
        call(&client, "find_symbol", json!({ "name": "add", "repo": "elsewhere" })).await;
    assert!(failed && text.contains("list_repositories"), "{text}");
    let (failed, text) =
        call(&client, "find_symbol", json!({ "name": "add", "match": "roughly" })).await;
    assert!(failed && text.contains("use fuzzy, prefix or exact"), "{text}");
    let (failed, text) =
        call(&client, "get_file_outline", json!({ "path": "../etc/passwd" })).await;
    assert!(failed, "{text}");
}

#[tokio::test]
async fn indexed_files_are_resources_and_nothing_else_is() {
    let (_data, client) = connected().await;
    let listed = client.list_resources(None::<PaginatedRequestParams>).await.unwrap();
    let uris: Vec<&str> = listed.resources.iter().map(|r| r.uri.as_str()).collect();
    let pricing = uris
        .iter()
        .find(|u| u.ends_with("/file/stockroom/pricing.py"))
        .unwrap_or_else(|| panic!("{uris:?}"));
    assert!(listed.next_cursor.is_none(), "one page holds a small repository");

    let read = client.read_resource(ReadResourceRequestParams::new(*pricing)).await.unwrap();
    let text = serde_json::to_value(&read.contents[0]).unwrap();
    assert!(text["text"].as_str().unwrap().contains("def price_with_tax"), "{text}");

    let repo = pricing.trim_end_matches("stockroom/pricing.py");
    for uri in [format!("{repo}../../etc/passwd"), format!("{repo}build/missing.py")] {
        let refused = client.read_resource(ReadResourceRequestParams::new(uri.clone())).await;
        assert!(refused.is_err(), "{uri} was read");
    }
    let bad_cursor = PaginatedRequestParams::default().with_cursor(Some("later".to_owned()));
    assert!(client.list_resources(Some(bad_cursor)).await.is_err());
}

#[tokio::test]
async fn refresh_brings_a_folder_that_is_not_watched_up_to_date_and_says_so() {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let indexer = Indexer::open(IndexerConfig::in_data_dir(data.path(), storage)).await.unwrap();
    let client = client_of(indexer).await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("rates.py"), "def base_rate():\n    return 1\n").unwrap();
    let url = folder.path().to_str().unwrap();
    let indexed = answer(&client, "index_repository", json!({ "url": url, "watch": false })).await;
    assert!(indexed.contains(": ready (100%)"), "{indexed}");

    std::fs::write(
        folder.path().join("rates.py"),
        "def base_rate():\n    return 1\n\ndef surge_rate():\n    return 2 * base_rate()\n",
    )
    .unwrap();
    let (_, before) = call(&client, "find_symbol", json!({ "name": "surge_rate" })).await;
    assert!(!before.contains("rates.py"), "not re-indexed yet: {before}");
    let refreshed = answer(&client, "refresh_repository", json!({ "wait_seconds": 30 })).await;
    assert!(refreshed.contains(": ready (100%)"), "{refreshed}");
    let callers = answer(&client, "get_callers", json!({ "symbol": "base_rate" })).await;
    assert!(callers.contains("surge_rate"), "{callers}");

    // Only folders on this machine are watched.
    let clone = json!({ "url": "https://github.com/psf/requests", "watch": true });
    let (failed, text) = call(&client, "index_repository", clone).await;
    assert!(failed && text.contains("only local folders are watched"), "{text}");
    assert!(text.contains("refresh_repository"), "says what to do instead: {text}");
}
