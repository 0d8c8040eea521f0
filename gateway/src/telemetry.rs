//! Request ids and request tracing for every HTTP surface (the gateway's and the knowledge
//! server's), so one id follows a request through the logs and back to the client.

use axum::Router;
use axum::http::{HeaderName, Request};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` so that every request gets an `x-request-id` (the client's, if it sent one),
/// runs inside a tracing span that carries it, and returns it in the response.
pub fn observe(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = request.uri().path(),
                            request_id,
                        )
                    })
                    // One line per request at info, with status and latency; the rest stays at debug.
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_client_supplied_request_id_is_kept() {
        let app = observe(Router::new().route("/", get(|| async { "hi" })));
        let response = app
            .oneshot(
                Request::get("/").header("x-request-id", "abc-123").body(Body::empty()).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "abc-123");
    }
}
