//! Scans when several processes share one data dir (`serve`, `agentwatch scan` in CI, an IDE's
//! `agentwatch mcp`): one scan per repository and commit however many ask, and a scan whose
//! process died is reported as such, not left `running`. The other process is played through the
//! scan store, as it would write.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexer::{Indexer, IndexerConfig, JobState, RepoRecord, Source};
use knowledge::scans::Scans;
use scanner::{Claimed, ScanState, ScanStore, Scanners};

/// A data dir with one indexed repository; the scan service of this process over it (no tools:
/// a scan of its own ends at once) and the store as another process sees it.
async fn data_dir() -> (tempfile::TempDir, Arc<Scans>, ScanStore, RepoRecord) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let indexer =
        Indexer::open(IndexerConfig::in_data_dir(data.path(), storage.clone())).await.unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/python-pkg");
    let job = indexer.submit(Source::parse(fixture.to_str().unwrap()).unwrap(), None, None);
    let status = indexer::finished(job.await.unwrap()).await;
    assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
    let repo = indexer.find(&status.repo.id).await.unwrap();
    let scans = Scans::open(&storage, Scanners::default(), 2, Arc::clone(&indexer));
    let elsewhere = storage::testing::open(data.path()).await;
    (data, scans, ScanStore::new(&elsewhere), repo)
}

#[tokio::test]
async fn a_scan_another_process_is_running_is_joined_not_run_twice() {
    let (_data, scans, other, repo) = data_dir().await;
    let commit = repo.commit.as_deref();
    let Claimed::New(theirs) =
        other.claim(&repo.id, commit, "pid 4194305", Duration::from_secs(30)).await.unwrap()
    else {
        panic!("nothing held the repository yet");
    };
    other.start(&theirs.id).await.unwrap();

    let waiting = tokio::spawn({
        let (scans, repo) = (Arc::clone(&scans), repo.clone());
        async move { scans.run(&repo).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "it waits for the other process's scan");
    other.finish(&theirs.id, &[]).await.unwrap();
    let joined = waiting.await.unwrap();
    assert_eq!((joined.id.as_str(), joined.state), (theirs.id.as_str(), ScanState::Done));
    assert_eq!(other.list(&repo.id).await.unwrap().len(), 1, "one scan, not two");
}

#[tokio::test]
async fn a_scan_whose_process_died_is_failed_saying_so_and_a_new_one_runs() {
    let (_data, scans, other, repo) = data_dir().await;
    let lease = Duration::from_millis(200);
    let Claimed::New(dead) =
        other.claim(&repo.id, repo.commit.as_deref(), "pid 4194305", lease).await.unwrap()
    else {
        panic!("nothing held the repository yet");
    };
    other.start(&dead.id).await.unwrap();
    // Its process never renews the lease.
    tokio::time::sleep(lease * 2).await;

    let abandoned = other.get(&dead.id).await.unwrap().unwrap();
    assert_eq!(abandoned.state, ScanState::Failed);
    assert!(abandoned.error.as_deref().unwrap().contains("stopped before it finished"));
    let fresh = scans.run(&repo).await.unwrap();
    assert_ne!(fresh.id, dead.id);
    assert_eq!(fresh.state, ScanState::Done);
}

#[tokio::test]
async fn two_processes_asking_at_once_get_one_scan() {
    let (_data, _scans, one, repo) = data_dir().await;
    let two = one.clone();
    let lease = Duration::from_secs(30);
    let (a, b) = tokio::join!(
        one.claim(&repo.id, repo.commit.as_deref(), "pid 1", lease),
        two.claim(&repo.id, repo.commit.as_deref(), "pid 2", lease),
    );
    let ids = |c: Claimed| match c {
        Claimed::New(s) => (true, s.id),
        Claimed::Joined(s) => (false, s.id),
    };
    let ((a_new, a_id), (b_new, b_id)) = (ids(a.unwrap()), ids(b.unwrap()));
    assert_eq!(a_id, b_id);
    assert!(a_new != b_new, "one started it, the other joined");
}
