//! The whole graph of each fixture repository — symbols with kinds, signatures and docs, imports,
//! calls, inheritance, and the references left unresolved — as a reviewed golden file. A change
//! in what the indexer sees shows up here as a diff.

use indexer::{IndexOptions, index_directory};

use crate::support::fixture;

fn check(name: &str) {
    let indexed = index_directory(&fixture(name), &IndexOptions::default()).unwrap();
    assert!(indexed.diagnostics.is_empty(), "{:?}", indexed.diagnostics);
    insta::assert_snapshot!(name, indexed.graph.dump());
}

#[test]
fn rust_crate() {
    check("rust-crate");
}

#[test]
fn python_package() {
    check("python-pkg");
}

#[test]
fn typescript_app() {
    check("ts-app");
}

#[test]
fn go_module() {
    check("go-module");
}

#[test]
fn java_maven() {
    check("java-maven");
}

#[test]
fn kotlin_gradle() {
    check("kotlin-gradle");
}

#[test]
fn csharp_app() {
    check("csharp-app");
}

#[test]
fn php_app() {
    check("php-app");
}

#[test]
fn ruby_gem() {
    check("ruby-gem");
}

#[test]
fn bash_tools() {
    check("bash-tools");
}

#[test]
fn c_library() {
    check("c-lib");
}

#[test]
fn cpp_app() {
    check("cpp-app");
}

#[test]
fn polyglot() {
    check("polyglot");
}
