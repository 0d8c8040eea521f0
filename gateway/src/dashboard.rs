//! `/dashboard`: the operators' web page — spend, latency, errors and DLP over time; tenants,
//! teams, keys, providers, users, the audit log and alerts; repositories, their index jobs,
//! symbols and scan findings. One page of Preact + htm and Chart.js, all embedded in the binary
//! (fetched by `scripts/setup.sh` from npm), calling the admin API with the session token it logs
//! in for, and the knowledge server's REST API, which `serve` mounts on this port too. The page's
//! Content-Security-Policy lets it load and call nothing but this origin.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use tower_http::compression::CompressionLayer;

use crate::Gateway;

/// Chart.js's UMD bundle (MIT) and Preact with hooks and htm in one file (MIT, Apache-2.0), as
/// `scripts/setup.sh` fetched them.
const CHART_JS: &[u8] = include_bytes!(env!("AGENTWATCH_CHART_JS"));
const PREACT_JS: &[u8] = include_bytes!(env!("AGENTWATCH_PREACT_JS"));

const INDEX: &str = include_str!("../web/dashboard/index.html");
const APP_JS: &str = include_str!("../web/dashboard/app.js");
const APP_CSS: &str = include_str!("../web/dashboard/app.css");

/// Scripts and styles from this origin only, requests to this origin only, in no frame.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page, its script and styles, and the two libraries.
pub(crate) fn router() -> Router<Gateway> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(|| async { page(INDEX) }))
        .route("/dashboard/app.js", embedded("text/javascript", APP_JS.as_bytes()))
        .route("/dashboard/app.css", embedded("text/css", APP_CSS.as_bytes()))
        .route("/dashboard/vendor/chart.js", embedded("text/javascript", CHART_JS))
        .route("/dashboard/vendor/preact-htm.js", embedded("text/javascript", PREACT_JS))
        .layer(CompressionLayer::new())
}

fn page(html: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, html).into_response()
}

/// The route of an embedded script or stylesheet (`/docs` serves Scalar's this way too).
pub(crate) fn embedded(kind: &'static str, body: &'static [u8]) -> MethodRouter<Gateway> {
    let etag = etag(body);
    get(move |headers: HeaderMap| async move { asset(&headers, kind, body, &etag) })
}

/// A script or stylesheet, revalidated on every load (`no-cache`) against its ETag: a repeat
/// visit costs a 304, and a new binary's page never runs an old script.
fn asset(request: &HeaderMap, kind: &'static str, body: &'static [u8], etag: &str) -> Response {
    let cached = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag);
    let headers = [
        (header::CONTENT_TYPE, kind.to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::ETAG, etag.to_owned()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, body).into_response()
}

/// The content's hash, quoted: the same bytes give the same tag in every process of a build.
fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}
