//! A forge's push as the core takes it (`Knowledge::push`): it reaches only the repositories
//! whose own webhook secret vouches for it, even where two organizations index one URL.

use std::sync::Arc;

use indexer::{IndexStats, Indexer, IndexerConfig, JobState, RepoRecord};
use knowledge::caller::Pending;
use knowledge::{
    Account, Call, Caller, Knowledge, KnowledgeError, Push, RateLimit, Screening, Sealer,
    SettingsChange,
};

/// An account that admits every call and redacts nothing.
#[derive(Debug)]
struct Open;

impl Account for Open {
    fn admit(&self) -> Pending<'_, Result<Option<RateLimit>, KnowledgeError>> {
        Box::pin(async { Ok(None) })
    }

    fn screen(&self, _: &mut serde_json::Value) -> Screening {
        Screening::default()
    }

    fn meter(&self, _: Call) {}
}

/// Seals by reversing the bytes behind a marker, and opens only what it sealed: a stand-in for the
/// binary's master key (the end-to-end tests check that one, at rest).
#[derive(Debug)]
struct Reversed;

impl Sealer for Reversed {
    fn seal(&self, secret: &str) -> Vec<u8> {
        let mut sealed = b"sealed:".to_vec();
        sealed.extend(secret.bytes().rev());
        sealed
    }

    fn open(&self, sealed: &[u8]) -> Option<String> {
        let reversed = sealed.strip_prefix(b"sealed:")?;
        String::from_utf8(reversed.iter().rev().copied().collect()).ok()
    }
}

const URL: &str = "https://git.example.com/team/shop";

/// The same repository URL indexed by organizations 7 and 8, each with its own webhook secret;
/// the ids of their repositories.
async fn one_url_two_organizations() -> (tempfile::TempDir, Knowledge, String, String) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let indexer = Indexer::open(IndexerConfig::in_data_dir(data.path(), storage)).await.unwrap();
    let knowledge = Knowledge::new(Arc::clone(&indexer)).with_sealer(Arc::new(Reversed));
    let mut ids = Vec::new();
    for owner in [7, 8] {
        let id = format!("shop-of-{owner}");
        let record = RepoRecord {
            id: id.clone(),
            name: "team/shop".into(),
            source: URL.into(),
            remote: true,
            branch: None,
            checkout: data.path().join("repos").join(&id),
            status: JobState::Ready,
            commit: Some("1".repeat(40)),
            dirty: Vec::new(),
            stats: IndexStats::default(),
            error: None,
            indexed_at: Some(1),
            owner: Some(owner),
            vectors: None,
        };
        indexer.store().save_repo(&record).await.unwrap();
        let member = Caller::member(Some(owner), false, Arc::new(Open));
        let secret = format!("secret-of-{owner}");
        let change =
            SettingsChange { webhook_secret: Some(Some(secret)), ..SettingsChange::default() };
        let view = knowledge.for_caller(&member).configure(Some(&id), change).await.unwrap();
        assert!(view.webhook);
        ids.push(id);
    }
    let eight = ids.pop().unwrap();
    (data, knowledge, ids.pop().unwrap(), eight)
}

fn ping(url: &str) -> Push {
    Push { urls: vec![url.to_owned()], branch: None, default_branch: None, deleted: false }
}

#[tokio::test]
async fn a_push_reaches_only_the_repositories_whose_secret_it_proves() {
    let (_data, knowledge, seven, eight) = one_url_two_organizations().await;

    /// A check that accepts exactly `secret`.
    fn proves(secret: &'static str) -> impl Fn(&str) -> bool + Sync {
        move |offered| offered == secret
    }
    let reached = knowledge.push(&ping(URL), &proves("secret-of-7")).await.unwrap();
    let ids: Vec<&str> = reached.iter().map(|r| r.repo_id.as_str()).collect();
    assert_eq!(ids, [seven.as_str()]);
    assert!(reached[0].job.is_none(), "a ping starts nothing");

    let reached = knowledge.push(&ping(&format!("{URL}.git/")), &proves("secret-of-8")).await;
    let ids: Vec<String> = reached.unwrap().into_iter().map(|r| r.repo_id).collect();
    assert_eq!(ids, [eight], "the clone URL names the same repository");

    let guessed = knowledge.push(&ping(URL), &proves("secret")).await.unwrap();
    assert!(guessed.is_empty(), "no secret, no repository");
    let elsewhere = knowledge.push(&ping("https://git.example.com/team/other"), &|_| true).await;
    assert!(elsewhere.unwrap().is_empty(), "a URL nobody indexed reaches nothing");
}

#[tokio::test]
async fn a_repository_without_a_secret_takes_no_push_and_a_removed_secret_ends_them() {
    let (_data, knowledge, seven, _) = one_url_two_organizations().await;
    let member = Caller::member(Some(7), false, Arc::new(Open));
    let remove = SettingsChange { webhook_secret: Some(None), ..SettingsChange::default() };
    let view = knowledge.for_caller(&member).configure(Some(&seven), remove).await.unwrap();
    assert!(!view.webhook);
    let reached = knowledge.push(&ping(URL), &|s: &str| s == "secret-of-7").await.unwrap();
    assert!(reached.is_empty(), "{reached:?}");
}

#[tokio::test]
async fn a_viewer_cannot_set_a_secret_and_another_organization_cannot_see_the_repository() {
    let (_data, knowledge, seven, _) = one_url_two_organizations().await;
    let set = || SettingsChange { webhook_secret: Some(Some("x".into())), ..Default::default() };
    let viewer = Caller::member(Some(7), true, Arc::new(Open));
    let refused = knowledge.for_caller(&viewer).configure(Some(&seven), set()).await;
    assert!(matches!(refused, Err(KnowledgeError::Forbidden(_))), "{refused:?}");
    let stranger = Caller::member(Some(8), false, Arc::new(Open));
    let unknown = knowledge.for_caller(&stranger).configure(Some(&seven), set()).await;
    assert!(matches!(unknown, Err(KnowledgeError::UnknownRepo(_))), "{unknown:?}");
}
