//! The knowledge tools, as an agent sees them over MCP. Each answers in compact text an agent can
//! read (the structured form too where a program would want it), bounded so one call never floods
//! a context window: lists are paginated with an explicit notice, long sources are cut with a note
//! saying how to read the rest. A failure is a tool error whose message says what to do next.

use std::fmt::Write as _;
use std::time::Duration;

use indexer::{
    IndexError, JobState, Mode, NameMatch, RepoGraph, RepoRecord, Source, SymbolKind, SymbolRef,
};
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ask::AskView;
use crate::indexing::{SearchRequest, search_code};
use crate::mcp::KnowledgeServer;
use crate::views::{HitView, JobView, RepoView, ReposOutput, ScanView, SearchOutput};
use scanner::{FindingFilter, ScanState};

/// Tool results: a success, or a tool error carrying its message.
type Answer = Result<CallToolResult, String>;

/// Most items one call lists; more are a page away.
const MAX_LIMIT: usize = 200;
/// Most lines one call returns from a file or a symbol's source.
const MAX_LINES: usize = 400;
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
    /// Only this language: rust, python, typescript, tsx or javascript.
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
        let source = Source::parse(&args.url).map_err(|e| e.to_string())?;
        let caller = Self::caller()?;
        caller.may_index(&source)?;
        let owner = caller.owner();
        let mut job =
            self.indexer.submit(source, args.branch, owner).await.map_err(|e| message(&e))?;
        let wait = Duration::from_secs(args.wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS).min(600));
        let progress_token = ctx.meta.get_progress_token();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let status = job.borrow_and_update().clone();
            if let Some(token) = &progress_token {
                let mut note =
                    ProgressNotificationParam::new(token.clone(), status.progress.into())
                        .with_total(100.0)
                        .with_message(status.repo.status.as_str());
                if status.repo.status == JobState::Embedding {
                    note = note.with_message(format!(
                        "embedding {}/{} chunks",
                        status.chunks_embedded, status.chunks_to_embed
                    ));
                }
                let _ = ctx.peer.notify_progress(note).await;
            }
            // The structural index is usable once embedding starts.
            let usable = matches!(status.repo.status, JobState::Embedding | JobState::Ready);
            if usable || status.repo.status == JobState::Failed {
                return job_answer(&status);
            }
            tokio::select! {
                changed = job.changed() => if changed.is_err() { return job_answer(&job.borrow()) },
                () = tokio::time::sleep_until(deadline) => return job_answer(&status),
                () = ctx.ct.cancelled() => return Err("cancelled: the job goes on; follow it with get_index_status".to_owned()),
            }
        }
    }

    #[tool(
        description = "The state of a repository's index: queued, cloning, parsing, embedding (structural and lexical queries already work), ready or failed; with progress, file, symbol, node and edge counts, and errors.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_index_status(&self, Parameters(args): Parameters<RepoArg>) -> Answer {
        let repo = self.repo(args.repo.as_deref()).await?;
        match self.indexer.running(&repo.id) {
            Some(status) => job_answer(&status),
            None => {
                let view = RepoView::from(&repo);
                Ok(structured(repo_text(&view, None), &view))
            }
        }
    }

    #[tool(
        description = "The indexed repositories: id, name, source, state, commit and counts.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ReposOutput>()
    )]
    async fn list_repositories(&self, Parameters(args): Parameters<PageArgs>) -> Answer {
        let repos = Self::caller()?.repos(&self.indexer).await.map_err(|e| e.to_string())?;
        if repos.is_empty() {
            let empty = ReposOutput { repositories: Vec::new(), total: 0, next_offset: None };
            return Ok(structured(
                "No repositories are indexed yet: call index_repository.".into(),
                &empty,
            ));
        }
        let total = repos.len();
        let (page, notice) = paginate(repos, args.offset, args.limit, 50);
        let views: Vec<RepoView> = page.iter().map(RepoView::from).collect();
        let mut text = String::new();
        for view in &views {
            let commit = view.commit.as_deref().map_or("-", |c| &c[..12.min(c.len())]);
            let _ = writeln!(
                text,
                "{} ({}) {} — {}, {} files, {} symbols, commit {commit}",
                view.name, view.repo_id, view.source, view.status, view.files, view.symbols
            );
        }
        text += &notice.text;
        let output = ReposOutput { repositories: views, total, next_offset: notice.next_offset };
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
        let repo = self.repo(Some(&key)).await?;
        self.indexer.remove(&repo.id).await.map_err(|e| message(&e))?;
        Ok(text(format!("Removed {} ({}).", repo.name, repo.id)))
    }

    #[tool(
        description = "Search the indexed code by meaning and by words. Returns the best chunks (functions, methods, type headers, top-level code) with path, line range, enclosing symbol, score and a snippet. Use for \"where do we …\" questions; use find_symbol when you know a name.",
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
            limit: args.limit.unwrap_or(10).clamp(1, 50),
            offset: args.offset.unwrap_or(0),
        };
        let caller = Self::caller()?;
        let (query, hits) =
            search_code(&self.indexer, &caller, request).await.map_err(|e| message(&e))?;
        let (mode, limit, offset) = (query.mode, query.limit, query.offset);
        let mut text = String::new();
        for (rank, hit) in hits.iter().enumerate() {
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
        let next_offset = (hits.len() == limit).then_some(offset + limit);
        if hits.is_empty() {
            text = format!("No matches in {} mode.", mode.as_str());
            if offset > 0 {
                text += " (past the last page)";
            }
        } else if let Some(next) = next_offset {
            let _ = writeln!(text, "More may follow: pass offset={next}.");
        }
        let output = SearchOutput {
            mode: mode.as_str().to_owned(),
            results: hits.iter().map(HitView::from).collect(),
            next_offset,
        };
        Ok(structured(text, &output))
    }

    #[tool(
        description = "Find symbols (functions, methods, classes, types, …) by name: fuzzy by default, or by prefix or exact name. Each result gives path, lines, kind and signature.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_symbol(&self, Parameters(args): Parameters<FindSymbolArgs>) -> Answer {
        let (repo, graph) = self.graph(args.repo.as_deref()).await?;
        let how = match args.how.as_deref().unwrap_or("fuzzy") {
            "fuzzy" => NameMatch::Fuzzy,
            "prefix" => NameMatch::Prefix,
            "exact" => NameMatch::Exact,
            other => return Err(format!("unknown match {other:?}: use fuzzy, prefix or exact")),
        };
        let kind = args.kind.as_deref().map(str::parse::<SymbolKind>).transpose()?;
        let limit = args.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
        let found = graph.find_symbols(&args.name, how, kind, limit + 1);
        if found.is_empty() {
            return Ok(text(format!("No symbol matches {:?} in {}.", args.name, repo.name)));
        }
        let mut out = String::new();
        for &symbol in found.iter().take(limit) {
            let _ = writeln!(out, "{}", symbol_line(&graph, symbol));
        }
        if found.len() > limit {
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
        let (repo, graph) = self.graph(args.repo.as_deref()).await?;
        let symbol = resolve(&graph, &args.symbol, args.path.as_deref())?;
        let s = graph.symbol(symbol);
        let path = &graph.files[symbol.file].path;
        let mut out = format!(
            "{} {} — {path}:{}-{}\n",
            s.kind.as_str(),
            s.qualified,
            s.start_line,
            s.end_line
        );
        if let Some(parent) = s.parent {
            let parent = graph.symbol(SymbolRef { file: symbol.file, symbol: parent as usize });
            let _ = writeln!(out, "in {} {}", parent.kind.as_str(), parent.qualified);
        }
        if let Some(doc) = &s.doc {
            let _ = writeln!(out, "{doc}");
        }
        let source = graph.source(&repo.checkout, symbol).map_err(|e| e.to_string())?;
        let lines: Vec<&str> = source.lines().collect();
        out += "```\n";
        for line in lines.iter().take(MAX_LINES) {
            let _ = writeln!(out, "{line}");
        }
        out += "```\n";
        if lines.len() > MAX_LINES {
            let next = s.start_line as usize + MAX_LINES;
            let _ = writeln!(
                out,
                "Cut at {MAX_LINES} of {} lines: read_file path={path} start_line={next} for the rest.",
                lines.len()
            );
        }
        Ok(text(out))
    }

    #[tool(
        description = "The symbols a file defines, in order and nested, with line ranges and signatures.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_file_outline(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let file = file_index(&graph, &args.path)?;
        let outline = graph.outline(file);
        if outline.is_empty() {
            return Ok(text(format!("{} defines no symbols.", args.path)));
        }
        let mut out = format!("{} ({} symbols)\n", args.path, outline.len());
        for (symbol, depth) in outline.iter().take(MAX_LINES) {
            let s = graph.symbol(*symbol);
            let _ = writeln!(
                out,
                "{}{}-{} {} {}",
                "  ".repeat(*depth),
                s.start_line,
                s.end_line,
                s.kind.as_str(),
                s.signature
            );
        }
        if outline.len() > MAX_LINES {
            let _ = writeln!(out, "Cut at {MAX_LINES} symbols.");
        }
        Ok(text(out))
    }

    #[tool(
        description = "Read lines of an indexed file (at most 400 per call), numbered. The text is the file as it is now.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(&self, Parameters(args): Parameters<ReadFileArgs>) -> Answer {
        let (repo, graph) = self.graph(args.repo.as_deref()).await?;
        file_index(&graph, &args.path)?;
        let content = read_checkout(&repo.checkout, &args.path).await?;
        let lines: Vec<&str> = content.lines().collect();
        let start = args.start_line.unwrap_or(1).max(1);
        if start > lines.len().max(1) {
            return Err(format!(
                "{} has {} lines: start_line must be at most that",
                args.path,
                lines.len()
            ));
        }
        let end = args.end_line.unwrap_or(usize::MAX).min(lines.len()).min(start + MAX_LINES - 1);
        if end < start {
            return Err("end_line must not be before start_line".to_owned());
        }
        let width = end.to_string().len();
        let mut out = format!("{} lines {start}-{end} of {}\n", args.path, lines.len());
        for (n, line) in lines[start - 1..end].iter().enumerate() {
            let _ = writeln!(out, "{:>width$}  {line}", start + n);
        }
        if end < lines.len() && args.end_line.is_none_or(|e| e > end) {
            let _ = writeln!(out, "More: start_line={}.", end + 1);
        }
        Ok(text(out))
    }

    #[tool(
        description = "Every place that refers to a symbol: resolved calls, inheritance and implementations first, then uses of the same name whose target could not be established (marked possible).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_references(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let symbol = resolve(&graph, &args.symbol, args.path.as_deref())?;
        let sites = graph.references(symbol);
        if sites.is_empty() {
            return Ok(text(format!("No references to {} found.", graph.display(symbol))));
        }
        let (page, notice) = paginate(sites, args.offset, args.limit, 50);
        let mut out = String::new();
        for site in page {
            let from = site
                .from
                .map_or("top-level code".to_owned(), |f| graph.symbol(f).qualified.clone());
            let certainty = if site.resolved { "" } else { " (possible)" };
            let _ = writeln!(
                out,
                "{}:{} {} in {from}{certainty}",
                graph.files[site.file].path,
                site.line,
                site.kind.as_str()
            );
        }
        out += &notice.text;
        Ok(text(out))
    }

    #[tool(
        description = "The functions and methods that call a symbol, up to `depth` hops away (default 1), nearest first, with the line of each call.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_callers(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        self.calls(args, true).await
    }

    #[tool(
        description = "The functions and methods a symbol calls, up to `depth` hops away (default 1), nearest first, with the line of each call.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_callees(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        self.calls(args, false).await
    }

    #[tool(
        description = "What a file imports: other files of the repository, and external packages (`external:name`).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_dependencies(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let file = file_index(&graph, &args.path)?;
        Ok(file_list(&format!("{} imports", args.path), graph.imports_of(file)))
    }

    #[tool(
        description = "The files of the repository that import a file.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_dependents(&self, Parameters(args): Parameters<FileArgs>) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let file = file_index(&graph, &args.path)?;
        Ok(file_list(&format!("Imported by {}", args.path), graph.dependents_of(file)))
    }

    #[tool(
        description = "What a change to a symbol may break: its callers up to `depth` hops (default 3) and the files that hold them or import its file, transitively.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn analyze_impact(&self, Parameters(args): Parameters<GraphWalkArgs>) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let symbol = resolve(&graph, &args.symbol, args.path.as_deref())?;
        let impact = graph.impact(symbol, args.depth.unwrap_or(3).clamp(1, 5));
        let mut out = format!(
            "Changing {} may affect {} callers in {} other files.\n",
            graph.display(symbol),
            impact.callers.len(),
            impact.files.len()
        );
        let limit = args.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
        out += "Callers (hops away):\n";
        for (caller, distance) in impact.callers.iter().take(limit) {
            let _ = writeln!(out, "  {distance} {}", symbol_line(&graph, *caller));
        }
        if impact.callers.len() > limit {
            let _ = writeln!(out, "  … {} more callers", impact.callers.len() - limit);
        }
        out += "Files:\n";
        for file in impact.files.iter().take(limit) {
            let _ = writeln!(out, "  {file}");
        }
        if impact.files.len() > limit {
            let _ = writeln!(out, "  … {} more files (raise limit)", impact.files.len() - limit);
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
        let question = args.question.trim();
        if question.is_empty() {
            return Err("question is empty: ask something about the code".to_owned());
        }
        let caller = Self::caller()?;
        let repo = self.repo(args.repo.as_deref()).await?;
        let key = self.asker.key_for(&caller).map_err(|e| e.to_string())?.clone();
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
        progress(0.0, format!("searching {} for the code behind the question", repo.name)).await;
        let work = async {
            let context = self
                .asker
                .retrieve(&self.indexer, &caller, &repo, question)
                .await
                .map_err(|e| e.to_string())?;
            if context.is_empty() {
                return Err(format!(
                    "nothing in {} matches the question: rephrase it with the words of the code, or check the index with get_index_status",
                    repo.name
                ));
            }
            progress(1.0, format!("asking the model with {} passages of code", context.len()))
                .await;
            self.asker.answer(&key, &repo, question, &context).await.map_err(|e| e.to_string())
        };
        let view = tokio::select! {
            view = work => view?,
            () = ctx.ct.cancelled() => return Err("cancelled".to_owned()),
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
        let (repo, graph) = self.graph(args.repo.as_deref()).await?;
        let budget = args.max_tokens.unwrap_or(1024).clamp(64, 8192);
        let map = tokio::task::spawn_blocking(move || graph.repo_map(budget))
            .await
            .map_err(|e| e.to_string())?;
        Ok(text(format!("{} ({}), most central symbols first:\n{map}", repo.name, repo.id)))
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
        let repo = self.repo(args.repo.as_deref()).await?;
        let scan = self.scans.submit(&repo).await.map_err(|e| scan_message(&e))?;
        let wait = Duration::from_secs(args.wait_seconds.unwrap_or(DEFAULT_SCAN_WAIT).min(600));
        // The tools report no progress of their own: the notifications count the seconds, so a
        // client sees the call is alive (and may keep its timeout from firing).
        let progress_token = ctx.meta.get_progress_token();
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        let finished = self.scans.wait(&scan.id, wait);
        tokio::pin!(finished);
        let scan = loop {
            tokio::select! {
                scan = &mut finished => break scan.map_err(|e| scan_message(&e))?,
                _ = ticks.tick() => if let Some(token) = &progress_token {
                    let seconds = started.elapsed().as_secs();
                    let note = ProgressNotificationParam::new(token.clone(), seconds as f64)
                        .with_message(format!("scanning {} with semgrep, trivy and checkov: {seconds} s", repo.name));
                    let _ = ctx.peer.notify_progress(note).await;
                },
                () = ctx.ct.cancelled() => return Err(format!("cancelled: scan {} goes on; read it with get_scan_findings and scan_id", scan.id)),
            }
        };
        let filter = FindingFilter { limit: Some(20), ..FindingFilter::default() };
        let view = self.scans.view_of(&scan, &filter).await.map_err(|e| scan_message(&e))?;
        if scan.state == ScanState::Failed {
            return Err(format!("scan {} failed: {}", scan.id, scan.error.unwrap_or_default()));
        }
        let mut text = crate::scanning::render(&repo.name, &view);
        if !scan.state.is_final() {
            let _ = write!(
                text,
                "The scan is still {}: call get_scan_findings with scan_id {} in a while.",
                scan.state.as_str(),
                scan.id
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
        let repo = self.repo(args.repo.as_deref()).await?;
        let limit = args.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
        let offset = args.offset.unwrap_or(0);
        let filter = crate::scanning::finding_filter(
            args.severity.as_deref(),
            args.tool.as_deref(),
            args.path,
            args.symbol,
            limit,
            offset,
        )?;
        let view = self
            .scans
            .view(&repo, args.scan_id.as_deref(), &filter)
            .await
            .map_err(|e| scan_message(&e))?;
        let mut text = crate::scanning::render(&repo.name, &view);
        let end = offset + view.findings.len();
        if end < view.total_findings {
            let _ = write!(
                text,
                "Showing {}–{end} of {} matching findings: call again with offset {end} for more.",
                offset + 1,
                view.total_findings
            );
        }
        Ok(structured(text, &view))
    }
}

impl KnowledgeServer {
    /// The repository a call names, or the only one when it names none.
    async fn repo(&self, key: Option<&str>) -> Result<RepoRecord, String> {
        let caller = Self::caller()?;
        if let Some(key) = key {
            return caller.find(&self.indexer, key).await.map_err(|e| message(&e));
        }
        let mut repos = caller.repos(&self.indexer).await.map_err(|e| e.to_string())?;
        match repos.len() {
            0 => Err("no repository is indexed yet: call index_repository first".to_owned()),
            1 => Ok(repos.remove(0)),
            n => {
                let names: Vec<String> =
                    repos.iter().map(|r| format!("{} ({})", r.name, r.id)).collect();
                Err(format!("{n} repositories are indexed, pass `repo`: {}", names.join(", ")))
            }
        }
    }

    async fn graph(
        &self,
        key: Option<&str>,
    ) -> Result<(RepoRecord, std::sync::Arc<RepoGraph>), String> {
        let repo = self.repo(key).await?;
        let graph = self.indexer.graph(&repo.id).await.map_err(|e| message(&e))?;
        if graph.files.is_empty() && !repo.status.is_final() {
            return Err(format!(
                "{} is still being indexed ({}): wait for it with get_index_status",
                repo.name, repo.status
            ));
        }
        Ok((repo, graph))
    }

    async fn calls(&self, args: GraphWalkArgs, callers: bool) -> Answer {
        let (_, graph) = self.graph(args.repo.as_deref()).await?;
        let symbol = resolve(&graph, &args.symbol, args.path.as_deref())?;
        let depth = args.depth.unwrap_or(1).clamp(1, 5);
        let found =
            if callers { graph.callers(symbol, depth) } else { graph.callees(symbol, depth) };
        let (what, none) = if callers { ("callers", "Nothing calls") } else { ("callees", "") };
        if found.is_empty() {
            return Ok(text(if callers {
                format!("{none} {} (that the graph can establish).", graph.display(symbol))
            } else {
                format!("{} calls nothing the graph can establish.", graph.display(symbol))
            }));
        }
        let (page, notice) = paginate(found, args.offset, args.limit, 50);
        let mut out = format!("{what} of {} (hops, call line):\n", graph.display(symbol));
        for (other, distance, line) in page {
            let _ = writeln!(out, "{distance} line {line}: {}", symbol_line(&graph, other));
        }
        out += &notice.text;
        Ok(text(out))
    }
}

/// A job's state as a tool answer; a failed job is a tool error.
fn job_answer(status: &indexer::JobStatus) -> Answer {
    let view = JobView::from(status);
    if status.repo.status == JobState::Failed {
        return Err(format!(
            "indexing {} failed: {}",
            status.repo.source,
            status.repo.error.as_deref().unwrap_or("no reason given")
        ));
    }
    let text = repo_text(&view.repo, Some(&view));
    Ok(structured(text, &view))
}

fn repo_text(repo: &RepoView, job: Option<&JobView>) -> String {
    let mut out = format!("{} — job id {}: {}", repo.name, repo.repo_id, repo.status);
    if let Some(job) = job {
        let _ = write!(out, " ({}%)", job.progress);
        if repo.status == "embedding" {
            let _ = write!(
                out,
                "; embedding {}/{} chunks, structural and lexical queries work now",
                job.chunks_embedded, job.chunks_to_embed
            );
        }
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

fn symbol_line(graph: &RepoGraph, symbol: SymbolRef) -> String {
    let s = graph.symbol(symbol);
    format!(
        "{}:{}-{} {} {} — {}",
        graph.files[symbol.file].path,
        s.start_line,
        s.end_line,
        s.kind.as_str(),
        s.qualified,
        s.signature
    )
}

/// The one symbol a name (and maybe a path) designates, or an error listing the candidates.
fn resolve(graph: &RepoGraph, name: &str, path: Option<&str>) -> Result<SymbolRef, String> {
    let mut found = graph.find_symbols(name, NameMatch::Exact, None, usize::MAX);
    if let Some(path) = path {
        file_index(graph, path)?;
        found.retain(|s| graph.files[s.file].path == path);
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let near = graph.find_symbols(name, NameMatch::Fuzzy, None, 5);
            let within = path.map_or(String::new(), |p| format!(" in {p}"));
            if near.is_empty() {
                return Err(format!("no symbol named {name:?}{within}: try find_symbol"));
            }
            let near: Vec<String> = near.iter().map(|&s| graph.display(s)).collect();
            Err(format!("no symbol named {name:?}{within}; close matches: {}", near.join(", ")))
        }
        many => {
            let shown: Vec<String> = many
                .iter()
                .take(10)
                .map(|&s| format!("{}:{}", graph.display(s), graph.symbol(s).start_line))
                .collect();
            Err(format!(
                "{} symbols are named {name:?}: {}{}; pass `path`, or a qualified name like `Type::method`",
                many.len(),
                shown.join(", "),
                if many.len() > 10 { ", …" } else { "" }
            ))
        }
    }
}

fn file_index(graph: &RepoGraph, path: &str) -> Result<usize, String> {
    graph.file_index(path).ok_or_else(|| {
        format!(
            "{path} is not an indexed file of this repository: paths are relative to its root, as search_code and get_file_outline show them"
        )
    })
}

fn file_list(title: &str, files: Vec<String>) -> CallToolResult {
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

/// A page of a list, and the line that says what was left out.
struct Notice {
    text: String,
    next_offset: Option<usize>,
}

fn paginate<T>(
    items: Vec<T>,
    offset: Option<usize>,
    limit: Option<usize>,
    default: usize,
) -> (Vec<T>, Notice) {
    let total = items.len();
    let offset = offset.unwrap_or(0).min(total);
    let limit = limit.unwrap_or(default).clamp(1, MAX_LIMIT);
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let end = offset + page.len();
    let next_offset = (end < total).then_some(end);
    let text = match next_offset {
        Some(next) => {
            format!("Showing {}-{end} of {total}: pass offset={next} for more.\n", offset + 1)
        }
        None if offset > 0 => format!("Showing {}-{end} of {total}.\n", offset + 1),
        None => String::new(),
    };
    (page, Notice { text, next_offset })
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

/// A scan error as an agent should read it.
fn scan_message(error: &crate::scanning::ScanError) -> String {
    match error {
        crate::scanning::ScanError::Index(e) => message(e),
        crate::scanning::ScanError::NotIndexed(repo) => format!(
            "repository {repo} is not indexed yet: call index_repository, then run_security_scan"
        ),
        crate::scanning::ScanError::NoScan(repo) => {
            format!("repository {repo} has no finished scan yet: call run_security_scan first")
        }
        other => other.to_string(),
    }
}

/// An indexer error as an agent should read it.
fn message(error: &IndexError) -> String {
    match error {
        IndexError::UnknownRepo(key) => format!(
            "no repository {key:?} is indexed: call list_repositories to see them, or index_repository to add it"
        ),
        other => other.to_string(),
    }
}

/// A file of a checkout, read off the async threads, beneath the checkout and never through a
/// symlink (`indexer::beneath`).
pub(crate) async fn read_checkout(
    checkout: &std::path::Path,
    path: &str,
) -> Result<String, String> {
    let (checkout, path) = (checkout.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || indexer::beneath::read_text(&checkout, &path))
        .await
        .map_err(|e| format!("cannot read the file: {e}"))?
        .map_err(|e| e.to_string())
}
