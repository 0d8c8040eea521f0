//! Keeping local folders' indexes fresh by themselves: each watched folder gets an inotify watch
//! (through `notify`) on every folder the walk looks into, and what changes there becomes one
//! incremental job once the folder has been quiet for a moment.
//!
//! - Only what the walk would index counts: files of a supported language outside ignored and
//!   vendored folders, folders made or removed, `.gitignore` edits, and git's `HEAD` and branch
//!   refs (a commit or a checkout). Reads, including the indexer's own, are not changes.
//! - A burst (a branch switch, a formatter over the tree) is one batch: it is handed over once
//!   nothing has changed for [`WatchOptions::quiet`], or when its first change is
//!   [`WatchOptions::at_most`] old. While the repository's job runs, the next batch waits for it.
//! - For a plain folder the job reads only the files the batch names (git knows for itself).
//!   When the kernel dropped events (a full queue), the job reads every file instead.
//! - Which folders are watched follows the store: local repositories whose setting
//!   ([`crate::RepoSettings::watch`], or else [`WatchOptions::by_default`]) says so, looked at
//!   again after every job and settings change of this process, and every
//!   [`WatchOptions::recheck`] (for other processes'). A folder newly watched gets one
//!   job first, for what changed while nobody watched.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use grammars::Language;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::jobs::{IndexError, Indexer, JobState, JobStatus, blocking};
use crate::source::Source;
use crate::store::RepoRecord;
use crate::walk::{self, WalkOptions};

/// How folders are watched; the binary fills it in from `index.watch`.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Whether a local folder whose own setting says nothing is watched.
    pub by_default: bool,
    /// A batch goes to a job once its folder has been quiet this long…
    pub quiet: Duration,
    /// …or once its first change is this old, whichever comes first.
    pub at_most: Duration,
    /// How often the list of repositories is read again, for those other processes indexed.
    pub recheck: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            by_default: true,
            quiet: Duration::from_millis(300),
            at_most: Duration::from_secs(3),
            recheck: Duration::from_secs(5),
        }
    }
}

impl Indexer {
    /// Watches the local folders that are to be watched, for as long as the task runs.
    pub fn keep_watching(self: &Arc<Self>, options: WatchOptions) -> tokio::task::JoinHandle<()> {
        let (events, seen) = mpsc::unbounded_channel();
        let watching = Watching {
            changes: self.changes(),
            indexer: Arc::clone(self),
            options,
            events,
            folders: HashMap::new(),
        };
        tokio::spawn(watching.run(seen))
    }
}

/// What a folder's watcher reports: the repository, and the event.
type Seen = (String, notify::Result<Event>);

struct Watching {
    indexer: Arc<Indexer>,
    options: WatchOptions,
    /// Each folder's watcher sends here, from its own thread.
    events: mpsc::UnboundedSender<Seen>,
    /// Repositories whose job ended or whose settings changed: worth a look.
    changes: broadcast::Receiver<String>,
    folders: HashMap<String, Folder>,
}

impl Watching {
    async fn run(mut self, mut seen: mpsc::UnboundedReceiver<Seen>) {
        let mut recheck = tokio::time::interval(self.options.recheck);
        loop {
            let due = self.folders.values().filter_map(|f| f.due(&self.options)).min();
            tokio::select! {
                Some((id, event)) = seen.recv() => self.saw(&id, event),
                _ = recheck.tick() => self.reconcile().await,
                changed = self.changes.recv() => match changed {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile().await,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = sleep_until(due) => {}
            }
            self.dispatch().await;
        }
    }

    /// Watches the folders that are to be watched, and stops watching the others.
    async fn reconcile(&mut self) {
        let store = self.indexer.store();
        let (repos, settings) = match tokio::try_join!(store.repos(), store.settings()) {
            Ok(both) => both,
            Err(e) => {
                tracing::warn!("cannot read which folders to watch: {e}");
                return;
            }
        };
        let wanted: HashMap<String, RepoRecord> = repos
            .into_iter()
            .filter(|r| !r.remote && r.checkout.is_dir())
            .filter(|r| {
                settings.get(&r.id).and_then(|s| s.watch).unwrap_or(self.options.by_default)
            })
            .map(|r| (r.id.clone(), r))
            .collect();
        self.folders.retain(|id, folder| {
            let keep = wanted.get(id).is_some_and(|r| r.checkout == folder.root);
            if !keep {
                tracing::info!(repo = %id, "no longer watching {}", folder.root.display());
            }
            keep
        });
        for (id, repo) in wanted {
            if self.folders.contains_key(&id) {
                continue;
            }
            let (events, walk) = (self.events.clone(), self.indexer.walk_options().clone());
            let opened = blocking(move || Folder::open(repo, walk, events)).await;
            match opened {
                Ok(Ok(mut folder)) => {
                    tracing::info!(
                        repo = %id,
                        folders = folder.dirs.len(),
                        "watching {}",
                        folder.root.display()
                    );
                    // What changed while nobody watched.
                    folder.touch(Changes::Everything);
                    self.folders.insert(id, folder);
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(repo = %id, "cannot watch the folder: {e}");
                }
            }
        }
    }

    fn saw(&mut self, id: &str, event: notify::Result<Event>) {
        let Some(folder) = self.folders.get_mut(id) else { return };
        match event {
            Ok(event) if event.need_rescan() => {
                tracing::info!(repo = %id, "the kernel dropped file events; reading every file");
                folder.touch(Changes::Everything);
            }
            Ok(event) if is_change(&event.kind) => {
                for path in &event.paths {
                    folder.saw(path, &event.kind);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(repo = %id, "watching the folder failed: {e}; reading every file");
                folder.touch(Changes::Everything);
            }
        }
    }

    /// Hands each batch that is due to a job, unless its repository's job is still running.
    async fn dispatch(&mut self) {
        let now = Instant::now();
        for (id, folder) in &mut self.folders {
            if let Some((job, given)) = &folder.job {
                let state = job.borrow().repo.status;
                if !state.is_final() {
                    continue;
                }
                // What a failed job was to read is read by the next one.
                if state == JobState::Failed {
                    folder.unread = Some(given.clone().merge(folder.unread.take()));
                }
                folder.job = None;
            }
            if folder.due(&self.options).is_none_or(|due| due > now) {
                continue;
            }
            if self.indexer.running(id).is_some() {
                continue; // its end wakes the loop
            }
            let Batch { changes, first, last } = folder.pending.take().expect("due, so pending");
            let changes = changes.merge(folder.unread.take());
            match folder.start(&self.indexer, &changes).await {
                Ok(Some(job)) => {
                    tracing::debug!(repo = %id, "re-indexing what changed");
                    folder.job = Some((job, changes));
                }
                // Joined a job that had just started: the batch waits for its end.
                Ok(None) => folder.pending = Some(Batch { changes, first, last }),
                Err(e) => {
                    tracing::warn!(repo = %id, "cannot re-index the watched folder: {e}");
                    folder.unread = Some(changes);
                }
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Whether an event may change what is indexed. Opening and reading a file (the indexer does
/// both) and metadata alone (`touch`, `chmod`) do not.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// What changed in a folder since its last job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Changes {
    /// These files or folders, relative to the root; none when only git's refs moved.
    Paths(HashSet<String>),
    /// Anything: every file is read.
    Everything,
}

impl Changes {
    fn merge(self, other: Option<Changes>) -> Changes {
        match (self, other) {
            (Changes::Paths(mut mine), Some(Changes::Paths(theirs))) => {
                mine.extend(theirs);
                Changes::Paths(mine)
            }
            (mine, None) => mine,
            _ => Changes::Everything,
        }
    }
}

struct Batch {
    changes: Changes,
    first: Instant,
    last: Instant,
}

/// One watched folder.
struct Folder {
    repo: RepoRecord,
    root: PathBuf,
    walk: WalkOptions,
    /// `.gitignore`, `.ignore` and `.git/info/exclude` at the root, and `index.exclude`.
    ignored: Gitignore,
    watcher: RecommendedWatcher,
    dirs: HashSet<PathBuf>,
    /// Changes not yet handed to a job.
    pending: Option<Batch>,
    /// The job this watcher started and what it was given, until it ends.
    job: Option<(watch::Receiver<JobStatus>, Changes)>,
    /// What a job that failed (or could not start) was to read.
    unread: Option<Changes>,
}

impl Folder {
    fn open(
        repo: RepoRecord,
        walk: WalkOptions,
        events: mpsc::UnboundedSender<Seen>,
    ) -> Result<Folder, IndexError> {
        let id = repo.id.clone();
        let watcher = notify::recommended_watcher(move |event| {
            // The receiver is gone only when the watching task ended.
            let _ = events.send((id.clone(), event));
        })
        .map_err(|e| IndexError::Refused(format!("cannot start watching: {e}")))?;
        let root = repo.checkout.clone();
        let mut folder = Folder {
            ignored: ignored(&root, &walk),
            root,
            repo,
            walk,
            watcher,
            dirs: HashSet::new(),
            pending: None,
            job: None,
            unread: None,
        };
        folder.watch_below(&folder.root.clone())?;
        // A commit or a checkout moves `HEAD` or a branch; git's other files change constantly.
        for git in [".git", ".git/refs/heads"] {
            let dir = folder.root.join(git);
            if dir.is_dir() {
                let mode = match git {
                    ".git" => RecursiveMode::NonRecursive,
                    _ => RecursiveMode::Recursive,
                };
                // Without it, a commit is seen with the next edit.
                let _ = folder.watcher.watch(&dir, mode);
            }
        }
        Ok(folder)
    }

    /// Watches `dir` and every folder below it the walk looks into.
    fn watch_below(&mut self, dir: &Path) -> Result<(), IndexError> {
        for dir in walk::folders(dir, &self.walk)? {
            if self.dirs.contains(&dir) {
                continue;
            }
            if let Err(e) = self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                if matches!(&e.kind, notify::ErrorKind::MaxFilesWatch) {
                    tracing::warn!(
                        "cannot watch every folder of {}: the system's limit of inotify watches \
                         is reached (raise fs.inotify.max_user_watches with sysctl); changes in \
                         the others are seen by the next job",
                        self.root.display()
                    );
                    return Ok(());
                }
                // A folder removed since the walk saw it: its removal is an event of its own.
                continue;
            }
            self.dirs.insert(dir);
        }
        Ok(())
    }

    fn touch(&mut self, changes: Changes) {
        let now = Instant::now();
        self.pending = Some(match self.pending.take() {
            Some(batch) => {
                Batch { changes: changes.merge(Some(batch.changes)), last: now, ..batch }
            }
            None => Batch { changes, first: now, last: now },
        });
    }

    /// When the pending batch is due: quiet for a while, or old enough.
    fn due(&self, options: &WatchOptions) -> Option<Instant> {
        let batch = self.pending.as_ref()?;
        Some((batch.last + options.quiet).min(batch.first + options.at_most))
    }

    fn saw(&mut self, path: &Path, kind: &EventKind) {
        let Ok(relative) = path.strip_prefix(&self.root) else { return };
        let mut components = relative.components();
        if components.next() == Some(Component::Normal(".git".as_ref())) {
            let rest = components.as_path();
            if rest == Path::new("HEAD")
                || rest == Path::new("packed-refs")
                || rest.starts_with("refs/heads")
            {
                self.touch(Changes::Paths(HashSet::new()));
            }
            return;
        }
        let vendored = |c: Component| self.walk.vendored_dirs.iter().any(|v| c.as_os_str() == &**v);
        if relative.components().any(vendored) {
            return;
        }
        let removed_dir = matches!(kind, EventKind::Remove(RemoveKind::Folder))
            || (!path.exists() && self.dirs.contains(path));
        let is_dir =
            removed_dir || matches!(kind, EventKind::Create(CreateKind::Folder)) || path.is_dir();
        if self.ignored.matched_path_or_any_parents(relative, is_dir).is_ignore() {
            return;
        }
        let name = relative.to_string_lossy().replace('\\', "/");
        if is_dir {
            if removed_dir {
                self.dirs.retain(|d| !d.starts_with(path));
            } else if let Err(e) = self.watch_below(path) {
                tracing::debug!("cannot watch the new folder {}: {e}", path.display());
            }
            self.touch(Changes::Paths(HashSet::from([name])));
        } else if matches!(
            path.file_name().and_then(|n| n.to_str()),
            Some(".gitignore" | ".ignore")
        ) {
            // Which files count has changed.
            self.ignored = ignored(&self.root, &self.walk);
            self.touch(Changes::Everything);
        } else if Language::from_path(relative).is_some() {
            self.touch(Changes::Paths(HashSet::from([name])));
        }
    }

    /// Starts the job for `changes`: the job, or `None` when one already running was joined.
    async fn start(
        &self,
        indexer: &Arc<Indexer>,
        changes: &Changes,
    ) -> Result<Option<watch::Receiver<JobStatus>>, IndexError> {
        let source = Source::Local { path: self.root.clone() };
        let hints = match changes {
            Changes::Paths(paths) => Some(paths.clone()),
            Changes::Everything => None,
        };
        let (job, started) =
            indexer.start(source, self.repo.branch.clone(), self.repo.owner, hints).await?;
        Ok(started.then_some(job))
    }
}

/// The root's ignore files and the configured excludes, as one matcher.
fn ignored(root: &Path, walk: &WalkOptions) -> Gitignore {
    let mut builder = GitignoreBuilder::new(root);
    for file in [".gitignore", ".ignore", ".git/info/exclude"] {
        // A missing or unreadable file adds nothing.
        let _ = builder.add(root.join(file));
    }
    for pattern in &walk.exclude {
        let _ = builder.add_line(None, pattern);
    }
    builder.build().unwrap_or_else(|_| Gitignore::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_file_is_not_a_change_and_writing_one_is() {
        use notify::event::DataChange;
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            notify::event::MetadataKind::WriteTime
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(DataChange::Any))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
    }

    #[test]
    fn a_batch_of_paths_stays_paths_and_anything_else_reads_everything() {
        let paths = |p: &[&str]| Changes::Paths(p.iter().map(|p| p.to_string()).collect());
        assert_eq!(paths(&["a.py"]).merge(Some(paths(&["b.py"]))), paths(&["a.py", "b.py"]));
        assert_eq!(paths(&["a.py"]).merge(None), paths(&["a.py"]));
        assert_eq!(paths(&["a.py"]).merge(Some(Changes::Everything)), Changes::Everything);
        assert_eq!(Changes::Everything.merge(Some(paths(&["a.py"]))), Changes::Everything);
    }
}
