//! Two `agentwatch serve` replicas as an operator runs them on two machines: each its own data
//! dir, sharing one Postgres database, one Redis, one search-index folder, the master key and the
//! JWT secret. Whatever a client does through one, the other knows.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Mock, Sandbox, Server, http, python_repository};

const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "a long admin passphrase";
const TENANT_KEY: &str = "aw-thrifty-tenant-key-0123456789";

/// A Redis server on a free port, stopped on drop.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/setup.sh");
        let redis = Redis(child, port);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 100 ms for up to 30 s, until it gives a value: that, and how long it took.
async fn eventually<T>(what: &str, check: impl AsyncFn() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return (value, start.elapsed());
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn chat(gateway: &Api, key: &str) -> u16 {
    let body = json!({
        "model": "gpt-4o-mini",
        "max_tokens": 20,
        "messages": [{ "role": "user", "content": "Say hi" }],
    });
    gateway.call("POST", "/v1/chat/completions", key, Some(body)).await.0
}

#[test]
fn two_replicas_on_one_postgres_and_one_redis_answer_as_one_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(storage::testing::new_database());
    let redis = Redis::start();
    let mock = Mock::start();
    let shared = Sandbox::new();
    let config = shared.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
admin_email = "{ADMIN}"
admin_password = "{PASSWORD}"
prices = {{ "gpt-4o-mini" = {{ input = 1000.0, output = 1000.0 }} }}

[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "{}/v1"
keys = [{{ key = "sk-mock-0123456789abcdef", concurrency_limit = 1000 }}]

[[gateway.tenants]]
name = "thrifty"
api_key = "{TENANT_KEY}"
daily_budget = 1.0
"#,
            mock.url
        ),
    );
    let lance = shared.path().join("lance");
    let redis_url = format!("redis://127.0.0.1:{}", redis.1);
    let env = [
        ("AGENTWATCH_CONFIG", config.to_str().unwrap()),
        ("AGENTWATCH_DATABASE_URL", database.as_str()),
        ("AGENTWATCH_REDIS_URL", redis_url.as_str()),
        ("AGENTWATCH_LANCE_URI", lance.to_str().unwrap()),
        ("AGENTWATCH_MASTER_KEY", "5e".repeat(32).leak()),
        ("AGENTWATCH_JWT_SECRET", "a shared secret for the replicas' session tokens"),
    ];
    let (here, there) = (Sandbox::new(), Sandbox::new());
    let first = Server::start_with(&here, &["serve"], &env);
    let second = Server::start_with(&there, &["serve"], &env);
    let api = |server: &Server, name: &str| Api {
        base: format!("http://{}", server.address_of(name)),
        http: http(),
    };
    let (gw1, kn1) = (api(&first, "gateway"), api(&first, "knowledge server"));
    let (gw2, kn2) = (api(&second, "gateway"), api(&second, "knowledge server"));
    let repo = python_repository(&here);

    runtime.block_on(async {
        // A login on one is honoured by the other; a logout on the other ends it on both.
        let token = gw1.login(ADMIN, PASSWORD).await;
        assert_eq!(gw2.call("GET", "/api/auth/me", &token, None).await.0, 200);

        // A tenant made on one is served by the other within a second.
        let (status, made) =
            gw1.call("POST", "/api/tenants", &token, Some(json!({ "name": "newcomer" }))).await;
        assert_eq!(status, 201, "{made}");
        let key = made["api_key"].as_str().unwrap().to_owned();
        let ((), took) = eventually("the new tenant on the other replica", async || {
            (gw2.call("GET", "/v1/models", &key, None).await.0 == 200).then_some(())
        })
        .await;
        assert!(took < Duration::from_secs(3), "the other replica took {took:?}");

        // Two hundred requests spread over both never spend more than the tenant's budget.
        let mut requests = tokio::task::JoinSet::new();
        for n in 0..200 {
            let gateway = if n % 2 == 0 { gw1.base.clone() } else { gw2.base.clone() };
            requests.spawn(async move {
                let gateway = Api { base: gateway, http: http() };
                chat(&gateway, TENANT_KEY).await
            });
        }
        let mut statuses = Vec::new();
        while let Some(status) = requests.join_next().await {
            statuses.push(status.unwrap());
        }
        let answered = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 402).count();
        assert_eq!(answered + refused, 200, "{statuses:?}");
        assert!(answered >= 1 && refused >= 1, "{answered} answered, {refused} refused");
        let (spent, _) = eventually("every request's usage", async || {
            let (_, summary) = gw2.call("GET", "/api/usage/summary", &token, None).await;
            (summary["requests"] == 200).then(|| summary["cost_usd"].as_f64().unwrap())
        })
        .await;
        assert!(spent > 0.0 && spent <= 1.0, "spent ${spent} of a $1.00 budget");

        // A repository indexed through one is answered by the other.
        let body = json!({ "url": repo.to_str().unwrap() });
        let (status, job) = kn1.call("POST", "/api/knowledge/repositories", "", Some(body)).await;
        assert_eq!(status, 202, "{job}");
        let repo_id = job["repo_id"].as_str().unwrap().to_owned();
        let status_path = format!("/api/knowledge/repositories/{repo_id}/status");
        eventually("the index, seen from the other replica", async || {
            let (_, job) = kn2.call("GET", &status_path, "", None).await;
            (job["status"] == "ready").then_some(())
        })
        .await;
        let (status, found) =
            kn2.call("GET", "/api/knowledge/search?q=price+with+tax&mode=lexical", "", None).await;
        assert_eq!(status, 200, "{found}");
        let first: &Value = &found["results"][0];
        assert_eq!(first["repo_id"], repo_id.as_str(), "{found}");
        assert_eq!(first["path"], "stockroom/pricing.py", "{found}");

        let (status, _) = gw2.call("POST", "/api/auth/logout", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(gw1.call("GET", "/api/auth/me", &token, None).await.0, 401);
    });
}
