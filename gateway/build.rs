//! Finds the browser assets `scripts/setup.sh` fetched (the API reference viewer), which the
//! binary embeds so that its pages load nothing from elsewhere.

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
    let scalar = assets.join("web/scalar/standalone.js");
    if !scalar.is_file() {
        panic!(
            "{} is missing: run scripts/setup.sh, which fetches the API reference viewer the \
             gateway's /docs page embeds (or set AGENTWATCH_ASSETS_DIR to where it did)",
            scalar.display()
        );
    }
    println!("cargo:rerun-if-changed={}", scalar.display());
    println!("cargo:rustc-env=AGENTWATCH_SCALAR_JS={}", scalar.display());
}
