//! Clones of remote repositories, kept so that no reader ever sees a half-updated tree.
//!
//! Each remote repository has a bare git directory, `<repos>/<id>.git`, that fetches update, and
//! one read-only work tree per indexed commit, `<repos>/<id>.<commit>`. A re-index checks the new
//! commit out beside the old one (into a `.partial` folder renamed into place once complete);
//! the job then records the new tree together with its graph. Reads of the old tree (a
//! `read_file`, a scan) go on undisturbed: trees older than the one being replaced are removed at
//! the next sync, so at rest a repository has at most two.
//!
//! Before anything is checked out, the commit's tree is measured against the clone limits (files
//! and bytes), so a small pack that would expand into a huge checkout is refused unwritten.
//! Credentials are offered only to the host they were configured for.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    Cred, CredentialType, DiffOptions, ErrorCode, FetchOptions, ObjectType, Oid, RemoteCallbacks,
    Repository, TreeWalkMode, TreeWalkResult,
};

use crate::egress::{Egress, Proxy};
use crate::source::{Checkout, SourceError, classify, paths_of};

/// A git credential: a token offered to one host, for the operator's own clones or for one
/// organization's.
#[derive(Clone, PartialEq, Eq)]
pub struct GitCredential {
    /// The host name it is for (no scheme, no port), compared without regard to case.
    pub host: String,
    /// The user name sent with the token (`x-access-token` suits GitHub, `oauth2` GitLab).
    pub username: String,
    pub token: String,
    /// The organization whose clones may use it; `None`: only the operator's own clones.
    pub organization: Option<i64>,
}

impl fmt::Debug for GitCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredential")
            .field("host", &self.host)
            .field("username", &self.username)
            .field("organization", &self.organization)
            .finish_non_exhaustive()
    }
}

/// How remote repositories are cloned, and what a clone may cost.
#[derive(Debug, Clone)]
pub struct CloneOptions {
    pub credentials: Vec<GitCredential>,
    /// What an organization's clone may reach (the operator's own clones are not held to it),
    /// and at most how many bytes any clone may take up checked out (`egress.max_bytes`).
    pub egress: Egress,
    /// Most files a checked-out commit may have.
    pub max_files: u64,
    /// Most repositories one organization may have indexed.
    pub max_repos_per_org: usize,
}

impl Default for CloneOptions {
    fn default() -> Self {
        CloneOptions {
            credentials: Vec::new(),
            egress: Egress::default(),
            max_files: 200_000,
            max_repos_per_org: 100,
        }
    }
}

impl CloneOptions {
    /// The credential for `url` on behalf of `owner`: one configured for that very host and for
    /// that owner (the operator's, `None`, or the organization's own). Never one of another
    /// host's, and only over https.
    pub fn credential_for(&self, url: &str, owner: Option<i64>) -> Option<&GitCredential> {
        let host = url.strip_prefix("https://").map(host_of)?;
        self.credentials
            .iter()
            .find(|c| c.organization == owner && c.host.eq_ignore_ascii_case(host))
    }
}

/// The host name of the part of a URL after its scheme: no user, no port.
pub(crate) fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// One sync of a remote repository.
pub(crate) struct Sync<'a> {
    pub url: &'a str,
    pub branch: Option<&'a str>,
    pub repos_dir: &'a Path,
    pub id: &'a str,
    pub credential: Option<&'a GitCredential>,
    pub egress: Option<&'a Egress>,
    pub max_files: u64,
    pub max_bytes: u64,
    /// The tree readers use now: kept, whatever else is pruned.
    pub current: Option<&'a Path>,
}

/// The bare git directory of a repository.
pub(crate) fn git_dir(repos_dir: &Path, id: &str) -> PathBuf {
    repos_dir.join(format!("{id}.git"))
}

/// Fetches the branch's newest commit (cloning first if needed) and checks it out into a tree
/// of its own. `progress` gets the objects received, and of how many.
pub(crate) fn sync(
    request: &Sync<'_>,
    progress: &mut impl FnMut(u64, u64),
) -> Result<Checkout, SourceError> {
    // An organization's clone connects only through its own checking proxy.
    let proxy = request
        .egress
        .map(|e| Proxy::start(e.clone()))
        .transpose()
        .map_err(|source| SourceError::Io { path: request.repos_dir.to_owned(), source })?;
    let result = fetch(request, proxy.as_ref().map(Proxy::url), progress);
    let commit = match (result, proxy.and_then(|p| p.refusal())) {
        (Err(_), Some(why)) => {
            let _ = std::fs::remove_dir_all(git_dir(request.repos_dir, request.id));
            return Err(SourceError::Refused { url: request.url.to_owned(), why });
        }
        (result, _) => result?,
    };
    prune(request.repos_dir, request.id, request.current);
    let dir = check_out(request, commit)?;
    Ok(Checkout { dir, commit: Some(commit.to_string()) })
}

/// Brings the bare repository up to date; returns the branch's commit.
fn fetch(
    request: &Sync<'_>,
    proxy: Option<String>,
    progress: &mut impl FnMut(u64, u64),
) -> Result<Oid, SourceError> {
    let (url, branch) = (request.url, request.branch);
    let mut callbacks = RemoteCallbacks::new();
    if let Some(credential) = request.credential {
        callbacks.credentials(move |asked, _, allowed| {
            // Redirects are not followed, so the host asking is the one configured; say no all
            // the same if it is not.
            let same_host = asked
                .strip_prefix("https://")
                .is_some_and(|rest| host_of(rest).eq_ignore_ascii_case(&credential.host));
            if same_host && allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                Cred::userpass_plaintext(&credential.username, &credential.token)
            } else {
                Err(git2::Error::from_str("no credential is configured for this host"))
            }
        });
    }
    callbacks.transfer_progress(|stats| {
        if stats.total_objects() > 0 {
            progress(stats.received_objects() as u64, stats.total_objects() as u64);
        }
        true
    });
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    // A server may not send the clone, or the credential, to another host.
    options.follow_redirects(git2::RemoteRedirect::None);
    if let Some(proxy) = &proxy {
        let mut proxy_options = git2::ProxyOptions::new();
        proxy_options.url(proxy);
        options.proxy_options(proxy_options);
    }
    if url.starts_with("http") {
        options.depth(1); // history is not indexed; the local transport cannot do shallow fetches
    }
    let failed = |e: git2::Error| classify(url, branch, e);

    let dir = git_dir(request.repos_dir, request.id);
    // A clone cut short (the process was stopped) has no usable HEAD: start over.
    let existing = Repository::open_bare(&dir)
        .ok()
        .filter(|repo| repo.head().is_ok_and(|h| h.peel_to_commit().is_ok()));
    if existing.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|source| SourceError::Io { path: dir.clone(), source })?;
    }
    let repo = match existing {
        Some(repo) => {
            let branch = match branch {
                Some(b) => b.to_owned(),
                None => repo.head()?.shorthand().unwrap_or("HEAD").to_owned(),
            };
            let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
            repo.find_remote("origin")?
                .fetch(&[refspec], Some(&mut options), None)
                .map_err(failed)?;
            repo.set_head(&format!("refs/heads/{branch}"))?;
            repo
        }
        None => {
            let mut builder = RepoBuilder::new();
            builder.bare(true).fetch_options(options);
            if let Some(branch) = branch {
                builder.branch(branch);
            }
            match builder.clone(url, &dir) {
                Ok(repo) => repo,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir); // leave nothing half-cloned behind
                    return Err(failed(e));
                }
            }
        }
    };
    let commit = match repo.head() {
        Ok(head) => head.peel_to_commit()?.id(),
        Err(e) if e.code() == ErrorCode::UnbornBranch => {
            return Err(SourceError::Empty(url.to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(commit)
}

/// The commit's own read-only tree, checked out if it is not there yet.
fn check_out(request: &Sync<'_>, commit: Oid) -> Result<PathBuf, SourceError> {
    let short = &commit.to_string()[..12];
    let tree_dir = request.repos_dir.join(format!("{}.{short}", request.id));
    if tree_dir.is_dir() {
        return Ok(tree_dir); // renamed into place only once complete
    }
    let repo = Repository::open_bare(git_dir(request.repos_dir, request.id))?;
    let tree = repo.find_commit(commit)?.tree()?;
    measure(request, &repo, &tree)?;
    let partial = request.repos_dir.join(format!("{}.{short}.partial", request.id));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let mut checkout = CheckoutBuilder::new();
    checkout.target_dir(&partial).force().update_index(false);
    if let Err(e) = repo.checkout_tree(tree.as_object(), Some(&mut checkout)) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e.into());
    }
    std::fs::rename(&partial, &tree_dir).map_err(io(&tree_dir))?;
    Ok(tree_dir)
}

/// Refuses a commit whose checkout would exceed the limits, before writing any of it.
fn measure(
    request: &Sync<'_>,
    repo: &Repository,
    tree: &git2::Tree<'_>,
) -> Result<(), SourceError> {
    let odb = repo.odb()?;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut over = None;
    let walked = tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        files += 1;
        bytes += odb.read_header(entry.id()).map_or(0, |(size, _)| size as u64);
        if files > request.max_files {
            over = Some(format!(
                "the commit has more than {} files (index.max_clone_files)",
                request.max_files
            ));
        } else if bytes > request.max_bytes {
            over = Some(format!(
                "its files come to more than {} MiB checked out (index.max_clone_mb)",
                request.max_bytes >> 20
            ));
        }
        if over.is_some() { TreeWalkResult::Abort } else { TreeWalkResult::Ok }
    });
    match over {
        Some(why) => Err(SourceError::Refused { url: request.url.to_owned(), why }),
        None => walked.map_err(SourceError::from),
    }
}

/// The folders of a repository in `repos_dir`: its trees (`<id>.<commit>`, and `.partial` ones),
/// the checkout of the layout before trees (`<id>`), and with `git_dir`, its git directory.
fn folders(repos_dir: &Path, id: &str, git_dir: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repos_dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { return false };
            match name.strip_prefix(id) {
                Some("") => true,
                Some(".git") => git_dir,
                Some(rest) => {
                    let commit = rest.strip_prefix('.').unwrap_or_default();
                    let commit = commit.strip_suffix(".partial").unwrap_or(commit);
                    commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())
                }
                None => false,
            }
        })
        .map(|entry| entry.path())
        .collect()
}

/// Removes the repository's trees but `keep`: at most the one readers use now survives, beside
/// the one about to be checked out.
fn prune(repos_dir: &Path, id: &str, keep: Option<&Path>) {
    for dir in folders(repos_dir, id, false) {
        if Some(dir.as_path()) != keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Removes everything of a repository's clone: its git directory and every tree.
pub(crate) fn remove(repos_dir: &Path, id: &str) {
    for dir in folders(repos_dir, id, true) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The files that differ between two commits of a clone (both sides of a rename); `None` when
/// either commit is not there, so everything must be checked.
pub(crate) fn changed_between(
    repos_dir: &Path,
    id: &str,
    old: &str,
    new: &str,
) -> Result<Option<Vec<String>>, SourceError> {
    let Ok(repo) = Repository::open_bare(git_dir(repos_dir, id)) else { return Ok(None) };
    let tree = |commit: &str| Oid::from_str(commit).and_then(|oid| repo.find_commit(oid)?.tree());
    let (Ok(old), Ok(new)) = (tree(old), tree(new)) else { return Ok(None) };
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut DiffOptions::new()))?;
    Ok(Some(paths_of(&diff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(host: &str, organization: Option<i64>) -> GitCredential {
        GitCredential {
            host: host.into(),
            username: "x-access-token".into(),
            token: format!("token-for-{host}"),
            organization,
        }
    }

    #[test]
    fn a_credential_is_offered_to_its_own_host_and_owner_only() {
        let options = CloneOptions {
            credentials: vec![credential("github.com", None), credential("git.acme.dev", Some(7))],
            ..CloneOptions::default()
        };
        let token = |url: &str, owner| options.credential_for(url, owner).map(|c| c.token.clone());
        assert_eq!(token("https://GitHub.com/a/b", None).as_deref(), Some("token-for-github.com"));
        assert_eq!(
            token("https://git.acme.dev:8443/a/b", Some(7)).as_deref(),
            Some("token-for-git.acme.dev")
        );
        // Another host, another organization, plain http, a look-alike host: nothing.
        assert_eq!(token("https://gitlab.com/a/b", None), None);
        assert_eq!(token("https://github.com/a/b", Some(7)), None);
        assert_eq!(token("https://git.acme.dev/a/b", Some(8)), None);
        assert_eq!(token("https://git.acme.dev/a/b", None), None);
        assert_eq!(token("http://github.com/a/b", None), None);
        assert_eq!(token("https://github.com.evil.example/a/b", None), None);
        assert_eq!(token("https://evil.example/github.com/b", None), None);
    }

    #[test]
    fn a_debug_print_shows_no_token() {
        let printed = format!("{:?}", credential("github.com", None));
        assert!(!printed.contains("token-for"), "{printed}");
    }

    #[test]
    fn hosts_are_read_without_user_or_port() {
        assert_eq!(host_of("example.com:443/a/b"), "example.com");
        assert_eq!(host_of("me@example.com/a"), "example.com");
        assert_eq!(host_of("[::1]:8080/a"), "::1");
        assert_eq!(host_of("example.com?x"), "example.com");
    }
}
