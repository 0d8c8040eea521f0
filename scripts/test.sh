#!/usr/bin/env bash
# The whole test suite: fetches what it needs (scripts/setup.sh, idempotent), builds, tests —
# the fast tier (`cargo test` alone: unit and in-process tests) and the slow tier (the real
# binary against real clients, `--features mcp-server/e2e`; the CoSQA quality floor, ignored in
# the fast tier). Then the suites whose tests open the database through `storage::testing` run
# again on Postgres (a server each test binary starts for itself), the end-to-end suite among
# them, so that both backends pass the same tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
cargo test --workspace --locked --features mcp-server/e2e -- --include-ignored

# package:test-target pairs ("lib" for unit tests). mcp-server:it is the e2e suite: each of its
# sandboxes then gives the binaries it starts a database of its own on that server.
POSTGRES_SUITES="storage:lib indexer:lib indexer:it scanner:store knowledge:core knowledge:scans \
gateway:lib gateway:admin gateway:alerts gateway:proxy gateway:messages gateway:responses mcp-server:tools mcp-server:it"
echo "::: the storage-backed suites again, on Postgres"
# The binaries the run above built (same flags: nothing is rebuilt), each run from its package's
# folder as cargo runs it.
cargo test --workspace --locked --features mcp-server/e2e --no-run --message-format=json |
  python3 -c '
import json, os, sys
wanted = set(sys.argv[1].split())
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    package = m["package_id"].rsplit("#", 1)[0].rsplit("/", 1)[-1].split("@")[0]
    target = "lib" if "lib" in m["target"]["kind"] else m["target"]["name"]
    if f"{package}:{target}" in wanted:
        print(os.path.dirname(m["manifest_path"]), m["executable"])
' "$POSTGRES_SUITES" |
  while read -r dir executable; do
    echo "::: postgres: $(basename "$executable")"
    (cd "$dir" && AGENTWATCH_TEST_DATABASE=postgres "$executable")
  done
