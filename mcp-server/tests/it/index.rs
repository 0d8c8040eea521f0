//! `agentwatch index` and `agentwatch status` as scripts use them: the JSON fields are a public
//! contract.

use std::path::PathBuf;

use serde_json::json;

use crate::support::{Sandbox, stderr, stdout};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name);
    path.to_str().unwrap().to_owned()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[test]
fn index_json_reports_the_contract_fields() {
    let sandbox = Sandbox::new();
    let report = json(&sandbox.run(&["index", &fixture("python-pkg"), "--json"]));
    for field in [
        "repo_id",
        "status",
        "commit",
        "files",
        "skipped",
        "symbols",
        "nodes",
        "edges",
        "duration_ms",
        "errors",
    ] {
        assert!(report.get(field).is_some(), "missing {field}: {report}");
    }
    assert_eq!(report["status"], "ready");
    assert_eq!(report["files"], 5);
    assert_eq!(report["files_parsed"], 5);
    assert_eq!(report["errors"], serde_json::json!([]));
    assert!(report["symbols"].as_u64().unwrap() > 20);
    assert!(report["edges"].as_u64().unwrap() > report["symbols"].as_u64().unwrap());

    // The second run finds nothing changed, and status reports the stored result.
    let again = json(&sandbox.run(&["index", &fixture("python-pkg"), "--json"]));
    assert_eq!(
        (again["repo_id"].clone(), again["files_parsed"].clone()),
        (report["repo_id"].clone(), 0.into())
    );
    let id = report["repo_id"].as_str().unwrap();
    let status = json(&sandbox.run(&["status", id, "--json"]));
    assert_eq!(status["symbols"], report["symbols"]);
    let all = json(&sandbox.run(&["status", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn index_prints_a_readable_summary() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["index", &fixture("ts-app")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("ts-app ("), "{text}");
    assert!(text.contains("— ready, a plain directory"), "{text}");
    assert!(text.contains("skipped   vendored 2, unsupported 3"), "{text}");
    // Besides the stages' progress lines, one-shot commands log only warnings.
    let log = stderr(&output);
    let progress = |l: &&str| ["parsing: ", "embedding: "].iter().any(|s| l.starts_with(s));
    assert!(log.lines().all(|l| progress(&l)), "{log}");
}

#[test]
fn bad_locations_fail_with_exit_1_and_say_why() {
    let sandbox = Sandbox::new();
    let missing = sandbox.run(&["index", "/nonexistent/project"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing).trim(),
        "error: /nonexistent/project does not exist or is not a folder"
    );

    let ssh = sandbox.run(&["index", "git@github.com:owner/repo.git"]);
    assert_eq!(ssh.status.code(), Some(1));
    assert!(stderr(&ssh).contains("use the https:// URL"));

    let unknown = sandbox.run(&["status", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown)
            .contains("no repository \"nope\" is indexed: list them with `agentwatch status`")
    );
}

#[test]
fn an_unreachable_url_fails_the_job_and_is_recorded() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["index", "http://127.0.0.1:9/team/project", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot fetch http://127.0.0.1:9/team/project")
    );
    assert!(stderr(&output).contains("indexing http://127.0.0.1:9/team/project failed"));
}

#[test]
fn locate_reads_a_report_from_a_file_or_standard_input() {
    let sandbox = Sandbox::new();
    let indexed = sandbox.run(&["index", &fixture("python-pkg")]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    let report = sandbox.write(
        "issue.md",
        "Perishable items past their date still count in `AuditedInventory.expired`?\n\n\
         The audit log shows expired stock as added.",
    );

    let from_file = sandbox.run(&["locate", "--file", report.to_str().unwrap(), "--limit", "2"]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let text = stdout(&from_file);
    assert!(text.starts_with("1. stockroom/inventory.py  score "), "{text}");
    assert!(text.contains("the text names AuditedInventory.expired"), "{text}");
    assert!(text.contains("method AuditedInventory.expired  lines 51-"), "{text}");

    let mut piped = sandbox
        .command()
        .args(["locate", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    piped.stdin.take().unwrap().write_all(std::fs::read(&report).unwrap().as_slice()).unwrap();
    let output = piped.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer = json(&output);
    assert_eq!(answer["results"][0]["path"], "stockroom/inventory.py", "{answer}");
    assert_eq!(answer["results"][0]["symbols"][0]["name"], "AuditedInventory.expired");

    let empty = sandbox.run(&["locate", ""]);
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    assert!(stderr(&empty).contains("the text is empty"), "{}", stderr(&empty));
}

#[test]
fn search_json_reports_the_contract_fields() {
    let sandbox = Sandbox::new();
    let indexed = sandbox.run(&["index", &fixture("python-pkg")]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    let hits =
        json(&sandbox.run(&["search", "where is the tax computed", "--json", "--limit", "3"]));
    let first = &hits[0];
    for field in ["repo_id", "path", "start_line", "end_line", "symbol", "kind", "score", "stale"] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    assert_eq!(
        (first["path"].as_str(), first["symbol"].as_str()),
        (Some("stockroom/pricing.py"), Some("price_with_tax"))
    );
    assert_eq!(first["stale"], false);
    assert!(hits.as_array().unwrap().len() <= 3);

    let filtered = json(&sandbox.run(&[
        "search",
        "item",
        "--json",
        "--kind",
        "class",
        "--path",
        "stockroom/models.py",
    ]));
    assert!(
        filtered
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] == "class" && h["path"] == "stockroom/models.py")
    );

    let bad = sandbox.run(&["search", "x", "--language", "cobol"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(
        "unknown language \"cobol\": use one of rust, python, typescript, tsx, javascript"
    ));
}

#[test]
fn search_defaults_to_hybrid_and_each_mode_can_be_chosen() {
    let sandbox = Sandbox::new();
    let report = json(&sandbox.run(&["index", &fixture("rust-crate"), "--json"]));
    assert!(report["chunks"].as_u64().unwrap() > 5);
    assert_eq!(report["embedded"], report["chunks"], "the job embeds every chunk");

    let question = "look up the original url of a short code";
    let hybrid = json(&sandbox.run(&["search", question, "--json"]));
    let explicit = json(&sandbox.run(&["search", question, "--json", "--mode", "hybrid"]));
    assert_eq!(hybrid, explicit);
    let semantic = json(&sandbox.run(&["search", question, "--json", "--mode", "semantic"]));
    assert_eq!(semantic[0]["symbol"], "Shortener::resolve");
    assert!(semantic[0]["score"].as_f64().unwrap() > 0.3, "a cosine similarity");

    let unknown = sandbox.run(&["search", question, "--mode", "fuzzy"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("[possible values: semantic, lexical, hybrid]"));
}

#[test]
fn without_the_embedding_model_search_is_lexical_and_says_why() {
    let sandbox = Sandbox::new();
    let run = |args: &[&str]| {
        sandbox
            .command()
            .env("AGENTWATCH_ONNXRUNTIME", "/nonexistent/libonnxruntime.so")
            .args(args)
            .output()
            .unwrap()
    };
    let indexed = run(&["index", &fixture("rust-crate"), "--json"]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    assert!(stderr(&indexed).contains("semantic search is off: ONNX Runtime not found at /nonexistent/libonnxruntime.so: run scripts/setup.sh"));
    let report: serde_json::Value = serde_json::from_slice(&indexed.stdout).unwrap();
    assert_eq!(report["embedded"], 0);

    let lexical = run(&["search", "resolve", "--json"]);
    assert_eq!(lexical.status.code(), Some(0), "{}", stderr(&lexical));
    let hits: serde_json::Value = serde_json::from_slice(&lexical.stdout).unwrap();
    assert!(hits.as_array().unwrap().iter().any(|h| h["symbol"] == "Shortener::resolve"), "{hits}");

    let semantic = run(&["search", "resolve", "--mode", "semantic"]);
    assert_eq!(semantic.status.code(), Some(1));
    assert!(
        stderr(&semantic).contains("semantic and hybrid search need the embedding model"),
        "{}",
        stderr(&semantic)
    );
}

/// A git token goes to the host it was configured for and to no other. The private repository
/// sits on a real HTTPS server that asks for credentials (`tests/git/auth_probe.py`, trusted
/// through `SSL_CERT_FILE`) and writes down what each request offered: with tokens configured
/// for other hosts (the operator's for github.com, one for another forge), `agentwatch index`
/// offers it nothing; with one configured for it, it is offered that one.
#[test]
fn a_git_token_is_offered_to_its_own_host_only() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let sandbox = Sandbox::new();
    let (cert, key) = crate::support::localhost_certificate(&sandbox);
    let probe_script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/git/auth_probe.py");
    /// The probe server, stopped however the test ends.
    struct Probe(std::process::Child);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut probe = Probe(
        Command::new("python3")
            .arg(probe_script)
            .args([&cert, &key])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(probe.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port = first.strip_prefix("listening ").unwrap().to_owned();
    let offered = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = Arc::clone(&offered);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            heard.lock().unwrap().push(line);
        }
    });
    let url = format!("https://localhost:{port}/acme/private-app");
    let index_with = |config: &str| {
        let config = sandbox.write("agentwatch.toml", config);
        let output = sandbox
            .command()
            .args(["index", &url])
            .env("AGENTWATCH_CONFIG", config)
            .env("SSL_CERT_FILE", &cert)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success(), "the probe lets no one in");
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::mem::take(&mut *offered.lock().unwrap())
    };

    let elsewhere = index_with(
        "[index]\ngit_token = \"operator-token\"\n\n[[index.git_credentials]]\nhost = \"git.elsewhere.example\"\ntoken = \"elsewhere-token\"\n",
    );
    assert!(!elsewhere.is_empty(), "the clone reached the server over TLS");
    assert!(elsewhere.iter().all(|line| line == "auth -"), "{elsewhere:?}");

    let own = index_with(
        "[index]\n\n[[index.git_credentials]]\nhost = \"localhost\"\ntoken = \"localhost-token\"\n",
    );
    assert!(own.contains(&"auth x-access-token:localhost-token".to_owned()), "{own:?}");
    assert!(own.iter().all(|line| !line.contains("elsewhere") && !line.contains("operator")));
}

/// Processes on one data dir see each other's work: a `serve` that has answered from a
/// repository's graph and search index answers from the new ones once `agentwatch index` (another
/// process, as from a terminal or a git hook) has re-indexed it — without a restart or a request
/// to re-index.
#[test]
fn a_re_index_from_the_command_line_reaches_a_running_serve() {
    let sandbox = Sandbox::new();
    let repo = crate::support::python_repository(&sandbox);
    let repo = repo.to_str().unwrap();
    let indexed = json(&sandbox.run(&["index", repo, "--json"]));
    let id = indexed["repo_id"].as_str().unwrap().to_owned();

    // Not watching: here the other process's job is what brings the edit.
    let unwatched = [("AGENTWATCH_INDEX_WATCH", "false")];
    let server = crate::support::Server::start_with(&sandbox, &["serve"], &unwatched);
    let api = crate::support::Api {
        base: format!("http://{}/api/knowledge", server.address_of("knowledge server")),
        http: crate::support::http(),
    };
    let symbols = format!("/repositories/{id}/symbols?q=restocked_price&match=exact");
    let callers = format!("/repositories/{id}/callers?symbol=price_with_tax");
    let search = format!("/search?q=restocked&mode=lexical&repo={id}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (status, before) = api.call("GET", &symbols, "", None).await;
        assert_eq!((status, &before["total"]), (200, &json!(0)), "{before}");
        let (_, before) = api.call("GET", &callers, "", None).await;
        assert!(!before.to_string().contains("restocked_price"), "{before}");
        let (_, before) = api.call("GET", &search, "", None).await;
        assert_eq!(before["results"], json!([]), "{before}");
    });

    let pricing = std::path::Path::new(repo).join("stockroom/pricing.py");
    let mut code = std::fs::read_to_string(&pricing).unwrap();
    code += "\n\ndef restocked_price(item: Item) -> float:\n    return price_with_tax(item) * 2\n";
    std::fs::write(&pricing, code).unwrap();
    let again = json(&sandbox.run(&["index", repo, "--json"]));
    assert_eq!(again["files_parsed"], 1, "{again}");

    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, found) = api.call("GET", &symbols, "", None).await;
            let (_, called) = api.call("GET", &callers, "", None).await;
            let (_, hits) = api.call("GET", &search, "", None).await;
            let caller_names: Vec<&str> = called["results"]
                .as_array()
                .map(|r| r.iter().filter_map(|c| c["symbol"]["name"].as_str()).collect())
                .unwrap_or_default();
            let hit_paths: Vec<&str> = hits["results"]
                .as_array()
                .map(|r| r.iter().filter_map(|h| h["path"].as_str()).collect())
                .unwrap_or_default();
            if found["total"] == 1
                && caller_names.contains(&"restocked_price")
                && hit_paths.contains(&"stockroom/pricing.py")
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "serve still answers from the old index 20 s after the re-index:\n\
                 symbols {found}\ncallers {called}\nsearch {hits}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
}

/// On a terminal (a pty, as `script` gives one) each stage is a live bar with its count, rate
/// and time left; in a log or a pipe the same stages are plain lines. Both end each stage with
/// a line saying what it did and how long it took.
#[test]
fn index_shows_bars_on_a_terminal_and_plain_lines_in_a_log() {
    let sandbox = Sandbox::new();
    let piped = sandbox.run(&["index", &fixture("python-pkg")]);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    let log = stderr(&piped);
    assert!(!log.contains('\x1b'), "no terminal codes in a log: {log:?}");
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.contains(&"parsing: started"), "{log}");
    assert!(lines.iter().any(|l| l.starts_with("parsing: 5 files in ")), "{log}");
    assert!(lines.iter().any(|l| l.starts_with("embedding: started")), "{log}");
    let embedded = lines.iter().find(|l| l.starts_with("embedding: ") && l.contains(" chunks in "));
    assert!(embedded.is_some(), "{log}");

    let terminal = Sandbox::new();
    let command = format!("{} index {}", env!("CARGO_BIN_EXE_agentwatch"), fixture("python-pkg"));
    let output = terminal
        .command_for(std::path::Path::new("script"))
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let screen = stdout(&output);
    assert!(screen.contains("\x1b[2K"), "a bar is drawn and redrawn: {screen:?}");
    // How far each bar got before its stage ended depends on the machine; what it counts not.
    assert!(screen.contains("files, ") && screen.contains("parsing"), "{screen:?}");
    assert!(screen.contains(" chunks, ") && screen.contains("/s, "), "with a rate: {screen:?}");
    assert!(screen.contains("parsing: 5 files in "), "{screen:?}");
    assert!(screen.contains("search    "), "then the summary: {screen:?}");
}
