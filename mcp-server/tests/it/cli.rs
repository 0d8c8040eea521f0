//! What the command line promises: help, version, exit codes, and configuration errors that say
//! what to fix.

use crate::support::{Sandbox, stderr, stdout};

#[test]
fn version_and_help_succeed() {
    let sandbox = Sandbox::new();
    let version = sandbox.run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(stdout(&version).trim(), format!("agentwatch {}", env!("CARGO_PKG_VERSION")));

    let help = sandbox.run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = stdout(&help);
    for command in ["serve", "gateway", "config"] {
        assert!(help.contains(command), "--help lists {command}:\n{help}");
    }
    assert!(help.contains("Exit status: 0 success, 1 failure, 2 bad arguments or configuration"));
}

#[test]
fn bad_usage_exits_2() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unrecognized subcommand 'frobnicate'"));
}

#[test]
fn an_unknown_config_key_is_named_and_exits_2() {
    let sandbox = Sandbox::new();
    let config = sandbox.write("aw.toml", "[gateway]\nprot = 9000\n");
    let output = sandbox.run(&["--config", config.to_str().unwrap(), "config", "show"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.starts_with("error: invalid config file"), "{err}");
    assert!(err.contains("unknown field `prot`, expected one of `port`"), "{err}");
}

#[test]
fn a_bad_environment_value_is_named_and_exits_2() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command()
        .args(["config", "show"])
        .env("AGENTWATCH_BIND", "everywhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("AGENTWATCH_BIND=\"everywhere\": invalid IP address syntax"));
}

#[test]
fn config_show_prints_effective_settings_with_secrets_masked() {
    let sandbox = Sandbox::new();
    let config = sandbox.write("aw.toml", "[knowledge]\ntoken = \"file-secret-0123456789\"\n");
    let output = sandbox
        .command()
        .args(["config", "show"])
        .env("AGENTWATCH_CONFIG", &config)
        .env("AGENTWATCH_GATEWAY_PORT", "9999")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(shown.contains(&format!("# config file: {}", config.display())), "{shown}");
    // The sandbox's own (data and assets dirs, and the database on a Postgres run), and the port.
    let env = sandbox.agentwatch_env();
    let mut overridden: Vec<&str> = env.iter().map(|(key, _)| *key).collect();
    overridden.push("AGENTWATCH_GATEWAY_PORT");
    overridden.sort_unstable();
    let overrides = format!("# environment overrides: {}", overridden.join(", "));
    assert!(shown.contains(&overrides), "{shown}");
    for (key, value) in &env {
        if *key == "AGENTWATCH_DATABASE_URL" {
            assert!(!shown.contains(value.as_str()), "the database URL is masked: {shown}");
        }
    }
    assert!(shown.contains("port = 9999"), "{shown}");
    assert!(shown.contains("token = \"********\""), "{shown}");
    assert!(!shown.contains("file-secret"), "{shown}");

    let json = sandbox.run(&["config", "show", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["gateway"]["port"], 8787);
    assert_eq!(json["bind"], "127.0.0.1");
    assert!(
        json["assets"]["onnxruntime"].as_str().unwrap().ends_with("onnxruntime/libonnxruntime.so")
    );
}

#[test]
fn unknown_agentwatch_variables_are_warned_about() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command()
        .args(["config", "show"])
        .env("AGENTWATCH_GATEWAY_PROT", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stderr(&output).contains("ignoring unknown environment variable AGENTWATCH_GATEWAY_PROT")
    );
}

fn dlp_scan(sandbox: &Sandbox, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = sandbox
        .command()
        .args(["dlp", "scan"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn dlp_scan_prints_each_detection_with_its_type_span_and_confidence_but_never_the_value() {
    let sandbox = Sandbox::new();
    let text = "Ping ada@lovelace.dev — key AKIAZ7QW3ERT5YUI2OPL, card 4539 5787 6362 1486.\n";
    let output = dlp_scan(&sandbox, &["--json"], text.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let found: Vec<(String, &str)> = json["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let (start, end) =
                (d["start"].as_u64().unwrap() as usize, d["end"].as_u64().unwrap() as usize);
            assert!(d["confidence"].as_f64().unwrap() > 0.5);
            (d["type"].as_str().unwrap().to_owned(), &text[start..end])
        })
        .collect();
    assert_eq!(
        found,
        [
            ("email".to_owned(), "ada@lovelace.dev"),
            ("aws_access_key".to_owned(), "AKIAZ7QW3ERT5YUI2OPL"),
            ("credit_card".to_owned(), "4539 5787 6362 1486"),
        ]
    );

    let table = dlp_scan(&sandbox, &[], text.as_bytes());
    let table = stdout(&table);
    assert!(table.starts_with("TYPE") && table.contains("aws_access_key"), "{table}");
    assert!(!table.contains("AKIAZ7QW3ERT5YUI2OPL"), "the value itself is never printed");
    assert_eq!(stdout(&dlp_scan(&sandbox, &[], b"nothing to see")), "no detections\n");

    let binary = dlp_scan(&sandbox, &[], b"abc\xff\xfe");
    assert_eq!(binary.status.code(), Some(1));
    assert!(
        stderr(&binary).contains("not UTF-8") && stderr(&binary).contains("offset 3"),
        "{}",
        stderr(&binary)
    );
}
