//! Reports are read from tools that read hostile trees, and imported from CI jobs nobody here
//! controls: whatever bytes arrive, the Semgrep, Trivy, Checkov and SARIF readers answer a
//! finding list or an error, never a panic. Property tests, a few hundred cases each.

use proptest::prelude::*;
use scanner::ReportFormat;
use serde_json::Value;

/// JSON shaped like the tools' reports: their keys at any depth, with values of any kind.
fn report() -> impl Strategy<Value = Value> {
    let keys: &'static [&str] = &[
        "results",
        "errors",
        "check_id",
        "path",
        "start",
        "end",
        "line",
        "col",
        "extra",
        "message",
        "severity",
        "metadata",
        "cwe",
        "SchemaVersion",
        "Results",
        "Target",
        "Vulnerabilities",
        "Misconfigurations",
        "Secrets",
        "Packages",
        "Locations",
        "StartLine",
        "EndLine",
        "Status",
        "check_type",
        "failed_checks",
        "file_path",
        "file_line_range",
        "resource",
        "runs",
        "tool",
        "driver",
        "rules",
        "ruleId",
        "ruleIndex",
        "locations",
        "physicalLocation",
        "artifactLocation",
        "uri",
        "region",
        "startLine",
        "level",
        "version",
        "$schema",
    ];
    let key =
        prop_oneof![3 => prop::sample::select(keys).prop_map(String::from), 1 => "[a-zA-Z_]{0,8}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        prop_oneof![
            ".{0,30}",
            "(\\.\\./)*[a-z/]{0,20}",
            "(CRITICAL|HIGH|ERROR|WARNING|note|error)"
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

const FORMATS: [ReportFormat; 4] =
    [ReportFormat::Semgrep, ReportFormat::Trivy, ReportFormat::Checkov, ReportFormat::Sarif];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_report_is_read_or_refused(report in report()) {
        let root = tempfile::tempdir().unwrap();
        let bytes = serde_json::to_vec(&report).unwrap();
        for format in FORMATS {
            let _ = scanner::import(format, &bytes, root.path());
        }
        let _ = scanner::sarif::parse(&bytes).map(|runs| scanner::sarif::log(&runs));
    }

    #[test]
    fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let root = tempfile::tempdir().unwrap();
        for format in FORMATS {
            let _ = scanner::import(format, &bytes, root.path());
        }
    }
}
