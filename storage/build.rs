// `sqlx::migrate!` reads `migrations/` when this crate compiles: a new migration must recompile it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
