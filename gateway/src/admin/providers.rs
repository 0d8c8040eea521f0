//! LLM providers and their API keys. Keys are sealed with AES-256-GCM under the master key as
//! they arrive and are only ever shown masked (first and last 4 characters). Every change is
//! live at once: the gateway's routing directory is rebuilt after it.
//!
//! Providers and keys seeded from the config file are managed there: the API shows them but
//! refuses to change them (the next start would undo the change).

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use storage::IntColumns;
use utoipa::ToSchema;

use super::{Admin, Body, Caller, Member, audit, iso, nullable, present};
use crate::Gateway;
use crate::directory::Upstream;
use crate::error::ApiError;
use crate::secrets::mask;
use crate::settings::{ProviderKind, check_base_url, resolve_base_url};
use crate::store::now_ms;

/// A provider, with its live state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Provider {
    id: i64,
    name: String,
    kind: ProviderKind,
    base_url: String,
    /// Lower is tried first.
    priority: i64,
    enabled: bool,
    /// The models it serves (`prefix*` matches a prefix); `null`: any model.
    models: Option<Vec<String>>,
    /// Model names clients use, mapped to the name this provider knows the model by.
    aliases: BTreeMap<String, String>,
    /// `api`, or `config` when the config file manages it.
    source: String,
    keys: usize,
    /// The circuit breaker: `closed`, `half_open` or `open`.
    circuit: String,
    in_flight: u32,
    created_at: String,
    updated_at: String,
}

const COLUMNS: &str =
    "id, name, kind, base_url, priority, enabled, models, aliases, source, created_at, updated_at";

fn provider(gateway: &Gateway, row: &AnyRow) -> Provider {
    let id: i64 = row.get("id");
    let upstream = live(gateway, id);
    Provider {
        id,
        name: row.get("name"),
        kind: ProviderKind::parse(row.get("kind")).unwrap_or(ProviderKind::Custom),
        base_url: row.get("base_url"),
        priority: row.get("priority"),
        enabled: row.int("enabled"),
        models: row.get::<Option<String>, _>("models").and_then(|m| serde_json::from_str(&m).ok()),
        aliases: serde_json::from_str(row.get("aliases")).unwrap_or_default(),
        source: row.get("source"),
        keys: upstream.as_ref().map_or(0, |u| u.keys.len()),
        circuit: upstream.as_ref().map_or("closed", |u| u.breaker.state().as_str()).to_owned(),
        in_flight: upstream.as_ref().map_or(0, |u| u.keys.iter().map(|k| k.in_flight()).sum()),
        created_at: iso(row.get("created_at")),
        updated_at: iso(row.get("updated_at")),
    }
}

/// The provider as routing sees it now.
fn live(gateway: &Gateway, id: i64) -> Option<std::sync::Arc<Upstream>> {
    gateway.directory().all_upstreams().find(|u| u.provider.id == id).cloned()
}

async fn find(gateway: &Gateway, caller: &Caller, id: i64) -> Result<Provider, ApiError> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM providers WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(caller.org_id)
    .fetch_optional(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read providers", e))?
    .map(|row| provider(gateway, &row))
    .ok_or_else(|| ApiError::not_found("provider", id))
}

fn refuse_config(what: &str, name: &str) -> ApiError {
    ApiError::conflict(format!(
        "{what} {name:?} comes from the config file (gateway.providers): change it there and \
         restart"
    ))
}

async fn reload(gateway: &Gateway) -> Result<(), ApiError> {
    gateway.changed().await.map_err(|e| ApiError::internal("cannot reload routing", e))
}

/// The organization's providers, by priority, with their circuit state and load.
#[utoipa::path(
    get,
    path = "/providers",
    tag = "providers",
    responses((status = 200, description = "Providers", body = Vec<Provider>))
)]
pub(crate) async fn list_providers(
    State(gateway): State<Gateway>,
    caller: Caller,
) -> Result<Json<Vec<Provider>>, ApiError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM providers WHERE org_id = $1 ORDER BY priority, id"
    )))
    .bind(caller.org_id)
    .fetch_all(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read providers", e))?;
    Ok(Json(rows.iter().map(|r| provider(&gateway, r)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProvider {
    name: String,
    kind: ProviderKind,
    /// The API root, e.g. `https://api.openai.com/v1` or `https://api.anthropic.com`; absent,
    /// the kind's own (`azure` and `custom` need one).
    #[serde(default)]
    base_url: Option<String>,
    /// Lower is tried first; default 100.
    #[serde(default = "default_priority")]
    priority: i64,
    #[serde(default = "default_true")]
    enabled: bool,
    /// The models it serves (`prefix*` matches a prefix); absent: any model.
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

fn default_priority() -> i64 {
    100
}

fn default_true() -> bool {
    true
}

fn check_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid("name", "name is 1 to 100 characters"));
    }
    Ok(name)
}

/// For an organization held to public addresses ([`Gateway::guarded`]): `url`'s host must be
/// one. A literal address is judged as written; a name by what it resolves to now, so that the
/// admin hears of a mistake at once (every connection is checked again as it is made).
async fn check_reachable(gateway: &Gateway, org: i64, url: &str) -> Result<(), ApiError> {
    if !gateway.guarded(org) {
        return Ok(());
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ApiError::invalid("base_url", e.to_string()))?;
    if let Some(why) = crate::net::check_literal(&parsed) {
        return Err(ApiError::invalid("base_url", why));
    }
    let Some(host) = parsed.host_str() else { return Ok(()) };
    let lookup = tokio::net::lookup_host((host, parsed.port_or_known_default().unwrap_or(443)));
    // A name that does not resolve now may later: the connection's own check decides then.
    if let Ok(Ok(found)) = tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
        let found: Vec<_> = found.collect();
        if !found.is_empty() && !found.iter().any(|a| crate::net::is_public(a.ip())) {
            return Err(ApiError::invalid(
                "base_url",
                format!(
                    "{host} resolves only to addresses that are not on the public internet \
                     (loopback, private, link-local); an organization's provider must be reachable \
                     there, or the operator can set gateway.allow_private_providers"
                ),
            ));
        }
    }
    Ok(())
}

fn check_models(models: Option<&Vec<String>>) -> Result<(), ApiError> {
    if models.is_some_and(|m| m.iter().any(|m| m.trim().is_empty())) {
        return Err(ApiError::invalid("models", "a model id cannot be empty"));
    }
    Ok(())
}

/// Adds a provider. Admins only.
#[utoipa::path(
    post,
    path = "/providers",
    tag = "providers",
    request_body = NewProvider,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 400, description = "A field is invalid; `param` names it", body = super::ErrorBody),
        (status = 409, description = "The organization has a provider of that name", body = super::ErrorBody),
    )
)]
pub(crate) async fn create_provider(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Body(new): Body<NewProvider>,
) -> Result<(StatusCode, Json<Provider>), ApiError> {
    let name = check_name(&new.name)?;
    let base_url = resolve_base_url(new.kind, new.base_url.as_deref())
        .map_err(|e| ApiError::invalid("base_url", e))?;
    check_base_url(&base_url).map_err(|e| ApiError::invalid("base_url", e))?;
    check_reachable(&gateway, caller.org_id, &base_url).await?;
    check_models(new.models.as_ref())?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO providers (org_id, name, kind, base_url, priority, enabled, models, aliases, \
         source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'api', $9, $10) RETURNING id",
    )
    .bind(caller.org_id)
    .bind(name)
    .bind(new.kind.as_str())
    .bind(&base_url)
    .bind(new.priority)
    .bind(storage::int(new.enabled))
    .bind(new.models.as_ref().map(|m| json!(m).to_string()))
    .bind(json!(new.aliases).to_string())
    .bind(now)
    .bind(now)
    .fetch_one(gateway.store().pool())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict(format!("your organization already has a provider named {name:?}"))
        }
        _ => ApiError::internal("cannot create the provider", e),
    })?;
    let detail = json!({ "name": name, "kind": new.kind, "base_url": base_url });
    audit::record(&gateway, &caller, "provider.create", "provider", id, detail).await;
    reload(&gateway).await?;
    Ok((StatusCode::CREATED, Json(find(&gateway, &caller, id).await?)))
}

/// One provider.
#[utoipa::path(
    get,
    path = "/providers/{id}",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_provider(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Provider>, ApiError> {
    Ok(Json(find(&gateway, &caller, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderUpdate {
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    kind: Option<ProviderKind>,
    #[serde(default, deserialize_with = "present")]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    enabled: Option<bool>,
    /// `null` serves any model.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    aliases: Option<BTreeMap<String, String>>,
}

/// Changes a provider; absent fields stay as they are. A new `base_url` removes the provider's
/// keys (they were entered for the old address): add them again. Admins only.
#[utoipa::path(
    patch,
    path = "/providers/{id}",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    request_body = ProviderUpdate,
    responses(
        (status = 200, description = "Updated", body = Provider),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
        (status = 409, description = "The config file manages it, or the name is taken", body = super::ErrorBody),
    )
)]
pub(crate) async fn update_provider(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    Body(update): Body<ProviderUpdate>,
) -> Result<Json<Provider>, ApiError> {
    let current = find(&gateway, &caller, id).await?;
    if current.source == "config" {
        return Err(refuse_config("provider", &current.name));
    }
    let name = update.name.as_deref().map(check_name).transpose()?;
    if let Some(url) = &update.base_url {
        check_base_url(url).map_err(|e| ApiError::invalid("base_url", e))?;
        check_reachable(&gateway, caller.org_id, url).await?;
    }
    // Keys were entered for the old address: a new one must not receive them unasked.
    let moved = update
        .base_url
        .as_deref()
        .is_some_and(|url| url.trim_end_matches('/') != current.base_url.trim_end_matches('/'));
    let models = update.models.clone().unwrap_or(current.models);
    check_models(models.as_ref())?;
    let mut tx = gateway
        .store()
        .pool()
        .begin()
        .await
        .map_err(|e| ApiError::internal("cannot update the provider", e))?;
    let dropped_keys = if moved {
        sqlx::query("DELETE FROM provider_keys WHERE provider_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| ApiError::internal("cannot update the provider", e))?
            .rows_affected()
    } else {
        0
    };
    sqlx::query(
        "UPDATE providers SET name = $1, kind = $2, base_url = $3, priority = $4, enabled = $5, \
         models = $6, aliases = $7, updated_at = $8 WHERE id = $9 AND org_id = $10",
    )
    .bind(name.unwrap_or(&current.name))
    .bind(update.kind.unwrap_or(current.kind).as_str())
    .bind(update.base_url.as_deref().unwrap_or(&current.base_url).trim_end_matches('/'))
    .bind(update.priority.unwrap_or(current.priority))
    .bind(storage::int(update.enabled.unwrap_or(current.enabled)))
    .bind(models.as_ref().map(|m| json!(m).to_string()))
    .bind(json!(update.aliases.as_ref().unwrap_or(&current.aliases)).to_string())
    .bind(now_ms())
    .bind(id)
    .bind(caller.org_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict("your organization already has a provider of that name")
        }
        _ => ApiError::internal("cannot update the provider", e),
    })?;
    tx.commit().await.map_err(|e| ApiError::internal("cannot update the provider", e))?;
    let detail = json!({
        "name": name, "kind": update.kind, "base_url": update.base_url,
        "priority": update.priority, "enabled": update.enabled, "models": update.models,
        "aliases": update.aliases, "keys_removed": dropped_keys,
    });
    audit::record(&gateway, &caller, "provider.update", "provider", id, detail).await;
    reload(&gateway).await?;
    Ok(Json(find(&gateway, &caller, id).await?))
}

/// Removes a provider and its keys. Its usage records stay. Admins only.
#[utoipa::path(
    delete,
    path = "/providers/{id}",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
        (status = 409, description = "The config file manages it", body = super::ErrorBody),
    )
)]
pub(crate) async fn delete_provider(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let current = find(&gateway, &caller, id).await?;
    if current.source == "config" {
        return Err(refuse_config("provider", &current.name));
    }
    sqlx::query("DELETE FROM providers WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(caller.org_id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot delete the provider", e))?;
    audit::record(
        &gateway,
        &caller,
        "provider.delete",
        "provider",
        id,
        json!({ "name": current.name }),
    )
    .await;
    reload(&gateway).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The outcome of a real request to a provider.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderTest {
    /// The provider answered its model list with its first key.
    ok: bool,
    latency_ms: u64,
    /// How many models it listed.
    models: Option<usize>,
    /// What went wrong, when it did.
    error: Option<String>,
}

/// Asks the provider for its model list with its first key (`GET /models`, or the Anthropic or
/// Gemini equivalent), and reports whether it answered and how fast. Members and admins.
#[utoipa::path(
    post,
    path = "/providers/{id}/test",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The test's outcome (a failing provider is `ok: false`)", body = ProviderTest),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn test_provider(
    State(gateway): State<Gateway>,
    Member(caller): Member,
    Path(id): Path<i64>,
) -> Result<Json<ProviderTest>, ApiError> {
    find(&gateway, &caller, id).await?;
    let upstream = live(&gateway, id).ok_or_else(|| ApiError::not_found("provider", id))?;
    let started = Instant::now();
    let outcome = gateway.provider_models(&upstream).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let test = match outcome {
        Ok(models) => {
            ProviderTest { ok: true, latency_ms, models: Some(models.len()), error: None }
        }
        Err(error) => ProviderTest { ok: false, latency_ms, models: None, error: Some(error) },
    };
    let detail = json!({ "ok": test.ok, "latency_ms": latency_ms, "error": test.error });
    audit::record(&gateway, &caller, "provider.test", "provider", id, detail).await;
    Ok(Json(test))
}

/// A provider key, masked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderKey {
    id: i64,
    label: Option<String>,
    /// The key's first and last 4 characters.
    key: String,
    concurrency_limit: i64,
    rpm_limit: Option<i64>,
    source: String,
    in_flight: u32,
    created_at: String,
}

async fn keys(gateway: &Gateway, provider_id: i64) -> Result<Vec<ProviderKey>, ApiError> {
    let upstream = live(gateway, provider_id);
    let rows = sqlx::query(
        "SELECT id, label, hint, concurrency_limit, rpm_limit, source, created_at \
         FROM provider_keys WHERE provider_id = $1 ORDER BY id",
    )
    .bind(provider_id)
    .fetch_all(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read provider keys", e))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id: i64 = r.get("id");
            let in_flight = upstream
                .as_ref()
                .and_then(|u| u.keys.iter().find(|k| k.key.id == id))
                .map_or(0, |k| k.in_flight());
            ProviderKey {
                id,
                label: r.get("label"),
                key: r.get("hint"),
                concurrency_limit: r.get("concurrency_limit"),
                rpm_limit: r.get("rpm_limit"),
                source: r.get("source"),
                in_flight,
                created_at: iso(r.get("created_at")),
            }
        })
        .collect())
}

/// A provider's keys, masked (first and last 4 characters).
#[utoipa::path(
    get,
    path = "/providers/{id}/keys",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "Its keys, masked", body = Vec<ProviderKey>),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn list_keys(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ProviderKey>>, ApiError> {
    find(&gateway, &caller, id).await?;
    Ok(Json(keys(&gateway, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// The key itself: sealed with AES-256-GCM as it arrives, never shown again.
    key: String,
    label: Option<String>,
    /// Requests in flight at once on this key; default 10.
    #[serde(default = "default_concurrency")]
    concurrency_limit: i64,
    /// Requests per minute on this key.
    rpm_limit: Option<i64>,
}

fn default_concurrency() -> i64 {
    10
}

/// Adds a key to a provider. Admins only.
#[utoipa::path(
    post,
    path = "/providers/{id}/keys",
    tag = "providers",
    params(("id" = i64, Path, description = "The provider's id")),
    request_body = NewKey,
    responses(
        (status = 201, description = "Added; shown masked", body = ProviderKey),
        (status = 400, description = "A field is invalid; `param` names it", body = super::ErrorBody),
        (status = 404, description = "No such provider in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn add_key(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    Body(new): Body<NewKey>,
) -> Result<(StatusCode, Json<ProviderKey>), ApiError> {
    let provider = find(&gateway, &caller, id).await?;
    if provider.source == "config" {
        return Err(refuse_config("provider", &provider.name));
    }
    let secret = new.key.trim();
    if secret.is_empty() || secret.len() > 4096 || secret.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("key", "key is 1 to 4,096 characters without spaces"));
    }
    if new.concurrency_limit < 1 {
        return Err(ApiError::invalid("concurrency_limit", "concurrency_limit is at least 1"));
    }
    if new.rpm_limit.is_some_and(|r| r < 1) {
        return Err(ApiError::invalid("rpm_limit", "rpm_limit is at least 1"));
    }
    let key_id: i64 = sqlx::query_scalar(
        "INSERT INTO provider_keys (provider_id, label, sealed, hint, concurrency_limit, \
         rpm_limit, source, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'api', $7) RETURNING id",
    )
    .bind(id)
    .bind(&new.label)
    .bind(gateway.store().seal(secret))
    .bind(mask(secret))
    .bind(new.concurrency_limit)
    .bind(new.rpm_limit)
    .bind(now_ms())
    .fetch_one(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot store the key", e))?;
    let detail = json!({ "provider_id": id, "key": mask(secret), "label": new.label });
    audit::record(&gateway, &caller, "provider_key.create", "provider_key", key_id, detail).await;
    reload(&gateway).await?;
    let added = keys(&gateway, id).await?.into_iter().find(|k| k.id == key_id);
    added.map(|k| (StatusCode::CREATED, Json(k))).ok_or_else(|| ApiError::not_found("key", key_id))
}

/// Removes a key from a provider. Admins only.
#[utoipa::path(
    delete,
    path = "/providers/{id}/keys/{key_id}",
    tag = "providers",
    params(
        ("id" = i64, Path, description = "The provider's id"),
        ("key_id" = i64, Path, description = "The key's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such provider or key in your organization", body = super::ErrorBody),
        (status = 409, description = "The config file manages it", body = super::ErrorBody),
    )
)]
pub(crate) async fn delete_key(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path((id, key_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    find(&gateway, &caller, id).await?;
    let key = keys(&gateway, id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| ApiError::not_found("key", key_id))?;
    if key.source == "config" {
        return Err(refuse_config("key", &key.key));
    }
    sqlx::query("DELETE FROM provider_keys WHERE id = $1 AND provider_id = $2")
        .bind(key_id)
        .bind(id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot delete the key", e))?;
    let detail = json!({ "provider_id": id, "key": key.key });
    audit::record(&gateway, &caller, "provider_key.delete", "provider_key", key_id, detail).await;
    reload(&gateway).await?;
    Ok(StatusCode::NO_CONTENT)
}
