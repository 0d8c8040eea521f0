//! Scheduled fetches: a cloned repository whose settings ask for it ([`RepoSettings::sync_every`])
//! is brought up to date that often, for forges that cannot send a push webhook. A fetch that
//! finds no new commit ends the job there (see `Indexer::index`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::jobs::{Indexer, unix_now};
#[cfg(doc)]
use crate::store::RepoSettings;

impl Indexer {
    /// Every `every`, submits a job for each clone whose sync interval has passed since it was
    /// last indexed or tried, for as long as the task runs.
    pub fn keep_syncing(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // When this process last started each one's job (a fetch that found nothing new, or
            // failed, leaves `indexed_at` as it was).
            let mut tried: HashMap<String, i64> = HashMap::new();
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = this.sync_due(&mut tried).await {
                    tracing::warn!("cannot look for repositories due a sync: {e}");
                }
            }
        })
    }

    async fn sync_due(
        self: &Arc<Self>,
        tried: &mut HashMap<String, i64>,
    ) -> Result<(), crate::IndexError> {
        let (repos, settings) = tokio::try_join!(self.store().repos(), self.store().settings())?;
        let now = unix_now();
        for repo in repos.into_iter().filter(|r| r.remote) {
            let Some(every) = settings.get(&repo.id).and_then(|s| s.sync_every) else { continue };
            let last = repo.indexed_at.unwrap_or(0).max(tried.get(&repo.id).copied().unwrap_or(0));
            if now < last.saturating_add(every as i64) || self.running(&repo.id).is_some() {
                continue;
            }
            tried.insert(repo.id.clone(), now);
            tracing::info!(repo = %repo.id, "fetching on schedule");
            let submitted = self.submit(repo.origin(), repo.branch, repo.owner).await;
            if let Err(e) = submitted {
                tracing::warn!(repo = %repo.id, "cannot start the scheduled fetch: {e}");
            }
        }
        Ok(())
    }
}
