#!/usr/bin/env bash
# The whole test suite: fetches what it needs (scripts/setup.sh, idempotent), builds, tests —
# the fast tier (`cargo test` alone: unit and in-process tests) and the slow tier (the real
# binary against real clients, `--features mcp-server/e2e`; the CoSQA quality floor, ignored in
# the fast tier).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo test --workspace --locked --features mcp-server/e2e -- --include-ignored
