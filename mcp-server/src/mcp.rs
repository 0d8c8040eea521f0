//! The knowledge server as an MCP service: one rmcp handler (the tools are in `tools`, the
//! resources here), served over stdio (`agentwatch mcp`) and streamable HTTP at `/mcp`
//! (`agentwatch serve`).
//!
//! Indexed files are resources: `agentwatch://repo/{repo_id}/file/{path}`, listable page by page
//! and readable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use knowledge::{Account, Answer, Call, Caller, Face, Knowledge, KnowledgeError, Screening};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

use crate::access::Access;

/// Resources listed per page.
const RESOURCE_PAGE: usize = 500;
const URI_PREFIX: &str = "agentwatch://repo/";

const INSTRUCTIONS: &str = "AgentWatch knows the code of the repositories it has indexed. \
Start with list_repositories (or index_repository to add one). To find code by what it does, \
use search_code; by name, find_symbol; from an issue, stack trace or failing test, \
find_relevant_code. Then get_symbol for a symbol's source, get_file_outline \
and read_file for files, get_callers / get_callees / find_references / analyze_impact to follow \
the graph, and get_repo_map for an overview. Paths are relative to the repository root; `repo` \
may be left out when one repository is indexed. Results are bounded: a notice says how to get \
the next page.";

tokio::task_local! {
    /// The caller of the tool call being run: set by `call_tool` around each call, so that every
    /// tool sees only what its caller may.
    static CALLER: Caller;
    /// The status a tool's refusal of its caller is metered with (403, 429); unset, a tool
    /// error is a 400.
    static REFUSAL: Arc<AtomicU16>;
}

/// Records that the running tool refused its caller with `status`.
pub(crate) fn note_status(status: u16) {
    let _ = REFUSAL.try_with(|refusal| refusal.store(status, Ordering::Relaxed));
}

/// One MCP session's handler. Cheap to create: every session shares the knowledge core.
#[derive(Clone)]
pub struct KnowledgeServer {
    pub(crate) knowledge: Knowledge,
    pub(crate) access: Arc<Access>,
    tool_router: ToolRouter<KnowledgeServer>,
}

impl std::fmt::Debug for KnowledgeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeServer").finish_non_exhaustive()
    }
}

impl KnowledgeServer {
    pub fn new(knowledge: Knowledge, access: Arc<Access>) -> KnowledgeServer {
        let tool_router = KnowledgeServer::tool_router();
        KnowledgeServer { knowledge, access, tool_router }
    }

    /// Who sent a request: over HTTP, the caller `access::authenticate` identified; over stdio,
    /// the local user.
    fn caller_of(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        match context.extensions.get::<axum::http::request::Parts>() {
            Some(parts) => parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ErrorData::internal_error("the request reached MCP unidentified", None)
            }),
            None => Ok(self.access.local_caller()),
        }
    }

    /// The caller of the tool call being run.
    pub(crate) fn caller() -> Result<Caller, String> {
        CALLER
            .try_with(Clone::clone)
            .map_err(|_| "internal error: a tool ran outside a call".into())
    }
}

/// A tool call's answer, governed like every call (`knowledge::govern`): a result is screened
/// whole (its text and its structured content), and a notice of what was redacted is added to
/// its content. `refusal`: the status the tool refused its caller with, if it did.
struct ToolAnswer(Result<CallToolResponse, ErrorData>, u16);

impl Answer for ToolAnswer {
    fn screen(&mut self, account: &dyn Account) -> Screening {
        let Ok(CallToolResponse::Complete(result)) = &mut self.0 else {
            return Screening::default();
        };
        match knowledge::screen_json(result, account) {
            Ok(screening) => screening,
            Err(error) => {
                *result = CallToolResult::error(vec![ContentBlock::text(error.to_string())]);
                Screening::default()
            }
        }
    }

    fn tell(&mut self, screening: &Screening) {
        if let (Ok(CallToolResponse::Complete(result)), Some(notice)) =
            (&mut self.0, screening.notice())
        {
            result.content.push(ContentBlock::text(notice));
        }
    }

    fn failure(&self) -> Option<(u16, String)> {
        match &self.0 {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                let message = result.content.first().and_then(|c| c.as_text());
                let status = if self.1 == 0 { 400 } else { self.1 };
                Some((status, message.map(|t| t.text.clone()).unwrap_or_default()))
            }
            Ok(_) => None,
            Err(error) => Some((400, error.message.to_string())),
        }
    }

    fn size(&self) -> u64 {
        match &self.0 {
            Ok(CallToolResponse::Complete(result)) => {
                serde_json::to_vec(result).map_or(0, |b| b.len() as u64)
            }
            _ => 0,
        }
    }
}

/// A resource's text, governed like a tool call.
struct ResourceText(String);

impl Answer for ResourceText {
    fn screen(&mut self, account: &dyn Account) -> Screening {
        let mut value = serde_json::Value::String(std::mem::take(&mut self.0));
        let screening = account.screen(&mut value);
        if let serde_json::Value::String(text) = value {
            self.0 = text;
        }
        screening
    }

    /// A resource has no place for a notice: the redactions show as `[REDACTED:TYPE]`.
    fn tell(&mut self, _screening: &Screening) {}

    fn failure(&self) -> Option<(u16, String)> {
        None
    }

    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

/// A page of resources, governed like a tool call.
struct ResourcePage(ListResourcesResult);

impl Answer for ResourcePage {
    /// A page that cannot be screened is not given: it is emptied.
    fn screen(&mut self, account: &dyn Account) -> Screening {
        knowledge::screen_json(&mut self.0.resources, account).unwrap_or_else(|_| {
            self.0.resources.clear();
            Screening::default()
        })
    }

    /// A listing has no place for a notice: the redactions show as `[REDACTED:TYPE]`.
    fn tell(&mut self, _screening: &Screening) {}

    fn failure(&self) -> Option<(u16, String)> {
        None
    }

    fn size(&self) -> u64 {
        serde_json::to_vec(&self.0).map_or(0, |b| b.len() as u64)
    }
}

fn request_id(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.headers.get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl ServerHandler for KnowledgeServer {
    /// Every tool call: identified, admitted under its tenant's rate limit, run with its
    /// caller's view of the repositories, its result screened by DLP, then metered.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller_of(&context)?;
        // Tool names become metric labels: only this server's own.
        let tool = match self.tool_router.get(&request.name) {
            Some(_) => request.name.to_string(),
            None => "(unknown)".to_owned(),
        };
        let call = Call::new(Face::Mcp, tool, request_id(&context));
        let run = self.tool_router.call(ToolCallContext::new(self, request, context));
        let refusal = Arc::new(AtomicU16::new(0));
        let run = REFUSAL.scope(Arc::clone(&refusal), CALLER.scope(caller.clone(), run));
        let run = async { Ok(ToolAnswer(run.await, refusal.load(Ordering::Relaxed))) };
        match knowledge::govern(&caller, call, run).await.answer {
            Ok(ToolAnswer(answer, _)) => answer,
            Err(error) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(error.to_string())]).into())
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // As rmcp's `#[tool_handler]` would answer: the list is the same for every caller.
        let cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= rmcp::model::ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(rmcp::model::ResultType::COMPLETE),
            tools: self.tool_router.list_all(),
            meta: None,
            next_cursor: None,
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(rmcp::model::CacheScope::Public),
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("agentwatch", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    /// The caller's files, a page at a time: governed like a tool call (metered as
    /// `list_resources`, the paths screened by DLP).
    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller_of(&context)?;
        let call = Call::new(Face::Mcp, "list_resources", request_id(&context));
        let scoped = self.knowledge.for_caller(&caller);
        let list = async {
            let start: usize = match request.and_then(|r| r.cursor) {
                Some(cursor) => cursor.parse().map_err(|_| {
                    KnowledgeError::invalid("the cursor is not one this server gave")
                })?,
                None => 0,
            };
            let mut resources = Vec::new();
            let mut seen = 0;
            for (repo, paths) in scoped.files().await? {
                for path in paths {
                    if seen >= start && resources.len() < RESOURCE_PAGE {
                        resources.push(
                            Resource::new(file_uri(&repo.id, &path), path.clone())
                                .with_title(format!("{path} ({})", repo.name))
                                .with_mime_type(mime_type(&path)),
                        );
                    }
                    seen += 1;
                }
            }
            let next = start + resources.len();
            Ok(ResourcePage(ListResourcesResult {
                next_cursor: (next < seen).then(|| next.to_string()),
                ..ListResourcesResult::with_all_items(resources)
            }))
        };
        match knowledge::govern(&caller, call, list).await.answer {
            Ok(ResourcePage(page)) => Ok(page),
            Err(error @ KnowledgeError::Invalid(_)) => {
                Err(ErrorData::invalid_params(error.to_string(), None))
            }
            Err(error) => Err(ErrorData::invalid_request(error.to_string(), None)),
        }
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{URI_PREFIX}{{repo_id}}/file/{{path}}"), "file")
                .with_description("A file of an indexed repository, as it is now on disk")
                .with_mime_type("text/plain"),
        ]))
    }

    /// A file, as a resource: read like the `read_file` tool (the caller's repositories only,
    /// screened by DLP, metered as `read_resource`).
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = self.caller_of(&context)?;
        let call = Call::new(Face::Mcp, "read_resource", request_id(&context));
        let uri = request.uri.clone();
        let not_found = |why: &str| {
            ErrorData::resource_not_found(
                format!("{uri}: {why}"),
                Some(serde_json::json!({ "uri": uri })),
            )
        };
        let scoped = self.knowledge.for_caller(&caller);
        let read = async {
            let (repo_id, path) = uri
                .strip_prefix(URI_PREFIX)
                .and_then(|rest| rest.split_once("/file/"))
                .ok_or_else(|| {
                    KnowledgeError::NotFound("use agentwatch://repo/{repo_id}/file/{path}".into())
                })?;
            scoped.file(repo_id, path).await.map(ResourceText)
        };
        match knowledge::govern(&caller, call, read).await.answer {
            Ok(ResourceText(text)) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri.clone()).with_mime_type(mime_type(&uri)),
            ])
            .into()),
            Err(error @ (KnowledgeError::NotFound(_) | KnowledgeError::UnknownRepo(_))) => {
                Err(not_found(&error.to_string()))
            }
            Err(error) => Err(ErrorData::invalid_request(error.to_string(), None)),
        }
    }
}

fn file_uri(repo_id: &str, path: &str) -> String {
    format!("{URI_PREFIX}{repo_id}/file/{path}")
}

fn mime_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("rs") => "text/x-rust",
        Some("py") => "text/x-python",
        Some("ts" | "tsx") => "text/x-typescript",
        Some("js" | "jsx" | "mjs" | "cjs") => "text/javascript",
        Some("go") => "text/x-go",
        Some("java") => "text/x-java",
        Some("kt" | "kts") => "text/x-kotlin",
        Some("cs") => "text/x-csharp",
        Some("php") => "text/x-php",
        Some("rb" | "rake" | "gemspec") => "text/x-ruby",
        Some("sh" | "bash") => "text/x-shellscript",
        Some("c" | "h") => "text/x-c",
        Some("cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++") => "text/x-c++",
        _ => "text/plain",
    }
}

/// Serves MCP over stdin and stdout until the client closes them.
pub async fn serve_stdio(knowledge: Knowledge, access: Arc<Access>) -> anyhow::Result<()> {
    let service = KnowledgeServer::new(knowledge, access).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}

/// The most a request body may hold (rmcp's own limit too).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The streamable HTTP endpoint at `/mcp`. With `loopback`, the Host header must name this
/// machine (against DNS rebinding); a browser `Origin` must always be a local one or one of
/// `origins`.
pub fn http_router(
    server: KnowledgeServer,
    loopback: bool,
    origins: &[String],
    shutdown: CancellationToken,
) -> Router {
    Router::new()
        .nest_service("/mcp", http_service(server, loopback, origins, shutdown))
        .layer(middleware::from_fn(reject_malformed))
}

/// A body that is not JSON-RPC gets HTTP 400 with a JSON-RPC error a client can read — a parse
/// error (-32700) or an invalid request (-32600) — and one over 4 MiB a 413, before rmcp sees
/// either (it would answer in plain text).
async fn reject_malformed(request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let message = "the request is larger than 4 MiB: send less per call";
        return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::INVALID_REQUEST, message);
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Err(e) => {
            let message = format!("parse error: the body is not JSON ({e})");
            return rpc_error(StatusCode::BAD_REQUEST, ErrorCode::PARSE_ERROR, &message);
        }
        Ok(message) if !is_json_rpc(&message) => {
            let message = "invalid request: expected a JSON-RPC 2.0 message, an object with \"jsonrpc\": \"2.0\"";
            return rpc_error(StatusCode::BAD_REQUEST, ErrorCode::INVALID_REQUEST, message);
        }
        Ok(_) => {}
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn is_json_rpc(message: &serde_json::Value) -> bool {
    match message {
        serde_json::Value::Object(object) => object.get("jsonrpc").is_some_and(|v| v == "2.0"),
        serde_json::Value::Array(batch) => !batch.is_empty() && batch.iter().all(is_json_rpc),
        _ => false,
    }
}

fn rpc_error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let error = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code.0, "message": message },
    });
    (status, Json(error)).into_response()
}

fn http_service(
    server: KnowledgeServer,
    loopback: bool,
    origins: &[String],
    shutdown: CancellationToken,
) -> StreamableHttpService<KnowledgeServer, LocalSessionManager> {
    let local = crate::knowledge::LOCAL_ORIGINS;
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(local.iter().map(|o| o.to_string()).chain(origins.iter().cloned()))
        .with_cancellation_token(shutdown);
    if !loopback {
        // Bound to a routable address, the bearer token guards the server, and clients reach it
        // by whatever name it has.
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
