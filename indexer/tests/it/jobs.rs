//! Index jobs over real git repositories: what a user of `agentwatch index` can rely on.

use std::time::Duration;

use indexer::{CloneOptions, IndexError, JobState, Source};

use crate::support::{GitRepo, TestIndexer, local};

#[tokio::test]
async fn a_work_tree_is_indexed_at_its_head_commit() {
    let git = GitRepo::from_fixture("python-pkg");
    let head = git.repo.head().unwrap().peel_to_commit().unwrap().id().to_string();
    let t = TestIndexer::new().await;

    let status = t.index(local(git.path()), None).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    assert_eq!(status.repo.commit.as_deref(), Some(head.as_str()));
    assert_eq!(status.progress, 100);
    assert_eq!(status.repo.stats.files, 5, "five modules; the gitignored build/ file is left out");
    assert_eq!(status.files_parsed, 5);
    assert!(status.repo.stats.symbols > 20);
    assert!(status.repo.stats.edges > status.repo.stats.symbols);
}

#[tokio::test]
async fn re_indexing_after_a_commit_parses_only_the_changed_file() {
    let git = GitRepo::from_fixture("rust-crate");
    let t = TestIndexer::new().await;
    let first = t.index(local(git.path()), None).await;
    assert_eq!(first.repo.status, JobState::Ready);
    assert_eq!(first.files_parsed, first.repo.stats.files);

    let codec = std::fs::read_to_string(git.path().join("src/codec.rs")).unwrap();
    git.write(
        "src/codec.rs",
        &format!(
            "{codec}\n/// Codes are never longer than this.\npub fn max_len() -> usize {{ 11 }}\n"
        ),
    );
    let second_commit = git.commit("add max_len");

    let second = t.index(local(git.path()), None).await;
    assert_eq!(second.repo.status, JobState::Ready);
    assert_eq!(second.files_parsed, 1, "only src/codec.rs changed");
    assert_eq!(second.repo.commit.as_deref(), Some(second_commit.as_str()));
    assert_eq!(second.repo.stats.files, first.repo.stats.files);
    assert_eq!(second.repo.stats.symbols, first.repo.stats.symbols + 1);

    let graph = t.indexer.graph(&second.repo.id).await.unwrap();
    let max_len = graph
        .symbols()
        .find(|&s| graph.symbol(s).name == "max_len")
        .expect("the new function is in the graph");
    assert_eq!(graph.symbol(max_len).doc.as_deref(), Some("Codes are never longer than this."));
}

#[tokio::test]
async fn deleted_files_leave_the_graph() {
    let git = GitRepo::from_fixture("ts-app");
    let t = TestIndexer::new().await;
    let first = t.index(local(git.path()), None).await;

    std::fs::remove_file(git.path().join("src/ids.js")).unwrap();
    git.commit("drop ids.js");
    let second = t.index(local(git.path()), None).await;
    assert_eq!(second.files_parsed, 0);
    assert_eq!(second.repo.stats.files, first.repo.stats.files - 1);
    let graph = t.indexer.graph(&second.repo.id).await.unwrap();
    assert!(graph.file_index("src/ids.js").is_none());
    assert!(
        graph.dump().contains("src/service.ts::TaskService.create call nextId"),
        "the call is now unresolved"
    );
}

#[tokio::test]
async fn uncommitted_changes_in_a_work_tree_are_indexed_too() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    t.index(local(git.path()), None).await;
    git.write("stockroom/extra.py", "def helper():\n    return 1\n");
    let status = t.index(local(git.path()), None).await;
    assert_eq!(status.files_parsed, 1);
    assert_eq!(status.repo.stats.files, 6);
}

#[tokio::test]
async fn a_plain_directory_is_re_indexed_by_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "def a():\n    pass\n").unwrap();
    std::fs::write(dir.path().join("b.py"), "def b():\n    a()\n").unwrap();
    let t = TestIndexer::new().await;
    let first = t.index(local(dir.path()), None).await;
    assert_eq!(
        (first.repo.status, first.repo.commit.as_deref(), first.files_parsed),
        (JobState::Ready, None, 2)
    );

    std::fs::write(dir.path().join("b.py"), "def b():\n    return a()\n").unwrap();
    let second = t.index(local(dir.path()), None).await;
    assert_eq!(second.files_parsed, 1);
}

#[tokio::test]
async fn a_restart_loads_the_stored_graph_without_parsing() {
    let git = GitRepo::from_fixture("rust-crate");
    let t = TestIndexer::new().await;
    let status = t.index(local(git.path()), None).await;
    let before = t.indexer.graph(&status.repo.id).await.unwrap().dump();

    let restarted = t.restart().await;
    let record = restarted.find(&status.repo.id).await.unwrap();
    assert_eq!(record.status, JobState::Ready);
    assert_eq!(record.stats, status.repo.stats);
    let after = restarted.graph(&record.id).await.unwrap().dump();
    assert_eq!(after, before);
}

/// C#'s `using` resolves through the namespaces files declare; those are stored with the files,
/// so a graph rebuilt from the store (another replica, a restart) links the same calls.
#[tokio::test]
async fn declared_namespaces_are_stored_and_resolve_the_same_after_a_restart() {
    let git = GitRepo::from_fixture("csharp-app");
    let t = TestIndexer::new().await;
    let status = t.index(local(git.path()), None).await;
    let before = t.indexer.graph(&status.repo.id).await.unwrap().dump();
    assert!(before.contains("  package Shop.Services\n"), "{before}");
    assert!(before.contains("-calls-> src/Shop/Pricing/PriceCalculator.cs::PriceCalculator.Total"));

    let restarted = t.restart().await;
    let after = restarted.graph(&status.repo.id).await.unwrap().dump();
    assert_eq!(after, before);
}

/// Two processes on one data dir (a `serve` and `agentwatch index` from a terminal): what one
/// re-indexes, the other answers from at its next question, though it had the old graph loaded.
#[tokio::test]
async fn another_process_s_re_index_reaches_this_one_s_graph_and_search() {
    let git = GitRepo::from_fixture("rust-crate");
    let t = TestIndexer::new().await;
    let id = t.index(local(git.path()), None).await.repo.id;
    let serving = t.restart().await;
    let has_quokka = |graph: &indexer::RepoGraph| {
        graph.symbols().any(|s| graph.symbol(s).name == "quokka_limit")
    };
    assert!(!has_quokka(&serving.graph(&id).await.unwrap()));
    let search = crate::support::query("quokka", indexer::Mode::Lexical);
    assert!(serving.search(&search).await.unwrap().is_empty());

    let codec = std::fs::read_to_string(git.path().join("src/codec.rs")).unwrap();
    git.write("src/codec.rs", &format!("{codec}\npub fn quokka_limit() -> usize {{ 11 }}\n"));
    git.commit("add quokka_limit");
    assert_eq!(t.index(local(git.path()), None).await.files_parsed, 1);

    assert!(has_quokka(&serving.graph(&id).await.unwrap()), "the graph is reloaded at once");
    // The search index is read again once its consistency interval (a second) has passed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while serving.search(&search).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the new chunk is never searched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two processes on one data dir asked to index the same repository at once (a `serve` and
/// `agentwatch index`): one job parses it, the other waits for it and finds the work done.
#[tokio::test]
async fn two_processes_asked_to_index_one_repository_parse_it_once() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    let other = t.restart().await;
    let here = t.indexer.submit(local(git.path()), None, None).await.unwrap();
    let there = other.submit(local(git.path()), None, None).await.unwrap();
    let (here, there) = tokio::join!(indexer::finished(here), indexer::finished(there));
    assert_eq!((here.repo.status, there.repo.status), (JobState::Ready, JobState::Ready));
    let mut parsed = [here.files_parsed, there.files_parsed];
    parsed.sort();
    assert_eq!(parsed, [0, 5], "one job parsed the five modules, the other none");
}

/// A job left by a process that died holds its repository only until its claim runs out; then
/// the next job indexes it.
#[tokio::test]
async fn a_repository_claimed_by_a_process_that_died_is_indexed_once_the_claim_runs_out() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    let id = t.index(local(git.path()), None).await.repo.id;
    let gone = t.indexer.store().claim(&id, "pid 1#0 (died)", Duration::from_secs(3)).await;
    assert_eq!(gone.unwrap(), None, "the claim is taken");

    let job = t.indexer.submit(local(git.path()), None, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(job.borrow().repo.status, JobState::Queued, "it waits while the claim holds");
    let status = indexer::finished(job).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let claim = t.indexer.store().claim(&id, "pid 2#0", Duration::from_secs(1)).await.unwrap();
    assert_eq!(claim, None, "a finished job leaves no claim behind");
}

/// A process that died mid-job leaves its claim, with what it was asked, behind: once the claim
/// runs out, a running process finishes the job without being asked.
#[tokio::test]
async fn a_job_whose_process_died_is_finished_by_a_running_one_unasked() {
    let t = TestIndexer::new().await;
    let git = GitRepo::from_fixture("rust-crate");
    let before = t.index(local(git.path()), None).await.repo;
    let codec = std::fs::read_to_string(git.path().join("src/codec.rs")).unwrap();
    git.write("src/codec.rs", &format!("{codec}\npub fn wombat_count() -> u32 {{ 3 }}\n"));
    let head = git.commit("add wombat_count");

    let dead = "pid 1#0 (died)";
    let store = t.indexer.store();
    assert_eq!(store.claim(&before.id, dead, Duration::from_millis(500)).await.unwrap(), None);
    let job = indexer::ClaimedJob { source: before.source.clone(), branch: None, owner: None };
    store.record_job(&before.id, dead, &job).await.unwrap();

    let serving = t.restart().await;
    let sweeping = serving.keep_resuming(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = serving.find(&before.id).await.unwrap();
        if stored.commit.as_deref() == Some(head.as_str()) && stored.status == JobState::Ready {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never finished: {stored:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sweeping.abort();
    let graph = serving.graph(&before.id).await.unwrap();
    assert!(graph.symbols().any(|s| graph.symbol(s).name == "wombat_count"));
    assert!(store.abandoned_jobs().await.unwrap().is_empty(), "its claim is released");
}

/// The search index is one table for every repository: one process at a time tidies it, and a
/// job that finds another process at it leaves its rows to be folded in later, still searchable.
#[tokio::test]
async fn while_another_process_tidies_the_search_index_a_job_leaves_it_alone() {
    let t = TestIndexer::new().await;
    let first = GitRepo::from_fixture("rust-crate");
    t.index(local(first.path()), None).await;
    assert_eq!(t.indexer.untidied().await.unwrap(), 0, "a job tidies what it wrote");

    let tidying = Duration::from_secs(60);
    let held = t.indexer.store().claim(indexer::TIDYING, "pid 1 (another process)", tidying);
    assert_eq!(held.await.unwrap(), None);
    let second = GitRepo::from_fixture("python-pkg");
    let status = t.index(local(second.path()), None).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    assert!(t.indexer.untidied().await.unwrap() > 0, "left to the other process");
    let search = crate::support::query("inventory", indexer::Mode::Lexical);
    assert!(!t.indexer.search(&search).await.unwrap().is_empty(), "searched as they are");

    t.indexer.store().release(indexer::TIDYING, "pid 1 (another process)").await.unwrap();
    let third = GitRepo::from_fixture("ts-app");
    t.index(local(third.path()), None).await;
    assert_eq!(t.indexer.untidied().await.unwrap(), 0, "the next tidying folds them all in");
}

#[tokio::test]
async fn a_remote_is_cloned_then_fetched() {
    let upstream = GitRepo::from_fixture("rust-crate");
    // `Source::parse` takes only https URLs; a file URL exercises the same clone and fetch code.
    let source = Source::Remote { url: format!("file://{}", upstream.path().display()) };
    let t = TestIndexer::new().await;

    let cloned = t.index(source.clone(), None).await;
    assert_eq!(cloned.repo.status, JobState::Ready, "{:?}", cloned.repo.error);
    assert!(cloned.repo.checkout.starts_with(t.data.path().join("repos")));

    upstream.write("src/extra.rs", "pub fn extra() {}\n");
    let head = upstream.commit("add extra.rs");
    let fetched = t.index(source, None).await;
    assert_eq!(fetched.repo.status, JobState::Ready, "{:?}", fetched.repo.error);
    assert_eq!(fetched.repo.commit.as_deref(), Some(head.as_str()));
    assert_eq!(fetched.files_parsed, 1);
}

#[tokio::test]
async fn bad_sources_fail_the_job_with_a_clear_reason() {
    let t = TestIndexer::new().await;
    let upstream = GitRepo::from_fixture("python-pkg");
    let url = format!("file://{}", upstream.path().display());

    let missing_branch = t.index(Source::Remote { url: url.clone() }, Some("no-such-branch")).await;
    assert_eq!(missing_branch.repo.status, JobState::Failed);
    assert_eq!(
        missing_branch.repo.error.unwrap(),
        format!("branch `no-such-branch` does not exist in {url}")
    );

    let empty = GitRepo::new();
    let empty_url = format!("file://{}", empty.path().display());
    let status = t.index(Source::Remote { url: empty_url.clone() }, None).await;
    assert_eq!(
        status.repo.error.unwrap(),
        format!("{empty_url} is an empty repository: there is no commit to index")
    );

    let unreachable =
        t.index(Source::Remote { url: "http://127.0.0.1:9/team/project".into() }, None).await;
    assert_eq!(unreachable.repo.status, JobState::Failed);
    assert!(
        unreachable
            .repo
            .error
            .unwrap()
            .starts_with("cannot fetch http://127.0.0.1:9/team/project: ")
    );
}

#[tokio::test]
async fn a_failed_re_index_keeps_the_previous_index() {
    let upstream = GitRepo::from_fixture("rust-crate");
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("upstream");
    let source = Source::Remote { url: format!("file://{}", moved.display()) };
    std::fs::rename(upstream.path(), &moved).unwrap();
    let t = TestIndexer::new().await;
    let ok = t.index(source.clone(), None).await;
    assert_eq!(ok.repo.status, JobState::Ready, "{:?}", ok.repo.error);

    std::fs::remove_dir_all(&moved).unwrap();
    let failed = t.index(source, None).await;
    assert_eq!(failed.repo.status, JobState::Failed);
    assert_eq!(failed.repo.commit, ok.repo.commit);
    let graph = t.indexer.graph(&ok.repo.id).await.unwrap();
    assert_eq!(graph.symbol_count() as u32, ok.repo.stats.symbols);
}

#[tokio::test]
async fn a_second_request_joins_the_running_job() {
    let git = GitRepo::from_fixture("ts-app");
    let t = TestIndexer::new().await;
    let first = t.indexer.submit(local(git.path()), None, None).await.unwrap();
    let second = t.indexer.submit(local(git.path()), None, None).await.unwrap();
    assert!(first.same_channel(&second));
    let done = indexer::finished(second).await;
    assert_eq!(done.repo.status, JobState::Ready);
}

#[tokio::test]
async fn reverting_an_uncommitted_change_is_noticed() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    let clean = t.index(local(git.path()), None).await;

    let pricing = std::fs::read_to_string(git.path().join("stockroom/pricing.py")).unwrap();
    git.write("stockroom/pricing.py", &format!("{pricing}\ndef discount(item):\n    return 0\n"));
    let dirty = t.index(local(git.path()), None).await;
    assert_eq!(dirty.repo.stats.symbols, clean.repo.stats.symbols + 1);

    // Back to the committed content: HEAD never moved, yet the stored facts must follow.
    git.write("stockroom/pricing.py", &pricing);
    let reverted = t.index(local(git.path()), None).await;
    assert_eq!(reverted.files_parsed, 1);
    assert_eq!(reverted.repo.stats.symbols, clean.repo.stats.symbols);
}

/// An organization's clone aimed at this machine (here: a listener on loopback, named by address
/// and by name) is refused with the reason and connects nowhere; the operator's own clone of the
/// same URL, and an organization's clone of a host the operator allows, do reach it, so the guard
/// is what stops the other.
#[tokio::test]
async fn an_organization_s_clone_of_a_loopback_url_connects_nowhere() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let knocks = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&knocks);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let t = TestIndexer::new().await;
    // Named by address, it is refused before anything starts, with the reason.
    let literal = Source::parse(&format!("https://127.0.0.1:{port}/acme/app")).unwrap();
    let refused = t.indexer.submit(literal, None, Some(42)).await.unwrap_err().to_string();
    assert!(refused.contains("not on the public internet"), "{refused}");
    assert!(refused.contains("index.allowed_hosts"), "{refused}");
    // Named by a host name that resolves to it, likewise. (Were the name to resolve elsewhere
    // at first, the clone's egress proxy would refuse it as it connects: see `egress.rs`.)
    let named = Source::parse(&format!("https://localhost:{port}/acme/app")).unwrap();
    let refused = t.indexer.submit(named, None, Some(42)).await.unwrap_err().to_string();
    assert!(refused.contains("resolves only to"), "{refused}");
    assert_eq!(knocks.load(Ordering::SeqCst), 0, "an organization's clone reached loopback");
    // An operator may allow a self-hosted forge by name; its clone then connects.
    let egress =
        indexer::egress::Egress { allowed_hosts: vec!["localhost".into()], ..Default::default() };
    let allowed =
        TestIndexer::with_clones(CloneOptions { egress, ..CloneOptions::default() }).await;
    let named = Source::parse(&format!("https://localhost:{port}/acme/app")).unwrap();
    let job = allowed.indexer.submit(named, None, Some(42)).await.unwrap();
    assert_eq!(
        indexer::finished(job).await.repo.status,
        JobState::Failed,
        "nothing there speaks git"
    );
    assert!(knocks.load(Ordering::SeqCst) > 0, "the allowed host was reached");
    let before = knocks.load(Ordering::SeqCst);

    let source = Source::parse(&format!("https://127.0.0.1:{port}/acme/app")).unwrap();
    let status = t.index(source, None).await;
    assert_eq!(status.repo.status, JobState::Failed, "nothing there speaks git");
    assert!(knocks.load(Ordering::SeqCst) > before, "the operator's clone went through");
}

/// An organization's repositories come over https only; plain http is refused up front.
#[tokio::test]
async fn an_organization_s_clone_is_https_only() {
    let t = TestIndexer::new().await;
    let http = Source::Remote { url: "http://example.com/acme/app".into() };
    let refused = t.indexer.submit(http, None, Some(42)).await.unwrap_err().to_string();
    assert!(refused.contains("https only"), "{refused}");
}

/// A re-index checks the new commit out beside the tree readers use, and swaps the new tree in
/// with the new graph: a read during the job sees the old tree whole, and a symlink that the new
/// commit puts in a file's place never leads a read outside the tree.
#[tokio::test]
async fn a_symlink_swapped_in_during_a_re_index_is_never_followed() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("master.key");
    std::fs::write(&secret, "AGENTWATCH_MASTER_KEY=do-not-leak\n").unwrap();
    let upstream = GitRepo::from_fixture("rust-crate");
    let source = Source::Remote { url: format!("file://{}", upstream.path().display()) };
    let t = TestIndexer::new().await;
    let first = t.index(source.clone(), None).await;
    assert_eq!(first.repo.status, JobState::Ready, "{:?}", first.repo.error);
    let original = std::fs::read_to_string(upstream.path().join("src/lib.rs")).unwrap();

    std::fs::remove_file(upstream.path().join("src/lib.rs")).unwrap();
    std::os::unix::fs::symlink(&secret, upstream.path().join("src/lib.rs")).unwrap();
    upstream.write("src/extra.rs", "pub fn extra() {}\n");
    let head = upstream.commit("swap a symlink in");

    let job = t.indexer.submit(source, None, None).await.unwrap();
    let mut reads = 0;
    loop {
        let ended = job.borrow().repo.status.is_final();
        // Readers find the tree through the stored record, as every tool does.
        let repo = t.indexer.find(&first.repo.id).await.unwrap();
        match indexer::beneath::read_text(&repo.checkout, "src/lib.rs") {
            Ok(text) => assert_eq!(text, original, "a read saw a tree other than the old one"),
            Err(e) => {
                assert_eq!(repo.commit.as_deref(), Some(head.as_str()), "{e}");
                assert!(!e.to_string().contains("do-not-leak"));
            }
        }
        reads += 1;
        if ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let done = indexer::finished(job).await;
    assert_eq!(done.repo.status, JobState::Ready, "{:?}", done.repo.error);
    assert_eq!(done.repo.commit.as_deref(), Some(head.as_str()));
    assert_ne!(done.repo.checkout, first.repo.checkout, "a new tree, beside the old one");
    assert!(reads > 1);
    // The old tree was never written to, and the new one's link is refused.
    let old = std::fs::read_to_string(first.repo.checkout.join("src/lib.rs")).unwrap();
    assert_eq!(old, original);
    let read = indexer::beneath::read_text(&done.repo.checkout, "src/lib.rs");
    assert!(read.as_ref().is_err() || !read.unwrap().contains("do-not-leak"));
    let graph = t.indexer.graph(&done.repo.id).await.unwrap();
    assert!(graph.files.iter().any(|f| f.path == "src/extra.rs"));
}

/// At rest a clone keeps its git directory and at most two trees (the one in use and the one it
/// replaced); removing the repository removes them all.
#[tokio::test]
async fn old_trees_are_pruned_and_removal_leaves_nothing() {
    let upstream = GitRepo::from_fixture("python-pkg");
    let source = Source::Remote { url: format!("file://{}", upstream.path().display()) };
    let t = TestIndexer::new().await;
    let mut id = String::new();
    for round in 0..3 {
        upstream.write("pkg/round.py", &format!("ROUND = {round}\n"));
        upstream.commit(&format!("round {round}"));
        let status = t.index(source.clone(), None).await;
        assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
        id = status.repo.id;
    }
    let repos = t.data.path().join("repos");
    let folders = || -> Vec<String> {
        std::fs::read_dir(&repos)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let trees = folders().iter().filter(|n| !n.ends_with(".git")).count();
    assert_eq!(trees, 2, "{:?}", folders());
    assert!(folders().contains(&format!("{id}.git")));
    t.indexer.remove(&id).await.unwrap();
    assert!(folders().is_empty(), "{:?}", folders());
}

/// A commit with more files, or more bytes checked out, than the limits is refused before any
/// of it is written; the reason names the setting.
#[tokio::test]
async fn a_clone_over_the_limits_is_refused_unwritten() {
    let upstream = GitRepo::from_fixture("python-pkg");
    let source = Source::Remote { url: format!("file://{}", upstream.path().display()) };
    let t =
        TestIndexer::with_clones(CloneOptions { max_files: 2, ..CloneOptions::default() }).await;
    let status = t.index(source.clone(), None).await;
    assert_eq!(status.repo.status, JobState::Failed);
    let error = status.repo.error.unwrap();
    assert!(error.contains("more than 2 files (index.max_clone_files)"), "{error}");
    let trees = std::fs::read_dir(t.data.path().join("repos"))
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".git"))
        .count();
    assert_eq!(trees, 0, "nothing was checked out");

    upstream.write("big.bin", &"x".repeat(3 << 20));
    upstream.commit("a large file");
    let egress = indexer::egress::Egress { max_bytes: 2 << 20, ..Default::default() };
    let t = TestIndexer::with_clones(CloneOptions { egress, ..CloneOptions::default() }).await;
    let error = t.index(source, None).await.repo.error.unwrap();
    assert!(error.contains("more than 2 MiB checked out (index.max_clone_mb)"), "{error}");
}

/// An organization may hold only so many repositories; re-indexing one it has is always allowed,
/// and another organization's count is its own.
#[tokio::test]
async fn an_organization_s_repository_quota_holds() {
    let t =
        TestIndexer::with_clones(CloneOptions { max_repos_per_org: 1, ..CloneOptions::default() })
            .await;
    let (a, b) = (GitRepo::from_fixture("python-pkg"), GitRepo::from_fixture("ts-app"));
    let first =
        indexer::finished(t.indexer.submit(local(a.path()), None, Some(5)).await.unwrap()).await;
    assert_eq!(first.repo.status, JobState::Ready, "{:?}", first.repo.error);
    let refused = t.indexer.submit(local(b.path()), None, Some(5)).await.unwrap_err();
    assert!(matches!(refused, IndexError::OverQuota(1)), "{refused}");
    assert!(refused.to_string().contains("index.max_repos_per_org"), "{refused}");
    let again = t.indexer.submit(local(a.path()), None, Some(5)).await;
    assert!(again.is_ok(), "a re-index is not a new repository");
    indexer::finished(again.unwrap()).await;
    let other = t.indexer.submit(local(b.path()), None, Some(6)).await;
    assert!(other.is_ok(), "another organization's quota is its own");
    indexer::finished(other.unwrap()).await;
}

/// A repository indexed when ids were 48 bits long keeps its id, and so its rows and its
/// checkout, when it is indexed again.
#[tokio::test]
async fn a_repository_indexed_under_a_short_id_keeps_it() {
    let git = GitRepo::from_fixture("python-pkg");
    let t = TestIndexer::new().await;
    let source = local(git.path());
    let short = Source::legacy_id(&source.id(None, None)).to_owned();
    // As an older version stored it.
    let stored = indexer::RepoRecord {
        id: short.clone(),
        name: source.name(),
        source: source.location(),
        remote: false,
        branch: None,
        checkout: git.path().canonicalize().unwrap(),
        status: JobState::Ready,
        commit: None,
        dirty: Vec::new(),
        stats: Default::default(),
        error: None,
        indexed_at: None,
        owner: None,
        vectors: None,
    };
    t.indexer.store().save_repo(&stored).await.unwrap();

    let status = t.index(source.clone(), None).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    assert_eq!(status.repo.id, short);
    let ids: Vec<String> =
        t.indexer.store().repos().await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [short]);
    // Another organization's repository of the same folder is its own, under a full id.
    let theirs = indexer::finished(t.indexer.submit(source, None, Some(9)).await.unwrap()).await;
    assert_eq!(theirs.repo.id.len(), 32);
}

/// A clone set to sync is fetched on schedule; a fetch that finds nothing new costs that round
/// trip and leaves the index (and its generation, which other processes reload on) as it was.
#[tokio::test]
async fn a_clone_is_fetched_on_schedule_and_a_fetch_with_nothing_new_changes_nothing() {
    let upstream = GitRepo::from_fixture("rust-crate");
    let source = Source::Remote { url: format!("file://{}", upstream.path().display()) };
    let t = TestIndexer::new().await;
    let first = t.index(source.clone(), None).await;
    let id = first.repo.id.clone();
    let generation = t.indexer.store().generation(&id).await.unwrap();

    let again = t.index(source, None).await;
    assert_eq!((again.repo.status, again.files_parsed), (JobState::Ready, 0));
    assert_eq!(again.repo.indexed_at, first.repo.indexed_at, "nothing was re-indexed");
    assert_eq!(again.repo.stats, first.repo.stats);
    assert_eq!(t.indexer.store().generation(&id).await.unwrap(), generation);

    let every_second = indexer::RepoSettings { sync_every: Some(1), ..Default::default() };
    t.indexer.save_settings(&id, &every_second).await.unwrap();
    let _syncing = t.indexer.keep_syncing(Duration::from_millis(100));
    upstream.write("src/extra.rs", "pub fn extra() {}\n");
    let head = upstream.commit("add extra.rs");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let repo = t.indexer.find(&id).await.unwrap();
        if repo.commit.as_deref() == Some(head.as_str()) && repo.status == JobState::Ready {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never fetched: {:?}", repo.commit);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
