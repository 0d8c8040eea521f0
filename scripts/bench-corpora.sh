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

# fetch FOLDER HOW WHAT: unless FOLDER is there, runs `HOW WHAT` in an empty working folder, which
# leaves the unpacked files in ./unpacked, and moves them to FOLDER (so a failed fetch leaves
# nothing half-done behind).
fetch() {
  local folder="$DIR/$1" how="$2" what="$3" tmp
  [ -d "$folder" ] && return
  tmp="$(mktemp -d "$DIR/.fetch.XXXXXX")"
  log "fetching $what ($how)"
  (cd "$tmp" && mkdir unpacked && "$how" "$what") || { log "fetching $what failed"; exit 1; }
  mv "$tmp/unpacked" "$folder"
  rm -rf "$tmp"
}

# A Debian package's files, unpacked, not installed.
deb() { apt-get download "$1" >/dev/null 2>&1 && dpkg-deb -x ./*.deb unpacked; }
# An npm package's tarball.
npm_package() { npm pack --silent "$1" >/dev/null && tar -xzf ./*.tgz -C unpacked --strip-components=1; }
# A PyPI source distribution.
sdist() {
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest . "$1" >/dev/null &&
    tar -xzf ./*.tar.gz -C unpacked --strip-components=1
}

# tokio, at the version Cargo.lock pins, from cargo's own cache of the registry.
tokio_version="$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3 }' "$(dirname "$0")/../Cargo.lock")"
cargo fetch --locked --manifest-path "$(dirname "$0")/../Cargo.toml" >/dev/null 2>&1 || true
tokio_dirs=("${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tokio-$tokio_version")
tokio="${tokio_dirs[0]}"

fetch client_golang deb "$GO_DEB"
fetch activesupport deb "$RUBY_DEB"
fetch symfony-console deb "$PHP_DEB"
fetch dracut deb "$BASH_DEB"
fetch nlohmann-json deb "$CPP_DEB"
fetch pythonnet sdist "$CSHARP_SDIST"
fetch brotli sdist "$C_SDIST"
fetch react-native npm_package "$REACT_NATIVE"

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
