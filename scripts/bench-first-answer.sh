#!/usr/bin/env bash
# Time to first answer, as a newcomer meets it: from a fresh data dir, `agentwatch index` of a
# repository, timed to the first answer of `agentwatch search --mode lexical` (asked every 0.1 s
# while the index runs, each a process of its own) and to semantic readiness (`index` ends once
# every chunk has a vector).
#
#   scripts/bench-first-answer.sh <checkout> [local|remote] [agentwatch binary]
#
# local:  the offline model (all-MiniLM-L6-v2, int8) on this machine's cores.
# remote: an OpenAI-compatible endpoint — `agentwatch gateway` in front of llmock (a mock
#         provider from `scripts/setup.sh --tests` that answers at once), as
#         `index.embeddings = { url = <gateway>/v1, … }`: the pipeline's own time, batching,
#         concurrency and the gateway included, with no model's inference in it.
set -euo pipefail
repo=$(cd "$1" && pwd)
mode=${2:-local}
bin=${3:-${CARGO_TARGET_DIR:-$HOME/.cache/agentwatch/target}/release/agentwatch}
assets=$("$(dirname "$0")/setup.sh" --print-dir)
query=${QUERY:-lock}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export AGENTWATCH_DATA_DIR="$work/data" AGENTWATCH_ASSETS_DIR="$assets"
unset AGENTWATCH_CONFIG

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
until_up() { for _ in $(seq 300); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "$1 never answered" >&2; exit 1; }

if [ "$mode" = remote ]; then
  mock=$(free_port) gateway=$(free_port) key=aw-bench-first-answer-0123456789
  "$assets/llm-client/bin/llmock" serve --port "$mock" --response-style static \
    --log-level warning >/dev/null 2>&1 &
  pids+=($!)
  cat >"$work/gateway.toml" <<EOF
[gateway]
port = $gateway
[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "http://127.0.0.1:$mock/v1"
keys = [{ key = "sk-mock-0123456789abcdef" }]
[[gateway.tenants]]
name = "indexer"
api_key = "$key"
EOF
  until_up "http://127.0.0.1:$mock/health"
  AGENTWATCH_DATA_DIR="$work/gateway-data" AGENTWATCH_CONFIG="$work/gateway.toml" \
    "$bin" gateway >/dev/null 2>&1 &
  pids+=($!)
  until_up "http://127.0.0.1:$gateway/health"
  cat >"$work/index.toml" <<EOF
[index]
embeddings = { url = "http://127.0.0.1:$gateway/v1", model = "text-embedding-3-small", dimensions = 1536 }
EOF
  export AGENTWATCH_CONFIG="$work/index.toml" AGENTWATCH_EMBEDDINGS_API_KEY="$key"
fi

start=$(date +%s.%N)
"$bin" index "$repo" --json >"$work/job.json" 2>"$work/index.log" &
index=$!
first=
while kill -0 "$index" 2>/dev/null; do
  if "$bin" search "$query" --mode lexical --json --limit 1 2>/dev/null | grep -q '"path"'; then
    first=$(date +%s.%N)
    break
  fi
  sleep 0.1
done
wait "$index" || { cat "$work/index.log" >&2; exit 1; }
end=$(date +%s.%N)
first=${first:-$end} # the index ended before a search got in: a small repository

python3 - "$work/job.json" "$start" "$first" "$end" "$mode" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))
start, first, end, mode = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
embedding = end - first
print(f"{job['name']}: {job['files']} files, {job['lines']:,} lines, {job['chunks']:,} chunks "
      f"({job['embedded']:,} with vectors), embeddings {mode}")
print(f"first lexical answer   {first - start:8.1f} s")
print(f"semantic readiness     {end - start:8.1f} s")
rate = f" ({job['embedded'] / embedding:.1f} chunks/s)" if embedding >= 1 else ""
print(f"embedding after that   {embedding:8.1f} s{rate}")
EOF
