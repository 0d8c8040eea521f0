//! `agentwatch setup <client>` as a user runs it: the client's real config file, already holding
//! the user's other servers (and comments where the format has them), gains AgentWatch and keeps
//! the rest; a second run changes nothing; `--dry-run` writes nothing; and the entry it wrote
//! starts a server that answers MCP.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{Sandbox, stderr, stdout};

/// Each client, its file under HOME, and that file as a user left it: another server, and
/// whatever else the client keeps there.
const CLIENTS: [(&str, &str, &str); 6] = [
    (
        "claude-code",
        ".claude.json",
        r#"{"numStartups": 12, "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": []}}}"#,
    ),
    (
        "cursor",
        ".cursor/mcp.json",
        "{\n  \"mcpServers\": {\n    \"github\": { \"command\": \"gh-mcp\" }\n  }\n}\n",
    ),
    (
        "vscode",
        ".config/Code/User/mcp.json",
        "{\n  // servers for every workspace\n  \"servers\": {\n    \"github\": { \"type\": \"http\", \"url\": \"https://api.githubcopilot.com/mcp/\" }\n  },\n  \"inputs\": []\n}\n",
    ),
    (
        "codex",
        ".codex/config.toml",
        "model = \"gpt-5\"\n\n# docs first\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n",
    ),
    (
        "windsurf",
        ".codeium/windsurf/mcp_config.json",
        "{\"mcpServers\": {\"github\": {\"serverUrl\": \"https://example.com/mcp\"}}}",
    ),
    (
        "zed",
        ".config/zed/settings.json",
        "// Zed settings\n{\n  \"theme\": \"One Dark\",\n  \"context_servers\": {\n    \"github\": { \"command\": \"gh-mcp\", \"args\": [] },\n  },\n}\n",
    ),
];

/// The server entry `name` in a client's file, and whether the user's `github` (or `docs`) one
/// is still there.
fn entry(client: &str, text: &str) -> (Value, bool) {
    if client == "codex" {
        let table: toml::Table = text.parse().unwrap();
        let servers = &table["mcp_servers"];
        let ours = serde_json::to_value(&servers["agentwatch"]).unwrap();
        return (ours, servers.get("docs").is_some());
    }
    let value: Value = jsonc_parser::parse_to_serde_value(text, &Default::default()).unwrap();
    let key = match client {
        "vscode" => "servers",
        "zed" => "context_servers",
        _ => "mcpServers",
    };
    (value[key]["agentwatch"].clone(), !value[key]["github"].is_null())
}

#[test]
fn each_client_s_file_gains_agentwatch_keeps_the_rest_and_a_second_run_changes_nothing() {
    let sandbox = Sandbox::new();
    for (client, file, before) in CLIENTS {
        let path = sandbox.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, before).unwrap();

        let dry = sandbox.command().args(["setup", client, "--dry-run"]).output().unwrap();
        assert!(dry.status.success(), "{client}: {}", stderr(&dry));
        assert!(
            stdout(&dry).contains("+") && stdout(&dry).contains("agentwatch"),
            "{client}: {}",
            stdout(&dry)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "{client}: --dry-run wrote");

        let first = sandbox.command().args(["setup", client]).output().unwrap();
        assert!(first.status.success(), "{client}: {}", stderr(&first));
        let after = std::fs::read_to_string(&path).unwrap();
        let (ours, theirs_kept) = entry(client, &after);
        assert!(theirs_kept, "{client}: the user's server is gone:\n{after}");
        assert_eq!(ours["args"], serde_json::json!(["mcp"]), "{client}:\n{after}");
        let command = ours["command"].as_str().unwrap();
        assert!(
            Path::new(command).is_absolute() && command.ends_with("agentwatch"),
            "{client}: {command}"
        );
        for kept in
            ["// servers for every workspace", "// Zed settings", "# docs first", "numStartups"]
        {
            if before.contains(kept) {
                assert!(after.contains(kept), "{client}: {kept:?} lost:\n{after}");
            }
        }

        let second = sandbox.command().args(["setup", client]).output().unwrap();
        assert!(stdout(&second).contains("nothing changed"), "{client}: {}", stdout(&second));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            after,
            "{client}: the second run changed it"
        );
    }
}

#[test]
fn an_http_entry_carries_the_url_and_token_and_print_serves_other_clients() {
    let sandbox = Sandbox::new();
    let url = "http://localhost:4000/mcp";
    let output = sandbox
        .command()
        .args(["setup", "windsurf", "--url", url, "--token", "tok-123", "--name", "code"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text =
        std::fs::read_to_string(sandbox.path().join(".codeium/windsurf/mcp_config.json")).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["mcpServers"]["code"]["serverUrl"], url);
    assert_eq!(value["mcpServers"]["code"]["headers"]["Authorization"], "Bearer tok-123");

    let printed = sandbox.command().args(["setup", "--print", "--url", url]).output().unwrap();
    let snippet: Value = serde_json::from_str(&stdout(&printed)).unwrap();
    assert_eq!(snippet["mcpServers"]["agentwatch"]["url"], url);

    // A file that is not what its client reads is left alone, with the reason.
    let broken = sandbox.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, "{ \"mcpServers\": ").unwrap();
    let refused = sandbox.command().args(["setup", "cursor"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("not valid JSON"), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "{ \"mcpServers\": ");
}

#[test]
fn the_stdio_entry_setup_writes_starts_a_server_that_answers_mcp() {
    let sandbox = Sandbox::new();
    let output = sandbox.command().args(["setup", "claude-code"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(sandbox.path().join(".claude.json")).unwrap();
    let entry: Value =
        serde_json::from_str::<Value>(&text).unwrap()["mcpServers"]["agentwatch"].clone();
    assert_eq!(entry["type"], "stdio");

    // What Claude Code does with it: launch the command and speak MCP on its stdin and stdout.
    let args: Vec<&str> =
        entry["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut server = sandbox
        .command_for(Path::new(entry["command"].as_str().unwrap()))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "claude-code", "version": "2.0.0" } },
    });
    let mut stdin = server.stdin.take().unwrap();
    writeln!(stdin, "{initialize}").unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        reply["result"]["serverInfo"]["name"].as_str().map(|n| n.contains("agentwatch")),
        Some(true),
        "{reply}"
    );
    drop(stdin);
    let _ = server.kill();
    let _ = server.wait();
}
