#!/usr/bin/env bash
# Fails when a crate depends on something DESIGN.md forbids it (normal and build dependencies):
#   gateway never depends on indexer, scanner, knowledge or mcp-server;
#   grammars, indexer, scanner and knowledge know nothing of HTTP servers or MCP (no axum, no
#   rmcp): the knowledge core is behind the faces, not in them;
#   knowledge never depends on gateway (it sees the gateway through `knowledge::Account`);
#   storage (the one database) depends on none of our crates.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
forbid() {
  local crate=$1; shift
  local deps
  deps=$(cargo tree --locked -p "$crate" -e no-dev --prefix none --format '{p}' | awk '{print $1}' | sort -u)
  for banned in "$@"; do
    if grep -qx "$banned" <<<"$deps"; then
      echo "dependency rule broken: $crate depends on $banned ($(cargo tree --locked -p "$crate" -e no-dev -i "$banned" --prefix none | tail -n +2 | head -3 | tr '\n' ' '))" >&2
      status=1
    fi
  done
}

forbid gateway indexer scanner knowledge mcp-server
for crate in grammars netguard storage indexer scanner knowledge; do
  forbid "$crate" axum rmcp
done
forbid knowledge gateway mcp-server
forbid storage grammars netguard indexer scanner knowledge gateway mcp-server

[ "$status" -eq 0 ] && echo "dependency rules hold"
exit "$status"
