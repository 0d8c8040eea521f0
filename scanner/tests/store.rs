//! Scans as the store keeps them: a scan's life, its findings filtered and paged, what changed
//! since the scan before, and a repository's scans going with it.

use std::time::Duration;

use scanner::{
    Category, EnclosingSymbol, Finding, FindingFilter, Origin, ScanState, ScanStore, Severity,
    Tool, ToolRun, ToolStatus,
};
use storage::Storage;

/// The data dir's database holding the repositories `repos` (the indexer writes them; scans
/// reference them).
async fn database(dir: &std::path::Path, repos: &[&str]) -> Storage {
    let storage = storage::testing::open(dir).await;
    for repo in repos {
        sqlx::query(
            "INSERT INTO repositories (id, name, source, remote, checkout, status) \
             VALUES ($1, $2, '/src', 0, '/src', 'ready')",
        )
        .bind(repo)
        .bind(repo)
        .execute(storage.pool())
        .await
        .unwrap();
    }
    storage
}

fn finding(
    tool: Tool,
    rule: &str,
    severity: Severity,
    path: &str,
    line: u32,
    symbol: Option<&str>,
) -> Finding {
    Finding {
        tool,
        category: Category::Code,
        rule_id: rule.to_owned(),
        severity,
        title: rule.to_owned(),
        message: format!("{rule} at {path}"),
        path: path.to_owned(),
        start_line: Some(line),
        end_line: Some(line),
        cwe: vec!["CWE-89".to_owned()],
        cve: Vec::new(),
        package: None,
        fingerprint: format!("{rule}@{path}"),
        url: None,
        symbol: symbol.map(|s| EnclosingSymbol {
            id: format!("{path}::{s}"),
            kind: "function".to_owned(),
            name: s.to_owned(),
            callers: 1,
        }),
    }
}

fn run(tool: Tool, findings: Vec<Finding>) -> ToolRun {
    ToolRun { tool, status: ToolStatus::Ok, findings, duration: Duration::from_millis(1200) }
}

#[tokio::test]
async fn a_scan_goes_from_queued_to_done_or_failed_and_the_newest_done_one_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = ScanStore::new(&database(dir.path(), &["r1"]).await);
    let first = store.create("r1", Some("abc"), Origin::Run).await.unwrap();
    assert_eq!(first.state, ScanState::Queued);
    store.start(&first.id).await.unwrap();
    assert_eq!(store.get(&first.id).await.unwrap().unwrap().state, ScanState::Running);
    let missing = ToolStatus::NotInstalled("trivy is missing: install it".to_owned());
    let runs = [
        run(
            Tool::Semgrep,
            vec![finding(Tool::Semgrep, "sqli", Severity::High, "app/db.py", 3, None)],
        ),
        ToolRun {
            tool: Tool::Trivy,
            status: missing.clone(),
            findings: Vec::new(),
            duration: Duration::ZERO,
        },
    ];
    store.finish(&first.id, &runs).await.unwrap();
    let done = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(done.state, ScanState::Done);
    assert!(done.finished_at.is_some());
    assert_eq!(done.commit.as_deref(), Some("abc"));
    let tools: Vec<_> = done.tools.iter().map(|t| (t.tool, t.status.clone(), t.findings)).collect();
    assert_eq!(tools, [(Tool::Semgrep, ToolStatus::Ok, 1), (Tool::Trivy, missing, 0)]);

    let second = store.create("r1", Some("def"), Origin::Run).await.unwrap();
    store.fail(&second.id, "the checkout is gone").await.unwrap();
    let failed = store.get(&second.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (ScanState::Failed, Some("the checkout is gone"))
    );

    let listed: Vec<String> = store.list("r1").await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, [second.id.clone(), first.id.clone()], "newest first");
    assert_eq!(
        store.latest_done("r1").await.unwrap().unwrap().id,
        first.id,
        "a failed scan describes nothing"
    );
    let err = store.start("scan-nope").await.unwrap_err().to_string();
    assert!(err.starts_with("no scan \"scan-nope\""), "{err}");
}

#[tokio::test]
async fn findings_are_filtered_worst_first_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let store = ScanStore::new(&database(dir.path(), &["r1"]).await);
    let scan = store.create("r1", None, Origin::Run).await.unwrap();
    let findings = vec![
        finding(Tool::Semgrep, "weak-hash", Severity::Medium, "app/util.py", 9, Some("etag")),
        finding(Tool::Semgrep, "sqli", Severity::High, "app/db.py", 3, Some("find_order")),
        finding(Tool::Semgrep, "shell", Severity::High, "appendix/run.py", 1, None),
        finding(Tool::Semgrep, "debug", Severity::Info, "app.py", 2, None),
    ];
    let trivy = vec![finding(Tool::Trivy, "DS-0002", Severity::Critical, "Dockerfile", 1, None)];
    store.finish(&scan.id, &[run(Tool::Semgrep, findings), run(Tool::Trivy, trivy)]).await.unwrap();

    let rules = |filter: FindingFilter| {
        let store = store.clone();
        let id = scan.id.clone();
        async move {
            let (found, total) = store.findings(&id, &filter).await.unwrap();
            (found.into_iter().map(|f| f.rule_id).collect::<Vec<_>>(), total)
        }
    };
    let all = rules(FindingFilter::default()).await;
    assert_eq!(
        all,
        (
            vec![
                "DS-0002".into(),
                "sqli".into(),
                "shell".into(),
                "weak-hash".into(),
                "debug".into()
            ],
            5
        )
    );
    let high = FindingFilter { min_severity: Some(Severity::High), ..FindingFilter::default() };
    assert_eq!(rules(high).await.1, 3);
    let trivy = FindingFilter { tools: vec![Tool::Trivy], ..FindingFilter::default() };
    assert_eq!(rules(trivy).await.0, ["DS-0002"]);
    let folder = FindingFilter { path: Some("app".into()), ..FindingFilter::default() };
    assert_eq!(
        rules(folder).await.0,
        ["sqli", "weak-hash"],
        "app/ holds neither appendix/ nor app.py"
    );
    let file = FindingFilter { path: Some("app.py".into()), ..FindingFilter::default() };
    assert_eq!(rules(file).await.0, ["debug"]);
    let symbol = FindingFilter { symbol: Some("order".into()), ..FindingFilter::default() };
    assert_eq!(rules(symbol).await.0, ["sqli"]);
    let literal = FindingFilter { symbol: Some("%".into()), ..FindingFilter::default() };
    assert_eq!(rules(literal).await.1, 0, "a % is a character, not a wildcard");
    let page = FindingFilter { limit: Some(2), offset: 2, ..FindingFilter::default() };
    assert_eq!(rules(page).await, (vec!["shell".into(), "weak-hash".into()], 5));

    let counts = store.counts(&scan.id).await.unwrap();
    let counts: Vec<u32> = Severity::ALL.iter().map(|s| counts[s]).collect();
    assert_eq!(counts, [1, 0, 1, 2, 1], "info, low, medium, high, critical");

    let stored = store.findings(&scan.id, &FindingFilter::default()).await.unwrap().0;
    let sqli = stored.iter().find(|f| f.rule_id == "sqli").unwrap();
    assert_eq!(
        *sqli,
        finding(Tool::Semgrep, "sqli", Severity::High, "app/db.py", 3, Some("find_order")),
        "read back whole"
    );
}

#[tokio::test]
async fn a_scan_says_what_is_new_and_what_was_fixed_since_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = ScanStore::new(&database(dir.path(), &["r1", "r2"]).await);
    let scan_of = |repo: &'static str, findings: Vec<Finding>| {
        let store = store.clone();
        async move {
            let scan = store.create(repo, None, Origin::Run).await.unwrap();
            store.finish(&scan.id, &[run(Tool::Semgrep, findings)]).await.unwrap();
            store.get(&scan.id).await.unwrap().unwrap()
        }
    };
    let sqli = finding(Tool::Semgrep, "sqli", Severity::High, "db.py", 3, None);
    let shell = finding(Tool::Semgrep, "shell", Severity::High, "run.py", 7, None);
    let weak = finding(Tool::Semgrep, "weak-hash", Severity::Medium, "util.py", 1, None);

    let first = scan_of("r1", vec![sqli.clone(), weak.clone()]).await;
    assert_eq!(store.diff(&first).await.unwrap().previous, None);
    scan_of("r2", vec![shell.clone()]).await; // another repository's scans do not count
    let second = scan_of("r1", vec![weak.clone(), shell.clone()]).await;
    let diff = store.diff(&second).await.unwrap();
    assert_eq!(diff.previous.as_deref(), Some(first.id.as_str()));
    assert_eq!(diff.new.into_iter().collect::<Vec<_>>(), [shell.fingerprint]);
    assert_eq!(diff.fixed.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(), ["sqli"]);
}

#[tokio::test]
async fn a_repositorys_scans_go_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = database(dir.path(), &["r1"]).await;
    let store = ScanStore::new(&storage);
    let scan = store.create("r1", None, Origin::Import).await.unwrap();
    store
        .finish(
            &scan.id,
            &[run(Tool::Trivy, vec![finding(Tool::Trivy, "x", Severity::Low, "a", 1, None)])],
        )
        .await
        .unwrap();

    let db = storage.pool();
    sqlx::query("DELETE FROM repositories WHERE id = 'r1'").execute(db).await.unwrap();
    assert!(store.get(&scan.id).await.unwrap().is_none());
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scan_findings").fetch_one(db).await.unwrap();
    assert_eq!(left, 0);

    let orphan = store.create("nowhere", None, Origin::Run).await;
    assert!(orphan.is_err(), "a scan belongs to a stored repository");
}
