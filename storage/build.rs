// `sqlx::migrate!` reads `migrations/sqlite` and `migrations/postgres` when this crate compiles: a new migration must recompile it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
