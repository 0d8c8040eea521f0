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

/// The ids of the bundled rules.
pub fn bundled_ids() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().flat_map(|(_, yaml)| {
        yaml.lines().filter_map(|line| line.trim_start().strip_prefix("- id:").map(str::trim))
    })
}

/// A bundled rule's own id, from the dotted form Semgrep reports when it ran the rules from a
/// folder elsewhere (`tmp.agentwatch-rules.python-sql-injection` → `python-sql-injection`): so a
/// report imported from CI names rules as a scan here does. Other ids are kept whole.
pub fn canonical_id(id: &str) -> &str {
    bundled_ids()
        .find(|own| id.strip_suffix(own).is_some_and(|prefix| prefix.ends_with('.')))
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_rule_is_listed_and_dotted_prefixes_come_off_only_for_them() {
        let ids: Vec<&str> = bundled_ids().collect();
        assert_eq!(ids.len(), 21);
        assert!(
            ids.contains(&"python-sql-injection") && ids.contains(&"rust-weak-hash"),
            "{ids:?}"
        );
        assert_eq!(
            canonical_id("home.ci.agentwatch-rules.python-sql-injection"),
            "python-sql-injection"
        );
        assert_eq!(canonical_id("python-sql-injection"), "python-sql-injection");
        assert_eq!(
            canonical_id("python.lang.security.audit.eval"),
            "python.lang.security.audit.eval"
        );
        assert_eq!(canonical_id("x.notpython-sql-injection"), "x.notpython-sql-injection");
    }
}
