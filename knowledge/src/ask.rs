//! `ask_codebase`: a question about a repository, answered by an LLM through the gateway's
//! `/v1/chat/completions` (so that the tenant's budget, rate limit and DLP policy apply) from the
//! code that retrieval finds — a hybrid search, then the graph around each hit: the symbols that
//! call it, those it calls, and the type that encloses it. The answer cites `path:line`, and each
//! citation is checked against the passages that were sent.

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use indexer::{RepoGraph, RepoRecord, SymbolRef};
use regex::Regex;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::views::{HitView, nullable_as_any_of};

/// Search hits the graph is expanded from.
pub(crate) const HITS: usize = 6;
/// Callers and callees taken around each hit.
const NEIGHBOURS: usize = 2;
/// Most lines of one passage.
const PASSAGE_LINES: usize = 60;
/// Most characters of all passages together (about 8k tokens).
const CONTEXT_CHARS: usize = 32_000;
/// Most tokens the answer may take (and so the most the gateway reserves for it).
const ANSWER_TOKENS: u64 = 1_500;

/// How `ask_codebase` reaches the gateway.
pub struct Asker {
    http: reqwest::Client,
    completions: String,
    model: String,
    /// Billed for callers that are not tenants.
    fallback_key: Option<String>,
}

impl std::fmt::Debug for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asker").field("completions", &self.completions).finish_non_exhaustive()
    }
}

/// A passage of code sent to the model, and why it was chosen.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct SourceView {
    /// `[n]` in the prompt.
    pub n: usize,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: Option<String>,
    /// How it was found: `search`, `calls X`, `called by X` or `encloses X`, or several of
    /// them separated by `; `.
    pub reason: String,
}

/// A `path:line` the answer cites.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct CitationView {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// Whether those lines were among the passages sent: a citation outside them is the model's
    /// guess and should be checked.
    pub grounded: bool,
}

/// Tokens the question took, as the gateway reported them.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct TokensView {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// An answer to a question about a repository.
#[derive(Debug, Clone, Serialize, JsonSchema, ToSchema)]
#[schemars(transform = nullable_as_any_of)]
pub struct AskView {
    pub repo_id: String,
    pub question: String,
    pub answer: String,
    /// The model that answered, as the gateway reports it.
    pub model: String,
    pub citations: Vec<CitationView>,
    pub sources: Vec<SourceView>,
    pub usage: Option<TokensView>,
}

/// The code retrieved for a question.
#[derive(Debug)]
pub struct Context {
    sources: Vec<SourceView>,
    texts: Vec<String>,
}

impl Context {
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// Why a question could not be answered, in words a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0}")]
    Index(#[from] indexer::IndexError),
    #[error(
        "ask_codebase needs a tenant to bill: call with a tenant API key, or set \
         knowledge.ask_api_key (AGENTWATCH_ASK_API_KEY) to one"
    )]
    NoTenant,
    #[error(
        "ask_codebase bills a tenant of your own organization: call with one of its tenant API \
         keys (the server's knowledge.ask_api_key is the operator's, not your organization's)"
    )]
    OwnTenantNeeded,
    #[error("the gateway at {url} cannot be reached ({error}); is it running?")]
    Unreachable { url: String, error: String },
    /// The gateway refused or failed: its status, code and message (a budget, a rate limit, a
    /// DLP block, a provider outage).
    #[error("the gateway answered {status}: {message}")]
    Gateway { status: u16, code: Option<String>, message: String },
}

/// Where `ask` reaches the gateway, the model it asks, and the key billed for callers that are
/// not tenants.
#[derive(Clone)]
pub struct AskSettings {
    /// The gateway's base URL (`http://127.0.0.1:8787`).
    pub gateway: String,
    pub model: String,
    /// `knowledge.ask_api_key`: the operator's tenant key.
    pub fallback_key: Option<String>,
}

impl std::fmt::Debug for AskSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskSettings")
            .field("gateway", &self.gateway)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Asker {
    pub fn new(settings: AskSettings) -> Result<Asker, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()?;
        Ok(Asker {
            http,
            completions: format!("{}/v1/chat/completions", settings.gateway.trim_end_matches('/')),
            model: settings.model,
            fallback_key: settings.fallback_key,
        })
    }

    /// The key the question is billed to: the caller's own when it is a tenant; else
    /// `knowledge.ask_api_key`, the operator's, for the local user and people of the operator's
    /// organization only. Never another organization's.
    pub fn key_for<'a>(&'a self, caller: &'a Caller) -> Result<&'a str, AskError> {
        if let Some(key) = caller.account().tenant_key() {
            return Ok(key);
        }
        if caller.owner().is_some() {
            return Err(AskError::OwnTenantNeeded);
        }
        self.fallback_key.as_deref().ok_or(AskError::NoTenant)
    }

    /// The passages a question is answered from: the best search hits, then around each, its
    /// enclosing type, its callers and its callees, within [`CONTEXT_CHARS`].
    pub async fn gather(
        &self,
        graph: Arc<RepoGraph>,
        repo: &RepoRecord,
        hits: Vec<HitView>,
    ) -> Result<Context, AskError> {
        let checkout = repo.checkout.clone();
        let context = tokio::task::spawn_blocking(move || gather(&graph, &checkout, &hits))
            .await
            .map_err(|e| indexer::IndexError::Task(e.to_string()))?;
        Ok(context)
    }

    /// Asks the model through the gateway with `key`, and checks the answer's citations.
    pub async fn answer(
        &self,
        key: &str,
        repo: &RepoRecord,
        question: &str,
        context: &Context,
    ) -> Result<AskView, AskError> {
        let body = json!({
            "model": self.model,
            "max_completion_tokens": ANSWER_TOKENS,
            "messages": [
                { "role": "system", "content": instructions(&repo.name) },
                { "role": "user", "content": prompt(question, context) },
            ],
        });
        let response =
            self.http.post(&self.completions).bearer_auth(key).json(&body).send().await.map_err(
                |e| AskError::Unreachable { url: self.completions.clone(), error: e.to_string() },
            )?;
        let status = response.status();
        let reply: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = reply
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_owned();
            let code = reply.pointer("/error/code").and_then(Value::as_str).map(str::to_owned);
            return Err(AskError::Gateway { status: status.as_u16(), code, message });
        }
        let answer = reply
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let usage = reply.get("usage").map(|u| TokensView {
            prompt_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
            completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
        });
        Ok(AskView {
            repo_id: repo.id.clone(),
            question: question.to_owned(),
            citations: citations(&answer, &context.sources),
            model: reply["model"].as_str().unwrap_or(&self.model).to_owned(),
            answer,
            sources: context.sources.clone(),
            usage,
        })
    }
}

fn instructions(repo: &str) -> String {
    format!(
        "You answer questions about the code of the repository {repo}, using only the numbered \
         source passages you are given; each line of a passage starts with its line number. \
         Cite the code behind every statement as path:line or path:start-end (for example \
         src/app.py:12-18). If the passages do not answer the question, say what is missing \
         instead of guessing. Be concise."
    )
}

fn prompt(question: &str, context: &Context) -> String {
    let mut out = format!("Question: {question}\n\nSource passages:\n");
    for (source, text) in context.sources.iter().zip(&context.texts) {
        let symbol = source.symbol.as_deref().map_or(String::new(), |s| format!(" {s}"));
        let _ = writeln!(
            out,
            "\n[{}] {}:{}-{}{symbol} ({})\n```\n{text}```",
            source.n, source.path, source.start_line, source.end_line, source.reason
        );
    }
    out
}

/// Hits first, then the graph around them, each span once (a span found several ways says each
/// way: `search; called by archive_invoices`), until the budget is spent.
fn gather(graph: &RepoGraph, checkout: &std::path::Path, hits: &[HitView]) -> Context {
    let mut picked: Vec<(String, u32, u32, Option<String>, String)> = Vec::new();
    let mut take =
        |path: &str, start: u32, end: u32, symbol: Option<String>, reason: String| match picked
            .iter_mut()
            .find(|p| p.0 == path && p.1 == start)
        {
            Some(known) if !known.4.contains(&reason) => known.4 = format!("{}; {reason}", known.4),
            Some(_) => {}
            None => picked.push((path.to_owned(), start, end, symbol, reason)),
        };
    for hit in hits {
        take(&hit.path, hit.start_line, hit.end_line, hit.symbol.clone(), "search".to_owned());
    }
    for hit in hits {
        let Some(symbol) = graph.symbol_at(&hit.path, hit.start_line) else { continue };
        let name = graph.symbol(symbol).qualified.clone();
        let mut around: Vec<(SymbolRef, String)> = Vec::new();
        if let Some(parent) = graph.symbol(symbol).parent {
            around.push((
                SymbolRef { file: symbol.file, symbol: parent as usize },
                format!("encloses {name}"),
            ));
        }
        for (caller, _, _) in graph.callers(symbol, 1).into_iter().take(NEIGHBOURS) {
            around.push((caller, format!("calls {name}")));
        }
        for (callee, _, _) in graph.callees(symbol, 1).into_iter().take(NEIGHBOURS) {
            around.push((callee, format!("called by {name}")));
        }
        for (other, reason) in around {
            let s = graph.symbol(other);
            let path = &graph.files[other.file].path;
            take(path, s.start_line, s.end_line, Some(s.qualified.clone()), reason);
        }
    }
    let mut context = Context { sources: Vec::new(), texts: Vec::new() };
    let mut files: std::collections::HashMap<String, Option<Arc<Vec<String>>>> =
        std::collections::HashMap::new();
    let mut spent = 0;
    for (path, start, end, symbol, reason) in picked {
        let lines = files
            .entry(path.clone())
            .or_insert_with(|| {
                let text = indexer::beneath::read_text(checkout, &path).ok()?;
                Some(Arc::new(text.lines().map(str::to_owned).collect()))
            })
            .clone();
        let Some(lines) = lines else { continue };
        let first = (start.max(1) - 1) as usize;
        let last = (end as usize).min(lines.len()).min(first + PASSAGE_LINES);
        if first >= last {
            continue;
        }
        let mut text = String::new();
        for (i, line) in lines[first..last].iter().enumerate() {
            let _ = writeln!(text, "{:>5} {line}", first + i + 1);
        }
        if spent + text.len() > CONTEXT_CHARS {
            break;
        }
        spent += text.len();
        context.sources.push(SourceView {
            n: context.sources.len() + 1,
            path,
            start_line: first as u32 + 1,
            end_line: last as u32,
            symbol,
            reason,
        });
        context.texts.push(text);
    }
    context
}

/// Every `path:line` or `path:start-end` in the answer, and whether the passages held it.
fn citations(answer: &str, sources: &[SourceView]) -> Vec<CitationView> {
    static CITATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"([A-Za-z0-9_./-]+\.[A-Za-z0-9]+):([0-9]+)(?:-([0-9]+))?").expect("a regex")
    });
    let mut found: Vec<CitationView> = Vec::new();
    for m in CITATION.captures_iter(answer) {
        let path = m[1].trim_start_matches("./").to_owned();
        let Ok(start) = m[2].parse::<u32>() else { continue };
        let end = m.get(3).and_then(|e| e.as_str().parse::<u32>().ok()).unwrap_or(start).max(start);
        let grounded =
            sources.iter().any(|s| s.path == path && s.start_line <= start && end <= s.end_line);
        if !found.iter().any(|c| c.path == path && c.start_line == start && c.end_line == end) {
            found.push(CitationView { path, start_line: start, end_line: end, grounded });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, start: u32, end: u32) -> SourceView {
        SourceView {
            n: 1,
            path: path.to_owned(),
            start_line: start,
            end_line: end,
            symbol: None,
            reason: "search".to_owned(),
        }
    }

    #[test]
    fn citations_are_read_and_checked_against_the_passages_sent() {
        let sources = [source("stockroom/pricing.py", 10, 30)];
        let answer = "Tax is added in stockroom/pricing.py:12-14 (see also stockroom/pricing.py:12-14) \
                      and logged in app/log.py:3.";
        let found = citations(answer, &sources);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].start_line, found[0].end_line, found[0].grounded), (12, 14, true));
        assert_eq!(found[1].path, "app/log.py");
        assert!(!found[1].grounded, "a file that was not sent is not grounded");
    }
}
