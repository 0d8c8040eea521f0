//! The knowledge server's `/metrics`, in Prometheus text format through `prometheus-client`:
//! calls by face and tool, search latency by mode, scans and their findings by severity, and the
//! indexer's jobs (`indexer::metrics`) with, read at scrape time, the jobs running by state and
//! the chunks still waiting for a vector. Process-wide, as what a process serves is. Every label
//! value is one of this server's own names, never a caller's text.

use std::sync::LazyLock;
use std::time::Duration;

use indexer::{Indexer, JobState, Mode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use scanner::ToolRun;

use crate::caller::Call;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// `mcp` or `rest`.
    face: &'static str,
    /// An MCP tool (`search_code`) or a REST route (`GET /api/knowledge/search`).
    tool: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    face: &'static str,
    tool: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    /// `lexical`, `semantic`, `hybrid`, or `locate`.
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScannerLabels {
    /// `semgrep`, `trivy` or `checkov`.
    tool: &'static str,
    /// `ok`, `failed`, `not_installed`, `timed_out` or `cancelled`.
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    tool: &'static str,
    severity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

struct Metrics {
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<ToolLabels, Histogram>,
    searches: Family<ModeLabels, Histogram>,
    scans: Family<OutcomeLabels, Counter>,
    scan_seconds: Histogram,
    scanner_runs: Family<ScannerLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
}

fn seconds(start: f64, buckets: u16) -> Histogram {
    Histogram::new(exponential_buckets(start, 2.0, buckets))
}

fn call_histogram() -> Histogram {
    // 1 ms to about 65 s.
    seconds(0.001, 17)
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    calls: Family::default(),
    call_seconds: Family::new_with_constructor(call_histogram as fn() -> Histogram),
    searches: Family::new_with_constructor(call_histogram as fn() -> Histogram),
    scans: Family::default(),
    // 100 ms to about 1.8 hours.
    scan_seconds: seconds(0.1, 17),
    scanner_runs: Family::default(),
    findings: Family::default(),
});

/// Counts a governed call as it is metered.
pub(crate) fn call(call: &Call) {
    let face = call.face.as_str();
    let labels = CallLabels { face, tool: call.name.clone(), status: call.status };
    METRICS.calls.get_or_create(&labels).inc();
    let tool = ToolLabels { face, tool: call.name.clone() };
    METRICS.call_seconds.get_or_create(&tool).observe(call.started.elapsed().as_secs_f64());
}

/// Times a search in `mode` (or `None`: a `locate`).
pub(crate) fn search(mode: Option<Mode>, took: Duration) {
    let mode = mode.map_or("locate", Mode::as_str);
    METRICS.searches.get_or_create(&ModeLabels { mode }).observe(took.as_secs_f64());
}

/// Counts a scan run here that ended: `runs` is what each tool did (none when it failed
/// before any ran).
pub(crate) fn scan(failed: bool, runs: &[ToolRun], took: Duration) {
    let outcome = if failed { "failed" } else { "done" };
    METRICS.scans.get_or_create(&OutcomeLabels { outcome }).inc();
    METRICS.scan_seconds.observe(took.as_secs_f64());
    for run in runs {
        let tool = run.tool.as_str();
        let labels = ScannerLabels { tool, status: run.status.as_str() };
        METRICS.scanner_runs.get_or_create(&labels).inc();
        for finding in &run.findings {
            let labels = FindingLabels { tool, severity: finding.severity.as_str() };
            METRICS.findings.get_or_create(&labels).inc();
        }
    }
}

/// Everything above, and the state of `indexer`'s jobs now, in the text format (OpenMetrics).
pub(crate) fn encode(indexer: &Indexer) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("agentwatch_knowledge");
    let m = &*METRICS;
    registry.register(
        "calls",
        "Calls of MCP tools and REST routes by face, tool and status (over MCP: 200, 400 for a \
         tool error, 403, 429)",
        m.calls.clone(),
    );
    registry.register(
        "call_duration_seconds",
        "Call latency by face and tool",
        m.call_seconds.clone(),
    );
    registry.register(
        "search_duration_seconds",
        "Search latency by mode (lexical, semantic, hybrid; locate for find_relevant_code)",
        m.searches.clone(),
    );
    registry.register(
        "scans",
        "Scans run here that ended, by outcome (done, failed)",
        m.scans.clone(),
    );
    registry.register(
        "scan_duration_seconds",
        "How long scans run here took",
        m.scan_seconds.clone(),
    );
    registry.register(
        "scanner_runs",
        "Each scanner's runs in those scans, by tool and status",
        m.scanner_runs.clone(),
    );
    registry.register(
        "scan_findings",
        "Findings reported by scans run here, by tool and severity",
        m.findings.clone(),
    );
    indexer::metrics::register(&mut registry);

    let running = indexer.jobs_running();
    let by_state: Family<StateLabels, Gauge> = Family::default();
    for state in [JobState::Queued, JobState::Cloning, JobState::Parsing, JobState::Embedding] {
        let n = running.iter().filter(|j| j.repo.status == state).count();
        by_state.get_or_create(&StateLabels { state: state.as_str() }).set(n as i64);
    }
    registry.register("index_jobs_running", "Index jobs running now, by state", by_state);
    let backlog: Gauge = Gauge::default();
    let waiting: u32 = running
        .iter()
        .filter(|j| j.repo.status == JobState::Embedding)
        .map(|j| j.chunks_to_embed.saturating_sub(j.chunks_embedded))
        .sum();
    backlog.set(i64::from(waiting));
    registry.register(
        "embedding_backlog_chunks",
        "Chunks the running embedding stages have still to embed",
        backlog,
    );
    let mut out = String::new();
    text::encode(&mut out, &registry)?;
    Ok(out)
}
