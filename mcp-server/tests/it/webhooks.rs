//! A forge's push webhooks, as GitHub and GitLab send them, against a repository `serve` cloned
//! from a real git server over HTTP (`git http-backend`, `tests/git/http_backend.py`): a push
//! signed with the repository's secret re-indexes the pushed branch unasked (and scans the new
//! commit, as the repository asked); a forged or tampered one changes nothing.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Api, Sandbox, Server, commit, git_fixture, http};

/// The git server, stopped however the test ends.
struct Forge(Child);

impl Drop for Forge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves the bare repositories under `root` over HTTP; its port.
fn forge(root: &Path) -> (Forge, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/git/http_backend.py");
    let mut child =
        Command::new("python3").arg(script).arg(root).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port = first.strip_prefix("listening ").unwrap().parse().unwrap();
    (Forge(child), port)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(base: &str, forge: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut request = http()
        .post(format!("{base}/api/knowledge/webhooks/{forge}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_push_re_indexes_the_pushed_branch_and_a_forged_one_is_refused() {
    let sandbox = Sandbox::new();
    let work = git_fixture(&sandbox, "python-pkg");
    let root = sandbox.path().join("forge");
    std::fs::create_dir_all(root.join("team")).unwrap();
    git(&root.join("team"), &["clone", "-q", "--bare", work.to_str().unwrap(), "shop.git"]);
    let (_forge, port) = forge(&root);
    let url = format!("http://127.0.0.1:{port}/team/shop.git");

    let server = Server::start(&sandbox, &["serve"]);
    let base = format!("http://{}", server.address_of("knowledge server"));
    let api = Api { base: format!("{base}/api/knowledge"), http: http() };
    let (_, submitted) = api.call("POST", "/repositories", "", Some(json!({ "url": url }))).await;
    let id = submitted["repo_id"].as_str().unwrap().to_owned();
    let status = async || api.call("GET", &format!("/repositories/{id}/status"), "", None).await.1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status().await["status"] != "ready" {
        assert!(Instant::now() < deadline, "never indexed: {}", status().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = status().await["commit"].clone();

    let secret = "a-webhook-secret-only-github-and-we-know";
    let hook = json!({ "webhook_secret": secret, "scan_on_push": true });
    let (code, settings) =
        api.call("PATCH", &format!("/repositories/{id}/settings"), "", Some(hook)).await;
    assert_eq!(code, 200, "{settings}");
    assert_eq!(settings["webhook"], true);
    assert!(!settings.to_string().contains(secret), "the secret is never shown: {settings}");
    let stored = sandbox.stored_bytes();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored sealed"
    );

    // A developer pushes a new function to main.
    let pricing = work.join("stockroom/pricing.py");
    let code = std::fs::read_to_string(&pricing).unwrap()
        + "\n\ndef wombat_markdown(item: Item) -> float:\n    return price_with_tax(item) * 0.5\n";
    std::fs::write(&pricing, code).unwrap();
    commit(&work, "markdowns");
    git(&work, &["push", "-q", root.join("team/shop.git").to_str().unwrap(), "HEAD:main"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    let payload = json!({
        "ref": "refs/heads/main",
        "after": head,
        "repository": {
            "clone_url": url,
            "html_url": url.trim_end_matches(".git"),
            "default_branch": "main",
        },
    })
    .to_string();
    let body = payload.as_bytes();
    let push = [("x-github-event", "push")];

    // Forged: signed with another secret, or the signature of another body, or none.
    let wrong = signed("guessed", body);
    let (code, refused) =
        deliver(&base, "github", &[push[0], ("x-hub-signature-256", &wrong)], body).await;
    assert_eq!(code, 401, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("webhook_secret"), "{refused}");
    let other = signed(secret, b"{\"ref\":\"refs/heads/main\"}");
    let (code, _) =
        deliver(&base, "github", &[push[0], ("x-hub-signature-256", &other)], body).await;
    assert_eq!(code, 401);
    let (code, _) = deliver(&base, "github", &push, body).await;
    assert_eq!(code, 401);
    let gitlab_payload = json!({
        "ref": "refs/heads/main",
        "after": head,
        "project": { "git_http_url": url, "default_branch": "main" },
    })
    .to_string();
    let gitlab = [("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "guessed")];
    let (code, _) = deliver(&base, "gitlab", &gitlab, gitlab_payload.as_bytes()).await;
    assert_eq!(code, 401);
    // A body that is no forge's payload is a 400 that says so.
    let (code, said) = deliver(&base, "gitlab", &gitlab, body).await;
    assert_eq!(code, 400);
    assert!(said["error"]["message"].as_str().unwrap().contains("no repository URL"), "{said}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status().await["commit"], first, "nothing was fetched");

    // A ping, signed: acknowledged, nothing fetched.
    let ping = signed(secret, body);
    let (code, pong) = deliver(
        &base,
        "github",
        &[("x-github-event", "ping"), ("x-hub-signature-256", &ping)],
        body,
    )
    .await;
    assert_eq!(code, 200, "{pong}");
    assert_eq!(pong["repositories"][0]["job"], Value::Null);

    // Signed: the pushed commit is indexed, unasked.
    let good = signed(secret, body);
    let (code, accepted) =
        deliver(&base, "github", &[push[0], ("x-hub-signature-256", &good)], body).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["event"], "push");
    assert_eq!(accepted["repositories"][0]["repo_id"], id.as_str());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = status().await;
        if now["commit"] == head.as_str() && now["status"] != "queued" {
            break;
        }
        assert!(Instant::now() < deadline, "the push was never indexed: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let callers = format!("/repositories/{id}/callers?symbol=price_with_tax");
    let (_, callers) = api.call("GET", &callers, "", None).await;
    assert!(callers.to_string().contains("wombat_markdown"), "{callers}");
    // scan_on_push: the pushed commit is scanned once indexed.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, scan) = api.call("GET", &format!("/repositories/{id}/findings"), "", None).await;
        if scan["commit"] == head.as_str() && scan["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the pushed commit was never scanned: {scan}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A push to another branch is acknowledged and fetches nothing for main.
    let payload = payload.replace("refs/heads/main", "refs/heads/experiment");
    let signature = signed(secret, payload.as_bytes());
    let (code, other) = deliver(
        &base,
        "github",
        &[push[0], ("x-hub-signature-256", &signature)],
        payload.as_bytes(),
    )
    .await;
    assert_eq!(code, 202, "{other}");
    assert_eq!(other["repositories"][0]["job"], Value::Null, "{other}");

    // GitLab's token is the secret itself.
    let gitlab = [("x-gitlab-event", "Push Hook"), ("x-gitlab-token", secret)];
    let (code, accepted) = deliver(&base, "gitlab", &gitlab, gitlab_payload.as_bytes()).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["repositories"][0]["repo_id"], id.as_str());
}
