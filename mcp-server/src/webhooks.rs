//! Push webhooks: `POST /api/knowledge/webhooks/{github,gitlab,gitea}`. A forge calls them with no
//! credential of ours, so they sit outside the authenticated routes; each request is vouched for
//! by the webhook secret of the repositories it names, and reaches only those
//! (`Knowledge::push`). GitHub and Gitea sign the body with HMAC-SHA256; GitLab sends the secret
//! itself as a token.

// `#[utoipa::path(params(T))]` expands to `<T as IntoParams>::…`, which this lint flags.
#![allow(unused_qualifications)]

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use knowledge::views::PushView;
use knowledge::{Code, Knowledge, Push};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::knowledge::{ApiError, ErrorBody};

/// Most a push's JSON may weigh (GitHub's own cap is 25 MB; pushes of a few commits are a few KB).
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// The webhook routes, to mount beside the authenticated ones.
pub fn routes(knowledge: Knowledge) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(webhook))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(knowledge)
}

/// Webhook secrets sealed with the gateway's master key while stored.
#[derive(Debug)]
pub struct Sealed(pub gateway::secrets::MasterKey);

impl knowledge::Sealer for Sealed {
    fn seal(&self, secret: &str) -> Vec<u8> {
        self.0.seal(secret)
    }

    fn open(&self, sealed: &[u8]) -> Option<String> {
        self.0.open(sealed).ok()
    }
}

/// A forge whose push webhooks are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    fn named(name: &str) -> Option<Forge> {
        match name {
            "github" => Some(Forge::GitHub),
            "gitlab" => Some(Forge::GitLab),
            "gitea" => Some(Forge::Gitea),
            _ => None,
        }
    }

    fn event_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-github-event",
            Forge::GitLab => "x-gitlab-event",
            Forge::Gitea => "x-gitea-event",
        }
    }

    /// The header that carries the signature (or, for GitLab, the secret).
    fn proof_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-hub-signature-256",
            Forge::GitLab => "x-gitlab-token",
            Forge::Gitea => "x-gitea-signature",
        }
    }

    fn is_push(self, event: &str) -> bool {
        match self {
            Forge::GitLab => event == "Push Hook",
            Forge::GitHub | Forge::Gitea => event == "push",
        }
    }

    /// Whether `proof` (the proof header's value) shows the sender knows `secret`.
    fn verifies(self, proof: &str, body: &[u8], secret: &str) -> bool {
        match self {
            Forge::GitLab => {
                gateway::secrets::constant_time_eq(proof.as_bytes(), secret.as_bytes())
            }
            Forge::GitHub | Forge::Gitea => {
                let hex_digest = proof.strip_prefix("sha256=").unwrap_or(proof);
                let Ok(signature) = hex::decode(hex_digest) else { return false };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                    return false;
                };
                mac.update(body);
                mac.verify_slice(&signature).is_ok()
            }
        }
    }

    /// What the payload says was pushed where.
    fn push(self, payload: &Payload, ping: bool) -> Push {
        let repository = match self {
            Forge::GitLab => payload.project.as_ref(),
            Forge::GitHub | Forge::Gitea => payload.repository.as_ref(),
        };
        let urls = repository
            .into_iter()
            .flat_map(|r| [&r.clone_url, &r.html_url])
            .flatten()
            .cloned()
            .collect();
        let branch = payload.r#ref.as_deref().and_then(|r| r.strip_prefix("refs/heads/"));
        let deleted = payload.deleted
            || payload
                .after
                .as_deref()
                .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b == b'0'));
        Push {
            urls,
            branch: if ping { None } else { branch.map(str::to_owned) },
            default_branch: repository.and_then(|r| r.default_branch.clone()),
            deleted,
        }
    }
}

/// The fields of a push payload that matter here, as GitHub, Gitea (`repository`) and GitLab
/// (`project`, with `git_http_url` and `web_url`) send them.
#[derive(Debug, Deserialize)]
struct Payload {
    r#ref: Option<String>,
    after: Option<String>,
    #[serde(default)]
    deleted: bool,
    repository: Option<Repository>,
    project: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    #[serde(alias = "git_http_url")]
    clone_url: Option<String>,
    #[serde(alias = "web_url")]
    html_url: Option<String>,
    default_branch: Option<String>,
}

/// The forge named in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ForgeName {
    /// `github`, `gitlab` or `gitea`.
    forge: String,
}

/// What a webhook call did.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookAnswer {
    /// The event, as the forge named it.
    event: String,
    /// The repositories whose secret verified the call, and the job each got.
    repositories: Vec<PushView>,
}

/// A forge's push webhook: verified against the webhook secret of each repository indexed from
/// the pushed URL, it brings those that track the pushed branch up to date (and scans the new
/// commit when the repository asks). Set a repository's secret with
/// `PATCH /api/knowledge/repositories/{id}/settings {"webhook_secret": "…"}` and the same secret
/// on the forge's webhook, sending JSON. Needs no credential: the signature (GitHub's
/// `X-Hub-Signature-256`, Gitea's `X-Gitea-Signature`) or token (GitLab's `X-Gitlab-Token`) is
/// the proof.
#[utoipa::path(
    post,
    path = "/api/knowledge/webhooks/{forge}",
    tag = "repositories",
    params(ForgeName),
    request_body(content = Object, description = "The forge's push (or ping) payload, as JSON"),
    security(()),
    responses(
        (status = 200, description = "A ping, or an event other than a push: verified, nothing to do", body = WebhookAnswer),
        (status = 202, description = "A push: each verified repository's job", body = WebhookAnswer),
        (status = 400, description = "Not a payload this forge sends", body = ErrorBody),
        (status = 401, description = "No signature, or one no repository's secret makes", body = ErrorBody),
        (status = 404, description = "Not a forge this server knows", body = ErrorBody),
        (status = 415, description = "Not sent as JSON", body = ErrorBody),
    )
)]
async fn webhook(
    State(knowledge): State<Knowledge>,
    Path(ForgeName { forge }): Path<ForgeName>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Some(forge_kind) = Forge::named(&forge) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            format!("no webhook for {forge:?}: github, gitlab and gitea are understood"),
        ));
    };
    let forge = forge_kind;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let json = text(header::CONTENT_TYPE.as_str())
        .is_some_and(|t| t.split(';').next().is_some_and(|t| t.trim() == "application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidRequest,
            "send the webhook's payload as JSON (content type application/json on the forge's \
             webhook settings)",
        ));
    }
    let Some(proof) = text(forge.proof_header()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            format!(
                "no {} header: give the forge's webhook the repository's secret",
                forge.proof_header()
            ),
        ));
    };
    let event = text(forge.event_header()).unwrap_or_default().to_owned();
    let payload: Payload = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!("the payload is not a {forge:?} webhook's JSON: {e}"))
    })?;
    let is_push = forge.is_push(&event);
    let push = forge.push(&payload, !is_push);
    if push.urls.is_empty() {
        return Err(ApiError::invalid("the payload names no repository URL"));
    }
    let verifies = |secret: &str| forge.verifies(proof, &body, secret);
    let repositories = knowledge.push(&push, &verifies).await?;
    if repositories.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            format!(
                "the {} matches the webhook secret of no repository indexed from {}: set it with \
                 PATCH /api/knowledge/repositories/{{id}}/settings {{\"webhook_secret\": …}}",
                forge.proof_header(),
                push.urls[0]
            ),
        ));
    }
    let status = if is_push { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(WebhookAnswer { event, repositories })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_signature(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_signature_verifies_with_its_secret_and_body_only() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signed = github_signature("s3cret", body);
        assert!(Forge::GitHub.verifies(&signed, body, "s3cret"));
        assert!(!Forge::GitHub.verifies(&signed, body, "other"));
        assert!(!Forge::GitHub.verifies(&signed, br#"{"ref":"refs/heads/evil"}"#, "s3cret"));
        assert!(!Forge::GitHub.verifies("sha256=zz", body, "s3cret"));
        // Gitea sends the bare hex digest.
        assert!(Forge::Gitea.verifies(signed.trim_start_matches("sha256="), body, "s3cret"));
        assert!(Forge::GitLab.verifies("s3cret", body, "s3cret"));
        assert!(!Forge::GitLab.verifies("s3cre", body, "s3cret"));
    }

    #[test]
    fn each_forge_s_payload_names_the_repository_and_branch() {
        let github: Payload = serde_json::from_str(
            r#"{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://github.com/o/r.git","html_url":"https://github.com/o/r","default_branch":"main"}}"#,
        )
        .unwrap();
        let push = Forge::GitHub.push(&github, false);
        assert_eq!(push.urls, ["https://github.com/o/r.git", "https://github.com/o/r"]);
        assert_eq!(push.branch.as_deref(), Some("main"));
        assert_eq!(push.default_branch.as_deref(), Some("main"));
        assert!(!push.deleted);

        let gitlab: Payload = serde_json::from_str(
            r#"{"ref":"refs/heads/dev","after":"0000000000000000000000000000000000000000","project":{"git_http_url":"https://gitlab.com/o/r.git","web_url":"https://gitlab.com/o/r","default_branch":"main"}}"#,
        )
        .unwrap();
        let push = Forge::GitLab.push(&gitlab, false);
        assert_eq!(push.urls, ["https://gitlab.com/o/r.git", "https://gitlab.com/o/r"]);
        assert_eq!(push.branch.as_deref(), Some("dev"));
        assert!(push.deleted, "an all-zero `after` is a deleted branch");

        let tag: Payload = serde_json::from_str(
            r#"{"ref":"refs/tags/v1","repository":{"clone_url":"https://github.com/o/r.git"}}"#,
        )
        .unwrap();
        assert_eq!(Forge::GitHub.push(&tag, false).branch, None, "a tag is no branch");
    }
}
