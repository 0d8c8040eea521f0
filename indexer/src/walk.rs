//! Which files of a repository get indexed: walks the tree respecting `.gitignore` and `.ignore`
//! (in plain directories too), prunes vendored folders, and skips what is not source — binaries,
//! generated or minified code, huge files, links — counting each skip by reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use grammars::Language;
use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// What the walk may include.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Files larger than this are skipped as `too_large`.
    pub max_file_bytes: u64,
    /// Gitignore-style patterns of paths to leave out, on top of the repository's own ignores.
    pub exclude: Vec<String>,
    /// Folder names pruned wherever they appear.
    pub vendored_dirs: Vec<String>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            max_file_bytes: 1024 * 1024,
            exclude: Vec::new(),
            // Build output and fetched dependencies of each ecosystem. Not `bin/`: a shell
            // project keeps its scripts there, and .NET's `bin/` holds no source (its generated
            // `.cs` files are in `obj/`).
            vendored_dirs: [
                "node_modules",
                "target",
                "build",
                "dist",
                "obj",
                ".gradle",
                "vendor",
                "third_party",
                "bower_components",
                "__pycache__",
                ".venv",
                "venv",
                ".git",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Why a file was not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Matched an `exclude` pattern.
    Excluded,
    /// Inside a vendored folder (counted once per pruned folder).
    Vendored,
    /// Not a language AgentWatch parses.
    Unsupported,
    TooLarge,
    Binary,
    InvalidUtf8,
    /// Minified, or marked as generated (`@generated`, `DO NOT EDIT`).
    Generated,
    /// A symbolic link (its target is indexed where it lives, if inside the repository).
    Symlink,
    /// Could not be read.
    Unreadable,
}

impl SkipReason {
    pub const ALL: [SkipReason; 9] = [
        SkipReason::Excluded,
        SkipReason::Vendored,
        SkipReason::Unsupported,
        SkipReason::TooLarge,
        SkipReason::Binary,
        SkipReason::InvalidUtf8,
        SkipReason::Generated,
        SkipReason::Symlink,
        SkipReason::Unreadable,
    ];

    pub fn from_name(name: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Excluded => "excluded",
            SkipReason::Vendored => "vendored",
            SkipReason::Unsupported => "unsupported",
            SkipReason::TooLarge => "too_large",
            SkipReason::Binary => "binary",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::Generated => "generated",
            SkipReason::Symlink => "symlink",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file the walk selected, by path relative to the root (with `/` separators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: String,
    pub language: Language,
}

#[derive(Debug, Default)]
pub struct Walked {
    /// Sorted by path.
    pub files: Vec<Candidate>,
    pub skipped: BTreeMap<SkipReason, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{} does not exist or is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("invalid exclude pattern {pattern:?}: {source}")]
    BadPattern { pattern: String, source: ignore::Error },
}

/// Lists the source files under `root` that are worth parsing. Reading and content checks happen
/// later, in [`check_content`], so each file is read once.
pub fn walk(root: &Path, options: &WalkOptions) -> Result<Walked, WalkError> {
    if !root.is_dir() {
        return Err(WalkError::NotADirectory(root.to_owned()));
    }
    let exclude = exclude_matcher(root, &options.exclude)?;
    let mut walked = Walked::default();
    let mut count = |reason, n: u32| *walked.skipped.entry(reason).or_insert(0) += n;
    for entry in walker(root, options) {
        let Ok(entry) = entry else {
            count(SkipReason::Unreadable, 1);
            continue;
        };
        let Some(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            // The filter above prunes vendored folders unseen; count them from their parent.
            count(SkipReason::Vendored, vendored_children(entry.path(), &options.vendored_dirs));
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else { continue };
        if exclude.matched_path_or_any_parents(relative, false).is_ignore() {
            count(SkipReason::Excluded, 1);
            continue;
        }
        if file_type.is_symlink() {
            count(SkipReason::Symlink, 1);
            continue;
        }
        let Some(language) = Language::from_path(relative) else {
            count(SkipReason::Unsupported, 1);
            continue;
        };
        if entry.metadata().map(|m| m.len() > options.max_file_bytes).unwrap_or(false) {
            count(SkipReason::TooLarge, 1);
            continue;
        }
        if is_minified_name(relative) {
            count(SkipReason::Generated, 1);
            continue;
        }
        let path = relative.to_string_lossy().replace('\\', "/");
        walked.files.push(Candidate { path, language });
    }
    walked.skipped.retain(|_, n| *n > 0);
    walked.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walked)
}

/// The folders [`walk`] looks into: the root and every folder below it that is neither ignored
/// nor vendored. What changes elsewhere is never indexed, so a watch needs only these.
pub fn folders(root: &Path, options: &WalkOptions) -> Result<Vec<PathBuf>, WalkError> {
    if !root.is_dir() {
        return Err(WalkError::NotADirectory(root.to_owned()));
    }
    Ok(walker(root, options)
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_dir()))
        .map(ignore::DirEntry::into_path)
        .collect())
}

/// The walk over `root`: `.gitignore` and `.ignore` honoured, links not followed, vendored folders
/// pruned unseen, in file name order.
fn walker(root: &Path, options: &WalkOptions) -> ignore::Walk {
    let vendored = options.vendored_dirs.clone();
    WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && entry.depth() > 0
                && vendored.iter().any(|v| entry.file_name() == v.as_str()))
        })
        .build()
}

/// How many vendored folders (other than `.git`, which is not worth a mention) `dir` holds.
fn vendored_children(dir: &Path, vendored: &[String]) -> u32 {
    let Ok(children) = std::fs::read_dir(dir) else { return 0 };
    children
        .filter_map(Result::ok)
        .filter(|c| c.file_name() != ".git" && c.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|c| vendored.iter().any(|v| c.file_name() == v.as_str()))
        .count() as u32
}

fn exclude_matcher(root: &Path, patterns: &[String]) -> Result<Gitignore, WalkError> {
    let mut builder = GitignoreBuilder::new(root);
    for pattern in patterns {
        builder
            .add_line(None, pattern)
            .map_err(|source| WalkError::BadPattern { pattern: pattern.clone(), source })?;
    }
    builder.build().map_err(|source| WalkError::BadPattern { pattern: patterns.join(", "), source })
}

fn is_minified_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.contains(".min.") || name.ends_with(".bundle.js")
}

/// Checks a file's bytes before parsing: binary, not UTF-8, generated or minified files are
/// skipped with their reason.
pub fn check_content(bytes: &[u8]) -> Result<&str, SkipReason> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err(SkipReason::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| SkipReason::InvalidUtf8)?;
    let header: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
    if header.contains("@generated") || header.contains("DO NOT EDIT") {
        return Err(SkipReason::Generated);
    }
    // Minified code: long lines and few of them.
    let lines = text.lines().count().max(1);
    if text.len() > 4096 && text.len() / lines > 500 {
        return Err(SkipReason::Generated);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name)
    }

    #[test]
    fn ignored_vendored_and_foreign_files_are_left_out_and_counted() {
        let walked = walk(&fixture("ts-app"), &WalkOptions::default()).unwrap();
        let paths: Vec<_> = walked.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "src/components/TaskList.tsx",
                "src/ids.js",
                "src/index.ts",
                "src/repository.ts",
                "src/service.ts",
                "src/types.ts",
            ]
        );
        // node_modules/ and dist/ are pruned whole as vendored folders.
        assert_eq!(walked.skipped.get(&SkipReason::Vendored), Some(&2));
        assert!(
            walked.skipped.get(&SkipReason::Unsupported).is_some_and(|n| *n >= 2),
            "json files"
        );
    }

    #[test]
    fn build_output_of_maven_and_gradle_is_pruned() {
        let walked = walk(&fixture("java-maven"), &WalkOptions::default()).unwrap();
        assert!(walked.files.iter().all(|f| f.path.starts_with("src/")), "{:?}", walked.files);
        assert_eq!(walked.files.len(), 10);
        // target/ (Maven) and build/ (Gradle), neither git-ignored.
        assert_eq!(walked.skipped.get(&SkipReason::Vendored), Some(&2));
    }

    #[test]
    fn exclude_patterns_apply_on_top_of_gitignore() {
        let options =
            WalkOptions { exclude: vec!["src/components/".into()], ..WalkOptions::default() };
        let walked = walk(&fixture("ts-app"), &options).unwrap();
        assert!(walked.files.iter().all(|f| !f.path.starts_with("src/components")));
        assert_eq!(walked.skipped.get(&SkipReason::Excluded), Some(&1));
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let err = walk(Path::new("/nonexistent/repo"), &WalkOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent/repo does not exist or is not a directory");
    }

    #[test]
    fn content_checks_name_their_reason() {
        assert_eq!(check_content(b"fn main() {}\n"), Ok("fn main() {}\n"));
        assert_eq!(check_content(b"\x7fELF\0\0\0"), Err(SkipReason::Binary));
        assert_eq!(check_content(b"caf\xe9 = 1\n"), Err(SkipReason::InvalidUtf8));
        assert_eq!(
            check_content(b"// @generated by protoc\nfn x() {}"),
            Err(SkipReason::Generated)
        );
        let minified = format!("var a={};", "x".repeat(10_000));
        assert_eq!(check_content(minified.as_bytes()), Err(SkipReason::Generated));
    }
}
