//! What the scanners' sandbox costs: each tool on one folder as a plain process (cleared
//! environment, empty working directory, limits) and in bubblewrap (namespaces, read-only system
//! view, no network), interleaved run by run so both see the same machine, after one warm-up
//! run of each. Prints the median and best wall time per tool and isolation.
//!
//! ```sh
//! cargo run --release -p scanner --example sandbox_bench -- fixtures/repos/vulnerable-app 7
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scanner::checkov::Checkov;
use scanner::semgrep::Semgrep;
use scanner::trivy::Trivy;
use scanner::{Limits, Sandbox, SandboxMode, ToolRun, ToolStatus};
use tokio_util::sync::CancellationToken;

fn assets() -> PathBuf {
    std::env::var_os("AGENTWATCH_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        PathBuf::from(home).join(".cache/agentwatch/assets")
    })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: sandbox_bench <folder> [runs]"));
    let runs: usize = args.next().map_or(5, |n| n.parse().expect("runs is a number"));
    let work = tempfile::tempdir().unwrap();
    let rules = scanner::rules::write_bundled(work.path()).unwrap();
    let isolations = [
        ("process", Sandbox::new(SandboxMode::Process).unwrap()),
        ("bubblewrap", Sandbox::new(SandboxMode::Bubblewrap).expect("bubblewrap works here")),
    ];
    println!("{} runs of each tool on {}, after a warm-up\n", runs, dir.display());
    println!("| tool | process: median (best) | bubblewrap: median (best) | added |");
    println!("|---|---|---|---|");
    for tool in ["semgrep", "trivy", "checkov"] {
        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        for round in 0..=runs {
            for (i, (_, sandbox)) in isolations.iter().enumerate() {
                let limits = Limits { sandbox: sandbox.clone(), ..Limits::default() };
                let started = Instant::now();
                let run = scan(tool, &dir, &rules, work.path(), limits).await;
                let took = started.elapsed();
                assert_eq!(run.status, ToolStatus::Ok, "{tool} in {}", isolations[i].0);
                if round > 0 {
                    times[i].push(took);
                }
            }
        }
        let [process, bwrap] = times.map(|mut t| {
            t.sort();
            (t[t.len() / 2], t[0])
        });
        let added = bwrap.0.as_secs_f64() - process.0.as_secs_f64();
        println!(
            "| {tool} | {:.2} s ({:.2} s) | {:.2} s ({:.2} s) | {:+.3} s |",
            process.0.as_secs_f64(),
            process.1.as_secs_f64(),
            bwrap.0.as_secs_f64(),
            bwrap.1.as_secs_f64(),
            added
        );
    }
}

async fn scan(tool: &str, dir: &Path, rules: &Path, work: &Path, limits: Limits) -> ToolRun {
    let cancel = CancellationToken::new();
    match tool {
        "semgrep" => {
            let rules = vec![rules.to_string_lossy().into_owned()];
            let binary = assets().join("semgrep/bin/semgrep");
            Semgrep { binary, rules, limits }.scan(dir, &cancel).await
        }
        "trivy" => {
            Trivy {
                binary: assets().join("trivy/trivy"),
                scanners: vec!["misconfig".into(), "secret".into()],
                offline: true,
                cache_dir: Some(work.join("trivy-cache")),
                limits,
            }
            .scan(dir, &cancel)
            .await
        }
        _ => {
            Checkov { binary: assets().join("checkov/bin/checkov"), limits }
                .scan(dir, &cancel)
                .await
        }
    }
}
