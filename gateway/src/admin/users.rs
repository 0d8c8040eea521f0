//! The people of an organization: admins list, add, change the role of, disable and unlock them.
//! The first admin comes from `AGENTWATCH_ADMIN_EMAIL` / `AGENTWATCH_ADMIN_PASSWORD` or from
//! `agentwatch admin create-user`; there is no default password.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use storage::IntColumns;
use utoipa::ToSchema;

use super::auth::{hash_password, hash_password_blocking, revoke_sessions};
use super::{Admin, Body, Caller, Role, audit, check_email, check_password, iso, present};
use crate::Gateway;
use crate::error::ApiError;
use crate::store::{Store, StoreError, now_ms};

/// A user to create from the command line or at first start.
#[derive(Debug)]
pub struct CreateUser {
    /// Created if it does not exist.
    pub org: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

/// Creates a user (and its organization, if new). Returns the user's id.
pub async fn create_user(store: &Store, user: &CreateUser) -> Result<i64, StoreError> {
    let email = user.email.trim().to_lowercase();
    check_email(&email).map_err(StoreError::Invalid)?;
    check_password(&user.password).map_err(StoreError::Invalid)?;
    if user.org.trim().is_empty() {
        return Err(StoreError::Invalid("the organization needs a name".to_owned()));
    }
    let hash = hash_password(&user.password);
    let now = now_ms();
    let mut tx = store.pool().begin().await?;
    let org_id: i64 = sqlx::query_scalar(
        "INSERT INTO orgs (name, created_at) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(user.org.trim())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let id = sqlx::query_scalar(
        "INSERT INTO users (org_id, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org_id)
    .bind(&email)
    .bind(hash)
    .bind(user.role.as_str())
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Invalid(format!("{email} already has an account"))
        }
        _ => StoreError::Sql(e),
    })?;
    tx.commit().await?;
    Ok(id)
}

/// A user, as admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct User {
    id: i64,
    email: String,
    role: Role,
    disabled: bool,
    /// Set while the account is locked after failed logins.
    locked_until: Option<String>,
    /// Failed logins since the last success.
    failed_logins: i64,
    last_login_at: Option<String>,
    created_at: String,
}

const COLUMNS: &str =
    "id, email, role, disabled, locked_until, failed_logins, last_login_at, created_at";

fn user(row: &AnyRow) -> User {
    let now = now_ms();
    User {
        id: row.get("id"),
        email: row.get("email"),
        role: Role::parse(row.get("role")).unwrap_or(Role::Viewer),
        disabled: row.int("disabled"),
        locked_until: row.get::<Option<i64>, _>("locked_until").filter(|t| *t > now).map(iso),
        failed_logins: row.get("failed_logins"),
        last_login_at: row.get::<Option<i64>, _>("last_login_at").map(iso),
        created_at: iso(row.get("created_at")),
    }
}

async fn find(gateway: &Gateway, caller: &Caller, id: i64) -> Result<User, ApiError> {
    sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1 AND org_id = $2")))
        .bind(id)
        .bind(caller.org_id)
        .fetch_optional(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot read users", e))?
        .map(|row| user(&row))
        .ok_or_else(|| ApiError::not_found("user", id))
}

/// The organization's users. Admins only.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    responses((status = 200, description = "The organization's users", body = Vec<User>))
)]
pub(crate) async fn list_users(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
) -> Result<Json<Vec<User>>, ApiError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE org_id = $1 ORDER BY id"
    )))
    .bind(caller.org_id)
    .fetch_all(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot read users", e))?;
    Ok(Json(rows.iter().map(user).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    email: String,
    /// At least 12 characters.
    password: String,
    role: Role,
}

/// Adds a user to the caller's organization. Admins only.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is invalid; `param` names it", body = super::ErrorBody),
        (status = 409, description = "The email already has an account", body = super::ErrorBody),
    )
)]
pub(crate) async fn create_user_route(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Body(new): Body<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let email = new.email.trim().to_lowercase();
    check_email(&email).map_err(|e| ApiError::invalid("email", e))?;
    check_password(&new.password).map_err(|e| ApiError::invalid("password", e))?;
    let hash = hash_password_blocking(&gateway, new.password).await?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (org_id, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(caller.org_id)
    .bind(&email)
    .bind(hash)
    .bind(new.role.as_str())
    .bind(now)
    .bind(now)
    .fetch_one(gateway.store().pool())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict(format!("{email} already has an account"))
        }
        _ => ApiError::internal("cannot create the user", e),
    })?;
    let detail = json!({ "email": email, "role": new.role });
    audit::record(&gateway, &caller, "user.create", "user", id, detail).await;
    Ok((StatusCode::CREATED, Json(find(&gateway, &caller, id).await?)))
}

/// One user of the organization. Admins only.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_user(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(find(&gateway, &caller, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserUpdate {
    #[serde(default, deserialize_with = "present")]
    role: Option<Role>,
    /// A disabled user cannot log in, and its sessions end at once.
    #[serde(default, deserialize_with = "present")]
    disabled: Option<bool>,
    /// A new password (at least 12 characters); the user's sessions end.
    #[serde(default, deserialize_with = "present")]
    password: Option<String>,
}

/// Changes a user's role, disables or re-enables it, or sets its password. The organization's
/// last enabled admin cannot be demoted or disabled. Admins only.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "Updated", body = User),
        (status = 404, description = "No such user in your organization", body = super::ErrorBody),
        (status = 409, description = "It would leave the organization without an admin", body = super::ErrorBody),
    )
)]
pub(crate) async fn update_user(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    Body(update): Body<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    find(&gateway, &caller, id).await?;
    let password = match update.password {
        Some(password) => {
            check_password(&password).map_err(|e| ApiError::invalid("password", e))?;
            Some(hash_password_blocking(&gateway, password).await?)
        }
        None => None,
    };
    // The last-admin rule is part of the statement, so two admins demoting each other at once
    // cannot both succeed: either the user stays an enabled admin, or was not one, or another
    // enabled admin remains.
    let changed = sqlx::query(
        "UPDATE users SET role = COALESCE($1, role), disabled = COALESCE($2, disabled), \
         password_hash = COALESCE($3, password_hash), updated_at = $4 \
         WHERE id = $5 AND org_id = $6 AND ( \
           (COALESCE($1, role) = 'admin' AND COALESCE($2, disabled) = 0) \
           OR role != 'admin' OR disabled = 1 \
           OR EXISTS (SELECT 1 FROM users o WHERE o.org_id = $6 AND o.role = 'admin' \
                      AND o.disabled = 0 AND o.id != $5))",
    )
    .bind(update.role.map(Role::as_str))
    .bind(storage::int(update.disabled))
    .bind(&password)
    .bind(now_ms())
    .bind(id)
    .bind(caller.org_id)
    .execute(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot update the user", e))?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::conflict(
            "this is the organization's last enabled admin: make another user admin first",
        ));
    }
    if update.disabled == Some(true) || password.is_some() {
        revoke_sessions(&gateway, id).await?;
    }
    let detail = json!({
        "role": update.role,
        "disabled": update.disabled,
        "password_changed": password.is_some(),
    });
    audit::record(&gateway, &caller, "user.update", "user", id, detail).await;
    Ok(Json(find(&gateway, &caller, id).await?))
}

/// Unlocks an account locked after failed logins. Admins only.
#[utoipa::path(
    post,
    path = "/users/{id}/unlock",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Unlocked", body = User),
        (status = 404, description = "No such user in your organization", body = super::ErrorBody),
    )
)]
pub(crate) async fn unlock_user(
    State(gateway): State<Gateway>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    find(&gateway, &caller, id).await?;
    sqlx::query("DELETE FROM login_failures WHERE user_id = $1")
        .bind(id)
        .execute(gateway.store().pool())
        .await
        .map_err(|e| ApiError::internal("cannot unlock the user", e))?;
    sqlx::query(
        "UPDATE users SET locked_until = NULL, failed_logins = 0, updated_at = $1 \
         WHERE id = $2 AND org_id = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(caller.org_id)
    .execute(gateway.store().pool())
    .await
    .map_err(|e| ApiError::internal("cannot unlock the user", e))?;
    audit::record(&gateway, &caller, "user.unlock", "user", id, json!({})).await;
    Ok(Json(find(&gateway, &caller, id).await?))
}
