//! The gateway's one error type. Every error, `/v1/*` and `/api/*` alike, is OpenAI's error JSON,
//! `{"error": {"message", "type", "param", "code"}}`, with the contract's status codes, so that
//! OpenAI SDKs raise their usual exception types and admin clients read one shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        ApiError { status, kind, code, message, param: None, retry_after: None }
    }

    /// 400: the request is malformed; `param` names the field.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::invalid_field(Some(param), message)
    }

    /// 400, when the field at fault may not be known (the message of a JSON parser names it).
    pub fn invalid_field(param: Option<&'static str>, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message.into(),
        );
        e.param = param;
        e
    }

    /// 400: the request holds data the tenant's DLP policy blocks. Names the types, never the
    /// values.
    pub fn dlp_blocked(kinds: &str) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "dlp_blocked",
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
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            "budget_exceeded",
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
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            "model_unpriced",
            format!(
                "this tenant has a budget, and the model {model:?} has no price to hold it to; \
                 ask an administrator to add it to gateway.prices"
            ),
        )
    }

    /// 429: the tenant's rate limit.
    pub fn rate_limited(message: String, retry_after: u64) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            message,
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 401 on the admin API: no session token, or one that expired or was revoked.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_token",
            message.into(),
        )
    }

    /// 401 on login: the email and password match no enabled account.
    pub fn wrong_credentials() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_credentials",
            "wrong email or password".to_owned(),
        )
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "permission_error", "forbidden", message.into())
    }

    /// 404: no such thing in the caller's organization.
    pub fn not_found(what: &str, id: i64) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "not_found",
            format!("no {what} {id} in your organization"),
        )
    }

    /// 409: the request clashes with what exists (a taken name, the last admin).
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "invalid_request_error", "conflict", message.into())
    }

    /// 423: too many failed logins; `seconds` until the lock ends.
    pub fn locked(message: impl Into<String>, seconds: u64) -> Self {
        let mut e = ApiError::new(
            StatusCode::LOCKED,
            "authentication_error",
            "account_locked",
            message.into(),
        );
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// 401: no key, or one that matches no tenant.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            message.into(),
        )
    }

    /// 403: a known tenant that may not make requests now.
    pub fn tenant_not_active(status: &str) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "tenant_not_active",
            format!("this API key's tenant is {status}; ask an administrator to reactivate it"),
        )
    }

    /// 404: no enabled provider serves the model.
    pub fn model_not_found(model: &str) -> Self {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
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
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "upstream_rate_limited",
            format!("every provider for this model is rate-limiting the gateway: {detail}"),
        );
        e.retry_after = retry_after;
        e
    }

    /// A provider's own 4xx for this request (a malformed request, an unknown model), passed on
    /// with its status and message.
    pub fn refused_by_provider(status: StatusCode, message: &str) -> Self {
        let code =
            if status == StatusCode::NOT_FOUND { "model_not_found" } else { "invalid_request" };
        ApiError::new(
            status,
            "invalid_request_error",
            code,
            format!("the provider refused the request: {message}"),
        )
    }

    /// 429: every key of every provider for the model is at its concurrency or per-minute limit.
    pub fn saturated(detail: &str) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "provider_keys_busy",
            format!("every provider key for this model is at its limit: {detail}"),
        );
        e.retry_after = Some(1);
        e
    }

    /// 502: the providers failed, or none could be tried.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_GATEWAY, "api_error", "provider_error", message.into())
    }

    /// 500: our own fault; the detail goes to the log, not to the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            format!("{context}; the gateway's log has the details"),
        )
    }

    /// The JSON body, also used inside a stream when an upstream fails after the first byte.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
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
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}
