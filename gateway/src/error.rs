//! The gateway's one error type. Every error, `/v1/*` and `/api/*` alike, is OpenAI's error JSON,
//! `{"error": {"message", "type", "param", "code"}}`, with the contract's status codes, so that
//! OpenAI SDKs raise their usual exception types and admin clients read one shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    pub param: Option<&'static str>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// Every code the gateway answers with (the `code` of its error body, on `/v1/*` and `/api/*`),
/// with the status and OpenAI error `type` each is sent with. README's list is checked against
/// this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidRequest,
    DlpBlocked,
    BudgetExceeded,
    ModelUnpriced,
    RateLimitExceeded,
    InvalidToken,
    InvalidCredentials,
    Forbidden,
    NotFound,
    Conflict,
    AccountLocked,
    InvalidApiKey,
    TenantNotActive,
    ModelNotFound,
    UpstreamRateLimited,
    ProviderKeysBusy,
    ProviderError,
    CountersUnavailable,
    InternalError,
}

impl Code {
    pub const ALL: [Code; 19] = [
        Code::InvalidRequest,
        Code::DlpBlocked,
        Code::BudgetExceeded,
        Code::ModelUnpriced,
        Code::RateLimitExceeded,
        Code::InvalidToken,
        Code::InvalidCredentials,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::AccountLocked,
        Code::InvalidApiKey,
        Code::TenantNotActive,
        Code::ModelNotFound,
        Code::UpstreamRateLimited,
        Code::ProviderKeysBusy,
        Code::ProviderError,
        Code::CountersUnavailable,
        Code::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    /// OpenAI's error `type` for the code.
    pub fn kind(self) -> &'static str {
        self.describe().2
    }

    /// When the code is sent.
    pub fn meaning(self) -> &'static str {
        self.describe().3
    }

    /// The code, its HTTP status, its OpenAI error type and its meaning: the one place they
    /// are paired.
    fn describe(self) -> (&'static str, StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        let (code, status, kind) = match self {
            Code::InvalidRequest => ("invalid_request", S::BAD_REQUEST, "invalid_request_error"),
            Code::DlpBlocked => ("dlp_blocked", S::BAD_REQUEST, "invalid_request_error"),
            Code::BudgetExceeded => ("budget_exceeded", S::PAYMENT_REQUIRED, "insufficient_quota"),
            Code::ModelUnpriced => ("model_unpriced", S::PAYMENT_REQUIRED, "insufficient_quota"),
            Code::RateLimitExceeded => {
                ("rate_limit_exceeded", S::TOO_MANY_REQUESTS, "rate_limit_error")
            }
            Code::InvalidToken => ("invalid_token", S::UNAUTHORIZED, "authentication_error"),
            Code::InvalidCredentials => {
                ("invalid_credentials", S::UNAUTHORIZED, "authentication_error")
            }
            Code::Forbidden => ("forbidden", S::FORBIDDEN, "permission_error"),
            Code::NotFound => ("not_found", S::NOT_FOUND, "not_found_error"),
            Code::Conflict => ("conflict", S::CONFLICT, "invalid_request_error"),
            Code::AccountLocked => ("account_locked", S::LOCKED, "authentication_error"),
            Code::InvalidApiKey => ("invalid_api_key", S::UNAUTHORIZED, "authentication_error"),
            Code::TenantNotActive => ("tenant_not_active", S::FORBIDDEN, "permission_error"),
            Code::ModelNotFound => ("model_not_found", S::NOT_FOUND, "invalid_request_error"),
            Code::UpstreamRateLimited => {
                ("upstream_rate_limited", S::TOO_MANY_REQUESTS, "rate_limit_error")
            }
            Code::ProviderKeysBusy => {
                ("provider_keys_busy", S::TOO_MANY_REQUESTS, "rate_limit_error")
            }
            Code::ProviderError => ("provider_error", S::BAD_GATEWAY, "api_error"),
            Code::CountersUnavailable => {
                ("counters_unavailable", S::SERVICE_UNAVAILABLE, "api_error")
            }
            Code::InternalError => ("internal_error", S::INTERNAL_SERVER_ERROR, "api_error"),
        };
        let meaning = match self {
            Code::InvalidRequest => {
                "a malformed request or parameter (`param` names it); sent with 413 for a body \
                 too large, 415 for one not sent as JSON, and a provider's own 4xx passed on"
            }
            Code::DlpBlocked => "the request holds data the DLP policy blocks",
            Code::BudgetExceeded => "the request could cost more than what is left of a budget",
            Code::ModelUnpriced => "a budget applies and the model has no price",
            Code::RateLimitExceeded => "over the tenant's rate limit (`Retry-After`)",
            Code::InvalidToken => "the admin API without a live session token",
            Code::InvalidCredentials => "a login whose email and password match no enabled account",
            Code::Forbidden => "the caller's role may not do this",
            Code::NotFound => "no such thing in the caller's organization",
            Code::Conflict => "a clash with what exists (a taken name, the last admin)",
            Code::AccountLocked => "too many failed logins (`Retry-After`)",
            Code::InvalidApiKey => "no tenant API key, or one that matches no tenant",
            Code::TenantNotActive => "the key's tenant is suspended or revoked",
            Code::ModelNotFound => "no enabled provider serves the model",
            Code::UpstreamRateLimited => {
                "every provider for the model is rate-limiting the gateway"
            }
            Code::ProviderKeysBusy => {
                "every provider key for the model is at its concurrency or per-minute limit"
            }
            Code::ProviderError => "the providers failed, or none could be tried",
            Code::CountersUnavailable => {
                "Redis or the database, where replicas keep budgets and rate limits, does not \
                 answer: refused, never let through (`Retry-After`)"
            }
            Code::InternalError => "the gateway's own fault",
        };
        (code, status, kind, meaning)
    }

    /// The status the code is sent with (a provider's own 4xx passes through with its status).
    pub fn status(self) -> StatusCode {
        self.describe().1
    }
}

impl ApiError {
    /// An error with `code`'s own status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let status = code.status();
        ApiError { status, code, message: message.into(), param: None, retry_after: None }
    }

    /// 400: the request is malformed; `param` names the field.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::invalid_field(Some(param), message)
    }

    /// 400, when the field at fault may not be known (the message of a JSON parser names it).
    pub fn invalid_field(param: Option<&'static str>, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(Code::InvalidRequest, message.into());
        e.param = param;
        e
    }

    /// 400: the request holds data the tenant's DLP policy blocks. Names the types, never the
    /// values.
    pub fn dlp_blocked(kinds: &str) -> Self {
        let mut e = ApiError::new(
            Code::DlpBlocked,
            format!(
                "the request contains data this gateway's DLP policy blocks ({kinds}); remove \
                 it, or ask an administrator about the policy"
            ),
        );
        e.param = Some("messages");
        e
    }

    /// 402: the request could cost more than what is left of a budget.
    pub fn budget_exceeded(
        scope: &str,
        period: &str,
        budget: f64,
        spent: f64,
        reserved: f64,
        amount: f64,
        resets_at: &str,
    ) -> Self {
        ApiError::new(
            Code::BudgetExceeded,
            format!(
                "{scope}'s {period} budget of ${budget:.2} would be exceeded: ${spent:.4} spent, \
                 ${reserved:.4} held by requests in flight, and this request may cost up to \
                 ${amount:.4}; it resets at {resets_at}. Lower max_tokens, or ask an \
                 administrator to raise the budget"
            ),
        )
    }

    /// 402: a budget applies, and the model has no price to count the request against.
    pub fn unpriced(model: &str) -> Self {
        ApiError::new(
            Code::ModelUnpriced,
            format!(
                "this tenant has a budget, and the model {model:?} has no price to hold it to; \
                 ask an administrator to add it to gateway.prices"
            ),
        )
    }

    /// 429: the tenant's rate limit.
    pub fn rate_limited(message: String, retry_after: u64) -> Self {
        let mut e = ApiError::new(Code::RateLimitExceeded, message);
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 401 on the admin API: no session token, or one that expired or was revoked.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(Code::InvalidToken, message.into())
    }

    /// 401 on login: the email and password match no enabled account.
    pub fn wrong_credentials() -> Self {
        ApiError::new(Code::InvalidCredentials, "wrong email or password".to_owned())
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(Code::Forbidden, message.into())
    }

    /// 404: no such thing in the caller's organization.
    pub fn not_found(what: &str, id: i64) -> Self {
        ApiError::new(Code::NotFound, format!("no {what} {id} in your organization"))
    }

    /// 409: the request clashes with what exists (a taken name, the last admin).
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(Code::Conflict, message.into())
    }

    /// 423: too many failed logins; `seconds` until the lock ends.
    pub fn locked(message: impl Into<String>, seconds: u64) -> Self {
        let mut e = ApiError::new(Code::AccountLocked, message.into());
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// 401: no key, or one that matches no tenant.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(Code::InvalidApiKey, message.into())
    }

    /// 403: a known tenant that may not make requests now.
    pub fn tenant_not_active(status: &str) -> Self {
        ApiError::new(
            Code::TenantNotActive,
            format!("this API key's tenant is {status}; ask an administrator to reactivate it"),
        )
    }

    /// 404: no enabled provider serves the model.
    pub fn model_not_found(model: &str) -> Self {
        let mut e = ApiError::new(
            Code::ModelNotFound,
            format!(
                "no enabled provider serves the model {model:?}; GET /v1/models lists the models \
                 this gateway routes"
            ),
        );
        e.param = Some("model");
        e
    }

    /// 429 from every upstream that was tried.
    pub fn upstream_rate_limited(retry_after: Option<u64>, detail: &str) -> Self {
        let mut e = ApiError::new(
            Code::UpstreamRateLimited,
            format!("every provider for this model is rate-limiting the gateway: {detail}"),
        );
        e.retry_after = retry_after;
        e
    }

    /// A provider's own 4xx for this request (a malformed request, an unknown model), passed on
    /// with its status and message.
    pub fn refused_by_provider(status: StatusCode, message: &str) -> Self {
        let code = if status == StatusCode::NOT_FOUND {
            Code::ModelNotFound
        } else {
            Code::InvalidRequest
        };
        let message = format!("the provider refused the request: {message}");
        ApiError { status, ..ApiError::new(code, message) }
    }

    /// 429: every key of every provider for the model is at its concurrency or per-minute limit.
    pub fn saturated(detail: &str) -> Self {
        let mut e = ApiError::new(
            Code::ProviderKeysBusy,
            format!("every provider key for this model is at its limit: {detail}"),
        );
        e.retry_after = Some(1);
        e
    }

    /// 502: the providers failed, or none could be tried.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        ApiError::new(Code::ProviderError, message.into())
    }

    /// 503: the store where replicas keep budgets, rate limits and key slots (`Redis at …`, `the
    /// database at …`) does not answer. The request is refused rather than let past limits
    /// nobody can check. `error` says why, briefly; it is logged in full.
    pub fn counters_unavailable(store: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, store, "the shared counters do not answer");
        let mut e = ApiError::new(
            Code::CountersUnavailable,
            format!(
                "the gateway cannot reach {store}, where budgets and rate limits are kept, so it \
                 refuses requests until it answers again; retry shortly, or tell the operator \
                 ({error})"
            ),
        );
        e.retry_after = Some(1);
        e
    }

    /// 500: our own fault; the detail goes to the log, not to the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        ApiError::new(Code::InternalError, format!("{context}; the gateway's log has the details"))
    }

    /// The JSON body, also used inside a stream when an upstream fails after the first byte.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.code.kind(),
                "param": self.param,
                "code": self.code.as_str(),
            }
        })
    }
}

impl ApiError {
    /// The error in Anthropic's shape, for `/v1/messages`: `{"type": "error", "error": {"type",
    /// "message"}}` with Anthropic's error type for the status, so that Anthropic's SDKs raise
    /// their usual exceptions; the gateway's `code` rides along.
    pub fn anthropic_body(&self) -> serde_json::Value {
        let kind = match self.status.as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 | 423 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            500 | 502 => "api_error",
            503 | 529 => "overloaded_error",
            504 => "timeout_error",
            _ => "invalid_request_error",
        };
        json!({
            "type": "error",
            "error": { "type": kind, "message": self.message, "code": self.code.as_str() },
        })
    }

    /// The response for a `/v1/messages` client: [`ApiError::anthropic_body`], with the status
    /// and `Retry-After` of the OpenAI one.
    pub fn into_anthropic_response(self) -> Response {
        let body = self.anthropic_body();
        let mut response = self.into_response();
        *response.body_mut() = axum::body::Body::from(body.to_string());
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code.as_str(), self.message)
    }
}
