//! Semgrep run for real (the one `scripts/setup.sh` installs) on small folders, with rules written
//! here: what a finding says, how stable its fingerprint is, and how each way of failing reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scanner::semgrep::Semgrep;
use scanner::{Category, Limits, Severity, Tool, ToolStatus};
use tokio_util::sync::CancellationToken;

mod common;
use common::semgrep_binary;

const RULES: &str = r#"
rules:
  - id: weak-hash
    languages: [python]
    severity: WARNING
    message: MD5 is broken for security; use hashlib.sha256
    metadata:
      cwe: ["CWE-328: Use of Weak Hash"]
    pattern: hashlib.md5(...)
  - id: shell-true
    languages: [python]
    severity: ERROR
    message: shell=True runs the command through a shell
    metadata:
      cwe: "CWE-78"
    pattern: subprocess.call(..., shell=True, ...)
"#;

const CODE: &str = "import hashlib\nimport subprocess\n\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(code: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::create_dir_all(dir.path().join("code/app")).unwrap();
        std::fs::write(dir.path().join("rules/python.yml"), RULES).unwrap();
        std::fs::write(dir.path().join("code/app/tasks.py"), code).unwrap();
        Case { dir }
    }

    fn code(&self) -> PathBuf {
        self.dir.path().join("code")
    }

    fn semgrep(&self) -> Semgrep {
        let rules = self.dir.path().join("rules/python.yml").to_string_lossy().into_owned();
        Semgrep { binary: semgrep_binary(), rules: vec![rules], limits: Limits::default() }
    }
}

async fn scan(semgrep: &Semgrep, dir: &Path) -> scanner::ToolRun {
    semgrep.scan(dir, &CancellationToken::new()).await
}

#[tokio::test]
async fn a_finding_has_the_rule_its_severity_cwe_and_lines() {
    let case = Case::new(CODE);
    let run = scan(&case.semgrep(), &case.code()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    assert_eq!(run.tool, Tool::Semgrep);
    let mut findings = run.findings;
    findings.sort_by_key(|f| f.start_line);
    let [md5, shell] = &findings[..] else { panic!("{findings:#?}") };

    assert_eq!(md5.rule_id, "weak-hash");
    assert_eq!(md5.severity, Severity::Medium);
    assert_eq!(md5.category, Category::Code);
    assert_eq!(md5.path, "app/tasks.py");
    assert_eq!((md5.start_line, md5.end_line), (Some(6), Some(6)));
    assert_eq!(md5.cwe, ["CWE-328"]);
    assert!(md5.message.contains("use hashlib.sha256"));

    assert_eq!(shell.rule_id, "shell-true");
    assert_eq!(shell.severity, Severity::High);
    assert_eq!(shell.cwe, ["CWE-78"]);
}

#[tokio::test]
async fn a_fingerprint_survives_code_moving_and_tells_identical_matches_apart() {
    let case = Case::new(CODE);
    let before = scan(&case.semgrep(), &case.code()).await.findings;
    let moved = format!("# a comment\n# and another\n{CODE}");
    std::fs::write(case.code().join("app/tasks.py"), &moved).unwrap();
    let after = scan(&case.semgrep(), &case.code()).await.findings;
    let prints = |f: &[scanner::Finding]| {
        let mut p: Vec<String> = f.iter().map(|f| f.fingerprint.clone()).collect();
        p.sort();
        p
    };
    assert_ne!(before[0].start_line, after[0].start_line);
    assert_eq!(prints(&before), prints(&after));

    let twice = format!("{CODE}\n\ndef again(data):\n    return hashlib.md5(data).hexdigest()\n");
    std::fs::write(case.code().join("app/tasks.py"), twice).unwrap();
    let found = scan(&case.semgrep(), &case.code()).await.findings;
    let md5: Vec<&scanner::Finding> = found.iter().filter(|f| f.rule_id == "weak-hash").collect();
    assert_eq!(md5.len(), 2);
    assert_ne!(md5[0].fingerprint, md5[1].fingerprint);
}

#[tokio::test]
async fn each_way_of_failing_says_what_happened() {
    let case = Case::new(CODE);

    let missing = Semgrep { binary: case.dir.path().join("nowhere/semgrep"), ..case.semgrep() };
    let run = scan(&missing, &case.code()).await;
    let ToolStatus::NotInstalled(why) = &run.status else { panic!("{:?}", run.status) };
    assert!(why.contains("run scripts/setup.sh"), "{why}");

    std::fs::write(case.dir.path().join("rules/broken.yml"), "rules:\n  - id: x\n    pattern: (\n")
        .unwrap();
    let broken = Semgrep {
        rules: vec![case.dir.path().join("rules/broken.yml").to_string_lossy().into_owned()],
        ..case.semgrep()
    };
    let run = scan(&broken, &case.code()).await;
    let ToolStatus::Failed(why) = &run.status else { panic!("{:?}", run.status) };
    assert!(why.contains("broken.yml:2: One of these properties is missing: 'message'"), "{why}");
    assert!(run.findings.is_empty());

    let hurried = Semgrep {
        limits: Limits { timeout: Duration::from_millis(50), ..Limits::default() },
        ..case.semgrep()
    };
    assert_eq!(scan(&hurried, &case.code()).await.status, ToolStatus::TimedOut);

    let cancel = CancellationToken::new();
    cancel.cancel();
    assert_eq!(case.semgrep().scan(&case.code(), &cancel).await.status, ToolStatus::Cancelled);
}

#[tokio::test]
async fn semgrep_s_engine_runs_a_worker_per_core_within_a_tight_memory_cap() {
    // Semgrep's engine raises its stack limit as far as allowed and runs a worker thread per
    // core; with a 1 GB stack each, three workers alone filled a 4 GiB cap and the engine died
    // now and then mid-scan. The sandbox caps the stack, so even half that cap is room enough.
    let case = Case::new(CODE);
    let mut semgrep = case.semgrep();
    semgrep.limits.sandbox.memory = 2 << 30;
    let run = scan(&semgrep, &case.code()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    assert_eq!(run.findings.len(), 2);
}

#[test]
fn an_engine_failure_reads_with_its_reason_not_an_empty_line() {
    // What Semgrep's JSON says when semgrep-core dies mid-run: the reason is below the first line.
    let report = br#"{"results": [], "errors": [{"type": "SemgrepError", "level": "error",
        "message": "Error while running rules: \nsemgrep-core: out of memory\nFatal error: exception Out_of_memory\n"}]}"#;
    let report = scanner::semgrep::parse(report, &[], Path::new("/src")).unwrap();
    assert_eq!(
        report.errors,
        ["SemgrepError: Error while running rules: semgrep-core: out of memory / Fatal error: \
          exception Out_of_memory"]
    );
}
