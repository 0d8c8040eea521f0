//! Finds the browser assets `scripts/setup.sh` fetched (the API reference viewer, the dashboard's
//! chart and UI libraries), which the binary embeds so that its pages load nothing from elsewhere.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=AGENTWATCH_ASSETS_DIR");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    let assets = match std::env::var_os("AGENTWATCH_ASSETS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .expect("neither AGENTWATCH_ASSETS_DIR, XDG_CACHE_HOME nor HOME is set");
            cache.join("agentwatch/assets")
        }
    };
    // (file under web/, the variable `include_bytes!` reads it through, what it is for)
    let files = [
        ("scalar/standalone.js", "AGENTWATCH_SCALAR_JS", "the API reference viewer of /docs"),
        ("chartjs/chart.umd.min.js", "AGENTWATCH_CHART_JS", "the dashboard's charts"),
        ("htm/preact-standalone.umd.js", "AGENTWATCH_PREACT_JS", "the dashboard's UI library"),
    ];
    for (file, var, what) in files {
        let path = assets.join("web").join(file);
        if !path.is_file() {
            panic!(
                "{} is missing: run scripts/setup.sh, which fetches {what} the gateway embeds \
                 (or set AGENTWATCH_ASSETS_DIR to where it did)",
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env={var}={}", path.display());
    }
}
