//! What this process's index jobs did, for the knowledge server's `/metrics` (the `knowledge`
//! crate encodes it): how jobs ended, and how long each one spent in each state. Process-wide,
//! as the jobs a process runs are; a job is followed from its own status channel, so the
//! pipeline itself knows nothing of metrics.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::jobs::{JobState, JobStatus};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    /// `ready` or `failed`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    /// `queued`, `cloning`, `parsing` or `embedding`.
    stage: &'static str,
}

struct JobMetrics {
    ended: Family<OutcomeLabels, Counter>,
    stages: Family<StageLabels, Histogram>,
}

fn stage_histogram() -> Histogram {
    // 10 ms to about 1.5 hours.
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

static JOBS: LazyLock<JobMetrics> = LazyLock::new(|| JobMetrics {
    ended: Family::default(),
    stages: Family::new_with_constructor(stage_histogram as fn() -> Histogram),
});

/// Registers the index jobs' counters in `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "index_jobs",
        "Index jobs this process ran to their end, by outcome (ready, failed)",
        JOBS.ended.clone(),
    );
    registry.register(
        "index_stage_duration_seconds",
        "Time index jobs spent in each state (queued, cloning, parsing, embedding)",
        JOBS.stages.clone(),
    );
}

/// Follows a job from its status channel until it ends: each state it leaves is timed, and its
/// end is counted. A state held for less time than this task takes to wake may go unseen.
/// Each job is also a trace: a root span for the job and a child span per state, which become
/// OpenTelemetry spans when the binary sends traces.
pub(crate) async fn follow(mut job: watch::Receiver<JobStatus>) {
    let (mut state, repo) = {
        let status = job.borrow_and_update();
        (status.repo.status, status.repo.id.clone())
    };
    let trace = tracing::info_span!(
        parent: None,
        "index job",
        otel.name = "index",
        agentwatch.repo = repo,
        agentwatch.outcome = tracing::field::Empty,
    );
    let mut stage = stage_span(&trace, state);
    let mut since = Instant::now();
    while job.changed().await.is_ok() {
        let now = job.borrow_and_update().repo.status;
        if now == state {
            continue;
        }
        let labels = StageLabels { stage: state.as_str() };
        JOBS.stages.get_or_create(&labels).observe(since.elapsed().as_secs_f64());
        if now.is_final() {
            JOBS.ended.get_or_create(&OutcomeLabels { outcome: now.as_str() }).inc();
            trace.record("agentwatch.outcome", now.as_str());
            return;
        }
        (state, since) = (now, Instant::now());
        stage = stage_span(&trace, state);
    }
    drop(stage);
}

fn stage_span(job: &tracing::Span, state: JobState) -> tracing::Span {
    tracing::info_span!(
        parent: job,
        "index stage",
        otel.name = %format!("index {}", state.as_str()),
        agentwatch.stage = state.as_str(),
    )
}
