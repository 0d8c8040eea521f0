#!/usr/bin/env bash
# The scan's orchestration overhead: `agentwatch scan` on a checkout against the same three tools
# run directly, with the same arguments, on the same checkout — alone, and side by side as
# agentwatch runs them. Best of N runs each (default 3). Needs a release (or debug) binary.
#
#   scripts/bench-scan.sh <checkout> [runs] [agentwatch binary]
set -euo pipefail
repo=$(cd "$1" && pwd)
runs=${2:-3}
bin=${3:-${CARGO_TARGET_DIR:-$HOME/.cache/agentwatch/target}/release/agentwatch}
assets=$("$(dirname "$0")/setup.sh" --print-dir)
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export AGENTWATCH_DATA_DIR="$data" AGENTWATCH_ASSETS_DIR="$assets"

# The arguments agentwatch gives each tool, with the rules it writes out for Semgrep.
rules="$data/agentwatch-rules"
semgrep() {
  SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off "$assets/semgrep/bin/semgrep" scan --json \
    --metrics=off --disable-version-check --quiet --config "$rules" . >/dev/null
}
trivy() {
  "$assets/trivy/trivy" fs --format json --quiet --skip-version-check --scanners misconfig,secret \
    --skip-check-update --skip-db-update --skip-java-db-update --offline-scan \
    --cache-dir "$data/trivy-cache" . >/dev/null
}
checkov() {
  "$assets/checkov/bin/checkov" -d . -o json --quiet --compact --skip-download \
    --framework terraform kubernetes dockerfile cloudformation >/dev/null || [ $? -eq 1 ]
}
side_by_side() { semgrep & s=$!; trivy & t=$!; checkov & c=$!; wait $s; wait $t; wait $c; }
agentwatch() { "$bin" scan "$repo" --format json >/dev/null; }

best() {
  local name=$1 best=
  for _ in $(seq "$runs"); do
    local start end took
    start=$(date +%s.%N)
    (cd "$repo" && "$name")
    end=$(date +%s.%N)
    took=$(echo "$end - $start" | bc)
    if [ -z "$best" ] || [ "$(echo "$took < $best" | bc)" = 1 ]; then best=$took; fi
  done
  printf '%-28s %6.2f s\n' "$name" "$best"
}

agentwatch >/dev/null # the first scan indexes the checkout, writes the rules, warms Trivy's cache
echo "checkout: $repo ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'not git'))"
best semgrep
best trivy
best checkov
best side_by_side
best agentwatch
