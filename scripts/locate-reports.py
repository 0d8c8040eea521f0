#!/usr/bin/env python3
"""Turns localisation pairs into long, realistic bug reports: the fix's commit message followed by
the failing pytest output a developer would paste, built the way SWE-bench builds FAIL_TO_PASS.

    scripts/locate-reports.py fixtures/locate/pairs.jsonl <name>=<git dir> ... > reports.jsonl

e.g. requests=/work/.mirror/psf+requests/repo flask=... click=... httpx=... (bare, full-history
mirrors). Per-repository counts of kept pairs and of skips by reason go to stderr.

For each pair of a repository named on the command line (the others are ignored):

1. The fix's test files are the files it added or modified whose name is test_*.py or *_test.py
   (conftest.py and other files under a tests/ folder are carried along, never run). A pair whose
   fix changed no test file is skipped (`no test change`).
2. The tests to run are the test functions whose lines the fix added or changed (found with `ast`
   on the fix's version of the file, `test*` functions at module level or in a class); when the
   diff touches no test function (only helpers or fixtures), every test of the changed files.
3. Those tests are run at the fix (a checkout of `commit`). Only the ones that pass there are kept,
   so a test that fails for reasons of this machine (no network, a dependency of the wrong age) can
   never reach a report. None passing: `no test passes at the fix`.
4. The fix's test files are put on top of a checkout of `parent` and the kept tests are run there.
   All passing: `tests pass at the parent`. A pytest that runs past TIMEOUT seconds, either time:
   `timeout`. Otherwise the report is the commit message, a blank line, and pytest's output from
   its FAILURES (or ERRORS, for a test module that no longer imports) section to the end, short
   test summary included, trimmed to MAX_OUTPUT characters by cutting the middle.

Environments: the commits span ten years, so no one environment runs them all. Each pair gets a
virtualenv (VENVS/<repo>/<parent>) made with uv: a Python of the commit's era (PYTHONS) and the
project itself installed from the parent's tree with its extras plus the repository's test
packages (TEST_PACKAGES), every version resolved as PyPI stood a little after the commit
(`--exclude-newer` at DEPS_LAG_DAYS after the commit date, so a development branch still finds
the release it was written against). The code under test is always the checked-out tree, put
first on PYTHONPATH. A pair whose environment does not install is skipped (`environment cannot
be installed`). uv is taken from PATH or from VENVS/_tools (`python3 -m venv
VENVS/_tools && VENVS/_tools/bin/pip install uv`). Runs are one at a time, without network
access being needed, in WORK, with PYTHONDONTWRITEBYTECODE=1 and `-p no:cacheprovider`.
"""
import ast
import datetime
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile

VENVS = os.environ.get("LOCATE_VENVS", "/work/locate-eval/venvs")
WORK = os.environ.get("LOCATE_WORK", "/work/locate-eval/reports-work")
TIMEOUT = 120
MAX_OUTPUT = 12_000
DEPS_LAG_DAYS = 45
BUILD_TOOLS_CUTOFF = "2019-12-01"
MEMORY_LIMIT = 4 << 30  # bytes of address space for one pytest (a regression can loop and grow)
# (first day of use, interpreter): the Python each era's code and dependencies were made for.
PYTHONS = [("2000-01-01", "3.7"), ("2020-06-01", "3.8"), ("2021-06-01", "3.9"),
           ("2022-06-01", "3.10"), ("2023-06-01", "3.11"), ("2025-01-01", "3.12")]
PYENV = os.path.expanduser("~/.pyenv/versions")
EXTRAS = {"requests": "socks", "flask": "async,dotenv", "click": "",
          "httpx": "http2,brotli,socks,cli,zstd"}
# Test-only packages per repository: (package, first day it is asked for).
TEST_PACKAGES = {
    # httpbin 0.6 pulled in flask-common, whose server deps no longer build.
    "requests": [("pytest", None), ("pytest-httpbin", None), ("httpbin!=0.6.*", None),
                 ("pytest-mock", None),
                 ("trustme", "2018-01-01"), ("PySocks", None)],
    "flask": [("pytest", None), ("blinker", None), ("python-dotenv", None),
              ("greenlet", None), ("asgiref", "2021-01-01")],
    "click": [("pytest", None)],
    "httpx": [("pytest", None), ("pytest-cov", None), ("pytest-asyncio", None),
              ("pytest-trio", None), ("trio", None), ("anyio", None), ("trustme", None),
              ("uvicorn", None), ("cryptography", None), ("chardet", None)],
}
TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
TEST_DIR = re.compile(r"(^|/)(tests?|testing)/|(^|/)conftest\.py$")
HEADING = re.compile(r"^=+ (FAILURES|ERRORS) =+$", re.M)
SUMMARY = re.compile(r"^=+ short test summary info =+$", re.M)

# A pytest plugin that writes every test outcome (and failed collections) as JSON lines.
OUTCOMES_PLUGIN = '''
import json, os
def _write(nodeid, when, outcome):
    with open(os.environ["LOCATE_OUTCOMES"], "a") as f:
        f.write(json.dumps([nodeid, when, outcome]) + "\\n")
def pytest_runtest_logreport(report):
    _write(report.nodeid, report.when, report.outcome)
def pytest_collectreport(report):
    if report.failed:
        _write(report.nodeid, "collect", "failed")
'''


def git(git_dir, *args):
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def checkout(git_dir, commit, dest):
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", commit], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest)


def commit_date(git_dir, commit):
    return git(git_dir, "log", "-1", "--format=%cs", commit).strip()


def test_changes(git_dir, parent, commit):
    """The fix's changed files that belong to tests: (status, path) pairs."""
    out = git(git_dir, "diff", "--no-renames", "--name-status", parent, commit)
    changes = []
    for line in out.splitlines():
        status, path = line.split("\t", 1)
        if TEST_FILE.search(path) or TEST_DIR.search(path):
            changes.append((status[0], path))
    return changes


def touched_tests(git_dir, parent, commit, path):
    """Node ids of the test functions in `path` (fix's version) whose lines the fix changed;
    [path] itself when it touched none of them."""
    diff = git(git_dir, "diff", "-U0", parent, commit, "--", path)
    lines = set()
    for start, count in re.findall(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, re.M):
        start, count = int(start), int(count or 1)
        lines.update(range(start, start + max(count, 1)))
    try:
        tree = ast.parse(git(git_dir, "show", f"{commit}:{path}"))
    except SyntaxError:
        return [path]
    ids = []

    def visit(body, prefix):
        for node in body:
            end = getattr(node, "end_lineno", node.lineno)
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                visit(node.body, prefix + node.name + "::")
            elif (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.name.startswith("test") and lines & set(range(first, end + 1))):
                ids.append(f"{path}::{prefix}{node.name}")

    visit(tree.body, "")
    return ids or [path]


def uv():
    return shutil.which("uv") or os.path.join(VENVS, "_tools", "bin", "uv")


def python_for(date):
    version = [v for since, v in PYTHONS if date >= since][-1]
    candidates = sorted(d for d in os.listdir(PYENV) if d.startswith(version + "."))
    return os.path.join(PYENV, candidates[-1], "bin", "python" + version)


def venv_for(name, parent, date, tree):
    """A virtualenv for this pair, made once: Python of the era, the project from `tree` with its
    extras, the test packages, all as PyPI stood DEPS_LAG_DAYS after `date`."""
    venv = os.path.join(VENVS, name, parent[:12])
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(os.path.join(venv, ".ready")):
        return python
    cutoff = (datetime.date.fromisoformat(date)
              + datetime.timedelta(days=DEPS_LAG_DAYS)).isoformat()
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv(), "venv", "-q", "-p", python_for(date), venv], check=True,
                   capture_output=True)
    extras = f"[{EXTRAS[name]}]" if EXTRAS[name] else ""
    packages = [p for p, since in TEST_PACKAGES[name] if since is None or date >= since]
    # Build tools get a later cutoff (uv builds an old setup.py with setuptools 40.8 or later,
    # and the old sdists of the era still build with the setuptools of 2019), and setuptools
    # goes into the venv too, for old pytest finds its plugins with pkg_resources.
    tools = max(cutoff, BUILD_TOOLS_CUTOFF)
    # Bytecode is compiled at install: compiling an old package at import time under a test
    # suite's `filterwarnings = error` turns its invalid escape sequences into SyntaxErrors.
    result = subprocess.run([uv(), "pip", "install", "-q", "--compile-bytecode", "-p", python,
                             "--exclude-newer",
                             cutoff, "--exclude-newer-package", f"setuptools={tools}",
                             "--exclude-newer-package", f"wheel={tools}",
                             tree + extras, "setuptools", *packages], capture_output=True, text=True,
                            timeout=900)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    open(os.path.join(venv, ".ready"), "w").close()
    return python


def run_pytest(name, python, tree, ids, outcomes):
    """Runs pytest on `ids` in `tree`; returns (output, {nodeid: passed?}, timed out?)."""
    if os.path.exists(outcomes):
        os.remove(outcomes)
    plugin_dir = os.path.join(WORK, "plugin")
    os.makedirs(plugin_dir, exist_ok=True)
    with open(os.path.join(plugin_dir, "_locate_outcomes.py"), "w") as f:
        f.write(OUTCOMES_PLUGIN)
    source = os.path.join(tree, "src") if os.path.isdir(os.path.join(tree, "src")) else tree
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "VIRTUAL"))}
    env.update(PYTHONPATH=os.pathsep.join([source, plugin_dir]), PYTHONDONTWRITEBYTECODE="1",
               LOCATE_OUTCOMES=outcomes, COLUMNS="100", PY_COLORS="0", NO_COLOR="1")
    extra = ["--no-cov"] if "pytest-cov" in dict(TEST_PACKAGES[name]) else []
    process = subprocess.Popen([python, "-m", "pytest", "-p", "no:cacheprovider",
                                "-p", "_locate_outcomes", "-rfE", "--color=no", *extra, *ids],
                               cwd=tree, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=lambda: resource.setrlimit(
                                   resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)))
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return "", {}, True
    results = {}
    if os.path.exists(outcomes):
        for line in open(outcomes):
            nodeid, when, outcome = json.loads(line)
            ok = outcome != "failed" and (when != "call" or outcome == "passed")
            results[nodeid] = results.get(nodeid, True) and ok
            if when == "setup" and outcome == "skipped":
                results[nodeid] = False
    return output.decode("utf-8", "replace"), results, False


def failure_text(output, tree, venv):
    """The part of pytest's output a person pastes: from the FAILURES/ERRORS section (or the short
    test summary, which pytest before 3.x prints first) to the end, trimmed in the middle."""
    start = HEADING.search(output)
    if not start:
        return None
    summary = SUMMARY.search(output)
    begin = min(start.start(), summary.start()) if summary else start.start()
    # Paths as the developer would see them: relative to the checkout, the venv as .venv.
    text = output[begin:].replace(tree + "/", "").replace(venv + "/", ".venv/").rstrip() + "\n"
    if len(text) <= MAX_OUTPUT:
        return text
    summary = SUMMARY.search(text)
    if summary and summary.start() > 0:
        tail = text[summary.start():][:MAX_OUTPUT // 4]
    else:
        tail = text.rstrip().rsplit("\n", 1)[-1] + "\n"
    head = text[:MAX_OUTPUT - len(tail) - 40]
    head = head[:head.rfind("\n") + 1]
    return head + "\n[... output trimmed ...]\n\n" + tail


def report(pair, git_dir):
    """The report text for `pair`, or (None, reason)."""
    name, commit, parent = pair["repo"], pair["commit"], pair["parent"]
    changes = test_changes(git_dir, parent, commit)
    test_files = [p for s, p in changes if s in "AM" and TEST_FILE.search(p)]
    if not test_files:
        return None, "no test change"
    ids = [i for path in test_files for i in touched_tests(git_dir, parent, commit, path)]
    work = os.path.join(WORK, name)
    fix_tree, parent_tree = os.path.join(work, "fix"), os.path.join(work, "parent")
    checkout(git_dir, commit, fix_tree)
    checkout(git_dir, parent, parent_tree)
    try:
        python = venv_for(name, parent, commit_date(git_dir, parent), parent_tree)
    except (RuntimeError, subprocess.SubprocessError) as error:
        print(f"  {commit[:10]} install failed: {str(error)[-300:]}", file=sys.stderr)
        return None, "environment cannot be installed"
    outcomes = os.path.join(work, "outcomes.jsonl")
    _, results, timed_out = run_pytest(name, python, fix_tree, ids, outcomes)
    if timed_out:
        return None, "timeout"
    passing = [i for i, ok in results.items() if ok]
    if not passing:
        return None, "no test passes at the fix"
    # Put the fix's tests on the parent: changed and added test files, removed ones removed.
    for status, path in changes:
        target = os.path.join(parent_tree, path)
        if status == "D":
            if os.path.exists(target):
                os.remove(target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(fix_tree, path), target)
    output, results, timed_out = run_pytest(name, python, parent_tree, passing, outcomes)
    if timed_out:
        return None, "timeout"
    failing = [i for i in passing if not results.get(i, False)]
    text = failure_text(output, parent_tree, os.path.dirname(os.path.dirname(python)))
    if not failing or text is None:
        return None, "tests pass at the parent"
    return text, None


def main():
    pairs_path, *mirrors = sys.argv[1:]
    git_dirs = dict(argument.split("=", 1) for argument in mirrors)
    counts = {}
    for line in open(pairs_path):
        pair = json.loads(line)
        if pair["repo"] not in git_dirs:
            continue
        text, reason = report(pair, git_dirs[pair["repo"]])
        tally = counts.setdefault(pair["repo"], {})
        tally[reason or "kept"] = tally.get(reason or "kept", 0) + 1
        print(f"{pair['repo']} {pair['commit'][:10]} {reason or 'kept'}", file=sys.stderr)
        if text is None:
            continue
        message = pair["query"]
        print(json.dumps({"repo": pair["repo"], "commit": pair["commit"],
                          "parent": pair["parent"], "half": pair["half"],
                          "query": message + "\n\n" + text, "files": pair["files"],
                          "message_chars": len(message)}), flush=True)
    for name, tally in counts.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())),
              file=sys.stderr)


if __name__ == "__main__":
    main()
