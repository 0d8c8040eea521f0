//! The `agentwatch` command line: parses arguments, loads the configuration once, sets up logging,
//! runs one command, and turns the outcome into an exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, LogFormat};
use crate::indexing;
use crate::serve::{self, Faces};

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status when a command ran and failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for bad arguments or configuration (also what clap uses for usage errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `agentwatch scan --fail-on` when a finding meets the threshold.
pub const EXIT_FINDINGS: u8 = 3;

/// Code intelligence for AI agents, and the LLM gateway they talk through.
#[derive(Debug, Parser)]
#[command(name = "agentwatch", version, about, propagate_version = true)]
#[command(after_help = "Exit status: 0 success, 1 failure, 2 bad arguments or configuration, \
    3 findings at or above `scan --fail-on`.\n\
    Configuration: a TOML file (--config or AGENTWATCH_CONFIG) with AGENTWATCH_* overrides; \
    `agentwatch config show` prints the effective settings.")]
struct Cli {
    /// The TOML config file.
    #[arg(long, global = true, env = "AGENTWATCH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format, overriding log.format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the knowledge server (port 4000) and the gateway (port 8787) in one process.
    Serve,
    /// Run the gateway alone (port 8787), for example as a sidecar.
    Gateway,
    /// Serve MCP over stdin and stdout, for an AI IDE or agent that launches AgentWatch itself.
    Mcp,
    /// Index a repository (an https URL or a local path) into the symbol graph.
    Index {
        /// An https:// git URL, or a local folder (a git work tree or a plain directory).
        location: String,
        /// The branch to index (default: the remote's default branch).
        #[arg(long)]
        branch: Option<String>,
        /// Print one JSON object when the job ends.
        #[arg(long)]
        json: bool,
    },
    /// Search the indexed code.
    Search {
        query: String,
        /// Limit the search to a repository (id, name, URL or path); repeat for several.
        #[arg(long = "repo", value_name = "REPO")]
        repos: Vec<String>,
        /// How to match: semantic (by meaning), lexical (words of the code, identifiers split)
        /// or hybrid (both, fused). Default: hybrid, or lexical when the embedding model is not
        /// installed.
        #[arg(long, value_enum)]
        mode: Option<SearchMode>,
        /// Only this language (rust, python, typescript, tsx, javascript, go, java, kotlin, csharp,
        /// php, ruby, bash, c, cpp).
        #[arg(long)]
        language: Option<String>,
        /// Only paths matching this glob, e.g. 'src/**/*.rs'.
        #[arg(long, value_name = "GLOB")]
        path: Option<String>,
        /// Only chunks of this symbol kind (function, method, class, …) or `code`.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Find the code an issue, stack trace, log or failing test is about: ranked files, their
    /// symbols, and the evidence for each.
    Locate {
        /// The text; `-` or nothing reads it from standard input (`agentwatch locate < issue.md`).
        text: Option<String>,
        /// Read the text from this file.
        #[arg(long, value_name = "PATH", conflicts_with = "text")]
        file: Option<PathBuf>,
        /// The repository (id, name, URL or path); may be left out when one is indexed.
        #[arg(long)]
        repo: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scan a repository for vulnerable code, misconfigurations and secrets (Semgrep, Trivy),
    /// each finding tied to the symbol holding it. Indexes the target first if needed.
    Scan {
        /// An indexed repository (id, name, URL or path), or an https URL or folder to index.
        target: String,
        #[arg(long, value_enum, default_value_t = crate::scanning::Format::Table)]
        format: crate::scanning::Format,
        /// Exit with status 3 when a finding is this severe or worse (critical, high, medium,
        /// low, info); a tool that failed makes it exit 1.
        #[arg(long, value_name = "SEVERITY")]
        fail_on: Option<scanner::Severity>,
        /// More Semgrep rules to run besides the bundled pack (a rule file or folder); repeat
        /// for several. Adds to scan.rules.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<String>,
        /// Store a report made elsewhere instead of running the tools (needs --tool).
        #[arg(long, value_name = "FILE", requires = "tool")]
        import: Option<PathBuf>,
        /// The imported report's format: semgrep (`--json`), trivy (`--format json`), checkov
        /// (`-o json`) or sarif (SARIF 2.1.0 from any of them).
        #[arg(long, requires = "import")]
        tool: Option<scanner::ReportFormat>,
    },
    /// Show indexed repositories, or one of them by id, name, URL or path.
    Status {
        repo: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the gateway's admin users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Data loss prevention: what the gateway's detectors find.
    #[command(subcommand)]
    Dlp(DlpCommand),
    /// Add AgentWatch to an AI client's MCP servers: its config file is merged, not replaced
    /// (the other servers, comments and formatting stay), and a second run changes nothing.
    Setup {
        /// The client: claude-code, cursor, vscode, codex, windsurf or zed.
        #[arg(required_unless_present = "print")]
        client: Option<crate::setup::Client>,
        /// Connect to a running server's MCP endpoint (e.g. http://localhost:4000/mcp) instead
        /// of launching `agentwatch mcp`.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The bearer token for --url (knowledge.token or a tenant's key); it is written into
        /// the client's file.
        #[arg(long, requires = "url")]
        token: Option<String>,
        /// The server's name in the client.
        #[arg(long, default_value = "agentwatch")]
        name: String,
        /// Another file than the client's own (a project's `.mcp.json`, `.vscode/mcp.json`…).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Show the change as a diff and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the `mcpServers` entry for a client not listed here, and write nothing.
        #[arg(long, conflicts_with_all = ["client", "file", "dry_run"])]
        print: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DlpCommand {
    /// Read text from stdin and print what the detectors find: type, start and end (byte
    /// offsets in the UTF-8 text, end exclusive) and confidence. Never prints the values.
    Scan {
        /// Print JSON: {"detections": [{"type", "start", "end", "confidence"}]}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a user of the admin API (and its organization, if new), with the password read
    /// from stdin. Prints the user as JSON.
    CreateUser {
        #[arg(long)]
        email: String,
        /// admin, member or viewer.
        #[arg(long, value_parser = ["admin", "member", "viewer"])]
        role: String,
        /// The organization; created if it does not exist.
        #[arg(long, default_value = gateway::store::DEFAULT_ORG)]
        org: String,
        /// Read the password (at least 12 characters) from stdin: the only way to give it, so
        /// that it never shows in the process list or shell history.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Re-seal every provider key under a new master key, read from stdin (64 hex characters,
    /// e.g. `openssl rand -hex 32`). Stop the gateway first. A master key kept in
    /// `<data_dir>/master.key` is replaced; one from `gateway.master_key` or
    /// `AGENTWATCH_MASTER_KEY` must be changed there before the next start.
    RotateMasterKey {
        /// Read the new key from stdin: the only way to give it.
        #[arg(long, required = true)]
        new_key_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SearchMode {
    Semantic,
    Lexical,
    Hybrid,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Show {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mut config, sources) = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(err) => return fail(&err.into(), EXIT_USAGE),
    };
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    // Servers log their own events at info; LanceDB's per-operation info lines are noise there.
    // `mcp` runs under an IDE, which shows stderr: only what needs attention.
    let default_level = match cli.command {
        Command::Serve | Command::Gateway => "info,lance=warn,lance_index=warn,lancedb=warn",
        _ => "warn",
    };
    let _telemetry = match crate::logging::init(&config.log, default_level) {
        Ok(telemetry) => telemetry,
        Err(err) => return fail(&err, EXIT_USAGE),
    };
    for var in &sources.unknown_env {
        let known: Vec<_> = Config::env_overrides().map(|(var, _)| var).collect();
        tracing::warn!("ignoring unknown environment variable {var}; known: {}", known.join(", "));
    }

    match run(cli.command, &config, &sources) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) if err.downcast_ref::<ConfigError>().is_some() => fail(&err, EXIT_USAGE),
        Err(err) if err.downcast_ref::<crate::scanning::GateClosed>().is_some() => {
            fail(&err, EXIT_FINDINGS)
        }
        Err(err) => fail(&err, EXIT_FAILURE),
    }
}

fn run(command: Command, config: &Config, sources: &crate::config::Sources) -> anyhow::Result<()> {
    // Whatever this process writes (databases, checkouts, keys, logs of the tools it runs) is
    // its user's alone; the data dir is closed to everyone else even where older files are not.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    if !matches!(command, Command::Config(_) | Command::Dlp(_) | Command::Setup { .. }) {
        crate::config::private_dir(&config.data_dir)?;
    }
    match command {
        Command::Setup { client, url, token, name, file, dry_run, print } => {
            let transport = match url {
                Some(url) => crate::setup::Transport::Http { url, token },
                None => {
                    let command = std::env::current_exe()
                        .and_then(std::fs::canonicalize)
                        .context("cannot tell where the agentwatch binary is")?;
                    let mut args = Vec::new();
                    if let Some(file) = &sources.file {
                        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
                        args.extend(["--config".to_owned(), file.display().to_string()]);
                    }
                    args.push("mcp".to_owned());
                    let command = command.display().to_string();
                    crate::setup::Transport::Stdio { command, args }
                }
            };
            let Some(client) = client.filter(|_| !print) else {
                println!("{}", crate::setup::snippet(&name, &transport));
                return Ok(());
            };
            let path = match file {
                Some(file) => file,
                None => {
                    let home = std::env::var_os("HOME")
                        .filter(|h| !h.is_empty())
                        .context("HOME is not set: give the client's file with --file")?;
                    client.path(Path::new(&home))
                }
            };
            let change = crate::setup::plan(client, &path, &name, &transport)?;
            if change.is_empty() {
                println!("{} already has {name}; nothing changed", path.display());
            } else if dry_run {
                print!("{}", change.diff());
            } else {
                change.write()?;
                println!("added {name} to {}", path.display());
            }
            Ok(())
        }
        Command::Serve => runtime()?.block_on(serve::run(config, Faces::Both)),
        Command::Gateway => runtime()?.block_on(serve::run(config, Faces::Gateway)),
        Command::Mcp => runtime()?.block_on(async {
            let storage = config.storage().await?;
            let indexer = indexing::open_indexer(config, &storage, true).await?;
            indexer.resume_embedding().await?;
            let _resuming = indexer.keep_resuming(indexer::LEASE);
            let _watching = indexer.keep_watching(config.watch_options());
            let _syncing = indexer.keep_syncing(serve::SYNC_LOOKS);
            let scans = crate::scanning::open(config, &storage, Arc::clone(&indexer))?;
            // Over stdio the client is this machine's user; what it reads is still screened.
            let access = crate::access::Access::new(&config.gateway.dlp, None, true);
            let asker = serve::asker(config, None)?;
            let knowledge = knowledge::Knowledge::new(indexer)
                .with_scans(scans)
                .with_asker(asker)
                .with_watch_by_default(config.index.watch);
            crate::mcp::serve_stdio(knowledge, Arc::new(access)).await
        }),
        Command::Index { location, branch, json } => {
            runtime()?.block_on(indexing::index(config, &location, branch, json))
        }
        Command::Search { query, repos, mode, language, path, kind, limit, offset, json } => {
            let mode = mode.map(|mode| match mode {
                SearchMode::Semantic => indexer::Mode::Semantic,
                SearchMode::Lexical => indexer::Mode::Lexical,
                SearchMode::Hybrid => indexer::Mode::Hybrid,
            });
            let request = knowledge::SearchRequest {
                text: query,
                mode,
                repos,
                language,
                path_glob: path,
                kind,
                limit: Some(limit),
                offset: Some(offset),
            };
            runtime()?.block_on(indexing::search(config, request, json))
        }
        Command::Locate { text, file, repo, limit, json } => {
            let text = match (text, file) {
                (_, Some(file)) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
                (Some(text), None) if text != "-" => text,
                _ => std::io::read_to_string(std::io::stdin())
                    .context("cannot read the text from standard input")?,
            };
            runtime()?.block_on(indexing::locate(config, repo.as_deref(), &text, limit, json))
        }
        Command::Scan { target, format, fail_on, rules, import, tool } => {
            let import = import.zip(tool);
            let args = crate::scanning::ScanArgs { target, format, fail_on, import };
            let mut config = config.clone();
            config.scan.rules.extend(rules);
            runtime()?.block_on(crate::scanning::scan_command(&config, args))
        }
        Command::Status { repo, json } => {
            runtime()?.block_on(indexing::status(config, repo.as_deref(), json))
        }
        Command::Admin(AdminCommand::CreateUser { email, role, org, password_stdin: _ }) => {
            runtime()?.block_on(create_user(config, email, &role, org))
        }
        Command::Admin(AdminCommand::RotateMasterKey { new_key_stdin: _ }) => {
            runtime()?.block_on(rotate_master_key(config))
        }
        Command::Dlp(DlpCommand::Scan { json }) => dlp_scan(json),
        Command::Config(ConfigCommand::Show { json }) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&config.shown())?);
            } else {
                match &sources.file {
                    Some(file) => println!("# config file: {}", file.display()),
                    None => println!("# config file: none (built-in defaults)"),
                }
                if !sources.env.is_empty() {
                    println!("# environment overrides: {}", sources.env.join(", "));
                }
                print!("{}", config.to_toml());
            }
            Ok(())
        }
    }
}

/// `agentwatch admin create-user`: bad input exits 2 (a usage error), an email that already has
/// an account exits 1.
async fn create_user(
    config: &Config,
    email: String,
    role: &str,
    org: String,
) -> anyhow::Result<()> {
    use std::io::Read;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password).to_owned();
    let invalid = |e: String| ConfigError::Invalid(e);
    gateway::admin::check_email(email.trim()).map_err(|e| invalid(format!("--email: {e}")))?;
    gateway::admin::check_password(&password)
        .map_err(|e| invalid(format!("the password on stdin: {e}")))?;
    if org.trim().is_empty() {
        return Err(invalid("--org: the organization needs a name".to_owned()).into());
    }
    let role = gateway::admin::Role::parse(role).expect("clap allows only known roles");
    let storage = config.storage().await?;
    let store = gateway::Gateway::open_store(&config.gateway, &config.data_dir, &storage)?;
    let user = gateway::admin::CreateUser { org: org.clone(), email, password, role };
    let id = gateway::admin::create_user(&store, &user).await?;
    let shown = serde_json::json!({
        "id": id, "email": user.email.trim().to_lowercase(), "role": role, "org": org,
    });
    println!("{shown}");
    Ok(())
}

/// `agentwatch admin rotate-master-key`: a malformed key exits 2; a store sealed under another
/// key than the current one exits 1 and changes nothing.
async fn rotate_master_key(config: &Config) -> anyhow::Result<()> {
    use std::io::Read;
    let mut key = String::new();
    std::io::stdin().read_to_string(&mut key)?;
    let key = key.trim();
    gateway::secrets::MasterKey::from_hex(key)
        .map_err(|e| ConfigError::Invalid(format!("the new key on stdin: {e}")))?;
    let storage = config.storage().await?;
    let resealed =
        gateway::Gateway::rotate_master_key(&config.gateway, &config.data_dir, &storage, key)
            .await?;
    let next = match config.gateway.master_key {
        Some(_) => {
            "set gateway.master_key (or AGENTWATCH_MASTER_KEY) to the new key before the \
                    next start"
        }
        None => "the new key is in <data_dir>/master.key",
    };
    println!("{}", serde_json::json!({ "resealed_keys": resealed, "next": next }));
    Ok(())
}

/// `agentwatch dlp scan`: stdin that is not UTF-8 exits 1 with the offset where it stops being.
fn dlp_scan(json: bool) -> anyhow::Result<()> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "stdin is not UTF-8 text (invalid byte at offset {}); convert it first, e.g. with iconv",
            e.utf8_error().valid_up_to()
        )
    })?;
    let detections = gateway::dlp::scanner().scan(&text);
    if json {
        println!("{}", serde_json::json!({ "detections": detections }));
    } else if detections.is_empty() {
        println!("no detections");
    } else {
        println!("{:<18} {:>8} {:>8} {:>10}", "TYPE", "START", "END", "CONFIDENCE");
        for d in &detections {
            println!("{:<18} {:>8} {:>8} {:>10.2}", d.kind.as_str(), d.start, d.end, d.confidence);
        }
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

#[allow(clippy::print_stderr)]
fn fail(err: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::from(code)
}
