//! Running a scanner as a subprocess: in its sandbox, with a time limit, cancellation, and a cap
//! on what it may print.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::finding::{Finding, Tool};
use crate::sandbox::{Invocation, Sandbox};

/// How one tool's part of a scan went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolStatus {
    Ok,
    /// It ran and failed; the message says why (the end of its stderr, or what was wrong).
    Failed(String),
    /// Its binary is not there; the message says how to install it.
    NotInstalled(String),
    TimedOut,
    Cancelled,
}

impl ToolStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ToolStatus::Ok => "ok",
            ToolStatus::Failed(_) => "failed",
            ToolStatus::NotInstalled(_) => "not_installed",
            ToolStatus::TimedOut => "timed_out",
            ToolStatus::Cancelled => "cancelled",
        }
    }

    /// Why it failed, or how to install it.
    pub fn message(&self) -> Option<&str> {
        match self {
            ToolStatus::Failed(m) | ToolStatus::NotInstalled(m) => Some(m),
            _ => None,
        }
    }

    /// The status named `status` (one of [`ToolStatus::as_str`]), with its message.
    pub fn from_parts(status: &str, message: Option<String>) -> Option<ToolStatus> {
        let message = message.unwrap_or_default();
        Some(match status {
            "ok" => ToolStatus::Ok,
            "failed" => ToolStatus::Failed(message),
            "not_installed" => ToolStatus::NotInstalled(message),
            "timed_out" => ToolStatus::TimedOut,
            "cancelled" => ToolStatus::Cancelled,
            _ => return None,
        })
    }
}

/// One tool's findings, status and time.
#[derive(Debug, Clone)]
pub struct ToolRun {
    pub tool: Tool,
    pub status: ToolStatus,
    pub findings: Vec<Finding>,
    pub duration: Duration,
}

/// Limits every scanner process runs under, and the sandbox that holds it.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    /// Most bytes of stdout read; a report larger than this fails the tool.
    pub max_output: usize,
    pub sandbox: Sandbox,
}

impl Limits {
    pub const DEFAULT_MAX_OUTPUT: usize = 256 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(600),
            max_output: Limits::DEFAULT_MAX_OUTPUT,
            sandbox: Sandbox::default(),
        }
    }
}

/// What a finished process printed.
pub(crate) struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs a tool in its sandbox, in a fresh empty working directory removed afterwards; `Err` is
/// the tool's status when there is no output to read.
pub(crate) async fn run(
    invocation: &Invocation<'_>,
    limits: &Limits,
    cancel: &CancellationToken,
) -> Result<Output, ToolStatus> {
    let work = tempfile::Builder::new()
        .prefix("agentwatch-scan-")
        .tempdir()
        .and_then(|work| Invocation::prepare(work.path()).map(|()| work))
        .map_err(|e| ToolStatus::Failed(format!("cannot make its working directory: {e}")))?;
    let binary = invocation.binary;
    let mut child = limits
        .sandbox
        .command(invocation, work.path())
        .spawn()
        .map_err(|e| ToolStatus::Failed(format!("cannot start {}: {e}", binary.display())))?;
    // The tool leads its own process group: a timeout or a cancellation ends all of it.
    let group = ProcessGroup(child.id());
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let cap = limits.max_output as u64 + 1;
    let read_out = async {
        let mut buf = Vec::new();
        (&mut stdout).take(cap).read_to_end(&mut buf).await.map(|_| buf)
    };
    let read_err = async {
        let mut buf = Vec::new();
        (&mut stderr).take(1024 * 1024).read_to_end(&mut buf).await.map(|_| buf)
    };
    let wait = async {
        let (out, err) = tokio::join!(read_out, read_err);
        (out, err, child.wait().await)
    };
    let (out, err, status) = tokio::select! {
        done = wait => done,
        () = tokio::time::sleep(limits.timeout) => return Err(ToolStatus::TimedOut),
        () = cancel.cancelled() => return Err(ToolStatus::Cancelled),
    };
    drop(group); // whatever it left running
    let stdout = out.map_err(|e| ToolStatus::Failed(format!("cannot read its output: {e}")))?;
    if stdout.len() > limits.max_output {
        return Err(ToolStatus::Failed(format!(
            "its report is over {} MiB: scan a smaller folder or exclude generated files",
            limits.max_output / (1024 * 1024)
        )));
    }
    let stderr = String::from_utf8_lossy(&err.unwrap_or_default()).into_owned();
    let status = status.map_err(|e| ToolStatus::Failed(format!("cannot wait for it: {e}")))?;
    Ok(Output { code: status.code(), stdout, stderr })
}

/// A process group, killed when dropped.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A path as a command-line argument.
pub(crate) fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The last lines of a tool's stderr, for a failure message.
pub(crate) fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// `binary` if it exists, else the status saying how to get it.
pub(crate) fn installed(binary: &Path, install: &str) -> Result<PathBuf, ToolStatus> {
    if binary.is_file() {
        Ok(binary.to_owned())
    } else {
        Err(ToolStatus::NotInstalled(format!("{} is missing: {install}", binary.display())))
    }
}

/// A tool run that produced no findings, with how it ended.
pub(crate) fn ended(tool: Tool, status: ToolStatus, started: Instant) -> ToolRun {
    ToolRun { tool, status, findings: Vec::new(), duration: started.elapsed() }
}
