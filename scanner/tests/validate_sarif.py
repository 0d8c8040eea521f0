"""Validates a SARIF log against the official SARIF 2.1.0 schema.

    python validate_sarif.py <schema.json> <log.sarif>

Prints every violation and exits non-zero if there is one.
"""

import json
import sys

from jsonschema import Draft4Validator


def main(schema_path, log_path):
    with open(schema_path) as f:
        schema = json.load(f)
    with open(log_path) as f:
        log = json.load(f)
    errors = list(Draft4Validator(schema).iter_errors(log))
    for error in errors:
        print("/".join(str(p) for p in error.absolute_path) or "(root)", error.message[:300])
    print(f"{len(errors)} schema violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
