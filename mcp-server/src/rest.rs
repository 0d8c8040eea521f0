//! REST under `/api/knowledge`, for scripts and services that do not speak MCP: submit a
//! repository, follow its job, list, read and forget repositories, search the code, and list a
//! repository's symbols. The OpenAPI document at `/openapi.json` is derived from these handlers
//! and the types they take and return, so it cannot drift from what the server does.

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router};
use indexer::search::SearchError;
use indexer::{IndexError, Indexer, Mode, NameMatch, Source, SymbolKind};
use scanner::FindingFilter;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Caller;
use crate::ask::{AskError, AskView, Asker};
use crate::indexing::{SearchRequest, search_code};
use crate::knowledge::{ApiError, ErrorBody};
use crate::mcp::KnowledgeServer;
use crate::scanning::{ScanError, Scans};
use crate::views::{
    HitView, JobView, RepoView, ReposOutput, ScanView, SearchOutput, SymbolView, SymbolsOutput,
};

type Indexed = State<Arc<Indexer>>;
type Scanning = State<Arc<Scans>>;

/// What the handlers share: the indexer, the scans (which hold it too), and `ask_codebase`'s
/// way to the gateway.
#[derive(Clone)]
struct Shared {
    indexer: Arc<Indexer>,
    scans: Arc<Scans>,
    asker: Arc<Asker>,
}

impl FromRef<Shared> for Arc<Asker> {
    fn from_ref(shared: &Shared) -> Arc<Asker> {
        Arc::clone(&shared.asker)
    }
}

impl FromRef<Shared> for Arc<Indexer> {
    fn from_ref(shared: &Shared) -> Arc<Indexer> {
        Arc::clone(&shared.indexer)
    }
}

impl FromRef<Shared> for Arc<Scans> {
    fn from_ref(shared: &Shared) -> Arc<Scans> {
        Arc::clone(&shared.scans)
    }
}

/// The REST routes over what the MCP server has, governed by its `access`
/// (`access::govern_rest`), and the OpenAPI document describing them (and `/health`).
pub fn router(server: KnowledgeServer) -> (Router, utoipa::openapi::OpenApi) {
    let api = routes();
    let access = Arc::clone(&server.access);
    let shared = Shared { indexer: server.indexer, scans: server.scans, asker: server.asker };
    let (router, mut openapi) = OpenApiRouter::with_openapi(Document::openapi())
        .nest("/api/knowledge", api)
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(access, crate::access::govern_rest))
        .split_for_parts();
    // After the routes are in: it adds to each of them.
    BearerToken.modify(&mut openapi);
    (router, openapi)
}

/// Every REST route, before it is nested under `/api/knowledge`.
fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, index_repository))
        .routes(routes!(get_repository, remove_repository))
        .routes(routes!(repository_status))
        .routes(routes!(scan_repository))
        .routes(routes!(repository_findings))
        .routes(routes!(get_scan))
        .routes(routes!(list_symbols))
        .routes(routes!(search))
        .routes(routes!(ask))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentWatch knowledge server",
        description = "Index git repositories, search their code by meaning and by words, and walk their symbols. The same knowledge is served over MCP at /mcp. Errors are JSON: {\"error\": {\"code\", \"message\"}}.",
    ),
    paths(crate::knowledge::health),
    tags(
        (name = "repositories", description = "Indexing jobs and stored repositories"),
        (name = "search", description = "Code search and symbols"),
        (name = "scans", description = "Security scans (Semgrep, Trivy) and their findings"),
    )
)]
struct Document;

/// Declares the credential every route but `/health` and `/openapi.json` may require, and the
/// 401 that answers a request without it.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "A tenant API key or a session token from the gateway's POST /api/auth/login (or \
             knowledge.token, for the server's local user); none is needed on loopback when \
             knowledge.token is unset"
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let unauthorized = ResponseBuilder::new()
            .description("The credential is missing, or neither a tenant key nor a live session")
            .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_some() {
                    let responses = &mut operation.responses.responses;
                    responses.insert("401".to_owned(), unauthorized.clone().into());
                }
            }
        }
    }
}

/// What to index.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IndexRequest {
    /// An https git URL (`https://github.com/org/repo`) or a folder on the server's machine.
    url: String,
    /// The branch to index; default: the remote's default branch (usually `main`).
    #[serde(default)]
    branch: Option<String>,
    /// Scan with Semgrep and Trivy once the structure is indexed; follow it at
    /// `/repositories/{id}/findings`.
    #[serde(default)]
    run_security_scan: bool,
}

/// Submits a repository for indexing, or joins the job already running for it. Re-submitting a
/// known repository re-indexes it, re-parsing only the files that changed.
#[utoipa::path(
    post,
    path = "/repositories",
    tag = "repositories",
    request_body = IndexRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Indexing job queued", body = JobView,
            headers(("location" = String, description = "Where to follow the job"))),
        (status = 400, description = "Invalid URL or request body; for an organization, a URL that is not https or names an address that is not public", body = ErrorBody),
        (status = 403, description = "A folder on the server's machine, sent by a tenant or user (only the local user may index one); or the organization is at its repository quota (`quota_exceeded`)", body = ErrorBody),
        (status = 413, description = "The body is larger than 2 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn index_repository(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    State(scans): Scanning,
    Body(request): Body<IndexRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let source = Source::parse(&request.url).map_err(|e| ApiError::invalid(e.to_string()))?;
    caller
        .may_index(&source)
        .map_err(|message| ApiError::new(StatusCode::FORBIDDEN, "forbidden", message))?;
    let job = indexer.submit(source, request.branch, caller.owner()).await.map_err(error)?;
    if request.run_security_scan {
        scans.scan_when_indexed(job.clone());
    }
    let status = JobView::from(&*job.borrow());
    let location = format!("/api/knowledge/repositories/{}/status", status.repo.repo_id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Items to return (default 50, at most 1000).
    limit: Option<usize>,
    /// Items to skip, for the next page.
    offset: Option<usize>,
}

/// The stored repositories, in the order they were first indexed.
#[utoipa::path(
    get,
    path = "/repositories",
    tag = "repositories",
    params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "One page of repositories", body = ReposOutput))
)]
async fn list_repositories(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Params(page): Params<PageParams>,
) -> Result<Json<ReposOutput>, ApiError> {
    let repos = caller.repos(&indexer).await.map_err(error)?;
    let (repos, total, next_offset) = paginate(repos, page.offset, page.limit, 50, 1000);
    let repositories = repos.iter().map(RepoView::from).collect();
    Ok(Json(ReposOutput { repositories, total, next_offset }))
}

/// One stored repository and how its last index went.
#[utoipa::path(
    get,
    path = "/repositories/{id}",
    tag = "repositories",
    params(("id" = String, Path, description = "The repository's id (or name)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The repository", body = RepoView),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn get_repository(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Path(id): Path<String>,
) -> Result<Json<RepoView>, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    Ok(Json(RepoView::from(&repo)))
}

/// The repository's indexing job: state, progress percent, file count, node and edge counts in
/// the symbol graph, and errors. Structural and lexical queries work from the `embedding` state.
#[utoipa::path(
    get,
    path = "/repositories/{id}/status",
    tag = "repositories",
    params(("id" = String, Path, description = "The repository's id (or name)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Status object", body = JobView),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn repository_status(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    let view = match indexer.running(&repo.id) {
        Some(status) => JobView::from(&status),
        None => JobView::from(&repo),
    };
    Ok(Json(view))
}

/// Forgets a repository: its graph, its search index and, for a clone, its checkout. The source
/// itself is never touched.
#[utoipa::path(
    delete,
    path = "/repositories/{id}",
    tag = "repositories",
    params(("id" = String, Path, description = "The repository's id (or name)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such repository", body = ErrorBody),
        (status = 409, description = "The repository is being indexed", body = ErrorBody),
    )
)]
async fn remove_repository(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    indexer.remove(&repo.id).await.map_err(error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a security scan of an indexed repository: Semgrep (the bundled rules and any
/// configured) and Trivy (misconfigurations and secrets; vulnerabilities when online), each
/// finding tied to the symbol holding it.
#[utoipa::path(
    post,
    path = "/repositories/{id}/scan",
    tag = "scans",
    params(("id" = String, Path, description = "The repository's id (or name)")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Scan started", body = ScanView,
            headers(("location" = String, description = "Where to follow the scan"))),
        (status = 404, description = "Repository not indexed", body = ErrorBody),
    )
)]
async fn scan_repository(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    State(scans): Scanning,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    let scan = scans.submit(&repo).await.map_err(scan_error)?;
    let view = scans.view_of(&scan, &FindingFilter::default()).await.map_err(scan_error)?;
    let location = format!("/api/knowledge/scans/{}", scan.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FindingParams {
    /// Only findings this severe or worse: critical, high, medium, low or info.
    severity: Option<String>,
    /// Only findings of this tool: semgrep, trivy or checkov.
    tool: Option<String>,
    /// Only findings in this file, or under this folder.
    path: Option<String>,
    /// Only findings in symbols whose id or name contains this.
    symbol: Option<String>,
    /// Findings to return (default 50, at most 1000).
    limit: Option<usize>,
    /// Findings to skip, for the next page.
    offset: Option<usize>,
}

impl FindingParams {
    fn filter(&self) -> Result<FindingFilter, ApiError> {
        crate::scanning::finding_filter(
            self.severity.as_deref(),
            self.tool.as_deref(),
            self.path.clone(),
            self.symbol.clone(),
            self.limit.unwrap_or(50).clamp(1, 1000),
            self.offset.unwrap_or(0),
        )
        .map_err(ApiError::invalid)
    }
}

/// The findings of a repository's newest finished scan, worst first, each marked `new` when the
/// scan before did not have it; `fixed` lists what that scan had and this one has not.
#[utoipa::path(
    get,
    path = "/repositories/{id}/findings",
    tag = "scans",
    params(("id" = String, Path, description = "The repository's id (or name)"), FindingParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The scan and one page of its findings", body = ScanView),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "No such repository, or no finished scan of it", body = ErrorBody),
    )
)]
async fn repository_findings(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    State(scans): Scanning,
    Path(id): Path<String>,
    Params(params): Params<FindingParams>,
) -> Result<Json<ScanView>, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    let view = scans.view(&repo, None, &params.filter()?).await.map_err(scan_error)?;
    Ok(Json(view))
}

/// One scan: its state while it runs, then its tools' outcomes and a page of its findings.
#[utoipa::path(
    get,
    path = "/scans/{scan_id}",
    tag = "scans",
    params(("scan_id" = String, Path, description = "The scan's id"), FindingParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The scan and one page of its findings", body = ScanView),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "No such scan", body = ErrorBody),
    )
)]
async fn get_scan(
    Extension(caller): Extension<Caller>,
    State(scans): Scanning,
    Path(scan_id): Path<String>,
    Params(params): Params<FindingParams>,
) -> Result<Json<ScanView>, ApiError> {
    let scan = scans.get(&scan_id).await.map_err(scan_error)?;
    // Another organization's scan is as unknown as one that does not exist.
    if caller.find(scans.indexer(), &scan.repo_id).await.is_err() {
        return Err(scan_error(ScanError::Store(scanner::ScanStoreError::UnknownScan(scan_id))));
    }
    Ok(Json(scans.view_of(&scan, &params.filter()?).await.map_err(scan_error)?))
}

/// A scan error as a REST client should read it.
fn scan_error(e: ScanError) -> ApiError {
    match e {
        ScanError::Index(e) => error(e),
        ScanError::NotIndexed(_) | ScanError::NoScan(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        ScanError::Store(scanner::ScanStoreError::UnknownScan(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
    }
}

/// How a search matches.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum SearchMode {
    /// By meaning: the query's embedding against the code's.
    Semantic,
    /// By the words and identifiers of the code (BM25, identifiers split).
    Lexical,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// What to look for: words, identifiers, or both.
    q: String,
    /// Default: hybrid, or lexical when the embedding model is not loaded.
    mode: Option<SearchMode>,
    /// Repositories to search, comma-separated ids or names; default: all.
    repo: Option<String>,
    /// Only this language: rust, python, typescript, tsx or javascript.
    language: Option<String>,
    /// Only paths matching this glob, e.g. `src/**/*.rs`.
    path: Option<String>,
    /// Only chunks of this symbol kind (function, method, class, …) or `code` for top-level code.
    kind: Option<String>,
    /// Results to return (default 10, at most 50).
    limit: Option<usize>,
    /// Results to skip, for the next page.
    offset: Option<usize>,
}

/// Searches the indexed code by meaning and by words. Each result has its score, location,
/// enclosing symbol, a snippet, the commit it was indexed at, and whether its file changed since.
#[utoipa::path(
    get,
    path = "/search",
    tag = "search",
    params(SearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of results, best first", body = SearchOutput),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "A repository that is not indexed", body = ErrorBody),
        (status = 503, description = "Semantic search asked for without the embedding model", body = ErrorBody),
    )
)]
async fn search(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Params(params): Params<SearchParams>,
) -> Result<Json<SearchOutput>, ApiError> {
    let mode = params.mode.map(|mode| match mode {
        SearchMode::Semantic => Mode::Semantic,
        SearchMode::Lexical => Mode::Lexical,
        SearchMode::Hybrid => Mode::Hybrid,
    });
    let repos = params.repo.iter().flat_map(|r| r.split(',')).map(str::trim);
    let request = SearchRequest {
        text: params.q,
        mode,
        repos: repos.filter(|k| !k.is_empty()).map(String::from).collect(),
        language: params.language,
        path_glob: params.path,
        kind: params.kind,
        limit: params.limit.unwrap_or(10).clamp(1, 50),
        offset: params.offset.unwrap_or(0),
    };
    let (query, hits) = search_code(&indexer, &caller, request).await.map_err(error)?;
    let (mode, limit, offset) = (query.mode, query.limit, query.offset);
    let next_offset = (hits.len() == limit).then_some(offset + limit);
    let results = hits.iter().map(HitView::from).collect();
    Ok(Json(SearchOutput { mode: mode.as_str().to_owned(), results, next_offset }))
}

/// A question about a repository's code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    /// The question, in plain words.
    question: String,
    /// The repository (id, name, URL or path); may be left out when only one is indexed.
    #[serde(default)]
    repo: Option<String>,
}

/// Answers a question about a repository's code with citations (`path:line`): the code that a
/// hybrid search finds, with each hit's callers, callees and enclosing type, is sent to the
/// configured model through the gateway's `/v1/chat/completions` — billed to the calling tenant
/// (or to `knowledge.ask_api_key`), under its budget, rate limit and DLP policy. Each citation
/// says whether it lies within the passages sent.
#[utoipa::path(
    post,
    path = "/ask",
    tag = "search",
    request_body = AskRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The answer, its citations and the passages it came from", body = AskView),
        (status = 400, description = "An empty question, or several repositories and none named", body = ErrorBody),
        (status = 402, description = "The tenant's budget cannot cover the question", body = ErrorBody),
        (status = 403, description = "No tenant to bill: the caller is not one and knowledge.ask_api_key is not set", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
        (status = 429, description = "The tenant is over its rate limit", body = ErrorBody),
        (status = 502, description = "The gateway or its providers failed", body = ErrorBody),
    )
)]
async fn ask(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    State(asker): State<Arc<Asker>>,
    Body(request): Body<AskRequest>,
) -> Result<Json<AskView>, ApiError> {
    let question = request.question.trim();
    if question.is_empty() {
        return Err(ApiError::invalid("question is empty: ask something about the code"));
    }
    let repo = match &request.repo {
        Some(key) => caller.find(&indexer, key).await.map_err(error)?,
        None => {
            let mut repos = caller.repos(&indexer).await.map_err(error)?;
            if repos.len() != 1 {
                return Err(ApiError::invalid(format!(
                    "{} repositories are indexed: name one in `repo`",
                    repos.len()
                )));
            }
            repos.remove(0)
        }
    };
    let key = asker.key_for(&caller).map_err(ask_error)?.clone();
    let context = asker.retrieve(&indexer, &caller, &repo, question).await.map_err(ask_error)?;
    Ok(Json(asker.answer(&key, &repo, question, &context).await.map_err(ask_error)?))
}

/// An `ask` failure as a REST client should read it: the gateway's own status when it refused.
fn ask_error(e: AskError) -> ApiError {
    match e {
        AskError::Index(e) => error(e),
        AskError::NoTenant | AskError::OwnTenantNeeded => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
        }
        AskError::Unreachable { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "unavailable", e.to_string())
        }
        AskError::Gateway { status, .. } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let code = match status.as_u16() {
                402 => "budget_exceeded",
                429 => "rate_limited",
                400 => "invalid_request",
                _ => "unavailable",
            };
            let status = if status.is_server_error() { StatusCode::BAD_GATEWAY } else { status };
            ApiError::new(status, code, e.to_string())
        }
    }
}

/// How a symbol name is matched.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum MatchMode {
    /// The characters in order, best first.
    #[default]
    Fuzzy,
    Prefix,
    Exact,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SymbolParams {
    /// A name (`shorten`), a qualified name (`Shortener::shorten`) or a few characters of it;
    /// without it, every symbol in file and position order.
    q: Option<String>,
    /// How `q` matches (default fuzzy).
    #[serde(rename = "match")]
    #[param(rename = "match")]
    how: Option<MatchMode>,
    /// Only symbols of this kind: function, method, class, struct, enum, trait, interface, type,
    /// module or constant.
    kind: Option<String>,
    /// Only symbols defined in this file (a path relative to the repository root).
    path: Option<String>,
    /// Symbols to return (default 50, at most 1000).
    limit: Option<usize>,
    /// Symbols to skip, for the next page.
    offset: Option<usize>,
}

/// A repository's symbols (functions, methods, classes, types, …), found by name or all of them.
#[utoipa::path(
    get,
    path = "/repositories/{id}/symbols",
    tag = "search",
    params(("id" = String, Path, description = "The repository's id (or name)"), SymbolParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of symbols", body = SymbolsOutput),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn list_symbols(
    Extension(caller): Extension<Caller>,
    State(indexer): Indexed,
    Path(id): Path<String>,
    Params(params): Params<SymbolParams>,
) -> Result<Json<SymbolsOutput>, ApiError> {
    let repo = caller.find(&indexer, &id).await.map_err(error)?;
    let kind = params
        .kind
        .as_deref()
        .map(str::parse::<SymbolKind>)
        .transpose()
        .map_err(ApiError::invalid)?;
    let graph = indexer.graph(&repo.id).await.map_err(error)?;
    let mut found = match params.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            let how = match params.how.unwrap_or_default() {
                MatchMode::Fuzzy => NameMatch::Fuzzy,
                MatchMode::Prefix => NameMatch::Prefix,
                MatchMode::Exact => NameMatch::Exact,
            };
            graph.find_symbols(q, how, kind, usize::MAX)
        }
        None => {
            graph.symbols().filter(|&s| kind.is_none_or(|k| graph.symbol(s).kind == k)).collect()
        }
    };
    if let Some(path) = &params.path {
        if graph.file_index(path).is_none() {
            return Err(ApiError::invalid(format!(
                "{path} is not an indexed file of {}: paths are relative to the repository root",
                repo.name
            )));
        }
        found.retain(|s| graph.files[s.file].path == *path);
    }
    let (page, total, next_offset) = paginate(found, params.offset, params.limit, 50, 1000);
    let symbols = page.into_iter().map(|s| SymbolView::new(&graph, s)).collect();
    Ok(Json(SymbolsOutput { symbols, total, next_offset }))
}

/// A page of `items`, the number of items on all pages, and the next page's offset.
fn paginate<T>(
    items: Vec<T>,
    offset: Option<usize>,
    limit: Option<usize>,
    default: usize,
    max: usize,
) -> (Vec<T>, usize, Option<usize>) {
    let total = items.len();
    let offset = offset.unwrap_or(0).min(total);
    let limit = limit.unwrap_or(default).clamp(1, max);
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let end = offset + page.len();
    (page, total, (end < total).then_some(end))
}

/// An indexer error as a REST client should read it.
fn error(error: IndexError) -> ApiError {
    match error {
        IndexError::UnknownRepo(key) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no repository {key:?} is indexed: GET /api/knowledge/repositories lists them, POST there indexes one"
            ),
        ),
        IndexError::Busy(_) => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
        IndexError::OverQuota(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", error.to_string())
        }
        IndexError::NoEmbedder => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string())
        }
        IndexError::Search(SearchError::BadGlob { .. } | SearchError::UnknownLanguage(_))
        | IndexError::Source(_)
        | IndexError::Refused(_) => ApiError::invalid(error.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
    }
}

/// A JSON body; a body that is not one is a 400 that says why.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "invalid_request",
                    "send the body as JSON, with `Content-Type: application/json`",
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    other.body_text(),
                ),
                other => ApiError::invalid(other.body_text()),
            }),
        }
    }
}

/// Query parameters; ones that do not parse are a 400 that says which.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|rejection: QueryRejection| ApiError::invalid(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use gateway::access::{KNOWLEDGE_ROUTES, KNOWLEDGE_TOOLS, Surface, is_metered_name};

    /// The gateway meters (and puts in `/metrics`) only the names it knows: they must be exactly
    /// this server's routes and tools, or calls go unmetered and reports are refused.
    #[test]
    fn the_gateway_knows_every_route_and_tool_by_name_and_no_other() {
        let (_, document) = super::routes().split_for_parts();
        let mut routes = Vec::new();
        for (path, item) in &document.paths.paths {
            let route = format!("/api/knowledge{path}");
            let operations = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (method, _) in operations.iter().filter(|(_, has)| *has) {
                let name = format!("{method} {route}");
                assert!(is_metered_name(Surface::Rest, &name), "{name} is not metered");
            }
            routes.push(route);
        }
        routes.sort();
        let mut known = KNOWLEDGE_ROUTES.to_vec();
        known.sort();
        assert_eq!(routes, known);

        let mut tools: Vec<String> = crate::mcp::KnowledgeServer::tool_router()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        tools.extend(["read_resource".to_owned(), "(unknown)".to_owned()]);
        tools.sort();
        let mut known: Vec<String> = KNOWLEDGE_TOOLS.iter().map(|t| t.to_string()).collect();
        known.sort();
        assert_eq!(tools, known);
    }
}
