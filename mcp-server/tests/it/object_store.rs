//! The search index in an object store: processes that share no folder keep it in S3 or an
//! S3-compatible store (`index.lance_uri = "s3://bucket/prefix"`, with credentials, region and
//! endpoint from the standard `AWS_*` environment), and what one indexed another searches. The
//! store here is moto's S3 server (`scripts/setup.sh --tests` installs it), conditional writes and all.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Sandbox, assets_dir, stderr, stdout};

/// An S3-compatible server on a free port of this machine; stopped when dropped.
struct S3Server {
    port: u16,
    process: Child,
}

impl S3Server {
    fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let program = assets_dir().join("s3-server/bin/moto_server");
        let process = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{} does not run ({e}): run scripts/setup.sh", program.display())
            });
        let server = S3Server { port, process };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes a bucket (the server takes unsigned requests).
    fn bucket(&self, name: &str) {
        let made = curl(&["-X", "PUT", &format!("{}/{name}", self.url())]);
        assert!(made.status.success(), "cannot make the bucket: {}", stderr(&made));
    }

    /// The keys of the objects in `bucket` under `prefix`.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let url = format!("{}/{bucket}?list-type=2&max-keys=10000&prefix={prefix}", self.url());
        let listing = stdout(&curl(&[&url]));
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(String::from)
            .collect()
    }

    /// What `agentwatch` is told to keep its search index at `uri` in this store.
    fn env(&self, uri: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AGENTWATCH_LANCE_URI", uri.to_owned()),
            ("AWS_ENDPOINT_URL", self.url()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "agentwatch-test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "agentwatch-test-secret".to_owned()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl").args(["-sS", "--fail"]).args(args).output().unwrap()
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name);
    path.to_str().unwrap().to_owned()
}

#[test]
fn processes_keep_one_search_index_in_an_s3_bucket_and_search_what_the_others_indexed() {
    let s3 = S3Server::start();
    s3.bucket("agentwatch");
    let sandbox = Sandbox::new();
    let env = s3.env("s3://agentwatch/team/lance");
    let agentwatch = |args: &[&str]| {
        sandbox.command().envs(env.clone()).args(args).stdin(Stdio::null()).output().unwrap()
    };

    // Two processes index two repositories at once: both commit to the one table in the bucket
    // (a conditional write each, retried when the other got there first).
    let [python, rust] = ["python-pkg", "rust-crate"].map(|name| {
        let mut command = sandbox.command();
        command.envs(env.clone()).args(["index", &fixture(name)]).stdin(Stdio::null());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    });
    for child in [python, rust] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }

    // The index is in the bucket, and nothing of it in the data dir.
    let keys = s3.keys("agentwatch", "team/lance/");
    assert!(keys.iter().any(|k| k.contains("/_versions/")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with(".lance") && k.contains("/data/")), "{keys:?}");
    assert!(!sandbox.path().join("data/lance").exists(), "no search index in the data dir");

    // A third process answers from it, by meaning: the vectors both indexers wrote are there.
    let search = |query: &str| {
        let output = agentwatch(&["search", query, "--json", "--mode", "semantic", "--limit", "3"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let hits: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        hits.as_array().unwrap().iter().map(|h| h["path"].as_str().unwrap().to_owned()).collect()
    };
    let tax: Vec<String> = search("where is the tax computed");
    assert_eq!(tax.first().map(String::as_str), Some("stockroom/pricing.py"), "{tax:?}");
    let codes: Vec<String> = search("encode a number in base 62");
    assert_eq!(codes.first().map(String::as_str), Some("src/codec.rs"), "{codes:?}");
}
