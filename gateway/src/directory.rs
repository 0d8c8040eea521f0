//! What the request path needs, in memory: tenants by key hash, and each organization's upstreams
//! (providers with their keys, circuit breakers and load), so that no request waits on the
//! database. Rebuilt from the store whenever it changes; breakers and key load carry over.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use storage::Redis;

use crate::counters::{Counters, Database, redis_unavailable, unique_name};
use crate::dlp::policy::Policy;
use crate::error::ApiError;
use crate::settings::ProviderKind;
use crate::store::{Provider, ProviderKey, Tenant};

/// A snapshot of tenants and upstreams.
#[derive(Debug, Default)]
pub struct Directory {
    tenants: HashMap<String, Arc<Tenant>>,
    tenants_by_id: HashMap<i64, Arc<Tenant>>,
    /// By organization, in priority order.
    upstreams: HashMap<i64, Vec<Arc<Upstream>>>,
    /// Each organization's DLP policy over the gateway's default, when it has its own.
    org_dlp: HashMap<i64, Arc<Policy>>,
}

/// Which API an upstream is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    /// Anthropic's Messages API: natively by Anthropic providers, translated by the others.
    Messages,
    /// Its `count_tokens`, which only Anthropic providers count (the gateway counts for others).
    CountTokens,
    /// OpenAI's Responses API: natively by `openai` providers, translated by the others.
    Responses,
    /// A Responses request only a provider that keeps responses can serve (`openai` ones).
    ResponsesNative,
}

impl Endpoint {
    /// The GenAI semantic conventions' `gen_ai.operation.name` of a request to it.
    pub fn operation(self) -> &'static str {
        match self {
            Endpoint::Embeddings => "embeddings",
            _ => "chat",
        }
    }
}

impl Directory {
    /// Builds a snapshot, keeping the breakers and key load of `previous` for providers and keys
    /// that are still there.
    pub fn build(
        tenants: Vec<(String, Tenant)>,
        providers: Vec<Provider>,
        previous: &Directory,
        breaker: BreakerSettings,
    ) -> Directory {
        let old_upstreams: HashMap<i64, &Arc<Upstream>> =
            previous.upstreams.values().flatten().map(|u| (u.provider.id, u)).collect();
        let mut upstreams: HashMap<i64, Vec<Arc<Upstream>>> = HashMap::new();
        for mut provider in providers {
            let old = old_upstreams.get(&provider.id);
            let keys = std::mem::take(&mut provider.keys)
                .into_iter()
                .map(|key| {
                    let old_slot = old.and_then(|u| u.keys.iter().find(|k| k.key.id == key.id));
                    match old_slot {
                        Some(slot) => Arc::clone(slot),
                        None => Arc::new(KeySlot::new(key)),
                    }
                })
                .collect();
            let breaker = match old {
                Some(u) => Arc::clone(&u.breaker),
                None => Arc::new(Breaker::new(breaker)),
            };
            upstreams.entry(provider.org_id).or_default().push(Arc::new(Upstream {
                provider,
                keys,
                breaker,
                picking: Mutex::new(()),
            }));
        }
        for list in upstreams.values_mut() {
            list.sort_by_key(|u| (u.provider.priority, u.provider.id));
        }
        let tenants: HashMap<String, Arc<Tenant>> =
            tenants.into_iter().map(|(hash, t)| (hash, Arc::new(t))).collect();
        Directory {
            tenants_by_id: tenants.values().map(|t| (t.id, Arc::clone(t))).collect(),
            tenants,
            upstreams,
            org_dlp: HashMap::new(),
        }
    }

    /// The snapshot with each organization's own DLP policy (already over the default).
    pub fn with_org_policies(mut self, policies: HashMap<i64, Arc<Policy>>) -> Directory {
        self.org_dlp = policies;
        self
    }

    /// The DLP policy of an organization's own, if it has one.
    pub fn org_policy(&self, org_id: i64) -> Option<&Arc<Policy>> {
        self.org_dlp.get(&org_id)
    }

    pub fn tenant(&self, key_hash: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(key_hash)
    }

    pub fn tenant_by_id(&self, id: i64) -> Option<&Arc<Tenant>> {
        self.tenants_by_id.get(&id)
    }

    /// The enabled upstreams of `org_id` that serve `model` at `endpoint`, in the order to try
    /// them, each with the model name to send it.
    pub fn candidates(
        &self,
        org_id: i64,
        model: &str,
        endpoint: Endpoint,
    ) -> Vec<(Arc<Upstream>, String)> {
        self.upstreams
            .get(&org_id)
            .into_iter()
            .flatten()
            .filter(|u| u.provider.enabled && u.supports(endpoint))
            .filter_map(|u| u.serves(model).map(|m| (Arc::clone(u), m)))
            .collect()
    }

    /// The enabled upstreams of `org_id`.
    pub fn upstreams(&self, org_id: i64) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.get(&org_id).into_iter().flatten().filter(|u| u.provider.enabled)
    }

    /// Every upstream of every organization, for health and metrics.
    pub fn all_upstreams(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.values().flatten()
    }
}

/// A provider as the request path sees it.
#[derive(Debug)]
pub struct Upstream {
    pub provider: Provider,
    pub keys: Vec<Arc<KeySlot>>,
    pub breaker: Arc<Breaker>,
    /// Serializes key picking, so that two requests never both take a key's last free slot.
    picking: Mutex<()>,
}

impl Upstream {
    /// The model name to ask this provider for, if it serves `model`: an alias's target, or the
    /// model itself when its model list matches (or it has none).
    pub fn serves(&self, model: &str) -> Option<String> {
        let target = self.resolve(model)?;
        // Gemini and Azure's deployments API take the model in the URL's path.
        let in_path = match self.provider.kind {
            ProviderKind::Google => true,
            ProviderKind::Azure => self.provider.azure_deployments(),
            _ => false,
        };
        let safe = !in_path || crate::dialect::google::is_safe_model(&target);
        safe.then_some(target)
    }

    fn resolve(&self, model: &str) -> Option<String> {
        if let Some(target) = self.provider.aliases.get(model) {
            return Some(target.clone());
        }
        let matches = match &self.provider.models {
            None => true,
            Some(models) => models.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => m == model,
            }),
        };
        matches.then(|| model.to_owned())
    }

    fn supports(&self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::ChatCompletions => true,
            Endpoint::Embeddings => self.provider.kind.is_openai_compatible(),
            Endpoint::Messages | Endpoint::Responses => true,
            Endpoint::ResponsesNative => self.provider.kind == ProviderKind::OpenAI,
            Endpoint::CountTokens => self.provider.kind == ProviderKind::Anthropic,
        }
    }

    /// Takes the key with the fewest requests in flight among those under their concurrency and
    /// per-minute limits, skipping `tried`. `None` when every key is busy, spent or tried.
    pub fn acquire_key(&self, tried: &[i64]) -> Option<KeyLease> {
        let _picking = self.picking.lock().expect("key picking lock");
        let now = Instant::now();
        let slot = self
            .keys
            .iter()
            .filter(|k| !tried.contains(&k.key.id) && k.has_room(now))
            .min_by_key(|k| k.in_flight.load(Ordering::Relaxed))?;
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        if slot.key.rpm_limit.is_some() {
            slot.recent.lock().expect("rpm window lock").push_back(now);
        }
        Some(KeyLease { slot: Arc::clone(slot), shared: None })
    }

    /// As [`Upstream::acquire_key`], with the keys' requests counted in `counters`: with shared
    /// counters, every replica's requests in flight and of the last minute, the key picked and
    /// taken in one atomic step. A lease its replica never returned (it died) stops counting
    /// after `hold_for`. `Err` when the shared counters do not answer.
    pub async fn lease_key(
        &self,
        tried: &[i64],
        counters: &Counters,
        hold_for: Duration,
    ) -> Result<Option<KeyLease>, ApiError> {
        if let Counters::InProcess = counters {
            return Ok(self.acquire_key(tried));
        }
        let candidates: Vec<&Arc<KeySlot>> =
            self.keys.iter().filter(|k| !tried.contains(&k.key.id)).collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let lease = unique_name();
        let taken = match counters {
            Counters::InProcess => unreachable!("answered above"),
            Counters::Redis(redis) => take_key_in_redis(redis, &candidates, &lease, hold_for)
                .await
                .map_err(|e| redis_unavailable(redis, &e))?,
            Counters::Database(db) => take_key_in_database(db, &candidates, &lease, hold_for)
                .await
                .map_err(|e| db.unavailable(&e))?,
        };
        let Some(slot) = taken.and_then(|i| candidates.get(i)) else { return Ok(None) };
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        let shared = SharedLease { counters: counters.clone(), key_id: slot.key.id, lease };
        Ok(Some(KeyLease { slot: Arc::clone(slot), shared: Some(shared) }))
    }
}

/// Takes a slot of the least loaded key among `candidates` with room in Redis: its index.
async fn take_key_in_redis(
    redis: &Redis,
    candidates: &[&Arc<KeySlot>],
    lease: &str,
    hold_for: Duration,
) -> Result<Option<usize>, redis::RedisError> {
    let mut call = TAKE_KEY.prepare_invoke();
    for slot in candidates {
        call.key(flight_key(slot.key.id)).key(format!("agentwatch:key:{}:minute", slot.key.id));
    }
    call.arg(lease).arg(hold_for.as_millis() as u64);
    for slot in candidates {
        call.arg(slot.key.concurrency_limit).arg(slot.key.rpm_limit.unwrap_or(0));
    }
    let taken: usize = call.invoke_async(&mut redis.connection()).await?;
    Ok(taken.checked_sub(1))
}

/// As [`take_key_in_redis`], in one transaction holding the candidates' locks.
async fn take_key_in_database(
    db: &Database,
    candidates: &[&Arc<KeySlot>],
    lease: &str,
    hold_for: Duration,
) -> Result<Option<usize>, sqlx::Error> {
    let names: Vec<String> = candidates.iter().map(|slot| format!("key:{}", slot.key.id)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut tx, now) = db.locked(&names).await?;
    let mut best: Option<(usize, i64)> = None;
    for (i, slot) in candidates.iter().enumerate() {
        let (in_flight, last_minute): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE deadline > $2), \
             COUNT(*) FILTER (WHERE started_at > $2 - 60000) \
             FROM shared_key_leases WHERE key_id = $1",
        )
        .bind(slot.key.id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let room = in_flight < slot.key.concurrency_limit
            && slot.key.rpm_limit.is_none_or(|rpm| last_minute < rpm);
        if room && best.is_none_or(|(_, load)| in_flight < load) {
            best = Some((i, in_flight));
        }
    }
    let Some((i, _)) = best else { return Ok(None) };
    sqlx::query(
        "WITH done AS (DELETE FROM shared_key_leases WHERE key_id = $1 \
         AND deadline <= $3 AND started_at <= $3 - 60000) \
         INSERT INTO shared_key_leases (key_id, lease, started_at, deadline) \
         VALUES ($1, $2, $3, $3 + $4)",
    )
    .bind(candidates[i].key.id)
    .bind(lease)
    .bind(now)
    .bind(hold_for.as_millis() as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(i))
}

/// The Redis sorted set of key `id`'s leases in flight.
fn flight_key(id: i64) -> String {
    format!("agentwatch:key:{id}:flight")
}

/// Picks the key with the fewest requests in flight among those under their limits, and takes a
/// slot of it. KEYS: per key the sorted set of its leases in flight (by deadline) and of its
/// requests of the last minute (by time). ARGV: the lease's name, how long it holds (ms), then
/// per key its concurrency limit and per-minute limit (0 for none). Answers the 1-based key
/// taken, or 0 when every one is full.
static TAKE_KEY: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local time = redis.call('TIME')
        local now = time[1] * 1000 + math.floor(time[2] / 1000)
        local best, best_load = 0, nil
        for i = 1, #KEYS / 2 do
            local flight, minute = KEYS[2 * i - 1], KEYS[2 * i]
            redis.call('ZREMRANGEBYSCORE', flight, '-inf', now)
            local load = redis.call('ZCARD', flight)
            local room = load < tonumber(ARGV[1 + 2 * i])
            local rpm = tonumber(ARGV[2 + 2 * i])
            if room and rpm > 0 then
                redis.call('ZREMRANGEBYSCORE', minute, '-inf', now - 60000)
                room = redis.call('ZCARD', minute) < rpm
            end
            if room and (best_load == nil or load < best_load) then
                best, best_load = i, load
            end
        end
        if best > 0 then
            local flight, minute = KEYS[2 * best - 1], KEYS[2 * best]
            local hold = tonumber(ARGV[2])
            redis.call('ZADD', flight, now + hold, ARGV[1])
            redis.call('PEXPIRE', flight, hold)
            if tonumber(ARGV[2 + 2 * best]) > 0 then
                redis.call('ZADD', minute, now, ARGV[1])
                redis.call('PEXPIRE', minute, 60000)
            end
        end
        return best
        ",
    )
});

/// A provider key and its load.
#[derive(Debug)]
pub struct KeySlot {
    pub key: ProviderKey,
    in_flight: AtomicU32,
    /// Start times of the requests of the last minute, when the key has an `rpm_limit`.
    recent: Mutex<VecDeque<Instant>>,
}

impl KeySlot {
    fn new(key: ProviderKey) -> KeySlot {
        KeySlot { key, in_flight: AtomicU32::new(0), recent: Mutex::new(VecDeque::new()) }
    }

    fn has_room(&self, now: Instant) -> bool {
        if i64::from(self.in_flight.load(Ordering::Relaxed)) >= self.key.concurrency_limit {
            return false;
        }
        let Some(rpm) = self.key.rpm_limit else { return true };
        let mut recent = self.recent.lock().expect("rpm window lock");
        while recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            recent.pop_front();
        }
        (recent.len() as i64) < rpm
    }

    /// This process's requests in flight with the key.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A key in use by one request; dropping it frees the slot.
#[derive(Debug)]
pub struct KeyLease {
    slot: Arc<KeySlot>,
    shared: Option<SharedLease>,
}

/// A lease's entry among a key's leases in flight in the shared counters.
#[derive(Debug)]
struct SharedLease {
    counters: Counters,
    key_id: i64,
    lease: String,
}

impl KeyLease {
    pub fn key(&self) -> &ProviderKey {
        &self.slot.key
    }
}

impl Drop for KeyLease {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Returned in the background; one that cannot be lapses when its time is up.
        if let Some(SharedLease { counters, key_id, lease }) = self.shared.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let returned = match &counters {
                    Counters::InProcess => Ok(()),
                    Counters::Redis(redis) => redis::cmd("ZREM")
                        .arg(flight_key(key_id))
                        .arg(&lease)
                        .query_async::<i64>(&mut redis.connection())
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Counters::Database(db) => sqlx::query(
                        "UPDATE shared_key_leases SET deadline = 0 WHERE key_id = $1 AND lease = $2",
                    )
                    .bind(key_id)
                    .bind(&lease)
                    .execute(db.pool())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
                };
                if let Err(error) = returned {
                    tracing::warn!(%error, key_id, "cannot return a provider key's slot to the shared counters; it lapses by itself");
                }
            });
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long it stays open before one trial request.
    pub open_for: Duration,
}

/// A per-provider circuit breaker: closed (requests flow), open (the provider is skipped until
/// `open_for` has passed), half-open (one trial request decides).
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// A breaker's state, as health and metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker { settings, state: Mutex::new(BreakerState::Closed { failures: 0 }) }
    }

    /// May a request go to this provider now? An open breaker whose time is up lets exactly one
    /// trial through.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::HalfOpen { trial_in_flight: true };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { trial_in_flight } => {
                if trial_in_flight {
                    false
                } else {
                    *state = BreakerState::HalfOpen { trial_in_flight: true };
                    true
                }
            }
        }
    }

    /// A request succeeded. It closes a half-open breaker (the trial) and resets a closed one's
    /// count; an open breaker stays open, as the success began before it opened.
    pub fn record_success(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if !matches!(*state, BreakerState::Open { .. }) {
            *state = BreakerState::Closed { failures: 0 };
        }
    }

    pub fn record_failure(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        let open = BreakerState::Open { until: Instant::now() + self.settings.open_for };
        *state = match *state {
            BreakerState::Closed { failures } if failures + 1 >= self.settings.failures => open,
            BreakerState::Closed { failures } => BreakerState::Closed { failures: failures + 1 },
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => open,
        };
    }

    /// Forgets a trial that ended without telling anything about the provider (the client left).
    pub fn release_trial(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if let BreakerState::HalfOpen { .. } = *state {
            *state = BreakerState::HalfOpen { trial_in_flight: false };
        }
    }

    pub fn state(&self) -> CircuitState {
        match *self.state.lock().expect("breaker lock") {
            BreakerState::Closed { .. } => CircuitState::Closed,
            BreakerState::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            BreakerState::Open { .. } => CircuitState::Open,
            BreakerState::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::settings::ProviderKind;

    fn settings(failures: u32, open_ms: u64) -> BreakerSettings {
        BreakerSettings { failures, open_for: Duration::from_millis(open_ms) }
    }

    #[test]
    fn a_breaker_opens_after_consecutive_failures_and_a_trial_closes_it() {
        let breaker = Breaker::new(settings(3, 50));
        breaker.record_failure();
        breaker.record_failure();
        breaker.record_success(); // a success resets the count
        breaker.record_failure();
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(!breaker.allow());

        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.allow(), "one trial goes through");
        assert!(!breaker.allow(), "and only one");
        breaker.record_success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.allow());
    }

    #[test]
    fn a_failed_trial_opens_the_breaker_again() {
        let breaker = Breaker::new(settings(1, 30));
        breaker.record_failure();
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(!breaker.allow());
    }

    fn provider(
        models: Option<Vec<&str>>,
        aliases: &[(&str, &str)],
        keys: Vec<ProviderKey>,
    ) -> Provider {
        Provider {
            id: 1,
            org_id: 1,
            name: "p".into(),
            kind: ProviderKind::OpenAI,
            base_url: "http://localhost".into(),
            priority: 100,
            enabled: true,
            models: models.map(|m| m.into_iter().map(String::from).collect()),
            aliases: aliases
                .iter()
                .map(|(a, b)| ((*a).into(), (*b).into()))
                .collect::<BTreeMap<_, _>>(),
            keys,
        }
    }

    fn key(id: i64, concurrency_limit: i64, rpm_limit: Option<i64>) -> ProviderKey {
        ProviderKey {
            id,
            label: None,
            secret: format!("key-{id}"),
            hint: "****".into(),
            concurrency_limit,
            rpm_limit,
        }
    }

    fn upstream(p: Provider) -> Arc<Upstream> {
        let d = Directory::build(vec![], vec![p], &Directory::default(), settings(5, 1000));
        d.upstreams(1).next().unwrap().clone()
    }

    #[test]
    fn models_are_served_by_list_prefix_alias_or_by_a_provider_without_a_list() {
        let any = upstream(provider(None, &[], vec![]));
        assert_eq!(any.serves("whatever").as_deref(), Some("whatever"));

        let listed = upstream(provider(
            Some(vec!["gpt-4o", "claude-*"]),
            &[("fast", "gpt-4o-mini")],
            vec![],
        ));
        assert_eq!(listed.serves("gpt-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(listed.serves("claude-3-5-haiku").as_deref(), Some("claude-3-5-haiku"));
        assert_eq!(listed.serves("fast").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(listed.serves("gpt-4o-mini"), None);
    }

    #[test]
    fn keys_are_picked_by_least_in_flight_within_their_limits() {
        let u = upstream(provider(None, &[], vec![key(1, 2, None), key(2, 1, None)]));
        let a = u.acquire_key(&[]).unwrap();
        let b = u.acquire_key(&[]).unwrap();
        assert_ne!(a.key().id, b.key().id, "the idle key is taken second");
        let c = u.acquire_key(&[]).unwrap();
        assert_eq!(c.key().id, 1, "key 2 is at its concurrency limit of 1");
        assert!(u.acquire_key(&[]).is_none(), "both keys are full");
        drop(b);
        assert_eq!(u.acquire_key(&[]).unwrap().key().id, 2, "a finished request frees its slot");
        assert!(u.acquire_key(&[1, 2]).is_none(), "tried keys are skipped");
    }

    #[test]
    fn a_key_past_its_requests_per_minute_is_skipped() {
        let u = upstream(provider(None, &[], vec![key(1, 10, Some(2)), key(2, 10, None)]));
        let firsts: Vec<i64> = (0..2).map(|_| u.acquire_key(&[2]).unwrap().key().id).collect();
        assert_eq!(firsts, vec![1, 1]);
        assert!(u.acquire_key(&[2]).is_none(), "key 1 made its 2 requests this minute");
        assert_eq!(u.acquire_key(&[]).unwrap().key().id, 2);
    }
}
