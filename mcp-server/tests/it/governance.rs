//! Budgets and rate limits as tenants meet them: `agentwatch gateway` in front of a real mock
//! provider (llmock), driven by a real HTTP client, hundreds of requests at once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Mock, Sandbox, Server, http};

const ADMIN: &str = "ops@example.com";
const PASSWORD: &str = "a long admin passphrase";

fn config(sandbox: &Sandbox, mock: &Mock, tenants: &str) -> std::path::PathBuf {
    sandbox.write(
        "agentwatch.toml",
        &format!(
            r#"
[gateway]
admin_email = "{ADMIN}"
admin_password = "{PASSWORD}"
# A dear model, so that a few requests make a visible cost.
prices = {{ "gpt-4o-mini" = {{ input = 1000.0, output = 1000.0 }} }}

[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "{}/v1"
keys = [{{ key = "sk-mock-0123456789abcdef", concurrency_limit = 1000 }}]
{tenants}
"#,
            mock.url
        ),
    )
}

async fn chat(http: &reqwest::Client, gateway: &str, key: &str) -> reqwest::Response {
    let body = json!({
        "model": "gpt-4o-mini",
        "max_tokens": 20,
        "messages": [{ "role": "user", "content": "Say hi" }],
    });
    let url = format!("{gateway}/v1/chat/completions");
    http.post(url).bearer_auth(key).json(&body).send().await.unwrap()
}

async fn admin_get(http: &reqwest::Client, gateway: &str, path: &str) -> Value {
    let login = json!({ "email": ADMIN, "password": PASSWORD });
    let token: Value = http
        .post(format!("{gateway}/api/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap();
    http.get(format!("{gateway}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

#[test]
fn two_hundred_requests_at_once_never_spend_more_than_the_budget() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let tenants = r#"
[[gateway.tenants]]
name = "thrifty"
api_key = "aw-thrifty-tenant-key-0123456789"
daily_budget = 1.0
"#;
    let config = config(&sandbox, &mock, tenants);
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    let http = http();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (statuses, reserved_each) = runtime.block_on(async {
        // Every answer waits half a second, so that the requests are all in flight together.
        let delay = json!({ "behaviors": [{ "type": "delay", "seconds": 0.5, "times": null }] });
        http.post(format!("{}/_llmock/scenario", mock.url)).json(&delay).send().await.unwrap();
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (http, gateway) = (http.clone(), gateway.clone());
            requests.spawn(async move {
                chat(&http, &gateway, "aw-thrifty-tenant-key-0123456789").await
            });
        }
        let mut statuses = Vec::new();
        let mut reserved_each = 0.0;
        while let Some(response) = requests.join_next().await {
            let response = response.unwrap();
            let status = response.status().as_u16();
            if status == 402 {
                let error: Value = response.json().await.unwrap();
                assert_eq!(error["error"]["code"], "budget_exceeded");
                let message = error["error"]["message"].as_str().unwrap();
                assert!(message.contains("daily budget of $1.00"), "{message}");
                // "… this request may cost up to $0.0830; it resets at …"
                let amount = message.split("may cost up to $").nth(1).unwrap();
                reserved_each = amount.split(';').next().unwrap().parse::<f64>().unwrap();
            }
            statuses.push(status);
        }
        (statuses, reserved_each)
    });
    let answered = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!(answered + refused, 200, "{statuses:?}");
    assert!(answered >= 1, "a budget that allows a handful lets some through");
    // Each request reserves its prompt (with a margin) and 20 completion tokens at $0.001 each:
    // no more of them can have been in flight than fit in $1.00.
    assert!(reserved_each > 0.02, "reserved ${reserved_each} a request");
    let fit = (1.0 / reserved_each).floor() as usize;
    assert!(answered <= fit, "{answered} answered, but only {fit} reservations fit");

    // After every record is stored: what was spent is within the budget.
    assert!(server.terminate().success());
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    runtime.block_on(async {
        let summary = admin_get(&http, &gateway, "/api/usage/summary").await;
        let spent = summary["cost_usd"].as_f64().unwrap();
        assert!(spent > 0.0 && spent <= 1.0, "spent ${spent} of a $1.00 budget");
        assert_eq!(summary["requests"], 200);
        // The spending survived the restart: the budget still refuses what would overrun it.
        let (mut more, mut refused) = (0, 0);
        loop {
            let response = chat(&http, &gateway, "aw-thrifty-tenant-key-0123456789").await;
            if response.status() == 402 {
                // The request answered just before may still hold its reservation (it settles
                // a moment after the answer): a refusal that stands once it has is final.
                refused += 1;
                if refused == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            assert_eq!(response.status(), 200);
            (more, refused) = (more + 1, 0);
            assert!(more < 200, "the budget never refused");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let summary = admin_get(&http, &gateway, "/api/usage/summary").await;
        let spent = summary["cost_usd"].as_f64().unwrap();
        // Refused only once what is left is less than one request's reservation.
        assert!(spent > 1.0 - reserved_each && spent <= 1.0, "spent ${spent} of a $1.00 budget");
        // Crossing 80% was recorded for the admins.
        let audit = admin_get(&http, &gateway, "/api/audit?action=budget.threshold").await;
        let thresholds: Vec<f64> = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"]["threshold"].as_f64().unwrap())
            .collect();
        assert!(thresholds.contains(&0.8), "{audit}");
    });
}

#[test]
fn every_answer_carries_the_rate_limit_and_a_refusal_says_when_to_retry() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let tenants = r#"
[[gateway.tenants]]
name = "per-minute"
api_key = "aw-per-minute-tenant-key-0123456"
rate_limit = 3

[[gateway.tenants]]
name = "bursty"
api_key = "aw-bursty-tenant-key-0123456789a"
rate_burst = 2
rate_refill_per_sec = 1.0
"#;
    let config = config(&sandbox, &mock, tenants);
    let env = [("AGENTWATCH_CONFIG", config.to_str().unwrap())];
    let server = Server::start_with(&sandbox, &["gateway"], &env);
    let gateway = format!("http://{}", server.address_of("gateway"));
    let http = http();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // Three a minute: the headers count down, the fourth is refused for most of a minute.
        for remaining in [2, 1, 0] {
            let response = chat(&http, &gateway, "aw-per-minute-tenant-key-0123456").await;
            assert_eq!(response.status(), 200);
            assert_eq!(header(&response, "x-ratelimit-limit"), 3);
            assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
            assert!(header(&response, "x-ratelimit-reset") <= 60);
        }
        let refused = chat(&http, &gateway, "aw-per-minute-tenant-key-0123456").await;
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
        let retry = header(&refused, "retry-after");
        assert!((55..=60).contains(&retry), "Retry-After {retry}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["code"], "rate_limit_exceeded");

        // A bucket of two refilled at one a second: two at once, then one a second.
        let key = "aw-bursty-tenant-key-0123456789a";
        assert_eq!(chat(&http, &gateway, key).await.status(), 200);
        assert_eq!(chat(&http, &gateway, key).await.status(), 200);
        let refused = chat(&http, &gateway, key).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(
            (header(&refused, "retry-after"), header(&refused, "x-ratelimit-limit")),
            (1, 2)
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(chat(&http, &gateway, key).await.status(), 200);

        // Every answer to the tenant carries its limit: a malformed request's, the model list's.
        let url = format!("{gateway}/v1/chat/completions");
        let malformed = http.post(url).bearer_auth(key).header("content-type", "application/json");
        let malformed = malformed.body("{").send().await.unwrap();
        assert_eq!(malformed.status(), 400);
        assert_eq!(header(&malformed, "x-ratelimit-limit"), 2);
        let models =
            http.get(format!("{gateway}/v1/models")).bearer_auth(key).send().await.unwrap();
        assert!(models.status() == 200 || models.status() == 429, "{}", models.status());
        assert_eq!(header(&models, "x-ratelimit-limit"), 2);
    });

    // The window survives a restart: the per-minute tenant is still refused.
    assert!(server.terminate().success());
    let server = Server::start_with(&sandbox, &["gateway"], &env);
    let gateway = format!("http://{}", server.address_of("gateway"));
    runtime.block_on(async {
        let refused = chat(&http, &gateway, "aw-per-minute-tenant-key-0123456").await;
        assert_eq!(refused.status(), 429, "a restart does not reset the window");
    });
}

#[test]
fn a_malformed_token_limit_is_refused_before_it_can_outspend_its_reservation() {
    let sandbox = Sandbox::new();
    let mock = Mock::start();
    let tenants = r#"
[[gateway.tenants]]
name = "thrifty"
api_key = "aw-thrifty-tenant-key-0123456789"
daily_budget = 0.5
"#;
    let config = config(&sandbox, &mock, tenants);
    let server = Server::start_with(
        &sandbox,
        &["gateway"],
        &[("AGENTWATCH_CONFIG", config.to_str().unwrap())],
    );
    let gateway = format!("http://{}", server.address_of("gateway"));
    let http = http();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // A null limit read as "none" would be reserved as the default and sent as unlimited; a
        // null `max_completion_tokens` beside a small `max_tokens` would be reserved small and
        // sent as the provider's default. Each is refused, 40 at once.
        let limits = [
            (json!({ "max_tokens": null }), "max_tokens"),
            (json!({ "max_tokens": -5 }), "max_tokens"),
            (json!({ "max_tokens": 2.5 }), "max_tokens"),
            (json!({ "max_tokens": "100" }), "max_tokens"),
            (json!({ "max_completion_tokens": null, "max_tokens": 10 }), "max_completion_tokens"),
            (json!({ "max_completion_tokens": 10, "max_tokens": 5000 }), "max_tokens"),
            (json!({ "max_tokens": 0 }), "max_tokens"),
            (json!({ "max_tokens": 10, "n": null }), "n"),
        ];
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..40 {
            let (limit, field) = limits[i % limits.len()].clone();
            let mut body = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Say hi" }] });
            body.as_object_mut().unwrap().extend(limit.as_object().unwrap().clone());
            let (http, url) = (http.clone(), format!("{gateway}/v1/chat/completions"));
            requests.spawn(async move {
                let response = http
                    .post(url)
                    .bearer_auth("aw-thrifty-tenant-key-0123456789")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap(), field, body)
            });
        }
        while let Some(answer) = requests.join_next().await {
            let (status, error, field, body) = answer.unwrap();
            assert_eq!(status, 400, "{body}: {error}");
            assert_eq!(error["error"]["param"], field, "{body}: {error}");
        }
        // Nothing reached the provider, and nothing was reserved or spent.
        let sent = mock.requests().await;
        assert!(sent.is_empty(), "{sent:?}");
        let ok = json!({ "model": "gpt-4o-mini", "max_tokens": 5, "messages": [{ "role": "user", "content": "Say hi" }] });
        let answered = http
            .post(format!("{gateway}/v1/chat/completions"))
            .bearer_auth("aw-thrifty-tenant-key-0123456789")
            .json(&ok)
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 200, "the budget is whole");
    });
}
