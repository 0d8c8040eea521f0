//! Checkov run for real (the venv `scripts/setup.sh` installs), offline, on the IaC fixture: a
//! Terraform security group open to the internet, a privileged Kubernetes pod, and a Dockerfile
//! that runs as root.

use std::path::{Path, PathBuf};

use scanner::checkov::Checkov;
use scanner::{Category, Limits, ReportFormat, Severity, Tool, ToolStatus};
use tokio_util::sync::CancellationToken;

mod common;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/iac")
}

fn checkov() -> Checkov {
    Checkov { binary: common::assets().join("checkov/bin/checkov"), limits: Limits::default() }
}

#[tokio::test]
async fn checkov_finds_the_known_misconfigurations_of_terraform_kubernetes_and_a_dockerfile() {
    let run = checkov().scan(&fixture(), &CancellationToken::new()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    assert_eq!(run.tool, Tool::Checkov);
    let mut found: Vec<String> = run
        .findings
        .iter()
        .map(|f| {
            format!("{} {}:{}-{}", f.rule_id, f.path, f.start_line.unwrap(), f.end_line.unwrap())
        })
        .collect();
    found.sort();
    let pod = |ids: &[&str]| {
        ids.iter().map(|id| format!("{id} k8s/worker.yaml:1-11")).collect::<Vec<_>>()
    };
    let mut expected = vec![
        "CKV2_AWS_5 infra/network.tf:2-13".to_owned(),
        "CKV_AWS_24 infra/network.tf:2-13".to_owned(),
        "CKV_DOCKER_2 Dockerfile:1-3".to_owned(),
        "CKV_DOCKER_3 Dockerfile:1-3".to_owned(),
    ];
    expected.extend(pod(&[
        "CKV2_K8S_6",
        "CKV_K8S_10",
        "CKV_K8S_11",
        "CKV_K8S_12",
        "CKV_K8S_13",
        "CKV_K8S_16",
        "CKV_K8S_20",
        "CKV_K8S_22",
        "CKV_K8S_23",
        "CKV_K8S_28",
        "CKV_K8S_29",
        "CKV_K8S_31",
        "CKV_K8S_37",
        "CKV_K8S_38",
        "CKV_K8S_40",
        "CKV_K8S_8",
        "CKV_K8S_9",
    ]));
    expected.sort();
    assert_eq!(found, expected);

    let ssh = run.findings.iter().find(|f| f.rule_id == "CKV_AWS_24").unwrap();
    assert_eq!(ssh.category, Category::Misconfiguration);
    assert_eq!(ssh.severity, Severity::Medium, "open-source checks carry no severity");
    assert!(ssh.message.contains("0.0.0.0:0 to port 22"), "{}", ssh.message);
    assert!(ssh.message.contains("aws_security_group.bastion"), "{}", ssh.message);
    let privileged = run.findings.iter().find(|f| f.rule_id == "CKV_K8S_16").unwrap();
    assert!(privileged.message.contains("privileged"), "{}", privileged.message);

    // The same scan again gives the same fingerprints.
    let again = checkov().scan(&fixture(), &CancellationToken::new()).await;
    let prints = |r: &scanner::ToolRun| {
        let mut p: Vec<String> = r.findings.iter().map(|f| f.fingerprint.clone()).collect();
        p.sort();
        p
    };
    assert_eq!(prints(&run), prints(&again));
}

#[tokio::test]
async fn a_checkov_report_from_elsewhere_reads_as_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let report = std::process::Command::new(common::assets().join("checkov/bin/checkov"))
        .args([
            "-d",
            ".",
            "-o",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "terraform",
        ])
        .current_dir(fixture())
        .output()
        .unwrap();
    std::fs::write(dir.path().join("report.json"), &report.stdout).unwrap();
    let imported = scanner::import(ReportFormat::Checkov, &report.stdout, &fixture()).unwrap();
    let imported = &imported[0];
    let rules: Vec<&str> = imported.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(rules, ["CKV_AWS_24", "CKV2_AWS_5"]);
    assert_eq!(imported.findings[0].path, "infra/network.tf");
}

#[tokio::test]
async fn a_missing_checkov_says_how_to_install_it() {
    let missing = Checkov { binary: "/nonexistent/checkov".into(), limits: Limits::default() };
    let run = missing.scan(&fixture(), &CancellationToken::new()).await;
    let ToolStatus::NotInstalled(how) = run.status else { panic!("{:?}", run.status) };
    assert!(how.contains("scripts/setup.sh") && how.contains("assets.checkov"), "{how}");
}
