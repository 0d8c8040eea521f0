//! The knowledge server as an MCP service: one rmcp handler (the tools are in `tools`, the
//! resources here), served over stdio (`agentwatch mcp`) and streamable HTTP at `/mcp`
//! (`agentwatch serve`).
//!
//! Indexed files are resources: `agentwatch://repo/{repo_id}/file/{path}`, listable page by page
//! and readable.

use std::sync::Arc;

use indexer::Indexer;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool_handler};
use tokio_util::sync::CancellationToken;

/// Resources listed per page.
const RESOURCE_PAGE: usize = 500;
const URI_PREFIX: &str = "agentwatch://repo/";

const INSTRUCTIONS: &str = "AgentWatch knows the code of the repositories it has indexed. \
Start with list_repositories (or index_repository to add one). To find code by what it does, \
use search_code; by name, find_symbol. Then get_symbol for a symbol's source, get_file_outline \
and read_file for files, get_callers / get_callees / find_references / analyze_impact to follow \
the graph, and get_repo_map for an overview. Paths are relative to the repository root; `repo` \
may be left out when one repository is indexed. Results are bounded: a notice says how to get \
the next page.";

/// One MCP session's handler. Cheap to create: every session shares the indexer.
#[derive(Clone)]
pub struct KnowledgeServer {
    pub(crate) indexer: Arc<Indexer>,
    tool_router: ToolRouter<KnowledgeServer>,
}

impl std::fmt::Debug for KnowledgeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeServer").finish_non_exhaustive()
    }
}

impl KnowledgeServer {
    pub fn new(indexer: Arc<Indexer>) -> KnowledgeServer {
        KnowledgeServer { indexer, tool_router: KnowledgeServer::tool_router() }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for KnowledgeServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("agentwatch", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let start: usize = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor.parse().map_err(|_| {
                ErrorData::invalid_params("the cursor is not one this server gave", None)
            })?,
            None => 0,
        };
        let repos = self.indexer.store().repos().await.map_err(internal)?;
        let mut resources = Vec::new();
        let mut seen = 0;
        for repo in &repos {
            let files = self.indexer.store().file_hashes(&repo.id).await.map_err(internal)?;
            let mut paths: Vec<&String> = files.keys().collect();
            paths.sort();
            for path in paths {
                if seen >= start && resources.len() < RESOURCE_PAGE {
                    resources.push(
                        Resource::new(file_uri(&repo.id, path), path.clone())
                            .with_title(format!("{path} ({})", repo.name))
                            .with_mime_type(mime_type(path)),
                    );
                }
                seen += 1;
            }
        }
        let next = start + resources.len();
        Ok(ListResourcesResult {
            next_cursor: (next < seen).then(|| next.to_string()),
            ..ListResourcesResult::with_all_items(resources)
        })
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

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let not_found = |why: &str| {
            ErrorData::resource_not_found(
                format!("{}: {why}", request.uri),
                Some(serde_json::json!({ "uri": request.uri })),
            )
        };
        let (repo_id, path) = request
            .uri
            .strip_prefix(URI_PREFIX)
            .and_then(|rest| rest.split_once("/file/"))
            .ok_or_else(|| not_found("use agentwatch://repo/{repo_id}/file/{path}"))?;
        let repo = self
            .indexer
            .store()
            .repo(repo_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("no such repository"))?;
        // Only indexed files: never anything else under the checkout.
        let files = self.indexer.store().file_hashes(repo_id).await.map_err(internal)?;
        if !files.contains_key(path) {
            return Err(not_found("not an indexed file of that repository"));
        }
        let text = tokio::fs::read_to_string(repo.checkout.join(path))
            .await
            .map_err(|e| not_found(&format!("cannot read it ({e}); re-index the repository")))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri.clone()).with_mime_type(mime_type(path)),
        ])
        .into())
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
        _ => "text/plain",
    }
}

fn internal(error: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(error.to_string(), None)
}

/// Serves MCP over stdin and stdout until the client closes them.
pub async fn serve_stdio(indexer: Arc<Indexer>) -> anyhow::Result<()> {
    let service = KnowledgeServer::new(indexer).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}

/// The streamable HTTP endpoint, to mount at `/mcp`. With `loopback`, the Host header must name
/// this machine (against DNS rebinding); a browser `Origin` must always be a local one.
pub fn http_service(
    indexer: Arc<Indexer>,
    loopback: bool,
    shutdown: CancellationToken,
) -> StreamableHttpService<KnowledgeServer, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins([
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*",
            "https://localhost:*",
        ])
        .with_cancellation_token(shutdown);
    if !loopback {
        // Bound to a routable address, the bearer token guards the server, and clients reach it
        // by whatever name it has.
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(KnowledgeServer::new(Arc::clone(&indexer))),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
