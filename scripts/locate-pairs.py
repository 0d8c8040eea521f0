#!/usr/bin/env python3
"""Mines localisation pairs from real history: commits that fix a bug, their message as the
query, the source files they changed (tests, docs and examples left out) as the answer, to be
found at the commit's parent.

    scripts/locate-pairs.py <name>=<git dir> ... > pairs.jsonl

A commit is taken when its message says it fixes something (fix, bug, crash, regression, wrong,
incorrect, broken, error) and is not a chore (docs, typo, lint, ci, bump, release), it changes
one to three existing source files of a supported language outside tests, docs and examples, and
its message is at least 40 characters. The newest PER_REPO of each repository are kept, oldest
first (so an index can follow the history forward). Each pair's half (tune or report) is fixed by
its commit id.
"""
import json
import re
import subprocess
import sys

PER_REPO = 60
SOURCE = re.compile(r"\.(py|pyi|rs|ts|tsx|mts|cts|js|jsx|mjs|cjs)$")
NOT_SOURCE = re.compile(
    r"(^|/)(tests?|testing|__tests__|spec|docs?|examples?|benches|scripts|fixtures|tests-[^/]*)/"
    r"|(^|/)(test_[^/]*|[^/]*_test\.py|[^/]*\.(test|spec|test-d)\.[a-z]+|conftest\.py|setup\.py|noxfile\.py)$"
)
FIXES = re.compile(r"\b(fix(e[sd])?|bug|crash(es|ed)?|regression|wrong|incorrect|broken|error)\b", re.I)
CHORE = re.compile(r"^\s*(\w+(\(.*?\))?:\s*)?(docs?|typo|lint|ci|bump|release|chore|style|changelog|deps|build|test)\b", re.I)
TRAILER = re.compile(r"^(co-authored-by|signed-off-by|reviewed-by|cc):.*$", re.I | re.M)


def git(git_dir, *args):
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def pairs(name, git_dir):
    log = git(git_dir, "log", "--no-merges", "--format=%x00%H %P%x01%B%x02", "--name-status",
              "--diff-filter=AMDR", "HEAD")
    found = []
    seen = set()
    for record in log.split("\x00")[1:]:
        head, rest = record.split("\x01", 1)
        message, changes = rest.split("\x02", 1)
        ids = head.split()
        if len(ids) != 2:
            continue
        commit, parent = ids
        message = TRAILER.sub("", message).strip()
        subject = message.splitlines()[0] if message else ""
        if len(message) < 40 or not FIXES.search(message) or CHORE.search(subject):
            continue
        modified = []
        for line in changes.strip().splitlines():
            status, *paths = line.split("\t")
            path = paths[-1]
            if SOURCE.search(path) and not NOT_SOURCE.search(path) and status == "M":
                modified.append(path)
        if not 1 <= len(modified) <= 3 or message in seen:
            continue
        seen.add(message)
        half = "tune" if int(commit[:2], 16) % 2 == 0 else "report"
        found.append({"repo": name, "commit": commit, "parent": parent, "half": half,
                      "query": message, "files": sorted(modified)})
        if len(found) == PER_REPO:
            break
    return list(reversed(found))


def main():
    for argument in sys.argv[1:]:
        name, git_dir = argument.split("=", 1)
        for pair in pairs(name, git_dir):
            print(json.dumps(pair))


if __name__ == "__main__":
    main()
