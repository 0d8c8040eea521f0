//! The knowledge server's HTTP face on port 4000: `/health`, and everything else (MCP at `/mcp`)
//! behind the configured bearer token.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Secret;

/// The knowledge server's routes: `/health`, and `api` (MCP, REST). With a token, every route but
/// `/health` requires `Authorization: Bearer <token>`.
pub fn router(token: Option<Secret>, api: Router) -> Router {
    let protected =
        api.fallback(not_found).layer(middleware::from_fn_with_state(token, require_token));
    let routes = Router::new().route("/health", get(health)).merge(protected);
    gateway::telemetry::observe(routes)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    error(StatusCode::NOT_FOUND, "not_found", &message)
}

async fn require_token(
    State(token): State<Option<Secret>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else { return next.run(request).await };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(presented) if constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) => {
            next.run(request).await
        }
        Some(_) => error(StatusCode::UNAUTHORIZED, "unauthorized", "the bearer token is not valid"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the knowledge server's token as `Authorization: Bearer <token>`",
        ),
    }
}

/// Compares without an early exit, so response timing says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
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

    fn token() -> Option<Secret> {
        serde_json::from_str("\"0123456789abcdef\"").ok()
    }

    #[tokio::test]
    async fn health_is_open_even_with_a_token() {
        assert_eq!(status(router(token(), Router::new()), "/health", None).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn with_a_token_other_routes_need_it() {
        let path = "/api/knowledge/repositories";
        assert_eq!(
            status(router(token(), Router::new()), path, None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(router(token(), Router::new()), path, Some("wrong")).await,
            StatusCode::UNAUTHORIZED
        );
        let ok = Some("0123456789abcdef");
        assert_eq!(status(router(token(), Router::new()), path, ok).await, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn without_a_token_local_clients_are_let_in() {
        let path = "/api/knowledge/repositories";
        assert_eq!(status(router(None, Router::new()), path, None).await, StatusCode::NOT_FOUND);
    }
}
