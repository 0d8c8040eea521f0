//! Runs the HTTP servers: binds every listener first (so a taken port fails fast, before anything
//! starts), serves until SIGINT or SIGTERM, then drains in-flight requests.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use knowledge::Knowledge;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::config::Config;
use crate::remote::RemoteGateway;

/// Which faces of AgentWatch one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faces {
    /// The knowledge server and the gateway.
    Both,
    /// The gateway alone, as a sidecar.
    Gateway,
}

struct Server {
    name: &'static str,
    listener: TcpListener,
    router: Router,
}

/// How often `serve` and `mcp` look for clones due a scheduled fetch.
pub const SYNC_LOOKS: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn run(config: &Config, faces: Faces) -> anyhow::Result<()> {
    crate::config::private_dir(&config.data_dir)?;

    // With `knowledge.gateway_url`, `serve` runs the knowledge server alone and draws on that
    // gateway; otherwise on its own, in this process.
    let remote = match (faces, &config.knowledge.gateway_url) {
        (Faces::Both, Some(url)) => Some(url.as_str()),
        _ => None,
    };
    // One database, one pool, for every part of the process; Redis for a gateway's counters.
    let storage = match remote {
        Some(_) => config.storage().await?,
        None => config.gateway_storage().await?,
    };
    let mut servers = Vec::new();
    let gateway = match remote {
        Some(url) => {
            tracing::info!(gateway = url, "the knowledge server draws on a remote gateway");
            None
        }
        None => {
            let gateway = gateway::Gateway::open(&config.gateway, &config.data_dir, &storage)
                .await
                .context("cannot start the gateway")?;
            servers.push(Server {
                name: "gateway",
                listener: bind(
                    config.bind,
                    config.gateway.port,
                    "gateway",
                    "AGENTWATCH_GATEWAY_PORT",
                )
                .await?,
                router: gateway.router(),
            });
            Some(gateway)
        }
    };
    let shutdown = CancellationToken::new();
    let mut scans = None;
    let mut resuming = None;
    let mut watching = None;
    let mut syncing = None;
    if faces == Faces::Both {
        let indexer = crate::indexing::open_indexer(config, &storage, true).await?;
        indexer.resume_embedding().await?;
        // What another process on the data dir leaves undone when it dies, this one takes over.
        resuming = Some(indexer.keep_resuming(indexer::LEASE));
        watching = Some(indexer.keep_watching(config.watch_options()));
        syncing = Some(indexer.keep_syncing(SYNC_LOOKS));
        let scanning = crate::scanning::open(config, &storage, Arc::clone(&indexer))?;
        scans = Some(Arc::clone(&scanning));
        // Bound to loopback without a token, a client with no credential is this machine's user.
        let token = config.knowledge.token.clone();
        let anonymous = config.bind.is_loopback() && token.is_none();
        let access = Access::new(&config.gateway.dlp, token, anonymous);
        let (access, local_gateway) = match (&gateway, remote) {
            (Some(gateway), _) => {
                let local = servers[0].listener.local_addr()?;
                (access.with_gateway(gateway.clone()), Some(local))
            }
            (None, Some(url)) => (access.with_remote(RemoteGateway::new(url)?), None),
            (None, None) => unreachable!("without a remote gateway, this process runs one"),
        };
        let access = Arc::new(access);
        // `ask_codebase` asks the same gateway, wherever it listens.
        let asker = asker(config, local_gateway)?;
        // Webhook secrets are sealed with the key that seals provider keys.
        let master = gateway::Gateway::master_key(&config.gateway, &config.data_dir)
            .context("cannot read the master key (gateway.master_key or <data_dir>/master.key)")?;
        let knowledge = Knowledge::new(indexer)
            .with_scans(scanning)
            .with_asker(asker)
            .with_watch_by_default(config.index.watch)
            .with_sealer(Arc::new(crate::webhooks::Sealed(master)));
        let server = crate::mcp::KnowledgeServer::new(knowledge.clone(), Arc::clone(&access));
        let metrics =
            crate::knowledge::metrics(knowledge.clone(), config.gateway.metrics_token.clone());
        let (rest, webhooks, openapi) = crate::rest::router(knowledge);
        let mcp = crate::mcp::http_router(
            server,
            config.bind.is_loopback(),
            &config.knowledge.allowed_origins,
            shutdown.child_token(),
        );
        let api = mcp.merge(rest.clone());
        let guard = crate::knowledge::Guard {
            loopback: config.bind.is_loopback(),
            origins: config.knowledge.allowed_origins.clone(),
        };
        if gateway.is_some() {
            // The dashboard on the gateway's port shows repositories too.
            let rest =
                crate::knowledge::rest_for_dashboard(Arc::clone(&access), guard.clone(), rest);
            servers[0].router = std::mem::take(&mut servers[0].router).merge(rest);
        }
        servers.push(Server {
            name: "knowledge server",
            listener: bind(
                config.bind,
                config.knowledge.port,
                "knowledge server",
                "AGENTWATCH_KNOWLEDGE_PORT",
            )
            .await?,
            router: crate::knowledge::router(access, guard, api, webhooks.merge(metrics), openapi),
        });
    }

    let mut tasks = tokio::task::JoinSet::new();
    for server in servers {
        let addr = server.listener.local_addr()?;
        tracing::info!(server = server.name, %addr, "listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            // The peer's address reaches handlers (the gateway's audit log records it).
            let service = server.router.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(server.listener, service)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .with_context(|| format!("the {} stopped", server.name))
        });
    }

    let mut outcome = Ok(());
    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutting down"),
        Some(result) = tasks.join_next() => {
            // A server never ends on its own: whatever ended it is an error, reported once
            // everything else has stopped and the usage records are stored.
            outcome = result.map_err(anyhow::Error::from).and_then(|r| r);
        }
    }
    shutdown.cancel();
    for task in [watching, syncing].into_iter().flatten() {
        task.abort();
    }
    if let Some(resuming) = resuming {
        resuming.abort();
    }
    if let Some(scans) = scans {
        scans.cancel_all().await;
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result.map_err(anyhow::Error::from).and_then(|r| r) {
            outcome = Err(e);
        }
    }
    // Every request has finished: store the usage records still queued.
    if let Some(gateway) = gateway {
        gateway.shutdown().await;
    }
    outcome
}

async fn bind(ip: IpAddr, port: u16, name: &str, port_var: &str) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("stop the process using it, or choose another port with {port_var}")
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "this machine has no such address: set AGENTWATCH_BIND to one of its own".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("ports below 1024 need privileges: choose another with {port_var}")
            }
            _ => "check AGENTWATCH_BIND and the port settings".to_owned(),
        };
        anyhow::anyhow!("cannot listen on {addr} for the {name}: {e}; {hint}")
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// How `ask_codebase` reaches the gateway: through `knowledge.gateway_url`, or else the gateway
/// of this process at `local` (the address it listens on), or else the configured gateway port
/// on this machine.
pub(crate) fn asker(
    config: &Config,
    local: Option<SocketAddr>,
) -> anyhow::Result<Arc<knowledge::Asker>> {
    gateway::install_tls();
    let gateway = match (&config.knowledge.gateway_url, local) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(mut addr)) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
        (None, None) => format!("http://127.0.0.1:{}", config.gateway.port),
    };
    let settings = knowledge::AskSettings {
        gateway,
        model: config.knowledge.ask_model.clone(),
        fallback_key: config.knowledge.ask_api_key.as_ref().map(|k| k.expose().to_owned()),
    };
    Ok(Arc::new(knowledge::Asker::new(settings)?))
}
