#!/usr/bin/env bash
# Fetches, by package name, one real open-source repository per language for
# `indexer/examples/bench_languages.rs`, and prints the `language=folder` arguments it takes:
#
#   cargo run --release -p indexer --example bench_languages -- $(scripts/bench-corpora.sh)
#
# Only the package registries are reachable here, so each corpus is a release of a real project
# as a registry ships it: Go from Debian's source package of prometheus/client_golang, Java and
# Kotlin from react-native's npm package (its Android sources, ReactAndroid), and, for
# comparison, Rust from tokio's crate as cargo fetched it for this workspace. Idempotent: what
# was fetched is kept under ~/.cache/agentwatch/corpora (AGENTWATCH_CORPORA_DIR moves it).
set -euo pipefail

DIR="${AGENTWATCH_CORPORA_DIR:-$HOME/.cache/agentwatch/corpora}"
GO_DEB=golang-github-prometheus-client-golang-dev=1.14.0-3
REACT_NATIVE=react-native@0.76.9

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

deb "$GO_DEB" client_golang
npm_package "$REACT_NATIVE" react-native

echo "rust=$tokio"
echo "go=$DIR/client_golang/usr/share/gocode/src/github.com/prometheus/client_golang"
echo "java=$DIR/react-native/ReactAndroid/src/main/java"
echo "kotlin=$DIR/react-native/ReactAndroid/src/main/java"
