"""Long scenarios as named steps: a failure is reported under the name of the behaviour it
belongs to, and the steps after it still run (a later one may fail only because of it; the first
named is the cause). Used by the client scripts under tests/."""

import contextlib
import sys

FAILED = []


@contextlib.contextmanager
def step(name):
    try:
        yield
    except Exception as error:  # every failure of the step, the clients' exceptions included
        FAILED.append(f"{name}: {type(error).__name__}: {error}")
        print(f"FAILED {name}: {type(error).__name__}: {error}", file=sys.stderr)
    else:
        print(f"ok {name}")


def report(done):
    """Exits non-zero listing every failed step, or prints `done`."""
    if FAILED:
        raise SystemExit(f"{len(FAILED)} behaviours failed:\n" + "\n".join(FAILED))
    print(done)
