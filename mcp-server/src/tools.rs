//! The knowledge tools, as an agent sees them over MCP. Each answers in compact text an agent can
//! read (the structured form too where a program would want it), bounded so one call never floods
//! a context window: lists are paginated with an explicit notice, long sources are cut with a note
//! saying how to read the rest. A failure is a tool error whose message says what to do next.

use std::fmt::Write as _;
use std::time::Duration;

use indexer::{Mode, NameMatch};
use knowledge::views::{
    CallsOutput, JobView, LocateOutput, RepoView, ReposOutput, ScanView, SearchOutput, StageView,
    SymbolView,
};
use knowledge::{
    AskView, Direction, FindingQuery, Imports, KnowledgeError, Page, Scoped, SearchRequest,
    SymbolName, SymbolQuery,
};
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mcp::KnowledgeServer;

/// Tool results: a success, or a tool error carrying its message.
type Answer = Result<CallToolResult, ToolError>;

/// A tool error: its message is what the agent reads.
#[derive(Debug)]
pub struct ToolError(String);

impl From<KnowledgeError> for ToolError {
    fn from(error: KnowledgeError) -> ToolError {
        // A refusal of the caller is metered as such (403, 429), not as a plain tool error.
        crate::mcp::note_status(error.metered_status(knowledge::Face::Mcp));
        ToolError(error.to_string())
    }
}

impl From<String> for ToolError {
    fn from(message: String) -> ToolError {
        ToolError(message)
    }
}

impl From<&str> for ToolError {
    fn from(message: &str) -> ToolError {
        ToolError(message.to_owned())
    }
}

/// The message as the tool error's content (rmcp marks the result `is_error`).
impl rmcp::model::IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.0)]
    }
}

/// Most items one call lists; more are a page away.
const MAX_LIMIT: usize = 200;
/// Most lines one call returns from a file, a symbol's source or an outline.
const MAX_LINES: usize = knowledge::MAX_LINES;
/// How long `index_repository` waits by default before answering with the job still running.
const DEFAULT_WAIT_SECONDS: u64 = 60;
/// How long `run_security_scan` waits by default before answering with the scan still running.
const DEFAULT_SCAN_WAIT: u64 = 120;

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct RunScanArgs {
    /// The repository: its id, name, URL or path (see list_repositories). May be left out when
    /// only one repository is indexed.
    #[serde(default)]
    pub repo: Option<String>,
    /// Seconds to wait for the scan to finish before answering with it still running; 0
    /// answers at once. Default 120, at most 600.
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct FindingsArgs {
    /// The repository: its id, name, URL or path. May be left out when only one is indexed.
    #[serde(default)]
    pub repo: Option<String>,
    /// A scan id from run_security_scan; default: the repository's latest finished scan.
    #[serde(default)]
    pub scan_id: Option<String>,
    /// Only findings this severe or worse: critical, high, medium, low or info.
    #[serde(default)]
    pub severity: Option<String>,
    /// Only findings of this tool: semgrep, trivy or checkov.
    #[serde(default)]
    pub tool: Option<String>,
    /// Only findings in this file, or under this folder (`src/api`).
    #[serde(default)]
    pub path: Option<String>,
    /// Only findings inside symbols whose name contains this (`find_order`, `Shortener`).
    #[serde(default)]
    pub symbol: Option<String>,
    /// Findings to return (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Findings to skip, for the next page.
    #[serde(default)]
    pub offset: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct IndexArgs {
    /// An https git URL (`https://github.com/org/repo`) or a folder on the server's machine.
    pub url: String,
    /// Branch to index; default: the remote's default branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// Seconds to wait for the structural index (symbols, graph, lexical search) before answering
    /// with the job still running; 0 answers at once. Default 60, at most 600. Embeddings for
    /// semantic search continue in the background either way.
    #[serde(default)]
    pub wait_seconds: Option<u64>,
    /// For a folder: whether to watch it and re-index what changes there, unasked. Default: as
    /// chosen before, or the server's setting (on unless `index.watch = false`).
    #[serde(default)]
    pub watch: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct RefreshArgs {
    /// The repository: its id, name, URL or path (see list_repositories). May be left out when
    /// only one repository is indexed.
    #[serde(default)]
    pub repo: Option<String>,
    /// Seconds to wait for the structural index before answering with the job still running; 0
    /// answers at once. Default 60, at most 600.
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct RepoArg {
    /// The repository: its id, name, URL or path (see list_repositories). May be left out when
    /// only one repository is indexed.
    #[serde(default)]
    pub repo: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct PageArgs {
    /// Items to return (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Items to skip, for the next page.
    #[serde(default)]
    pub offset: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct SearchArgs {
    /// What to look for: words ("where are failed uploads retried"), identifiers
    /// (`parse_http_response`), or both.
    pub query: String,
    /// `hybrid` (default: meaning and words, fused), `semantic` (by meaning) or `lexical` (the
    /// words and identifiers of the code).
    #[serde(default)]
    pub mode: Option<String>,
    /// Repositories to search (ids, names, URLs or paths); default: all.
    #[serde(default)]
    pub repos: Vec<String>,
    /// Only this language: rust, python, typescript, tsx, javascript, go, java, kotlin, csharp,
    /// php, ruby, bash, c or cpp.
    #[serde(default)]
    pub language: Option<String>,
    /// Only paths matching this glob, e.g. `src/**/*.rs`.
    #[serde(default)]
    pub path_glob: Option<String>,
    /// Only chunks of this symbol kind (function, method, class, struct, …) or `code`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Results to return (default 10, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Results to skip, for the next page.
    #[serde(default)]
    pub offset: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct LocateArgs {
    /// The text to place in the code, as long as it is: an issue or bug report, a stack trace, a
    /// log, a failing test's output, or several of these together.
    pub text: String,
    /// The repository (id, name, URL or path); may be left out when one is indexed.
    #[serde(default)]
    pub repo: Option<String>,
    /// Files to return (default 10, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct FindSymbolArgs {
    /// A name (`shorten`), a qualified name (`Shortener::shorten`), or a few characters of it.
    pub name: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// `fuzzy` (default: characters in order, best first), `prefix` or `exact`.
    #[serde(default, rename = "match")]
    pub how: Option<String>,
    /// Only symbols of this kind: function, method, class, struct, enum, trait, interface, type,
    /// module or constant.
    #[serde(default)]
    pub kind: Option<String>,
    /// Symbols to return (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct SymbolArgs {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    pub symbol: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// The file that defines it, when the name alone is ambiguous.
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct GraphWalkArgs {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    pub symbol: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// The file that defines it, when the name alone is ambiguous.
    #[serde(default)]
    pub path: Option<String>,
    /// Hops to follow (default 1, at most 5).
    #[serde(default)]
    pub depth: Option<usize>,
    /// Items to return (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Items to skip, for the next page.
    #[serde(default)]
    pub offset: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct ReferencesArgs {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    pub symbol: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// The file that defines it, when the name alone is ambiguous.
    #[serde(default)]
    pub path: Option<String>,
    /// Items to return (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Items to skip, for the next page.
    #[serde(default)]
    pub offset: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct ImpactArgs {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    pub symbol: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// The file that defines it, when the name alone is ambiguous.
    #[serde(default)]
    pub path: Option<String>,
    /// Hops of callers to follow (default 3, at most 5).
    #[serde(default)]
    pub depth: Option<usize>,
    /// Callers and files to list, of each (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct FileArgs {
    /// Path relative to the repository root, as listed by search and outline results.
    pub path: String,
    #[serde(default)]
    pub repo: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct ReadFileArgs {
    /// Path relative to the repository root.
    pub path: String,
    #[serde(default)]
    pub repo: Option<String>,
    /// First line to return, 1-based (default 1).
    #[serde(default)]
    pub start_line: Option<usize>,
    /// Last line to return, inclusive (default: 400 lines on).
    #[serde(default)]
    pub end_line: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct AskArgs {
    /// The question, in plain words ("how is tax added to a price?").
    pub question: String,
    /// The repository: its id, name, URL or path. May be left out when only one is indexed.
    #[serde(default)]
    pub repo: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = optional_not_null)]
pub struct RepoMapArgs {
    #[serde(default)]
    pub repo: Option<String>,
    /// The map's size in tokens (default 1024, at most 8192).
    #[serde(default)]
    pub max_tokens: Option<usize>,
}

/// Optional arguments are left out rather than sent as null, and their schemas say just that: one
/// `type` each, not `["string", "null"]`, so that clients whose schema dialect allows one type per
/// property (Gemini's function declarations, OpenAPI 3.0) take every tool as it is.
fn optional_not_null(schema: &mut schemars::Schema) {
    let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for property in properties.values_mut() {
        if let Some(types) = property.get_mut("type")
            && let Some(listed) = types.as_array()
            && let [one] = listed.iter().filter(|t| *t != "null").collect::<Vec<_>>()[..]
        {
            *types = one.clone();
            if let Some(property) = property.as_object_mut()
                && property.get("default").is_some_and(serde_json::Value::is_null)
            {
                property.remove("default");
            }
        }
    }
}

#[tool_router(vis = "pub(crate)")]
impl KnowledgeServer {
    #[tool(
        description = "Index a git repository (https URL) or a local folder so it can be searched and navigated. Returns the job id (the repository id) and the job's state; reports progress while it waits. Re-indexing a known repository only re-parses files that changed.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn index_repository(
        &self,
        Parameters(args): Parameters<IndexArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let caller = Self::caller()?;
        let job = self.scoped(&caller).index(&args.url, args.branch, false, args.watch).await?;
        follow(job, args.wait_seconds, ctx).await
    }

    #[tool(
        description = "Bring an indexed repository up to date now: fetch a remote's branch or read a folder again, re-parsing only what changed, and wait (reporting progress) up to wait_seconds. Watched folders are kept up to date without it.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn refresh_repository(
        &self,
        Parameters(args): Parameters<RefreshArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let caller = Self::caller()?;
        let job = self.scoped(&caller).refresh(args.repo.as_deref()).await?;
        follow(job, args.wait_seconds, ctx).await
    }

    #[tool(
        description = "The state of a repository's index: queued, cloning, parsing, embedding (structural and lexical queries already work), ready or failed; with progress, file, symbol, node and edge counts, and errors.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_index_status(&self, Parameters(args): Parameters<RepoArg>) -> Answer {
        let caller = Self::caller()?;
        // A failed job is an answer to "how is it going", with its error line.
        let job = self.scoped(&caller).status(args.repo.as_deref()).await?;
        Ok(structured(repo_text(&job), &job))
    }

    #[tool(
        description = "The indexed repositories: id, name, source, state, commit and counts.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ReposOutput>()
    )]
    async fn list_repositories(&self, Parameters(args): Parameters<PageArgs>) -> Answer {
        let caller = Self::caller()?;
        let repos = self.scoped(&caller).repositories().await?;
        if repos.is_empty() {
            let empty = ReposOutput { repositories: Vec::new(), total: 0, next_offset: None };
            return Ok(structured(
                "No repositories are indexed yet: call index_repository.".into(),
                &empty,
            ));
        }
        let page = Page::new(args.offset, args.limit, 50, MAX_LIMIT);
        let (repos, total, next_offset) = page.of(repos);
        let views: Vec<RepoView> = repos.iter().map(RepoView::from).collect();
        let mut text = String::new();
        for view in &views {
            let commit = view.commit.as_deref().map_or("-", |c| &c[..12.min(c.len())]);
            let _ = writeln!(
                text,
                "{} ({}) {} — {}, {} files, {} symbols, commit {commit}",
                view.name, view.repo_id, view.source, view.status, view.files, view.symbols
            );
        }
        text += &page_notice(page, views.len(), total, next_offset);
        let output = ReposOutput { repositories: views, total, next_offset };
        Ok(structured(text, &output))
    }

    #[tool(
        description = "Forget a repository: its graph, its search index and, for a clone, its checkout. The source itself is never touched.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn remove_repository(&self, Parameters(args): Parameters<RepoArg>) -> Answer {
        let key = args.repo.ok_or("pass `repo`: the id, name, URL or path to remove")?;
        let caller = Self::caller()?;
        let repo = self.scoped(&caller).remove(&key).await?;
        Ok(text(format!("Removed {} ({}).", repo.name, repo.id)))
    }

    #[tool(
        description = "Search the indexed code by meaning and by words. Returns the best chunks (functions, methods, type headers, top-level code) with path, line range, enclosing symbol, score and a snippet. Use for \"where do we …\" questions; use find_symbol when you know a name. A pasted issue or log works too (its title and code weigh most); find_relevant_code ranks whole files for one. While a repository's code is still being embedded, the answer says so (warming_up, with the time left) and words still find all of it.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<SearchOutput>()
    )]
    async fn search_code(&self, Parameters(args): Parameters<SearchArgs>) -> Answer {
        let request = SearchRequest {
            text: args.query,
            mode: args.mode.as_deref().map(str::parse::<Mode>).transpose()?,
            repos: args.repos,
            language: args.language,
            path_glob: args.path_glob,
            kind: args.kind,
            limit: args.limit,
            offset: args.offset,
        };
        let caller = Self::caller()?;
        let output = self.scoped(&caller).search(request).await?;
        let offset = args.offset.unwrap_or(0);
        let mut text = String::new();
        for (rank, hit) in output.results.iter().enumerate() {
            let symbol = hit.symbol.as_deref().map_or(String::new(), |s| format!(" {s}"));
            let stale = if hit.stale { " [file changed since indexed]" } else { "" };
            let _ = writeln!(
                text,
                "{}. {}:{}-{} {}{symbol} (score {:.3}){stale}",
                rank + 1 + offset,
                hit.path,
                hit.start_line,
                hit.end_line,
                hit.kind,
                hit.score
            );
            for line in hit.snippet.lines().take(8) {
                let _ = writeln!(text, "    {line}");
            }
            if hit.snippet.lines().count() > 8 {
                let _ = writeln!(text, "    …");
            }
        }
        if output.results.is_empty() {
            text = format!("No matches in {} mode.", output.mode);
            if offset > 0 {
                text += " (past the last page)";
            }
        } else if let Some(next) = output.next_offset {
            let _ = writeln!(text, "More may follow: pass offset={next}.");
        }
        if let Some(notice) = output.notice() {
            text = format!("Note: {notice}.\n{text}");
        }
        Ok(structured(text, &output))
    }

    #[tool(
        description = "Find the code an issue, bug report, stack trace, log or failing test is about. Pass the whole text, however long: the files and paths it names, its stack frames, exception types and identifiers are resolved in the code graph, its words and its meaning are matched against whole files and their chunks, and the callers and callees of what it points at are considered. Returns ranked files with the symbols within them, each with the evidence that put it there. Start here when asked to fix or explain a reported problem; then get_symbol or read_file.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<LocateOutput>()
    )]
    async fn find_relevant_code(&self, Parameters(args): Parameters<LocateArgs>) -> Answer {
        let caller = Self::caller()?;
        let output =
            self.scoped(&caller).locate(args.repo.as_deref(), &args.text, args.limit).await?;
        let mut text = String::new();
        for (rank, file) in output.results.iter().enumerate() {
            let _ = writeln!(text, "{}. {} (score {:.3})", rank + 1, file.path, file.score);
            for evidence in &file.evidence {
                let _ = writeln!(text, "   - {}", evidence.detail);
            }
            for symbol in &file.symbols {
                let why: Vec<&str> = symbol.evidence.iter().map(|e| e.detail.as_str()).collect();
                let why =
                    if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) };
                let _ = writeln!(
                    text,
                    "   {} {} lines {}-{}{why}",
                    symbol.kind, symbol.name, symbol.start_line, symbol.end_line
                );
            }
        }
        if output.results.is_empty() {
            text = "Nothing in the repository matches the text: no file, name or word of it was found.".into();
        }
        if !output.warming_up.is_empty() {
            let w = &output.warming_up[0];
            text = format!(
                "Note: {} is still being embedded ({}/{} chunks): matched by what the text names and by its words, not yet fully by meaning.\n{text}",
                w.name, w.embedded, w.chunks
            );
        }
        Ok(structured(text, &output))
    }

    #[tool(
        description = "Find symbols (functions, methods, classes, types, …) by name: fuzzy by default, or by prefix or exact name. Each result gives path, lines, kind and signature.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_symbol(&self, Parameters(args): Parameters<FindSymbolArgs>) -> Answer {
        let caller = Self::caller()?;
        let query = SymbolQuery {
            name: Some(args.name.clone()),
            how: args.how.as_deref().map(str::parse::<NameMatch>).transpose()?,
            kind: args.kind,
            path: None,
        };
        let page = Page::new(None, args.limit, 20, MAX_LIMIT);
        let (repo, found) = self.scoped(&caller).symbols(args.repo.as_deref(), query, page).await?;
        if found.symbols.is_empty() {
            return Ok(text(format!("No symbol matches {:?} in {}.", args.name, repo.name)));
        }
        let mut out = String::new();
        for symbol in &found.symbols {
            let _ = writeln!(out, "{}", symbol_line(symbol));
        }
        if found.next_offset.is_some() {
            let _ =
                writeln!(out, "More match: raise limit (at most {MAX_LIMIT}) or refine the name.");
        }
        Ok(text(out))
    }

    #[tool(
        description = "One symbol in full: signature, documentation, location, enclosing symbol, and its source (long bodies are cut; read_file gives the rest).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_symbol(&self, Parameters(args): Parameters<SymbolArgs>) -> Answer {
        let caller = Self::caller()?;
        let name = SymbolName { name: &args.symbol, path: args.path.as_deref() };
        let found = self.scoped(&caller).symbol(args.repo.as_deref(), name).await?;
        let s = &found.symbol;
        let mut out =
            format!("{} {} — {}:{}-{}\n", s.kind, s.qualified, s.path, s.start_line, s.end_line);
        if let (Some(parent), Some(kind)) = (&s.parent, &s.parent_kind) {
            let _ = writeln!(out, "in {kind} {parent}");
        }
        if let Some(doc) = &s.doc {
            let _ = writeln!(out, "{doc}");
        }
        let _ = write!(out, "```\n{}```\n", found.source);
        if found.total_lines > found.lines_shown {
            let next = s.start_line as usize + found.lines_shown;
            let _ = writeln!(
                out,
                "Cut at {} of {} lines: read_file path={} start_line={next} for the rest.",
                found.lines_shown, found.total_lines, s.path
            );
        }
        Ok(text(out))
    }

    #[tool(
        description = "The symbols a file defines, in order and nested, with line ranges and signatures.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_file_outline(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let caller = Self::caller()?;
        let outline = self.scoped(&caller).outline(args.repo.as_deref(), &args.path).await?;
        if outline.symbols.is_empty() {
            return Ok(text(format!("{} defines no symbols.", args.path)));
        }
        let mut out = format!("{} ({} symbols)\n", args.path, outline.symbols.len());
        for entry in outline.symbols.iter().take(MAX_LINES) {
            let s = &entry.symbol;
            let indent = "  ".repeat(entry.depth);
            let _ =
                writeln!(out, "{indent}{}-{} {} {}", s.start_line, s.end_line, s.kind, s.signature);
        }
        if outline.symbols.len() > MAX_LINES {
            let _ = writeln!(out, "Cut at {MAX_LINES} symbols.");
        }
        Ok(text(out))
    }

    #[tool(
        description = "Read lines of an indexed file (at most 400 per call), numbered. The text is the file as it is now.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(&self, Parameters(args): Parameters<ReadFileArgs>) -> Answer {
        let caller = Self::caller()?;
        let (start, end) = (args.start_line, args.end_line);
        let file = self.scoped(&caller).read(args.repo.as_deref(), &args.path, start, end).await?;
        let width = file.end_line.to_string().len();
        let mut out = format!(
            "{} lines {}-{} of {}\n",
            file.path, file.start_line, file.end_line, file.total_lines
        );
        for (n, line) in file.lines.iter().enumerate() {
            let _ = writeln!(out, "{:>width$}  {line}", file.start_line + n);
        }
        if let Some(next) = file.next_line {
            let _ = writeln!(out, "More: start_line={next}.");
        }
        Ok(text(out))
    }

    #[tool(
        description = "Every place that refers to a symbol: resolved calls, inheritance and implementations first, then uses of the same name whose target could not be established (marked possible).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_references(&self, Parameters(args): Parameters<ReferencesArgs>) -> Answer {
        let caller = Self::caller()?;
        let name = SymbolName { name: &args.symbol, path: args.path.as_deref() };
        let page = Page::new(args.offset, args.limit, 50, MAX_LIMIT);
        let found = self.scoped(&caller).references(args.repo.as_deref(), name, page).await?;
        if found.total == 0 {
            return Ok(text(format!("No references to {} found.", display(&found.symbol))));
        }
        let mut out = String::new();
        for site in &found.references {
            let from = site.from.as_deref().unwrap_or("top-level code");
            let certainty = if site.resolved { "" } else { " (possible)" };
            let _ = writeln!(out, "{}:{} {} in {from}{certainty}", site.path, site.line, site.kind);
        }
        out += &page_notice(page, found.references.len(), found.total, found.next_offset);
        Ok(text(out))
    }

    #[tool(
        description = "The functions and methods that call a symbol, up to `depth` hops away (default 1), nearest first, with the line of each call.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_callers(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        self.calls(args, Direction::Callers).await
    }

    #[tool(
        description = "The functions and methods a symbol calls, up to `depth` hops away (default 1), nearest first, with the line of each call.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_callees(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        self.calls(args, Direction::Callees).await
    }

    #[tool(
        description = "What a file imports: other files of the repository, and external packages (`external:name`).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_dependencies(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let caller = Self::caller()?;
        let found =
            self.scoped(&caller).imports(args.repo.as_deref(), &args.path, Imports::Of).await?;
        Ok(file_list(&format!("{} imports", args.path), &found.files))
    }

    #[tool(
        description = "The files of the repository that import a file.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_dependents(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let caller = Self::caller()?;
        let found =
            self.scoped(&caller).imports(args.repo.as_deref(), &args.path, Imports::By).await?;
        Ok(file_list(&format!("Imported by {}", args.path), &found.files))
    }

    #[tool(
        description = "What a change to a symbol may break: its callers up to `depth` hops (default 3) and the files that hold them or import its file, transitively.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn analyze_impact(&self, Parameters(args): Parameters<ImpactArgs>) -> Answer {
        let caller = Self::caller()?;
        let name = SymbolName { name: &args.symbol, path: args.path.as_deref() };
        let limit = Page::new(None, args.limit, 50, MAX_LIMIT).limit;
        let impact =
            self.scoped(&caller).impact(args.repo.as_deref(), name, args.depth, limit).await?;
        let mut out = format!(
            "Changing {} may affect {} callers in {} other files.\n",
            display(&impact.symbol),
            impact.total_callers,
            impact.total_files
        );
        out += "Callers (hops away):\n";
        for caller in &impact.callers {
            let _ = writeln!(out, "  {} {}", caller.distance, symbol_line(&caller.symbol));
        }
        if impact.total_callers > impact.callers.len() {
            let _ =
                writeln!(out, "  … {} more callers", impact.total_callers - impact.callers.len());
        }
        out += "Files:\n";
        for file in &impact.files {
            let _ = writeln!(out, "  {file}");
        }
        if impact.total_files > impact.files.len() {
            let more = impact.total_files - impact.files.len();
            let _ = writeln!(out, "  … {more} more files (raise limit)");
        }
        Ok(text(out))
    }

    #[tool(
        description = "Ask a question about a repository's code and get an answer with citations (path:line). The code a hybrid search finds, with each hit's callers, callees and enclosing type, is sent to an LLM through the AgentWatch gateway, billed to your tenant under its budget and policies. Each citation says whether it lies in the code that was sent. Reports progress. Use search_code and get_symbol to read the code yourself.",
        annotations(read_only_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<AskView>()
    )]
    async fn ask_codebase(
        &self,
        Parameters(args): Parameters<AskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let caller = Self::caller()?;
        let scoped = self.scoped(&caller);
        let progress = |step: f64, message: String| {
            let ctx = &ctx;
            async move {
                if let Some(token) = ctx.meta.get_progress_token() {
                    let note = ProgressNotificationParam::new(token, step)
                        .with_total(3.0)
                        .with_message(message);
                    let _ = ctx.peer.notify_progress(note).await;
                }
            }
        };
        let work = async {
            progress(0.0, "searching for the code behind the question".to_owned()).await;
            let question = scoped.prepare_question(args.repo.as_deref(), &args.question).await?;
            let passages = question.context.len();
            progress(1.0, format!("asking the model with {passages} passages of code")).await;
            scoped.answer(&question).await
        };
        let view = tokio::select! {
            view = work => view?,
            () = ctx.ct.cancelled() => return Err("cancelled".into()),
        };
        progress(3.0, "answered".to_owned()).await;
        let mut out = format!("{}\n", view.answer.trim_end());
        if !view.citations.is_empty() {
            out += "\nCitations:\n";
            for c in &view.citations {
                let checked = if c.grounded { "" } else { " (not in the code sent: check it)" };
                let _ = writeln!(out, "  {}:{}-{}{checked}", c.path, c.start_line, c.end_line);
            }
        }
        out += "\nSources:\n";
        for s in &view.sources {
            let symbol = s.symbol.as_deref().map_or(String::new(), |s| format!(" {s}"));
            let _ = writeln!(
                out,
                "  [{}] {}:{}-{}{symbol} ({})",
                s.n, s.path, s.start_line, s.end_line, s.reason
            );
        }
        Ok(structured(out, &view))
    }

    #[tool(
        description = "A map of the repository for orientation: its most central symbols (ranked by how much other code uses them), grouped by file, with signatures, within a token budget.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_repo_map(&self, Parameters(args): Parameters<RepoMapArgs>) -> Answer {
        let caller = Self::caller()?;
        let map = self.scoped(&caller).repo_map(args.repo.as_deref(), args.max_tokens).await?;
        Ok(text(format!(
            "{} ({}), most central symbols first:\n{}",
            map.name, map.repo_id, map.map
        )))
    }

    #[tool(
        description = "Scan an indexed repository for vulnerable code, misconfigurations and committed secrets (Semgrep with AgentWatch's rules, Trivy). Each finding names the symbol that holds it and how many symbols call it, so you can follow it with get_callers. Waits for the scan (up to wait_seconds), then answers with the worst findings; page through them with get_scan_findings.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<ScanView>()
    )]
    async fn run_security_scan(
        &self,
        Parameters(args): Parameters<RunScanArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let caller = Self::caller()?;
        let scoped = self.scoped(&caller);
        let (repo, scan) = scoped.scan(args.repo.as_deref()).await?;
        let wait = Duration::from_secs(args.wait_seconds.unwrap_or(DEFAULT_SCAN_WAIT).min(600));
        // The tools report no progress of their own: the notifications count the seconds, so a
        // client sees the call is alive (and may keep its timeout from firing).
        let progress_token = ctx.meta.get_progress_token();
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        let finished = scoped.wait_for_scan(&scan.id, wait, 20);
        tokio::pin!(finished);
        let view = loop {
            tokio::select! {
                view = &mut finished => break view?,
                _ = ticks.tick() => if let Some(token) = &progress_token {
                    let seconds = started.elapsed().as_secs();
                    let note = ProgressNotificationParam::new(token.clone(), seconds as f64)
                        .with_message(format!("scanning {} with semgrep, trivy and checkov: {seconds} s", repo.name));
                    let _ = ctx.peer.notify_progress(note).await;
                },
                () = ctx.ct.cancelled() => return Err(format!("cancelled: scan {} goes on; read it with get_scan_findings and scan_id", scan.id).into()),
            }
        };
        if view.status == "failed" {
            let error = view.error.as_deref().unwrap_or("no reason given");
            return Err(format!("scan {} failed: {error}", view.scan_id).into());
        }
        let mut text = crate::scanning::render(&repo.name, &view);
        if view.status != "done" {
            let _ = write!(
                text,
                "The scan is still {}: call get_scan_findings with scan_id {} in a while.",
                view.status, view.scan_id
            );
        } else if view.total_findings > view.findings.len() {
            let _ = write!(
                text,
                "Showing the worst {} of {}: get_scan_findings pages through the rest and filters by severity, tool, path and symbol.",
                view.findings.len(),
                view.total_findings
            );
        }
        Ok(structured(text, &view))
    }

    #[tool(
        description = "The findings of a repository's latest security scan (or of scan_id), worst first: tool, rule, severity, file and lines, message, the symbol holding each finding and its caller count, and whether it is new since the scan before. Filter by severity (this or worse), tool, path (file or folder) and symbol.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ScanView>()
    )]
    async fn get_scan_findings(&self, Parameters(args): Parameters<FindingsArgs>) -> Answer {
        let caller = Self::caller()?;
        let page = Page::new(args.offset, args.limit, 20, MAX_LIMIT);
        let query = FindingQuery {
            severity: args.severity,
            tool: args.tool,
            path: args.path,
            symbol: args.symbol,
        };
        let (repo, view) = self
            .scoped(&caller)
            .findings(args.repo.as_deref(), args.scan_id.as_deref(), query, page)
            .await?;
        let mut text = crate::scanning::render(&repo.name, &view);
        let end = page.offset + view.findings.len();
        if end < view.total_findings {
            let _ = write!(
                text,
                "Showing {}–{end} of {} matching findings: call again with offset {end} for more.",
                page.offset + 1,
                view.total_findings
            );
        }
        Ok(structured(text, &view))
    }
}

impl KnowledgeServer {
    /// What the caller of the running tool may reach.
    fn scoped<'a>(&'a self, caller: &'a knowledge::Caller) -> Scoped<'a> {
        self.knowledge.for_caller(caller)
    }

    async fn calls(&self, args: GraphWalkArgs, direction: Direction) -> Answer {
        let caller = Self::caller()?;
        let name = SymbolName { name: &args.symbol, path: args.path.as_deref() };
        let page = Page::new(args.offset, args.limit, 50, MAX_LIMIT);
        let found = self
            .scoped(&caller)
            .calls(args.repo.as_deref(), name, direction, args.depth, page)
            .await?;
        Ok(text(render_calls(&found, page)))
    }
}

fn render_calls(found: &CallsOutput, page: Page) -> String {
    let symbol = display(&found.symbol);
    if found.total == 0 {
        return match found.direction.as_str() {
            "callers" => format!("Nothing calls {symbol} (that the graph can establish)."),
            _ => format!("{symbol} calls nothing the graph can establish."),
        };
    }
    let mut out = format!("{} of {symbol} (hops, call line):\n", found.direction);
    for call in &found.results {
        let _ =
            writeln!(out, "{} line {}: {}", call.distance, call.line, symbol_line(&call.symbol));
    }
    out + &page_notice(page, found.results.len(), found.total, found.next_offset)
}

/// A job's state as a tool answer; a failed job is a tool error.
/// Follows a job for up to `wait_seconds` (default 60, at most 600), telling its progress, and
/// answers once its structure is usable, or with its state when the time is up.
async fn follow(
    mut job: tokio::sync::watch::Receiver<indexer::JobStatus>,
    wait_seconds: Option<u64>,
    ctx: RequestContext<RoleServer>,
) -> Answer {
    let wait = Duration::from_secs(wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS).min(600));
    let progress_token = ctx.meta.get_progress_token();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let status = job.borrow_and_update().clone();
        if let Some(token) = &progress_token {
            // `parsing 120/480 files, 95.3/s, about 4 s left`, or the bare state.
            let message = StageView::of(&status)
                .map_or_else(|| status.repo.status.as_str().to_owned(), |s| s.describe());
            let note = ProgressNotificationParam::new(token.clone(), status.progress.into())
                .with_total(100.0)
                .with_message(message);
            let _ = ctx.peer.notify_progress(note).await;
        }
        // The structural index is usable once embedding starts.
        if status.repo.status.is_usable() {
            return job_answer(&JobView::from(&status));
        }
        tokio::select! {
            changed = job.changed() => if changed.is_err() { return job_answer(&JobView::from(&*job.borrow())) },
            () = tokio::time::sleep_until(deadline) => return job_answer(&JobView::from(&status)),
            () = ctx.ct.cancelled() => return Err("cancelled: the job goes on; follow it with get_index_status".into()),
        }
    }
}

fn job_answer(job: &JobView) -> Answer {
    if job.repo.status == "failed" {
        return Err(format!(
            "indexing {} failed: {}",
            job.repo.source,
            job.repo.error.as_deref().unwrap_or("no reason given")
        )
        .into());
    }
    Ok(structured(repo_text(job), job))
}

fn repo_text(job: &JobView) -> String {
    let repo = &job.repo;
    let mut out =
        format!("{} — job id {}: {} ({}%)", repo.name, repo.repo_id, repo.status, job.progress);
    match &job.stage {
        Some(stage) if repo.status == "embedding" => {
            let _ = write!(out, "; {}; structural and lexical queries work now", stage.describe());
        }
        Some(stage) => {
            let _ = write!(out, "; {}", stage.describe());
        }
        None if repo.status == "embedding" => {
            let _ = write!(
                out,
                "; embedding {}/{} chunks, structural and lexical queries work now",
                job.chunks_embedded, job.chunks_to_embed
            );
        }
        None => {}
    }
    let _ = write!(
        out,
        "\n{} files, {} lines, {} symbols, graph {} nodes / {} edges, {} chunks ({} with vectors)",
        repo.files, repo.lines, repo.symbols, repo.nodes, repo.edges, repo.chunks, repo.embedded
    );
    if let Some(commit) = &repo.commit {
        let _ = write!(out, ", commit {}", &commit[..12.min(commit.len())]);
    }
    out.push('\n');
    if let Some(error) = &repo.error {
        let _ = writeln!(out, "error: {error}");
    }
    for error in repo.errors.iter().take(5) {
        let _ = writeln!(out, "problem: {error}");
    }
    if repo.errors.len() > 5 {
        let _ = writeln!(out, "… {} more problems", repo.errors.len() - 5);
    }
    if !matches!(repo.status.as_str(), "ready" | "failed") {
        out += "Call get_index_status to follow the job.\n";
    }
    out
}

/// A symbol as the graph names it: `path::qualified`.
fn display(symbol: &SymbolView) -> String {
    format!("{}::{}", symbol.path, symbol.qualified)
}

fn symbol_line(s: &SymbolView) -> String {
    format!(
        "{}:{}-{} {} {} — {}",
        s.path, s.start_line, s.end_line, s.kind, s.qualified, s.signature
    )
}

fn file_list(title: &str, files: &[String]) -> CallToolResult {
    if files.is_empty() {
        return text(format!("{title}: nothing."));
    }
    let total = files.len();
    let mut out = format!("{title} ({total}):\n");
    for file in files.iter().take(MAX_LIMIT) {
        let _ = writeln!(out, "  {file}");
    }
    if total > MAX_LIMIT {
        let _ = writeln!(out, "  … {} more", total - MAX_LIMIT);
    }
    text(out)
}

/// The line that says what a page left out.
fn page_notice(page: Page, shown: usize, total: usize, next_offset: Option<usize>) -> String {
    if shown == 0 && page.offset > 0 {
        return format!("Nothing at offset {}: there are {total}.\n", page.offset);
    }
    let first = page.offset.min(total) + 1;
    let end = page.offset.min(total) + shown;
    match next_offset {
        Some(next) => format!("Showing {first}-{end} of {total}: pass offset={next} for more.\n"),
        None if page.offset > 0 => format!("Showing {first}-{end} of {total}.\n"),
        None => String::new(),
    }
}

fn text(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// Readable text for the model, and the same answer as structured content for programs.
fn structured<T: Serialize>(text: String, value: &T) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(value).ok();
    result
}
