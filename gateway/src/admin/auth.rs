//! Logging in and out. Passwords are stored as Argon2id hashes; a login issues an HS256 token
//! whose `jti` names a row of `sessions`, so that logging out (or disabling the account) revokes
//! it before it expires. Too many failed logins in a row lock the account for a while.

use std::path::Path;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::State;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use storage::IntColumns;
use utoipa::ToSchema;

use super::{Body, Caller, ClientIp, Role, audit, iso};
use crate::Gateway;
use crate::error::ApiError;
use crate::secrets::{SecretError, load_or_create_key, random_bytes};
use crate::settings::GatewaySettings;
use crate::store::now_ms;

/// What signs and checks session tokens, and the login rules.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    session: Duration,
    lockout_attempts: u32,
    lockout: Duration,
    /// Verified against when the email matches nobody, so that a login takes as long either way.
    /// Made on the first such login, not at start: hashing takes 19 MiB for a moment, and a
    /// gateway nobody logs in to should not pay for it.
    dummy_hash: std::sync::OnceLock<String>,
    /// Password hashes computed at once.
    hashing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("session", &self.session)
            .field("lockout_attempts", &self.lockout_attempts)
            .field("lockout", &self.lockout)
            .finish_non_exhaustive()
    }
}

/// A session token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user's id.
    pub sub: String,
    pub org: i64,
    /// The session's id in `sessions`.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Auth {
    /// The signing key from `gateway.jwt_secret`, or from `<data_dir>/jwt.key` (made on first
    /// start, owner-readable only).
    pub fn load(settings: &GatewaySettings, data_dir: &Path) -> Result<Auth, SecretError> {
        let secret = match &settings.jwt_secret {
            Some(secret) => secret.expose().to_owned(),
            None => load_or_create_key(&data_dir.join("jwt.key"))?,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        Ok(Auth {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            session: Duration::from_secs(settings.session_hours * 3600),
            lockout_attempts: settings.lockout_attempts,
            lockout: Duration::from_secs(settings.lockout_secs),
            dummy_hash: std::sync::OnceLock::new(),
            hashing: tokio::sync::Semaphore::new(4),
        })
    }

    /// The claims of a token this gateway signed and that has not expired.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthenticated("the session token expired: log in again")
                }
                _ => ApiError::unauthenticated(
                    "the session token is not one this gateway issued: log in with \
                     POST /api/auth/login",
                ),
            })
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of serializable claims cannot fail")
    }
}

/// An Argon2id hash (with its parameters and salt) in the PHC string format.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 with its default parameters hashes any password")
        .to_string()
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Hashing takes tens of milliseconds of CPU and 19 MiB of memory on purpose: off the async
/// threads, and a few at a time, so that a flood of logins queues instead of exhausting memory.
pub(crate) async fn hash_password_blocking(
    gateway: &Gateway,
    password: String,
) -> Result<String, ApiError> {
    let _permit = gateway.inner.auth.hashing.acquire().await.expect("never closed");
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("password hashing failed", e))
}

async fn dummy_hash(gateway: &Gateway) -> Result<String, ApiError> {
    if let Some(hash) = gateway.inner.auth.dummy_hash.get() {
        return Ok(hash.clone());
    }
    let hash = hash_password_blocking(gateway, "not anybody's password at all".to_owned()).await?;
    Ok(gateway.inner.auth.dummy_hash.get_or_init(|| hash).clone())
}

async fn verify_blocking(
    gateway: &Gateway,
    password: String,
    hash: String,
) -> Result<bool, ApiError> {
    let _permit = gateway.inner.auth.hashing.acquire().await.expect("never closed");
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal("password check failed", e))
}

/// A live session, and whose it is.
#[derive(Debug)]
pub(crate) struct Session {
    pub user_id: i64,
    pub org_id: i64,
    pub email: String,
    pub role: Role,
}

/// The session `jti` names, if it is neither revoked nor expired and its account is enabled.
pub(crate) async fn live_session(gateway: &Gateway, jti: &str) -> Result<Session, ApiError> {
    let row = sqlx::query(
        "SELECT u.id, u.org_id, u.email, u.role, u.disabled, s.expires_at, s.revoked_at \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
    )
    .bind(jti)
    .fetch_optional(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read the session", e))?
    .ok_or_else(|| ApiError::unauthenticated("this session no longer exists: log in again"))?;
    if row.get::<Option<i64>, _>("revoked_at").is_some() {
        return Err(ApiError::unauthenticated("this session was logged out: log in again"));
    }
    if row.get::<i64, _>("expires_at") <= now_ms() {
        return Err(ApiError::unauthenticated("the session token expired: log in again"));
    }
    if row.int::<bool>("disabled") {
        return Err(ApiError::unauthenticated("this account is disabled"));
    }
    Ok(Session {
        user_id: row.get("id"),
        org_id: row.get("org_id"),
        email: row.get("email"),
        role: Role::parse(row.get("role")).unwrap_or(Role::Viewer),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    /// Send it as `Authorization: Bearer <token>`.
    token: String,
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    expires_at: String,
    user: UserProfile,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserProfile {
    id: i64,
    email: String,
    role: Role,
    org: OrgRef,
    last_login_at: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrgRef {
    id: i64,
    name: String,
}

/// Logs in with an email and password, for a session token valid 24 hours. Each failed login
/// counts, per account and client address; after `gateway.lockout_attempts` (5) in a row the
/// account is locked for that address for `gateway.lockout_secs` (15 minutes), or until an admin
/// unlocks it. Other addresses, the owner's among them, can still log in.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong email or password", body = super::ErrorBody),
        (status = 403, description = "The account is disabled", body = super::ErrorBody),
        (status = 423, description = "Locked after failed logins; `Retry-After` says for how long", body = super::ErrorBody),
    )
)]
pub(crate) async fn login(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    Body(request): Body<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let email = request.email.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::invalid("email", "email is required"));
    }
    if request.password.is_empty() {
        return Err(ApiError::invalid("password", "password is required"));
    }
    let auth = &gateway.inner.auth;
    let pool = gateway.store().pool();
    let sql = |e| ApiError::internal("cannot read the user", e);
    let user =
        sqlx::query("SELECT id, org_id, password_hash, disabled FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(pool)
            .await
            .map_err(sql)?;
    let now = now_ms();

    // An attempt is counted before the password is checked, in one statement that also refuses
    // a locked account: however many guesses arrive at once, at most `lockout_attempts` of them
    // are checked before the account locks.
    // Counted per account and client address, so that guesses from one address lock that
    // address out, never the account's owner elsewhere.
    let address = ip.clone().unwrap_or_default();
    let counted = match &user {
        Some(user) => {
            let until = now + auth.lockout.as_millis() as i64;
            let counted: Option<(i64, Option<i64>)> = sqlx::query_as(
                "INSERT INTO login_failures (user_id, ip, failures, locked_until) \
                 VALUES ($3, $5, 1, CASE WHEN 1 >= $1 THEN $2 END) \
                 ON CONFLICT (user_id, ip) DO UPDATE \
                 SET failures = login_failures.failures + 1, \
                 locked_until = CASE WHEN login_failures.failures + 1 >= $1 THEN $2 END \
                 WHERE login_failures.locked_until IS NULL \
                 OR login_failures.locked_until <= $4 \
                 RETURNING failures, locked_until",
            )
            .bind(i64::from(auth.lockout_attempts))
            .bind(until)
            .bind(user.get::<i64, _>("id"))
            .bind(now)
            .bind(&address)
            .fetch_optional(pool)
            .await
            .map_err(sql)?;
            match counted {
                Some(counted) => Some(counted),
                None => return Err(locked_now(&gateway, user.get("id"), &address, now).await),
            }
        }
        None => None,
    };
    let hash = match &user {
        Some(user) => user.get("password_hash"),
        None => dummy_hash(&gateway).await?,
    };
    let matches = verify_blocking(&gateway, request.password, hash).await?;
    let (Some(user), Some((failures, locked_until))) = (user, counted) else {
        gateway.inner.metrics.login("failed");
        return Err(ApiError::wrong_credentials());
    };
    let user_id: i64 = user.get("id");
    let org_id: i64 = user.get("org_id");

    if !matches {
        // What the admin API shows: the latest count and lock.
        sqlx::query("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")
            .bind(failures)
            .bind(locked_until)
            .bind(user_id)
            .execute(pool)
            .await
            .map_err(sql)?;
        if let Some(until) = locked_until {
            let entry = audit::Entry {
                org_id,
                actor: None,
                action: "user.locked",
                target: Some(("user", user_id)),
                detail: serde_json::json!({ "failed_logins": failures, "locked_until": iso(until) }),
                ip,
            };
            audit::write(&gateway, entry).await;
            gateway.inner.metrics.login("locked");
            return Err(locked(until, now));
        }
        gateway.inner.metrics.login("failed");
        return Err(ApiError::wrong_credentials());
    }
    // The right password: this attempt was one of those allowed, so it clears the count (and a
    // lock its own counting set).
    sqlx::query("DELETE FROM login_failures WHERE user_id = $1 AND ip = $2")
        .bind(user_id)
        .bind(&address)
        .execute(pool)
        .await
        .map_err(sql)?;
    sqlx::query(
        "UPDATE users SET failed_logins = 0, last_login_at = $1, locked_until = (SELECT \
         MAX(locked_until) FROM login_failures WHERE user_id = $2 AND locked_until > $1) \
         WHERE id = $2",
    )
    .bind(now)
    .bind(user_id)
    .execute(pool)
    .await
    .map_err(sql)?;
    if user.int::<bool>("disabled") {
        gateway.inner.metrics.login("disabled");
        return Err(ApiError::forbidden(
            "this account is disabled; ask an admin of your organization",
        ));
    }

    let jti = hex::encode(random_bytes::<16>());
    let expires_at = now + auth.session.as_millis() as i64;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&jti)
    .bind(user_id)
    .bind(&ip)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await
    .map_err(|e| ApiError::internal("cannot store the session", e))?;
    let token = auth.sign(&Claims {
        sub: user_id.to_string(),
        org: org_id,
        jti,
        iat: now / 1000,
        exp: expires_at / 1000,
    });
    let entry = audit::Entry {
        org_id,
        actor: Some((user_id, email.as_str())),
        action: "auth.login",
        target: Some(("user", user_id)),
        detail: serde_json::json!({}),
        ip,
    };
    audit::write(&gateway, entry).await;
    gateway.inner.metrics.login("ok");
    Ok(Json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_in: auth.session.as_secs(),
        expires_at: iso(expires_at),
        user: profile(&gateway, user_id).await?,
    }))
}

/// The 423 for an account found locked for this client address.
async fn locked_now(gateway: &Gateway, user_id: i64, address: &str, now: i64) -> ApiError {
    let until: Result<Option<i64>, _> = sqlx::query_scalar(
        "SELECT locked_until FROM login_failures WHERE user_id = $1 AND ip = $2",
    )
    .bind(user_id)
    .bind(address)
    .fetch_one(gateway.store().pool())
    .await;
    gateway.inner.metrics.login("locked");
    match until {
        Ok(Some(until)) => locked(until, now),
        Ok(None) => locked(now + 1000, now),
        Err(e) => ApiError::internal("cannot read the user", e),
    }
}

fn locked(until: i64, now: i64) -> ApiError {
    ApiError::locked(
        format!(
            "this account is locked for your address after too many failed logins, until {}; try \
             again then, or ask an admin to unlock it (POST /api/users/{{id}}/unlock)",
            iso(until)
        ),
        ((until - now) as u64).div_ceil(1000),
    )
}

async fn profile(gateway: &Gateway, user_id: i64) -> Result<UserProfile, ApiError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role, u.last_login_at, u.created_at, o.id AS org_id, \
         o.name AS org_name FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_one(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read the user", e))?;
    Ok(UserProfile {
        id: row.get("id"),
        email: row.get("email"),
        role: Role::parse(row.get("role")).unwrap_or(Role::Viewer),
        org: OrgRef { id: row.get("org_id"), name: row.get("org_name") },
        last_login_at: row.get::<Option<i64>, _>("last_login_at").map(iso),
        created_at: iso(row.get("created_at")),
    })
}

/// The logged-in user: profile, organization and role.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses((status = 200, description = "The logged-in user", body = UserProfile))
)]
pub(crate) async fn me(
    State(gateway): State<Gateway>,
    caller: Caller,
) -> Result<Json<UserProfile>, ApiError> {
    Ok(Json(profile(&gateway, caller.user_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoggedOut {
    status: &'static str,
}

/// Revokes the session: its token gets 401 from now on.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    responses((status = 200, description = "Logged out", body = LoggedOut))
)]
pub(crate) async fn logout(
    State(gateway): State<Gateway>,
    caller: Caller,
) -> Result<Json<LoggedOut>, ApiError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(&caller.session)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot revoke the session", e))?;
    audit::record(&gateway, &caller, "auth.logout", "user", caller.user_id, serde_json::json!({}))
        .await;
    Ok(Json(LoggedOut { status: "logged_out" }))
}

/// Revokes every live session of a user (disabled, or given a new password).
pub(crate) async fn revoke_sessions(gateway: &Gateway, user_id: i64) -> Result<(), ApiError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(user_id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot revoke sessions", e))?;
    Ok(())
}
