//! Where a scanner runs: the scanned tree is hostile, so the tool gets as little of the host as
//! it needs to read that tree.
//!
//! Every run, whatever the isolation:
//! - the environment is cleared to an allowlist (`PATH`, a private `HOME` and `TMPDIR`, the
//!   locale, and the tool's own settings), so no secret of the server's (the master key, provider
//!   keys, a git token) reaches it;
//! - its working directory is a fresh empty folder, its `HOME` a private one inside it, so no
//!   configuration file in the scanned tree, the server's folder or the user's home is picked up
//!   (each tool also gets arguments that keep it from reading the tree's own configuration);
//! - address space, stack, file size and core dumps are capped (`prlimit`, from util-linux), and
//!   its whole process group is killed on a timeout or a cancellation. The stack's hard limit
//!   matters for the address space: a tool may raise its own soft limit to the hard one, and each
//!   thread it starts then reserves that much (Semgrep sets 1 GB for its engine, whose every
//!   worker domain is a thread: three of them alone filled 4 GiB).
//!
//! With [`Isolation::Bubblewrap`] (Linux namespaces through `bwrap`), the tool also sees only a
//! read-only view of the system (`/usr`, the libraries, a few files of `/etc`), its own
//! installation, the scanned tree (read-only) and what else it must read (rules, caches), and no
//! network unless it must have one; it cannot see the data directory, other repositories or the
//! home directory, and it dies with the server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

/// How a scanner is kept from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Linux namespaces through bubblewrap: its own mount, PID, network, IPC and user namespaces.
    Bubblewrap(PathBuf),
    /// A plain child process: cleared environment, empty working directory, private home and
    /// resource limits, but the host's file system and network.
    Process,
}

/// Which isolation the operator asked for (`scan.sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Bubblewrap where the OS allows it, else [`Isolation::Process`] (with a warning).
    #[default]
    Auto,
    /// Bubblewrap or no scan at all.
    Bubblewrap,
    /// [`Isolation::Process`] only (the fallback, for comparison or a host without namespaces).
    Process,
}

impl std::str::FromStr for SandboxMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SandboxMode::Auto),
            "bubblewrap" => Ok(SandboxMode::Bubblewrap),
            "process" => Ok(SandboxMode::Process),
            other => Err(format!(
                "unknown sandbox `{other}`: expected auto, bubblewrap or process (see SECURITY.md)"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "scan.sandbox is `bubblewrap` but it cannot run here: {0}. Install it (apt-get install bubblewrap) and allow user namespaces, or set scan.sandbox = \"auto\""
)]
pub struct SandboxUnavailable(pub String);

/// The isolation scanners run under, and the resource limits of each process.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub isolation: Isolation,
    /// Most address space one tool process may map, in bytes.
    pub memory: u64,
    /// Largest file a tool may write, in bytes.
    pub max_file: u64,
    /// `prlimit`, which applies the limits; without it they are not applied (said at start).
    prlimit: Option<PathBuf>,
}

impl Default for Sandbox {
    /// [`SandboxMode::Auto`] with the default limits (4 GiB of address space, 256 MiB files).
    fn default() -> Self {
        Sandbox::new(SandboxMode::Auto).expect("auto always finds an isolation")
    }
}

impl Sandbox {
    pub const DEFAULT_MEMORY: u64 = 4 << 30;
    pub const DEFAULT_MAX_FILE: u64 = 256 << 20;
    /// The most stack a tool may raise its own to: enough for a parser's deep recursion, small
    /// enough that a thread per core fits the address space.
    pub const MAX_STACK: u64 = 256 << 20;

    /// The sandbox `mode` asks for, checking once per process that bubblewrap works here.
    pub fn new(mode: SandboxMode) -> Result<Sandbox, SandboxUnavailable> {
        let isolation = match mode {
            SandboxMode::Process => Isolation::Process,
            SandboxMode::Auto => match bubblewrap() {
                Ok(bwrap) => Isolation::Bubblewrap(bwrap.clone()),
                Err(_) => Isolation::Process,
            },
            SandboxMode::Bubblewrap => Isolation::Bubblewrap(
                bubblewrap().map_err(|e| SandboxUnavailable(e.clone()))?.clone(),
            ),
        };
        Ok(Sandbox {
            isolation,
            memory: Sandbox::DEFAULT_MEMORY,
            max_file: Sandbox::DEFAULT_MAX_FILE,
            prlimit: which("prlimit"),
        })
    }

    /// One line for the log at start: what scanners run under, and what is missing.
    pub fn describe(&self) -> String {
        let limits = match &self.prlimit {
            Some(_) => format!(
                "{} MiB of address space, {} MiB of stack and {} MiB files per process",
                self.memory >> 20,
                Sandbox::MAX_STACK >> 20,
                self.max_file >> 20
            ),
            None => "no memory or file-size limits (prlimit, from util-linux, is missing)".into(),
        };
        match (&self.isolation, bubblewrap()) {
            (Isolation::Bubblewrap(_), _) => {
                format!("scanners run in bubblewrap (no network, read-only system view); {limits}")
            }
            (Isolation::Process, Err(why)) => format!(
                "scanners run as plain processes with a cleared environment; {limits}; \
                 bubblewrap is unavailable ({why}), so they can read the host's files and reach \
                 the network (see SECURITY.md)"
            ),
            (Isolation::Process, Ok(_)) => format!(
                "scanners run as plain processes with a cleared environment (scan.sandbox = \
                 \"process\"); {limits}; they can read the host's files and reach the network"
            ),
        }
    }

    /// The command that runs `run` in this sandbox, with `work` (a fresh empty folder the caller
    /// removes afterwards) as its working directory and home.
    pub(crate) fn command(&self, run: &Invocation<'_>, work: &Path) -> tokio::process::Command {
        let home = work.join("home");
        let tmp = work.join("tmp");
        let mut argv: Vec<String> = Vec::new();
        if let Some(prlimit) = &self.prlimit {
            argv.push(prlimit.to_string_lossy().into_owned());
            argv.push(format!("--as={}", self.memory));
            let (soft, hard) = stack_limits();
            argv.push(format!("--stack={soft}:{hard}"));
            argv.push(format!("--fsize={}", self.max_file));
            argv.push("--core=0".to_owned());
            argv.push("--".to_owned());
        }
        if let Isolation::Bubblewrap(bwrap) = &self.isolation {
            argv.push(bwrap.to_string_lossy().into_owned());
            argv.extend(bubblewrap_args(run, work));
        }
        argv.push(run.binary.to_string_lossy().into_owned());
        argv.extend(run.args.iter().cloned());

        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .current_dir(work)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("TZ", "UTC")
            .envs(run.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }
}

/// What one tool run needs from the host.
#[derive(Debug)]
pub(crate) struct Invocation<'a> {
    pub binary: &'a Path,
    pub args: Vec<String>,
    /// The scanned tree: read-only, at its own path.
    pub target: &'a Path,
    /// Everything else it reads (rules, caches), read-only, at their own paths.
    pub reads: Vec<PathBuf>,
    /// Folders it may write besides its working directory (a cache it fills).
    pub writes: Vec<PathBuf>,
    /// The tool's own settings, on top of the allowlist.
    pub env: Vec<(&'static str, String)>,
    /// Whether it needs the network (a database or registry rules to download).
    pub network: bool,
}

impl Invocation<'_> {
    /// The working directory's layout: `home/` and `tmp/` inside a fresh folder.
    pub fn prepare(work: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(work.join("home"))?;
        std::fs::create_dir_all(work.join("tmp"))
    }
}

/// The system's own folders: in every sandbox already, read-only.
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// Files of `/etc` that programs need to start (the loader's cache, users, time zone, TLS roots);
/// nothing else of `/etc` is visible.
const ETC: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/mime.types",
];

/// More of `/etc` for a tool that may use the network: name resolution.
const ETC_NET: &[&str] = &["/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf"];

fn bubblewrap_args(run: &Invocation<'_>, work: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    .map(String::from)
    .into();
    if run.network {
        args.push("--share-net".to_owned());
    }
    // Merged-/usr systems make these links; older ones have real folders.
    for top in &SYSTEM[1..] {
        match std::fs::read_link(top) {
            Ok(target) => args.extend(["--symlink".into(), path(&target), (*top).into()]),
            Err(_) if Path::new(top).is_dir() => {
                args.extend(["--ro-bind".into(), (*top).into(), (*top).into()]);
            }
            Err(_) => {}
        }
    }
    let etc = ETC.iter().chain(if run.network { ETC_NET } else { &[] });
    for file in etc {
        args.extend(["--ro-bind-try".into(), (*file).into(), (*file).into()]);
    }
    let mut reads: Vec<PathBuf> = install_roots(run.binary);
    reads.extend(run.reads.iter().cloned());
    reads.push(run.target.to_owned());
    for read in reads.iter().filter(|r| !SYSTEM.iter().any(|dir| r.starts_with(dir))) {
        args.extend(["--ro-bind-try".into(), path(read), path(read)]);
    }
    for write in run.writes.iter().map(PathBuf::as_path).chain([work]) {
        args.extend(["--bind".into(), path(write), path(write)]);
    }
    args.extend(["--chdir".into(), path(work)]);
    args
}

/// What of the host a tool needs to run: the binary itself (and the file a link points to), and
/// when it lives in a Python virtualenv or installation (its `bin/` beside a `lib/python3.*`),
/// that installation's `bin`, `lib` and `pyvenv.cfg`; for a script, the same for its
/// interpreter. Never a whole prefix such as `~/.local`, which may hold the data dir, and
/// nothing under `/usr`, which is there already.
fn install_roots(binary: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut add = |file: &Path| {
        for path in install_of(file) {
            let system = SYSTEM.iter().any(|dir| path.starts_with(dir));
            if !system && !roots.contains(&path) {
                roots.push(path);
            }
        }
    };
    add(binary);
    if let Ok(real) = binary.canonicalize() {
        add(&real);
    }
    if let Some(interpreter) = shebang(binary) {
        add(&interpreter);
        if let Ok(real) = interpreter.canonicalize() {
            add(&real);
        }
    }
    roots
}

/// The paths one program file needs: itself, or its Python installation's.
fn install_of(file: &Path) -> Vec<PathBuf> {
    let prefix = file
        .parent()
        .filter(|bin| bin.file_name().is_some_and(|n| n == "bin"))
        .and_then(Path::parent)
        .filter(|prefix| prefix.parent().is_some())
        .filter(|prefix| prefix.join("pyvenv.cfg").is_file() || has_python_lib(prefix));
    match prefix {
        Some(prefix) => ["bin", "lib", "lib64", "pyvenv.cfg"]
            .iter()
            .map(|part| prefix.join(part))
            .filter(|path| path.exists())
            .collect(),
        None => vec![file.to_owned()],
    }
}

fn has_python_lib(prefix: &Path) -> bool {
    std::fs::read_dir(prefix.join("lib")).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("python3"))
    })
}

/// The interpreter a script names on its `#!` line.
fn shebang(script: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = std::str::from_utf8(line.split(|b| *b == b'\n').next()?).ok()?;
    let interpreter = line.split_whitespace().next()?;
    interpreter.starts_with('/').then(|| PathBuf::from(interpreter))
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `bwrap`, if it is installed and the kernel lets it make namespaces here; checked once.
/// The stack limits a tool gets: the server's own, with the hard one at most [`Sandbox::MAX_STACK`]
/// (lowering a hard limit needs no privilege; raising one would).
fn stack_limits() -> (u64, u64) {
    use nix::sys::resource::{Resource, getrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_STACK).unwrap_or((8 << 20, Sandbox::MAX_STACK));
    let hard = hard.min(Sandbox::MAX_STACK);
    (soft.min(hard), hard)
}

fn bubblewrap() -> Result<&'static PathBuf, &'static String> {
    static BWRAP: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BWRAP
        .get_or_init(|| {
            let bwrap = which("bwrap").ok_or("bwrap is not installed")?;
            let probe = std::process::Command::new(&bwrap)
                .args(["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"])
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("cannot start {}: {e}", bwrap.display()))?;
            if probe.status.success() {
                Ok(bwrap)
            } else {
                let why = String::from_utf8_lossy(&probe.stderr).trim().to_owned();
                Err(format!("bwrap cannot make namespaces here: {why}"))
            }
        })
        .as_ref()
}

/// A program on `PATH`, or in the usual system folders when `PATH` is bare.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::run::{Limits, Output, run};

    /// Bubblewrap, which `scripts/setup.sh` installs: these tests are about it, so no fallback.
    fn bubblewrap() -> Sandbox {
        Sandbox::new(SandboxMode::Bubblewrap).expect("scripts/setup.sh installs bubblewrap")
    }

    fn bash<'a>(script: &str, target: &'a Path) -> Invocation<'a> {
        Invocation {
            binary: Path::new("/bin/bash"),
            args: vec!["-c".to_owned(), script.to_owned()],
            target,
            reads: Vec::new(),
            writes: Vec::new(),
            env: Vec::new(),
            network: false,
        }
    }

    async fn run_in(sandbox: Sandbox, invocation: &Invocation<'_>) -> Output {
        let limits = Limits { sandbox, timeout: Duration::from_secs(60), ..Limits::default() };
        match run(invocation, &limits, &CancellationToken::new()).await {
            Ok(output) => output,
            Err(status) => panic!("{status:?}"),
        }
    }

    #[tokio::test]
    async fn a_scanner_sees_none_of_the_server_s_environment() {
        let tree = tempfile::tempdir().unwrap();
        // cargo runs this test with CARGO_* set, as the server runs with its keys set.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        for sandbox in [bubblewrap(), Sandbox::new(SandboxMode::Process).unwrap()] {
            let mut env = bash("env", tree.path());
            env.env.push(("SEMGREP_SEND_METRICS", "off".to_owned()));
            let out = run_in(sandbox.clone(), &env).await;
            let names: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter_map(|l| Some(l.split_once('=')?.0.to_owned()))
                .collect();
            let allowed = [
                "PATH",
                "HOME",
                "TMPDIR",
                "XDG_CACHE_HOME",
                "XDG_CONFIG_HOME",
                "XDG_DATA_HOME",
                "LANG",
                "LC_ALL",
                "TZ",
                "SEMGREP_SEND_METRICS",
                // bash's own
                "PWD",
                "SHLVL",
                "_",
                "OLDPWD",
            ];
            let extra: Vec<&String> =
                names.iter().filter(|n| !allowed.contains(&n.as_str())).collect();
            assert!(extra.is_empty(), "{:?}: {extra:?}", sandbox.isolation);
        }
    }

    #[tokio::test]
    async fn a_scanner_starts_in_an_empty_folder_with_a_private_home() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("trivy.yaml"), "output: /tmp/x\n").unwrap();
        let script =
            r#"ls -A .; echo "home=$HOME"; test "$PWD" != "$(dirname "$HOME")" && echo stray"#;
        let out = run_in(bubblewrap(), &bash(script, tree.path())).await;
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("home"), "only its home folder is there: {text}");
        assert_eq!(lines.next(), Some("tmp"), "{text}");
        assert!(lines.next().unwrap().starts_with("home=/"), "{text}");
        assert!(!text.contains("stray"), "{text}");
    }

    #[tokio::test]
    async fn a_scanner_reaches_no_network_not_even_loopback() {
        let tree = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected; exec 3<>/dev/tcp/1.1.1.1/443 && echo out"
        );
        let out = run_in(bubblewrap(), &bash(&script, tree.path())).await;
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains("connected") && !text.contains("out"), "{text}");
        // Nothing knocked: the listener has no connection waiting.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the sandbox connected to the host's loopback");
    }

    #[tokio::test]
    async fn a_scanner_reads_its_tree_but_cannot_write_it_or_see_the_rest_of_the_host() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("app.py"), "print('hello')\n").unwrap();
        let secrets = tempfile::tempdir().unwrap();
        std::fs::write(secrets.path().join("master.key"), "00112233").unwrap();
        let script = format!(
            "cat app.py 2>/dev/null; cat {tree}/app.py; echo x > {tree}/app.py || echo readonly; \
             cat {secret} || echo hidden; ls /root /home 2>/dev/null | wc -l; \
             test -e /etc/shadow || echo no-shadow",
            tree = tree.path().display(),
            secret = secrets.path().join("master.key").display(),
        );
        let out = run_in(bubblewrap(), &bash(&script, tree.path())).await;
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text, "print('hello')\nreadonly\nhidden\n0\nno-shadow\n");
        assert_eq!(
            std::fs::read_to_string(tree.path().join("app.py")).unwrap(),
            "print('hello')\n"
        );
    }

    #[tokio::test]
    async fn a_scanner_over_its_memory_limit_fails_instead_of_taking_the_host_s() {
        let tree = tempfile::tempdir().unwrap();
        let mut sandbox = bubblewrap();
        sandbox.memory = 512 << 20;
        let script = r#"s=$(printf "%*s" 800000000 ""); echo "allocated ${#s}""#;
        let out = run_in(sandbox, &bash(script, tree.path())).await;
        assert_ne!(out.code, Some(0));
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    }

    #[tokio::test]
    async fn a_scanner_cannot_raise_its_stack_past_the_cap() {
        let tree = tempfile::tempdir().unwrap();
        // What Semgrep does before starting its engine: as much stack as it is allowed.
        let script = "ulimit -s unlimited 2>/dev/null || echo refused; ulimit -Hs; ulimit -s 262144; ulimit -s";
        let out = run_in(bubblewrap(), &bash(script, tree.path())).await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "refused\n262144\n262144\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_everything_the_scanner_started() {
        let tree = tempfile::tempdir().unwrap();
        let pids = tempfile::tempdir().unwrap();
        let pidfile = pids.path().join("pid");
        // A grandchild in the background, as semgrep starts semgrep-core.
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let mut invocation = bash(&script, tree.path());
        invocation.writes.push(pids.path().to_owned());
        let limits = Limits {
            sandbox: Sandbox::new(SandboxMode::Process).unwrap(),
            timeout: Duration::from_secs(1),
            ..Limits::default()
        };
        let status = run(&invocation, &limits, &CancellationToken::new()).await.err();
        assert_eq!(status, Some(crate::ToolStatus::TimedOut));
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        let proc = PathBuf::from(format!("/proc/{pid}"));
        for _ in 0..50 {
            // Gone, or a zombie waiting for init to reap it.
            let state = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the scanner's child {pid} outlived its timeout");
    }

    #[test]
    fn a_virtualenv_script_brings_its_venv_and_its_interpreter_s_installation_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        let python = dir.path().join("python-3.11/bin/python3.11");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::create_dir_all(python.parent().unwrap()).unwrap();
        std::fs::write(&python, "").unwrap();
        std::os::unix::fs::symlink(&python, venv.join("bin/python")).unwrap();
        let script = venv.join("bin/semgrep");
        std::fs::write(&script, format!("#!{}/bin/python\nimport x\n", venv.display())).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = /x\n").unwrap();
        std::fs::create_dir_all(venv.join("lib/python3.11/site-packages")).unwrap();
        std::fs::create_dir_all(dir.path().join("python-3.11/lib/python3.11")).unwrap();
        std::fs::create_dir_all(dir.path().join("python-3.11/share/secrets")).unwrap();
        let roots = install_roots(&script);
        let interpreter = dir.path().canonicalize().unwrap().join("python-3.11");
        let mut expected = vec![
            venv.join("bin"),
            venv.join("lib"),
            venv.join("pyvenv.cfg"),
            interpreter.join("bin"),
            interpreter.join("lib"),
        ];
        expected.sort();
        let mut roots = roots;
        roots.sort();
        roots.dedup();
        assert_eq!(roots, expected);
        // A binary of the system's adds nothing: the system is there already.
        assert_eq!(install_roots(Path::new("/bin/bash")), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_sandbox_mode_is_named_in_the_config() {
        assert_eq!("bubblewrap".parse::<SandboxMode>().unwrap(), SandboxMode::Bubblewrap);
        let err = "docker".parse::<SandboxMode>().unwrap_err();
        assert!(err.contains("auto, bubblewrap or process"), "{err}");
    }
}
