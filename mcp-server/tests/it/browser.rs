//! What a real browser shows: Debian's Chromium, headless, with every host name but this
//! machine's unresolvable — the air-gapped browser an operator may have.

use std::path::Path;
use std::process::Command;

use crate::support::{Sandbox, Server};

/// The DOM of `url` once its scripts have run (up to ten seconds of page time), in a Chromium
/// that can reach nothing but localhost.
fn rendered(sandbox: &Sandbox, url: &str) -> String {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "Chromium is missing: run scripts/setup.sh --tests");
    let output = Command::new(chromium)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost")
        .arg(format!("--user-data-dir={}", sandbox.path().join("chromium").display()))
        .args(["--virtual-time-budget=10000", "--dump-dom", url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_api_reference_renders_in_a_browser_that_reaches_nothing_but_the_gateway() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox, &["gateway"]);
    let port = server.address_of("gateway").port();
    let dom = rendered(&sandbox, &format!("http://localhost:{port}/docs"));
    // Drawn by the viewer's script from /openapi.json: the document's title, the first tag's
    // routes, and the sidebar's tags down to the last.
    assert!(dom.contains("AgentWatch gateway"), "{dom}");
    assert!(dom.contains("POST/api/auth/login") && dom.contains("tag/alerts"), "{dom}");
}
