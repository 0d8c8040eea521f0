//! The Semgrep rules AgentWatch ships, written for this project (`scanner/rules`, each with its
//! test file in Semgrep's `--test` format). They are compiled into the binary and written out
//! when a scan needs them, so an installed `agentwatch` carries its rules.

use std::path::{Path, PathBuf};

/// File name and YAML of each bundled rule file.
pub const BUNDLED: [(&str, &str); 3] = [
    ("python.yml", include_str!("../rules/python.yml")),
    ("javascript.yml", include_str!("../rules/javascript.yml")),
    ("rust.yml", include_str!("../rules/rust.yml")),
];

/// Writes the bundled rules into `dir/agentwatch-rules` (replacing what an older version wrote)
/// and returns that folder, to pass to Semgrep as one `--config`.
pub fn write_bundled(dir: &Path) -> std::io::Result<PathBuf> {
    let folder = dir.join("agentwatch-rules");
    std::fs::create_dir_all(&folder)?;
    for (name, yaml) in BUNDLED {
        let path = folder.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(yaml) {
            std::fs::write(&path, yaml)?;
        }
    }
    Ok(folder)
}
