#!/usr/bin/env bash
# The whole test suite: fetches what it needs (scripts/setup.sh, idempotent), builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo test --workspace --locked
