//! The knowledge server's HTTP face on port 4000: `/health` and `/openapi.json` open, everything
//! else (MCP at `/mcp`, REST under `/api/knowledge`) for identified callers (`access`). Every
//! error is JSON: `{"error": {"code", "message"}}`.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Access, authenticate};

/// The knowledge server's routes: `/health`, `/openapi.json` (the document `openapi`), and `api`
/// (MCP, REST), where every request is identified by `access` first.
pub fn router(access: Arc<Access>, api: Router, openapi: utoipa::openapi::OpenApi) -> Router {
    let protected =
        api.fallback(not_found).layer(middleware::from_fn_with_state(access, authenticate));
    let openapi = Json(openapi);
    let routes = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(move || async move { openapi.clone() }))
        .merge(protected);
    gateway::telemetry::observe(routes)
}

/// An error as every knowledge endpoint reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid_request`, `not_found`, `conflict`, `unauthorized`,
    /// `not_implemented`, `unavailable` or `internal`.
    pub code: String,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        }
        let detail = ErrorDetail { code: self.code.to_owned(), message: self.message };
        (self.status, Json(ErrorBody { error: detail })).into_response()
    }
}

/// Whether the knowledge server is up.
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

async fn not_found(request: Request) -> Response {
    let message = format!(
        "no route for {} {}: the routes are listed in /openapi.json",
        request.method(),
        request.uri().path()
    );
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn status(router: Router, path: &str, bearer: Option<&str>) -> StatusCode {
        let mut request = Request::get(path);
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap().status()
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
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
}
