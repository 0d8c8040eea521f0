//! Who asks, what they see, and the account their calls are governed by.
//!
//! - A **member** of an organization (a tenant or a logged-in user) sees that organization's
//!   repositories only, and what it indexes belongs to it. The default organization (the one
//!   config tenants and the first admin belong to) owns the repositories indexed locally.
//! - The **local** user — stdio MCP, the command line, the holder of `knowledge.token` — sees
//!   every repository.
//!
//! Identifying a caller is the faces' business (a bearer token over HTTP, the process over
//! stdio); what a caller may do is decided here, once, for every face.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use indexer::{RepoRecord, Source};

use crate::error::KnowledgeError;

/// One caller of the knowledge server.
#[derive(Debug, Clone)]
pub struct Caller {
    scope: Scope,
    reads_only: bool,
    account: Arc<dyn Account>,
}

/// Whose repositories a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every repository: the local user.
    Everything,
    /// One organization's: `None` is the default organization.
    Organization(Option<i64>),
}

impl Caller {
    /// The local user, governed by `account` (which screens what leaves the server).
    pub fn local(account: Arc<dyn Account>) -> Caller {
        Caller { scope: Scope::Everything, reads_only: false, account }
    }

    /// A member of the organization owning `owner`'s repositories; with `reads_only` (a
    /// viewer), it may not index, scan, remove or ask.
    pub fn member(owner: Option<i64>, reads_only: bool, account: Arc<dyn Account>) -> Caller {
        Caller { scope: Scope::Organization(owner), reads_only, account }
    }

    pub fn account(&self) -> &dyn Account {
        self.account.as_ref()
    }

    pub fn is_local(&self) -> bool {
        self.scope == Scope::Everything
    }

    /// Who a repository the caller indexes belongs to.
    pub fn owner(&self) -> Option<i64> {
        match self.scope {
            Scope::Everything => None,
            Scope::Organization(owner) => owner,
        }
    }

    /// Whether the caller may see `repo`.
    pub fn sees(&self, repo: &RepoRecord) -> bool {
        match self.scope {
            Scope::Everything => true,
            Scope::Organization(owner) => repo.owner == owner,
        }
    }

    /// Whether the caller may change what the server holds or spend its organization's money:
    /// index, scan, remove, ask. A viewer reads only, as on the admin API.
    pub fn may_change(&self) -> Result<(), KnowledgeError> {
        if self.reads_only {
            return Err(KnowledgeError::Forbidden(
                "a viewer reads only: indexing, scans, removal and ask_codebase need the member or \
                 admin role; ask an admin of your organization"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether the caller may index `source`: a git URL, anyone; a folder on this machine, only
    /// its local user (a tenant must not read the server's own files).
    pub fn may_index(&self, source: &Source) -> Result<(), KnowledgeError> {
        if source.is_remote() || self.is_local() {
            return Ok(());
        }
        Err(KnowledgeError::Forbidden(format!(
            "{} is a folder on the server's machine, which only its local user may index (stdio \
             MCP, the command line, or knowledge.token); send an https git URL",
            source.location()
        )))
    }
}

/// A boxed future, as trait objects return them.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What governs a caller's calls: its rate limit, the DLP policy that screens what it is given,
/// and the record of each call. The gateway keeps these (in this process or another); the faces
/// wrap it in an `Account` when they identify the caller.
pub trait Account: Send + Sync + fmt::Debug {
    /// Takes one call from the caller's rate limit: the limit's state to report, or the
    /// refusal (`KnowledgeError::RateLimited`).
    fn admit(&self) -> Pending<'_, Result<Option<RateLimit>, KnowledgeError>>;

    /// Applies the caller's DLP policy to every string of `value`.
    fn screen(&self, value: &mut serde_json::Value) -> Screening;

    /// Records a finished call (usage and metrics).
    fn meter(&self, call: Call);

    /// The tenant API key the caller presented, if it is a tenant: what `ask` is billed to.
    fn tenant_key(&self) -> Option<&str> {
        None
    }
}

/// A rate limit's state after a call was taken from it, as `X-RateLimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the limit is whole again.
    pub reset: u64,
    /// Seconds until a refused call may succeed.
    pub retry_after: u64,
}

/// The face a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Mcp,
    Rest,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Mcp => "mcp",
            Face::Rest => "rest",
        }
    }
}

/// One call, as it is metered.
#[derive(Debug)]
pub struct Call {
    pub face: Face,
    /// The MCP tool (`search_code`) or REST route (`GET /api/knowledge/search`).
    pub name: String,
    pub request_id: String,
    pub started: Instant,
    /// The HTTP status; over MCP, 200, 400 for a tool error, 403 or 429.
    pub status: u16,
    pub error: Option<String>,
    pub result_bytes: u64,
    pub screening: Option<Screening>,
}

impl Call {
    /// A call starting now.
    pub fn new(face: Face, name: impl Into<String>, request_id: impl Into<String>) -> Call {
        Call {
            face,
            name: name.into(),
            request_id: request_id.into(),
            started: Instant::now(),
            status: 200,
            error: None,
            result_bytes: 0,
            screening: None,
        }
    }
}

/// What DLP did to one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screening {
    /// Detections acted on, by type and action: `{"email": {"redact": 2}}`.
    pub events: BTreeMap<String, BTreeMap<String, u32>>,
    /// Types found that the policy blocks.
    pub blocked: Vec<String>,
}

impl Screening {
    /// How many detections were acted on.
    pub fn count(&self) -> u32 {
        self.events.values().flat_map(BTreeMap::values).sum()
    }

    /// Redactions by type.
    pub fn redacted(&self) -> BTreeMap<String, u32> {
        self.events
            .iter()
            .filter_map(|(kind, actions)| Some((kind.clone(), *actions.get("redact")?)))
            .collect()
    }

    /// What DLP did, as the caller reads it: `None` when nothing was redacted.
    pub fn notice(&self) -> Option<String> {
        let redacted = self.redacted();
        if redacted.is_empty() {
            return None;
        }
        let listed: Vec<String> =
            redacted.iter().map(|(kind, n)| format!("{kind} × {n}")).collect();
        Some(format!(
            "AgentWatch redacted secrets or personal data from this result under your \
             organization's DLP policy: {}. Each is shown as [REDACTED:TYPE].",
            listed.join(", ")
        ))
    }
}
