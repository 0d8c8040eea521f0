//! `agentwatch setup <client>`: AgentWatch written into an AI client's MCP configuration — over
//! stdio (the client launches `agentwatch mcp`) or over HTTP to a running server — merged into
//! the file the client reads, next to the user's other servers, comments and formatting kept.
//! Running it again changes nothing; `--dry-run` shows the diff and writes nothing.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jsonc_parser::cst::{CstInputValue, CstRootNode};
use serde_json::{Value, json};

/// The clients `setup` knows the configuration of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Code: `~/.claude.json`, `mcpServers` (user scope).
    ClaudeCode,
    /// Cursor: `~/.cursor/mcp.json`, `mcpServers`.
    Cursor,
    /// VS Code: the user's `mcp.json`, `servers`.
    Vscode,
    /// OpenAI Codex: `~/.codex/config.toml`, `[mcp_servers.<name>]`.
    Codex,
    /// Windsurf: `~/.codeium/windsurf/mcp_config.json`, `mcpServers`.
    Windsurf,
    /// Zed: `~/.config/zed/settings.json`, `context_servers`.
    Zed,
}

/// How the client reaches AgentWatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The client launches `command` with `args` and speaks MCP over its stdin and stdout.
    Stdio { command: String, args: Vec<String> },
    /// The client connects to a running server's streamable HTTP endpoint, with a bearer token.
    Http { url: String, token: Option<String> },
}

/// A change to one file: what it held, and what it will hold.
#[derive(Debug)]
pub struct Change {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.before == self.after
    }

    /// A unified diff of the change, for `--dry-run`.
    pub fn diff(&self) -> String {
        let path = self.path.display().to_string();
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .header(&path, &path)
            .to_string()
    }

    /// Writes the new content beside the file and renames it over: a crash leaves the old file
    /// or the new one, never half of either. The file's permissions are kept.
    pub fn write(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let staged = self.path.with_extension("agentwatch-setup.tmp");
        std::fs::write(&staged, &self.after)
            .with_context(|| format!("cannot write {}", staged.display()))?;
        if let Ok(meta) = std::fs::metadata(&self.path) {
            std::fs::set_permissions(&staged, meta.permissions())?;
        }
        std::fs::rename(&staged, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))
    }
}

impl Client {
    /// The file the client reads its MCP servers from, under `home`.
    pub fn path(self, home: &Path) -> PathBuf {
        match self {
            Client::ClaudeCode => home.join(".claude.json"),
            Client::Cursor => home.join(".cursor/mcp.json"),
            Client::Vscode if cfg!(target_os = "macos") => {
                home.join("Library/Application Support/Code/User/mcp.json")
            }
            Client::Vscode => home.join(".config/Code/User/mcp.json"),
            Client::Codex => home.join(".codex/config.toml"),
            Client::Windsurf => home.join(".codeium/windsurf/mcp_config.json"),
            Client::Zed => home.join(".config/zed/settings.json"),
        }
    }

    /// The key of the servers' object in the client's JSON file.
    fn servers_key(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            Client::Zed => "context_servers",
            _ => "mcpServers",
        }
    }

    /// The server's entry as the client writes it.
    pub fn entry(self, transport: &Transport) -> Value {
        let typed = matches!(self, Client::ClaudeCode | Client::Vscode);
        match transport {
            Transport::Stdio { command, args } => {
                let mut entry = json!({ "command": command, "args": args });
                if typed {
                    entry["type"] = json!("stdio");
                }
                entry
            }
            Transport::Http { url, token } => {
                let key = if self == Client::Windsurf { "serverUrl" } else { "url" };
                let mut entry = json!({ key: url });
                if typed {
                    entry["type"] = json!("http");
                }
                if let Some(token) = token {
                    entry["headers"] = json!({ "Authorization": format!("Bearer {token}") });
                }
                entry
            }
        }
    }
}

/// What `setup` would change in `path` (the client's file, or another) to serve `name`.
pub fn plan(
    client: Client,
    path: &Path,
    name: &str,
    transport: &Transport,
) -> anyhow::Result<Change> {
    let before = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let after = match client {
        Client::Codex => merge_toml(&before, name, transport).with_context(|| {
            format!("{} is not valid TOML; fix it and run setup again", path.display())
        })?,
        _ => merge_json(&before, client.servers_key(), name, &client.entry(transport))
            .with_context(|| {
                format!("{} is not valid JSON; fix it and run setup again", path.display())
            })?,
    };
    Ok(Change { path: path.to_owned(), before, after })
}

/// `text` with `servers.name` set to `entry`, the rest as written (comments included). An entry
/// that already says the same is left as it is.
fn merge_json(text: &str, servers: &str, name: &str, entry: &Value) -> anyhow::Result<String> {
    let source = if text.trim().is_empty() { "{}" } else { text };
    let options = jsonc_parser::ParseOptions::default();
    let root = CstRootNode::parse(source, &options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let object = root
        .object_value()
        .or_else(|| source.trim().is_empty().then(|| root.object_value_or_set()))
        .context("the file's top level is not an object")?;
    let servers = object.object_value_or_set(servers);
    match servers.get(name) {
        Some(existing) => {
            let current = existing
                .value()
                .map(|v| v.to_string())
                .and_then(|v| jsonc_parser::parse_to_serde_value::<Value>(&v, &options).ok());
            if current.as_ref() == Some(entry) {
                return Ok(text.to_owned());
            }
            existing.set_value(cst(entry));
        }
        None => {
            servers.append(name, cst(entry));
        }
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// A JSON value for the CST, its keys in the order a person would write them.
fn cst(value: &Value) -> CstInputValue {
    const FIRST: [&str; 7] = ["type", "command", "args", "env", "url", "serverUrl", "headers"];
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(cst).collect()),
        Value::Object(map) => {
            let mut fields: Vec<(String, CstInputValue)> =
                map.iter().map(|(k, v)| (k.clone(), cst(v))).collect();
            let rank = |k: &str| FIRST.iter().position(|f| *f == k).unwrap_or(FIRST.len());
            fields.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            CstInputValue::Object(fields)
        }
    }
}

/// `text` with `[mcp_servers.name]` set for `transport`, the rest as written. An entry that
/// already says the same is left as it is.
fn merge_toml(text: &str, name: &str, transport: &Transport) -> anyhow::Result<String> {
    let mut document: toml_edit::DocumentMut = text.parse()?;
    let mut table = toml_edit::Table::new();
    match transport {
        Transport::Stdio { command, args } => {
            table["command"] = toml_edit::value(command.as_str());
            let args: toml_edit::Array = args.iter().map(String::as_str).collect();
            table["args"] = toml_edit::value(args);
        }
        Transport::Http { url, token } => {
            table["url"] = toml_edit::value(url.as_str());
            if let Some(token) = token {
                let mut headers = toml_edit::InlineTable::new();
                headers.insert("Authorization", format!("Bearer {token}").into());
                table["http_headers"] = toml_edit::value(headers);
            }
        }
    }
    let servers = document
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut servers = toml_edit::Table::new();
            servers.set_implicit(true);
            toml_edit::Item::Table(servers)
        })
        .as_table_mut()
        .context("`mcp_servers` is not a table")?;
    let same = servers.get(name).and_then(toml_edit::Item::as_table).is_some_and(|current| {
        current.to_string().parse::<toml::Table>().ok()
            == table.to_string().parse::<toml::Table>().ok()
    });
    if same {
        return Ok(text.to_owned());
    }
    servers.insert(name, toml_edit::Item::Table(table));
    Ok(document.to_string())
}

/// The snippet for a client `setup` does not know: the `mcpServers` entry most clients read.
pub fn snippet(name: &str, transport: &Transport) -> String {
    let entry = Client::Cursor.entry(transport);
    serde_json::to_string_pretty(&json!({ "mcpServers": { name: entry } })).expect("JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio() -> Transport {
        Transport::Stdio { command: "/opt/agentwatch".into(), args: vec!["mcp".into()] }
    }

    #[test]
    fn a_json_file_with_comments_and_other_servers_keeps_them() {
        let text = "{\n  // my servers\n  \"mcpServers\": {\n    \"github\": { \"command\": \"gh-mcp\" }\n  },\n  \"theme\": \"dark\"\n}\n";
        let merged =
            merge_json(text, "mcpServers", "agentwatch", &Client::Cursor.entry(&stdio())).unwrap();
        assert!(
            merged.contains("// my servers") && merged.contains("\"theme\": \"dark\""),
            "{merged}"
        );
        let value =
            jsonc_parser::parse_to_serde_value::<Value>(&merged, &Default::default()).unwrap();
        assert_eq!(value["mcpServers"]["github"]["command"], "gh-mcp");
        assert_eq!(
            value["mcpServers"]["agentwatch"],
            json!({ "command": "/opt/agentwatch", "args": ["mcp"] })
        );
        let again =
            merge_json(&merged, "mcpServers", "agentwatch", &Client::Cursor.entry(&stdio()))
                .unwrap();
        assert_eq!(again, merged, "a second run changes nothing");
    }

    #[test]
    fn a_codex_config_gains_its_table_and_keeps_the_rest() {
        let text =
            "model = \"gpt-5\"  # the default\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n";
        let http =
            Transport::Http { url: "http://localhost:4000/mcp".into(), token: Some("t0k".into()) };
        let merged = merge_toml(text, "agentwatch", &http).unwrap();
        assert!(merged.starts_with("model = \"gpt-5\"  # the default\n"), "{merged}");
        let parsed: toml::Table = merged.parse().unwrap();
        assert_eq!(parsed["mcp_servers"]["docs"]["command"].as_str(), Some("docs-mcp"));
        assert_eq!(
            parsed["mcp_servers"]["agentwatch"]["url"].as_str(),
            Some("http://localhost:4000/mcp")
        );
        assert_eq!(
            parsed["mcp_servers"]["agentwatch"]["http_headers"]["Authorization"].as_str(),
            Some("Bearer t0k")
        );
        assert_eq!(merge_toml(&merged, "agentwatch", &http).unwrap(), merged);
    }

    #[test]
    fn a_file_that_is_not_json_is_left_alone_with_a_reason() {
        let error =
            merge_json("{ \"mcpServers\": ", "mcpServers", "agentwatch", &json!({})).unwrap_err();
        assert!(!error.to_string().is_empty());
        let error = merge_json("[1, 2]", "mcpServers", "agentwatch", &json!({})).unwrap_err();
        assert!(error.to_string().contains("not an object"), "{error}");
    }
}
