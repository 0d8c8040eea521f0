//! Every way a knowledge question can fail, and the one place each failure gets its code and its
//! HTTP status. The faces report these as they are: REST as `{"error": {"code", "message"}}` with
//! the status, MCP as a tool error carrying the message.

use indexer::IndexError;
use indexer::search::SearchError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ask::AskError;
use crate::caller::{Face, RateLimit};
use crate::scans::ScanError;

/// Why a question could not be answered, in words the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// An argument the caller can correct.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no repository {0:?} is indexed: GET /api/knowledge/repositories lists them \
         (list_repositories over MCP), POST there indexes one (index_repository)"
    )]
    UnknownRepo(String),
    /// Something else the caller named that is not there, or not theirs to see.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (a viewer changing something, a tenant indexing a folder of
    /// the server's machine).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    QuotaExceeded(String),
    /// The repository is busy with something that excludes this.
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    RateLimited { message: String, limit: Option<RateLimit> },
    #[error("{0}")]
    BudgetExceeded(String),
    /// The answer (or, for `ask`, the question sent to the model) holds a type of data the
    /// caller's DLP policy blocks.
    #[error("{0}")]
    DlpBlocked(String),
    /// Something this server needs is missing (the embedding model).
    #[error("{0}")]
    Unavailable(String),
    /// The gateway `ask` goes through failed, or could not be reached.
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
}

/// The codes errors are reported with: the `code` of REST's error body on port 4000. README's
/// list is generated from this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    QuotaExceeded,
    BudgetExceeded,
    RateLimited,
    DlpBlocked,
    Unavailable,
    Internal,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::InvalidRequest,
        Code::Unauthorized,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::QuotaExceeded,
        Code::BudgetExceeded,
        Code::RateLimited,
        Code::DlpBlocked,
        Code::Unavailable,
        Code::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    /// The HTTP statuses the code is sent with.
    pub fn statuses(self) -> &'static str {
        self.describe().1
    }

    /// When the code is sent.
    pub fn meaning(self) -> &'static str {
        self.describe().2
    }

    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Code::InvalidRequest => (
                "invalid_request",
                "400, 413, 415",
                "a parameter or body to correct (413: too large; 415: not JSON)",
            ),
            Code::Unauthorized => (
                "unauthorized",
                "401",
                "no credential, or one that is neither a tenant key nor a live session",
            ),
            Code::Forbidden => (
                "forbidden",
                "403",
                "the caller may not do this (a viewer changing something, a tenant indexing a \
                 folder of the server's machine, no tenant to bill)",
            ),
            Code::NotFound => (
                "not_found",
                "404",
                "no such repository, scan, file, symbol or route, or not the caller's to see",
            ),
            Code::Conflict => {
                ("conflict", "409", "the repository is being indexed (removal, graph questions)")
            }
            Code::QuotaExceeded => {
                ("quota_exceeded", "403", "the organization holds as many repositories as it may")
            }
            Code::BudgetExceeded => {
                ("budget_exceeded", "402", "the tenant's budget cannot cover the question")
            }
            Code::RateLimited => {
                ("rate_limited", "429", "over the tenant's rate limit (with `Retry-After`)")
            }
            Code::DlpBlocked => (
                "dlp_blocked",
                "403",
                "the result (or, for `ask`, the code sent to the model) holds data the caller's \
                 DLP policy blocks",
            ),
            Code::Unavailable => (
                "unavailable",
                "502, 503",
                "the gateway failed (502); or what the question needs is not running here: \
                 the embedding model for semantic search, scans, or a gateway to ask (503)",
            ),
            Code::Internal => ("internal", "500", "a fault of this server"),
        }
    }
}

impl KnowledgeError {
    /// The code and HTTP status the error is reported with.
    pub fn code(&self) -> (Code, u16) {
        match self {
            KnowledgeError::Invalid(_) => (Code::InvalidRequest, 400),
            KnowledgeError::UnknownRepo(_) | KnowledgeError::NotFound(_) => (Code::NotFound, 404),
            KnowledgeError::Forbidden(_) => (Code::Forbidden, 403),
            KnowledgeError::QuotaExceeded(_) => (Code::QuotaExceeded, 403),
            KnowledgeError::Conflict(_) => (Code::Conflict, 409),
            KnowledgeError::RateLimited { .. } => (Code::RateLimited, 429),
            KnowledgeError::BudgetExceeded(_) => (Code::BudgetExceeded, 402),
            KnowledgeError::DlpBlocked(_) => (Code::DlpBlocked, 403),
            KnowledgeError::Unavailable(_) => (Code::Unavailable, 503),
            KnowledgeError::Upstream(_) => (Code::Unavailable, 502),
            KnowledgeError::Internal(_) => (Code::Internal, 500),
        }
    }

    /// The status a call that failed with this error is metered with, as it came through `face`:
    /// REST's own status; over MCP, 403 and 429 for refusals of the caller, 400 for every other
    /// tool error.
    pub fn metered_status(&self, face: Face) -> u16 {
        let (code, status) = self.code();
        match face {
            Face::Rest => status,
            Face::Mcp => match code {
                Code::Forbidden | Code::RateLimited => status,
                _ => 400,
            },
        }
    }

    /// An answer holding the `types` of data the caller's DLP policy blocks.
    pub fn blocked(types: &[String]) -> KnowledgeError {
        KnowledgeError::DlpBlocked(format!(
            "the result holds data your organization's DLP policy blocks ({}); ask for less (a \
             narrower search, other lines), or ask an administrator about the policy",
            types.join(", ")
        ))
    }

    pub fn invalid(message: impl Into<String>) -> KnowledgeError {
        KnowledgeError::Invalid(message.into())
    }
}

impl From<IndexError> for KnowledgeError {
    fn from(error: IndexError) -> KnowledgeError {
        match error {
            IndexError::UnknownRepo(key) => KnowledgeError::UnknownRepo(key),
            IndexError::Busy(_) => KnowledgeError::Conflict(error.to_string()),
            IndexError::OverQuota(_) => KnowledgeError::QuotaExceeded(error.to_string()),
            IndexError::NoEmbedder
            | IndexError::Embed(indexer::embed::EmbedError::Remote { .. }) => {
                KnowledgeError::Unavailable(error.to_string())
            }
            IndexError::Search(SearchError::BadGlob { .. } | SearchError::UnknownLanguage(_))
            | IndexError::Source(_)
            | IndexError::Refused(_) => KnowledgeError::Invalid(error.to_string()),
            other => KnowledgeError::Internal(other.to_string()),
        }
    }
}

impl From<ScanError> for KnowledgeError {
    fn from(error: ScanError) -> KnowledgeError {
        match error {
            ScanError::Index(e) => e.into(),
            ScanError::NotIndexed(_)
            | ScanError::NoScan(_)
            | ScanError::Store(scanner::ScanStoreError::UnknownScan(_)) => {
                KnowledgeError::NotFound(error.to_string())
            }
            other => KnowledgeError::Internal(other.to_string()),
        }
    }
}

impl From<AskError> for KnowledgeError {
    fn from(error: AskError) -> KnowledgeError {
        match error {
            AskError::Index(e) => e.into(),
            AskError::NoTenant | AskError::OwnTenantNeeded => {
                KnowledgeError::Forbidden(error.to_string())
            }
            AskError::Unreachable { .. } => KnowledgeError::Upstream(error.to_string()),
            // By the gateway's code where it tells one refusal from another: its 400 may be a
            // DLP block, its 429 the tenant's rate limit or the providers' capacity.
            AskError::Gateway { status, ref code, .. } => match (status, code.as_deref()) {
                (_, Some("dlp_blocked")) => KnowledgeError::DlpBlocked(error.to_string()),
                (429, Some("rate_limit_exceeded")) => {
                    KnowledgeError::RateLimited { message: error.to_string(), limit: None }
                }
                (402, _) => KnowledgeError::BudgetExceeded(error.to_string()),
                (400, _) => KnowledgeError::Invalid(error.to_string()),
                (403, _) => KnowledgeError::Forbidden(error.to_string()),
                _ => KnowledgeError::Upstream(error.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code is spelled as it is serialized, so the list README publishes and the OpenAPI
    /// enum are the same words.
    fn refused(status: u16, code: &str) -> KnowledgeError {
        let message = "refused".to_owned();
        AskError::Gateway { status, code: Some(code.to_owned()), message }.into()
    }

    /// `ask`'s refusals by the gateway keep their meaning: a DLP block is not a bad request,
    /// and the providers' capacity is not the tenant's rate limit.
    #[test]
    fn the_gateway_s_refusals_of_ask_keep_their_meaning() {
        let codes = [
            (refused(400, "dlp_blocked"), Code::DlpBlocked),
            (refused(400, "invalid_request"), Code::InvalidRequest),
            (refused(402, "budget_exceeded"), Code::BudgetExceeded),
            (refused(429, "rate_limit_exceeded"), Code::RateLimited),
            (refused(429, "upstream_rate_limited"), Code::Unavailable),
            (refused(429, "provider_keys_busy"), Code::Unavailable),
            (refused(403, "tenant_not_active"), Code::Forbidden),
            (refused(502, "provider_error"), Code::Unavailable),
        ];
        for (error, code) in codes {
            assert_eq!(error.code().0, code, "{error}");
        }
    }

    #[test]
    fn each_code_is_written_as_it_is_sent() {
        for code in Code::ALL {
            let sent = serde_json::to_value(code).unwrap();
            assert_eq!(sent, code.as_str());
        }
    }
}
