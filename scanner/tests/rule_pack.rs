//! The bundled Semgrep rule pack: every rule passes its own test file under the real Semgrep
//! (`ruleid:` lines flagged, `ok:` lines not), and the pack as shipped in the binary finds what it
//! should in TypeScript too.

use std::path::Path;
use std::process::Command;

use scanner::semgrep::Semgrep;
use scanner::{Limits, Severity, ToolStatus, rules};
use tokio_util::sync::CancellationToken;

mod common;
use common::semgrep_binary;

#[test]
fn every_bundled_rule_passes_its_test_file() {
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let output = Command::new(semgrep_binary())
        .args(["--test", "--metrics=off", "--disable-version-check"])
        .arg(&pack)
        .env("SEMGREP_ENABLE_VERSION_CHECK", "0")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("All tests passed"), "{report}");
    // Each shipped file is the one tested.
    for (name, yaml) in rules::BUNDLED {
        assert_eq!(std::fs::read_to_string(pack.join(name)).unwrap(), yaml);
    }
}

#[tokio::test]
async fn the_shipped_pack_flags_typescript_with_plain_rule_ids() {
    let dir = tempfile::tempdir().unwrap();
    let pack = rules::write_bundled(dir.path()).unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(
        code.join("users.ts"),
        "import https from 'https';\n\nexport async function byName(db: Db, name: string) {\n  return db.query(`SELECT * FROM users WHERE name = '${name}'`);\n}\n\nexport const agent = new https.Agent({ rejectUnauthorized: false });\n",
    )
    .unwrap();
    let semgrep = Semgrep {
        binary: semgrep_binary(),
        rules: vec![pack.to_string_lossy().into_owned()],
        limits: Limits::default(),
    };
    let run = semgrep.scan(&code, &CancellationToken::new()).await;
    assert_eq!(run.status, ToolStatus::Ok);
    let mut found: Vec<(&str, Option<u32>, Severity)> =
        run.findings.iter().map(|f| (f.rule_id.as_str(), f.start_line, f.severity)).collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("js-sql-injection", Some(4), Severity::High),
            ("js-tls-verification-disabled", Some(7), Severity::High),
        ]
    );
}
