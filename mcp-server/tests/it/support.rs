//! Runs `agentwatch` in a sandbox: a temporary home and data dir, no inherited `AGENTWATCH_*`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The caller's asset cache (as `scripts/setup.sh` fills it).
pub fn assets_dir() -> PathBuf {
    std::env::var_os("AGENTWATCH_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        cache.join("agentwatch/assets")
    })
}

/// An HTTP client for the tests (TLS on ring, as in the gateway).
pub fn http() -> reqwest::Client {
    gateway::install_tls();
    reqwest::Client::new()
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// The database its processes share when the suite runs on Postgres
    /// (`AGENTWATCH_TEST_DATABASE=postgres`): a fresh one per sandbox. Else the data dir's SQLite.
    database: Option<String>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let postgres = storage::testing::backend() == storage::Backend::Postgres;
        let database = postgres.then(|| {
            // Made on a runtime of its own: a test may already be on one.
            let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build();
            let made = std::thread::spawn(move || {
                runtime().unwrap().block_on(storage::testing::new_database())
            });
            made.join().unwrap()
        });
        Sandbox { dir: tempfile::tempdir().unwrap(), database }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// What `agentwatch` is told in this sandbox: its data dir, where `scripts/setup.sh` put the
    /// offline assets, and its database when that is not the data dir's SQLite.
    pub fn agentwatch_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AGENTWATCH_DATA_DIR", self.path().join("data").display().to_string()),
            ("AGENTWATCH_ASSETS_DIR", assets_dir().display().to_string()),
        ];
        env.extend(self.database.iter().map(|url| ("AGENTWATCH_DATABASE_URL", url.clone())));
        env
    }

    /// `agentwatch` with this sandbox as its home and data dir, and nothing from the caller's
    /// `AGENTWATCH_*` environment but [`Sandbox::agentwatch_env`].
    pub fn command(&self) -> Command {
        self.command_for(Path::new(env!("CARGO_BIN_EXE_agentwatch")))
    }

    /// Any program, in the same environment as [`Sandbox::command`].
    pub fn command_for(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars() {
            if key.starts_with("AGENTWATCH_") || key.starts_with("XDG_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.path()).envs(self.agentwatch_env());
        cmd
    }

    /// The database the sandbox's processes keep their tables in, opened.
    pub async fn storage(&self) -> storage::Storage {
        match &self.database {
            Some(url) => storage::Storage::connect(url).await.unwrap(),
            None => storage::Storage::open(&self.path().join("data/agentwatch.db")).await.unwrap(),
        }
    }

    /// Everything the sandbox's processes stored in their database, as bytes: the SQLite files
    /// (with the write-ahead log), or a dump of the Postgres database. What a test searches for
    /// what must never be stored in plain text.
    pub fn stored_bytes(&self) -> Vec<u8> {
        if let Some(url) = &self.database {
            return storage::testing::dump(url);
        }
        let data = self.path().join("data");
        let mut bytes = Vec::new();
        for file in ["agentwatch.db", "agentwatch.db-wal", "agentwatch.db-shm"] {
            bytes.extend(std::fs::read(data.join(file)).unwrap_or_default());
        }
        bytes
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `agentwatch` server whose JSON logs tell where it listens. Killed on drop.
pub struct Server {
    pub child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Server {
    /// Starts `agentwatch <args>` with JSON logs and ports picked by the OS.
    pub fn start(sandbox: &Sandbox, args: &[&str]) -> Server {
        Server::start_with(sandbox, args, &[])
    }

    /// [`Server::start`] with more environment variables.
    pub fn start_with(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = sandbox
            .command()
            .envs(env.iter().copied())
            .args(args)
            .args(["--log-format", "json"])
            .env("AGENTWATCH_GATEWAY_PORT", "0")
            .env("AGENTWATCH_KNOWLEDGE_PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let json = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("a log line that is not JSON: {line}"));
                if tx.send(json).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// Waits for the next log line that `matches`, failing after 30 s.
    pub fn wait_for_log(
        &self,
        what: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if matches(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line for {what}: {e}"),
            }
        }
    }

    /// The address a server announced with `listening`.
    pub fn address_of(&self, server: &str) -> SocketAddr {
        let line =
            self.wait_for_log(server, |l| l["message"] == "listening" && l["server"] == server);
        line["addr"].as_str().unwrap().parse().unwrap()
    }

    /// Asks the server to stop as a service manager would, and returns its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("agentwatch did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of the Python fixture repository (with a `secret.env` nothing may serve), as a plain
/// folder.
pub fn python_repository(sandbox: &Sandbox) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/python-pkg");
    let to = sandbox.path().join("python-pkg");
    copy_dir(&from, &to);
    std::fs::write(to.join("secret.env"), "TOKEN=not-for-agents\n").unwrap();
    to
}

/// A git repository made from a fixture folder, one commit deep.
pub fn git_fixture(sandbox: &Sandbox, fixture: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(fixture);
    let to = sandbox.path().join(fixture);
    copy_dir(&from, &to);
    git(&to, &["init", "-q", "-b", "main"]);
    commit(&to, "the fixture");
    to
}

/// Commits everything in the work tree.
pub fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(
        repo,
        &["-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-qm", message],
    );
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(repo).status().unwrap();
    assert!(status.success(), "git {args:?} failed");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The Python of the venv with the `openai` and `anthropic` SDKs and llmock that `scripts/setup.sh --tests` builds.
pub fn llm_client(program: &str) -> PathBuf {
    let path = assets_dir().join("llm-client/bin").join(program);
    assert!(path.exists(), "{} is missing: run scripts/setup.sh --tests", path.display());
    path
}

/// A llmock process on a free port, answering deterministically; killed on drop.
pub struct Mock {
    child: Child,
    pub url: String,
}

impl Mock {
    pub fn start() -> Mock {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(llm_client("llmock"))
            .args(["serve", "--port", &port.to_string(), "--response-style", "static"])
            .args(["--log-level", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mock = Mock { child, url: format!("http://127.0.0.1:{port}") };
        let start = Instant::now();
        while !mock.ready() {
            assert!(start.elapsed() < Duration::from_secs(30), "llmock did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        mock
    }

    /// Every request llmock served, oldest first, each with its `method`, `path` and `body`.
    pub async fn requests(&self) -> Vec<serde_json::Value> {
        let url = format!("{}/_llmock/requests", self.url);
        let journal: serde_json::Value =
            http().get(url).send().await.unwrap().json().await.unwrap();
        journal["requests"].as_array().cloned().unwrap_or_default()
    }

    fn ready(&self) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            http().get(format!("{}/health", self.url)).send().await.is_ok_and(|r| r.status() == 200)
        })
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `agentwatch admin create-user`, the password on stdin.
pub fn create_user(sandbox: &Sandbox, args: &[&str], password: &str) -> Output {
    let mut child = sandbox
        .command()
        .args(["admin", "create-user", "--password-stdin"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// A client of a gateway's admin API (and of any JSON API taking a bearer token; an empty token
/// sends none).
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = serde_json::json!({ "email": email, "password": password });
        let (status, reply) = self.call("POST", "/api/auth/login", "", Some(body)).await;
        assert_eq!(status, 200, "{reply}");
        reply["token"].as_str().unwrap().to_owned()
    }
}

/// A certificate and its key for `localhost`, made with openssl for one test (`cert.pem`,
/// `key.pem` in the sandbox): a server of the test serves them, `SSL_CERT_FILE` trusts them.
pub fn localhost_certificate(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let (cert, key) = (sandbox.path().join("cert.pem"), sandbox.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl tool (scripts/setup.sh installs it)");
    assert!(made.status.success(), "{}", stderr(&made));
    (cert, key)
}
