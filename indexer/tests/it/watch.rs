//! Watched folders: what an IDE user editing a working copy can rely on without ever asking for a
//! re-index. Each job that re-indexes a repository bumps its generation, which is how these tests
//! count passes.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use indexer::{Indexer, JobState, Mode, RepoSettings, WatchOptions};

use crate::support::{GitRepo, TestIndexer, local, query};

/// Waits (polling, at most 30 s) until `done` holds.
async fn until<F: AsyncFn() -> bool>(what: &str, done: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn generation(indexer: &Indexer, id: &str) -> i64 {
    indexer.store().generation(id).await.unwrap().unwrap()
}

/// Waits for the job a watcher runs when it starts watching (for what changed while nobody
/// watched) to end; the generation it left.
async fn caught_up(indexer: &Arc<Indexer>, id: &str, before: i64) -> i64 {
    until("the first watched pass", async || {
        generation(indexer, id).await > before && indexer.running(id).is_none()
    })
    .await;
    generation(indexer, id).await
}

/// A quiet spell long enough for any batch to have been handed over (several times the
/// watcher's quiet period), after which no new pass may have started.
async fn no_pass_since(indexer: &Indexer, id: &str, generation_then: i64) {
    tokio::time::sleep(WatchOptions::default().quiet * 5).await;
    assert!(indexer.running(id).is_none(), "a job started");
    assert_eq!(generation(indexer, id).await, generation_then, "a pass ran");
}

async fn callers_of(indexer: &Indexer, id: &str, name: &str) -> Vec<String> {
    let graph = indexer.graph(id).await.unwrap();
    let Some(target) = graph.symbols().find(|&s| graph.symbol(s).name == name) else {
        return Vec::new();
    };
    graph.callers(target, 1).into_iter().map(|(s, _, _)| graph.symbol(s).name.clone()).collect()
}

#[tokio::test]
async fn an_edit_to_a_watched_folder_reaches_the_graph_and_search_unasked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("core.py"), "def normalize(text):\n    return text\n").unwrap();
    std::fs::write(dir.path().join("app.py"), "from core import normalize\n").unwrap();
    let t = TestIndexer::new().await;
    let id = t.index(local(dir.path()), None).await.repo.id;
    let _watching = t.indexer.keep_watching(WatchOptions::default());
    caught_up(&t.indexer, &id, generation(&t.indexer, &id).await).await;

    // An edit, and a new file in a new folder.
    std::fs::write(
        dir.path().join("app.py"),
        "from core import normalize\n\ndef handle_quokka(request):\n    return normalize(request)\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("jobs/nightly")).unwrap();
    std::fs::write(
        dir.path().join("jobs/nightly/sweep.py"),
        "from core import normalize\n\ndef sweep_wombats(rows):\n    return normalize(rows)\n",
    )
    .unwrap();

    let indexer = &t.indexer;
    until("both new callers in the graph", async || {
        let mut callers = callers_of(indexer, &id, "normalize").await;
        callers.sort();
        callers == ["handle_quokka", "sweep_wombats"]
    })
    .await;
    until("the new code searchable", async || {
        let hits = indexer.search(&query("quokka", Mode::Lexical)).await.unwrap();
        hits.iter().any(|h| h.path == "app.py" && !h.stale)
    })
    .await;
    let repo = indexer.find(&id).await.unwrap();
    assert_eq!((repo.status, repo.stats.files), (JobState::Ready, 3));

    // A deleted file leaves the graph.
    std::fs::remove_dir_all(dir.path().join("jobs")).unwrap();
    until("the removed caller gone", async || {
        callers_of(indexer, &id, "normalize").await == ["handle_quokka"]
    })
    .await;
}

#[tokio::test]
async fn a_branch_switch_of_hundreds_of_files_is_one_pass() {
    let git = GitRepo::new();
    for n in 0..300 {
        git.write(&format!("pkg/m{n:03}.py"), &format!("def f{n}():\n    return {n}\n"));
    }
    git.commit("three hundred modules");
    let run = |args: &[&str]| {
        let status = Command::new("git").args(args).current_dir(git.path()).output().unwrap();
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    run(&["checkout", "-q", "-b", "rewrite"]);
    for n in 0..300 {
        git.write(&format!("pkg/m{n:03}.py"), &format!("def g{n}():\n    return f{n}()\n"));
    }
    run(&["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qam", "rewrite"]);
    run(&["checkout", "-q", "-"]);

    let t = TestIndexer::new().await;
    let id = t.index(local(git.path()), None).await.repo.id;
    let _watching = t.indexer.keep_watching(WatchOptions::default());
    let before = caught_up(&t.indexer, &id, generation(&t.indexer, &id).await).await;

    run(&["checkout", "-q", "rewrite"]);
    let indexer = &t.indexer;
    until("the rewritten branch indexed", async || {
        let repo = indexer.find(&id).await.unwrap();
        let graph = indexer.graph(&id).await.unwrap();
        repo.status == JobState::Ready
            && graph.symbols().filter(|&s| graph.symbol(s).name.starts_with('g')).count() == 300
    })
    .await;
    let after = generation(indexer, &id).await;
    assert_eq!(after, before + 1, "300 files and HEAD changed: one pass");
    no_pass_since(indexer, &id, after).await;
    let head = git.repo.head().unwrap().peel_to_commit().unwrap().id().to_string();
    assert_eq!(
        indexer.find(&id).await.unwrap().commit,
        Some(head),
        "the answer names the new commit"
    );
}

#[tokio::test]
async fn ignored_vendored_and_unparsed_files_and_reads_start_no_pass() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    let id = t.index(local(git.path()), None).await.repo.id;
    let _watching = t.indexer.keep_watching(WatchOptions::default());
    let settled = caught_up(&t.indexer, &id, generation(&t.indexer, &id).await).await;

    // python-pkg ignores build/generated.py.
    let write = |path: &str, text: &str| {
        let full = git.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    };
    write("build/generated.py", "def generated():\n    pass\n");
    write("stockroom/__pycache__/core.cpython-311.pyc", "\0\0");
    write("node_modules/left-pad/index.js", "module.exports = 1;\n");
    write("NOTES.txt", "not code\n");
    for entry in walk(git.path()) {
        let _ = std::fs::read(entry);
    }
    no_pass_since(&t.indexer, &id, settled).await;

    // The watcher is alive: a real edit is one pass.
    write("src/extra.py", "def extra():\n    pass\n");
    let indexer = &t.indexer;
    until("the edit indexed", async || {
        generation(indexer, &id).await == settled + 1 && indexer.running(&id).is_none()
    })
    .await;
    assert!(callers_of(indexer, &id, "extra").await.is_empty());
    let graph = indexer.graph(&id).await.unwrap();
    assert!(graph.files.iter().any(|f| f.path == "src/extra.py"));
    assert!(!graph.files.iter().any(|f| f.path == "build/generated.py"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".git" {
                files.extend(walk(&entry.path()));
            }
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[tokio::test]
async fn a_repository_set_not_to_be_watched_is_left_alone_until_set_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "def a():\n    pass\n").unwrap();
    let t = TestIndexer::new().await;
    let id = t.index(local(dir.path()), None).await.repo.id;
    let off = RepoSettings { watch: Some(false), ..Default::default() };
    t.indexer.save_settings(&id, &off).await.unwrap();
    let options = WatchOptions { recheck: Duration::from_millis(200), ..WatchOptions::default() };
    let _watching = t.indexer.keep_watching(options);

    let before = generation(&t.indexer, &id).await;
    std::fs::write(dir.path().join("b.py"), "from a import a\n\ndef b():\n    a()\n").unwrap();
    no_pass_since(&t.indexer, &id, before).await;

    let on = RepoSettings { watch: Some(true), ..Default::default() };
    t.indexer.save_settings(&id, &on).await.unwrap();
    let indexer = &t.indexer;
    until("the edit made while unwatched indexed", async || {
        callers_of(indexer, &id, "a").await == ["b"]
    })
    .await;
}

#[tokio::test]
async fn with_watching_off_by_default_only_repositories_that_ask_are_watched() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&one, &two] {
        std::fs::write(dir.path().join("a.py"), "def a():\n    pass\n").unwrap();
    }
    let t = TestIndexer::new().await;
    let asked = t.index(local(one.path()), None).await.repo.id;
    let silent = t.index(local(two.path()), None).await.repo.id;
    let on = RepoSettings { watch: Some(true), ..Default::default() };
    t.indexer.save_settings(&asked, &on).await.unwrap();
    let options = WatchOptions { by_default: false, ..WatchOptions::default() };
    let _watching = t.indexer.keep_watching(options);
    let watched = caught_up(&t.indexer, &asked, generation(&t.indexer, &asked).await).await;
    let unwatched = generation(&t.indexer, &silent).await;

    for dir in [&one, &two] {
        std::fs::write(dir.path().join("b.py"), "from a import a\n\ndef b():\n    a()\n").unwrap();
    }
    let indexer = &t.indexer;
    until("the watched edit indexed", async || callers_of(indexer, &asked, "a").await == ["b"])
        .await;
    assert_eq!(generation(indexer, &asked).await, watched + 1);
    no_pass_since(indexer, &silent, unwatched).await;
}
