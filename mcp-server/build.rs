//! Links `agentwatch` with packed relative relocations (DT_RELR, GNU ld 2.38+ and glibc 2.36+).
//! A position-independent Rust binary of this size carries 9 MB of `R_X86_64_RELATIVE` entries
//! that the loader reads at every start, and that stay resident: packed, they take a few KB, so
//! the gateway starts 9 MB smaller (BENCHMARKS.md). The binary stays position-independent.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
