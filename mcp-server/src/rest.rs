//! REST under `/api/knowledge`, for scripts and services that do not speak MCP: every question
//! the MCP tools answer (repositories and their jobs, search, symbols, the call and import graph,
//! impact, outlines, files, the repo map, scans and their findings, `ask`), as argument structs
//! over the knowledge core and its views. The OpenAPI document at `/openapi.json` is derived from
//! these handlers and the types they take and return, so it cannot drift from what the server
//! does.

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router};
use indexer::{Mode, NameMatch};
use knowledge::views::{
    CallsOutput, DependenciesOutput, FileOutput, ImpactOutput, JobView, LocateOutput,
    OutlineOutput, ReferencesOutput, RepoMapOutput, RepoView, ReposOutput, ScanView, SearchOutput,
    SettingsView, SymbolSourceOutput, SymbolsOutput,
};
use knowledge::{
    AskView, Caller, Code, Direction, FindingQuery, Imports, Knowledge, Page, Scoped,
    SearchRequest, SettingsChange, SymbolName, SymbolQuery,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::knowledge::{ApiError, ErrorBody};

/// The knowledge core as the request's caller (identified by `access::authenticate`) may see it.
struct Core {
    knowledge: Knowledge,
    caller: Caller,
}

impl Core {
    fn scoped(&self) -> Scoped<'_> {
        self.knowledge.for_caller(&self.caller)
    }
}

impl FromRequestParts<Knowledge> for Core {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        knowledge: &Knowledge,
    ) -> Result<Core, ApiError> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "the request reached REST unidentified",
            )
        })?;
        Ok(Core { knowledge: knowledge.clone(), caller })
    }
}

/// A repository named in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RepoId {
    /// The repository's id (or name).
    id: String,
}

/// Most items one REST page holds; a larger `limit` is clamped.
const MAX_PAGE: usize = 1000;

/// A page of a REST list: 50 items unless `limit` says otherwise, at most `MAX_PAGE`.
fn page(offset: Option<usize>, limit: Option<usize>) -> Page {
    Page::new(offset, limit, 50, MAX_PAGE)
}

/// The REST routes over the knowledge core, each call governed like an MCP call
/// (`access::govern_rest`), and the OpenAPI document describing them (and `/health`).
///
/// Also the push webhooks' routes, which take no credential (the request's signature is checked
/// against the repositories' secrets instead): mount them outside the authentication.
pub fn router(knowledge: Knowledge) -> (Router, Router, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(Document::openapi())
        .nest("/api/knowledge", routes())
        .with_state(knowledge.clone())
        .layer(axum::middleware::from_fn(crate::access::govern_rest))
        .split_for_parts();
    // After the routes are in: it adds to each of them.
    BearerToken.modify(&mut openapi);
    let (webhooks, documented) = crate::webhooks::routes(knowledge).split_for_parts();
    openapi.merge(documented);
    (router, webhooks, openapi)
}

/// Every REST route, before it is nested under `/api/knowledge`.
fn routes() -> OpenApiRouter<Knowledge> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, index_repository))
        .routes(routes!(get_repository, remove_repository))
        .routes(routes!(repository_status))
        .routes(routes!(refresh_repository))
        .routes(routes!(get_settings, set_settings))
        .routes(routes!(scan_repository))
        .routes(routes!(repository_findings))
        .routes(routes!(get_scan))
        .routes(routes!(list_symbols))
        .routes(routes!(get_symbol))
        .routes(routes!(get_callers))
        .routes(routes!(get_callees))
        .routes(routes!(get_references))
        .routes(routes!(get_impact))
        .routes(routes!(get_outline))
        .routes(routes!(read_file))
        .routes(routes!(get_dependencies))
        .routes(routes!(get_dependents))
        .routes(routes!(get_repo_map))
        .routes(routes!(search))
        .routes(routes!(locate))
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
        (name = "graph", description = "A repository's files and symbols, and the call and import graph between them"),
        (name = "scans", description = "Security scans (Semgrep, Trivy) and their findings"),
    )
)]
struct Document;

/// Declares the credential every route but `/health` and `/openapi.json` may require, and the
/// 401 that answers a request without it, on each of those routes.
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
        for (path, item) in &mut openapi.paths.paths {
            if path == "/health" {
                continue;
            }
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
                operation.security = Some(vec![bearer]);
                let responses = &mut operation.responses.responses;
                responses.insert("401".to_owned(), unauthorized.clone().into());
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
    /// For a folder: whether to watch it and re-index what changes there, unasked. Default: as
    /// chosen before, or the server's setting (on unless `index.watch = false`).
    #[serde(default)]
    watch: Option<bool>,
}

/// Submits a repository for indexing, or joins the job already running for it. Re-submitting a
/// known repository re-indexes it, re-parsing only the files that changed.
#[utoipa::path(
    post,
    path = "/repositories",
    tag = "repositories",
    request_body = IndexRequest,
    responses(
        (status = 202, description = "Indexing job queued", body = JobView,
            headers(("location" = String, description = "Where to follow the job"))),
        (status = 400, description = "Invalid URL or request body; for an organization, a URL that is not https or names an address that is not public", body = ErrorBody),
        (status = 403, description = "A folder on the server's machine, sent by a tenant or user (only the local user may index one); a viewer; or the organization is at its repository quota (`quota_exceeded`)", body = ErrorBody),
        (status = 413, description = "The body is larger than 2 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn index_repository(
    core: Core,
    Body(request): Body<IndexRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let scoped = core.scoped();
    let IndexRequest { url, branch, run_security_scan, watch } = request;
    let job = scoped.index(&url, branch, run_security_scan, watch).await?;
    let status = JobView::from(&*job.borrow());
    let location = format!("/api/knowledge/repositories/{}/status", status.repo.repo_id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Items to return (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
    /// Items to skip, for the next page.
    offset: Option<usize>,
}

impl PageParams {
    fn page(&self) -> Page {
        page(self.offset, self.limit)
    }
}

/// The stored repositories, in the order they were first indexed.
#[utoipa::path(
    get,
    path = "/repositories",
    tag = "repositories",
    params(PageParams),
    responses((status = 200, description = "One page of repositories", body = ReposOutput))
)]
async fn list_repositories(
    core: Core,
    Params(page): Params<PageParams>,
) -> Result<Json<ReposOutput>, ApiError> {
    let repos = core.scoped().repositories().await?;
    let (repos, total, next_offset) = page.page().of(repos);
    let repositories = repos.iter().map(RepoView::from).collect();
    Ok(Json(ReposOutput { repositories, total, next_offset }))
}

/// One stored repository, how its last index went, and its files per language.
#[utoipa::path(
    get,
    path = "/repositories/{id}",
    tag = "repositories",
    params(RepoId),
    responses(
        (status = 200, description = "The repository", body = RepoView),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn get_repository(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
) -> Result<Json<RepoView>, ApiError> {
    Ok(Json(core.scoped().repository_view(&id).await?))
}

/// The repository's indexing job: state, progress percent, file count, node and edge counts in
/// the symbol graph, and errors. Structural and lexical queries work from the `embedding` state.
#[utoipa::path(
    get,
    path = "/repositories/{id}/status",
    tag = "repositories",
    params(RepoId),
    responses(
        (status = 200, description = "Status object", body = JobView),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn repository_status(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(core.scoped().status(Some(&id)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WaitParams {
    /// Seconds to wait for the structural index before answering with the job still running
    /// (202); default 60, at most 600, 0 answers at once.
    wait_seconds: Option<u64>,
}

/// Brings a repository up to date now: fetches a remote's branch or reads a folder again,
/// re-parsing only what changed, and waits for the structure to be indexed, up to
/// `wait_seconds`. Watched folders are kept up to date without it.
#[utoipa::path(
    post,
    path = "/repositories/{id}/refresh",
    tag = "repositories",
    params(RepoId, WaitParams),
    responses(
        (status = 200, description = "Up to date: structural and lexical queries see the newest code", body = JobView),
        (status = 202, description = "Still running when the wait ended", body = JobView,
            headers(("location" = String, description = "Where to follow the job"))),
        (status = 403, description = "A viewer, who reads only", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn refresh_repository(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(WaitParams { wait_seconds }): Params<WaitParams>,
) -> Result<impl IntoResponse, ApiError> {
    let mut job = core.scoped().refresh(Some(&id)).await?;
    let wait = Duration::from_secs(wait_seconds.unwrap_or(60).min(600));
    // Usable once embedding starts; a job that ended said so.
    let _ = tokio::time::timeout(wait, job.wait_for(|s| s.repo.status.is_usable())).await;
    let status = JobView::from(&*job.borrow());
    let code = match status.repo.status.as_str() {
        "ready" | "embedding" | "failed" => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    let location = format!("/api/knowledge/repositories/{}/status", status.repo.repo_id);
    Ok((code, [(header::LOCATION, location)], Json(status)))
}

/// What was chosen for a repository (whether its folder is watched), and what holds for it.
#[utoipa::path(
    get,
    path = "/repositories/{id}/settings",
    tag = "repositories",
    params(RepoId),
    responses(
        (status = 200, description = "The repository's settings", body = SettingsView),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn get_settings(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(core.scoped().settings(Some(&id)).await?))
}

/// A change to a repository's choices: what is left out stays as it is; `null` resets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsRequest {
    /// Whether its folder is watched and re-indexed as it changes; `null`: the server's default
    /// (`index.watch`). Only folders on the server's machine are watched.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    watch: Option<Option<bool>>,
    /// The secret its forge's push webhook is signed with (`POST /api/knowledge/webhooks/{forge}`);
    /// `null` removes it. Kept sealed; never shown again. Cloned repositories only.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    webhook_secret: Option<Option<String>>,
    /// Whether each pushed commit is scanned once indexed.
    #[serde(default)]
    scan_on_push: Option<bool>,
    /// Seconds between scheduled fetches of a clone (60 or more); `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    sync_every_secs: Option<Option<u64>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, `None` (by `default`) when
/// left out.
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes a repository's choices: whether its folder is watched; for a clone, its push
/// webhook's secret, whether pushes are scanned, and how often it is fetched.
#[utoipa::path(
    patch,
    path = "/repositories/{id}/settings",
    tag = "repositories",
    params(RepoId),
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "The repository's settings now", body = SettingsView),
        (status = 400, description = "A setting that does not apply to this repository (watching a clone, a webhook for a folder), or a sync more often than once a minute", body = ErrorBody),
        (status = 403, description = "A viewer, who reads only", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn set_settings(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Body(request): Body<SettingsRequest>,
) -> Result<Json<SettingsView>, ApiError> {
    let change = SettingsChange {
        watch: request.watch,
        webhook_secret: request.webhook_secret,
        scan_on_push: request.scan_on_push,
        sync_every: request.sync_every_secs,
    };
    Ok(Json(core.scoped().configure(Some(&id), change).await?))
}

/// Forgets a repository: its graph, its search index and, for a clone, its checkout. The source
/// itself is never touched.
#[utoipa::path(
    delete,
    path = "/repositories/{id}",
    tag = "repositories",
    params(RepoId),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "A viewer, who reads only", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
        (status = 409, description = "The repository is being indexed", body = ErrorBody),
    )
)]
async fn remove_repository(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
) -> Result<StatusCode, ApiError> {
    core.scoped().remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a security scan of an indexed repository: Semgrep (the bundled rules and any
/// configured) and Trivy (misconfigurations and secrets; vulnerabilities when online), each
/// finding tied to the symbol holding it.
#[utoipa::path(
    post,
    path = "/repositories/{id}/scan",
    tag = "scans",
    params(RepoId),
    responses(
        (status = 202, description = "Scan started", body = ScanView,
            headers(("location" = String, description = "Where to follow the scan"))),
        (status = 403, description = "A viewer, who reads only", body = ErrorBody),
        (status = 404, description = "Repository not indexed", body = ErrorBody),
    )
)]
async fn scan_repository(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
) -> Result<impl IntoResponse, ApiError> {
    let scoped = core.scoped();
    let (_, scan) = scoped.scan(Some(&id)).await?;
    let view = scoped.wait_for_scan(&scan.id, Duration::ZERO, 50).await?;
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
    /// Findings to return (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
    /// Findings to skip, for the next page.
    offset: Option<usize>,
}

impl FindingParams {
    fn query(self) -> (FindingQuery, Page) {
        let page = page(self.offset, self.limit);
        let FindingParams { severity, tool, path, symbol, .. } = self;
        (FindingQuery { severity, tool, path, symbol }, page)
    }
}

/// The findings of a repository's newest finished scan, worst first, each marked `new` when the
/// scan before did not have it; `fixed` lists what that scan had and this one has not.
#[utoipa::path(
    get,
    path = "/repositories/{id}/findings",
    tag = "scans",
    params(RepoId, FindingParams),
    responses(
        (status = 200, description = "The scan and one page of its findings", body = ScanView),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "No such repository, or no finished scan of it", body = ErrorBody),
    )
)]
async fn repository_findings(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<FindingParams>,
) -> Result<Json<ScanView>, ApiError> {
    let (query, page) = params.query();
    let (_, view) = core.scoped().findings(Some(&id), None, query, page).await?;
    Ok(Json(view))
}

/// One scan: its state while it runs, then its tools' outcomes and a page of its findings.
#[utoipa::path(
    get,
    path = "/scans/{scan_id}",
    tag = "scans",
    params(("scan_id" = String, Path, description = "The scan's id"), FindingParams),
    responses(
        (status = 200, description = "The scan and one page of its findings", body = ScanView),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "No such scan", body = ErrorBody),
    )
)]
async fn get_scan(
    core: Core,
    Path(scan_id): Path<String>,
    Params(params): Params<FindingParams>,
) -> Result<Json<ScanView>, ApiError> {
    let (query, page) = params.query();
    Ok(Json(core.scoped().scan_by_id(&scan_id, query, page).await?))
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
    /// Only this language: rust, python, typescript, tsx, javascript, go, java, kotlin, csharp,
    /// php, ruby, bash, c or cpp.
    language: Option<String>,
    /// Only paths matching this glob, e.g. `src/**/*.rs`.
    path: Option<String>,
    /// Only chunks of this symbol kind (function, method, class, …) or `code` for top-level code.
    kind: Option<String>,
    /// Results to return (default 10, at most 50; more is clamped).
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
    responses(
        (status = 200, description = "One page of results, best first", body = SearchOutput),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 404, description = "A repository that is not indexed", body = ErrorBody),
        (status = 503, description = "Semantic search asked for without the embedding model", body = ErrorBody),
    )
)]
async fn search(
    core: Core,
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
        limit: params.limit,
        offset: params.offset,
    };
    Ok(Json(core.scoped().search(request).await?))
}

/// A text to place in a repository's code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LocateRequest {
    /// An issue or bug report, a stack trace, a log, a failing test's output — as long as it is
    /// (up to 64 KiB).
    text: String,
    /// The repository (id, name, URL or path); may be left out when only one is indexed.
    #[serde(default)]
    repo: Option<String>,
    /// Files to return (default 10, at most 50).
    #[serde(default)]
    limit: Option<usize>,
}

/// The files (and the symbols within them) a text is about, best first, each with the evidence
/// that put it there: the paths, stack frames, exceptions and identifiers the text names, its
/// words found in the file's path, names, docstrings and body, code close in meaning, and the
/// callers and callees of what it points at.
#[utoipa::path(
    post,
    path = "/locate",
    tag = "search",
    request_body = LocateRequest,
    responses(
        (status = 200, description = "Files, best first, with their symbols and evidence", body = LocateOutput),
        (status = 400, description = "An empty or too long text, or several repositories and none named", body = ErrorBody),
        (status = 404, description = "A repository that is not indexed", body = ErrorBody),
    )
)]
async fn locate(
    core: Core,
    Body(request): Body<LocateRequest>,
) -> Result<Json<LocateOutput>, ApiError> {
    let scoped = core.scoped();
    Ok(Json(scoped.locate(request.repo.as_deref(), &request.text, request.limit).await?))
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
    responses(
        (status = 200, description = "The answer, its citations and the passages it came from", body = AskView),
        (status = 400, description = "An empty question, or several repositories and none named", body = ErrorBody),
        (status = 402, description = "The tenant's budget cannot cover the question", body = ErrorBody),
        (status = 403, description = "No tenant to bill: the caller is not one and knowledge.ask_api_key is not set; or a viewer", body = ErrorBody),
        (status = 404, description = "No such repository, or nothing in it matches the question", body = ErrorBody),
        (status = 429, description = "The tenant is over its rate limit", body = ErrorBody),
        (status = 502, description = "The gateway or its providers failed", body = ErrorBody),
    )
)]
async fn ask(core: Core, Body(request): Body<AskRequest>) -> Result<Json<AskView>, ApiError> {
    let scoped = core.scoped();
    let question = scoped.prepare_question(request.repo.as_deref(), &request.question).await?;
    Ok(Json(scoped.answer(&question).await?))
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
    /// Symbols to return (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
    /// Symbols to skip, for the next page.
    offset: Option<usize>,
}

/// A repository's symbols (functions, methods, classes, types, …), found by name or all of them.
#[utoipa::path(
    get,
    path = "/repositories/{id}/symbols",
    tag = "search",
    params(RepoId, SymbolParams),
    responses(
        (status = 200, description = "One page of symbols", body = SymbolsOutput),
        (status = 400, description = "An invalid parameter: a kind, a match, or a path that is not an indexed file", body = ErrorBody),
        (status = 404, description = "No such repository", body = ErrorBody),
        (status = 409, description = "The repository's structure is still being indexed", body = ErrorBody),
    )
)]
async fn list_symbols(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<SymbolParams>,
) -> Result<Json<SymbolsOutput>, ApiError> {
    let how = params.how.map(|how| match how {
        MatchMode::Fuzzy => NameMatch::Fuzzy,
        MatchMode::Prefix => NameMatch::Prefix,
        MatchMode::Exact => NameMatch::Exact,
    });
    let query = SymbolQuery { name: params.q, how, kind: params.kind, path: params.path };
    let page = page(params.offset, params.limit);
    let (_, symbols) = core.scoped().symbols(Some(&id), query, page).await?;
    Ok(Json(symbols))
}

/// A symbol, by name, and the file defining it when the name alone is ambiguous.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SymbolParam {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    symbol: String,
    /// The file that defines it, when the name alone is ambiguous.
    path: Option<String>,
}

impl SymbolParam {
    fn name(&self) -> SymbolName<'_> {
        SymbolName { name: &self.symbol, path: self.path.as_deref() }
    }
}

/// One symbol in full: signature, documentation, location, enclosing symbol, and its source (cut
/// at 400 lines; `/file` gives the rest).
#[utoipa::path(
    get,
    path = "/repositories/{id}/symbol",
    tag = "graph",
    params(RepoId, SymbolParam),
    responses(
        (status = 200, description = "The symbol and its source", body = SymbolSourceOutput),
        (status = 400, description = "Several symbols have the name: pass `path`", body = ErrorBody),
        (status = 404, description = "No such repository, file or symbol", body = ErrorBody),
    )
)]
async fn get_symbol(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<SymbolParam>,
) -> Result<Json<SymbolSourceOutput>, ApiError> {
    Ok(Json(core.scoped().symbol(Some(&id), params.name()).await?))
}

/// A walk of the call graph from a symbol.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WalkParams {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    symbol: String,
    /// The file that defines it, when the name alone is ambiguous.
    path: Option<String>,
    /// Hops to follow (default 1, at most 5).
    depth: Option<usize>,
    /// Items to return (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
    /// Items to skip, for the next page.
    offset: Option<usize>,
}

/// A symbol's references, a page at a time.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReferenceParams {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    symbol: String,
    /// The file that defines it, when the name alone is ambiguous.
    path: Option<String>,
    /// Items to return (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
    /// Items to skip, for the next page.
    offset: Option<usize>,
}

/// What a change to a symbol may reach.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImpactParams {
    /// The symbol's name or qualified name (`Shortener::shorten`, `Item.total`).
    symbol: String,
    /// The file that defines it, when the name alone is ambiguous.
    path: Option<String>,
    /// Hops of callers to follow (default 3, at most 5).
    depth: Option<usize>,
    /// Callers and files to list, of each (default 50, at most 1000; more is clamped).
    limit: Option<usize>,
}

/// The functions and methods that call a symbol, up to `depth` hops away, nearest first, with the
/// line of each call.
#[utoipa::path(
    get,
    path = "/repositories/{id}/callers",
    tag = "graph",
    params(RepoId, WalkParams),
    responses(
        (status = 200, description = "One page of callers", body = CallsOutput),
        (status = 400, description = "Several symbols have the name: pass `path`", body = ErrorBody),
        (status = 404, description = "No such repository, file or symbol", body = ErrorBody),
    )
)]
async fn get_callers(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<WalkParams>,
) -> Result<Json<CallsOutput>, ApiError> {
    walk(&core, &id, &params, Direction::Callers).await
}

/// The functions and methods a symbol calls, up to `depth` hops away, nearest first, with the
/// line of each call.
#[utoipa::path(
    get,
    path = "/repositories/{id}/callees",
    tag = "graph",
    params(RepoId, WalkParams),
    responses(
        (status = 200, description = "One page of callees", body = CallsOutput),
        (status = 400, description = "Several symbols have the name: pass `path`", body = ErrorBody),
        (status = 404, description = "No such repository, file or symbol", body = ErrorBody),
    )
)]
async fn get_callees(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<WalkParams>,
) -> Result<Json<CallsOutput>, ApiError> {
    walk(&core, &id, &params, Direction::Callees).await
}

/// Callers or callees, as both routes answer them.
async fn walk(
    core: &Core,
    id: &str,
    params: &WalkParams,
    direction: Direction,
) -> Result<Json<CallsOutput>, ApiError> {
    let name = SymbolName { name: &params.symbol, path: params.path.as_deref() };
    let page = page(params.offset, params.limit);
    Ok(Json(core.scoped().calls(Some(id), name, direction, params.depth, page).await?))
}

/// Every place that refers to a symbol: resolved calls, inheritance and implementations first,
/// then uses of the same name whose target could not be established (`resolved: false`).
#[utoipa::path(
    get,
    path = "/repositories/{id}/references",
    tag = "graph",
    params(RepoId, ReferenceParams),
    responses(
        (status = 200, description = "One page of references", body = ReferencesOutput),
        (status = 400, description = "Several symbols have the name: pass `path`", body = ErrorBody),
        (status = 404, description = "No such repository, file or symbol", body = ErrorBody),
    )
)]
async fn get_references(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<ReferenceParams>,
) -> Result<Json<ReferencesOutput>, ApiError> {
    let name = SymbolName { name: &params.symbol, path: params.path.as_deref() };
    let page = page(params.offset, params.limit);
    Ok(Json(core.scoped().references(Some(&id), name, page).await?))
}

/// What a change to a symbol may break: its callers up to `depth` hops (default 3) and the files
/// that hold them or import its file, transitively; at most `limit` of each.
#[utoipa::path(
    get,
    path = "/repositories/{id}/impact",
    tag = "graph",
    params(RepoId, ImpactParams),
    responses(
        (status = 200, description = "The callers and files a change may reach", body = ImpactOutput),
        (status = 400, description = "Several symbols have the name: pass `path`", body = ErrorBody),
        (status = 404, description = "No such repository, file or symbol", body = ErrorBody),
    )
)]
async fn get_impact(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<ImpactParams>,
) -> Result<Json<ImpactOutput>, ApiError> {
    let name = SymbolName { name: &params.symbol, path: params.path.as_deref() };
    let limit = page(None, params.limit).limit;
    Ok(Json(core.scoped().impact(Some(&id), name, params.depth, limit).await?))
}

/// A file of a repository, by its path relative to the repository root.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FileParams {
    /// Path relative to the repository root, as search results and outlines show it.
    path: String,
}

/// The symbols a file defines, in order, each with how deeply it is nested.
#[utoipa::path(
    get,
    path = "/repositories/{id}/outline",
    tag = "graph",
    params(RepoId, FileParams),
    responses(
        (status = 200, description = "The file's symbols", body = OutlineOutput),
        (status = 404, description = "No such repository, or no such indexed file", body = ErrorBody),
    )
)]
async fn get_outline(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<FileParams>,
) -> Result<Json<OutlineOutput>, ApiError> {
    Ok(Json(core.scoped().outline(Some(&id), &params.path).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReadParams {
    /// Path relative to the repository root.
    path: String,
    /// First line to return, 1-based (default 1).
    start_line: Option<usize>,
    /// Last line to return, inclusive (default: 400 lines on, at most 400 per call).
    end_line: Option<usize>,
}

/// Lines of an indexed file as it is on disk now, at most 400 per call; `next_line` says where
/// the rest begins.
#[utoipa::path(
    get,
    path = "/repositories/{id}/file",
    tag = "graph",
    params(RepoId, ReadParams),
    responses(
        (status = 200, description = "The lines asked for", body = FileOutput),
        (status = 400, description = "Lines outside the file", body = ErrorBody),
        (status = 404, description = "No such repository, or no such indexed file", body = ErrorBody),
    )
)]
async fn read_file(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<ReadParams>,
) -> Result<Json<FileOutput>, ApiError> {
    let scoped = core.scoped();
    let (start, end) = (params.start_line, params.end_line);
    Ok(Json(scoped.read(Some(&id), &params.path, start, end).await?))
}

/// What a file imports: other files of the repository, and external packages (`external:name`).
#[utoipa::path(
    get,
    path = "/repositories/{id}/dependencies",
    tag = "graph",
    params(RepoId, FileParams),
    responses(
        (status = 200, description = "What the file imports", body = DependenciesOutput),
        (status = 404, description = "No such repository, or no such indexed file", body = ErrorBody),
    )
)]
async fn get_dependencies(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<FileParams>,
) -> Result<Json<DependenciesOutput>, ApiError> {
    let scoped = core.scoped();
    Ok(Json(scoped.imports(Some(&id), &params.path, Imports::Of).await?))
}

/// The files of the repository that import a file.
#[utoipa::path(
    get,
    path = "/repositories/{id}/dependents",
    tag = "graph",
    params(RepoId, FileParams),
    responses(
        (status = 200, description = "The files importing it", body = DependenciesOutput),
        (status = 404, description = "No such repository, or no such indexed file", body = ErrorBody),
    )
)]
async fn get_dependents(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<FileParams>,
) -> Result<Json<DependenciesOutput>, ApiError> {
    let scoped = core.scoped();
    Ok(Json(scoped.imports(Some(&id), &params.path, Imports::By).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MapParams {
    /// The map's size in tokens (default 1024, from 64 to 8192).
    max_tokens: Option<usize>,
}

/// A map of the repository for orientation: its most central symbols (ranked by how much other
/// code uses them), grouped by file, with signatures, within a token budget.
#[utoipa::path(
    get,
    path = "/repositories/{id}/map",
    tag = "graph",
    params(RepoId, MapParams),
    responses(
        (status = 200, description = "The map", body = RepoMapOutput),
        (status = 404, description = "No such repository", body = ErrorBody),
    )
)]
async fn get_repo_map(
    core: Core,
    Path(RepoId { id }): Path<RepoId>,
    Params(params): Params<MapParams>,
) -> Result<Json<RepoMapOutput>, ApiError> {
    Ok(Json(core.scoped().repo_map(Some(&id), params.max_tokens).await?))
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
                    knowledge::Code::InvalidRequest,
                    "send the body as JSON, with `Content-Type: application/json`",
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    knowledge::Code::InvalidRequest,
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
        tools.extend(["list_resources", "read_resource", "(unknown)"].map(str::to_owned));
        tools.sort();
        let mut known: Vec<String> = KNOWLEDGE_TOOLS.iter().map(|t| t.to_string()).collect();
        known.sort();
        assert_eq!(tools, known);
    }
}
