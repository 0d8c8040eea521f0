//! Request ids and request tracing for every HTTP surface (the gateway's and the knowledge
//! server's), so one id follows a request through the logs and back to the client.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request, Response};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` so that every request gets an `x-request-id` (the client's, if it sent one),
/// runs inside a tracing span that carries it, and returns it in the response. With tracing on
/// (the binary's `log.otlp_endpoint`), the span is an OpenTelemetry server span named by the
/// route, continuing the trace of the request's `traceparent`.
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
                        let route = request
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("(unmatched)", MatchedPath::as_str);
                        let span = tracing::info_span!(
                            "request",
                            otel.name = %format!("{} {route}", request.method()),
                            otel.kind = "server",
                            http.route = route,
                            method = %request.method(),
                            path = request.uri().path(),
                            request_id,
                            http.response.status_code = tracing::field::Empty,
                        );
                        let parent = opentelemetry::global::get_text_map_propagator(|p| {
                            p.extract(&HeaderExtractor(request.headers()))
                        });
                        // Fails only when no OpenTelemetry layer is installed: nothing to join.
                        let _ = span.set_parent(parent);
                        span
                    })
                    // One line per request at info, with status and latency; the rest stays at debug.
                    .on_response(|response: &Response<_>, latency, span: &tracing::Span| {
                        span.record("http.response.status_code", response.status().as_u16());
                        DefaultOnResponse::new()
                            .level(tracing::Level::INFO)
                            .on_response(response, latency, span);
                    }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    )
}

/// `request` with the W3C trace context (`traceparent`, `tracestate`) of `span`, so that the
/// provider's own traces join the client's; unchanged when tracing is off.
pub fn with_trace_context(
    mut request: reqwest::RequestBuilder,
    span: &tracing::Span,
) -> reqwest::RequestBuilder {
    let mut headers = axum::http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&span.context(), &mut HeaderInjector(&mut headers));
    });
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    request
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
