//! A scanned repository is hostile. These tests hand the real scanners a repository that carries
//! their configuration files, set the way an attacker would set them — Python for Checkov to
//! import, a Trivy config that writes a file where the server can, ignore files that hide its
//! secrets, a symlink to a file of the host's — and check that none of it is honoured: nothing
//! ran, nothing was written, nothing was hidden, nothing outside the tree was read.

use std::path::{Path, PathBuf};

use scanner::checkov::Checkov;
use scanner::semgrep::Semgrep;
use scanner::trivy::Trivy;
use scanner::{Limits, Sandbox, SandboxMode, ToolStatus};
use tokio_util::sync::CancellationToken;

mod common;

/// Every isolation a deployment can end up with: the attacks must fail under the fallback too.
fn sandboxes() -> [Sandbox; 2] {
    [
        Sandbox::new(SandboxMode::Bubblewrap).expect("scripts/setup.sh installs bubblewrap"),
        Sandbox::new(SandboxMode::Process).unwrap(),
    ]
}

fn limits(sandbox: &Sandbox) -> Limits {
    Limits { sandbox: sandbox.clone(), ..Limits::default() }
}

/// A repository with a Dockerfile running as root and a committed AWS key (what the tools
/// find), and a folder outside it where its payloads try to leave a mark.
struct Hostile {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    marks: PathBuf,
}

impl Hostile {
    fn new() -> Hostile {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let marks = dir.path().join("marks");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&marks).unwrap();
        write(
            &repo.join("Dockerfile"),
            "FROM python:3.12\nCOPY . /app\nCMD [\"python\", \"/app/main.py\"]\n",
        );
        write(
            &repo.join("deploy.env"),
            "REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7REALKEY\n",
        );
        Hostile { _dir: dir, repo, marks }
    }

    fn marks(&self) -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(&self.marks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        found
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn checkov_imports_no_python_and_honours_no_config_from_the_repository() {
    let hostile = Hostile::new();
    let (repo, marks) = (&hostile.repo, &hostile.marks);
    // Checkov's external checks are Python modules it imports; this one leaves a mark.
    let payload = format!("open({:?}, 'w').write('ran')\n", marks.join("checkov-ran").display());
    write(&repo.join("checks/__init__.py"), &payload);
    write(&repo.join("checks/evil.py"), &payload);
    let config = format!(
        "external-checks-dir:\n  - {checks}\n  - checks\nskip-check:\n  - CKV_DOCKER_2\n  - CKV_DOCKER_3\n\
         output-file-path: {out}\n",
        checks = repo.join("checks").display(),
        out = marks.display(),
    );
    write(&repo.join(".checkov.yaml"), &config);
    write(&repo.join(".checkov.yml"), &config);

    for sandbox in sandboxes() {
        let checkov = Checkov {
            binary: common::assets().join("checkov/bin/checkov"),
            limits: limits(&sandbox),
        };
        let run = checkov.scan(repo, &CancellationToken::new()).await;
        assert_eq!(run.status, ToolStatus::Ok, "{:?}", sandbox.isolation);
        assert_eq!(hostile.marks(), Vec::<String>::new(), "{:?}", sandbox.isolation);
        // The config's skip list hid nothing: the root-user and healthcheck checks still fail.
        let ids: Vec<&str> = run.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert!(ids.contains(&"CKV_DOCKER_2") && ids.contains(&"CKV_DOCKER_3"), "{ids:?}");
        // Nor did its own check report anything.
        assert!(run.findings.iter().all(|f| f.rule_id.starts_with("CKV")), "{ids:?}");
    }
}

#[tokio::test]
async fn trivy_writes_nothing_and_hides_nothing_that_the_repository_s_config_asks_for() {
    let hostile = Hostile::new();
    let (repo, marks) = (&hostile.repo, &hostile.marks);
    let report = marks.join("trivy-report.json");
    write(
        &repo.join("trivy.yaml"),
        &format!(
            "output: {}\nseverity:\n  - CRITICAL\nscan:\n  skip-files:\n    - deploy.env\n",
            report.display()
        ),
    );
    write(&repo.join(".trivyignore"), "aws-access-key-id\nDS-0002\nDS002\n");
    write(&repo.join(".trivyignore.yaml"), "secrets:\n  - id: aws-access-key-id\n");
    write(&repo.join("trivy-secret.yaml"), "disable-rules:\n  - aws-access-key-id\n");

    for sandbox in sandboxes() {
        let trivy = Trivy {
            binary: common::assets().join("trivy/trivy"),
            scanners: vec!["misconfig".into(), "secret".into()],
            offline: true,
            cache_dir: Some(hostile.marks.parent().unwrap().join("trivy-cache")),
            limits: limits(&sandbox),
        };
        let run = trivy.scan(repo, &CancellationToken::new()).await;
        assert_eq!(run.status, ToolStatus::Ok, "{:?}", sandbox.isolation);
        assert_eq!(hostile.marks(), Vec::<String>::new(), "{:?}", sandbox.isolation);
        let ids: Vec<&str> = run.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert!(ids.contains(&"aws-access-key-id"), "{:?}: {ids:?}", sandbox.isolation);
        assert!(ids.contains(&"DS-0002"), "{:?}: {ids:?}", sandbox.isolation);
    }
}

#[tokio::test]
async fn a_symlink_to_a_host_file_does_not_bring_its_secrets_into_a_scan() {
    let hostile = Hostile::new();
    let outside = hostile.marks.parent().unwrap().join("server-secrets");
    write(&outside.join("keys.env"), "AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLF\n");
    std::os::unix::fs::symlink(outside.join("keys.env"), hostile.repo.join("linked.env")).unwrap();
    std::os::unix::fs::symlink(&outside, hostile.repo.join("linked-dir")).unwrap();

    let sandbox = &sandboxes()[0];
    let trivy = Trivy {
        binary: common::assets().join("trivy/trivy"),
        scanners: vec!["secret".into()],
        offline: true,
        cache_dir: Some(hostile.marks.parent().unwrap().join("trivy-cache")),
        limits: limits(sandbox),
    };
    let run = trivy.scan(&hostile.repo, &CancellationToken::new()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    let paths: Vec<&str> = run.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deploy.env"], "only the tree's own file");
}

#[tokio::test]
async fn semgrep_runs_the_server_s_rules_only_and_reports_paths_inside_the_tree() {
    let hostile = Hostile::new();
    let repo = &hostile.repo;
    write(
        &repo.join("app.py"),
        "import hashlib\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()\n",
    );
    // A rule file in the tree, where a scanner that looked for configuration might find it.
    write(
        &repo.join(".semgrep.yml"),
        "rules:\n  - id: planted\n    pattern: digest(...)\n    message: planted\n    languages: [python]\n    severity: ERROR\n",
    );
    write(&repo.join(".semgrep/settings.yml"), "has_shown_metrics_notification: true\n");
    let rules = scanner::rules::write_bundled(hostile.marks.parent().unwrap()).unwrap();

    for sandbox in sandboxes() {
        let semgrep = Semgrep {
            binary: common::semgrep_binary(),
            rules: vec![rules.to_string_lossy().into_owned()],
            limits: limits(&sandbox),
        };
        let run = semgrep.scan(repo, &CancellationToken::new()).await;
        assert_eq!(run.status, ToolStatus::Ok, "{:?}", sandbox.isolation);
        let found: Vec<String> =
            run.findings.iter().map(|f| format!("{} {}", f.rule_id, f.path)).collect();
        assert_eq!(found, ["python-weak-hash app.py"], "{:?}", sandbox.isolation);
        assert_eq!(hostile.marks(), Vec::<String>::new());
    }
}
