//! The gateway: an OpenAI-compatible LLM proxy and the admin API, served on port 8787.
//!
//! Invariant: never depends on `indexer`, `scanner` or `mcp-server`; the knowledge server draws
//! on the gateway, not the other way round.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod budget;
pub mod counters;
mod dashboard;
pub mod dialect;
pub mod directory;
pub mod dlp;
mod docs;
pub mod error;
pub mod health;
mod messages;
pub mod metrics;
pub mod net;
pub mod pricing;
mod proxy;
pub mod ratelimit;
mod responses;
pub mod retention;
mod screen;
pub mod secrets;
pub mod settings;
pub mod store;
mod stream;
pub mod telemetry;
#[cfg(test)]
mod untrusted;
pub mod usage;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};

use crate::admin::{Auth, CreateUser, Role};
use crate::alerts::Alerts;
use crate::budget::Budgets;
use crate::counters::Counters;
use crate::directory::{BreakerSettings, Directory};
use crate::dlp::policy::Policy;
use crate::metrics::Metrics;
use crate::pricing::Prices;
use crate::ratelimit::{Bucket, RateLimiter};
use crate::secrets::{MasterKey, Secret};
use crate::settings::GatewaySettings;
use crate::store::{Store, StoreError};
use crate::usage::UsageSink;
pub use storage::{Redis, Storage};

/// Makes ring the process's TLS provider (the build's reqwest has none of its own). Any HTTP
/// client in the process needs it; calling it again is harmless.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the gateway's handlers share.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    store: Store,
    directory: RwLock<Arc<Directory>>,
    /// Held from reading the store to swapping the directory, so that two reloads close together
    /// cannot leave the older snapshot in place.
    reloading: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    /// The client for providers that [`Gateway::guarded`] holds to public addresses.
    guarded_http: reqwest::Client,
    allow_private_providers: bool,
    usage: UsageSink,
    prices: Prices,
    metrics: Arc<Metrics>,
    auth: Auth,
    budgets: Arc<Budgets>,
    rates: RateLimiter,
    /// People's calls to the knowledge server, by user id, each with the default bucket.
    people: RateLimiter,
    /// Where budgets, rate limits and provider-key slots are counted: in process, or shared by
    /// replicas.
    counters: Counters,
    /// The `directory_version` the directory was last built from.
    loaded: std::sync::atomic::AtomicI64,
    /// Call reports (`/api/access/calls`) owed for calls admitted through `/api/access/admit`.
    reports_owed: Mutex<HashMap<access::Subject, u32>>,
    /// Every tenant's token bucket unless its own says otherwise.
    bucket: Bucket,
    /// The default DLP policy: `gateway.dlp` over the built-in one.
    dlp: Arc<Policy>,
    /// What `/metrics` asks for, if anything.
    metrics_token: Option<Secret>,
    limits: Limits,
    alerts: Arc<Alerts>,
    /// `/v1/models` answers by organization, for 30 seconds.
    models: Mutex<HashMap<i64, (Instant, Arc<serde_json::Value>)>>,
    /// The `default` organization's id.
    default_org: i64,
}

/// How often a gateway looks for changes other processes made to its directory.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Limits {
    attempt_timeout: Duration,
    request_timeout: Duration,
    max_attempts: u32,
    breaker: BreakerSettings,
}

impl Limits {
    /// How long a shared budget reservation or provider-key lease holds unless returned:
    /// one a dead replica never returned lapses once no request it could belong to may still
    /// be running.
    fn hold_for(&self) -> Duration {
        self.request_timeout + Duration::from_secs(60)
    }
}

impl Gateway {
    /// Opens the gateway's tables in `storage`, seeds them from `settings`, and starts the usage
    /// writer; its keys live in `data_dir`. Needs a Tokio runtime.
    pub async fn open(
        settings: &GatewaySettings,
        data_dir: &Path,
        storage: &Storage,
    ) -> Result<Gateway, StoreError> {
        install_tls();
        let store = Gateway::open_store(settings, data_dir, storage)?;
        store.seed(settings).await?;
        let auth = Auth::load(settings, data_dir)?;
        first_admin(&store, settings).await?;
        // Provider calls follow no redirects: a provider's answer cannot send a request, and its
        // key, somewhere else.
        let client = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(90))
                .redirect(reqwest::redirect::Policy::none())
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| StoreError::Invalid(format!("cannot build the HTTP client: {e}")))
        };
        let http = built(client())?;
        // Other organizations' providers: public addresses only, judged as each connection is
        // made; no proxy, which would resolve names where this check cannot see.
        let guarded_http = built(client().dns_resolver(net::PublicOnly).no_proxy())?;
        let limits = Limits {
            attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
            request_timeout: Duration::from_secs(settings.request_timeout_secs),
            max_attempts: settings.max_attempts,
            breaker: BreakerSettings {
                failures: settings.breaker_failures,
                open_for: Duration::from_secs(settings.breaker_open_secs),
            },
        };
        let prices = Prices::load(settings.price_file.as_deref(), &settings.prices)
            .map_err(|e| StoreError::Invalid(format!("gateway.price_file: {e}")))?;
        let metrics = Arc::new(Metrics::default());
        let alerts = Arc::new(Alerts::new(
            store.clone(),
            Arc::clone(&metrics),
            settings.alerts.clone(),
            http.clone(),
        ));
        let counters = Counters::of(storage);
        let budgets = Arc::new(Budgets::load(&store, &counters, limits.hold_for()).await?);
        let (rates, people) = match &counters {
            Counters::InProcess => (RateLimiter::load(&store).await?, RateLimiter::default()),
            shared => (RateLimiter::new(shared, "tenant"), RateLimiter::new(shared, "person")),
        };
        let default_org = store.default_org().await?;
        let gateway = Gateway {
            inner: Arc::new(Inner {
                started: Instant::now(),
                usage: UsageSink::start(
                    store.clone(),
                    Arc::clone(&metrics),
                    Arc::clone(&budgets),
                    Arc::clone(&alerts),
                ),
                alerts,
                budgets,
                rates,
                people,
                counters,
                loaded: std::sync::atomic::AtomicI64::new(-1),
                reports_owed: Mutex::new(HashMap::new()),
                bucket: Bucket {
                    burst: f64::from(settings.rate_burst),
                    refill_per_sec: settings.rate_refill_per_sec,
                },
                metrics,
                auth,
                dlp: Arc::new(settings.dlp.over(&Policy::builtin())),
                metrics_token: settings.metrics_token.clone(),
                store,
                directory: RwLock::new(Arc::new(Directory::default())),
                reloading: tokio::sync::Mutex::new(()),
                http,
                guarded_http,
                allow_private_providers: settings.allow_private_providers,
                prices,
                limits,
                models: Mutex::new(HashMap::new()),
                default_org,
            }),
        };
        // What the config file seeded is news to the other processes on the database.
        gateway.changed().await?;
        gateway.follow_changes();
        gateway.keep_retaining(settings.retention.usage_days, settings.retention.audit_days);
        gateway.keep_alerting();
        Ok(gateway)
    }

    /// The gateway's store, without starting anything: for command-line tools.
    pub fn open_store(
        settings: &GatewaySettings,
        data_dir: &Path,
        storage: &Storage,
    ) -> Result<Store, StoreError> {
        Ok(Store::new(storage, Gateway::master_key(settings, data_dir)?))
    }

    /// The key secrets are sealed with at rest: `gateway.master_key`, or else
    /// `<data_dir>/master.key` (made on first use).
    pub fn master_key(
        settings: &GatewaySettings,
        data_dir: &Path,
    ) -> Result<MasterKey, secrets::SecretError> {
        match &settings.master_key {
            Some(key) => MasterKey::from_hex(key.expose()),
            None => MasterKey::load_or_create(&data_dir.join("master.key")),
        }
    }

    /// Re-seals every provider key under `new_key` (64 hex characters). When the master key
    /// lives in `<data_dir>/master.key`, the file is replaced too; when it comes from
    /// `gateway.master_key` (or `AGENTWATCH_MASTER_KEY`), set that to the new key before the next
    /// start. Run it with the gateway stopped. Returns how many keys were re-sealed.
    pub async fn rotate_master_key(
        settings: &GatewaySettings,
        data_dir: &Path,
        storage: &Storage,
        new_key: &str,
    ) -> Result<usize, StoreError> {
        let new = MasterKey::from_hex(new_key)?;
        let store = Gateway::open_store(settings, data_dir, storage)?;
        if settings.master_key.is_some() {
            return store.reseal(&new).await;
        }
        // The new key is on disk before any key is sealed under it, and replaces the old file
        // only once every key is.
        let path = data_dir.join("master.key");
        let staged = secrets::stage_key_file(&path, new_key.trim())?;
        let resealed = store.reseal(&new).await?;
        secrets::commit_key_file(&staged, &path)?;
        Ok(resealed)
    }

    /// The gateway's HTTP routes, with request ids and tracing. Serve them with
    /// `into_make_service_with_connect_info::<SocketAddr>()` for the audit log to record who
    /// called from where.
    pub fn router(&self) -> Router {
        let routes = admin::router()
            .route("/metrics", get(metrics::metrics))
            .route("/v1/chat/completions", post(proxy::chat_completions))
            .route("/v1/embeddings", post(proxy::embeddings))
            .route("/v1/messages", post(messages::messages))
            .route("/v1/messages/count_tokens", post(messages::count_tokens))
            .route("/v1/responses", post(responses::responses))
            .route("/v1/models", get(proxy::models))
            // Long contexts and images: far above axum's 2 MiB default.
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(self.clone());
        telemetry::observe(routes)
    }

    /// Call after changing tenants, teams, providers, keys or policies in the store: this
    /// gateway reloads now, every other one on the database within [`FOLLOW_EVERY`].
    pub async fn changed(&self) -> Result<(), StoreError> {
        self.inner.store.directory_changed().await?;
        self.reload().await
    }

    /// Reloads the directory whenever another process changed what it is built from. It looks
    /// every [`FOLLOW_EVERY`] (one read of one row), so a change lands within that whatever
    /// the database, and a process that was away (a stalled disk, a lost connection) catches
    /// up at its next look. Ends with the gateway.
    fn follow_changes(&self) {
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FOLLOW_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = inner.upgrade() else { break };
                let gateway = Gateway { inner };
                let loaded = gateway.inner.loaded.load(std::sync::atomic::Ordering::Acquire);
                let outcome = match gateway.inner.store.directory_version().await {
                    Ok(version) if version != loaded => gateway.reload().await,
                    other => other.map(drop),
                };
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "cannot follow changes made by other gateways");
                }
            }
        });
    }

    /// Re-reads tenants and providers from the store; breakers and key load carry over.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        // Read first: a change written while this reload reads is seen at the next look.
        let version = self.inner.store.directory_version().await?;
        let mut tenants = self.inner.store.tenants().await?;
        let teams = self.inner.store.team_budgets().await?;
        // Policies layer: a tenant's own over its organization's over the gateway's default.
        let default = Arc::clone(&self.inner.dlp);
        let orgs: HashMap<i64, Arc<Policy>> = (self.inner.store.org_policies().await?)
            .into_iter()
            .map(|(org, policy)| (org, Arc::new(policy.over(&default))))
            .collect();
        for (_, tenant) in &mut tenants {
            if let Some(team) = tenant.team_id.and_then(|t| teams.get(&t)) {
                tenant.team_budgets = *team;
            }
            let base = orgs.get(&tenant.org_id).unwrap_or(&default);
            tenant.dlp = match &tenant.dlp_policy {
                Some(own) => Arc::new(own.over(base)),
                None => Arc::clone(base),
            };
        }
        let mut providers = self.inner.store.providers().await?;
        // A guarded provider's literal address is not resolved, so the resolver cannot refuse
        // it: it is left out here.
        providers.retain(|p| {
            let refused = self
                .guarded(p.org_id)
                .then(|| reqwest::Url::parse(&p.base_url).ok().and_then(|u| net::check_literal(&u)))
                .flatten();
            if let Some(why) = &refused {
                tracing::warn!(provider = %p.name, org = p.org_id, "provider left out: {why}");
            }
            refused.is_none()
        });
        let previous = self.directory();
        let next = Directory::build(tenants, providers, &previous, self.inner.limits.breaker)
            .with_org_policies(orgs);
        *self.inner.directory.write().expect("directory lock") = Arc::new(next);
        self.inner.models.lock().expect("models cache lock").clear();
        self.inner.loaded.store(version, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Stores every usage record still queued. Call it after the server has stopped.
    pub async fn shutdown(&self) {
        self.inner.usage.flush_and_stop().await;
        if let Err(e) = self.inner.rates.save(&self.inner.store).await {
            tracing::error!(error = %e, "cannot save the rate limiters' state");
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The id of the `default` organization: the config's tenants and the first admin belong to
    /// it, and so do repositories indexed locally.
    pub fn default_org(&self) -> i64 {
        self.inner.default_org
    }

    /// Whether `org`'s providers are held to public addresses: every organization's but the
    /// operator's, unless `gateway.allow_private_providers`.
    pub fn guarded(&self, org: i64) -> bool {
        org != self.inner.default_org && !self.inner.allow_private_providers
    }

    /// The HTTP client that calls `upstream`.
    pub(crate) fn client_for(&self, upstream: &directory::Upstream) -> &reqwest::Client {
        if self.guarded(upstream.provider.org_id) {
            &self.inner.guarded_http
        } else {
            &self.inner.http
        }
    }

    fn directory(&self) -> Arc<Directory> {
        Arc::clone(&self.inner.directory.read().expect("directory lock"))
    }

    /// Whether Redis answers a ping within two seconds; `None` when the counters are not kept
    /// there.
    async fn redis_answers(&self) -> Option<bool> {
        let Counters::Redis(redis) = &self.inner.counters else { return None };
        let (ping, mut connection) = (redis::cmd("PING"), redis.connection());
        let answer = ping.query_async::<String>(&mut connection);
        Some(matches!(tokio::time::timeout(Duration::from_secs(2), answer).await, Ok(Ok(_))))
    }

    fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

/// Makes the admin of `gateway.admin_email` and `gateway.admin_password`, in the `default`
/// organization, unless that email already has an account (which is then left as it is: a
/// password changed since is kept). Says how to make an admin when nobody can log in.
async fn first_admin(store: &Store, settings: &GatewaySettings) -> Result<(), StoreError> {
    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), _) if store.has_user(email).await? => {}
        (Some(email), Some(password)) => {
            let user = CreateUser {
                org: store::DEFAULT_ORG.to_owned(),
                email: email.clone(),
                password: password.expose().to_owned(),
                role: Role::Admin,
            };
            match admin::create_user(store, &user).await {
                Ok(_) => {
                    tracing::info!(email = %email, "created the first admin from AGENTWATCH_ADMIN_EMAIL");
                }
                // A replica starting at the same time made it first.
                Err(StoreError::Invalid(_)) if store.has_user(email).await? => {}
                Err(e) => return Err(e),
            }
        }
        _ if store.has_users().await? => {}
        _ => tracing::warn!(
            "no admin user yet: set AGENTWATCH_ADMIN_EMAIL and AGENTWATCH_ADMIN_PASSWORD, or run \
             `agentwatch admin create-user --email E --role admin --password-stdin`"
        ),
    }
    Ok(())
}
