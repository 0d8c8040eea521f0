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
    assert!(
        shown.contains(
            "# environment overrides: AGENTWATCH_ASSETS_DIR, AGENTWATCH_DATA_DIR, AGENTWATCH_GATEWAY_PORT"
        ),
        "{shown}"
    );
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
