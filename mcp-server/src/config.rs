//! AgentWatch's configuration: one TOML file, `AGENTWATCH_*` environment overrides on top, parsed
//! and validated once at start-up into plain structs that the rest of the program trusts.
//!
//! Precedence, lowest first: built-in defaults, the config file (`--config` or
//! `AGENTWATCH_CONFIG`), environment overrides, command-line flags.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};

pub use gateway::secrets::Secret;
pub use gateway::settings::GatewaySettings;

/// Why the configuration could not be used. The binary exits with status 2 for these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}:\n{source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid value for {var}={value:?}: {reason}")]
    Env { var: &'static str, value: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where AgentWatch keeps its database, vectors and checkouts.
    pub data_dir: PathBuf,
    /// The address both servers listen on.
    pub bind: IpAddr,
    pub log: LogConfig,
    pub gateway: GatewaySettings,
    pub knowledge: KnowledgeConfig,
    pub index: IndexConfig,
    pub scan: ScanConfig,
    pub assets: AssetsConfig,
    pub storage: StorageConfig,
}

/// Where state lives besides the data dir, for several processes or replicas to share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `postgres://user:password@host:port/database`: every table (usage, tenants, keys,
    /// sessions, audit, repositories and their facts, scans) lives there instead of
    /// `<data_dir>/agentwatch.db`, for several processes or machines to share. The database must
    /// exist; AgentWatch creates and migrates its tables. Unset: SQLite in the data dir.
    pub database_url: Option<Secret>,
    /// `redis://[user:password@]host[:port][/db]`: gateway replicas keep budgets, rate limits and
    /// provider-key slots there, so that together they hold each limit once. Unset: in the
    /// process (one gateway). Replicas sharing Redis must share the database too.
    pub redis_url: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `mcp_server=debug,tower_http=info`; `RUST_LOG`, when
    /// set, wins. Unset: `info` for the servers, `warn` for one-shot commands.
    pub level: Option<String>,
    /// Where traces go over OTLP: a collector's base URL, `http://collector:4318` for HTTP
    /// (protobuf, to `/v1/traces`) or `http://collector:4317` with `otlp_protocol = "grpc"`.
    /// Unset: no trace leaves the process.
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: OtlpProtocol,
}

/// How traces are sent to `log.otlp_endpoint`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP over HTTP, protobuf bodies.
    #[default]
    Http,
    /// OTLP over gRPC.
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Port of the knowledge server (MCP at `/mcp`, REST at `/api/knowledge`); 0 picks a free one.
    pub port: u16,
    /// A bearer token for the local user over HTTP: a client sending it sees every repository.
    /// Tenants and logged-in users send their gateway credentials instead. Bound to loopback
    /// without a token, a client sending no credential is the local user too; bound elsewhere,
    /// every client must send one.
    pub token: Option<Secret>,
    /// Browser origins allowed to call `/mcp` besides local pages (`http://localhost:*` and the
    /// like), e.g. `https://ide.example.com` or `http://10.0.0.5:*`. A request with any other
    /// `Origin` is refused, against DNS rebinding.
    pub allowed_origins: Vec<String>,
    /// The gateway `ask_codebase` sends its questions through (`/v1/chat/completions`, so that
    /// budgets, rate limits and DLP apply); default: this process's own gateway.
    pub gateway_url: Option<String>,
    /// The model `ask_codebase` asks, as the gateway routes it.
    pub ask_model: String,
    /// The tenant API key `ask_codebase` is billed to when its caller is not a tenant (the local
    /// user, a logged-in person); a tenant's questions are billed to the tenant itself.
    pub ask_api_key: Option<Secret>,
}

/// How repositories are indexed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Files larger than this many bytes are skipped.
    pub max_file_size: u64,
    /// Gitignore-style patterns of paths never to index, on top of each repository's ignores.
    pub exclude: Vec<String>,
    /// A file whose parse takes longer than this is skipped with a diagnostic.
    pub parse_timeout_ms: u64,
    /// The operator's token for cloning private https repositories of `git_token_host`.
    pub git_token: Option<Secret>,
    /// The one host `git_token` is offered to.
    pub git_token_host: String,
    /// Tokens for more hosts, each for the operator's clones or one organization's.
    pub git_credentials: Vec<GitCredentialConfig>,
    /// Hosts an organization's clone may reach on private addresses (a self-hosted git server);
    /// every other host must be on the public internet.
    pub allowed_hosts: Vec<String>,
    /// Most a clone may download (an organization's) and take up checked out (any), in MiB.
    pub max_clone_mb: u64,
    /// Most files a cloned commit may have.
    pub max_clone_files: u64,
    /// Most repositories one organization may have indexed.
    pub max_repos_per_org: usize,
    /// Where the search index (LanceDB) lives: a folder, `file://` and a folder, or an S3 URL
    /// (`s3://bucket/prefix`; credentials, region and endpoint from the `AWS_*` environment).
    /// Unset: `<data_dir>/lance`. Processes sharing it must share the database too.
    pub lance_uri: Option<String>,
    /// Whether `serve` and `mcp` watch indexed local folders and re-index what changes, for
    /// repositories that have not chosen for themselves (`watch` when indexing, or
    /// `PATCH /api/knowledge/repositories/{repo}`).
    pub watch: bool,
    /// What embeds code for semantic search: `"local"` (the offline model, all-MiniLM-L6-v2), or
    /// an OpenAI-compatible endpoint, `{ url, model, dimensions }` (the gateway's own `/v1`,
    /// OpenAI, Ollama, TEI). Each model's vectors live in a table of their own; switching
    /// models embeds every repository again with the new one, in the background.
    pub embeddings: Embeddings,
}

/// `index.embeddings`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Embeddings {
    #[default]
    Local,
    Remote(RemoteEmbeddings),
}

/// An OpenAI-compatible `/embeddings` endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEmbeddings {
    /// The API's base URL, such as `http://127.0.0.1:8787/v1` (the gateway) or
    /// `https://api.openai.com/v1`; `/embeddings` is added.
    pub url: String,
    /// The model, as the endpoint names it (`text-embedding-3-small`, `nomic-embed-text`).
    pub model: String,
    /// The length of the model's vectors (1536 for `text-embedding-3-small`).
    pub dimensions: usize,
    /// The bearer token (a gateway tenant's key, an OpenAI key); or
    /// `AGENTWATCH_EMBEDDINGS_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Ask the model for `dimensions` (models that can shorten their vectors, such as OpenAI's
    /// `text-embedding-3-*`); servers whose models cannot refuse the field.
    #[serde(default)]
    pub send_dimensions: bool,
    /// Texts per request.
    #[serde(default = "default_embeddings_batch")]
    pub batch: usize,
    /// Requests in flight at once.
    #[serde(default = "default_embeddings_concurrency")]
    pub concurrency: usize,
}

fn default_embeddings_batch() -> usize {
    indexer::RemoteConfig::DEFAULT_BATCH
}

fn default_embeddings_concurrency() -> usize {
    indexer::RemoteConfig::DEFAULT_CONCURRENCY
}

impl Embeddings {
    /// The model whose vectors the search index holds.
    pub fn space(&self) -> indexer::VectorSpace {
        match self {
            Embeddings::Local => indexer::VectorSpace::local(),
            Embeddings::Remote(remote) => {
                indexer::VectorSpace { model: remote.model.clone(), dimensions: remote.dimensions }
            }
        }
    }
}

impl Serialize for Embeddings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Embeddings::Local => serializer.serialize_str("local"),
            Embeddings::Remote(remote) => remote.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Embeddings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A table is read on its own, so that a mistake in it is reported as itself.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Table(toml::Table),
        }
        let expected = "\"local\", or an endpoint: { url = \"http://127.0.0.1:8787/v1\", model = \"text-embedding-3-small\", dimensions = 1536 }";
        match Raw::deserialize(deserializer) {
            Ok(Raw::Name(name)) if name == "local" => Ok(Embeddings::Local),
            Ok(Raw::Name(name)) => Err(serde::de::Error::custom(format!(
                "{name:?} is not an embedder: expected {expected}"
            ))),
            Ok(Raw::Table(table)) => toml::Value::Table(table)
                .try_into()
                .map(Embeddings::Remote)
                .map_err(|e: toml::de::Error| serde::de::Error::custom(e.message())),
            Err(_) => Err(serde::de::Error::custom(format!("expected {expected}"))),
        }
    }
}

/// A git token offered to one host only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitCredentialConfig {
    /// The host name, such as `gitlab.example.com` (no scheme, no port).
    pub host: String,
    /// The user name sent with the token.
    #[serde(default = "default_git_username")]
    pub username: String,
    pub token: Secret,
    /// The organization (its id) whose clones may use it; absent: the operator's own clones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<i64>,
}

/// The user name sent with a git token unless one is given: GitHub's.
pub(crate) fn default_git_username() -> String {
    "x-access-token".to_owned()
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            max_file_size: 1024 * 1024,
            exclude: Vec::new(),
            parse_timeout_ms: 5000,
            git_token: None,
            git_token_host: "github.com".to_owned(),
            git_credentials: Vec::new(),
            allowed_hosts: Vec::new(),
            max_clone_mb: 2048,
            max_clone_files: 200_000,
            max_repos_per_org: 100,
            lance_uri: None,
            watch: true,
            embeddings: Embeddings::Local,
        }
    }
}

/// How security scans run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Semgrep rules to run besides the bundled pack: rule files or folders, or registry ids
    /// (`p/python`), which need the network.
    pub rules: Vec<String>,
    /// Keep the scanners off the network. Trivy then scans misconfigurations and secrets with
    /// the checks built into it; set `false` to let it download its vulnerability database and
    /// report vulnerable dependencies too.
    pub offline: bool,
    /// Longest one tool may run on one repository, in seconds.
    pub timeout_secs: u64,
    /// How scanners are kept from the host: `auto` (bubblewrap where the OS allows it, else a
    /// plain process with a warning), `bubblewrap` (or no scans), `process` (see SECURITY.md).
    pub sandbox: scanner::SandboxMode,
    /// Most address space one scanner process may use, in MiB.
    pub memory_mb: u64,
    /// Most scans running at once on this server; more wait their turn (`queued`).
    pub max_concurrent: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            rules: Vec::new(),
            offline: true,
            timeout_secs: 600,
            sandbox: scanner::SandboxMode::Auto,
            memory_mb: scanner::Sandbox::DEFAULT_MEMORY >> 20,
            max_concurrent: 2,
        }
    }
}

/// Where the offline assets fetched by `scripts/setup.sh` live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssetsConfig {
    pub dir: PathBuf,
    /// ONNX Runtime shared library; default `<dir>/onnxruntime/libonnxruntime.so`.
    pub onnxruntime: Option<PathBuf>,
    /// Embedding model folder; default `<dir>/models/all-MiniLM-L6-v2`.
    pub model_dir: Option<PathBuf>,
    /// Semgrep executable; default `<dir>/semgrep/bin/semgrep`.
    pub semgrep: Option<PathBuf>,
    /// Trivy executable; default `<dir>/trivy/trivy`.
    pub trivy: Option<PathBuf>,
    /// Checkov executable; default `<dir>/checkov/bin/checkov`.
    pub checkov: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: xdg_dir("XDG_DATA_HOME", ".local/share").join("agentwatch"),
            bind: IpAddr::from([127, 0, 0, 1]),
            log: LogConfig::default(),
            gateway: GatewaySettings::default(),
            knowledge: KnowledgeConfig::default(),
            index: IndexConfig::default(),
            scan: ScanConfig::default(),
            assets: AssetsConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: None,
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Http,
        }
    }
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            port: 4000,
            token: None,
            allowed_origins: Vec::new(),
            gateway_url: None,
            ask_model: "gpt-4o-mini".to_owned(),
            ask_api_key: None,
        }
    }
}

impl Default for AssetsConfig {
    fn default() -> Self {
        AssetsConfig {
            dir: xdg_dir("XDG_CACHE_HOME", ".cache").join("agentwatch/assets"),
            onnxruntime: None,
            model_dir: None,
            semgrep: None,
            trivy: None,
            checkov: None,
        }
    }
}

/// `$XDG_VAR`, or `$HOME/<fallback>`, or `<fallback>` relative to the working directory.
fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(fallback),
    }
}

/// An environment variable that overrides one setting.
struct EnvOverride {
    var: &'static str,
    key: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
}

/// Every `AGENTWATCH_*` variable that sets a config key. Scripts and deployments rely on these
/// names: rename none of them.
const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride {
        var: "AGENTWATCH_DATA_DIR",
        key: "data_dir",
        apply: |c, v| set_path(&mut c.data_dir, v),
    },
    EnvOverride { var: "AGENTWATCH_BIND", key: "bind", apply: |c, v| parse_into(&mut c.bind, v) },
    EnvOverride {
        var: "AGENTWATCH_OTLP_ENDPOINT",
        key: "log.otlp_endpoint",
        apply: |c, v| parse_some(&mut c.log.otlp_endpoint, v),
    },
    EnvOverride {
        var: "AGENTWATCH_OTLP_PROTOCOL",
        key: "log.otlp_protocol",
        apply: |c, v| parse_into(&mut c.log.otlp_protocol, v),
    },
    EnvOverride {
        var: "AGENTWATCH_LOG_FORMAT",
        key: "log.format",
        apply: |c, v| parse_into(&mut c.log.format, v),
    },
    EnvOverride {
        var: "AGENTWATCH_LOG_LEVEL",
        key: "log.level",
        apply: |c, v| parse_some(&mut c.log.level, v),
    },
    EnvOverride {
        var: "AGENTWATCH_GATEWAY_PORT",
        key: "gateway.port",
        apply: |c, v| parse_port(&mut c.gateway.port, v),
    },
    EnvOverride {
        var: "AGENTWATCH_KNOWLEDGE_PORT",
        key: "knowledge.port",
        apply: |c, v| parse_port(&mut c.knowledge.port, v),
    },
    EnvOverride {
        var: "AGENTWATCH_MASTER_KEY",
        key: "gateway.master_key",
        apply: |c, v| parse_some(&mut c.gateway.master_key, v),
    },
    EnvOverride {
        var: "AGENTWATCH_JWT_SECRET",
        key: "gateway.jwt_secret",
        apply: |c, v| parse_some(&mut c.gateway.jwt_secret, v),
    },
    EnvOverride {
        var: "AGENTWATCH_METRICS_TOKEN",
        key: "gateway.metrics_token",
        apply: |c, v| parse_some(&mut c.gateway.metrics_token, v),
    },
    EnvOverride {
        var: "AGENTWATCH_ADMIN_EMAIL",
        key: "gateway.admin_email",
        apply: |c, v| parse_some(&mut c.gateway.admin_email, v),
    },
    EnvOverride {
        var: "AGENTWATCH_ADMIN_PASSWORD",
        key: "gateway.admin_password",
        apply: |c, v| parse_some(&mut c.gateway.admin_password, v),
    },
    EnvOverride {
        var: "AGENTWATCH_DATABASE_URL",
        key: "storage.database_url",
        apply: |c, v| parse_some(&mut c.storage.database_url, v),
    },
    EnvOverride {
        var: "AGENTWATCH_REDIS_URL",
        key: "storage.redis_url",
        apply: |c, v| parse_some(&mut c.storage.redis_url, v),
    },
    EnvOverride {
        var: "AGENTWATCH_KNOWLEDGE_TOKEN",
        key: "knowledge.token",
        apply: |c, v| parse_some(&mut c.knowledge.token, v),
    },
    EnvOverride {
        var: "AGENTWATCH_KNOWLEDGE_GATEWAY_URL",
        key: "knowledge.gateway_url",
        apply: |c, v| parse_some(&mut c.knowledge.gateway_url, v),
    },
    EnvOverride {
        var: "AGENTWATCH_ASK_MODEL",
        key: "knowledge.ask_model",
        apply: |c, v| {
            c.knowledge.ask_model = v.trim().to_owned();
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_ASK_API_KEY",
        key: "knowledge.ask_api_key",
        apply: |c, v| parse_some(&mut c.knowledge.ask_api_key, v),
    },
    EnvOverride {
        var: "AGENTWATCH_KNOWLEDGE_ALLOWED_ORIGINS",
        key: "knowledge.allowed_origins",
        apply: |c, v| {
            c.knowledge.allowed_origins =
                v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect();
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_GIT_TOKEN",
        key: "index.git_token",
        apply: |c, v| parse_some(&mut c.index.git_token, v),
    },
    EnvOverride {
        var: "AGENTWATCH_GIT_TOKEN_HOST",
        key: "index.git_token_host",
        apply: |c, v| {
            c.index.git_token_host = v.trim().to_owned();
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_INDEX_ALLOWED_HOSTS",
        key: "index.allowed_hosts",
        apply: |c, v| {
            c.index.allowed_hosts =
                v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect();
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_LANCE_URI",
        key: "index.lance_uri",
        apply: |c, v| parse_some(&mut c.index.lance_uri, v),
    },
    EnvOverride {
        var: "AGENTWATCH_EMBEDDINGS_API_KEY",
        key: "index.embeddings.api_key",
        apply: |c, v| match &mut c.index.embeddings {
            Embeddings::Remote(remote) => parse_some(&mut remote.api_key, v),
            Embeddings::Local => {
                Err("index.embeddings is \"local\", which needs no key: configure an endpoint \
                 (index.embeddings = { url, model, dimensions }) or unset the variable"
                    .to_owned())
            }
        },
    },
    EnvOverride {
        var: "AGENTWATCH_INDEX_WATCH",
        key: "index.watch",
        apply: |c, v| parse_into(&mut c.index.watch, v),
    },
    EnvOverride {
        var: "AGENTWATCH_INDEX_MAX_CLONE_MB",
        key: "index.max_clone_mb",
        apply: |c, v| parse_into(&mut c.index.max_clone_mb, v),
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_RULES",
        key: "scan.rules",
        apply: |c, v| {
            c.scan.rules =
                v.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect();
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_OFFLINE",
        key: "scan.offline",
        apply: |c, v| parse_into(&mut c.scan.offline, v),
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_TIMEOUT_SECS",
        key: "scan.timeout_secs",
        apply: |c, v| parse_into(&mut c.scan.timeout_secs, v),
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_SANDBOX",
        key: "scan.sandbox",
        apply: |c, v| {
            c.scan.sandbox = v.trim().parse()?;
            Ok(())
        },
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_MEMORY_MB",
        key: "scan.memory_mb",
        apply: |c, v| parse_into(&mut c.scan.memory_mb, v),
    },
    EnvOverride {
        var: "AGENTWATCH_SCAN_MAX_CONCURRENT",
        key: "scan.max_concurrent",
        apply: |c, v| parse_into(&mut c.scan.max_concurrent, v),
    },
    EnvOverride {
        var: "AGENTWATCH_ASSETS_DIR",
        key: "assets.dir",
        apply: |c, v| set_path(&mut c.assets.dir, v),
    },
    EnvOverride {
        var: "AGENTWATCH_ONNXRUNTIME",
        key: "assets.onnxruntime",
        apply: |c, v| parse_some(&mut c.assets.onnxruntime, v),
    },
    EnvOverride {
        var: "AGENTWATCH_MODEL_DIR",
        key: "assets.model_dir",
        apply: |c, v| parse_some(&mut c.assets.model_dir, v),
    },
    EnvOverride {
        var: "AGENTWATCH_SEMGREP",
        key: "assets.semgrep",
        apply: |c, v| parse_some(&mut c.assets.semgrep, v),
    },
    EnvOverride {
        var: "AGENTWATCH_TRIVY",
        key: "assets.trivy",
        apply: |c, v| parse_some(&mut c.assets.trivy, v),
    },
    EnvOverride {
        var: "AGENTWATCH_CHECKOV",
        key: "assets.checkov",
        apply: |c, v| parse_some(&mut c.assets.checkov, v),
    },
];

/// `AGENTWATCH_*` variables that are not config keys but are read elsewhere.
/// Variables that are not settings but are expected around AgentWatch: the config file, and the
/// versions `scripts/setup.sh` writes into `manifest.env` beside the asset paths.
const OTHER_ENV: &[&str] = &[
    "AGENTWATCH_CONFIG",
    "AGENTWATCH_ORT_LIB",
    "AGENTWATCH_ORT_VERSION",
    "AGENTWATCH_SEMGREP_VERSION",
    "AGENTWATCH_TRIVY_VERSION",
    "AGENTWATCH_CHECKOV_VERSION",
    "AGENTWATCH_MCP_CLIENT_PYTHON",
    "AGENTWATCH_LLM_CLIENT_PYTHON",
    "AGENTWATCH_LLMOCK",
    "AGENTWATCH_TEST_CLIENTS",
];

fn set_path(field: &mut PathBuf, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("expected a path, got an empty string".to_owned());
    }
    *field = PathBuf::from(value);
    Ok(())
}

fn parse_port(field: &mut u16, value: &str) -> Result<(), String> {
    *field = value.parse().map_err(|_| "expected a port number from 0 to 65535".to_owned())?;
    Ok(())
}

/// Parses an environment value with the same serde rules as the config file, so enum values and
/// addresses are judged, and explained, the same way: as a string, or else as the TOML value it
/// spells (a number, a boolean).
fn parse<T: serde::de::DeserializeOwned>(value: &str) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Value<T> {
        v: T,
    }
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(deserializer).or_else(|as_string| {
        toml::from_str::<Value<T>>(&format!("v = {}", value.trim()))
            .map(|parsed| parsed.v)
            .map_err(|_| as_string.to_string())
    })
}

fn parse_into<T: serde::de::DeserializeOwned>(field: &mut T, value: &str) -> Result<(), String> {
    *field = parse(value)?;
    Ok(())
}

/// A variable's value as an error may quote it: never a secret's (a key, a token, a password,
/// a URL that may hold one).
fn shown(var: &str, value: &str) -> String {
    let secret = ["KEY", "TOKEN", "PASSWORD", "SECRET", "DATABASE_URL", "REDIS_URL"];
    match secret.iter().any(|s| var.contains(s)) {
        true => "(hidden)".to_owned(),
        false => value.to_owned(),
    }
}

fn parse_some<T: serde::de::DeserializeOwned>(
    field: &mut Option<T>,
    value: &str,
) -> Result<(), String> {
    *field = Some(parse(value)?);
    Ok(())
}

/// Makes `dir` (the data dir) if it is missing and closes it to other users (mode 0700): it holds
/// the master key, the databases and every organization's checkouts. An existing one is tightened
/// the same way, with a log line saying so.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let context = || format!("cannot create the data dir {}", dir.display());
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(context)?;
    let mode = std::fs::metadata(dir).with_context(context)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
            || {
                format!(
                    "the data dir {} is open to other users (mode {mode:o}) and cannot be closed: \
                 chmod 700 it",
                    dir.display()
                )
            },
        )?;
        tracing::info!("data dir {} was mode {mode:o}: now 700", dir.display());
    }
    Ok(())
}

/// Where the effective configuration came from, for `config show` and error messages.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    pub env: Vec<&'static str>,
    /// `AGENTWATCH_*` variables that set nothing; start-up warns about them.
    pub unknown_env: Vec<String>,
}

impl Config {
    /// The data dir's database, opened (created and brought up to date if needed): once per
    /// process, shared by the gateway, the indexer and the scans.
    pub async fn storage(&self) -> Result<storage::Storage, storage::StorageError> {
        match &self.storage.database_url {
            Some(url) => storage::Storage::connect(url.expose()).await,
            None => storage::Storage::open(&self.data_dir.join("agentwatch.db")).await,
        }
    }

    /// How `serve` and `mcp` watch local folders.
    pub fn watch_options(&self) -> indexer::WatchOptions {
        indexer::WatchOptions { by_default: self.index.watch, ..Default::default() }
    }

    /// Where the search index lives: `index.lance_uri` (a folder, or an `s3://` URL as it is),
    /// or `<data_dir>/lance`.
    pub fn lance_uri(&self) -> String {
        match &self.index.lance_uri {
            Some(uri) => uri.strip_prefix("file://").unwrap_or(uri).to_owned(),
            None => self.data_dir.join("lance").display().to_string(),
        }
    }

    /// As [`Config::storage`], connected to Redis too when `storage.redis_url` is set: what a
    /// gateway opens. An unreachable Redis stops the start with the setting to check.
    pub async fn gateway_storage(&self) -> anyhow::Result<storage::Storage> {
        let storage = self.storage().await?;
        let Some(url) = &self.storage.redis_url else { return Ok(storage) };
        let redis = storage::Redis::connect(url.expose()).await.context(
            "storage.redis_url (AGENTWATCH_REDIS_URL) names a Redis that does not answer",
        )?;
        Ok(storage.with_redis(redis))
    }

    /// Loads the configuration: the file at `path` (if any), then the given environment.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Sources), ConfigError> {
        let mut sources = Sources { file: path.map(Path::to_path_buf), ..Sources::default() };
        let mut config = match path {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let mut env: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with("AGENTWATCH_")).collect();
        env.sort();
        for (var, value) in env {
            match ENV_OVERRIDES.iter().find(|o| o.var == var) {
                Some(o) => {
                    (o.apply)(&mut config, &value).map_err(|reason| ConfigError::Env {
                        var: o.var,
                        value: shown(o.var, &value),
                        reason,
                    })?;
                    sources.env.push(o.var);
                }
                None if OTHER_ENV.contains(&var.as_str()) => {}
                None => sources.unknown_env.push(var),
            }
        }
        config.validate()?;
        Ok((config, sources))
    }

    fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        self.gateway.validate().map_err(ConfigError::Invalid)?;
        if self.gateway.port != 0 && self.gateway.port == self.knowledge.port {
            return invalid(format!(
                "gateway.port and knowledge.port are both {}: give each server its own port",
                self.gateway.port
            ));
        }
        if let Some(token) = &self.knowledge.token
            && token.expose().len() < 16
        {
            return invalid("knowledge.token must be at least 16 characters long".to_owned());
        }
        if let Some(url) = &self.log.otlp_endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(format!(
                "log.otlp_endpoint = {url:?}: expected a collector's base URL, such as \
                 http://otel-collector:4318 (or :4317 with log.otlp_protocol = \"grpc\")"
            ));
        }
        if let Some(url) = &self.knowledge.gateway_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(format!(
                "knowledge.gateway_url = {url:?}: expected the gateway's base URL, such as \
                 http://gateway.internal:8787"
            ));
        }
        if let Some(uri) = &self.index.lance_uri
            && let Some((scheme, _)) = uri.split_once("://")
            && !["file", "s3"].contains(&scheme)
        {
            return invalid(format!(
                "index.lance_uri = {uri:?}: expected a folder, or an S3 URL such as \
                 s3://bucket/agentwatch/lance (S3-compatible stores too, with AWS_ENDPOINT_URL); \
                 other object stores ({scheme}://) are not built into this binary"
            ));
        }
        if let Embeddings::Remote(remote) = &self.index.embeddings {
            if !(remote.url.starts_with("http://") || remote.url.starts_with("https://")) {
                return invalid(format!(
                    "index.embeddings.url = {:?}: expected the API's base URL, such as \
                     http://127.0.0.1:8787/v1 (the gateway) or https://api.openai.com/v1",
                    remote.url
                ));
            }
            if remote.model.trim().is_empty() || remote.dimensions == 0 {
                return invalid(
                    "index.embeddings needs the model's name and the length of its vectors, \
                     such as model = \"text-embedding-3-small\", dimensions = 1536"
                        .to_owned(),
                );
            }
        }
        if let Some(url) = &self.storage.database_url
            && !["postgres://", "postgresql://"].iter().any(|s| url.expose().starts_with(s))
        {
            return invalid(
                "storage.database_url: expected a Postgres URL, such as \
                 postgres://agentwatch:password@db:5432/agentwatch (unset it to keep SQLite in \
                 the data dir)"
                    .to_owned(),
            );
        }
        if let Some(url) = &self.storage.redis_url
            && !["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|scheme| url.expose().starts_with(scheme))
        {
            return invalid(
                "storage.redis_url: expected a Redis URL, such as redis://host:6379 or \
                 redis://:password@host:6379/0"
                    .to_owned(),
            );
        }
        if self.knowledge.ask_model.is_empty() {
            return invalid("knowledge.ask_model is empty: name the model to ask".to_owned());
        }
        for origin in &self.knowledge.allowed_origins {
            let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
            });
            if !valid {
                return invalid(format!(
                    "knowledge.allowed_origins has {origin:?}: an origin is a scheme and a host, \
                     with a port or `:*` for any, like \"https://ide.example.com\" or \
                     \"http://10.0.0.5:*\" (no path)"
                ));
            }
        }
        if self.scan.timeout_secs == 0 {
            return invalid("scan.timeout_secs must be at least 1".to_owned());
        }
        if self.scan.max_concurrent == 0 {
            return invalid("scan.max_concurrent must be at least 1".to_owned());
        }
        if self.scan.memory_mb < 256 {
            return invalid(format!(
                "scan.memory_mb = {} is too little for any scanner: give at least 256 (default 4096)",
                self.scan.memory_mb
            ));
        }
        let hosts = std::iter::once(&self.index.git_token_host)
            .chain(self.index.git_credentials.iter().map(|c| &c.host));
        for host in hosts {
            if host.is_empty() || host.contains([':', '/', '@', ' ']) {
                return invalid(format!(
                    "git credential host {host:?}: give a host name only, such as \"gitlab.example.com\" \
                     (no scheme, port or path)"
                ));
            }
        }
        if self.index.max_clone_files == 0 || self.index.max_clone_mb == 0 {
            return invalid(
                "index.max_clone_files and index.max_clone_mb must be at least 1".to_owned(),
            );
        }
        if self.index.max_repos_per_org == 0 {
            return invalid("index.max_repos_per_org must be at least 1".to_owned());
        }
        if self.index.parse_timeout_ms == 0 {
            return invalid("index.parse_timeout_ms must be at least 1".to_owned());
        }
        if let Some(level) = &self.log.level
            && level.parse::<tracing_subscriber::EnvFilter>().is_err()
        {
            return invalid(format!(
                "log.level = {level:?} is not a tracing filter: use a level (error, warn, info, \
                 debug, trace) or directives such as \"info,tower_http=debug\""
            ));
        }
        Ok(())
    }

    /// The configuration as `config show` prints it: secrets masked (by [`Secret`]) and asset
    /// paths filled in from their defaults.
    pub fn shown(&self) -> Config {
        let mut shown = self.clone();
        shown.assets = self.assets.resolved();
        shown
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.shown()).expect("a Config always serializes")
    }

    /// The environment variable that overrides each key, for documentation and `config show`.
    pub fn env_overrides() -> impl Iterator<Item = (&'static str, &'static str)> {
        ENV_OVERRIDES.iter().map(|o| (o.var, o.key))
    }
}

impl AssetsConfig {
    /// The same settings with every asset path filled in from `dir` where not set.
    pub fn resolved(&self) -> AssetsConfig {
        AssetsConfig {
            dir: self.dir.clone(),
            onnxruntime: Some(self.onnxruntime_path()),
            model_dir: Some(self.model_path()),
            semgrep: Some(self.semgrep_path()),
            trivy: Some(self.trivy_path()),
            checkov: Some(self.checkov_path()),
        }
    }

    pub fn onnxruntime_path(&self) -> PathBuf {
        self.onnxruntime.clone().unwrap_or_else(|| self.dir.join("onnxruntime/libonnxruntime.so"))
    }

    pub fn model_path(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(|| self.dir.join("models/all-MiniLM-L6-v2"))
    }

    pub fn semgrep_path(&self) -> PathBuf {
        self.semgrep.clone().unwrap_or_else(|| self.dir.join("semgrep/bin/semgrep"))
    }

    pub fn trivy_path(&self) -> PathBuf {
        self.trivy.clone().unwrap_or_else(|| self.dir.join("trivy/trivy"))
    }

    pub fn checkov_path(&self) -> PathBuf {
        self.checkov.clone().unwrap_or_else(|| self.dir.join("checkov/bin/checkov"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, env: &[(&str, &str)]) -> Result<(Config, Sources), ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agentwatch.toml");
        std::fs::write(&path, file).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), env)
    }

    fn error(file: &str, env: &[(&str, &str)]) -> String {
        load(file, env).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let (config, sources) = load("", &[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1");
        assert_eq!(config.gateway.port, 8787);
        assert_eq!(config.knowledge.port, 4000);
        assert_eq!(config.log.format, LogFormat::Text);
        assert!(config.data_dir.ends_with("agentwatch"));
        assert!(config.assets.onnxruntime_path().ends_with("assets/onnxruntime/libonnxruntime.so"));
        assert!(sources.env.is_empty());
    }

    #[test]
    fn the_file_sets_values_and_the_environment_overrides_them() {
        let file = "bind = \"127.0.0.2\"\n[gateway]\nport = 9000\n[log]\nformat = \"json\"\n";
        let env = [("AGENTWATCH_GATEWAY_PORT", "9100"), ("AGENTWATCH_DATA_DIR", "/srv/aw")];
        let (config, sources) = load(file, &env).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.2");
        assert_eq!(config.gateway.port, 9100);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.data_dir, PathBuf::from("/srv/aw"));
        assert_eq!(sources.env, ["AGENTWATCH_DATA_DIR", "AGENTWATCH_GATEWAY_PORT"]);
    }

    #[test]
    fn shared_state_is_named_by_url_and_a_wrong_one_stops_the_start_saying_what_fits() {
        let env = [
            ("AGENTWATCH_REDIS_URL", "redis://:pw@cache.internal:6379/2"),
            ("AGENTWATCH_LANCE_URI", "file:///mnt/shared/lance"),
            ("AGENTWATCH_DATABASE_URL", "postgres://aw:pw@db.internal:5432/agentwatch"),
        ];
        let (config, _) = load("", &env).unwrap();
        let database = config.storage.database_url.as_ref().unwrap();
        assert_eq!(database.expose(), "postgres://aw:pw@db.internal:5432/agentwatch");
        let redis = config.storage.redis_url.as_ref().unwrap();
        assert_eq!(redis.expose(), "redis://:pw@cache.internal:6379/2");
        assert_eq!(config.lance_uri(), "/mnt/shared/lance");
        let (config, _) = load("data_dir = \"/srv/aw\"\n", &[]).unwrap();
        assert_eq!(config.lance_uri(), "/srv/aw/lance");
        let (config, _) = load("[index]\nlance_uri = \"s3://bucket/aw/lance\"\n", &[]).unwrap();
        assert_eq!(config.lance_uri(), "s3://bucket/aw/lance");

        let msg = error("[index]\nlance_uri = \"gs://bucket/lance\"\n", &[]);
        assert!(msg.contains("index.lance_uri") && msg.contains("gs://"), "{msg}");
        let msg = error("", &[("AGENTWATCH_REDIS_URL", "cache.internal:6379")]);
        assert!(msg.contains("redis://host:6379"), "{msg}");
        assert!(!msg.contains("cache.internal"), "a URL may hold a password: {msg}");
        let msg = error("[storage]\ndatabase_url = \"mysql://aw:pw@db.internal/aw\"\n", &[]);
        assert!(msg.contains("storage.database_url") && msg.contains("postgres://"), "{msg}");
        assert!(!msg.contains("db.internal"), "a URL may hold a password: {msg}");
    }

    #[test]
    fn embeddings_are_local_or_an_endpoint_and_a_mistake_says_what_fits() {
        let (config, _) = load("", &[]).unwrap();
        assert_eq!(config.index.embeddings, Embeddings::Local);
        assert_eq!(config.index.embeddings.space(), indexer::VectorSpace::local());

        let file = "[index]\nembeddings = { url = \"http://gw:8787/v1\", model = \"text-embedding-3-small\", dimensions = 1536 }\n";
        let (config, _) = load(file, &[("AGENTWATCH_EMBEDDINGS_API_KEY", "aw-team-key")]).unwrap();
        let Embeddings::Remote(remote) = &config.index.embeddings else { panic!("{config:?}") };
        assert_eq!((remote.url.as_str(), remote.dimensions), ("http://gw:8787/v1", 1536));
        assert_eq!(remote.api_key.as_ref().map(Secret::expose), Some("aw-team-key"));
        assert_eq!((remote.batch, remote.concurrency, remote.send_dimensions), (64, 4, false));
        let shown = toml::to_string(&config).unwrap();
        assert!(
            shown.contains("text-embedding-3-small") && !shown.contains("aw-team-key"),
            "{shown}"
        );

        let msg = error("[index]\nembeddings = \"openai\"\n", &[]);
        assert!(
            msg.contains("\"openai\" is not an embedder: expected \"local\", or an endpoint"),
            "{msg}"
        );
        let msg = error(
            "[index]\nembeddings = { url = \"http://gw/v1\", model = \"m\", dimension = 8 }\n",
            &[],
        );
        assert!(msg.contains("unknown field `dimension`"), "{msg}");
        let msg = error(
            "[index]\nembeddings = { url = \"gw:8787\", model = \"m\", dimensions = 8 }\n",
            &[],
        );
        assert!(
            msg.contains("index.embeddings.url") && msg.contains("http://127.0.0.1:8787/v1"),
            "{msg}"
        );
        let msg = error("", &[("AGENTWATCH_EMBEDDINGS_API_KEY", "aw-team-key")]);
        assert!(msg.contains("index.embeddings is \"local\", which needs no key"), "{msg}");
        assert!(!msg.contains("aw-team-key"), "{msg}");
    }

    #[test]
    fn numbers_booleans_and_names_come_from_the_environment_too() {
        let env = [
            ("AGENTWATCH_SCAN_OFFLINE", "false"),
            ("AGENTWATCH_SCAN_TIMEOUT_SECS", "30"),
            ("AGENTWATCH_SCAN_MAX_CONCURRENT", "1"),
            ("AGENTWATCH_SCAN_SANDBOX", "bubblewrap"),
        ];
        let (config, _) = load("", &env).unwrap();
        assert!(!config.scan.offline);
        assert_eq!((config.scan.timeout_secs, config.scan.max_concurrent), (30, 1));
        assert_eq!(config.scan.sandbox, scanner::SandboxMode::Bubblewrap);
        let msg = error("", &[("AGENTWATCH_SCAN_TIMEOUT_SECS", "soon")]);
        assert!(msg.contains("AGENTWATCH_SCAN_TIMEOUT_SECS") && msg.contains("u64"), "{msg}");
        let msg = error("", &[("AGENTWATCH_SCAN_SANDBOX", "docker")]);
        assert!(msg.contains("auto, bubblewrap or process"), "{msg}");
    }

    #[test]
    fn git_tokens_are_each_bound_to_one_host() {
        let file = "[index]\n[[index.git_credentials]]\nhost = \"git.acme.dev\"\ntoken = \"acme-deploy-token\"\norganization = 7\n";
        let env =
            [("AGENTWATCH_GIT_TOKEN", "ghp_operator"), ("AGENTWATCH_GIT_TOKEN_HOST", "ghe.corp")];
        let (config, _) = load(file, &env).unwrap();
        assert_eq!(config.index.git_token.as_ref().map(Secret::expose), Some("ghp_operator"));
        assert_eq!(config.index.git_token_host, "ghe.corp");
        let credential = &config.index.git_credentials[0];
        assert_eq!((credential.host.as_str(), credential.organization), ("git.acme.dev", Some(7)));
        assert_eq!(credential.username, "x-access-token");
        let msg = error(
            "[[index.git_credentials]]\nhost = \"https://git.acme.dev\"\ntoken = \"t\"\n",
            &[],
        );
        assert!(msg.contains("give a host name only"), "{msg}");
    }

    #[test]
    fn an_unknown_key_is_named_with_the_keys_that_exist() {
        let msg = error("[gateway]\nprot = 1\n", &[]);
        assert!(msg.contains("line 2"), "{msg}");
        assert!(
            msg.contains("unknown field `prot`, expected one of `port`, `master_key`"),
            "{msg}"
        );
    }

    #[test]
    fn a_bad_value_lists_the_accepted_ones() {
        let msg = error("[log]\nformat = \"xml\"\n", &[]);
        assert!(msg.contains("unknown variant `xml`, expected `text` or `json`"), "{msg}");

        let msg = error("", &[("AGENTWATCH_LOG_FORMAT", "xml")]);
        assert!(msg.starts_with("invalid value for AGENTWATCH_LOG_FORMAT=\"xml\""), "{msg}");
        assert!(msg.contains("expected `text` or `json`"), "{msg}");

        let msg = error("", &[("AGENTWATCH_GATEWAY_PORT", "80800")]);
        assert!(msg.contains("AGENTWATCH_GATEWAY_PORT=\"80800\": expected a port number"), "{msg}");

        let msg = error("", &[("AGENTWATCH_BIND", "localhost")]);
        assert!(msg.contains("AGENTWATCH_BIND=\"localhost\": invalid IP address syntax"), "{msg}");
    }

    #[test]
    fn unknown_agentwatch_variables_are_reported_not_applied() {
        let (_, sources) = load("", &[("AGENTWATCH_GATEWAY_PROT", "1"), ("PATH", "/bin")]).unwrap();
        assert_eq!(sources.unknown_env, ["AGENTWATCH_GATEWAY_PROT"]);
    }

    #[test]
    fn the_servers_may_be_exposed_since_every_client_then_sends_a_credential() {
        assert!(load("bind = \"0.0.0.0\"\n", &[]).is_ok());
        let token = ("AGENTWATCH_KNOWLEDGE_TOKEN", "a-long-enough-token");
        assert!(load("bind = \"0.0.0.0\"\n", &[token]).is_ok());
    }

    #[test]
    fn the_two_servers_cannot_share_a_port() {
        let msg = error("[knowledge]\nport = 8787\n", &[]);
        assert!(msg.contains("both 8787"), "{msg}");
    }

    #[test]
    fn an_allowed_origin_must_be_an_origin() {
        let msg = error("[knowledge]\nallowed_origins = [\"ide.example.com/app\"]\n", &[]);
        assert!(msg.contains("an origin is a scheme and a host"), "{msg}");
        let msg = error("", &[("AGENTWATCH_KNOWLEDGE_ALLOWED_ORIGINS", "https://a.example, x")]);
        assert!(msg.contains("\"x\""), "{msg}");
    }

    #[test]
    fn a_bad_log_filter_is_rejected() {
        let msg = error("[log]\nlevel = \"loud=[\"\n", &[]);
        assert!(msg.contains("is not a tracing filter"), "{msg}");
    }

    #[test]
    fn secrets_are_masked_when_shown_and_debugged() {
        let token = ("AGENTWATCH_KNOWLEDGE_TOKEN", "s3cr3t-s3cr3t-s3cr3t");
        let (config, _) = load("", &[token]).unwrap();
        assert_eq!(config.knowledge.token.as_ref().unwrap().expose(), "s3cr3t-s3cr3t-s3cr3t");
        let shown = config.to_toml();
        assert!(shown.contains("token = \"********\""), "{shown}");
        assert!(!shown.contains("s3cr3t"));
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Config::load(Some(Path::new("/nonexistent/aw.toml")), []).unwrap_err();
        assert!(err.to_string().starts_with("cannot read config file /nonexistent/aw.toml"));
    }
}
