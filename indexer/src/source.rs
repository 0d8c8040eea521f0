//! Where a repository comes from: an https URL, cloned and fetched with git2 into the data dir
//! (`clone`), or a local folder (a git work tree or a plain directory) indexed in place. Also:
//! which files of a work tree changed since the indexed commit, for incremental re-indexing.

use std::path::{Path, PathBuf};

use git2::{DiffOptions, ErrorClass, ErrorCode, Oid, Repository};

/// What a user asked to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `https://` (or `http://`) git URL, normalised: no trailing `/` or `.git`.
    Remote { url: String },
    /// An absolute, canonical local path.
    Local { path: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{input:?} is not a supported repository location: {why}")]
    Unsupported { input: String, why: &'static str },
    #[error("{} does not exist or is not a folder", .0.display())]
    MissingPath(PathBuf),
    #[error(
        "cannot fetch {url}: {message}; check the URL, the network and, for a private repository, the git token"
    )]
    Unreachable { url: String, message: String },
    #[error("cannot clone {url}: {why}")]
    Refused { url: String, why: String },
    #[error("branch `{branch}` does not exist in {url}")]
    MissingBranch { url: String, branch: String },
    #[error("{0} is an empty repository: there is no commit to index")]
    Empty(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("cannot prepare the checkout folder {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Source {
    /// Reads what a user typed: an `https://` URL or a local path. ssh and `git://` URLs are
    /// refused: they need credentials this server does not hold.
    pub fn parse(input: &str) -> Result<Source, SourceError> {
        let input = input.trim();
        let unsupported = |why| Err(SourceError::Unsupported { input: input.to_owned(), why });
        if let Some((scheme, rest)) = input.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "https" | "http" => {
                    let host = rest.split('/').next().unwrap_or_default();
                    if host.contains('@') {
                        return unsupported(
                            "credentials in the URL would be stored and shown; set index.git_token \
                             (AGENTWATCH_GIT_TOKEN) or an index.git_credentials entry for the \
                             host instead",
                        );
                    }
                    if host.is_empty() || rest.split('/').filter(|s| !s.is_empty()).count() < 2 {
                        return unsupported("expected https://host/owner/repository");
                    }
                    let url = format!("{}://{}", scheme.to_ascii_lowercase(), rest);
                    let url = url.trim_end_matches('/');
                    Ok(Source::Remote { url: url.strip_suffix(".git").unwrap_or(url).to_owned() })
                }
                "file" => Source::local(Path::new(rest)),
                "ssh" | "git" | "git+ssh" => {
                    unsupported("ssh and git:// URLs are not supported; use the https:// URL")
                }
                _ => unsupported("use an https:// URL or a local path"),
            };
        }
        if input.contains('@') && input.contains(':') && !Path::new(input).exists() {
            return unsupported("scp-style ssh URLs are not supported; use the https:// URL");
        }
        if input.is_empty() {
            return unsupported("give an https:// URL or a local path");
        }
        Source::local(Path::new(input))
    }

    fn local(path: &Path) -> Result<Source, SourceError> {
        match path.canonicalize() {
            Ok(path) if path.is_dir() => Ok(Source::Local { path }),
            _ => Err(SourceError::MissingPath(path.to_owned())),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Source::Remote { .. })
    }

    /// The URL or path, as stored and shown.
    pub fn location(&self) -> String {
        match self {
            Source::Remote { url } => url.clone(),
            Source::Local { path } => path.to_string_lossy().into_owned(),
        }
    }

    /// A short readable name: `owner/repo` for URLs, the folder name for paths.
    pub fn name(&self) -> String {
        match self {
            Source::Remote { url } => {
                let parts: Vec<&str> = url.split('/').filter(|s| !s.is_empty()).collect();
                parts[parts.len().saturating_sub(2)..].join("/")
            }
            Source::Local { path } => path.file_name().map_or_else(
                || path.to_string_lossy().into_owned(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }

    /// A stable id: the same location, branch and owner always get the same id. 128 bits of a
    /// hash, so that no one can choose a URL whose repository would land on another
    /// organization's (its id names its checkout folder too).
    pub fn id(&self, branch: Option<&str>, owner: Option<i64>) -> String {
        let mut key = format!("{}\0{}", self.location(), branch.unwrap_or(""));
        if let Some(owner) = owner {
            key += &format!("\0{owner}");
        }
        blake3::hash(key.as_bytes()).to_hex()[..ID_HEX].to_owned()
    }

    /// The id the same repository had before ids grew to 128 bits: the first 12 hex digits of
    /// today's. A repository indexed then keeps it.
    pub fn legacy_id(id: &str) -> &str {
        &id[..LEGACY_ID_HEX.min(id.len())]
    }
}

/// Hex digits of a repository id: 128 bits.
const ID_HEX: usize = 32;
/// Hex digits of an id made before that (48 bits).
const LEGACY_ID_HEX: usize = 12;

/// A folder ready to be indexed.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    /// The commit of the work tree; `None` for a plain directory.
    pub commit: Option<String>,
}

pub(crate) fn classify(url: &str, branch: Option<&str>, e: git2::Error) -> SourceError {
    let missing_branch = e.class() == ErrorClass::Reference
        || (e.code() == ErrorCode::NotFound && e.message().contains("branch"));
    match branch {
        Some(branch) if missing_branch => {
            SourceError::MissingBranch { url: url.to_owned(), branch: branch.to_owned() }
        }
        _ => SourceError::Unreachable { url: url.to_owned(), message: e.message().to_owned() },
    }
}

/// A local folder: a git work tree is indexed at its `HEAD` (uncommitted changes included), a
/// plain directory as it is.
pub fn open_local(path: &Path) -> Result<Checkout, SourceError> {
    if !path.is_dir() {
        return Err(SourceError::MissingPath(path.to_owned()));
    }
    let commit = match Repository::open(path) {
        Ok(repo) => match repo.head() {
            Ok(head) => Some(head.peel_to_commit()?.id().to_string()),
            Err(e) if e.code() == ErrorCode::UnbornBranch => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    Ok(Checkout { dir: path.to_owned(), commit })
}

/// The files that differ between `commit` and the work tree of the repository at `dir`
/// (committed, staged, unstaged and untracked changes; both sides of a rename). `None` when
/// `dir` is not a git repository or does not have `commit`: then everything must be checked.
pub fn changed_since(dir: &Path, commit: &str) -> Result<Option<Vec<String>>, SourceError> {
    let Ok(repo) = Repository::open(dir) else { return Ok(None) };
    let Ok(old) = Oid::from_str(commit).and_then(|oid| repo.find_commit(oid)) else {
        return Ok(None);
    };
    let tree = old.tree()?;
    let mut options = DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repo.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))?;
    Ok(Some(paths_of(&diff)))
}

/// The paths a diff touches, both sides of a rename, sorted and once each.
pub(crate) fn paths_of(diff: &git2::Diff<'_>) -> Vec<String> {
    let mut paths: Vec<String> = diff
        .deltas()
        .flat_map(|d| [d.old_file().path(), d.new_file().path()])
        .flatten()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod untrusted {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever a tenant types as a repository, it is read or refused with a reason, never a
        /// panic; an accepted URL is https or http, without credentials.
        #[test]
        fn any_location_is_read_or_refused(
            input in prop_oneof![
                ".{0,80}",
                r"(https?|ssh|git|file|HTTPS|ftp)://[a-zA-Z0-9@:.\[\]/_%-]{0,40}",
                "[a-z]+@[a-z.]+:[a-z/]{0,20}",
            ],
        ) {
            if let Ok(Source::Remote { url }) = Source::parse(&input) {
                prop_assert!(url.starts_with("https://") || url.starts_with("http://"));
                let host = url.split("://").nth(1).unwrap_or_default().split('/').next().unwrap_or_default();
                prop_assert!(!host.contains('@'), "{url}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(input: &str) -> String {
        Source::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn https_urls_are_normalised() {
        let source = Source::parse("https://GitHub.com/tokio-rs/tokio.git/").unwrap();
        assert_eq!(source, Source::Remote { url: "https://GitHub.com/tokio-rs/tokio".into() });
        assert_eq!(source.name(), "tokio-rs/tokio");
        assert_eq!(
            source.id(None, None),
            Source::parse("https://GitHub.com/tokio-rs/tokio").unwrap().id(None, None)
        );
        assert_ne!(source.id(None, None), source.id(Some("v1.x"), None));
    }

    #[test]
    fn an_id_carries_128_bits_and_begins_with_the_one_it_had_before() {
        let id = Source::parse("https://github.com/tokio-rs/tokio").unwrap().id(None, Some(7));
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Source::legacy_id(&id), &id[..12]);
    }

    #[test]
    fn each_owner_gets_its_own_repository_of_one_source() {
        let source = Source::parse("https://github.com/tokio-rs/tokio").unwrap();
        assert_ne!(source.id(None, Some(2)), source.id(None, Some(3)));
        assert_ne!(source.id(None, Some(2)), source.id(None, None));
        assert_eq!(source.id(None, Some(2)), source.id(None, Some(2)));
    }

    #[test]
    fn other_schemes_are_refused_with_the_alternative() {
        assert!(refused("ssh://git@github.com/a/b").contains("use the https:// URL"));
        assert!(refused("git://example.com/a/b").contains("use the https:// URL"));
        assert!(refused("git@github.com:a/b.git").contains("scp-style ssh URLs are not supported"));
        assert!(refused("ftp://example.com/a").contains("use an https:// URL or a local path"));
        assert!(refused("https://github.com").contains("expected https://host/owner/repository"));
        assert!(refused("https://me:ghp_secret@github.com/a/b").contains("set index.git_token"));
    }

    #[test]
    fn a_missing_path_is_named() {
        assert_eq!(
            refused("/nonexistent/project"),
            "/nonexistent/project does not exist or is not a folder"
        );
    }

    #[test]
    fn local_paths_are_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let dotted = dir.path().join(".");
        let Source::Local { path } = Source::parse(dotted.to_str().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(path, dir.path().canonicalize().unwrap());
    }
}
