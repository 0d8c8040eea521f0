//! What the scanner's tests share: where `scripts/setup.sh` put the scanners.

use std::path::PathBuf;

/// The asset cache, as `scripts/setup.sh` resolves it.
pub fn assets() -> PathBuf {
    std::env::var_os("AGENTWATCH_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        cache.join("agentwatch/assets")
    })
}

#[allow(dead_code)] // not every test file runs Semgrep
pub fn semgrep_binary() -> PathBuf {
    assets().join("semgrep/bin/semgrep")
}
