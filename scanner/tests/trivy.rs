//! Trivy's real reports (`../shared/data/trivy`, golden outputs of Trivy's own integration tests)
//! read as findings: every report parses, and each kind of finding keeps what a user needs.

use std::path::PathBuf;

use scanner::{Category, Finding, Severity, Tool, trivy};

fn report(name: &str) -> Vec<Finding> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/trivy");
    assert!(
        dir.is_dir(),
        "the Trivy reports belong at {} (shared/ beside the clone)",
        dir.display()
    );
    let bytes = std::fs::read(dir.join(name)).unwrap();
    trivy::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_report_parses_with_the_findings_it_holds() {
    let expected = [
        ("cargo.lock.json", 0),
        ("dockerfile.json", 1),
        ("gomod.json", 5),
        ("helm_testchart.json", 6),
        ("npm.json", 1),
        ("pip.json", 2),
        ("secrets.json", 2),
        ("terraform-remote-module.json", 3),
    ];
    for (name, count) in expected {
        let findings = report(name);
        assert_eq!(findings.len(), count, "{name}: {findings:#?}");
        for f in &findings {
            assert_eq!(f.tool, Tool::Trivy);
            assert!(!f.rule_id.is_empty() && !f.message.is_empty() && !f.path.is_empty(), "{f:?}");
            assert_eq!(f.fingerprint.len(), 32);
        }
    }
}

#[test]
fn a_vulnerability_names_the_package_the_versions_and_where_it_is_pinned() {
    let findings = report("pip.json");
    let werkzeug = findings.iter().find(|f| f.rule_id == "CVE-2019-14806").unwrap();
    assert_eq!(werkzeug.category, Category::Vulnerability);
    assert_eq!(werkzeug.severity, Severity::High);
    assert_eq!(werkzeug.path, "requirements.txt");
    let package = werkzeug.package.as_ref().unwrap();
    assert_eq!(package.name, "Werkzeug");
    assert_eq!(package.installed_version, "0.11");
    assert_eq!(package.fixed_version.as_deref(), Some("0.15.3"));
    assert_eq!(werkzeug.cve, ["CVE-2019-14806"]);
    assert_eq!(werkzeug.cwe, ["CWE-331"]);
    // The line of requirements.txt that pins it, from the report's package list.
    assert!(werkzeug.start_line.is_some(), "{werkzeug:?}");
    assert!(werkzeug.message.contains("upgrade Werkzeug to 0.15.3"), "{}", werkzeug.message);
}

#[test]
fn an_unscored_advisory_is_low_and_not_a_cve() {
    let findings = report("gomod.json");
    let unscored = findings.iter().find(|f| f.rule_id == "GMS-2022-20").unwrap();
    assert_eq!(unscored.severity, Severity::Low);
    assert!(unscored.cve.is_empty());
    assert_eq!(unscored.package.as_ref().unwrap().fixed_version.as_deref(), Some("v2.8.0"));
    // The same advisory in two go.mod files is two findings.
    let paths: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.contains(&"submod/go.mod") && paths.contains(&"submod2/go.mod"), "{paths:?}");
}

#[test]
fn a_misconfiguration_has_its_lines_and_the_fix() {
    let findings = report("helm_testchart.json");
    let escalation = findings.iter().find(|f| f.rule_id == "KSV-0001").unwrap();
    assert_eq!(escalation.category, Category::Misconfiguration);
    assert_eq!(escalation.severity, Severity::Medium);
    assert_eq!(escalation.path, "templates/deployment.yaml");
    assert_eq!((escalation.start_line, escalation.end_line), (Some(28), Some(57)));
    assert!(escalation.message.contains("allowPrivilegeEscalation"), "{}", escalation.message);
    assert!(escalation.message.contains("Fix: "), "{}", escalation.message);
    assert_eq!(escalation.url.as_deref(), Some("https://avd.aquasec.com/misconfig/ksv-0001"));

    // Passed checks are not findings; a check on the whole file has no lines.
    let dockerfile = report("dockerfile.json");
    assert_eq!(dockerfile[0].start_line, None);
}

#[test]
fn a_secret_is_never_shown_in_full() {
    let findings = report("secrets.json");
    let key = findings.iter().find(|f| f.rule_id == "aws-access-key-id").unwrap();
    assert_eq!(key.category, Category::Secret);
    assert_eq!(key.severity, Severity::Critical);
    assert_eq!((key.path.as_str(), key.start_line), ("deploy.sh", Some(3)));
    assert!(key.message.contains("AWS_ACCESS_KEY_ID=****"), "{}", key.message);
    for f in &findings {
        assert!(!f.message.contains("AKIA"), "{}", f.message);
    }
}

#[test]
fn fingerprints_are_distinct_and_do_not_depend_on_line_numbers() {
    let all: Vec<Finding> = ["gomod.json", "helm_testchart.json", "pip.json", "secrets.json"]
        .into_iter()
        .flat_map(report)
        .collect();
    let mut prints: Vec<&str> = all.iter().map(|f| f.fingerprint.as_str()).collect();
    prints.sort_unstable();
    prints.dedup();
    assert_eq!(prints.len(), all.len(), "two findings share a fingerprint");

    // The same report with every line moved down gives the same fingerprints.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/trivy");
    let text = std::fs::read_to_string(dir.join("helm_testchart.json")).unwrap();
    let moved = text
        .replace("\"StartLine\": ", "\"StartLine\": 1")
        .replace("\"EndLine\": ", "\"EndLine\": 1");
    let before = report("helm_testchart.json");
    let after = trivy::parse(moved.as_bytes()).unwrap();
    assert_ne!(before[0].start_line, after[0].start_line);
    let prints = |f: &[Finding]| f.iter().map(|f| f.fingerprint.clone()).collect::<Vec<_>>();
    assert_eq!(prints(&before), prints(&after));
}
