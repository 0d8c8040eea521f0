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
#   scripts/bench-gateway.sh --replicas [runs] [seconds per run] [rate]   (default 3, 20, 1000)
#
# --replicas compares where the gateway keeps its state, for a tenant with a budget and a rate
# limit (so every request reserves, settles and takes a token): embedded SQLite, Postgres with
# Redis, Postgres alone — added p50/p99 at one rate, and throughput at 32 connections — and two
# replicas on Postgres and Redis against one (two load generators of 16 connections each). It
# starts a Postgres (Debian's, durable defaults) and a Redis of its own.
#
#   scripts/bench-gateway.sh --messages [runs] [seconds per run] [rate]   (default 5, 10, 500)
#
# --messages measures Anthropic's Messages API beside chat completions, pinned as --pinned is:
# /v1/messages to an Anthropic provider (native) and to an OpenAI one (translated both ways),
# and /v1/chat/completions, each against the mock's own answer to the same upstream call.
#
# Needs: nginx (apt-get install nginx-light) and a LiteLLM venv, both set up here on first run
# (LiteLLM from PyPI, pinned below, into ~/.cache/agentwatch/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
PINNED=false REPLICAS=false MESSAGES=false
if [ "${1:-}" = --messages ]; then
  MESSAGES=true RUNS=${2:-5} SECONDS_PER_RUN=${3:-10} RATE=${4:-500}
  ON_GATEWAY_CPU=(taskset -c 1) ON_CLIENT_CPU=(taskset -c 0)
elif [ "${1:-}" = --pinned ]; then
  PINNED=true RUNS=${2:-5} SECONDS_PER_RUN=${3:-20} RATE=${4:-1000}
  ON_GATEWAY_CPU=(taskset -c 1) ON_CLIENT_CPU=(taskset -c 0)
elif [ "${1:-}" = --replicas ]; then
  REPLICAS=true RUNS=${2:-3} SECONDS_PER_RUN=${3:-20} RATE=${4:-1000}
  ON_GATEWAY_CPU=() ON_CLIENT_CPU=()
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
cleanup() { # stop everything, then let the servers finish writing before the folder goes
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f -- "-D $WORK/pg/data" 2>/dev/null || true
  sleep 1
  rm -rf "$WORK" 2>/dev/null || { sleep 2; rm -rf "$WORK"; }
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 never answered" >&2; exit 1; }

# --- what it needs --------------------------------------------------------------------------
command -v nginx >/dev/null || { echo "installing nginx-light"; apt-get install -y -qq nginx-light >/dev/null; }
LITELLM="$BENCH/litellm-venv"
if ! $PINNED && ! $REPLICAS && ! $MESSAGES && [ "$("$LITELLM/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$LITELLM_VERSION" ]; then
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
    location = /v1/messages {
      default_type application/json;
      return 200 '{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":2}}';
    }
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
KEY=aw-bench-tenant-key-0123456789abcdef
# A gateway on PORT with its data in DIR, the tenant's extra settings in TENANT; the environment
# says where its state lives. Its pid in GW_PID.
start_gateway() {
  local port=$1 dir=$2 tenant=${3:-} more=${4:-}
  cat > "$dir.toml" <<EOF
data_dir = "$dir"
[gateway]
port = $port
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
$tenant
$more
EOF
  AGENTWATCH_CONFIG="$dir.toml" "${ON_GATEWAY_CPU[@]}" "$AGENTWATCH" gateway \
    2> "$dir.log" & GW_PID=$!; PIDS+=($GW_PID)
  wait_http "http://127.0.0.1:$port/health"
}

if $REPLICAS; then
  # Postgres and Redis of the benchmark's own, as the tests start them.
  PG_BIN=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")")
  chmod 755 "$WORK"; mkdir -p "$WORK/pg"
  AS_PG=(); if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$WORK/pg"; AS_PG=(runuser -u postgres --); fi
  "${AS_PG[@]}" "$PG_BIN/initdb" --auth=trust --username=postgres -D "$WORK/pg/data" > /dev/null
  PG_PORT=$(free_port)
  "${AS_PG[@]}" "$PG_BIN/postgres" -D "$WORK/pg/data" -p "$PG_PORT" -k "$WORK/pg" \
    -c listen_addresses=127.0.0.1 -c max_connections=200 > "$WORK/pg/log" 2>&1 & PIDS+=($!)
  for _ in $(seq 100); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > /dev/null & PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
  AGENTWATCH_MASTER_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  export AGENTWATCH_MASTER_KEY AGENTWATCH_JWT_SECRET=bench-replicas-share-this-jwt-secret
  TENANT='monthly_budget = 1000000.0
rate_limit = 100000000'
  database() { # a fresh database: its URL
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
    echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
  }
  declare -A URL
  P=$(free_port); start_gateway "$P" "$WORK/sqlite" "$TENANT"; URL[sqlite]=http://127.0.0.1:$P
  P=$(free_port)
  AGENTWATCH_DATABASE_URL=$(database redis) AGENTWATCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
    start_gateway "$P" "$WORK/pg-redis" "$TENANT"
  URL[postgres+redis]=http://127.0.0.1:$P
  P=$(free_port)
  AGENTWATCH_DATABASE_URL=$(database alone) start_gateway "$P" "$WORK/pg-alone" "$TENANT"
  URL[postgres]=http://127.0.0.1:$P
  # Two replicas on one Postgres database and one Redis database of their own.
  SHARED_DB=$(database replicas)
  for n in a b; do
    P=$(free_port)
    AGENTWATCH_DATABASE_URL=$SHARED_DB AGENTWATCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/1 \
      start_gateway "$P" "$WORK/replica-$n" "$TENANT"
    URL[replica-$n]=http://127.0.0.1:$P
  done

  RESULTS="$WORK/results.jsonl"
  load() { # target url key args... -> one JSON line
    local target=$1 url=$2 key=$3; shift 3
    "$LOADGEN" --url "$url" --key "$key" --seconds "$SECONDS_PER_RUN" "$@" |
      python3 -c "import json,sys; d=json.load(sys.stdin); d.update(target='$target', load='$*', run=$i); print(json.dumps(d))"
  }
  for i in $(seq "$RUNS"); do
    load direct "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" none --rate "$RATE" | tee -a "$RESULTS"
    for target in sqlite postgres+redis postgres; do
      load "$target" "${URL[$target]}/v1/chat/completions" "$KEY" --rate "$RATE" | tee -a "$RESULTS"
    done
    for target in sqlite postgres+redis postgres; do
      load "$target" "${URL[$target]}/v1/chat/completions" "$KEY" --concurrency 32 | tee -a "$RESULTS"
    done
    # One replica of the pair alone, then both at once with half the connections each.
    load "one replica" "${URL[replica-a]}/v1/chat/completions" "$KEY" --concurrency 32 | tee -a "$RESULTS"
    load "two replicas" "${URL[replica-a]}/v1/chat/completions" "$KEY" --concurrency 16 > "$WORK/a.json" &
    load "two replicas" "${URL[replica-b]}/v1/chat/completions" "$KEY" --concurrency 16 > "$WORK/b.json"
    wait "$!"
    python3 -c "
import json; a, b = (json.load(open(f)) for f in ('$WORK/a.json', '$WORK/b.json'))
a.update(rps=round(a['rps'] + b['rps'], 1), errors=a['errors'] + b['errors'], p50_ms=max(a['p50_ms'], b['p50_ms']), p99_ms=max(a['p99_ms'], b['p99_ms']))
print(json.dumps(a))" | tee -a "$RESULTS"
  done
  python3 - "$RESULTS" "$RATE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rate = f"--rate {sys.argv[2]}"
runs = sorted({r["run"] for r in rows})
direct = {r["run"]: r for r in rows if r["target"] == "direct"}
print(f"\n| state at {sys.argv[2]} req/s | added p50 ms (runs) | added p99 ms (runs) | median added p50 / p99 ms | errors |")
print("|---|---|---|---|---|")
for target in ("sqlite", "postgres+redis", "postgres"):
    mine = {r["run"]: r for r in rows if r["target"] == target and r["load"] == rate}
    p50 = [mine[n]["p50_ms"] - direct[n]["p50_ms"] for n in runs]
    p99 = [mine[n]["p99_ms"] - direct[n]["p99_ms"] for n in runs]
    errors = sum(mine[n]["errors"] for n in runs)
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
    print(f"| {target} | {fmt(p50)} | {fmt(p99)} | {statistics.median(p50):.2f} / {statistics.median(p99):.2f} | {errors} |")
print("\n| state, 32 connections | requests/s (runs) | median | p50 / p99 ms (median run) | errors |")
print("|---|---|---|---|---|")
for target in ("sqlite", "postgres+redis", "postgres", "one replica", "two replicas"):
    mine = [r for r in rows if r["target"] == target and "concurrency" in r["load"]]
    rps = [r["rps"] for r in mine]
    mid = sorted(mine, key=lambda r: r["rps"])[len(mine) // 2]
    print(f"| {target} | {', '.join(f'{x:,.0f}' for x in rps)} | {statistics.median(rps):,.0f} | {mid['p50_ms']:.2f} / {mid['p99_ms']:.2f} | {sum(r['errors'] for r in mine)} |")
EOF
  exit 0
fi

GW_PORT=$(free_port)
CLAUDE="[[gateway.providers]]
name = \"claude\"
kind = \"anthropic\"
base_url = \"http://127.0.0.1:$MOCK_PORT\"
priority = 1
models = [\"claude-*\"]
keys = [{ key = \"sk-ant-bench-0123456789abcdef\", concurrency_limit = 100000 }]"
start_gateway "$GW_PORT" "$WORK/data" "" "$CLAUDE"

if $MESSAGES; then
  RESULTS="$WORK/results.jsonl"
  CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
  NATIVE='{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Say hello."}]}'
  TRANSLATED='{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say hello."}]}'
  GW=http://127.0.0.1:$GW_PORT MOCK=http://127.0.0.1:$MOCK_PORT
  for i in $(seq "$RUNS"); do
    while read -r target url key body; do
      "${ON_CLIENT_CPU[@]}" "$LOADGEN" --url "$url" --key "$key" --body "$body" \
        --seconds "$SECONDS_PER_RUN" --rate "$RATE" < /dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); d.update(target='$target', run=$i); print(json.dumps(d))" |
        tee -a "$RESULTS"
    done <<TARGETS
direct-chat $MOCK/v1/chat/completions none $CHAT
chat $GW/v1/chat/completions $KEY $CHAT
direct-messages $MOCK/v1/messages none $NATIVE
messages-native $GW/v1/messages $KEY $NATIVE
messages-translated $GW/v1/messages $KEY $TRANSLATED
TARGETS
  done
  python3 - "$RESULTS" "$RATE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sorted({r["run"] for r in rows})
at = lambda t, n: next(r for r in rows if r["target"] == t and r["run"] == n)
print(f"\n| at {sys.argv[2]} req/s | upstream call | added p50 ms (runs) | added p99 ms (runs) | median added p50 / p99 ms | errors |")
print("|---|---|---|---|---|---|")
names = {"chat": "/v1/chat/completions", "messages-native": "/v1/messages (anthropic)",
         "messages-translated": "/v1/messages (openai, translated)"}
for target, base, upstream in (("chat", "direct-chat", "chat completions"),
                               ("messages-native", "direct-messages", "messages"),
                               ("messages-translated", "direct-chat", "chat completions")):
    p50 = [at(target, n)["p50_ms"] - at(base, n)["p50_ms"] for n in runs]
    p99 = [at(target, n)["p99_ms"] - at(base, n)["p99_ms"] for n in runs]
    errors = sum(at(target, n)["errors"] for n in runs)
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
    print(f"| {names[target]} | {upstream} | {fmt(p50)} | {fmt(p99)} | {statistics.median(p50):.2f} / {statistics.median(p99):.2f} | {errors} |")
EOF
  exit 0
fi

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
