//! The admin API as its users drive it: a real HTTP client against the gateway's router on a
//! real socket. Each test reads as what an operator can rely on.

use std::net::SocketAddr;
use std::time::Duration;

use gateway::Gateway;
use gateway::admin::{CreateUser, Role, create_user};
use gateway::secrets::Secret;
use gateway::settings::GatewaySettings;
use gateway::store::UsageRecord;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@alpha.example";
const PASSWORD: &str = "correct horse battery";

struct Harness {
    url: String,
    http: reqwest::Client,
    gateway: Gateway,
    storage: storage::Storage,
    dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Harness {
    async fn start(mut settings: GatewaySettings) -> Harness {
        settings.admin_email = Some(ADMIN.to_owned());
        settings.admin_password = Some(Secret::new(PASSWORD));
        let dir = tempfile::tempdir().unwrap();
        let storage = storage::testing::open(dir.path()).await;
        let gateway = Gateway::open(&settings, dir.path(), &storage).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
        gateway::install_tls();
        Harness { url, http: reqwest::Client::new(), gateway, storage, dir }
    }

    /// A second gateway on the same database, as another process or replica would be.
    async fn replica(&self) -> Harness {
        let storage = storage::testing::open(self.dir.path()).await;
        let gateway =
            Gateway::open(&GatewaySettings::default(), self.dir.path(), &storage).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = gateway.router().into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
        let dir = tempfile::tempdir().unwrap();
        Harness { url, http: reqwest::Client::new(), gateway, storage, dir }
    }

    /// The status `GET /v1/models` answers `key` with, once it is `expected` (looked at every
    /// 50 ms for up to ten seconds): how long that took.
    async fn models_turn(&self, key: &str, expected: StatusCode) -> Duration {
        let started = std::time::Instant::now();
        loop {
            let status = self.call(Method::GET, "/v1/models", Some(key), None).await.status;
            if status == expected {
                return started.elapsed();
            }
            assert!(started.elapsed().as_secs() < 10, "still {status}, not {expected}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn login(&self, email: &str, password: &str) -> Reply {
        let body = json!({ "email": email, "password": password });
        self.call(Method::POST, "/api/auth/login", None, Some(body)).await
    }

    async fn token(&self, email: &str) -> String {
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// The token of an admin of another organization, `org`, made as the operator makes one
    /// (`agentwatch admin create-user`): `admin@<org>.example`.
    async fn admin_of(&self, org: &str) -> String {
        let email = format!("admin@{org}.example");
        let admin = CreateUser {
            org: org.to_owned(),
            email: email.clone(),
            password: PASSWORD.to_owned(),
            role: Role::Admin,
        };
        create_user(self.gateway.store(), &admin).await.unwrap();
        self.token(&email).await
    }

    /// A user of `role` in the admin's organization, made through the API; its token.
    async fn user(&self, admin: &str, role: &str) -> (i64, String) {
        let email = format!("{role}@alpha.example");
        let body = json!({ "email": email, "password": PASSWORD, "role": role });
        let reply = self.post("/api/users", admin, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        (reply.body["id"].as_i64().unwrap(), self.token(&email).await)
    }
}

fn created(reply: &Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

fn usage(org_id: i64, tenant_id: i64, model: &str, cost: f64, day: &str) -> UsageRecord {
    let created_at_ms = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    UsageRecord {
        request_id: format!("req-{model}-{day}-{cost}"),
        org_id,
        tenant_id: Some(tenant_id),
        team_id: None,
        endpoint: "chat.completions",
        provider_id: None,
        provider: Some("primary".to_owned()),
        model: model.to_owned(),
        prompt_tokens: 100,
        completion_tokens: 20,
        cache_read_tokens: 60,
        cache_write_tokens: 10,
        tokens_source: "provider",
        cost_usd: cost,
        latency_ms: 40,
        ttft_ms: None,
        status: 200,
        error: None,
        streamed: false,
        attempts: 1,
        dlp_events: 1,
        dlp: Some(r#"{"email":{"log":1}}"#.to_owned()),
        tool: None,
        result_bytes: None,
        reservation: None,
        trace: Default::default(),
        created_at_ms,
    }
}

#[tokio::test]
async fn a_login_gives_a_token_that_me_honours_until_logout_revokes_it() {
    let h = Harness::start(GatewaySettings::default()).await;

    let login = h.login(ADMIN, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["expires_in"], 24 * 3600);
    assert_eq!(login.body["user"]["role"], "admin");
    let token = login.body["token"].as_str().unwrap();

    let me = h.get("/api/auth/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], ADMIN);
    assert_eq!(me.body["org"]["name"], "default");
    assert!(me.body["last_login_at"].is_string());

    let logout = h.post("/api/auth/logout", token, json!({})).await;
    assert_eq!(logout.status, StatusCode::OK);
    let after = h.get("/api/auth/me", token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.body["error"]["message"].as_str().unwrap().contains("logged out"));

    // Emails are matched whatever their case; a wrong password or unknown email is one answer.
    assert_eq!(h.login("Admin@Alpha.example", PASSWORD).await.status, StatusCode::OK);
    let wrong = h.login(ADMIN, "not the password at all").await;
    let unknown = h.login("nobody@alpha.example", PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);

    let none = h.call(Method::GET, "/api/auth/me", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.body["error"]["code"], "invalid_token");
    let forged = h.get("/api/auth/me", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_lock_an_account_until_the_lock_ends_or_an_admin_unlocks_it() {
    let settings = GatewaySettings { lockout_attempts: 3, lockout_secs: 2, ..Default::default() };
    let h = Harness::start(settings).await;
    let admin = h.token(ADMIN).await;
    let (viewer_id, _) = h.user(&admin, "viewer").await;
    let viewer = "viewer@alpha.example";

    for _ in 0..2 {
        assert_eq!(h.login(viewer, "wrong password!!").await.status, StatusCode::UNAUTHORIZED);
    }
    let locked = h.login(viewer, "wrong password!!").await;
    assert_eq!(locked.status, StatusCode::LOCKED, "{}", locked.body);
    assert_eq!(locked.body["error"]["code"], "account_locked");
    assert!(locked.body["error"]["message"].as_str().unwrap().contains("until 20"));
    let retry: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Even the right password waits for the lock to end.
    assert_eq!(h.login(viewer, PASSWORD).await.status, StatusCode::LOCKED);
    let users = h.get(&format!("/api/users/{viewer_id}"), &admin).await;
    assert!(users.body["locked_until"].is_string());

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(h.login(viewer, PASSWORD).await.status, StatusCode::OK);

    // Locked again, an admin unlocks it at once.
    for _ in 0..3 {
        h.login(viewer, "wrong password!!").await;
    }
    assert_eq!(h.login(viewer, PASSWORD).await.status, StatusCode::LOCKED);
    let unlocked = h.post(&format!("/api/users/{viewer_id}/unlock"), &admin, json!({})).await;
    assert_eq!(unlocked.status, StatusCode::OK);
    assert!(unlocked.body["locked_until"].is_null());
    assert_eq!(h.login(viewer, PASSWORD).await.status, StatusCode::OK);

    // The audit log tells the story, without a password in it.
    let audit = h.get("/api/audit?action=user.locked", &admin).await;
    assert_eq!(audit.body["total"], 2);
    assert!(audit.body["data"][0]["user_id"].is_null(), "the gateway locked it, nobody else");
    let all = h.get("/api/audit?limit=1000", &admin).await.body.to_string();
    assert!(all.contains("user.unlock") && !all.contains(PASSWORD));
}

#[tokio::test]
async fn someone_who_knows_only_an_email_cannot_lock_its_owner_out() {
    let settings = GatewaySettings { lockout_attempts: 3, lockout_secs: 600, ..Default::default() };
    let h = Harness::start(settings).await;
    // The attacker guesses from another address (127.0.0.2, on this machine's loopback).
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let guess = |password: &'static str| {
        let body = json!({ "email": ADMIN, "password": password });
        attacker.post(format!("{}/api/auth/login", h.url)).json(&body).send()
    };
    for _ in 0..2 {
        assert_eq!(guess("wrong password!!").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..10 {
        assert_eq!(guess("wrong password!!").await.unwrap().status(), StatusCode::LOCKED);
    }
    // Locked for the attacker's address, even with the right password…
    assert_eq!(guess(PASSWORD).await.unwrap().status(), StatusCode::LOCKED);
    // …while the owner, elsewhere, logs in, the last admin though it is.
    let owner = h.login(ADMIN, PASSWORD).await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    assert_eq!(guess(PASSWORD).await.unwrap().status(), StatusCode::LOCKED, "still theirs alone");
}

/// The routes of the admin API with the least role each needs, and what it answers then.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    least: Role,
    answers: StatusCode,
}

fn route(method: Method, path: String, body: Option<Value>, least: Role, answers: u16) -> Route {
    Route { method, path, body, least, answers: StatusCode::from_u16(answers).unwrap() }
}

#[tokio::test]
async fn every_route_answers_each_role_as_documented_and_nothing_without_a_token() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let (_, member) = h.user(&admin, "member").await;
    let (viewer_id, viewer) = h.user(&admin, "viewer").await;

    // What the routes act on. The provider points at a closed port: its test fails fast.
    let provider =
        json!({ "name": "local", "kind": "custom", "base_url": "http://127.0.0.1:9/v1" });
    let p = created(&h.post("/api/providers", &admin, provider).await);
    let doomed =
        json!({ "name": "doomed", "kind": "openai", "base_url": "https://api.openai.com/v1" });
    let p2 = created(&h.post("/api/providers", &admin, doomed).await);
    let k2 = created(
        &h.post(
            &format!("/api/providers/{p}/keys"),
            &admin,
            json!({ "key": "sk-doomed-0123456789" }),
        )
        .await,
    );
    let t = created(&h.post("/api/teams", &admin, json!({ "name": "platform" })).await);
    let t2 = created(&h.post("/api/teams", &admin, json!({ "name": "doomed" })).await);
    let n = created(&h.post("/api/tenants", &admin, json!({ "name": "app", "team_id": t })).await);

    use Method as M;
    use Role::{Admin, Member, Viewer};
    let routes = [
        route(M::GET, "/api/auth/me".into(), None, Viewer, 200),
        route(M::GET, "/api/users".into(), None, Admin, 200),
        route(
            M::POST,
            "/api/users".into(),
            Some(json!({"email": "new@alpha.example", "password": PASSWORD, "role": "viewer"})),
            Admin,
            201,
        ),
        route(M::GET, format!("/api/users/{viewer_id}"), None, Admin, 200),
        route(
            M::PATCH,
            format!("/api/users/{viewer_id}"),
            Some(json!({"role": "viewer"})),
            Admin,
            200,
        ),
        route(M::POST, format!("/api/users/{viewer_id}/unlock"), None, Admin, 200),
        route(M::GET, "/api/providers".into(), None, Viewer, 200),
        route(
            M::POST,
            "/api/providers".into(),
            Some(
                json!({"name": "new", "kind": "openrouter", "base_url": "https://openrouter.ai/api/v1"}),
            ),
            Admin,
            201,
        ),
        route(M::GET, format!("/api/providers/{p}"), None, Viewer, 200),
        route(M::PATCH, format!("/api/providers/{p}"), Some(json!({"priority": 50})), Admin, 200),
        route(M::POST, format!("/api/providers/{p}/test"), None, Member, 200),
        route(M::GET, format!("/api/providers/{p}/keys"), None, Viewer, 200),
        route(
            M::POST,
            format!("/api/providers/{p}/keys"),
            Some(json!({"key": "sk-extra-0123456789"})),
            Admin,
            201,
        ),
        route(M::DELETE, format!("/api/providers/{p}/keys/{k2}"), None, Admin, 204),
        route(M::DELETE, format!("/api/providers/{p2}"), None, Admin, 204),
        route(M::GET, "/api/teams".into(), None, Viewer, 200),
        route(M::POST, "/api/teams".into(), Some(json!({"name": "data"})), Member, 201),
        route(
            M::PATCH,
            format!("/api/teams/{t}"),
            Some(json!({"monthly_budget": 100.0})),
            Member,
            200,
        ),
        route(M::DELETE, format!("/api/teams/{t2}"), None, Member, 204),
        route(M::GET, "/api/tenants".into(), None, Viewer, 200),
        route(M::POST, "/api/tenants".into(), Some(json!({"name": "batch"})), Member, 201),
        route(M::GET, format!("/api/tenants/{n}"), None, Viewer, 200),
        route(M::PATCH, format!("/api/tenants/{n}"), Some(json!({"rate_limit": 600})), Member, 200),
        route(M::POST, format!("/api/tenants/{n}/suspend"), None, Member, 200),
        route(M::POST, format!("/api/tenants/{n}/activate"), None, Member, 200),
        route(M::POST, format!("/api/tenants/{n}/rotate-key"), None, Member, 200),
        route(M::GET, "/api/usage".into(), None, Viewer, 200),
        route(M::GET, "/api/usage/summary".into(), None, Viewer, 200),
        route(M::GET, "/api/usage/breakdown?group_by=tenant".into(), None, Viewer, 200),
        route(M::GET, "/api/usage/series?split_by=model".into(), None, Viewer, 200),
        route(M::GET, "/api/usage/latency?bucket=hour".into(), None, Viewer, 200),
        route(M::GET, "/api/usage/dlp".into(), None, Viewer, 200),
        route(M::GET, "/api/audit".into(), None, Admin, 200),
        route(M::GET, "/api/alerts?open=true".into(), None, Viewer, 200),
        route(M::GET, "/api/org".into(), None, Viewer, 200),
        route(M::PATCH, "/api/org".into(), Some(json!({"dlp_policy": null})), Admin, 200),
        route(M::POST, "/api/access/identify".into(), None, Viewer, 200),
        route(M::POST, "/api/access/admit".into(), None, Viewer, 200),
        route(
            M::POST,
            "/api/access/calls".into(),
            Some(
                json!({"surface": "mcp", "tool": "search_code", "latency_ms": 3, "status": 200, "result_bytes": 10}),
            ),
            Viewer,
            202,
        ),
    ];

    for r in &routes {
        let anonymous = h.call(r.method.clone(), &r.path, None, r.body.clone()).await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{} {} without a token",
            r.method,
            r.path
        );
        // From the least role up: below it 403; at it, the documented answer (at higher roles a
        // create may clash or a delete find nothing left, but never 403).
        let mut answered = false;
        for (role, token) in [(Viewer, &viewer), (Member, &member), (Admin, &admin)] {
            let reply = h.call(r.method.clone(), &r.path, Some(token), r.body.clone()).await;
            let what = format!("{} {} as {}: {}", r.method, r.path, role.as_str(), reply.body);
            if role < r.least {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(reply.body["error"]["code"], "forbidden", "{what}");
            } else if !answered {
                assert_eq!(reply.status, r.answers, "{what}");
                answered = true;
            } else {
                assert_ne!(reply.status, StatusCode::FORBIDDEN, "{what}");
            }
        }
    }

    // The OpenAPI document lists every one of these routes; /docs renders it.
    let openapi = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    let paths = openapi.body["paths"].as_object().unwrap();
    for r in &routes {
        let template = r
            .path
            .split('?')
            .next()
            .unwrap()
            .split('/')
            .map(|segment| if segment.parse::<i64>().is_ok() { "{id}" } else { segment });
        let template = template.collect::<Vec<_>>().join("/").replace("keys/{id}", "keys/{key_id}");
        let documented = paths.get(&template).and_then(|p| p.get(r.method.as_str().to_lowercase()));
        assert!(documented.is_some(), "{} {template} is not in /openapi.json", r.method);
    }
    assert!(paths.contains_key("/api/auth/login") && paths.contains_key("/readyz"));
}

/// `/docs` renders `/openapi.json` with a viewer the gateway serves itself: an air-gapped browser
/// shows it whole, and "try it" goes to this gateway, through no one's proxy.
#[tokio::test]
async fn the_api_reference_page_loads_nothing_from_elsewhere() {
    let h = Harness::start(GatewaySettings::default()).await;
    let page = h.http.get(format!("{}/docs", h.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("url: '/openapi.json'") && page.contains("proxyUrl: ''"), "{page}");
    assert!(page.contains("telemetry: false") && page.contains("withDefaultFonts: false"));
    assert!(
        page.contains("showDeveloperTools: 'never'") && page.contains("agent: { disabled: true }")
    );
    let sources: Vec<&str> =
        page.split("src=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(sources, ["/docs/scalar.js"]);
    assert!(!page.contains("://"), "no address elsewhere: {page}");
    let script = h.http.get(format!("{}/docs/scalar.js", h.url)).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let script = script.text().await.unwrap();
    assert!(script.len() > 1_000_000 && script.contains("createApiReference"));
}

#[tokio::test]
async fn the_dashboard_is_served_whole_from_the_binary_and_may_load_nothing_from_elsewhere() {
    let h = Harness::start(GatewaySettings::default()).await;
    let root = h.http.get(format!("{}/", h.url)).send().await.unwrap();
    assert!(root.url().path() == "/dashboard/", "/ leads to the dashboard: {}", root.url());
    let policy = root.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for rule in
        ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(policy.contains(rule), "{rule} in {policy}");
    }
    let page = root.text().await.unwrap();
    assert!(!page.contains("://"), "no address elsewhere: {page}");
    let sources: Vec<&str> =
        page.split("src=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(
        sources,
        ["/dashboard/vendor/preact-htm.js", "/dashboard/vendor/chart.js", "/dashboard/app.js"]
    );
    for (path, holds) in [
        ("/dashboard/vendor/preact-htm.js", "htmPreact"),
        ("/dashboard/vendor/chart.js", "Chart"),
        ("/dashboard/app.js", "/api/usage/series"),
        ("/dashboard/app.css", "--accent"),
    ] {
        let first = h.http.get(format!("{}{path}", h.url)).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let etag = first.headers()["etag"].clone();
        assert!(first.text().await.unwrap().contains(holds), "{path}");
        // A repeat visit revalidates and gets nothing again.
        let again = h.http.get(format!("{}{path}", h.url)).header("if-none-match", etag);
        let again = again.send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn another_organizations_data_is_invisible_and_its_ids_are_404() {
    let h = Harness::start(GatewaySettings::default()).await;
    let alpha = h.token(ADMIN).await;
    let beta = h.admin_of("beta").await;

    let provider =
        json!({ "name": "shared-name", "kind": "openai", "base_url": "https://api.openai.com/v1" });
    let p = created(&h.post("/api/providers", &alpha, provider.clone()).await);
    let k = created(
        &h.post(
            &format!("/api/providers/{p}/keys"),
            &alpha,
            json!({ "key": "sk-alpha-0123456789" }),
        )
        .await,
    );
    let t = created(&h.post("/api/teams", &alpha, json!({ "name": "platform" })).await);
    let n = created(&h.post("/api/tenants", &alpha, json!({ "name": "app", "team_id": t })).await);
    let (u, _) = h.user(&alpha, "member").await;
    // Names are per organization: beta may use the same ones.
    let beta_provider = created(&h.post("/api/providers", &beta, provider).await);

    let me = h.get("/api/auth/me", &alpha).await;
    let alpha_org = me.body["org"]["id"].as_i64().unwrap();
    h.gateway
        .store()
        .insert_usage(&[usage(alpha_org, n, "gpt-4o", 0.5, "2026-11-02")])
        .await
        .unwrap();

    for (method, path, body) in [
        (Method::GET, format!("/api/providers/{p}"), None),
        (Method::PATCH, format!("/api/providers/{p}"), Some(json!({ "enabled": false }))),
        (Method::DELETE, format!("/api/providers/{p}"), None),
        (Method::DELETE, format!("/api/providers/{p}/keys/{k}"), None),
        (Method::DELETE, format!("/api/providers/{beta_provider}/keys/{k}"), None),
        (Method::POST, format!("/api/tenants/{n}/activate"), None),
        (Method::POST, format!("/api/providers/{p}/test"), None),
        (Method::GET, format!("/api/providers/{p}/keys"), None),
        (
            Method::POST,
            format!("/api/providers/{p}/keys"),
            Some(json!({ "key": "sk-beta-0123456789" })),
        ),
        (Method::PATCH, format!("/api/teams/{t}"), Some(json!({ "name": "mine" }))),
        (Method::DELETE, format!("/api/teams/{t}"), None),
        (Method::GET, format!("/api/tenants/{n}"), None),
        (Method::PATCH, format!("/api/tenants/{n}"), Some(json!({ "status": "suspended" }))),
        (Method::POST, format!("/api/tenants/{n}/suspend"), None),
        (Method::POST, format!("/api/tenants/{n}/rotate-key"), None),
        (Method::GET, format!("/api/users/{u}"), None),
        (Method::PATCH, format!("/api/users/{u}"), Some(json!({ "disabled": true }))),
        (Method::POST, format!("/api/users/{u}/unlock"), None),
    ] {
        let reply = h.call(method.clone(), &path, Some(&beta), body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {}", reply.body);
    }
    // Beta's own alpha-team reference is refused as a bad field, not silently accepted.
    let foreign_team = h.post("/api/tenants", &beta, json!({ "name": "spy", "team_id": t })).await;
    assert_eq!(foreign_team.status, StatusCode::BAD_REQUEST);
    assert_eq!(foreign_team.body["error"]["param"], "team_id");

    // Beta's lists hold exactly its own rows.
    let ids = |v: &Value| {
        v.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&h.get("/api/providers", &beta).await.body), [beta_provider]);
    assert_eq!(ids(&h.get("/api/teams", &beta).await.body), Vec::<i64>::new());
    assert_eq!(ids(&h.get("/api/tenants", &beta).await.body["data"]), Vec::<i64>::new());
    let users = h.get("/api/users", &beta).await.body;
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["email"], "admin@beta.example");
    let filtered = h.get(&format!("/api/usage?tenant_id={n}&team_id={t}"), &beta).await;
    assert_eq!(filtered.body["total"], 0, "alpha's ids as filters find nothing");
    let summary =
        h.get("/api/usage/summary?start_date=2026-11-01&end_date=2026-11-30", &beta).await;
    assert_eq!(summary.body["requests"], 0);
    let theirs =
        h.get("/api/usage/summary?start_date=2026-11-01&end_date=2026-11-30", &alpha).await;
    assert_eq!(theirs.body["requests"], 1);
    let audit = h.get("/api/audit?limit=1000", &beta).await.body.to_string();
    assert!(!audit.contains("alpha.example"), "{audit}");
    // Nothing of alpha's changed.
    let tenant = h.get(&format!("/api/tenants/{n}"), &alpha).await.body;
    assert_eq!((&tenant["status"], &tenant["team_id"]), (&json!("active"), &json!(t)));
    let provider = h.get(&format!("/api/providers/{p}"), &alpha).await.body;
    assert_eq!((&provider["enabled"], &provider["keys"]), (&json!(true), &json!(1)));
    assert_eq!(h.get("/api/teams", &alpha).await.body[0]["name"], "platform");
    let member = h.get(&format!("/api/users/{u}"), &alpha).await.body;
    assert_eq!(member["disabled"], false);
}

#[tokio::test]
async fn provider_keys_are_shown_masked_and_never_stored_in_plain_text() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let provider =
        json!({ "name": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1/" });
    let p = created(&h.post("/api/providers", &admin, provider).await);
    let secret = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let body = json!({ "key": secret, "label": "prod", "rpm_limit": 600 });
    let added = h.post(&format!("/api/providers/{p}/keys"), &admin, body).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["key"], "sk-p…6789");
    assert_eq!(added.body["concurrency_limit"], 10, "the default");
    assert_eq!(added.body["rpm_limit"], 600);

    let listed = h.get(&format!("/api/providers/{p}/keys"), &admin).await;
    assert_eq!(listed.body[0]["key"], "sk-p…6789");
    let provider = h.get(&format!("/api/providers/{p}"), &admin).await;
    assert_eq!(provider.body["keys"], 1);
    assert_eq!(provider.body["base_url"], "https://api.openai.com/v1", "trailing slash trimmed");
    assert_eq!(provider.body["circuit"], "closed");

    // Nowhere in the API's answers, the audit log or the database.
    let audit = h.get("/api/audit?limit=1000", &admin).await.body.to_string();
    assert!(!audit.contains(secret) && audit.contains("sk-p…6789"));
    let mut bytes = Vec::new();
    match h.storage.backend() {
        storage::Backend::Sqlite => {
            for file in ["agentwatch.db", "agentwatch.db-wal"] {
                bytes.extend(std::fs::read(h.dir.path().join(file)).unwrap_or_default());
            }
        }
        storage::Backend::Postgres => {
            let keys: Vec<(Vec<u8>, String)> =
                sqlx::query_as("SELECT sealed, hint FROM provider_keys")
                    .fetch_all(h.storage.pool())
                    .await
                    .unwrap();
            for (sealed, hint) in keys {
                bytes.extend(sealed);
                bytes.extend(hint.into_bytes());
            }
        }
    }
    assert!(!bytes.is_empty());
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let cases = [
        (
            "/api/providers",
            json!({ "name": "x", "kind": "openai", "base_url": "ftp://example.com" }),
            "base_url",
        ),
        (
            "/api/providers",
            json!({ "name": " ", "kind": "openai", "base_url": "https://a.example" }),
            "name",
        ),
        ("/api/tenants", json!({ "name": "t", "daily_budget": -1.0 }), "daily_budget"),
        ("/api/tenants", json!({ "name": "t", "rate_limit": 0 }), "rate_limit"),
        (
            "/api/users",
            json!({ "email": "someone", "password": PASSWORD, "role": "viewer" }),
            "email",
        ),
        (
            "/api/users",
            json!({ "email": "a@b.example", "password": "short", "role": "viewer" }),
            "password",
        ),
    ];
    for (path, body, field) in cases {
        let reply = h.post(path, &admin, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", reply.body);
        assert_eq!(reply.body["error"]["param"], field, "{path} {body}: {}", reply.body);
    }
    // Shape errors come from the JSON parser, which names the field.
    for (body, field) in [
        (json!({ "kind": "openai", "base_url": "https://a.example" }), "name"),
        (json!({ "name": "x", "kind": "bedrock", "base_url": "https://a.example" }), "bedrock"),
        (
            json!({ "name": "x", "kind": "openai", "base_url": "https://a.example", "colour": 1 }),
            "colour",
        ),
    ] {
        let reply = h.post("/api/providers", &admin, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(field), "{}", reply.body);
    }
    // A field that cannot be null is refused as null, not ignored.
    let p = created(
        &h.post(
            "/api/providers",
            &admin,
            json!({ "name": "p", "kind": "openai", "base_url": "https://a.example" }),
        )
        .await,
    );
    let null = h
        .call(
            Method::PATCH,
            &format!("/api/providers/{p}"),
            Some(&admin),
            Some(json!({ "name": null })),
        )
        .await;
    assert_eq!(null.status, StatusCode::BAD_REQUEST, "{}", null.body);
    assert!(null.body["error"]["message"].as_str().unwrap().contains("name"), "{}", null.body);
    // A role that may not call a route hears 403 before its body is even read.
    let (_, viewer) = h.user(&admin, "viewer").await;
    let garbage =
        h.call(Method::POST, "/api/providers", Some(&viewer), Some(json!("garbage"))).await;
    assert_eq!(garbage.status, StatusCode::FORBIDDEN, "{}", garbage.body);

    // A limit above the most one page holds is clamped, as on every list of both ports.
    let limit = h.get("/api/usage?limit=5000", &admin).await;
    assert_eq!((limit.status, &limit.body["limit"]), (StatusCode::OK, &json!(1000)));
    let date = h.get("/api/usage/summary?start_date=last-week", &admin).await;
    assert_eq!(date.body["error"]["param"], "start_date");
    let group = h.get("/api/usage/breakdown?group_by=colour", &admin).await;
    assert_eq!(group.status, StatusCode::BAD_REQUEST);
    assert!(
        group.body["error"]["message"].as_str().unwrap().contains("group_by"),
        "{}",
        group.body
    );

    // The last enabled admin can neither be demoted nor disabled.
    let me = h.get("/api/auth/me", &admin).await.body["id"].as_i64().unwrap();
    let path = format!("/api/users/{me}");
    let demote =
        h.call(Method::PATCH, &path, Some(&admin), Some(json!({ "role": "member" }))).await;
    assert_eq!(demote.status, StatusCode::CONFLICT, "{}", demote.body);
    let disable =
        h.call(Method::PATCH, &path, Some(&admin), Some(json!({ "disabled": true }))).await;
    assert_eq!(disable.status, StatusCode::CONFLICT);
    let taken = json!({ "email": ADMIN, "password": PASSWORD, "role": "viewer" });
    assert_eq!(h.post("/api/users", &admin, taken).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn disabling_a_user_ends_its_sessions_and_role_changes_apply_at_once() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let (id, member) = h.user(&admin, "member").await;
    assert_eq!(
        h.post("/api/teams", &member, json!({ "name": "a" })).await.status,
        StatusCode::CREATED
    );

    let path = format!("/api/users/{id}");
    h.call(Method::PATCH, &path, Some(&admin), Some(json!({ "role": "viewer" }))).await;
    let demoted = h.post("/api/teams", &member, json!({ "name": "b" })).await;
    assert_eq!(demoted.status, StatusCode::FORBIDDEN, "the same token, the new role");

    h.call(Method::PATCH, &path, Some(&admin), Some(json!({ "disabled": true }))).await;
    assert_eq!(h.get("/api/auth/me", &member).await.status, StatusCode::UNAUTHORIZED);
    let login = h.login("member@alpha.example", PASSWORD).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert!(login.body["error"]["message"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn tenant_changes_are_live_on_the_llm_api_at_once() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let created =
        h.post("/api/tenants", &admin, json!({ "name": "app", "monthly_budget": 25.0 })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_i64().unwrap();
    let key = created.body["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created.body["key_prefix"].as_str().unwrap()));
    assert!(
        h.get(&format!("/api/tenants/{id}"), &admin).await.body.get("api_key").is_none(),
        "shown once"
    );

    let models = |key: String| {
        let h = &h;
        async move { h.call(Method::GET, "/v1/models", Some(&key), None).await.status }
    };
    assert_eq!(models(key.clone()).await, StatusCode::OK);
    h.post(&format!("/api/tenants/{id}/suspend"), &admin, json!({})).await;
    assert_eq!(models(key.clone()).await, StatusCode::FORBIDDEN);
    h.post(&format!("/api/tenants/{id}/activate"), &admin, json!({})).await;
    assert_eq!(models(key.clone()).await, StatusCode::OK);
    let rotated = h.post(&format!("/api/tenants/{id}/rotate-key"), &admin, json!({})).await;
    let new_key = rotated.body["api_key"].as_str().unwrap().to_owned();
    assert_eq!(models(key).await, StatusCode::UNAUTHORIZED, "the old key stops at once");
    assert_eq!(models(new_key).await, StatusCode::OK);

    let filtered = h.get("/api/tenants?status=suspended", &admin).await;
    assert_eq!(filtered.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(filtered.body["total"], 0);
    let active = h.get("/api/tenants?status=active", &admin).await;
    assert_eq!(active.body["data"][0]["monthly_budget"], 25.0);

    // The list pages like the other lists: `page`, `limit`, `total`, `has_more`.
    for name in ["batch", "nightly"] {
        let made = h.post("/api/tenants", &admin, json!({ "name": name })).await;
        assert_eq!(made.status, StatusCode::CREATED);
    }
    let first = h.get("/api/tenants?limit=2", &admin).await.body;
    let names = |page: &Value| -> Vec<Value> {
        page["data"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect()
    };
    assert_eq!(names(&first), [json!("app"), json!("batch")]);
    assert_eq!((&first["total"], &first["has_more"]), (&json!(3), &json!(true)));
    let second = h.get("/api/tenants?limit=2&page=2", &admin).await.body;
    assert_eq!(names(&second), [json!("nightly")]);
    assert_eq!(second["has_more"], false);
}

/// Replicas (or processes) on one database: what an admin changes through one is what every
/// other one enforces within about a second (each looks every half second), and a logout ends
/// the session everywhere at once.
#[tokio::test]
async fn an_admin_change_made_on_one_replica_reaches_the_others() {
    let one = Harness::start(GatewaySettings::default()).await;
    let other = one.replica().await;
    let admin = one.token(ADMIN).await;
    let created = one.post("/api/tenants", &admin, json!({ "name": "app" })).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_i64().unwrap();
    let key = created.body["api_key"].as_str().unwrap().to_owned();

    let took = other.models_turn(&key, StatusCode::OK).await;
    eprintln!("a new tenant reached the other replica in {took:?}");
    one.post(&format!("/api/tenants/{id}/suspend"), &admin, json!({})).await;
    let took = other.models_turn(&key, StatusCode::FORBIDDEN).await;
    eprintln!("a suspension reached the other replica in {took:?}");

    assert_eq!(other.get("/api/auth/me", &admin).await.status, StatusCode::OK);
    let out = one.post("/api/auth/logout", &admin, json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(other.get("/api/auth/me", &admin).await.status, StatusCode::UNAUTHORIZED);
}

/// A team's budget edit holds for its tenants' very next request: nothing else needs to change
/// first.
#[tokio::test]
async fn a_team_s_budget_edit_takes_effect_at_once() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    // A provider whose port is closed: a request within budget reaches it and fails (502).
    let provider =
        json!({ "name": "local", "kind": "custom", "base_url": "http://127.0.0.1:9/v1" });
    let p = created(&h.post("/api/providers", &admin, provider).await);
    h.post(&format!("/api/providers/{p}/keys"), &admin, json!({ "key": "sk-0123456789abcdef" }))
        .await;
    let team = json!({ "name": "platform", "daily_budget": 100.0 });
    let team = created(&h.post("/api/teams", &admin, team).await);
    let tenant = h.post("/api/tenants", &admin, json!({ "name": "app", "team_id": team })).await;
    let key = tenant.body["api_key"].as_str().unwrap().to_owned();
    let chat = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }] });
    let ask = || h.call(Method::POST, "/v1/chat/completions", Some(&key), Some(chat.clone()));

    let within = ask().await;
    assert_eq!(within.status, StatusCode::BAD_GATEWAY, "{}", within.body);
    let cut = json!({ "daily_budget": 0.000001 });
    let edited =
        h.call(Method::PATCH, &format!("/api/teams/{team}"), Some(&admin), Some(cut)).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let over = ask().await;
    assert_eq!(over.status, StatusCode::PAYMENT_REQUIRED, "{}", over.body);
}

#[tokio::test]
async fn a_member_may_tighten_the_organization_s_dlp_policy_for_a_tenant_but_not_loosen_it() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let policy = json!({ "dlp_policy": { "secrets": "block" } });
    assert_eq!(
        h.call(Method::PATCH, "/api/org", Some(&admin), Some(policy)).await.status,
        StatusCode::OK
    );
    let (_, member) = h.user(&admin, "member").await;

    let loosen = [
        json!({ "secrets": "log" }),
        json!({ "actions": { "aws_access_key": "redact" } }),
        json!({ "allowlist": ["AKIAZ7QW3ERT5YUI2OPL"] }),
        json!({ "min_confidence": 0.99 }),
    ];
    for (i, dlp) in loosen.iter().enumerate() {
        let body = json!({ "name": format!("loose-{i}"), "dlp_policy": dlp });
        let refused = h.post("/api/tenants", &member, body).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{dlp}: {}", refused.body);
        assert!(refused.body.to_string().contains("only tighten"), "{}", refused.body);
    }
    // Tightening is a member's to do; an existing tenant cannot be loosened afterwards either.
    let tight = json!({ "name": "tight", "dlp_policy": { "personal_data": "redact" } });
    let tight = h.post("/api/tenants", &member, tight).await;
    assert_eq!(tight.status, StatusCode::CREATED, "{}", tight.body);
    let id = tight.body["id"].as_i64().unwrap();
    let patch = json!({ "dlp_policy": { "secrets": "log" } });
    let refused = h
        .call(Method::PATCH, &format!("/api/tenants/{id}"), Some(&member), Some(patch.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // An admin decides otherwise.
    let allowed =
        h.call(Method::PATCH, &format!("/api/tenants/{id}"), Some(&admin), Some(patch)).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

#[tokio::test]
async fn an_organizations_dlp_policy_is_its_tenants_unless_they_have_their_own() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let policy = json!({ "dlp_policy": { "personal_data": "block" } });
    let org = h.call(Method::PATCH, "/api/org", Some(&admin), Some(policy)).await;
    assert_eq!(org.status, StatusCode::OK, "{}", org.body);
    assert_eq!(org.body["effective_dlp_policy"]["personal_data"], "block");
    assert_eq!(org.body["effective_dlp_policy"]["secrets"], "redact", "the default's, beneath");

    let strict = h.post("/api/tenants", &admin, json!({ "name": "strict" })).await;
    let strict_key = strict.body["api_key"].as_str().unwrap().to_owned();
    let own = json!({ "name": "own", "dlp_policy": { "personal_data": "log" } });
    let own = h.post("/api/tenants", &admin, own).await;
    let own_key = own.body["api_key"].as_str().unwrap().to_owned();

    // What a knowledge server in another process learns of each tenant's key.
    let identified = h.call(Method::POST, "/api/access/identify", Some(&strict_key), None).await;
    assert_eq!(identified.status, StatusCode::OK, "{}", identified.body);
    assert_eq!(identified.body["who"]["kind"], "tenant");
    assert_eq!(identified.body["default_org"], true);
    assert_eq!(identified.body["dlp_policy"]["personal_data"], "block");
    let identified = h.call(Method::POST, "/api/access/identify", Some(&own_key), None).await;
    assert_eq!(identified.body["dlp_policy"]["personal_data"], "log", "its own, over the org's");

    // And on the LLM API: blocked before any provider is chosen.
    let chat = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "mail ada@lovelace.dev" }] });
    let refused = h.call(Method::POST, "/v1/chat/completions", Some(&strict_key), Some(chat)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "dlp_blocked");

    // A tenant's call is admitted under its rate limit, and a bad record is refused.
    let admitted = h.call(Method::POST, "/api/access/admit", Some(&own_key), None).await;
    assert_eq!(admitted.status, StatusCode::OK);
    assert!(admitted.headers.contains_key("x-ratelimit-remaining"));
    let bad =
        json!({ "surface": "mcp", "tool": "", "latency_ms": 1, "status": 200, "result_bytes": 0 });
    let bad = h.call(Method::POST, "/api/access/calls", Some(&own_key), Some(bad)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let unknown = h.call(Method::POST, "/api/access/identify", Some("aw-nobody"), None).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn call_reports_take_only_the_knowledge_server_s_names_and_no_more_than_were_admitted() {
    let settings =
        GatewaySettings { rate_burst: 3, rate_refill_per_sec: 0.001, ..Default::default() };
    let h = Harness::start(settings).await;
    let admin = h.token(ADMIN).await;
    let tenant = h.post("/api/tenants", &admin, json!({ "name": "agents" })).await;
    let key = tenant.body["api_key"].as_str().unwrap().to_owned();
    let report = |tool: &str, status: u16| {
        let surface = if tool.contains(' ') { "rest" } else { "mcp" };
        json!({ "surface": surface, "tool": tool, "latency_ms": 1, "status": status, "result_bytes": 0 })
    };
    let send = |body: Value| h.call(Method::POST, "/api/access/calls", Some(&key), Some(body));

    // Invented names would become label values on /metrics: refused, naming what is taken.
    for tool in ["drop_tables", "search_code\"}", "GET /etc/passwd", "BREW /api/knowledge/search"] {
        let refused = send(report(tool, 200)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{tool}: {}", refused.body);
        assert!(
            refused.body.to_string().contains("is not a knowledge server call"),
            "{}",
            refused.body
        );
    }
    let refused = send(report("search_code", 999)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    // One admitted call, one report, nothing taken twice; the bucket holds 3.
    let admitted = h.call(Method::POST, "/api/access/admit", Some(&key), None).await;
    assert_eq!(admitted.headers["x-ratelimit-remaining"], "2");
    assert_eq!(send(report("search_code", 200)).await.status, StatusCode::ACCEPTED);
    assert_eq!(send(report("GET /api/knowledge/search", 200)).await.status, StatusCode::ACCEPTED);
    // Reports beyond the calls admitted take from the rate limit like calls, then stop.
    assert_eq!(send(report("read_file", 200)).await.status, StatusCode::ACCEPTED);
    let flooded = send(report("read_file", 200)).await;
    assert_eq!(flooded.status, StatusCode::TOO_MANY_REQUESTS, "{}", flooded.body);
    assert!(flooded.headers.contains_key("retry-after"));

    let metrics = h.call(Method::GET, "/metrics", None, None).await.body.to_string();
    assert!(!metrics.contains("drop_tables") && !metrics.contains("BREW"), "{metrics}");
}

#[tokio::test]
async fn usage_is_paged_summed_and_broken_down_for_the_period_asked() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let team = created(&h.post("/api/teams", &admin, json!({ "name": "platform" })).await);
    let a = created(&h.post("/api/tenants", &admin, json!({ "name": "a", "team_id": team })).await);
    let b = created(&h.post("/api/tenants", &admin, json!({ "name": "b" })).await);
    let org = h.get("/api/auth/me", &admin).await.body["org"]["id"].as_i64().unwrap();
    let mut records = vec![
        usage(org, a, "gpt-4o", 1.0, "2026-10-31"),
        usage(org, a, "gpt-4o", 2.0, "2026-11-01"),
        usage(org, a, "gpt-4o-mini", 0.25, "2026-11-01"),
        usage(org, b, "claude-sonnet-4", 4.0, "2026-11-02"),
    ];
    records[1].team_id = Some(team);
    records[2].team_id = Some(team);
    records[3].status = 502;
    h.gateway.store().insert_usage(&records).await.unwrap();

    let november = "start_date=2026-11-01&end_date=2026-11-30";
    let summary = h.get(&format!("/api/usage/summary?{november}"), &admin).await.body;
    assert_eq!(summary["requests"], 3);
    assert_eq!(summary["errors"], 1);
    assert_eq!(summary["total_tokens"], 360);
    assert_eq!(summary["cost_usd"], 6.25);
    assert_eq!(summary["dlp_events"], 3);
    assert_eq!(summary["start_date"], "2026-11-01T00:00:00.000Z");
    assert_eq!(summary["end_date"], "2026-12-01T00:00:00.000Z", "the end date is inclusive");

    let page = h.get(&format!("/api/usage?{november}&limit=2"), &admin).await.body;
    assert_eq!((page["total"].as_i64(), page["has_more"].as_bool()), (Some(3), Some(true)));
    assert_eq!(page["data"][0]["model"], "claude-sonnet-4", "newest first");
    let last = h.get(&format!("/api/usage?{november}&limit=2&page=2"), &admin).await.body;
    assert_eq!(
        (last["data"].as_array().unwrap().len(), last["has_more"].as_bool()),
        (1, Some(false))
    );
    let by_team = h.get(&format!("/api/usage?{november}&team_id={team}"), &admin).await.body;
    assert_eq!(by_team["total"], 2);

    let by_model =
        h.get(&format!("/api/usage/breakdown?group_by=model&{november}"), &admin).await.body;
    let models: Vec<_> = by_model["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), g["cost_usd"].clone()))
        .collect();
    assert_eq!(
        models,
        [
            (json!("claude-sonnet-4"), json!(4.0)),
            (json!("gpt-4o"), json!(2.0)),
            (json!("gpt-4o-mini"), json!(0.25))
        ]
    );
    let by_tenant =
        h.get(&format!("/api/usage/breakdown?group_by=tenant&{november}"), &admin).await.body;
    assert_eq!(by_tenant["groups"][0]["name"], "b");
    assert_eq!(by_tenant["groups"][1]["key"], a.to_string());
    let by_day = h
        .get("/api/usage/breakdown?group_by=day&start_date=2026-10-01&end_date=2026-11-30", &admin)
        .await
        .body;
    let days: Vec<_> = by_day["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(days, ["2026-10-31", "2026-11-01", "2026-11-02"]);
    let by_team =
        h.get(&format!("/api/usage/breakdown?group_by=team&{november}"), &admin).await.body;
    let teams: Vec<_> = by_team["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].clone(), g["requests"].clone()))
        .collect();
    assert!(
        teams.contains(&(json!("platform"), json!(2))) && teams.contains(&(Value::Null, json!(1))),
        "{teams:?}"
    );
}

#[tokio::test]
async fn usage_over_time_gives_series_percentiles_and_dlp_types_for_the_charts() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let a = created(&h.post("/api/tenants", &admin, json!({ "name": "a" })).await);
    let b = created(&h.post("/api/tenants", &admin, json!({ "name": "b" })).await);
    let org = h.get("/api/auth/me", &admin).await.body["org"]["id"].as_i64().unwrap();
    let hour = 3_600_000;
    // A hundred requests by `a` at noon on the 1st, latencies 1..=100 ms, every tenth streamed
    // with its first token at a tenth of that; one by `b` at 14:00 that failed; one on the 2nd.
    let mut records: Vec<UsageRecord> = (1..=100)
        .map(|i| {
            let mut r = usage(org, a, "gpt-4o", 0.01, "2026-11-01");
            r.request_id = format!("req-{i}");
            r.latency_ms = i;
            r.ttft_ms = (i % 10 == 0).then_some(i / 10);
            r
        })
        .collect();
    let mut failed = usage(org, b, "gpt-4o-mini", 0.5, "2026-11-01");
    failed.created_at_ms += 2 * hour;
    failed.status = 502;
    failed.dlp = Some(r#"{"email":{"redact":2},"aws_access_key":{"block":1}}"#.to_owned());
    records.push(failed);
    records.push(usage(org, a, "gpt-4o", 2.0, "2026-11-02"));
    h.gateway.store().insert_usage(&records).await.unwrap();
    let period = "start_date=2026-11-01&end_date=2026-11-02";

    // By hour, one series per tenant: a point per tenant and hour, in time order.
    let series = h
        .get(&format!("/api/usage/series?{period}&bucket=hour&split_by=tenant"), &admin)
        .await
        .body;
    let points: Vec<_> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["at"].as_str().unwrap(),
                p["name"].as_str().unwrap(),
                p["requests"].as_i64().unwrap(),
                p["errors"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        points,
        [
            ("2026-11-01T12:00:00.000Z", "a", 100, 0),
            ("2026-11-01T14:00:00.000Z", "b", 1, 1),
            ("2026-11-02T12:00:00.000Z", "a", 1, 0),
        ]
    );
    // Past `top`, the other series are summed as one: here `b`, which cost less than `a`.
    let top = h
        .get(&format!("/api/usage/series?{period}&bucket=hour&split_by=tenant&top=1"), &admin)
        .await
        .body;
    let points: Vec<_> = top["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let cost = (p["cost_usd"].as_f64().unwrap() * 1e6).round() / 1e6;
            (p["name"].clone(), p["other"].as_bool().unwrap(), cost)
        })
        .collect();
    assert_eq!(
        points,
        [(json!("a"), false, 1.0), (Value::Null, true, 0.5), (json!("a"), false, 2.0)],
        "{top}"
    );
    // By day, unsplit: the cost of each day.
    let daily = h.get(&format!("/api/usage/series?{period}"), &admin).await.body;
    let costs: Vec<_> = daily["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ((p["cost_usd"].as_f64().unwrap() * 1e6).round() / 1e6, p["key"].clone()))
        .collect();
    assert_eq!(costs, [(1.5, Value::Null), (2.0, Value::Null)]);
    let refused = h.get("/api/usage/series?split_by=day", &admin).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"]["param"], "split_by", "{}", refused.body);

    // Percentiles by nearest rank over each hour's requests; the failed one is counted too.
    let latency =
        h.get(&format!("/api/usage/latency?{period}&bucket=hour&tenant_id={a}"), &admin).await.body;
    let noon = &latency["points"][0];
    assert_eq!(noon["at"], "2026-11-01T12:00:00.000Z");
    assert_eq!(noon["requests"], 100);
    assert_eq!(noon["latency_ms"], json!({ "p50": 50, "p95": 95, "p99": 99 }));
    assert_eq!(noon["ttft_ms"], json!({ "p50": 5, "p95": 10, "p99": 10 }), "streamed ones only");
    let by_day = h.get(&format!("/api/usage/latency?{period}"), &admin).await.body;
    assert_eq!(
        (by_day["points"][0]["requests"].as_i64(), by_day["points"][0]["errors"].as_i64()),
        (Some(101), Some(1))
    );
    assert_eq!(by_day["points"][1]["ttft_ms"], Value::Null, "no streamed request that day");

    // What DLP did, by type and action, summed over the period.
    let dlp = h.get(&format!("/api/usage/dlp?{period}"), &admin).await.body;
    assert_eq!(
        dlp["by_type"],
        json!({ "email": { "log": 101, "redact": 2 }, "aws_access_key": { "block": 1 } })
    );
    // Another organization sees none of it.
    let beta = h.admin_of("beta").await;
    let other = h.get(&format!("/api/usage/dlp?{period}"), &beta).await.body;
    assert_eq!(other["by_type"], json!({}));
}

/// Every total the admin API reports, over everything `records` spans: summaries, breakdowns
/// by each grouping, and each tenant's day and month. Floats are rounded to the micro-unit, as
/// sums in another order may differ in the last bits.
async fn every_total(h: &Harness, admin: &str, tenants: &[i64]) -> Vec<Value> {
    fn rounded(value: Value) -> Value {
        match value {
            Value::Number(n) if n.is_f64() => json!((n.as_f64().unwrap() * 1e6).round() / 1e6),
            Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
            Value::Object(fields) => {
                Value::Object(fields.into_iter().map(|(k, v)| (k, rounded(v))).collect())
            }
            other => other,
        }
    }
    let today = chrono::Utc::now().date_naive();
    let period = format!("start_date=2026-10-01&end_date={today}");
    let mut paths = vec![format!("/api/usage/summary?{period}")];
    for group in ["model", "provider", "tenant", "team", "tool", "day"] {
        paths.push(format!("/api/usage/breakdown?group_by={group}&{period}"));
    }
    paths.extend(tenants.iter().map(|t| format!("/api/tenants/{t}")));
    let mut totals = Vec::new();
    for path in paths {
        let reply = h.get(&path, admin).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        totals.push(rounded(reply.body));
    }
    totals
}

#[tokio::test]
async fn rolling_up_old_usage_changes_no_total_and_lists_only_the_days_kept() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let team = created(&h.post("/api/teams", &admin, json!({ "name": "platform" })).await);
    let a = created(&h.post("/api/tenants", &admin, json!({ "name": "a", "team_id": team })).await);
    let b = created(&h.post("/api/tenants", &admin, json!({ "name": "b" })).await);
    let org = h.get("/api/auth/me", &admin).await.body["org"]["id"].as_i64().unwrap();
    let today = chrono::Utc::now().date_naive();
    let yesterday = (today - chrono::Days::new(1)).to_string();
    let mut records = vec![
        usage(org, a, "gpt-4o", 1.0, "2026-10-31"),
        usage(org, a, "gpt-4o", 2.0, "2026-11-01"),
        usage(org, a, "gpt-4o", 0.5, "2026-11-01"),
        usage(org, a, "gpt-4o-mini", 0.25, "2026-11-01"),
        usage(org, b, "claude-sonnet-4", 4.0, "2026-11-02"),
        usage(org, b, "search_code", 0.0, "2026-11-02"),
        usage(org, a, "gpt-4o", 0.125, &yesterday),
        usage(org, b, "gpt-4o", 3.0, &today.to_string()),
    ];
    records[1].team_id = Some(team);
    records[2].team_id = Some(team);
    records[2].latency_ms = 400;
    records[4].status = 502;
    records[5].endpoint = "mcp";
    records[5].tool = Some("search_code".to_owned());
    h.gateway.store().insert_usage(&records).await.unwrap();
    let before = every_total(&h, &admin, &[a, b]).await;

    // Everything before today is summed into one row per day and group, and deleted.
    let start_of_today = today.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    let rolled = h.gateway.store().roll_up_usage(start_of_today).await.unwrap();
    assert_eq!(rolled.rows, 7, "every record before today");
    assert_eq!(rolled.days, 6, "the two of a day and group are one");
    assert_eq!(every_total(&h, &admin, &[a, b]).await, before, "no total changed");

    // Listed one by one: only the records of the days kept.
    let listed = h.get(&format!("/api/usage?start_date=2026-10-01&end_date={today}"), &admin).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["cost_usd"], 3.0);

    // A second pass finds nothing left to roll up.
    let again = h.gateway.store().roll_up_usage(start_of_today).await.unwrap();
    assert_eq!((again.rows, again.days), (0, 0));
}

#[tokio::test]
async fn a_gateway_with_retention_rolls_up_old_usage_and_audit_entries_when_it_starts() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let a = created(&h.post("/api/tenants", &admin, json!({ "name": "a" })).await);
    let org = h.get("/api/auth/me", &admin).await.body["org"]["id"].as_i64().unwrap();
    let old = [
        usage(org, a, "gpt-4o", 1.0, "2026-10-30"),
        usage(org, a, "gpt-4o", 2.0, "2026-10-31"),
        usage(org, a, "gpt-4o", 4.0, "2026-10-31"),
    ];
    h.gateway.store().insert_usage(&old).await.unwrap();
    let long_ago = |day: &str| {
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    for (action, day) in [
        ("tenant.create", "2026-10-30"),
        ("tenant.update", "2026-10-30"),
        ("tenant.update", "2026-10-30"),
    ] {
        sqlx::query(
            "INSERT INTO audit_log (org_id, action, detail, created_at) VALUES ($1, $2, '{}', $3)",
        )
        .bind(org)
        .bind(action)
        .bind(long_ago(day))
        .execute(h.storage.pool())
        .await
        .unwrap();
    }
    let audited = h.get("/api/audit?limit=1000", &admin).await.body["total"].as_i64().unwrap();

    // Another process starts on the database, keeping 30 days.
    let mut settings = GatewaySettings::default();
    settings.retention.usage_days = Some(30);
    settings.retention.audit_days = Some(30);
    let retaining = Gateway::open(&settings, h.dir.path(), &h.storage).await.unwrap();
    let started = std::time::Instant::now();
    while h.get("/api/usage?start_date=2026-10-01", &admin).await.body["total"] != 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "old usage never rolled up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let october = "start_date=2026-10-01&end_date=2026-10-31";
    let summary = h.get(&format!("/api/usage/summary?{october}"), &admin).await.body;
    assert_eq!((summary["requests"].as_i64(), summary["cost_usd"].as_f64()), (Some(3), Some(7.0)));
    while h.get("/api/audit?limit=1000", &admin).await.body["total"].as_i64() != Some(audited - 3) {
        assert!(started.elapsed() < Duration::from_secs(10), "old audit entries never rolled up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let daily: Vec<(String, i64)> =
        sqlx::query_as("SELECT action, CAST(entries AS BIGINT) FROM audit_daily ORDER BY action")
            .fetch_all(h.storage.pool())
            .await
            .unwrap();
    assert_eq!(daily, [("tenant.create".to_owned(), 1), ("tenant.update".to_owned(), 2)]);
    drop(retaining);

    let scrape = h.call(Method::GET, "/metrics", None, None).await.body.to_string();
    assert!(scrape.contains("agentwatch_gateway_usage_write_failures_total 0"), "{scrape}");
}

#[tokio::test]
async fn health_liveness_and_readiness_answer_without_a_token() {
    let settings = GatewaySettings { breaker_failures: 1, max_attempts: 1, ..Default::default() };
    let h = Harness::start(settings).await;
    let get = |path: &'static str| h.call(Method::GET, path, None, None);
    let healthz = get("/healthz").await;
    assert_eq!((healthz.status, healthz.body), (StatusCode::OK, json!({ "status": "ok" })));
    let health = get("/health").await;
    assert_eq!((health.status, &health.body["database"]), (StatusCode::OK, &json!("ok")));
    assert_eq!(get("/readyz").await.status, StatusCode::OK, "no provider yet: nothing to wait for");

    // A provider without a key is `reachable`: it works once a key is added, so still ready.
    let admin = h.token(ADMIN).await;
    let provider =
        json!({ "name": "local", "kind": "custom", "base_url": "http://127.0.0.1:9/v1" });
    let p = created(&h.post("/api/providers", &admin, provider).await);
    let ready = get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["checks"]["provider/local"]),
        (StatusCode::OK, &json!("reachable"))
    );
    h.post(&format!("/api/providers/{p}/keys"), &admin, json!({ "key": "sk-0123456789abcdef" }))
        .await;
    let ready = get("/readyz").await;
    assert_eq!(ready.body["checks"]["provider/local"], "ok");

    // Its port is closed: one failed request opens its circuit (breaker_failures = 1), and then
    // the gateway is neither ready nor healthy.
    let tenant = h.post("/api/tenants", &admin, json!({ "name": "app" })).await;
    let key = tenant.body["api_key"].as_str().unwrap();
    let chat = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }] });
    let failed = h.call(Method::POST, "/v1/chat/completions", Some(key), Some(chat)).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    let ready = get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    assert_eq!(
        (&ready.body["status"], &ready.body["checks"]["provider/local"]),
        (&json!("not_ready"), &json!("down"))
    );
    let health = get("/health").await;
    assert_eq!(
        (health.status, &health.body["status"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("degraded"))
    );
    assert_eq!(health.body["providers"][0]["circuit"], "open");
}

#[tokio::test]
async fn health_and_readiness_show_nothing_of_another_organization_s_providers() {
    // Beta's provider is on this machine, which the operator allows here.
    let settings = GatewaySettings {
        breaker_failures: 1,
        max_attempts: 1,
        allow_private_providers: true,
        ..Default::default()
    };
    let h = Harness::start(settings).await;
    let beta = h.admin_of("beta").await;
    let provider =
        json!({ "name": "beta-private", "kind": "custom", "base_url": "http://127.0.0.1:9/v1" });
    let p = created(&h.post("/api/providers", &beta, provider).await);
    h.post(&format!("/api/providers/{p}/keys"), &beta, json!({ "key": "sk-0123456789abcdef" }))
        .await;
    // Beta's only provider fails, and its circuit opens.
    let tenant = h.post("/api/tenants", &beta, json!({ "name": "beta-app" })).await;
    let key = tenant.body["api_key"].as_str().unwrap();
    let chat = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }] });
    let failed = h.call(Method::POST, "/v1/chat/completions", Some(key), Some(chat)).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);

    // Anyone can ask /health and /readyz: they name none of beta's providers, and beta's
    // trouble is not the replica's.
    let health = h.call(Method::GET, "/health", None, None).await;
    assert_eq!((health.status, &health.body["status"]), (StatusCode::OK, &json!("ok")));
    assert_eq!(health.body["providers"], json!([]));
    let ready = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(!ready.body.to_string().contains("beta-private"), "{}", ready.body);
}

#[tokio::test]
async fn metrics_can_ask_for_a_bearer_token() {
    let token = "a-metrics-scraper-token-0123456789";
    let settings =
        GatewaySettings { metrics_token: Some(Secret::new(token)), ..Default::default() };
    let h = Harness::start(settings).await;
    let scrape = |bearer: Option<&'static str>| h.call(Method::GET, "/metrics", bearer, None);
    let refused = scrape(None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.body.to_string().contains("metrics_token"), "{}", refused.body);
    assert_eq!(
        scrape(Some("a-metrics-scraper-token-012345678X")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let scraped = scrape(Some(token)).await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(scraped.body.to_string().contains("# EOF"), "{}", scraped.body);
    // Health stays open: load balancers probe it without credentials.
    assert_eq!(h.call(Method::GET, "/health", None, None).await.status, StatusCode::OK);
}

/// A listener that counts the connections it is offered: the place a provider must not reach.
async fn knock_counter() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let knocks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&knocks);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, knocks)
}

#[tokio::test]
async fn another_organization_s_provider_cannot_reach_the_operator_s_network() {
    let settings = GatewaySettings { max_attempts: 1, ..Default::default() };
    let h = Harness::start(settings).await;
    let beta = h.admin_of("beta").await;
    let (port, knocks) = knock_counter().await;

    // Loopback, private and metadata addresses, written any way, and names that resolve there.
    let inside = [
        format!("http://127.0.0.1:{port}/v1"),
        format!("http://localhost:{port}/v1"),
        format!("http://[::ffff:127.0.0.1]:{port}/v1"),
        format!("http://2130706433:{port}/v1"),
        "http://169.254.169.254/latest".to_owned(),
        "http://10.0.0.7:11434/v1".to_owned(),
    ];
    for url in &inside {
        let provider = json!({ "name": "sneaky", "kind": "custom", "base_url": url });
        let refused = h.post("/api/providers", &beta, provider).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{url}: {}", refused.body);
        assert_eq!(refused.body["error"]["param"], "base_url");
        assert!(refused.body.to_string().contains("allow_private_providers"), "{}", refused.body);
    }

    // A name that resolved elsewhere when it was checked and to loopback when it is used (here:
    // changed in the store behind the API's back) is refused as the connection is made.
    let provider = json!({ "name": "moved", "kind": "custom", "base_url": "https://1.1.1.1/v1" });
    let p = created(&h.post("/api/providers", &beta, provider).await);
    h.post(
        &format!("/api/providers/{p}/keys"),
        &beta,
        json!({ "key": "sk-beta-0123456789abcdef" }),
    )
    .await;
    let urls = [format!("http://localhost:{port}/v1"), format!("http://127.0.0.1:{port}/v1")];
    for (i, base_url) in urls.iter().enumerate() {
        sqlx::query("UPDATE providers SET base_url = $1 WHERE id = $2")
            .bind(base_url)
            .bind(p)
            .execute(h.storage.pool())
            .await
            .unwrap();
        h.gateway.reload().await.unwrap();
        let tenant = h.post("/api/tenants", &beta, json!({ "name": format!("app-{i}") })).await;
        let key = tenant.body["api_key"].as_str().unwrap();
        let chat = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }] });
        let failed = h.call(Method::POST, "/v1/chat/completions", Some(key), Some(chat)).await;
        assert!(
            failed.status.is_client_error() || failed.status.is_server_error(),
            "{}",
            failed.body
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(knocks.load(std::sync::atomic::Ordering::SeqCst), 0, "a provider reached loopback");

    // The operator's own organization may use this machine (a local model server).
    let admin = h.token(ADMIN).await;
    let local = json!({ "name": "ollama", "kind": "custom", "base_url": format!("http://localhost:{port}/v1") });
    assert_eq!(h.post("/api/providers", &admin, local).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_new_base_url_takes_the_provider_s_keys_away_and_no_redirect_is_followed() {
    let h = Harness::start(GatewaySettings { max_attempts: 1, ..Default::default() }).await;
    let admin = h.token(ADMIN).await;
    // An upstream that answers every request with a redirect to another listener.
    let (elsewhere, knocks) = knock_counter().await;
    let redirecting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_port = redirecting.local_addr().unwrap().port();
    let to = format!("http://127.0.0.1:{elsewhere}/v1/chat/completions");
    let app = axum::Router::new().fallback(move || {
        let to = to.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
    });
    tokio::spawn(async move { axum::serve(redirecting, app).await.unwrap() });

    let provider = json!({ "name": "hop", "kind": "custom", "base_url": format!("http://127.0.0.1:{redirect_port}/v1") });
    let p = created(&h.post("/api/providers", &admin, provider).await);
    h.post(
        &format!("/api/providers/{p}/keys"),
        &admin,
        json!({ "key": "sk-hop-0123456789abcdef" }),
    )
    .await;
    let tenant = h.post("/api/tenants", &admin, json!({ "name": "app" })).await;
    let key = tenant.body["api_key"].as_str().unwrap();
    let chat = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }] });
    let answer = h.call(Method::POST, "/v1/chat/completions", Some(key), Some(chat)).await;
    assert_ne!(answer.status, StatusCode::OK, "{}", answer.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(knocks.load(std::sync::atomic::Ordering::SeqCst), 0, "the redirect was followed");

    // Pointing the provider elsewhere removes its keys: they were entered for the old address.
    let patch = json!({ "base_url": "https://api.openai.com/v1" });
    let moved =
        h.call(Method::PATCH, &format!("/api/providers/{p}"), Some(&admin), Some(patch)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["keys"], 0, "{}", moved.body);
    // Other changes keep them.
    h.post(
        &format!("/api/providers/{p}/keys"),
        &admin,
        json!({ "key": "sk-new-0123456789abcdef" }),
    )
    .await;
    let renamed = json!({ "priority": 5, "base_url": "https://api.openai.com/v1/" });
    let kept =
        h.call(Method::PATCH, &format!("/api/providers/{p}"), Some(&admin), Some(renamed)).await;
    assert_eq!(kept.body["keys"], 1, "{}", kept.body);
}

#[tokio::test]
async fn a_burst_of_wrong_guesses_is_checked_no_more_times_than_the_lockout_allows() {
    let settings = GatewaySettings { lockout_attempts: 3, ..Default::default() };
    let h = Harness::start(settings).await;
    let guesses = (0..20).map(|i| {
        let h = &h;
        async move { h.login(ADMIN, &format!("guess number {i:02} wrong")).await.status }
    });
    let answers = futures::future::join_all(guesses).await;
    let refused = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let locked = answers.iter().filter(|s| **s == StatusCode::LOCKED).count();
    assert_eq!(
        (refused, locked),
        (2, 18),
        "two wrong, the third locks, the rest wait: {answers:?}"
    );
    assert_eq!(h.login(ADMIN, PASSWORD).await.status, StatusCode::LOCKED);
}

#[tokio::test]
async fn only_tokens_this_gateway_signed_for_a_live_session_are_accepted() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let secret = "0123456789abcdef0123456789abcdef";
    let settings = GatewaySettings { jwt_secret: Some(Secret::new(secret)), ..Default::default() };
    let h = Harness::start(settings).await;
    let login = h.login(ADMIN, PASSWORD).await;
    let token = login.body["token"].as_str().unwrap();
    let validation = jsonwebtoken::Validation::default();
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let claims: Value = jsonwebtoken::decode(token, &key, &validation).unwrap().claims;
    assert_eq!(h.get("/api/auth/me", token).await.status, StatusCode::OK);

    // The same claims signed with another key, with no signature at all, or expired.
    let other = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"another key, not the gateway's"),
    );
    let unsigned =
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", token.split('.').nth(1).unwrap());
    let mut old = claims.clone();
    old["exp"] = json!(claims["iat"].as_i64().unwrap() - 10);
    let expired = encode(&Header::default(), &old, &EncodingKey::from_secret(secret.as_bytes()));
    for (what, forged) in
        [("another key", other.unwrap()), ("alg none", unsigned), ("expired", expired.unwrap())]
    {
        let reply = h.get("/api/auth/me", &forged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.body);
    }
    // A session this gateway never stored, though signed with its key, is refused too.
    let mut unknown = claims.clone();
    unknown["jti"] = json!("00000000000000000000000000000000");
    let unknown =
        encode(&Header::default(), &unknown, &EncodingKey::from_secret(secret.as_bytes())).unwrap();
    assert_eq!(h.get("/api/auth/me", &unknown).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn providers_and_tenants_from_the_config_file_are_shown_but_not_changed() {
    let settings: GatewaySettings = toml_settings(
        r#"
        [[providers]]
        name = "seeded"
        kind = "openai"
        base_url = "https://api.openai.com/v1"
        keys = [{ key = "sk-seeded-0123456789abcdef" }]

        [[tenants]]
        name = "seeded-app"
        api_key = "aw-seeded-tenant-key-0123456789"
        "#,
    );
    let h = Harness::start(settings).await;
    let admin = h.token(ADMIN).await;
    let providers = h.get("/api/providers", &admin).await.body;
    assert_eq!(
        (&providers[0]["name"], &providers[0]["source"]),
        (&json!("seeded"), &json!("config"))
    );
    let p = providers[0]["id"].as_i64().unwrap();
    let keys = h.get(&format!("/api/providers/{p}/keys"), &admin).await.body;
    let k = keys[0]["id"].as_i64().unwrap();
    let tenant = h.get("/api/tenants", &admin).await.body["data"][0]["id"].as_i64().unwrap();
    for (method, path, body) in [
        (Method::PATCH, format!("/api/providers/{p}"), Some(json!({ "priority": 1 }))),
        (Method::DELETE, format!("/api/providers/{p}"), None),
        (
            Method::POST,
            format!("/api/providers/{p}/keys"),
            Some(json!({ "key": "sk-more-0123456789" })),
        ),
        (Method::DELETE, format!("/api/providers/{p}/keys/{k}"), None),
        (Method::PATCH, format!("/api/tenants/{tenant}"), Some(json!({ "rate_limit": 5 }))),
        (Method::POST, format!("/api/tenants/{tenant}/suspend"), None),
        (Method::POST, format!("/api/tenants/{tenant}/rotate-key"), None),
    ] {
        let reply = h.call(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{method} {path}: {}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains("config file"));
    }
}

fn toml_settings(text: &str) -> GatewaySettings {
    toml::from_str(text).unwrap()
}

#[tokio::test]
async fn metrics_show_what_is_left_of_each_budget_today_and_this_month() {
    let h = Harness::start(GatewaySettings::default()).await;
    let admin = h.token(ADMIN).await;
    let team = json!({ "name": "platform", "monthly_budget": 100.0 });
    let team = created(&h.post("/api/teams", &admin, team).await);
    let tenant =
        json!({ "name": "app", "team_id": team, "daily_budget": 5.0, "monthly_budget": 20.0 });
    let tenant = created(&h.post("/api/tenants", &admin, tenant).await);
    let org = h.get("/api/auth/me", &admin).await.body["org"]["id"].as_i64().unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut spent = usage(org, tenant, "gpt-4o", 1.5, &today);
    spent.team_id = Some(team);
    spent.created_at_ms = chrono::Utc::now().timestamp_millis();
    let mut big = spent.clone();
    big.cost_usd = 9.0;
    h.gateway.store().insert_usage(&[spent, big]).await.unwrap();

    let metrics =
        h.http.get(format!("{}/metrics", h.url)).send().await.unwrap().text().await.unwrap();
    let left = |scope: &str, id: i64, period: &str| -> f64 {
        let prefix = format!(
            "agentwatch_gateway_budget_remaining_usd{{scope=\"{scope}\",id=\"{id}\",period=\"{period}\"}} "
        );
        let value = metrics.lines().find_map(|l| l.strip_prefix(&prefix));
        value.unwrap_or_else(|| panic!("{prefix} not in:\n{metrics}")).parse().unwrap()
    };
    assert_eq!(left("tenant", tenant, "daily"), 0.0, "overspent shows as nothing left");
    assert_eq!(left("tenant", tenant, "monthly"), 9.5);
    assert_eq!(left("team", team, "monthly"), 89.5);
    assert!(
        !metrics.contains(&format!("scope=\"team\",id=\"{team}\",period=\"daily\"")),
        "no daily team budget"
    );
}
