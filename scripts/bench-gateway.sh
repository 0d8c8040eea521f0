#!/usr/bin/env bash
# The gateway's added latency and memory, against the LiteLLM proxy as the peer (BENCHMARKS.md).
#
#   scripts/bench-gateway.sh [seconds per run]     (default 10, after a 2 s warm-up)
#   scripts/bench-gateway.sh --pinned [runs] [seconds per run] [rate]   (default 5, 20, 1000)
#
# A zero-latency mock provider (nginx answering a fixed chat.completion) runs on this machine.
# The same open-loop load (gateway/examples/loadgen.rs) goes to the mock directly, through
# `agentwatch gateway` (release build) and through the LiteLLM proxy, at fixed rates and then at
# maximum throughput; added latency is each one's percentile minus the direct one at that rate.
# Resident memory of each proxy is sampled every 100 ms while it is under load.
#
# --pinned measures the tail at one rate on a quieter setup: the gateway alone on CPU 1, the mock
# and the load generator on CPU 0, runs alternating direct and through the gateway, without
# LiteLLM. It prints each run's added p50 and p99 and their medians.
#
# Needs: nginx (apt-get install nginx-light) and a LiteLLM venv, both set up here on first run
# (LiteLLM from PyPI, pinned below, into ~/.cache/agentwatch/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
PINNED=false
if [ "${1:-}" = --pinned ]; then
  PINNED=true RUNS=${2:-5} SECONDS_PER_RUN=${3:-20} RATE=${4:-1000}
  ON_GATEWAY_CPU=(taskset -c 1) ON_CLIENT_CPU=(taskset -c 0)
else
  SECONDS_PER_RUN=${1:-10}
  ON_GATEWAY_CPU=() ON_CLIENT_CPU=()
fi
LITELLM_VERSION=1.108.7
BENCH=${XDG_CACHE_HOME:-$HOME/.cache}/agentwatch/bench
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentwatch/target}"
mkdir -p "$BENCH"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 never answered" >&2; exit 1; }

# --- what it needs --------------------------------------------------------------------------
command -v nginx >/dev/null || { echo "installing nginx-light"; apt-get install -y -qq nginx-light >/dev/null; }
LITELLM="$BENCH/litellm-venv"
if ! $PINNED && [ "$("$LITELLM/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$LITELLM_VERSION" ]; then
  echo "installing litellm[proxy]==$LITELLM_VERSION into $LITELLM"
  python3 -m venv "$LITELLM"
  "$LITELLM/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
fi
cargo build -q --release --bin agentwatch
cargo build -q --release -p gateway --example loadgen
AGENTWATCH="$CARGO_TARGET_DIR/release/agentwatch"
LOADGEN="$CARGO_TARGET_DIR/release/examples/loadgen"

# --- the mock provider: nginx, one worker, a fixed answer -----------------------------------
MOCK_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$MOCK_PORT;
    location = /v1/chat/completions {
      default_type application/json;
      return 200 '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}';
    }
  }
}
EOF
"${ON_CLIENT_CPU[@]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
wait_http "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" || true

# --- AgentWatch ---------------------------------------------------------------------------------
GW_PORT=$(free_port)
KEY=aw-bench-tenant-key-0123456789abcdef
cat > "$WORK/agentwatch.toml" <<EOF
data_dir = "$WORK/data"
[gateway]
port = $GW_PORT
[[gateway.providers]]
name = "mock"
kind = "custom"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
keys = [{ key = "sk-bench-0123456789abcdef", concurrency_limit = 100000 }]
[[gateway.tenants]]
name = "bench"
api_key = "$KEY"
# The limiter and DLP still run on every request; only the bucket is sized for the load.
rate_burst = 1000000
rate_refill_per_sec = 1000000.0
EOF
AGENTWATCH_CONFIG="$WORK/agentwatch.toml" "${ON_GATEWAY_CPU[@]}" "$AGENTWATCH" gateway \
  2> "$WORK/agentwatch.log" & GW_PID=$!; PIDS+=($GW_PID)
wait_http "http://127.0.0.1:$GW_PORT/health"

if $PINNED; then
  RESULTS="$WORK/results.jsonl"
  for i in $(seq "$RUNS"); do
    for target in direct agentwatch; do
      if [ $target = direct ]; then url="http://127.0.0.1:$MOCK_PORT/v1/chat/completions" key=none
      else url="http://127.0.0.1:$GW_PORT/v1/chat/completions" key=$KEY; fi
      "${ON_CLIENT_CPU[@]}" "$LOADGEN" --url "$url" --key "$key" --seconds "$SECONDS_PER_RUN" --rate "$RATE" |
        python3 -c "import json,sys; d=json.load(sys.stdin); d.update(target='$target', run=$i); print(json.dumps(d))" |
        tee -a "$RESULTS"
    done
  done
  python3 - "$RESULTS" "$RATE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n| run at {sys.argv[2]} req/s | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms |")
print("|---|---|---|---|")
added = []
for run in sorted({r["run"] for r in rows}):
    d, g = (next(r for r in rows if r["run"] == run and r["target"] == t) for t in ("direct", "agentwatch"))
    added.append((g["p50_ms"] - d["p50_ms"], g["p99_ms"] - d["p99_ms"]))
    print(f'| {run} | {d["p50_ms"]:.3f} / {d["p99_ms"]:.3f} | {g["p50_ms"]:.3f} / {g["p99_ms"]:.3f} | {added[-1][0]:.2f} / {added[-1][1]:.2f} |')
print(f'| median | | | {statistics.median(a[0] for a in added):.2f} / {statistics.median(a[1] for a in added):.2f} |')
EOF
  exit 0
fi

# --- LiteLLM --------------------------------------------------------------------------------------
LL_PORT=$(free_port)
LL_KEY=sk-bench-litellm-master-0123456789   # LiteLLM refuses to start without one
cat > "$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: sk-bench-0123456789abcdef
general_settings:
  master_key: $LL_KEY
EOF
# Two workers, one per core, as LiteLLM's docs advise; its price map from the package, not GitHub.
LITELLM_LOCAL_MODEL_COST_MAP=True "$LITELLM/bin/litellm" --config "$WORK/litellm.yaml" \
  --host 127.0.0.1 --port "$LL_PORT" --num_workers 2 > "$WORK/litellm.log" 2>&1 & LL_PID=$!; PIDS+=($LL_PID)
wait_http "http://127.0.0.1:$LL_PORT/health/liveliness"

# --- runs -----------------------------------------------------------------------------------------
rss_kib() { # the process and its children
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $total
}
run() { # name pid url key args... -> one JSON line, with the peak RSS of pid during the run
  local name=$1 pid=$2 url=$3 key=$4; shift 4
  local peak=0 out="$WORK/run.json"
  "$LOADGEN" --url "$url" --key "$key" --seconds "$SECONDS_PER_RUN" "$@" > "$out" & local lg=$!
  while kill -0 $lg 2>/dev/null; do
    if [ "$pid" != 0 ]; then local r; r=$(rss_kib "$pid"); [ "$r" -gt "$peak" ] && peak=$r; fi
    sleep 0.1
  done
  wait $lg
  sleep 3 # let an overloaded target drain before the next run
  python3 -c "import json,sys; d=json.load(open('$out')); d.update(target='$name', load='$*', rss_mib=round($peak/1024,1)); print(json.dumps(d))"
}

RESULTS="$WORK/results.jsonl"
for load in "--rate 500" "--rate 1000" "--rate 2000" "--concurrency 32"; do
  # shellcheck disable=SC2086
  {
    run direct 0 "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" none $load
    run agentwatch "$GW_PID" "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$KEY" $load
    run litellm "$LL_PID" "http://127.0.0.1:$LL_PORT/v1/chat/completions" "$LL_KEY" $load
  } | tee -a "$RESULTS"
done

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| load | target | achieved req/s | errors | p50 ms | p99 ms | added p50 ms | added p99 ms | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for load in dict.fromkeys(r["load"] for r in rows):
    direct = next(r for r in rows if r["load"] == load and r["target"] == "direct")
    for r in (r for r in rows if r["load"] == load):
        added = lambda k: "—" if r["target"] == "direct" else f'{r[k] - direct[k]:.3f}'
        rss = "—" if r["target"] == "direct" else r["rss_mib"]
        print(f'| {load.replace("--", "")} | {r["target"]} | {r["rps"]} | {r["errors"]} | {r["p50_ms"]:.3f} | {r["p99_ms"]:.3f} | {added("p50_ms")} | {added("p99_ms")} | {rss} |')
EOF
