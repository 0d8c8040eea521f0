#!/usr/bin/env bash
# Fetches, by package name, one real open-source repository per language for
# `indexer/examples/bench_languages.rs`, and prints the `language=folder` arguments it takes:
#
#   cargo run --release -p indexer --example bench_languages -- $(scripts/bench-corpora.sh)
#
# Only the package registries are reachable here, so each corpus is a release of a real project
# as a registry ships it: from Debian, prometheus/client_golang (Go), Rails' ActiveSupport
# (Ruby), Symfony Console (PHP), dracut's modules (Bash) and nlohmann/json (C++); from npm,
# react-native's Android sources (Java and Kotlin); from PyPI's source distributions, the C#
# runtime of pythonnet and the Brotli library inside its Python binding (C); and, for
# comparison, Rust from tokio's crate as cargo fetched it for this workspace. Idempotent: what
# was fetched is kept under ~/.cache/agentwatch/corpora (AGENTWATCH_CORPORA_DIR moves it).
set -euo pipefail

DIR="${AGENTWATCH_CORPORA_DIR:-$HOME/.cache/agentwatch/corpora}"
GO_DEB=golang-github-prometheus-client-golang-dev=1.14.0-3
RUBY_DEB=ruby-activesupport=2:6.1.7.10+dfsg-1~deb12u4
PHP_DEB=php-symfony-console=5.4.53+dfsg-0+deb12u1
BASH_DEB=dracut-core=059-4
CPP_DEB=nlohmann-json3-dev
REACT_NATIVE=react-native@0.76.9
CSHARP_SDIST=pythonnet==3.0.5
C_SDIST=Brotli==1.1.0

mkdir -p "$DIR"
log() { printf '%s\n' "$*" >&2; }

# deb PACKAGE=VERSION FOLDER: the package's files, unpacked (not installed) into FOLDER.
deb() {
  local folder="$DIR/$2"
  [ -d "$folder" ] && return
  local tmp
  tmp="$(mktemp -d "$DIR/.fetch.XXXXXX")"
  log "fetching $1 (apt)"
  (cd "$tmp" && apt-get download "$1" >/dev/null 2>&1) || { log "apt-get download $1 failed"; exit 1; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/unpacked"
  mv "$tmp/unpacked" "$folder"
  rm -rf "$tmp"
}

# npm_package NAME@VERSION FOLDER: the package's tarball, unpacked into FOLDER.
npm_package() {
  local folder="$DIR/$2"
  [ -d "$folder" ] && return
  local tmp
  tmp="$(mktemp -d "$DIR/.fetch.XXXXXX")"
  log "fetching $1 (npm)"
  (cd "$tmp" && npm pack --silent "$1" >/dev/null) || { log "npm pack $1 failed"; exit 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  mv "$tmp/package" "$folder"
  rm -rf "$tmp"
}

# tokio, at the version Cargo.lock pins, from cargo's own cache of the registry.
tokio_version="$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3 }' "$(dirname "$0")/../Cargo.lock")"
cargo fetch --locked --manifest-path "$(dirname "$0")/../Cargo.toml" >/dev/null 2>&1 || true
tokio="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tokio-$tokio_version" | head -1)"

# sdist NAME==VERSION FOLDER: a PyPI source distribution, unpacked into FOLDER.
sdist() {
  local folder="$DIR/$2"
  [ -d "$folder" ] && return
  local tmp
  tmp="$(mktemp -d "$DIR/.fetch.XXXXXX")"
  log "fetching $1 (PyPI source)"
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp" "$1" >/dev/null ||
    { log "pip download $1 failed"; exit 1; }
  mkdir "$tmp/unpacked"
  tar -xzf "$tmp"/*.tar.gz -C "$tmp/unpacked" --strip-components=1
  mv "$tmp/unpacked" "$folder"
  rm -rf "$tmp"
}

deb "$GO_DEB" client_golang
deb "$RUBY_DEB" activesupport
deb "$PHP_DEB" symfony-console
deb "$BASH_DEB" dracut
deb "$CPP_DEB" nlohmann-json
sdist "$CSHARP_SDIST" pythonnet
sdist "$C_SDIST" brotli
npm_package "$REACT_NATIVE" react-native

echo "rust=$tokio"
echo "go=$DIR/client_golang/usr/share/gocode/src/github.com/prometheus/client_golang"
echo "java=$DIR/react-native/ReactAndroid/src/main/java"
echo "kotlin=$DIR/react-native/ReactAndroid/src/main/java"
echo "csharp=$DIR/pythonnet/src"
echo "php=$DIR/symfony-console/usr/share/php/Symfony/Component/Console"
echo "ruby=$DIR/activesupport/usr/share/rubygems-integration/all/gems"
echo "bash=$DIR/dracut/usr/lib/dracut"
echo "c=$DIR/brotli/c"
echo "cpp=$DIR/nlohmann-json/usr/include/nlohmann"
