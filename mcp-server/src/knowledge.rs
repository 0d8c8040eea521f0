//! The knowledge server's HTTP face on port 4000: `/health`, `/openapi.json` and `/metrics` open
//! (`/metrics` behind its own token when one is set), everything
//! else (MCP at `/mcp`, REST under `/api/knowledge`) for identified callers (`access`). Every
//! route, open or not, is behind the [`Guard`] against DNS rebinding and cross-site requests.
//! Every error is JSON: `{"error": {"code", "message"}}`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use gateway::secrets::Secret;
use knowledge::{Code, Knowledge, KnowledgeError, RateLimit};

use crate::access::{Access, authenticate};

/// The knowledge server's routes: `/health`, `/openapi.json` (the document `openapi`), and `api`
/// (MCP, REST), where every request is identified by `access` first; all of them behind `guard`.
pub fn router(
    access: Arc<Access>,
    guard: Guard,
    api: Router,
    open: Router,
    openapi: utoipa::openapi::OpenApi,
) -> Router {
    let protected =
        api.fallback(not_found).layer(middleware::from_fn_with_state(access, authenticate));
    let openapi = Json(openapi);
    let routes = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(move || async move { openapi.clone() }))
        .merge(open)
        .merge(protected)
        .layer(middleware::from_fn_with_state(Arc::new(guard), guard_request));
    gateway::telemetry::observe(routes)
}

/// The REST routes again, for the gateway's port: the dashboard the gateway serves reads
/// repositories from its own origin, each request identified and guarded as on port 4000 (a
/// knowledge server bound to loopback answers only pages that name this machine, there too).
pub fn rest_for_dashboard(access: Arc<Access>, guard: Guard, rest: Router) -> Router {
    let routes = rest
        .layer(middleware::from_fn_with_state(access, authenticate))
        .layer(middleware::from_fn_with_state(Arc::new(guard), guard_request));
    gateway::telemetry::observe(routes)
}

/// Which requests may reach port 4000 at all, whoever sends them: a web page in the user's
/// browser can send requests to a local server too, and a DNS name its owner rebinds to
/// 127.0.0.1 makes such a page look same-origin.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Bound to loopback: the `Host` must name this machine (`localhost`, `127.0.0.1`, `[::1]`).
    pub loopback: bool,
    /// Browser origins allowed besides local pages: `scheme://host`, with `:port` or `:*`.
    pub origins: Vec<String>,
}

/// Pages of this machine, always allowed as origins.
pub const LOCAL_ORIGINS: [&str; 4] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", "https://localhost:*"];

impl Guard {
    /// Why `headers` may not make a request with `method` here, if they may not.
    fn refuse(&self, method: &Method, headers: &HeaderMap) -> Option<(StatusCode, String)> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if self.loopback {
            let host = text(header::HOST.as_str()).unwrap_or_default();
            if !is_local_host(host) {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host {host:?} does not name this machine: a server bound to loopback \
                         answers localhost, 127.0.0.1 and [::1] only"
                    ),
                ));
            }
        }
        if let Some(origin) = text(header::ORIGIN.as_str())
            && !self.origin_allowed(origin)
        {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "Origin {origin:?} may not call this server: allow it in \
                     knowledge.allowed_origins (AGENTWATCH_KNOWLEDGE_ALLOWED_ORIGINS)"
                ),
            ));
        }
        if method.is_safe() {
            return None;
        }
        // A change of state: never from another site, never as a form a page can post.
        if text("sec-fetch-site") == Some("cross-site") {
            return Some((
                StatusCode::FORBIDDEN,
                "a cross-site request may not change anything here".to_owned(),
            ));
        }
        let form = text(header::CONTENT_TYPE.as_str()).is_some_and(|t| {
            let t = t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            matches!(
                t.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
        });
        form.then(|| {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send JSON (Content-Type: application/json): forms and plain text, which any web \
                 page can post, are not taken"
                    .to_owned(),
            )
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        LOCAL_ORIGINS.iter().copied().chain(self.origins.iter().map(String::as_str)).any(
            |allowed| {
                let allowed = allowed.to_ascii_lowercase();
                match allowed.strip_suffix(":*") {
                    // Any port, or none.
                    Some(site) => {
                        origin == site
                            || origin
                                .strip_prefix(site)
                                .and_then(|rest| rest.strip_prefix(':'))
                                .is_some_and(|port| {
                                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                                })
                    }
                    None => origin == allowed,
                }
            },
        )
    }
}

/// Whether a `Host` header names this machine: `localhost`, `127.0.0.1` or `[::1]`, with any port.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default().to_owned(),
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

async fn guard_request(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.refuse(request.method(), request.headers()) {
        Some((status, message)) => {
            let code = if status == StatusCode::FORBIDDEN {
                Code::Forbidden
            } else {
                Code::InvalidRequest
            };
            ApiError::new(status, code, message).into_response()
        }
        None => next.run(request).await,
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    /// The caller's rate limit, reported with the error (and `Retry-After` on a 429).
    pub limit: Option<RateLimit>,
}

/// Every error of port 4000.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), limit: None }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidRequest, message)
    }
}

/// The core's errors with the code and status it gives them.
impl From<KnowledgeError> for ApiError {
    fn from(error: KnowledgeError) -> ApiError {
        let (code, status) = error.code();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let limit = match &error {
            KnowledgeError::RateLimited { limit, .. } => *limit,
            _ => None,
        };
        ApiError { status, code, message: error.to_string(), limit }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        }
        let detail = ErrorDetail { code: self.code, message: self.message };
        let mut response = (self.status, Json(ErrorBody { error: detail })).into_response();
        if let Some(limit) = self.limit {
            crate::access::apply_limit(&limit, response.headers_mut());
            if self.status == StatusCode::TOO_MANY_REQUESTS {
                response.headers_mut().insert(header::RETRY_AFTER, limit.retry_after.into());
            }
        }
        response
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
    version: &'static str,
}

/// Whether the knowledge server is up; no token needed.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Up", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// `GET /metrics`: this process's knowledge metrics for Prometheus (`Knowledge::metrics`). With
/// `token` (`gateway.metrics_token`, the one token both ports' `/metrics` take) a scrape must
/// send it as a bearer token; without, it is open like `/health`.
pub fn metrics(knowledge: Knowledge, token: Option<Secret>) -> Router {
    let scrape = move |headers: HeaderMap| async move {
        if let Some(token) = &token {
            let presented = gateway::secrets::bearer(&headers).unwrap_or_default();
            if !gateway::secrets::constant_time_eq(presented.as_bytes(), token.expose().as_bytes())
            {
                let message =
                    "/metrics needs the gateway.metrics_token as `Authorization: Bearer <token>`";
                return ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
                    .into_response();
            }
        }
        match knowledge.metrics() {
            Ok(text) => {
                let format = "application/openmetrics-text; version=1.0.0; charset=utf-8";
                ([(header::CONTENT_TYPE, format)], text).into_response()
            }
            Err(e) => {
                let message = format!("cannot encode the metrics: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Code::Internal, message)
                    .into_response()
            }
        }
    };
    Router::new().route("/metrics", get(scrape))
}

async fn not_found(request: Request) -> Response {
    let message = format!(
        "no route for {} {}: the routes are listed in /openapi.json",
        request.method(),
        request.uri().path()
    );
    ApiError::new(StatusCode::NOT_FOUND, Code::NotFound, message).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn status(router: Router, path: &str, bearer: Option<&str>) -> StatusCode {
        let mut request = Request::get(path).header("host", "localhost:4000");
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap().status()
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }

    fn router(access: Arc<Access>, api: Router, openapi: utoipa::openapi::OpenApi) -> Router {
        let guard = Guard { loopback: true, origins: vec!["https://ide.example.com".to_owned()] };
        super::router(access, guard, api, Router::new(), openapi)
    }

    async fn send(request: axum::http::request::Builder) -> (StatusCode, String) {
        let api = Router::new()
            .route("/api/knowledge/repositories", axum::routing::post(|| async { "indexed" }));
        let router = router(open(), api, openapi());
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_rebound_name_or_a_foreign_page_reaches_no_route_not_even_health() {
        let get = |host: &str, origin: Option<&str>| {
            let mut request = Request::get("/health").header("host", host);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            request
        };
        let (status, body) = send(get("attacker.example:4000", None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("does not name this machine"), "{body}");
        let (status, body) = send(get("localhost:4000", Some("https://evil.example"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("knowledge.allowed_origins"), "{body}");
        for host in ["localhost:4000", "127.0.0.1:4000", "[::1]:4000", "LOCALHOST"] {
            assert_eq!(send(get(host, None)).await.0, StatusCode::OK, "{host}");
        }
        for origin in ["http://localhost:5173", "https://ide.example.com", "http://127.0.0.1"] {
            assert_eq!(send(get("localhost:4000", Some(origin))).await.0, StatusCode::OK);
        }
        for origin in [
            "http://ide.example.com",
            "https://ide.example.com:8443",
            "null",
            "http://localhost.evil.example",
            "http://localhost:80x",
        ] {
            assert_eq!(
                send(get("localhost", Some(origin))).await.0,
                StatusCode::FORBIDDEN,
                "{origin}"
            );
        }
    }

    #[tokio::test]
    async fn a_change_cannot_come_from_another_site_or_as_a_form() {
        let post = || Request::post("/api/knowledge/repositories").header("host", "localhost");
        assert_eq!(send(post().header("content-type", "application/json")).await.0, StatusCode::OK);
        for simple in
            ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
        {
            let (status, body) = send(post().header("content-type", simple)).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{simple}");
            assert!(body.contains("application/json"), "{body}");
        }
        let cross = post().header("sec-fetch-site", "cross-site");
        assert_eq!(send(cross).await.0, StatusCode::FORBIDDEN);
        // Reading is not changing: a cross-site GET of a local page's own kind is still judged
        // by its Origin alone.
        let read = Request::get("/health")
            .header("host", "localhost")
            .header("sec-fetch-site", "cross-site");
        assert_eq!(send(read).await.0, StatusCode::OK);
    }

    /// A server with a token, and no anonymous local user (as when bound beyond loopback).
    fn token() -> Arc<Access> {
        let token = serde_json::from_str("\"0123456789abcdef\"").ok();
        Arc::new(Access::new(&Default::default(), token, false))
    }

    fn open() -> Arc<Access> {
        Arc::new(Access::new(&Default::default(), None, true))
    }

    #[tokio::test]
    async fn health_is_open_even_with_a_token() {
        assert_eq!(
            status(router(token(), Router::new(), openapi()), "/health", None).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn with_a_token_other_routes_need_it() {
        let path = "/api/knowledge/repositories";
        assert_eq!(
            status(router(token(), Router::new(), openapi()), path, None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(router(token(), Router::new(), openapi()), path, Some("wrong")).await,
            StatusCode::UNAUTHORIZED
        );
        let ok = Some("0123456789abcdef");
        assert_eq!(
            status(router(token(), Router::new(), openapi()), path, ok).await,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn without_a_token_local_clients_are_let_in() {
        let path = "/api/knowledge/repositories";
        assert_eq!(
            status(router(open(), Router::new(), openapi()), path, None).await,
            StatusCode::NOT_FOUND
        );
    }

    /// README's lists of error codes, as the two servers' error enums make them.
    fn error_codes() -> String {
        use std::fmt::Write;
        let mut out = String::from(
            "**Gateway** (port 8787), in OpenAI's error shape `{\"error\": {\"message\", \"type\", \
             \"param\", \"code\"}}`:\n\n| `code` | Status | `type` | When |\n| --- | --- | --- | --- |\n",
        );
        for code in gateway::error::Code::ALL {
            let (status, kind) = (code.status().as_u16(), code.kind());
            let _ =
                writeln!(out, "| `{}` | {status} | `{kind}` | {} |", code.as_str(), code.meaning());
        }
        out += "\n**Knowledge server** (port 4000), as `{\"error\": {\"code\", \"message\"}}` over REST \
                and as a tool error carrying the message over MCP:\n\n| `code` | Status | When |\n\
                | --- | --- | --- |\n";
        for code in Code::ALL {
            let _ =
                writeln!(out, "| `{}` | {} | {} |", code.as_str(), code.statuses(), code.meaning());
        }
        out
    }

    /// The codes README publishes are the ones the servers send, generated from their enums;
    /// `UPDATE_DOCS=1` rewrites README's lists when an enum changes.
    #[test]
    fn readme_lists_every_error_code_of_both_ports() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let (start, end) = ("<!-- error-codes -->\n", "<!-- /error-codes -->");
        let from = readme.find(start).expect("README has an error-codes section") + start.len();
        let to = readme.find(end).expect("the section ends");
        let generated = error_codes();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{generated}{}", &readme[..from], &readme[to..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &readme[from..to],
            generated,
            "README's error codes differ from the enums: run UPDATE_DOCS=1 cargo test -p \
             mcp-server readme_lists_every_error_code"
        );
    }
}
