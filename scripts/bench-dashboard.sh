#!/usr/bin/env bash
# The dashboard's first load (BENCHMARKS.md): bytes over the wire and the time from navigation
# to the spend chart drawn with data, in Debian's Chromium through Playwright, against
# `agentwatch serve` (the e2e suite's debug build) on this machine.
#
#   scripts/bench-dashboard.sh [loads]      (default 10)
#
# Each load is a fresh browser context (empty cache): the login page, logging in, the overview
# with its four charts; then a reload of it (session kept, scripts revalidated with ETags).
# It runs the dashboard's end-to-end test with DASHBOARD_LOADS set and prints medians and ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
LOADS=${1:-10}
out=$(RUST_BACKTRACE=0 DASHBOARD_LOADS=$LOADS cargo test -q -p mcp-server --features e2e --test it \
  dashboard::an_operator -- --nocapture 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
line=$(printf '%s\n' "$out" | sed -n 's/^dashboard: \({.*}\); screenshots in .*/\1/p')
python3 - "$line" <<'PY'
import json, statistics, sys
loads = json.loads(sys.argv[1])["loads"]
for kind in ("cold", "reload"):
    ms = [l[kind]["ms"] for l in loads]
    kb = [l[kind]["bytes"] / 1024 for l in loads]
    requests = [l[kind]["requests"] for l in loads]
    print(f"{kind:>6}: {len(loads)} loads, to the first chart median {statistics.median(ms):.0f} ms "
          f"(min {min(ms)}, max {max(ms)}); {statistics.median(kb):.1f} KiB in "
          f"{statistics.median(requests):.0f} requests")
    if kind == "cold":
        login = [l[kind]["login_ms"] for l in loads]
        print(f"        of which the login request (password hashing) median {statistics.median(login):.0f} ms")
PY
