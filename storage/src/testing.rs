//! The database a test runs on: SQLite in the test's folder, or — when
//! `AGENTWATCH_TEST_DATABASE=postgres` — a fresh database of its own on a Postgres server this
//! test binary starts (from the `postgresql` Debian package that `scripts/setup.sh` installs) and
//! that stops when the binary exits. `scripts/test.sh` runs the storage-backed suites both ways.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Backend, Storage};

/// Which backend the tests of this run use.
pub fn backend() -> Backend {
    match std::env::var("AGENTWATCH_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("AGENTWATCH_TEST_DATABASE={other}: expected sqlite or postgres"),
    }
}

/// Opens the storage of the data dir `dir` as a test's process would: `dir/agentwatch.db`, or
/// under Postgres a database of its own for `dir`, created on first use, so that every process a
/// test opens on one folder shares one database there too.
pub async fn open(dir: &Path) -> Storage {
    match backend() {
        Backend::Sqlite => Storage::open(&dir.join("agentwatch.db")).await.unwrap(),
        Backend::Postgres => {
            let url = {
                let mut databases = DATABASES.lock().await;
                match databases.get(dir) {
                    Some(url) => url.clone(),
                    None => {
                        let url = new_database().await;
                        databases.insert(dir.to_owned(), url.clone());
                        url
                    }
                }
            };
            Storage::connect(&url).await.unwrap()
        }
    }
}

/// The database of each folder given to [`open`].
static DATABASES: tokio::sync::Mutex<BTreeMap<PathBuf, String>> =
    tokio::sync::Mutex::const_new(BTreeMap::new());

/// The URL of an empty database on this binary's Postgres server, which it starts on first use.
pub async fn new_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = SERVER.get_or_init(|| PostgresServer::start(false));
    let name = format!("test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = server.url("postgres");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .unwrap();
    server.url(&name)
}

/// Everything the Postgres database at `url` holds, as `pg_dump` writes it (plain SQL): what a
/// test searches for what must never be stored, such as a secret in plain text.
pub fn dump(url: &str) -> Vec<u8> {
    let bin = binaries().expect("Postgres is not installed: run scripts/setup.sh --tests");
    let output = Command::new(bin.join("pg_dump")).args(["--no-owner", "--dbname", url]).output();
    let output = output.expect("pg_dump runs");
    assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

static SERVER: OnceLock<PostgresServer> = OnceLock::new();

/// A throwaway Postgres cluster in a temporary folder, without durability (`fsync` off).
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    /// With TLS: the certificate of the authority that signed the server's.
    ca: Option<PathBuf>,
    /// The watchdog's stdin: when this process exits, the pipe closes and the watchdog stops the
    /// server (a static is never dropped).
    watchdog: Child,
}

impl PostgresServer {
    /// A server of its own. With `tls`, it takes connections over TLS only, its certificate (for
    /// `localhost` and `127.0.0.1`) signed by a throwaway authority: [`PostgresServer::ca`].
    pub fn start(tls: bool) -> PostgresServer {
        let bin = binaries().unwrap_or_else(|| {
            panic!("Postgres is not installed (initdb not found): run scripts/setup.sh --tests")
        });
        // Removed by the watchdog once the server has stopped.
        let dir = tempfile::tempdir().unwrap().keep();
        let data = dir.join("data");
        // Postgres refuses to run as root: then it runs as the package's `postgres` user.
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir));
        }
        let command = |program: PathBuf| {
            let mut command = if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            command.current_dir(&dir);
            command
        };
        run(command(bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data));
        let (ca, tls_settings) = if tls {
            let ca = certificates(&dir, as_root);
            std::fs::write(dir.join("hba.conf"), "hostssl all all 127.0.0.1/32 trust\n").unwrap();
            let settings = format!(
                " -c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key \
                 -c hba_file={0}/hba.conf",
                dir.display()
            );
            (Some(ca), settings)
        } else {
            (None, String::new())
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let postgres = bin.join("postgres");
        let script = format!(
            "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300{} & \
             server=$!; read _; kill -INT $server; wait $server; rm -rf {}",
            postgres.display(),
            data.display(),
            dir.display(),
            tls_settings,
            dir.display(),
        );
        let watchdog = command(PathBuf::from("sh"))
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Accepting connections is not yet accepting logins; give it a moment.
                std::thread::sleep(Duration::from_millis(100));
                return PostgresServer { port, ca, watchdog };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(PostgresServer { port, ca, watchdog });
        panic!("postgres did not listen on port {port}");
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The authority that signed a TLS server's certificate (readable by anyone).
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(stdin) = self.watchdog.stdin.as_mut() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.watchdog.wait();
    }
}

/// Makes an authority (`ca.pem`) and a server certificate it signed for `localhost` and
/// `127.0.0.1` (`server.pem`, `server.key`) in `dir`; the key belongs to whoever runs the server,
/// readable by it alone, as Postgres insists. Returns the authority's certificate.
fn certificates(dir: &Path, as_root: bool) -> PathBuf {
    let openssl = |args: &[&str]| {
        run(Command::new("openssl").args(args).current_dir(dir));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    if as_root {
        run(Command::new("chown")
            .args(["postgres:postgres", "server.key", "server.pem"])
            .current_dir(dir));
    }
    run(Command::new("chmod").args(["600", "server.key"]).current_dir(dir));
    dir.join("ca.pem")
}

/// Where `initdb` and `postgres` are: on the PATH, or in Debian's versioned folder.
fn binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin"));
    let found = on_path
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())?;
    // Where the programs really are (a link on `PATH` may name `initdb` alone), beside the
    // other programs of the same installation (`pg_dump`).
    let initdb = std::fs::canonicalize(found.join("initdb")).ok()?;
    initdb.parent().map(Path::to_path_buf)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
