//! `/docs`: the API reference, rendered in the browser from `/openapi.json` by Scalar's viewer,
//! which the binary embeds (fetched by `scripts/setup.sh` from npm) and serves itself — nothing
//! is loaded from elsewhere, so the page works air-gapped, and "try it" requests go straight to
//! this gateway: no proxy, no telemetry, no web fonts, no AI chat or developer toolbar (both
//! call Scalar's services).

use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::Gateway;

/// Scalar's standalone bundle (MIT), as `scripts/setup.sh` fetched it.
const SCALAR_JS: &[u8] = include_bytes!(env!("AGENTWATCH_SCALAR_JS"));

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AgentWatch API</title>
</head>
<body>
<div id="app"></div>
<script src="/docs/scalar.js"></script>
<script>
Scalar.createApiReference('#app', {
  url: '/openapi.json',
  proxyUrl: '',
  telemetry: false,
  withDefaultFonts: false,
  showDeveloperTools: 'never',
  agent: { disabled: true },
});
</script>
</body>
</html>
"#;

/// The page and its script.
pub(crate) fn router() -> Router<Gateway> {
    Router::new()
        .route("/docs", get(|| async { Html(PAGE) }))
        .route("/docs/scalar.js", crate::dashboard::embedded("text/javascript", SCALAR_JS))
        // Gzipped for the browsers that ask (all of them): a few hundred kilobytes, not megabytes.
        .layer(tower_http::compression::CompressionLayer::new())
}
