//! `agentwatch index`, `status` and `search`: run an index job from the terminal, report on stored
//! repositories, and search their code — as text for people or as JSON for scripts (the shapes
//! are in `views`, a public contract).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indexer::{
    CloneOptions, Embedder, EmbedderConfig, GitCredential, IndexOptions, Indexer, IndexerConfig,
    JobState, Mode, RemoteConfig, RepoRecord, Source, WalkOptions,
};
use knowledge::views::{JobView, RepoView};
use knowledge::{Knowledge, SearchRequest};
use storage::Storage;

use crate::access::Access;
use crate::config::{Config, Embeddings};
use crate::progress::Progress;

/// The indexing service over the configured data dir; with `embed`, also the embedding model
/// (if it cannot be loaded, a warning says why and only lexical search works).
pub async fn open_indexer(
    config: &Config,
    storage: &Storage,
    embed: bool,
) -> anyhow::Result<Arc<Indexer>> {
    let embedder = if embed { load_embedder(config)? } else { None };
    let indexer = Indexer::open(IndexerConfig {
        options: IndexOptions {
            walk: WalkOptions {
                max_file_bytes: config.index.max_file_size,
                exclude: config.index.exclude.clone(),
                ..WalkOptions::default()
            },
            parse_timeout: Duration::from_millis(config.index.parse_timeout_ms),
        },
        clones: clone_options(config),
        embedder,
        vectors: config.index.embeddings.space(),
        search_uri: config.lance_uri(),
        ..IndexerConfig::in_data_dir(&config.data_dir, storage.clone())
    })
    .await?;
    Ok(indexer)
}

/// Credentials, limits and quotas of clones, from `[index]`.
fn clone_options(config: &Config) -> CloneOptions {
    let index = &config.index;
    let operator = index.git_token.as_ref().map(|token| GitCredential {
        host: index.git_token_host.to_ascii_lowercase(),
        username: crate::config::default_git_username(),
        token: token.expose().to_owned(),
        organization: None,
    });
    let credentials = index.git_credentials.iter().map(|c| GitCredential {
        host: c.host.to_ascii_lowercase(),
        username: c.username.clone(),
        token: c.token.expose().to_owned(),
        organization: c.organization,
    });
    CloneOptions {
        credentials: operator.into_iter().chain(credentials).collect(),
        egress: indexer::egress::Egress {
            allowed_hosts: index.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            max_bytes: index.max_clone_mb << 20,
        },
        max_files: index.max_clone_files,
        max_repos_per_org: index.max_repos_per_org,
    }
}

/// The configured embedder. The local model missing is a warning (lexical search works
/// without it); an endpoint is not reached here, so nothing about it fails until it is used.
fn load_embedder(config: &Config) -> anyhow::Result<Option<Arc<Embedder>>> {
    let remote = match &config.index.embeddings {
        Embeddings::Remote(remote) => remote,
        Embeddings::Local => {
            let assets = EmbedderConfig {
                onnxruntime: config.assets.onnxruntime_path(),
                model_dir: config.assets.model_path(),
                threads: None,
            };
            return Ok(match Embedder::local(&assets) {
                Ok(embedder) => Some(Arc::new(embedder)),
                Err(e) => {
                    tracing::warn!("semantic search is off: {e}");
                    None
                }
            });
        }
    };
    gateway::install_tls();
    let embedder = Embedder::remote(RemoteConfig {
        url: remote.url.clone(),
        model: remote.model.clone(),
        dimensions: remote.dimensions,
        api_key: remote.api_key.as_ref().map(|k| k.expose().to_owned()),
        send_dimensions: remote.send_dimensions,
        batch: remote.batch,
        concurrency: remote.concurrency,
    })?;
    Ok(Some(Arc::new(embedder)))
}

/// Indexes `location` and prints the outcome. Fails (exit 1) when the job fails.
pub async fn index(
    config: &Config,
    location: &str,
    branch: Option<String>,
    as_json: bool,
) -> anyhow::Result<()> {
    let source = Source::parse(location)?;
    let indexer = open_indexer(config, &config.storage().await?, true).await?;
    let mut job = indexer.submit(source, branch, None).await?;
    let mut progress = Progress::on_stderr();
    let status = loop {
        let status = job.borrow_and_update().clone();
        progress.job(&status);
        if status.repo.status.is_final() || job.changed().await.is_err() {
            break job.borrow().clone();
        }
    };
    progress.end();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&JobView::from(&status))?);
    } else {
        print!("{}", summary(&status.repo, Some(status.files_parsed)));
    }
    match (status.repo.status, &status.repo.error) {
        (JobState::Failed, Some(error)) => {
            Err(anyhow::anyhow!("indexing {} failed: {error}", status.repo.source))
        }
        (JobState::Failed, None) => Err(anyhow::anyhow!("indexing {} failed", status.repo.source)),
        _ => Ok(()),
    }
}

/// Prints one repository (by id, name, URL or path) or all of them.
pub async fn status(config: &Config, repo: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let indexer = open_indexer(config, &config.storage().await?, false).await?;
    match repo {
        Some(key) => {
            let record = indexer.find(key).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&RepoView::from(&record))?);
            } else {
                print!("{}", summary(&record, None));
            }
        }
        None => {
            let repos = indexer.store().repos().await.context("cannot list repositories")?;
            if as_json {
                let all: Vec<RepoView> = repos.iter().map(RepoView::from).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if repos.is_empty() {
                println!("no repositories indexed yet: run `agentwatch index <url|path>`");
            } else {
                println!(
                    "{:<12}  {:<9}  {:>7}  {:>8}  {:<8}  name",
                    "id", "status", "files", "symbols", "commit"
                );
                for r in &repos {
                    println!(
                        "{:<12}  {:<9}  {:>7}  {:>8}  {:<8}  {}",
                        r.id,
                        r.status.as_str(),
                        r.stats.files,
                        r.stats.symbols,
                        r.commit.as_deref().map_or("-", |c| &c[..8.min(c.len())]),
                        r.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// Searches the indexed code and prints the hits.
pub async fn search(config: &Config, request: SearchRequest, json: bool) -> anyhow::Result<()> {
    let embed = request.mode != Some(Mode::Lexical);
    let indexer = open_indexer(config, &config.storage().await?, embed).await?;
    let local = Access::new(&config.gateway.dlp, None, true).local_caller();
    let offset = request.offset.unwrap_or(0);
    let output = Knowledge::new(indexer).for_caller(&local).search(request).await?;
    if let Some(notice) = output.notice() {
        eprintln!("note: {notice}");
    }
    let hits = output.results;
    if json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        println!("no matches");
    } else {
        for (rank, hit) in hits.iter().enumerate() {
            let symbol =
                hit.symbol.as_deref().map_or(String::new(), |s| format!("  {s} ({})", hit.kind));
            let stale = if hit.stale { "  [changed since indexed]" } else { "" };
            println!(
                "{}. {}:{}-{}{symbol}  score {:.2}{stale}",
                rank + 1 + offset,
                hit.path,
                hit.start_line,
                hit.end_line,
                hit.score
            );
            for line in hit.snippet.lines().take(4) {
                println!("     {line}");
            }
        }
    }
    Ok(())
}

/// Finds the code a text is about and prints the files, their symbols and the evidence.
pub async fn locate(
    config: &Config,
    repo: Option<&str>,
    text: &str,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let indexer = open_indexer(config, &config.storage().await?, true).await?;
    let local = Access::new(&config.gateway.dlp, None, true).local_caller();
    let output = Knowledge::new(indexer).for_caller(&local).locate(repo, text, Some(limit)).await?;
    for warming in &output.warming_up {
        eprintln!(
            "note: {} is still being embedded ({}/{} chunks): found by what the text names and by its words, not yet fully by meaning",
            warming.name, warming.embedded, warming.chunks
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    if output.results.is_empty() {
        println!("nothing in the repository matches the text");
    }
    for (rank, file) in output.results.iter().enumerate() {
        println!("{}. {}  score {:.3}", rank + 1, file.path, file.score);
        for evidence in &file.evidence {
            println!("     {}", evidence.detail);
        }
        for symbol in &file.symbols {
            println!(
                "     {} {}  lines {}-{}",
                symbol.kind, symbol.name, symbol.start_line, symbol.end_line
            );
        }
    }
    Ok(())
}

fn summary(repo: &RepoRecord, files_parsed: Option<u32>) -> String {
    let stats = &repo.stats;
    let commit = repo
        .commit
        .as_deref()
        .map_or(String::from("a plain directory"), |c| format!("commit {}", &c[..12.min(c.len())]));
    let mut out = format!("{} ({}) — {}, {}\n", repo.name, repo.id, repo.status, commit);
    if let Some(error) = &repo.error {
        out += &format!("  error     {error}\n");
    }
    let parsed = files_parsed.map_or(String::new(), |n| format!(" ({n} parsed)"));
    out += &format!(
        "  files     {}{parsed}, {} lines, in {} ms\n",
        stats.files, stats.lines, stats.duration_ms
    );
    if !stats.skipped.is_empty() {
        let skipped: Vec<String> =
            stats.skipped.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
        out += &format!("  skipped   {}\n", skipped.join(", "));
    }
    out += &format!(
        "  graph     {} symbols, {} nodes, {} edges\n",
        stats.symbols, stats.nodes, stats.edges
    );
    out += &format!("  search    {} chunks, {} with vectors\n", stats.chunks, stats.embedded);
    if !stats.errors.is_empty() {
        out += &format!(
            "  problems  {} (files indexed as far as they could be read)\n",
            stats.errors.len()
        );
        for error in stats.errors.iter().take(5) {
            out += &format!("            {error}\n");
        }
    }
    out
}
