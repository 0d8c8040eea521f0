use std::process::Command;

async fn find_user(pool: &sqlx::PgPool, id: i64, name: &str) {
    // ruleid: rust-sql-injection
    let a = sqlx::query(&format!("SELECT * FROM users WHERE name = '{name}'")).fetch_all(pool).await;
    // ruleid: rust-sql-injection
    let b = conn.execute(&format!("DELETE FROM users WHERE id = {id}"), []);
    // ok: rust-sql-injection
    let c = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_all(pool).await;
    // ok: rust-sql-injection
    let label = format!("user {name}");
}

fn run(branch: &str) {
    // ruleid: rust-command-injection
    Command::new("sh").arg("-c").arg(format!("git checkout {branch}")).status();
    // ruleid: rust-command-injection
    std::process::Command::new("bash").args(["-c", branch]).status();
    // ok: rust-command-injection
    Command::new("git").args(["checkout", branch]).status();
    // ok: rust-command-injection
    Command::new("sh").arg("-c").arg("uptime").status();
}

fn digests(data: &[u8]) {
    // ruleid: rust-weak-hash
    let a = md5::compute(data);
    // ruleid: rust-weak-hash
    let mut b = Sha1::new();
    // ok: rust-weak-hash
    let c = Sha256::digest(data);
    // ok: rust-weak-hash
    let d = blake3::hash(data);
}

fn client() -> reqwest::Client {
    // ruleid: rust-tls-verification-disabled
    let insecure = reqwest::Client::builder().danger_accept_invalid_certs(true).build();
    // ok: rust-tls-verification-disabled
    reqwest::Client::builder().https_only(true).build().unwrap()
}

// ruleid: rust-hardcoded-secret
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
// ruleid: rust-hardcoded-secret
const DB_PASSWORD: &str = "hunter2-but-longer";
// ok: rust-hardcoded-secret
const DB_HOST: &str = "db.internal.example.com";

fn token() -> String {
    // ok: rust-hardcoded-secret
    std::env::var("API_TOKEN").unwrap_or_default()
}
