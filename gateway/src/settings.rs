//! The `[gateway]` table of AgentWatch's config file: the port, timeouts, retries, the circuit
//! breaker, prices, and providers and tenants to seed into the store at start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dlp::policy::Policy;
use crate::pricing::Price;
use crate::secrets::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Port of the LLM gateway and admin API; 0 picks a free one.
    pub port: u16,
    /// 64 hex characters that seal provider keys at rest (AES-256-GCM). Unset: a key made on first
    /// start in `<data_dir>/master.key`, readable by its owner only.
    pub master_key: Option<Secret>,
    /// How long one attempt may wait for a provider's response headers before the next provider
    /// or key is tried.
    pub attempt_timeout_secs: u64,
    /// How long a whole request may take, every retry and the response body included.
    pub request_timeout_secs: u64,
    /// Attempts per request, the first included, over the providers and keys that serve its model.
    pub max_attempts: u32,
    /// Consecutive failures that open a provider's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker keeps a provider out before one trial request is let through.
    pub breaker_open_secs: u64,
    /// A model price file in LiteLLM's format (`model_prices_and_context_window.json`) that
    /// replaces the shipped table (`gateway/prices/model_prices.json`).
    pub price_file: Option<std::path::PathBuf>,
    /// USD per million tokens by model id (`input`, `output`, and optionally `cache_read` and
    /// `cache_write`), over the price table; a key ending in `*` prices every model with that
    /// prefix.
    pub prices: BTreeMap<String, Price>,
    /// Providers to create or update at start (by name, in the `default` organization).
    pub providers: Vec<ProviderSeed>,
    /// Tenants to create or update at start (by name, in the `default` organization).
    pub tenants: Vec<TenantSeed>,
    /// The key that signs admin session tokens (HS256), at least 32 characters. Unset: a key
    /// made on first start in `<data_dir>/jwt.key`, readable by its owner only.
    pub jwt_secret: Option<Secret>,
    /// How long an admin session token is valid.
    pub session_hours: u64,
    /// Failed logins in a row that lock an account.
    pub lockout_attempts: u32,
    /// How long a locked account stays locked (an admin can unlock it sooner).
    pub lockout_secs: u64,
    /// An admin made at start in the `default` organization unless the email already has an
    /// account (`AGENTWATCH_ADMIN_EMAIL` and `AGENTWATCH_ADMIN_PASSWORD`): how the first admin
    /// comes to be. There is no default password.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    /// The default DLP policy, over the built-in one (secrets redacted, personal data logged);
    /// a tenant's own policy overrides it.
    pub dlp: Policy,
    /// Every tenant's token bucket, unless its own says otherwise: at most this many requests
    /// at once (the contract's 1,000)…
    pub rate_burst: u32,
    /// …refilled at this many per second (the contract's 100).
    pub rate_refill_per_sec: f64,
    /// A bearer token `/metrics` asks for (`Authorization: Bearer <token>`); unset, it is open to
    /// whoever reaches the port. It names tenants by id and models, never keys or contents.
    pub metrics_token: Option<Secret>,
    /// How long usage and audit rows are kept one by one (`[gateway.retention]`).
    pub retention: RetentionSettings,
    /// What raises an alert, and the webhooks alerts are sent to (`[gateway.alerts]`).
    pub alerts: AlertSettings,
    /// Let organizations other than the operator's (`default`) point providers at loopback,
    /// private and link-local addresses. Off: their providers must be on the public internet,
    /// checked when each connection is made.
    pub allow_private_providers: bool,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            port: 8787,
            master_key: None,
            attempt_timeout_secs: 60,
            request_timeout_secs: 600,
            max_attempts: 3,
            breaker_failures: 5,
            breaker_open_secs: 30,
            price_file: None,
            prices: BTreeMap::new(),
            providers: Vec::new(),
            tenants: Vec::new(),
            jwt_secret: None,
            session_hours: 24,
            lockout_attempts: 5,
            lockout_secs: 900,
            admin_email: None,
            admin_password: None,
            dlp: Policy::default(),
            rate_burst: 1000,
            rate_refill_per_sec: 100.0,
            metrics_token: None,
            retention: RetentionSettings::default(),
            alerts: AlertSettings::default(),
            allow_private_providers: false,
        }
    }
}

/// Retention: rows older than these many whole UTC days are rolled up into one row per day (usage
/// by organization, tenant, team, endpoint, provider, model and tool; audit entries by
/// organization and action) and deleted. Every total — summaries, breakdowns, budgets — counts
/// the rolled-up days too. Unset: every row is kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    pub usage_days: Option<u32>,
    pub audit_days: Option<u32>,
}

/// Alerts: a budget crossing 80% or 100%, a provider's circuit opening, an organization's error
/// rate and a tenant's cost over a window. Each is stored once per episode (`GET /api/alerts`)
/// and sent to every webhook that takes its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Where alerts are sent.
    pub webhooks: Vec<WebhookSettings>,
    /// The window error rates and costs are measured over, in seconds.
    pub window_secs: u64,
    /// An organization's share of requests answered 5xx in the window at or above which its
    /// error-rate alert fires (it ends below half of it).
    pub error_rate: f64,
    /// Requests the window must hold before its error rate counts.
    pub min_requests: u64,
    /// A tenant's cost in the window at or above this many times its average window over the day
    /// before fires its cost-spike alert…
    pub cost_spike_factor: f64,
    /// …when the window's cost is at least this many USD.
    pub cost_spike_min_usd: f64,
    /// How often circuits, error rates and costs are looked at.
    pub check_every_secs: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhooks: Vec::new(),
            window_secs: 300,
            error_rate: 0.25,
            min_requests: 20,
            cost_spike_factor: 3.0,
            cost_spike_min_usd: 1.0,
            check_every_secs: 10,
        }
    }
}

impl AlertSettings {
    fn validate(&self) -> Result<(), String> {
        if self.window_secs == 0 || self.check_every_secs == 0 {
            return Err("gateway.alerts.window_secs and check_every_secs: at least 1".to_owned());
        }
        if !(self.error_rate > 0.0 && self.error_rate <= 1.0) {
            return Err(
                "gateway.alerts.error_rate: a share above 0 and at most 1, e.g. 0.25".into()
            );
        }
        // NaN is refused too.
        let spike = self.cost_spike_factor.is_finite() && self.cost_spike_factor >= 1.0;
        if !spike || self.cost_spike_min_usd.is_nan() || self.cost_spike_min_usd < 0.0 {
            return Err("gateway.alerts.cost_spike_factor: at least 1; cost_spike_min_usd: 0 or \
                        more"
                .to_owned());
        }
        for (n, hook) in self.webhooks.iter().enumerate() {
            let at = format!("gateway.alerts.webhooks[{n}]");
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                return Err(format!("{at}.url: an http:// or https:// URL"));
            }
            if hook.format == WebhookFormat::Json && hook.secret.is_none() {
                return Err(format!(
                    "{at}.secret: a json webhook is signed; set a secret of 32 or more \
                     characters, e.g. from `openssl rand -hex 32`"
                ));
            }
            if hook.secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
                return Err(format!("{at}.secret: at least 32 characters"));
            }
            for kind in &hook.kinds {
                if !crate::alerts::KINDS.contains(&kind.as_str()) {
                    return Err(format!(
                        "{at}.kinds: unknown kind {kind:?}; the kinds are {}",
                        crate::alerts::KINDS.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One webhook alerts are sent to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// An `https://` URL (or `http://` on this machine's network).
    pub url: String,
    /// `slack`: Slack's incoming-webhook JSON (`{"text": …}`, which Mattermost, Rocket.Chat and
    /// Teams' Slack-compatible connectors take too); `json`: the alert as JSON, signed.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The key `json` bodies are signed with: `X-AgentWatch-Signature: sha256=<hex HMAC-SHA256
    /// of "<X-AgentWatch-Timestamp>.<body>">`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The kinds sent here (`budget`, `circuit_open`, `error_rate`, `cost_spike`); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Slack,
    Json,
}

/// The kinds of LLM provider the gateway speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    OpenAI,
    Anthropic,
    OpenRouter,
    Google,
    Custom,
    /// Azure OpenAI: OpenAI's API per deployment, the key as `api-key`.
    Azure,
    Mistral,
    Cohere,
    Groq,
    Together,
    #[serde(rename = "xai")]
    XAi,
    #[serde(rename = "deepseek")]
    DeepSeek,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 12] = [
        ProviderKind::OpenAI,
        ProviderKind::Anthropic,
        ProviderKind::OpenRouter,
        ProviderKind::Google,
        ProviderKind::Custom,
        ProviderKind::Azure,
        ProviderKind::Mistral,
        ProviderKind::Cohere,
        ProviderKind::Groq,
        ProviderKind::Together,
        ProviderKind::XAi,
        ProviderKind::DeepSeek,
    ];

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The API root a provider of this kind has unless its config says otherwise; none for
    /// Azure (each resource has its own) and `custom`.
    pub fn default_base_url(self) -> Option<&'static str> {
        self.describe().1
    }

    /// The name and the default base URL: the one place they are paired.
    fn describe(self) -> (&'static str, Option<&'static str>) {
        match self {
            ProviderKind::OpenAI => ("openai", Some("https://api.openai.com/v1")),
            ProviderKind::Anthropic => ("anthropic", Some("https://api.anthropic.com")),
            ProviderKind::OpenRouter => ("openrouter", Some("https://openrouter.ai/api/v1")),
            ProviderKind::Google => ("google", Some("https://generativelanguage.googleapis.com")),
            ProviderKind::Custom => ("custom", None),
            ProviderKind::Azure => ("azure", None),
            ProviderKind::Mistral => ("mistral", Some("https://api.mistral.ai/v1")),
            ProviderKind::Cohere => ("cohere", Some("https://api.cohere.ai/compatibility/v1")),
            ProviderKind::Groq => ("groq", Some("https://api.groq.com/openai/v1")),
            ProviderKind::Together => ("together", Some("https://api.together.xyz/v1")),
            ProviderKind::XAi => ("xai", Some("https://api.x.ai/v1")),
            ProviderKind::DeepSeek => ("deepseek", Some("https://api.deepseek.com/v1")),
        }
    }

    /// Speaks OpenAI's API itself, so requests and responses pass through unchanged.
    pub fn is_openai_compatible(self) -> bool {
        !matches!(self, ProviderKind::Anthropic | ProviderKind::Google)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSeed {
    pub name: String,
    pub kind: ProviderKind,
    /// The API root, e.g. `https://api.openai.com/v1` or `https://api.anthropic.com`; unset, the
    /// kind's own (Azure and `custom` need one).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Lower is tried first.
    #[serde(default = "default_priority")]
    pub priority: i64,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The models it serves (`prefix*` matches a prefix). Unset: any model, and its `/models`
    /// feeds `/v1/models`.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Model names clients use, mapped to the name this provider knows the model by.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub keys: Vec<KeySeed>,
}

impl ProviderSeed {
    /// Its API root: the one it names, or its kind's.
    pub fn base_url(&self) -> Result<String, String> {
        resolve_base_url(self.kind, self.base_url.as_deref())
    }
}

/// A provider's API root: `given`, or `kind`'s own; an error naming what to set when it has none.
pub fn resolve_base_url(kind: ProviderKind, given: Option<&str>) -> Result<String, String> {
    match (given.map(str::trim).filter(|u| !u.is_empty()), kind.default_base_url()) {
        (Some(url), _) => Ok(url.trim_end_matches('/').to_owned()),
        (None, Some(url)) => Ok(url.to_owned()),
        (None, None) if kind == ProviderKind::Azure => Err(
            "an azure provider needs its resource's endpoint: `https://<resource>.openai.azure.com` \
             (deployments API) or `https://<resource>.openai.azure.com/openai/v1` (v1 API)"
                .to_owned(),
        ),
        (None, None) => Err(format!("a {} provider needs a base_url", kind.as_str())),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySeed {
    /// The key itself; prefer `key_env`, which keeps it out of the file.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The environment variable that holds the key, read at start.
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default = "default_concurrency")]
    pub concurrency_limit: i64,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
}

impl KeySeed {
    /// The key's value, from the file or the environment.
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.key, &self.key_env) {
            (Some(key), None) => Ok(key.expose().to_owned()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                _ => Err(format!("the environment variable {var} (key_env) is not set")),
            },
            _ => Err("give exactly one of `key` and `key_env`".to_owned()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    pub name: String,
    /// The key the tenant sends as `Authorization: Bearer` or `X-Api-Key`; stored hashed.
    pub api_key: Secret,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub daily_budget: Option<f64>,
    #[serde(default)]
    pub monthly_budget: Option<f64>,
    /// Requests per minute.
    #[serde(default)]
    pub rate_limit: Option<i64>,
    /// The tenant's own DLP policy, over `gateway.dlp`.
    #[serde(default)]
    pub dlp: Option<Policy>,
    /// The tenant's own token bucket, over `gateway.rate_burst` and `rate_refill_per_sec`.
    #[serde(default)]
    pub rate_burst: Option<u32>,
    #[serde(default)]
    pub rate_refill_per_sec: Option<f64>,
}

fn default_priority() -> i64 {
    100
}

fn default_true() -> bool {
    true
}

fn default_concurrency() -> i64 {
    10
}

impl GatewaySettings {
    /// Checks what serde cannot: each problem names the setting and what to do.
    pub fn validate(&self) -> Result<(), String> {
        self.alerts.validate()?;
        let retention = &self.retention;
        for (field, days) in
            [("usage_days", retention.usage_days), ("audit_days", retention.audit_days)]
        {
            if days == Some(0) {
                return Err(format!(
                    "gateway.retention.{field}: at least 1 day (today's rows are never rolled \
                     up); leave it unset to keep every row"
                ));
            }
        }
        if self.attempt_timeout_secs == 0 || self.request_timeout_secs == 0 {
            return Err("gateway.attempt_timeout_secs and gateway.request_timeout_secs must be \
                        at least 1"
                .to_owned());
        }
        if self.max_attempts == 0 {
            return Err("gateway.max_attempts must be at least 1".to_owned());
        }
        if self.breaker_failures == 0 {
            return Err("gateway.breaker_failures must be at least 1".to_owned());
        }
        if self.session_hours == 0 || self.lockout_attempts == 0 {
            return Err(
                "gateway.session_hours and gateway.lockout_attempts must be at least 1".to_owned()
            );
        }
        if self.jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            return Err("gateway.jwt_secret: at least 32 characters, e.g. from \
                        `openssl rand -hex 32`"
                .to_owned());
        }
        match (&self.admin_email, &self.admin_password) {
            (Some(email), Some(password)) => {
                crate::admin::check_email(email)
                    .map_err(|e| format!("gateway.admin_email (AGENTWATCH_ADMIN_EMAIL): {e}"))?;
                crate::admin::check_password(password.expose()).map_err(|e| {
                    format!("gateway.admin_password (AGENTWATCH_ADMIN_PASSWORD): {e}")
                })?;
            }
            (None, None) => {}
            _ => {
                return Err("set both gateway.admin_email and gateway.admin_password \
                            (AGENTWATCH_ADMIN_EMAIL, AGENTWATCH_ADMIN_PASSWORD), or neither"
                    .to_owned());
            }
        }
        self.dlp.validate().map_err(|e| format!("gateway.dlp: {e}"))?;
        check_bucket(Some(self.rate_burst), Some(self.rate_refill_per_sec))
            .map_err(|e| format!("gateway.{e}"))?;
        if let Some(key) = &self.master_key {
            crate::secrets::MasterKey::from_hex(key.expose())
                .map_err(|e| format!("gateway.master_key: {e}"))?;
        }
        for (model, price) in &self.prices {
            if price.all().any(|p| !p.is_finite() || p < 0.0) {
                return Err(format!("gateway.prices.{model:?}: prices must be 0 or more"));
            }
        }
        if let Some(file) = &self.price_file {
            crate::pricing::Prices::load(Some(file), &self.prices)
                .map_err(|e| format!("gateway.price_file: {e}"))?;
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.providers {
            let at = format!("gateway.providers[name = {:?}]", p.name);
            if p.name.trim().is_empty() {
                return Err("gateway.providers: every provider needs a name".to_owned());
            }
            if !names.insert(&p.name) {
                return Err(format!("{at}: two providers have this name; names must be unique"));
            }
            let base_url = p.base_url().map_err(|e| format!("{at}.base_url: {e}"))?;
            check_base_url(&base_url).map_err(|e| format!("{at}.base_url: {e}"))?;
            for key in &p.keys {
                key.resolve().map_err(|e| format!("{at}.keys: {e}"))?;
                if key.concurrency_limit < 1 || key.rpm_limit.is_some_and(|r| r < 1) {
                    return Err(format!(
                        "{at}.keys: concurrency_limit and rpm_limit must be at least 1"
                    ));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for t in &self.tenants {
            let at = format!("gateway.tenants[name = {:?}]", t.name);
            if t.name.trim().is_empty() {
                return Err("gateway.tenants: every tenant needs a name".to_owned());
            }
            if !names.insert(&t.name) {
                return Err(format!("{at}: two tenants have this name; names must be unique"));
            }
            if t.api_key.expose().len() < 16 {
                return Err(format!(
                    "{at}.api_key: at least 16 characters, e.g. from `openssl rand -hex 24`"
                ));
            }
            if !keys.insert(t.api_key.expose()) {
                return Err(format!("{at}.api_key: another tenant has the same key"));
            }
            for (field, value) in
                [("daily_budget", t.daily_budget), ("monthly_budget", t.monthly_budget)]
            {
                // NaN is refused too.
                if value.is_some_and(|v| v.is_nan() || v < 0.0) {
                    return Err(format!("{at}.{field}: a budget is 0 or more USD"));
                }
            }
            check_bucket(t.rate_burst, t.rate_refill_per_sec).map_err(|e| format!("{at}.{e}"))?;
            if let Some(policy) = &t.dlp {
                policy.validate().map_err(|e| format!("{at}.dlp: {e}"))?;
            }
            if t.rate_limit.is_some_and(|r| r < 1) {
                return Err(format!("{at}.rate_limit: at least 1 request per minute"));
            }
        }
        Ok(())
    }
}

/// A token bucket's settings: at least one request, refilled at a positive rate.
pub fn check_bucket(burst: Option<u32>, refill: Option<f64>) -> Result<(), String> {
    if burst == Some(0) {
        return Err("rate_burst: at least 1".to_owned());
    }
    if refill.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        return Err("rate_refill_per_sec: more than 0".to_owned());
    }
    Ok(())
}

/// A provider's base URL: absolute http or https, without query or fragment.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_kind_is_named_one_way_in_config_api_and_database() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ProviderKind::parse("azure-openai"), None);
    }

    #[test]
    fn a_preset_provider_needs_no_base_url_and_azure_says_what_it_needs() {
        let seed = |kind: &str, base_url: &str| -> ProviderSeed {
            let base_url = if base_url.is_empty() {
                String::new()
            } else {
                format!("base_url = \"{base_url}\"\n")
            };
            toml::from_str(&format!("name = \"p\"\nkind = \"{kind}\"\n{base_url}")).unwrap()
        };
        assert_eq!(seed("groq", "").base_url().unwrap(), "https://api.groq.com/openai/v1");
        assert_eq!(seed("xai", "").base_url().unwrap(), "https://api.x.ai/v1");
        assert_eq!(
            seed("mistral", "https://eu.mistral.example/v1/").base_url().unwrap(),
            "https://eu.mistral.example/v1"
        );
        let azure = seed("azure", "").base_url().unwrap_err();
        assert!(azure.contains("openai.azure.com"), "{azure}");
        assert!(seed("custom", "").base_url().unwrap_err().contains("base_url"));
        for kind in ProviderKind::ALL {
            if let Some(url) = kind.default_base_url() {
                check_base_url(url).unwrap();
            }
        }
    }

    #[test]
    fn alert_settings_that_cannot_work_are_refused_saying_what_to_set() {
        let refused = |text: &str| {
            let settings: GatewaySettings = toml::from_str(text).unwrap();
            settings.validate().unwrap_err()
        };
        let unsigned =
            refused("[[alerts.webhooks]]\nurl = \"https://x.example\"\nformat = \"json\"");
        assert!(
            unsigned.contains("webhooks[0].secret") && unsigned.contains("openssl"),
            "{unsigned}"
        );
        let kind = refused("[[alerts.webhooks]]\nurl = \"https://x.example\"\nkinds = [\"disk\"]");
        assert!(kind.contains("budget, circuit_open, error_rate, cost_spike"), "{kind}");
        let scheme = refused("[[alerts.webhooks]]\nurl = \"ftp://x.example\"");
        assert!(scheme.contains("webhooks[0].url"), "{scheme}");
        assert!(refused("[alerts]\nerror_rate = 1.5").contains("error_rate"));
        assert!(refused("[alerts]\ncost_spike_factor = 0.5").contains("cost_spike_factor"));
        assert!(refused("[retention]\nusage_days = 0").contains("retention.usage_days"));
        let slack: GatewaySettings =
            toml::from_str("[[alerts.webhooks]]\nurl = \"https://hooks.slack.com/x\"").unwrap();
        slack.validate().unwrap();
    }
}
