//! Whether a file changed since it was indexed: the `stale` flag of every search hit.
//!
//! A query must not pay for this with I/O it can avoid. A repository's indexed hashes are kept
//! in memory until its next job, and a file is hashed again only when its size or modification
//! time changed since it was last hashed — the test git and cargo use to skip unchanged files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// What one repository's files looked like when it was indexed, and when they were last read.
#[derive(Debug)]
pub(crate) struct IndexedFiles {
    root: PathBuf,
    /// Path → blake3 of the content that was indexed.
    indexed: HashMap<String, String>,
    /// Path → the size and modification time the file had when it was last hashed, and its hash.
    seen: Mutex<HashMap<String, Seen>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    len: u64,
    modified: SystemTime,
    hash: String,
}

impl IndexedFiles {
    pub(crate) fn new(root: PathBuf, indexed: HashMap<String, String>) -> IndexedFiles {
        IndexedFiles { root, indexed, seen: Mutex::new(HashMap::new()) }
    }

    /// Whether `path` differs from the content that was indexed (a deleted or unreadable file
    /// differs too).
    pub(crate) fn changed(&self, path: &str) -> bool {
        let Some(indexed) = self.indexed.get(path) else { return true };
        let full = self.root.join(path);
        let Ok(meta) = std::fs::metadata(&full) else { return true };
        let Ok(modified) = meta.modified() else { return true };
        let cached = self.seen.lock().unwrap_or_else(|e| e.into_inner()).get(path).cloned();
        if let Some(seen) = cached
            && seen.len == meta.len()
            && seen.modified == modified
        {
            return &seen.hash != indexed;
        }
        let Ok(bytes) = std::fs::read(&full) else { return true };
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let changed = &hash != indexed;
        let seen = Seen { len: meta.len(), modified, hash };
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_owned(), seen);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexed(dir: &std::path::Path, files: &[(&str, &str)]) -> IndexedFiles {
        for (path, text) in files {
            std::fs::write(dir.join(path), text).unwrap();
        }
        let hashes = files
            .iter()
            .map(|(p, t)| (p.to_string(), blake3::hash(t.as_bytes()).to_hex().to_string()))
            .collect();
        IndexedFiles::new(dir.to_owned(), hashes)
    }

    #[test]
    fn an_edit_is_seen_even_after_the_file_was_checked_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let files = indexed(dir.path(), &[("a.rs", "fn a() {}\n")]);
        assert!(!files.changed("a.rs"));
        std::fs::write(dir.path().join("a.rs"), "fn a() { todo!() }\n").unwrap();
        assert!(files.changed("a.rs"));
        std::fs::write(dir.path().join("a.rs"), "fn a() {}\n").unwrap();
        assert!(!files.changed("a.rs"), "restored");
    }

    #[test]
    fn a_deleted_or_never_indexed_file_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        let files = indexed(dir.path(), &[("a.rs", "fn a() {}\n")]);
        std::fs::remove_file(dir.path().join("a.rs")).unwrap();
        assert!(files.changed("a.rs"));
        assert!(files.changed("b.rs"));
    }
}
